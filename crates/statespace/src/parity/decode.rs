//! The fused GPU decoder against the fused CPU decoder: the same small
//! random Mamba and Mamba-2 language models, token by token, for each weight format,
//! at batch 1, 3 and 16 (each GPU sequence against its own CPU decoder;
//! 16 puts the products on cuBLAS), with and without graph replay, from
//! the zero state and from a loaded one. Products with f32 activations are
//! held to f32 agreement; 16-bit weights on tensor cores, whose inputs are
//! rounded to 8 (bf16) or 11 (f16) significant bits, to bf16 agreement.

use crate::ops::SsmBackend;
use burn::backend::Flex;
use burn::tensor::{DType, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{TOLERANCE_BF16, TOLERANCE_F32};
use crate::decode::gpu::{BLAS_MIN_BATCH, GpuDecoder, HalfProducts, cuda_ordinal};
use crate::decode::{FusedDecoder, WeightFormat};
use crate::error::{Error, Result};
use crate::golden::Check;
use crate::io::state_dict::cast_params;
use crate::layers::mamba::MambaConfig;
use crate::layers::mamba2::Mamba2Config;
use crate::models::{LanguageModel, LmConfig, MixerConfig};

/// Tokens fed per check.
const STEPS: usize = 5;

/// Small language models: two Mamba shapes (the second's widths (20, 40)
/// are no multiple of 8, so the 16-bit products take their scalar path,
/// and it has no biases, a 3-tap convolution and an untied head) and three
/// Mamba-2 shapes (two groups with a per-group gated norm and biases; no
/// norm with a Δ limit; the norm before the gate).
fn configs() -> Vec<LmConfig> {
    let lm = |mixer, n_layer, tie_embeddings| LmConfig {
        vocab_size: 37,
        n_layer,
        mixer,
        norm_eps: 1e-5,
        tie_embeddings,
    };
    vec![
        lm(
            MixerConfig::Mamba(MambaConfig {
                d_state: 8,
                bias: true,
                ..MambaConfig::new(24)
            }),
            2,
            true,
        ),
        LmConfig {
            vocab_size: 29,
            ..lm(
                MixerConfig::Mamba(MambaConfig {
                    d_state: 16,
                    d_conv: 3,
                    conv_bias: false,
                    ..MambaConfig::new(20)
                }),
                3,
                false,
            )
        },
        lm(
            MixerConfig::Mamba2(Mamba2Config {
                d_state: 8,
                headdim: 8,
                ngroups: 2,
                bias: true,
                ..Mamba2Config::new(24)
            }),
            2,
            true,
        ),
        lm(
            MixerConfig::Mamba2(Mamba2Config {
                d_state: 8,
                headdim: 12,
                rmsnorm: false,
                dt_limit: (0.01, 0.05),
                ..Mamba2Config::new(24)
            }),
            2,
            false,
        ),
        lm(
            MixerConfig::Mamba2(Mamba2Config {
                d_state: 40,
                headdim: 16,
                norm_before_gate: true,
                d_conv: 3,
                ..Mamba2Config::new(32)
            }),
            3,
            true,
        ),
    ]
}

/// The token sequence `b` feeds at step `t`.
fn token(b: usize, t: usize, vocab: usize) -> i64 {
    ((b * 13 + t * 7 + 3) % vocab) as i64
}

fn as_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// The checks, on the CUDA device of `device` (none on other backends).
pub fn gpu_decode_checks<B: SsmBackend>(device: &B::Device) -> Result<Vec<Check>> {
    let probe = configs()[0].init::<B>(device, &mut ChaCha8Rng::seed_from_u64(0))?;
    let Some(ordinal) = cuda_ordinal(&probe) else {
        return Ok(Vec::new());
    };
    let cpu = Default::default();
    let mut checks = Vec::new();
    for (i, config) in configs().iter().enumerate() {
        let model = config.init::<Flex>(&cpu, &mut ChaCha8Rng::seed_from_u64(5 + i as u64))?;
        let vocab = config.vocab_size;
        for format in WeightFormat::ALL {
            // 16-bit formats on weights a 16-bit checkpoint would hold, so
            // the CPU decoder reads the very values the GPU does.
            let model = match format {
                WeightFormat::F32 => model.clone(),
                WeightFormat::Bf16 => {
                    cast_params(cast_params(model.clone(), DType::BF16), DType::F32)
                }
                WeightFormat::F16 => {
                    cast_params(cast_params(model.clone(), DType::F16), DType::F32)
                }
            };
            // From BLAS_MIN_BATCH on, f32 products and 16-bit ones on
            // tensor cores run on cuBLAS.
            let mut runs = vec![
                (1, true, HalfProducts::F32),
                (3, true, HalfProducts::F32),
                (3, false, HalfProducts::F32),
                (BLAS_MIN_BATCH, true, HalfProducts::F32),
            ];
            if format != WeightFormat::F32 {
                runs.push((BLAS_MIN_BATCH, true, HalfProducts::TensorCores));
            }
            for (batch, graphs, half) in runs {
                let what = format!(
                    "gpu_decode model {i} {format} batch {batch}{}{}",
                    if graphs { "" } else { " no graph" },
                    if half == HalfProducts::TensorCores {
                        " tensor cores"
                    } else {
                        ""
                    }
                );
                let gpu = gpu_decoder(&model, format, half, batch, ordinal)?;
                checks.push(compare(gpu, &model, format, graphs, &what, vocab)?);
            }
        }
        checks.push(loaded_state(&model, ordinal, i, vocab)?);
        checks.push(greedy_is_argmax(&model, ordinal, i, vocab)?);
    }
    Ok(checks)
}

fn gpu_decoder(
    model: &LanguageModel<Flex>,
    format: WeightFormat,
    half: HalfProducts,
    batch: usize,
    ordinal: usize,
) -> Result<GpuDecoder> {
    GpuDecoder::new(model, format, half, batch, ordinal)?
        .ok_or_else(|| Error::config("mixer", "Mamba and Mamba-2 blocks decode on the GPU"))
}

fn cpu_decoder(model: &LanguageModel<Flex>, format: WeightFormat) -> Result<FusedDecoder> {
    FusedDecoder::with_weights(model, format)
        .ok_or_else(|| Error::config("mixer", "Mamba and Mamba-2 blocks decode on the CPU"))
}

/// Every step's logits of `gpu`'s sequences against one CPU decoder per
/// sequence, to f32 agreement unless its 16-bit products run on tensor
/// cores.
fn compare(
    mut gpu: GpuDecoder,
    model: &LanguageModel<Flex>,
    format: WeightFormat,
    graphs: bool,
    what: &str,
    vocab: usize,
) -> Result<Check> {
    gpu.set_graphs(graphs);
    let batch = gpu.batch();
    let mut cpus = (0..batch)
        .map(|_| cpu_decoder(model, format))
        .collect::<Result<Vec<_>>>()?;
    let mut got = Vec::new();
    let mut want = Vec::new();
    for t in 0..STEPS {
        let tokens: Vec<i64> = (0..batch).map(|b| token(b, t, vocab)).collect();
        got.extend(as_f64(gpu.step(&tokens)?));
        for (b, cpu) in cpus.iter_mut().enumerate() {
            want.extend(as_f64(cpu.step(tokens[b])?));
        }
    }
    let tolerance = if gpu.rounds_activations() {
        TOLERANCE_BF16
    } else {
        TOLERANCE_F32 * 10.0
    };
    Ok(Check::new(
        format!("{what}: logits of {STEPS} steps"),
        &got,
        &want,
        tolerance,
    ))
}

/// Steps after a parallel prefill's state, loaded into both decoders.
fn loaded_state(
    model: &LanguageModel<Flex>,
    ordinal: usize,
    i: usize,
    vocab: usize,
) -> Result<Check> {
    let prompt: Vec<i64> = (0..9).map(|t| token(0, t + 11, vocab)).collect();
    let tokens =
        Tensor::<Flex, 2, Int>::from_data(TensorData::new(prompt, [1, 9]), &Default::default());
    let (_, state) = model.prefill(&model.initial_state(1)?, tokens)?;
    let mut gpu = gpu_decoder(model, WeightFormat::F32, HalfProducts::F32, 1, ordinal)?;
    let mut cpu = cpu_decoder(model, WeightFormat::F32)?;
    gpu.load_state(&state)?;
    cpu.load_state(&state)?;
    let (mut got, mut want) = (Vec::new(), Vec::new());
    for t in 0..STEPS {
        got.extend(as_f64(gpu.step(&[token(0, t, vocab)])?));
        want.extend(as_f64(cpu.step(token(0, t, vocab))?));
    }
    Ok(Check::new(
        format!("gpu_decode model {i}: steps after a loaded prefill state"),
        &got,
        &want,
        TOLERANCE_F32 * 10.0,
    ))
}

/// Greedy steps on the device choose what the host's argmax of the same
/// decoder's logits chooses (the first index on ties in both).
fn greedy_is_argmax(
    model: &LanguageModel<Flex>,
    ordinal: usize,
    i: usize,
    vocab: usize,
) -> Result<Check> {
    let batch = 3;
    let first: Vec<i64> = (0..batch).map(|b| token(b, 0, vocab)).collect();
    let mut stepped = gpu_decoder(model, WeightFormat::Bf16, HalfProducts::F32, batch, ordinal)?;
    let mut tokens = first.clone();
    let mut host = Vec::new();
    for _ in 0..STEPS {
        let logits = stepped.step(&tokens)?;
        tokens = logits
            .chunks_exact(vocab)
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |(bi, bv), (j, &v)| {
                        if v > bv { (j, v) } else { (bi, bv) }
                    })
                    .0 as i64
            })
            .collect();
        host.extend(tokens.iter().map(|&t| t as f64));
    }
    let mut greedy = gpu_decoder(model, WeightFormat::Bf16, HalfProducts::F32, batch, ordinal)?;
    let mut device = Vec::new();
    let mut ids = first;
    for _ in 0..STEPS {
        ids = greedy.greedy(&ids, 1)?;
        device.extend(ids.iter().map(|&t| t as f64));
    }
    Ok(Check::new(
        format!("gpu_decode model {i}: greedy ids of {STEPS} steps on the device"),
        &device,
        &host,
        0.0,
    ))
}
