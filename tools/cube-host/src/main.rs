//! `cube-host fused-conv M` / `cube-host fused-conv-grad M`: the CUDA C++
//! of the fused FFT-convolution forward or input-gradient kernel
//! (`bench/variants/fft-conv-fused.patch`) for m = n/2 = M, on stdout. The kernel's source is copied in by `run_fused_conv.sh`
//! (`src/kernels/`, git-ignored), with its imports pointed at this crate.

mod kernels;

use cubecl::ir::{ElemType, FloatKind, StorageType, Type, UIntKind};
use cubecl::prelude::*;
use cubecl_runtime::compiler::Compiler;

/// Units per cube of the fused kernel (`plan::FUSED_UNITS` in statespace).
pub const FUSED_UNITS: usize = 256;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(which @ ("gelu-forward" | "gelu-backward")) = args.get(1).map(String::as_str) {
        println!("{}", gelu(which == "gelu-backward"));
        return;
    }
    let (Some(which @ ("fused-conv" | "fused-conv-grad")), Some(m)) =
        (args.get(1).map(String::as_str), args.get(2))
    else {
        eprintln!(
            "usage: cube-host fused-conv|fused-conv-grad M   (M = n/2, a power of two ≥ 8)\n       cube-host gelu-forward|gelu-backward"
        );
        std::process::exit(2);
    };
    let m: usize = m.parse().expect("M: a number");
    let f32t = Type::scalar(ElemType::Float(FloatKind::F32));
    let u32s: StorageType = ElemType::UInt(UIntKind::U32).into();
    let f32s: StorageType = ElemType::Float(FloatKind::F32).into();
    // Arguments in the kernel's order: the four tensors, then the scalars.
    let mut builder = KernelBuilder::default();
    AddressType::U32.register(&mut builder.scope);
    let tensors = [
        builder.input_tensor(f32t),
        builder.input_tensor(f32t),
        builder.input_tensor(f32t),
        builder.output_tensor(f32t),
    ];
    let uints = [builder.scalar(u32s), builder.scalar(u32s), builder.scalar(u32s)];
    let floats = [builder.scalar(f32s), builder.scalar(f32s), builder.scalar(f32s)];
    let [u, spectra, d, y] = tensors;
    let [len, channels, kernels_count] = uints;
    let [twiddle_step, bin_step, scale] = floats;
    let expand = match which {
        "fused-conv" => kernels::fused::fused_conv_forward::expand,
        _ => kernels::fused::fused_conv_input_grad::expand,
    };
    expand(
        &mut builder.scope,
        u.into(),
        spectra.into(),
        d.into(),
        y.into(),
        len.into(),
        channels.into(),
        kernels_count.into(),
        twiddle_step.into(),
        bin_step.into(),
        scale.into(),
        m,
        m.trailing_zeros() as usize,
    );
    let settings = KernelSettings::default()
        .cube_dim(CubeDim::new_2d(FUSED_UNITS as u32, 1))
        .kernel_name("fused");
    println!("{}", compile(builder.build(settings)));
}

/// The CUDA C++ of the GELU kernel of `bench/variants/gelu-normal-cdf-tail.patch`
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
