//! Mixed precision, as PyTorch's autocast trains mamba_ssm: the parameters
//! stay f32 (the optimiser's master copy); for each forward pass a mixer
//! sees them cast to a 16-bit type and runs on 16-bit activations, and the
//! gradients flow back through the casts to the f32 parameters in f32.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{FloatDType, Tensor};
use serde::{Deserialize, Serialize};

/// The arithmetic a model's blocks run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in the parameters' own type (f32).
    #[default]
    F32,
    /// bf16 mixers on f32 master parameters: each block's input is cast to
    /// bf16 after its (f32) norm and its output back to f32 before the
    /// residual sum, which stays f32 (mamba_ssm's `residual_in_fp32`); the
    /// output head multiplies in bf16 and the loss reads f32 logits. No loss
    /// scaling: bf16 has f32's exponent range.
    Bf16,
    /// As [`Precision::Bf16`] in f16 (GPUs without bf16 arithmetic), with
    /// dynamic loss scaling (`train::loss_scale`): f16's range is narrow.
    F16,
}

impl Precision {
    /// The 16-bit type of the mixers, `None` for f32.
    pub fn compute_dtype(self) -> Option<FloatDType> {
        match self {
            Precision::F32 => None,
            Precision::Bf16 => Some(FloatDType::BF16),
            Precision::F16 => Some(FloatDType::F16),
        }
    }

    /// Whether training scales the loss (f16).
    pub fn scales_loss(self) -> bool {
        self == Precision::F16
    }

    /// The name used in configs (`f32`, `bf16`, `f16`).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }
}

/// `module` with every float parameter cast to `dtype`, except those whose
/// path ends with one of `keep` (field names joined by `.`, e.g.
/// `dt_proj.bias`). The casts are recorded by autodiff: gradients of the
/// view reach the original parameters in their own type.
pub fn cast_view<B: Backend, M: Module<B>>(module: M, dtype: FloatDType, keep: &[&str]) -> M {
    module.map(&mut CastParams {
        dtype,
        keep,
        path: Vec::new(),
    })
}

/// The [`ModuleMapper`] of [`cast_view`].
struct CastParams<'a> {
    dtype: FloatDType,
    keep: &'a [&'a str],
    /// Field names from the module's root to the current parameter.
    path: Vec<String>,
}

impl CastParams<'_> {
    fn kept(&self) -> bool {
        self.keep.iter().any(|suffix| {
            let parts: Vec<&str> = suffix.split('.').collect();
            self.path.len() >= parts.len()
                && self.path[self.path.len() - parts.len()..]
                    .iter()
                    .zip(&parts)
                    .all(|(a, b)| a == b)
        })
    }
}

impl<B: Backend> ModuleMapper<B> for CastParams<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        if self.kept() {
            return param;
        }
        let dtype = self.dtype;
        param.map(|t| t.cast(dtype))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::linear::Linear;
    use burn::backend::Autodiff;
    use burn::module::Module;
    use burn::tensor::{DType, TensorData};
    use burn_flex::Flex;

    type B = Autodiff<Flex>;

    #[derive(Module, Debug)]
    struct Pair<B: Backend> {
        proj: Linear<B>,
        other: Linear<B>,
    }

    fn linear(values: &[f32], device: &burn::tensor::Device<B>) -> Linear<B> {
        Linear {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(values.to_vec(), [1, values.len()]),
                device,
            )),
            bias: Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![0.5f32], [1]),
                device,
            ))),
        }
    }

    #[test]
    fn the_view_casts_all_but_the_kept_paths_and_gradients_reach_the_f32_parameters() {
        let device = Default::default();
        let pair = Pair {
            proj: linear(&[1.0, 2.0], &device),
            other: linear(&[3.0, 4.0], &device),
        };
        let view = cast_view(pair.clone(), FloatDType::BF16, &["other.bias"]);
        assert_eq!(view.proj.weight.val().dtype(), DType::BF16);
        assert_eq!(view.proj.bias.as_ref().unwrap().val().dtype(), DType::BF16);
        assert_eq!(view.other.weight.val().dtype(), DType::BF16);
        assert_eq!(view.other.bias.as_ref().unwrap().val().dtype(), DType::F32);
        // y = w·x + b summed: ∂y/∂w = x, ∂y/∂b = 1, in the masters' f32.
        let x = Tensor::<B, 2>::from_data(TensorData::new(vec![1.5f32, -2.0], [1, 2]), &device)
            .cast(FloatDType::BF16);
        let y = view.proj.forward(x).unwrap().cast(FloatDType::F32).sum();
        let grads = y.backward();
        let w = pair.proj.weight.val().grad(&grads).unwrap();
        let b = pair.proj.bias.as_ref().unwrap().val().grad(&grads).unwrap();
        assert_eq!(w.dtype(), DType::F32);
        assert_eq!(w.into_data().to_vec::<f32>().unwrap(), vec![1.5, -2.0]);
        assert_eq!(b.into_data().to_vec::<f32>().unwrap(), vec![1.0]);
    }
}
