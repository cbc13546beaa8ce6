//! `ssm bench kernels`: the SSM ops alone, at the shapes of
//! `../shared/peers/bench_peers.py`, as JSON lines with the same fields, so
//! `bench/peers/kernel_ratios.py` can set them beside the peers' run.

use std::time::Instant;

use anyhow::Result;
use burn::backend::Autodiff;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, Distribution, Tensor, TensorData};
use statespace::complex::ComplexTensor;
use statespace::discretize::Discretization;
use statespace::kernel::dplr::cauchy_nodes;
use statespace::layers::mamba3::{Mamba3Config, Mamba3Inputs};
use statespace::ops::cauchy::cauchy_composite;
use statespace::ops::diagonal_kernel::{diagonal_kernel, diagonal_kernel_composite};
use statespace::ops::selective_scan::{ScanArgs, ScanTensors};
use statespace::ops::{SelectiveScanOps, Ssd, SsmBackend, cauchy, causal_conv, ssd};

use crate::device::{DeviceKind, with_backend};

/// Arguments of `ssm bench kernels`.
#[derive(clap::Args)]
pub struct KernelArgs {
    /// Device to run on.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceKind,
    /// Which kernels: all, scan, ssd, fftconv, s4d, cauchy, matmul or mamba3.
    #[arg(long, default_value = "all")]
    only: String,
    /// One tiny shape per kernel: checks that each bench runs (its timings
    /// mean nothing).
    #[arg(long)]
    smoke: bool,
}

/// Median milliseconds of `f` (the device synchronised around each run)
/// after two warm-up runs; at most 10 runs or about 3 s. Stops at `f`'s
/// first error.
fn time_ms<B: Backend>(device: &B::Device, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..2 {
        f()?;
    }
    let _ = B::sync(device);
    let mut times = Vec::new();
    let budget = Instant::now();
    while times.len() < 10 && (times.len() < 3 || budget.elapsed().as_secs_f64() < 3.0) {
        let start = Instant::now();
        f()?;
        let _ = B::sync(device);
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    Ok(super::bench::median(times))
}

/// Median milliseconds of `run` (see [`time_ms`]) and of `run` followed by
/// the backward pass of the sum of its output (taken in f32).
fn forward_and_backward_ms<A: AutodiffBackend, const D: usize>(
    device: &A::Device,
    run: impl Fn() -> statespace::Result<Tensor<A, D>>,
) -> Result<(f64, f64)> {
    let fwd_ms = time_ms::<A>(device, || {
        run()?;
        Ok(())
    })?;
    let fwd_bwd_ms = time_ms::<A>(device, || {
        let _ = run()?.cast(DType::F32).sum().backward();
        Ok(())
    })?;
    Ok((fwd_ms, fwd_bwd_ms))
}

/// The shapes to time: `full`, or only `tiny` for a smoke run.
fn pick<T: Copy>(smoke: bool, full: &[T], tiny: T) -> Vec<T> {
    if smoke { vec![tiny] } else { full.to_vec() }
}

fn random<B: Backend, const D: usize>(
    shape: [usize; D],
    scale: f64,
    dtype: DType,
    device: &B::Device,
) -> Tensor<B, D> {
    let t = Tensor::<B, D>::random(shape, Distribution::Normal(0.0, 1.0), device) * scale;
    if dtype == DType::F32 {
        t
    } else {
        t.cast(dtype)
    }
}

fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::BF16 => "torch.bfloat16",
        DType::F16 => "torch.float16",
        _ => "torch.float32",
    }
}

/// The selective scan, forward and backward, as mamba_ssm's CUDA extension is
/// timed: D, z, δ_bias, softplus, B and C varying per step (one group).
fn scan<B: SelectiveScanOps>(device: &B::Device, name: &str, smoke: bool) -> Result<()> {
    let shapes = [
        (8, 1536, 2048, 16, DType::F32),
        (8, 1536, 2048, 16, DType::BF16),
        (1, 1536, 65536, 16, DType::BF16),
    ];
    for (b, d, len, n, dtype) in pick(smoke, &shapes, (1, 8, 32, 4, DType::F32)) {
        let prim = |t: Tensor<B, 3>| t.into_primitive().tensor();
        let inputs = ScanTensors {
            u: prim(random::<B, 3>([b, d, len], 1.0, dtype, device)),
            delta: prim(random::<B, 3>([b, d, len], 0.5, dtype, device)),
            a: (-Tensor::<B, 2>::random([d, n], Distribution::Uniform(0.0, 1.0), device))
                .into_primitive()
                .tensor(),
            b: random::<B, 4>([b, 1, n, len], 1.0, dtype, device)
                .into_primitive()
                .tensor(),
            c: random::<B, 4>([b, 1, n, len], 1.0, dtype, device)
                .into_primitive()
                .tensor(),
            d: random::<B, 1>([d], 1.0, DType::F32, device)
                .into_primitive()
                .tensor(),
            z: prim(random::<B, 3>([b, d, len], 1.0, dtype, device)),
            delta_bias: random::<B, 1>([d], 0.1, DType::F32, device)
                .into_primitive()
                .tensor(),
            initial_state: Tensor::<B, 1>::zeros([1], device).into_primitive().tensor(),
        };
        let args = ScanArgs {
            has_d: true,
            has_z: true,
            has_delta_bias: true,
            has_initial_state: false,
            delta_softplus: true,
            starts: None,
        };
        let fwd_ms = time_ms::<B>(device, || {
            let _ = B::selective_scan_forward(inputs.clone(), &args);
            Ok(())
        })?;
        let grad_out = prim(random::<B, 3>([b, d, len], 1.0, dtype, device));
        let grad_last = Tensor::<B, 3>::zeros([b, d, n], device)
            .into_primitive()
            .tensor();
        let bwd_ms = time_ms::<B>(device, || {
            let _ = B::selective_scan_backward(
                inputs.clone(),
                grad_out.clone(),
                grad_last.clone(),
                &args,
            );
            Ok(())
        })?;
        let esz = if dtype == DType::F32 { 4 } else { 2 };
        let bytes_min = esz * (4 * b * d * len + 2 * b * n * len);
        println!(
            "{{\"what\": \"{name}.selective_scan\", \"batch\": {b}, \"dim\": {d}, \"L\": {len}, \"dstate\": {n}, \"dtype\": \"{}\", \"fwd_ms\": {fwd_ms:.4}, \"bwd_ms\": {bwd_ms:.4}, \"fwd_GBps_min_traffic\": {:.1}}}",
            dtype_name(dtype),
            bytes_min as f64 / fwd_ms / 1e6
        );
    }
    Ok(())
}

/// Mamba-2's SSD: forward, and forward plus backward through autodiff.
fn ssd_bench<A: AutodiffBackend + SsmBackend>(
    device: &A::Device,
    name: &str,
    smoke: bool,
) -> Result<()>
where
    A::InnerBackend: SsmBackend,
{
    let shapes = [(8, 2048, 24, 64, 128), (1, 65536, 24, 64, 128)];
    for (b, len, h, p, n) in pick(smoke, &shapes, (1, 64, 2, 4, 8)) {
        let dtype = DType::BF16;
        let x = random::<A, 4>([b, len, h, p], 1.0, dtype, device).require_grad();
        let a = (-Tensor::<A, 3>::random([b, len, h], Distribution::Uniform(0.0, 1.0), device))
            .require_grad();
        let bm = random::<A, 4>([b, len, 1, n], 1.0, dtype, device).require_grad();
        let cm = random::<A, 4>([b, len, 1, n], 1.0, dtype, device).require_grad();
        let run = || {
            ssd(Ssd {
                x: x.clone(),
                a: a.clone().cast(dtype),
                b: bm.clone(),
                c: cm.clone(),
                chunk_size: 256.min(len),
                initial_state: None,
                starts: None,
            })
            .map(|(y, _)| y)
        };
        let (fwd_ms, fwd_bwd_ms) = forward_and_backward_ms::<A, _>(device, run)?;
        println!(
            "{{\"what\": \"{name}.ssd\", \"batch\": {b}, \"L\": {len}, \"heads\": {h}, \"headdim\": {p}, \"dstate\": {n}, \"dtype\": \"bf16\", \"fwd_ms\": {fwd_ms:.4}, \"fwd_bwd_ms\": {fwd_bwd_ms:.4}}}"
        );
    }
    Ok(())
}

/// The FFT long convolution: forward, and forward plus backward.
fn fftconv<A: AutodiffBackend + SsmBackend>(
    device: &A::Device,
    name: &str,
    smoke: bool,
) -> Result<()> {
    // The peers' shapes, then an S4D layer of `ssm bench train` (32 × 200, d 64).
    let shapes = [
        (16, 256, 4096),
        (4, 256, 16384),
        (1, 256, 65536),
        (32, 64, 200),
    ];
    for (b, h, len) in pick(smoke, &shapes, (1, 4, 64)) {
        let u = random::<A, 3>([b, len, h], 1.0, DType::F32, device).require_grad();
        let k = random::<A, 3>([1, h, len], 1.0, DType::F32, device).require_grad();
        let d = Tensor::<A, 2>::zeros([1, h], device).require_grad();
        let run = || causal_conv(u.clone(), k.clone(), d.clone());
        let (fwd_ms, fwd_bwd_ms) = forward_and_backward_ms::<A, _>(device, run)?;
        println!(
            "{{\"what\": \"{name}.fftconv\", \"batch\": {b}, \"H\": {h}, \"L\": {len}, \"dtype\": \"fp32\", \"fwd_ms\": {fwd_ms:.4}, \"fwd_bwd_ms\": {fwd_bwd_ms:.4}}}"
        );
    }
    Ok(())
}

/// The S4D convolution kernel from its parameters (ZOH discretisation and
/// the Vandermonde product), forward and forward plus backward: the fused
/// op (one kernel each way) beside the same math as tensor ops (what the
/// s4 repository's S4D computes without its CUDA extension).
fn s4d_kernel<A: AutodiffBackend + SsmBackend>(
    device: &A::Device,
    name: &str,
    smoke: bool,
) -> Result<()> {
    let shapes = [(128, 32, 1024), (256, 32, 4096), (256, 32, 16384)];
    for (h, n, len) in pick(smoke, &shapes, (2, 4, 32)) {
        let dt = (random::<A, 1>([h], 1.0, DType::F32, device).abs() * -4.6).exp();
        let dt = dt.require_grad();
        let a = ComplexTensor::new(
            Tensor::<A, 2>::full([h, n], -0.5, device),
            Tensor::<A, 2>::from_data(
                TensorData::new(
                    (0..h * n)
                        .map(|i| std::f32::consts::PI * (i % n) as f32)
                        .collect(),
                    [h, n],
                ),
                device,
            ),
        )
        .map(|t| t.require_grad());
        let b = ComplexTensor::new(
            Tensor::<A, 2>::ones([h, n], device),
            Tensor::<A, 2>::zeros([h, n], device),
        )
        .map(|t| t.require_grad());
        let c = ComplexTensor::new(
            random::<A, 3>([1, h, n], 0.5, DType::F32, device),
            random::<A, 3>([1, h, n], 0.5, DType::F32, device),
        )
        .map(|t| t.require_grad());
        for (form, fused) in [("fused", true), ("tensor_ops", false)] {
            let run = || {
                if fused {
                    diagonal_kernel(&dt, &a, &b, &c, Discretization::Zoh, len)
                } else {
                    diagonal_kernel_composite(&dt, &a, &b, &c, Discretization::Zoh, len)
                }
            };
            let (fwd_ms, fwd_bwd_ms) = forward_and_backward_ms::<A, _>(device, run)?;
            println!(
                "{{\"what\": \"{name}.s4d_kernel\", \"form\": \"{form}\", \"H\": {h}, \"N\": {n}, \"L\": {len}, \"dtype\": \"fp32\", \"fwd_ms\": {fwd_ms:.4}, \"fwd_bwd_ms\": {fwd_bwd_ms:.4}}}"
            );
        }
    }
    Ok(())
}

/// S4's Cauchy product at the nodes of a length-L kernel (2·⌈L/2⌉ nodes ±2i·tan,
/// R = 4 rows: B and P against C̃ and Pᴴ at rank 1), forward and forward
/// plus backward: the fused op beside the same math as tensor ops.
fn cauchy_bench<A: AutodiffBackend + SsmBackend>(
    device: &A::Device,
    name: &str,
    smoke: bool,
) -> Result<()> {
    let shapes = [(128, 4, 32, 1024), (256, 4, 32, 4096), (256, 4, 32, 16384)];
    for (h, r, n, len) in pick(smoke, &shapes, (2, 4, 4, 32)) {
        let nodes = cauchy_nodes(len);
        let v = ComplexTensor::new(
            random::<A, 3>([h, r, n], 1.0, DType::F32, device),
            random::<A, 3>([h, r, n], 1.0, DType::F32, device),
        )
        .map(|t| t.require_grad());
        let z = ComplexTensor::new(
            Tensor::<A, 2>::full([h, n], -0.005, device),
            random::<A, 2>([h, n], 1.0, DType::F32, device),
        )
        .map(|t| t.require_grad());
        for (form, fused) in [("fused", true), ("tensor_ops", false)] {
            let run = || {
                if fused {
                    cauchy(&v, &z, &nodes)
                } else {
                    Ok(cauchy_composite(&v, &z, &nodes))
                }
            };
            let fwd_ms = time_ms::<A>(device, || {
                run()?;
                Ok(())
            })?;
            let fwd_bwd_ms = time_ms::<A>(device, || {
                let y = run()?;
                let _ = (y.re.sum() + y.im.sum()).backward();
                Ok(())
            })?;
            println!(
                "{{\"what\": \"{name}.cauchy\", \"form\": \"{form}\", \"H\": {h}, \"R\": {r}, \"N\": {n}, \"L\": {len}, \"dtype\": \"fp32\", \"fwd_ms\": {fwd_ms:.4}, \"fwd_bwd_ms\": {fwd_bwd_ms:.4}}}"
            );
        }
    }
    Ok(())
}

/// f32 matmuls at the shapes of a mamba-130m training step (8 × 1024
/// tokens): in_proj, out_proj and the tied LM head. `exact` is statespace's
/// full-precision matmul (what its layers use); `backend` is burn's, which
/// stages f32 as TF32 on CubeCL devices. Reports TFLOP/s.
fn matmul_bench<B: SsmBackend>(device: &B::Device, name: &str, smoke: bool) -> Result<()> {
    let shapes = [(8192, 768, 3072), (8192, 1536, 768), (8192, 768, 50280)];
    for (m, k, n) in pick(smoke, &shapes, (16, 8, 12)) {
        let a = random::<B, 2>([m, k], 1.0, DType::F32, device);
        let b = random::<B, 2>([k, n], 1.0, DType::F32, device);
        let exact_ms = time_ms::<B>(device, || {
            statespace::ops::matmul::matmul(a.clone(), b.clone())?;
            Ok(())
        })?;
        let backend_ms = time_ms::<B>(device, || {
            let _ = a.clone().matmul(b.clone());
            Ok(())
        })?;
        let tflops = |ms: f64| 2.0 * (m * k * n) as f64 / ms / 1e9;
        println!(
            "{{\"what\": \"{name}.matmul_f32\", \"m\": {m}, \"k\": {k}, \"n\": {n}, \"exact_ms\": {exact_ms:.4}, \"exact_tflops\": {:.2}, \"backend_tf32_ms\": {backend_ms:.4}, \"backend_tf32_tflops\": {:.2}}}",
            tflops(exact_ms),
            tflops(backend_ms)
        );
    }
    Ok(())
}

/// Mamba-3's scan (SISO) from in_proj's outputs to the gated outputs
/// before out_proj: what mamba_ssm's Triton `mamba3_siso_combined` does
/// (`bench/peers/mamba3_triton.py` times it at the same shapes). Ours is
/// the rotary and running-sum ops and tensor ops around the SSD op.
fn mamba3_bench<A: AutodiffBackend + SsmBackend>(
    device: &A::Device,
    name: &str,
    smoke: bool,
) -> Result<()>
where
    A::InnerBackend: SsmBackend,
{
    let shapes = [(8, 2048, 768, 64, 128), (1, 65536, 768, 64, 128)];
    for (b, len, d_model, p, n) in pick(smoke, &shapes, (1, 64, 16, 8, 8)) {
        let config = Mamba3Config {
            d_state: n,
            headdim: p,
            ..Mamba3Config::new(d_model)
        };
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
        let layer = config.init::<A>(device, &mut rng)?;
        let (h, s) = (config.nheads(), config.num_rope_angles());
        let dtype = DType::F32;
        let uniform = |shape: [usize; 3], lo: f64, hi: f64| {
            Tensor::<A, 3>::random(shape, Distribution::Uniform(lo, hi), device).require_grad()
        };
        let dt = uniform([b, len, h], 0.01, 0.1);
        let inputs = Mamba3Inputs {
            z: random::<A, 4>([b, len, h, p], 1.0, dtype, device).require_grad(),
            x: random::<A, 4>([b, len, h, p], 1.0, dtype, device).require_grad(),
            b: random::<A, 5>([b, len, 1, 1, n], 1.0, dtype, device).require_grad(),
            c: random::<A, 5>([b, len, 1, 1, n], 1.0, dtype, device).require_grad(),
            adt: (dt.clone() * uniform([b, len, h], -2.0, -0.5))
                .detach()
                .require_grad(),
            dt,
            trap: random::<A, 3>([b, len, h], 1.0, dtype, device).require_grad(),
            angles: random::<A, 3>([b, len, s], 1.0, dtype, device).require_grad(),
        };
        let run = || layer.scan(inputs.clone(), None).map(|(y, _)| y);
        let (fwd_ms, fwd_bwd_ms) = forward_and_backward_ms::<A, _>(device, run)?;
        println!(
            "{{\"what\": \"{name}.mamba3_siso\", \"batch\": {b}, \"L\": {len}, \"heads\": {h}, \"headdim\": {p}, \"dstate\": {n}, \"dtype\": \"f32\", \"fwd_ms\": {fwd_ms:.4}, \"fwd_bwd_ms\": {fwd_bwd_ms:.4}}}"
        );
    }
    Ok(())
}

/// Runs `ssm bench kernels`.
pub fn run(args: KernelArgs) -> Result<()> {
    let all = args.only == "all";
    let known = [
        "scan", "ssd", "fftconv", "s4d", "cauchy", "matmul", "mamba3",
    ];
    if !all && !known.contains(&args.only.as_str()) {
        anyhow::bail!(
            "unknown --only `{}` (all, scan, ssd, fftconv, s4d, cauchy, matmul or mamba3)",
            args.only
        );
    }
    let name = "statespace";
    with_backend!(args.device, |B, device| {
        if all || args.only == "scan" {
            scan::<B>(&device, name, args.smoke)?;
        }
        if all || args.only == "ssd" {
            ssd_bench::<Autodiff<B>>(&device, name, args.smoke)?;
        }
        if all || args.only == "fftconv" {
            fftconv::<Autodiff<B>>(&device, name, args.smoke)?;
        }
        if all || args.only == "s4d" {
            s4d_kernel::<Autodiff<B>>(&device, name, args.smoke)?;
        }
        if all || args.only == "cauchy" {
            cauchy_bench::<Autodiff<B>>(&device, name, args.smoke)?;
        }
        if all || args.only == "matmul" {
            matmul_bench::<B>(&device, name, args.smoke)?;
        }
        if all || args.only == "mamba3" {
            mamba3_bench::<Autodiff<B>>(&device, name, args.smoke)?;
        }
        Ok::<_, anyhow::Error>(())
    })
}
