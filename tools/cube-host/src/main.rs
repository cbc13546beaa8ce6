//! `cube-host gelu-forward|gelu-backward`: the CUDA C++ of statespace's GELU
//! kernels (`ops/gelu/kernels.rs`), on stdout. `prepare.sh` copies the
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
        _ => {
            eprintln!("usage: cube-host gelu-forward|gelu-backward");
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
        kernels::gelu::gelu_backward::expand(&mut builder.scope, x.into(), grad.into(), grad_x.into());
    } else {
        let y = builder.output_tensor(f32t);
        kernels::gelu::gelu_forward::expand(&mut builder.scope, x.into(), y.into());
    }
    let settings = KernelSettings::default()
        .cube_dim(CubeDim::new_1d(256))
        .kernel_name("gelu");
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
