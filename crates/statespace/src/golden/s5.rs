//! Golden cases `s5_ssm_*` and `s5_layer_*`: lindermanlab/S5's `S5SSM`
//! and its `SequenceLayer` (evaluation mode) in float64, parameters by
//! their flax paths, the discretised Λ̄ and B̄ (`debug.*`) or the SSM's
//! output inside the layer (`debug.seq_output`), the initial eigenvalues
//! (`init.Lambda_*`), outputs and every gradient.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Tensor};

use super::layer::{
    CaseNames, ConfigFields, check_outputs, forward_and_gradients, input, load_layer,
};
use super::{Check, check_named};
use crate::discretize::Discretization;
use crate::error::Result;
use crate::io::{HostTensor, SafetensorsFile};
use crate::layers::s5::{CInit, S5Activation, S5Config, S5NormKind};
use crate::ops::SsmBackend;

/// A case's settings: the SSM's (with its activation) and, for a whole
/// layer, its norm and placement.
pub struct CaseConfig {
    pub ssm: S5Config,
    pub norm: S5NormKind,
    pub prenorm: bool,
}

/// The case's settings from the manifest's `config` and the shapes.
/// Fails, naming the key, on a value S5 does not have or a training-mode
/// layer (dropout and batch statistics would make the outputs random).
pub fn config_for(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
) -> Result<CaseConfig> {
    let f = ConfigFields::of(manifest, case, file)?;
    let c_init: CInit = f.parse("C_init", CInit::LecunNormal)?;
    let activation: S5Activation = f.parse("activation", S5Activation::Gelu)?;
    let disc = match f.text("discretization").unwrap_or("zoh") {
        "zoh" => Discretization::Zoh,
        "bilinear" => Discretization::Bilinear,
        _ => return Err(f.bad("discretization", "must be zoh or bilinear")),
    };
    if f.flag("training", false) {
        return Err(f.bad("training", "true is not supported (evaluation mode only)"));
    }
    let d_model = file.shape("input")?.last().copied().unwrap_or(0);
    let ssm = S5Config {
        d_model,
        ssm_size: f.size("ssm_size_base")?,
        blocks: f.size("blocks")?,
        c_init,
        conj_sym: f.flag("conj_sym", true),
        clip_eigs: f.flag("clip_eigs", false),
        bidirectional: f.flag("bidirectional", false),
        disc,
        dt_min: f.real("dt_min", 1e-3),
        dt_max: f.real("dt_max", 1e-1),
        step_rescale: f.real("step_rescale", 1.0),
        activation,
    };
    Ok(CaseConfig {
        ssm,
        norm: if f.flag("batchnorm", false) {
            S5NormKind::Batch
        } else {
            S5NormKind::Layer
        },
        prenorm: f.flag("prenorm", false),
    })
}

/// The SSM cases: parameters by their own names.
pub const SSM_NAMES: CaseNames = CaseNames {
    input: "input",
    output: "output",
    aux: &[],
    official: str::to_string,
};

/// The layer cases: the SSM under `seq.`, the gates `out1.`/`out2.` and
/// the norm as flax names them; BatchNorm's running statistics in flax's
/// `batch_stats` collection.
pub const LAYER_NAMES: CaseNames = CaseNames {
    input: "input",
    output: "output",
    aux: &[],
    official: layer_official_name,
};

/// The flax path of our layer's parameter `name`.
pub fn layer_official_name(name: &str) -> String {
    let name = name.strip_prefix("mixer.").unwrap_or(name);
    match name {
        "norm.mean" | "norm.var" => format!("batch_stats.{name}"),
        _ => name.to_string(),
    }
}

/// Checks one `s5_ssm_*` case in `dtype`: output and every gradient, the
/// discretised Λ̄ and B̄, and S5's initial eigenvalues (tiled over the
/// blocks, half kept with conjugate symmetry) against `init.Lambda_*`.
pub fn check_ssm_case<B: AutodiffBackend + SsmBackend>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    dtype: DType,
    tolerance: f64,
    device: &B::Device,
) -> Result<Vec<Check>> {
    let config = config_for(case, file, manifest)?;
    let ssm = load_layer(file, dtype, SSM_NAMES.official, |rng| {
        config.ssm.init_ssm::<B>(device, rng)
    })?;
    let ours = forward_and_gradients(&ssm, file, SSM_NAMES, dtype, device, |m, u| m.forward(u))?;
    let tag = format!("{case} ({dtype:?})");
    let mut checks = check_outputs(&tag, &ours, file, SSM_NAMES, |_| tolerance)?;
    let (lambda_bar, b_bar) = ssm.discretize();
    let pairs1 = |re: Tensor<B, 1>, im: Tensor<B, 1>| Tensor::stack::<2>(vec![re, im], 1);
    let pairs2 = |re: Tensor<B, 2>, im: Tensor<B, 2>| Tensor::stack::<3>(vec![re, im], 2);
    let host = |t: Tensor<B, 2>| HostTensor::from_tensor(&t).data;
    let mut extra = vec![
        (
            "debug.Lambda_bar".to_string(),
            host(pairs1(lambda_bar.re, lambda_bar.im)),
        ),
        (
            "debug.B_bar".to_string(),
            HostTensor::from_tensor(&pairs2(b_bar.re, b_bar.im)).data,
        ),
    ];
    extra.extend(initial_eigenvalues::<B>(&config.ssm, device)?);
    checks.extend(stored_only(&tag, extra, file, tolerance)?);
    Ok(checks)
}

/// Checks one `s5_layer_*` case in `dtype`: output and every gradient, the
/// SSM's output inside the layer, the initial eigenvalues.
pub fn check_layer_case<B: AutodiffBackend + SsmBackend>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    dtype: DType,
    tolerance: f64,
    device: &B::Device,
) -> Result<Vec<Check>> {
    let config = config_for(case, file, manifest)?;
    let layer = load_layer(file, dtype, LAYER_NAMES.official, |rng| {
        config
            .ssm
            .init_layer::<B>(config.norm, config.prenorm, device, rng)
    })?;
    let ours = forward_and_gradients(&layer, file, LAYER_NAMES, dtype, device, |m, u| {
        m.forward(u)
    })?;
    let tag = format!("{case} ({dtype:?})");
    let mut checks = check_outputs(&tag, &ours, file, LAYER_NAMES, |_| tolerance)?;
    let x = input::<B>(file, LAYER_NAMES.input, dtype, device)?;
    let mut extra = vec![(
        "debug.seq_output".to_string(),
        HostTensor::from_tensor(&layer.ssm_output(x)?).data,
    )];
    extra.extend(initial_eigenvalues::<B>(&config.ssm, device)?);
    checks.extend(stored_only(&tag, extra, file, tolerance)?);
    Ok(checks)
}

/// The eigenvalues our initialisation gives, as `init.Lambda_re`/`_im`.
fn initial_eigenvalues<B: SsmBackend>(
    config: &S5Config,
    device: &B::Device,
) -> Result<Vec<(String, Vec<f64>)>> {
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let fresh = config.init_ssm::<B>(device, &mut rng)?;
    Ok(vec![
        (
            "init.Lambda_re".to_string(),
            HostTensor::from_tensor(&fresh.Lambda_re.val()).data,
        ),
        (
            "init.Lambda_im".to_string(),
            HostTensor::from_tensor(&fresh.Lambda_im.val()).data,
        ),
    ])
}

/// Checks of the intermediate tensors the file stores (a case may store
/// fewer); the initial eigenvalues (computed in f64 on the host, stored as
/// f32 parameters by our init) within f32 rounding.
fn stored_only(
    tag: &str,
    ours: Vec<(String, Vec<f64>)>,
    file: &SafetensorsFile,
    tolerance: f64,
) -> Result<Vec<Check>> {
    let ours: Vec<_> = ours.into_iter().filter(|(n, _)| file.contains(n)).collect();
    check_named(tag, &ours, file, &[], str::to_string, |name| {
        if name.starts_with("init.") {
            tolerance.max(1e-6)
        } else {
            tolerance
        }
    })
}
