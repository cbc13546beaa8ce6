//! S4 and S4D layers against state-spaces/s4's standalone `FFTConv`
//! (golden cases `s4_fftconv_*`): output, input gradient, every parameter
//! gradient, and the recurrent output, at ≤ 1e-4 norm-relative in f32.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor};
use common::{assert_close, golden_cases, golden_dir};
use rand::SeedableRng;
use statespace::io::{HostTensor, SafetensorsFile, named_grads};
use statespace::layers::s4::{KernelMode, S4, S4Config, SsmInit};

const TOL: f64 = 1e-4;

/// The case's description in manifest.json, if any (e.g. "mode=dplr, init=legs").
fn manifest_op(case: &str) -> String {
    let path = golden_dir().join("manifest.json");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|m| m.get(case)?.get("op")?.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The layer configuration implied by the case's tensors (and manifest).
fn config_for(case: &str, file: &SafetensorsFile) -> (S4Config, Option<usize>) {
    let input = file.shape("input").unwrap();
    let a_real = file.shape("param.kernel.A_real").unwrap();
    let c = file.shape("param.kernel.C").unwrap();
    let op = manifest_op(case);
    let field = |key: &str| {
        op.split(|c: char| c == ',' || c == '(' || c == ')' || c.is_whitespace())
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_string))
    };
    let dplr = file.contains("param.kernel.P");
    let l_kernel = file
        .i64("buffer.kernel.l_kernel")
        .ok()
        .map(|t| t.data[0] as usize);
    let mut config = S4Config {
        d_model: input[1],
        d_state: 2 * a_real[1],
        channels: c[0],
        n_ssm: Some(a_real[0]),
        mode: if dplr {
            KernelMode::Dplr
        } else {
            KernelMode::Diag
        },
        l_max: l_kernel.or(Some(input[2])),
        ..S4Config::default()
    };
    if dplr {
        config.rank = file.shape("param.kernel.P").unwrap()[0];
    }
    if let Some(init) = field("init") {
        config.init = init
            .parse::<SsmInit>()
            .unwrap_or_else(|e| panic!("{case}: {e}"));
    } else if !dplr {
        config.init = SsmInit::DiagLin;
    }
    if let Some(disc) = field("disc") {
        config.disc = disc.parse().unwrap();
    }
    (config, l_kernel)
}

fn load_layer<B: statespace::ops::SpectralOps>(
    case: &str,
    file: &SafetensorsFile,
    device: &B::Device,
) -> S4<B> {
    let (config, l_kernel) = config_for(case, file);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    config
        .init(device, &mut rng)
        .unwrap()
        .load(|name| file.f64(&format!("param.{name}")), l_kernel)
        .unwrap_or_else(|e| panic!("{case}: {e}"))
}

/// (B, H, L) golden layout to the layer's (B, L, H).
fn input_blh<B: Backend>(file: &SafetensorsFile, name: &str, device: &B::Device) -> Tensor<B, 3> {
    file.f32(name)
        .unwrap()
        .to_tensor::<B, 3>(name, device, DType::F32)
        .unwrap()
        .swap_dims(1, 2)
}

fn host_bhl<B: Backend>(y: &Tensor<B, 3>) -> Vec<f64> {
    HostTensor::from_tensor(&y.clone().swap_dims(1, 2)).data
}

#[test]
fn s4_layers_match_reference_output_and_gradients() {
    let device = Default::default();
    type B = Autodiff<Flex>;
    for (case, file) in golden_cases("s4_fftconv_") {
        let layer = load_layer::<B>(&case, &file, &device);
        let x = input_blh::<B>(&file, "input", &device).require_grad();
        let y = layer.forward(x.clone()).unwrap();
        assert_close(
            &format!("{case}: output"),
            &host_bhl(&y),
            &file.f64("output").unwrap().data,
            TOL,
        );

        let grad_out = input_blh::<B>(&file, "grad_output", &device);
        let mut grads = (y * grad_out).sum().backward();
        let grad_x = x.grad(&grads).expect("input gradient");
        assert_close(
            &format!("{case}: grad_input"),
            &host_bhl(&grad_x),
            &file.f64("grad_input").unwrap().data,
            TOL,
        );

        let params = GradientsParams::from_module(&mut grads, &layer);
        let ours = named_grads(&layer, &params);
        let expected: Vec<String> = file
            .names()
            .into_iter()
            .filter(|n| n.starts_with("grad."))
            .collect();
        assert!(
            !expected.is_empty(),
            "{case}: no parameter gradients in the file"
        );
        for name in expected {
            let param = name.strip_prefix("grad.").unwrap();
            let (_, g) = ours
                .iter()
                .find(|(n, _)| n == param)
                .unwrap_or_else(|| panic!("{case}: no gradient for parameter {param}"));
            assert_close(
                &format!("{case}: {name}"),
                &g.data,
                &file.f64(&name).unwrap().data,
                TOL,
            );
        }
    }
}

#[test]
fn s4_step_mode_equals_reference_recurrent_output() {
    let device = Default::default();
    type B = Flex;
    for (case, file) in golden_cases("s4_fftconv_") {
        let layer = load_layer::<B>(&case, &file, &device);
        let x = input_blh::<B>(&file, "input", &device);
        let [batch, len, _] = x.dims();
        let rec = layer.recurrent().unwrap();
        let mut state = rec.initial_state(batch);
        let mut ys = Vec::new();
        for t in 0..len {
            let (y, next) = rec
                .step(&state, x.clone().narrow(1, t, 1).squeeze_dim::<2>(1))
                .unwrap();
            ys.push(y.unsqueeze_dim::<3>(1));
            state = next;
        }
        let y = Tensor::cat(ys, 1);
        assert_close(
            &format!("{case}: output_step"),
            &host_bhl(&y),
            &file.f64("output_step").unwrap().data,
            TOL,
        );
    }
}

#[test]
fn s4_chunked_streaming_equals_one_pass() {
    let device = Default::default();
    type B = Flex;
    for (case, file) in golden_cases("s4_fftconv_") {
        let layer = load_layer::<B>(&case, &file, &device);
        let x = input_blh::<B>(&file, "input", &device);
        let [batch, len, _] = x.dims();
        let rec = layer.recurrent().unwrap();
        for chunk in [1, 7, 50, len] {
            let mut state = rec.initial_state(batch);
            let mut ys = Vec::new();
            let mut t = 0;
            while t < len {
                let n = chunk.min(len - t);
                let (y, next) = rec
                    .forward_with_state(&state, x.clone().narrow(1, t, n))
                    .unwrap();
                ys.push(y);
                state = next;
                t += n;
            }
            let y = Tensor::cat(ys, 1);
            assert_close(
                &format!("{case}: chunks of {chunk}"),
                &host_bhl(&y),
                &file.f64("output").unwrap().data,
                TOL,
            );
        }
    }
}
