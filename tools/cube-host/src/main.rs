//! `cube-host gelu-forward|gelu-backward`: the CUDA C++ of statespace's GELU
//! kernels (`ops/gelu/kernels.rs`); `cube-host column-sums weighted|plain`:
//! the convolution's ∂d column sums (`strip_column_sums` of
//! `ops/fft_conv/kernels.rs`, in main since 2026-12-07);
//! `cube-host dplr-forward|dplr-node-terms|dplr-mode-grads RANK CHANNELS`:
//! S4's DPLR generating function (`ops/dplr_spectrum/kernels.rs`); on
//! stdout. `prepare.sh` copies the
//! kernels' sources into `src/kernels/` (git-ignored) with their imports
//! pointed at this crate, from HEAD with the waiting variants of
//! `bench/variants/` applied.

mod kernels;

use cubecl::ir::{ElemType, FloatKind, StorageType, Type, UIntKind};
use cubecl::prelude::*;
use cubecl_runtime::compiler::Compiler;

/// The transposing kernels' tile (`plan::TILE`, `plan::TILE_ROWS` in statespace).
pub const TILE: usize = 32;
pub const TILE_ROWS: usize = 8;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some(which @ ("gelu-forward" | "gelu-backward")) => {
            println!("{}", gelu(which == "gelu-backward"));
        }
        Some("column-sums")
            if matches!(args.get(2).map(String::as_str), Some("weighted" | "plain")) =>
        {
            println!("{}", column_sums(args[2] == "weighted"));
        }
        Some(which @ ("dplr-forward" | "dplr-node-terms" | "dplr-mode-grads"))
            if args.len() == 4 =>
        {
            let rank: usize = args[2].parse().expect("rank");
            let channels: usize = args[3].parse().expect("channels");
            println!("{}", dplr(which, rank, channels));
        }
        _ => {
            eprintln!(
                "usage: cube-host gelu-forward|gelu-backward\n       cube-host column-sums weighted|plain\n       cube-host dplr-forward|dplr-node-terms|dplr-mode-grads RANK CHANNELS"
            );
            std::process::exit(2);
        }
    }
}

/// The CUDA C++ of statespace's GELU kernel
/// (forward: x → y; backward: x, ∂y → ∂x), 256 units a cube.
fn gelu(backward: bool) -> String {
    let f32t = Type::scalar(ElemType::Float(FloatKind::F32));
    let mut builder = KernelBuilder::default();
    AddressType::U32.register(&mut builder.scope);
    let x = builder.input_tensor(f32t);
    if backward {
        let grad = builder.input_tensor(f32t);
        let grad_x = builder.output_tensor(f32t);
        kernels::gelu::gelu_backward::expand(
            &mut builder.scope,
            x.into(),
            grad.into(),
            grad_x.into(),
        );
    } else {
        let y = builder.output_tensor(f32t);
        kernels::gelu::gelu_forward::expand(&mut builder.scope, x.into(), y.into());
    }
    let settings = KernelSettings::default()
        .cube_dim(CubeDim::new_1d(256))
        .kernel_name("gelu");
    compile(builder.build(settings))
}

/// The CUDA C++ of the convolution's strip column sums (x, u → out; the
/// four u32 scalars rows, cols, channels, strip), TILE × TILE_ROWS units.
fn column_sums(weighted: bool) -> String {
    let f32t = Type::scalar(ElemType::Float(FloatKind::F32));
    let u32s: StorageType = ElemType::UInt(UIntKind::U32).into();
    let mut builder = KernelBuilder::default();
    AddressType::U32.register(&mut builder.scope);
    let x = builder.input_tensor(f32t);
    let u = builder.input_tensor(f32t);
    let out = builder.output_tensor(f32t);
    let [rows, cols, channels, strip] = [(); 4].map(|_| builder.scalar(u32s));
    kernels::conv::strip_column_sums::expand(
        &mut builder.scope,
        x.into(),
        u.into(),
        out.into(),
        rows.into(),
        cols.into(),
        channels.into(),
        strip.into(),
        weighted,
    );
    let settings = KernelSettings::default()
        .cube_dim(CubeDim::new_2d(TILE as u32, TILE_ROWS as u32))
        .kernel_name("column_sums");
    compile(builder.build(settings))
}

/// The CUDA C++ of one of the DPLR generating function's kernels
/// (`ops/dplr_spectrum/kernels.rs`), f64, for rank r and Cc channels:
/// the nine inputs (Δ, λ, B, P, C̃ as re/im) and the nodes, then per kernel
/// grad, the α/β buffers and the outputs, then heads, modes, count (u32);
/// 256 units a cube.
fn dplr(which: &str, rank: usize, channels: usize) -> String {
    use kernels::dplr::{DplrParamsExpand, ModeGradsExpand, WoodburyTermsExpand};
    let f64t = Type::scalar(ElemType::Float(FloatKind::F64));
    let u32s: StorageType = ElemType::UInt(UIntKind::U32).into();
    let mut builder = KernelBuilder::default();
    AddressType::U32.register(&mut builder.scope);
    // The launch order of `ops/dplr_spectrum/cube.rs`: the nine parameters,
    // the nodes, then each kernel's own inputs and outputs.
    let mut input = || builder.input_tensor(f64t).into();
    let params = DplrParamsExpand {
        dt: input(),
        lambda_re: input(),
        lambda_im: input(),
        b_re: input(),
        b_im: input(),
        p_re: input(),
        p_im: input(),
        c_re: input(),
        c_im: input(),
    };
    let nodes = builder.input_tensor(f64t).into();
    match which {
        "dplr-forward" => {
            let out = builder.output_tensor(f64t).into();
            let [heads, modes, count] = [(); 3].map(|_| builder.scalar(u32s).into());
            kernels::dplr::dplr_spectrum_forward::expand(
                &mut builder.scope,
                params,
                nodes,
                out,
                heads,
                modes,
                count,
                rank,
                channels,
            );
        }
        "dplr-node-terms" => {
            let grad = builder.input_tensor(f64t).into();
            let mut output = || builder.output_tensor(f64t).into();
            let solves = WoodburyTermsExpand {
                alpha_re: output(),
                alpha_im: output(),
                beta_re: output(),
                beta_im: output(),
            };
            let terms = builder.output_tensor(f64t).into();
            let [heads, modes, count] = [(); 3].map(|_| builder.scalar(u32s).into());
            kernels::dplr::dplr_spectrum_node_terms::expand(
                &mut builder.scope,
                params,
                nodes,
                grad,
                solves,
                terms,
                heads,
                modes,
                count,
                rank,
                channels,
            );
        }
        _ => {
            let grad = builder.input_tensor(f64t).into();
            let mut input = || builder.input_tensor(f64t).into();
            let solves = WoodburyTermsExpand {
                alpha_re: input(),
                alpha_im: input(),
                beta_re: input(),
                beta_im: input(),
            };
            let mut output = || builder.output_tensor(f64t).into();
            let grads = ModeGradsExpand {
                lambda_re: output(),
                lambda_im: output(),
                b_re: output(),
                b_im: output(),
                p_re: output(),
                p_im: output(),
                c_re: output(),
                c_im: output(),
            };
            let [heads, modes, count] = [(); 3].map(|_| builder.scalar(u32s).into());
            kernels::dplr::dplr_spectrum_mode_grads::expand(
                &mut builder.scope,
                params,
                nodes,
                grad,
                solves,
                grads,
                heads,
                modes,
                count,
                rank,
                channels,
            );
        }
    }
    let settings = KernelSettings::default()
        .cube_dim(CubeDim::new_1d(256))
        .kernel_name("dplr");
    compile(builder.build(settings))
}

/// cubecl-cpp's CUDA C++ of a built kernel, u32 addressing.
fn compile(definition: cubecl::prelude::KernelDefinition) -> String {
    let u32s: StorageType = ElemType::UInt(UIntKind::U32).into();
    let mut compiler = cubecl_cpp::shared::CppCompiler::<
        cubecl_cpp::cuda::CudaDialect<cubecl_cpp::cuda::mma::CudaWmmaCompiler>,
    >::default();
    let source = compiler
        .compile(
            definition,
            &Default::default(),
            cubecl_runtime::server::ExecutionMode::Unchecked,
            u32s,
        )
        .expect("cubecl-cpp compiles the kernel");
    source.to_string()
}
