//! Dynamic loss scaling for f16 mixed precision, with the rules and
//! defaults of PyTorch's `torch.amp.GradScaler`: the loss is multiplied by
//! a scale before the backward pass, so that small gradients survive f16's
//! narrow range (smallest normal 6.1e-5); the optimiser divides it out. A
//! step whose gradients hold an infinity or NaN is skipped and the scale
//! halved; after 2,000 finite steps in a row it doubles. bf16 has f32's
//! exponent range and needs none of this.

/// The scale and its count of finite steps since it last changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossScale {
    /// The factor the loss is multiplied by.
    pub scale: f64,
    /// Finite steps in a row since the scale last changed.
    pub good_steps: u64,
}

impl LossScale {
    /// The first scale (2¹⁶).
    pub const INITIAL: f64 = 65_536.0;
    /// The factor after `GROWTH_INTERVAL` finite steps.
    pub const GROWTH: f64 = 2.0;
    /// The factor after a step with a non-finite gradient.
    pub const BACKOFF: f64 = 0.5;
    /// Finite steps in a row before the scale grows.
    pub const GROWTH_INTERVAL: u64 = 2_000;

    /// The scale a run starts with.
    pub fn new() -> Self {
        Self {
            scale: Self::INITIAL,
            good_steps: 0,
        }
    }

    /// Records a step whose (scaled) gradients were `finite` or not and
    /// returns whether to apply them: a finite step counts towards growth,
    /// a non-finite one is skipped and halves the scale.
    pub fn update(&mut self, finite: bool) -> bool {
        if !finite {
            self.scale *= Self::BACKOFF;
            self.good_steps = 0;
            return false;
        }
        self.good_steps += 1;
        if self.good_steps == Self::GROWTH_INTERVAL {
            self.scale *= Self::GROWTH;
            self.good_steps = 0;
        }
        true
    }
}

impl Default for LossScale {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::module::Param;
    use burn::optim::GradientsParams;
    use burn::tensor::{Tensor, TensorData};
    use burn_flex::Flex;

    use super::*;
    use crate::layers::linear::Linear;
    use crate::models::Precision;
    use crate::train::checkpoint;
    use crate::train::objective::scaled;
    use crate::train::optim::{AdamW, OptimConfig, step};

    type B = Autodiff<Flex>;

    fn f16_adamw() -> AdamW<Flex> {
        AdamW::new(OptimConfig {
            precision: Precision::F16,
            weight_decay: 0.0,
            ..OptimConfig::default()
        })
    }

    /// The gradients of sum(w · x) for w = (1, 2), the loss times `scale`.
    fn grads(model: &Linear<B>, x: [f32; 2], scale: f64) -> GradientsParams {
        let x = Tensor::<B, 2>::from_data(TensorData::new(x.to_vec(), [1, 2]), &Default::default());
        let loss = model.forward(x).unwrap().sum();
        GradientsParams::from_grads(scaled(loss, scale).backward(), model)
    }

    fn weights(model: &Linear<B>) -> Vec<f32> {
        model.weight.val().into_data().to_vec().unwrap()
    }

    #[test]
    fn an_overflowing_step_is_skipped_and_a_finite_one_is_applied_unscaled() {
        let device = Default::default();
        let model = Linear::<B> {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![1.0f32, 2.0], [1, 2]),
                &device,
            )),
            bias: None,
        };
        let mut adam = f16_adamw();
        // 3e38 · 2¹⁶ overflows f32: the step is skipped, the scale halved.
        let g = grads(&model, [3e38, 0.0], adam.loss_factor());
        let (model, norm) = step::<B, _>(&mut adam, model, &g, 1.0);
        assert!(!norm.unwrap().is_finite());
        assert_eq!(weights(&model), vec![1.0, 2.0]);
        assert_eq!(adam.step, 0);
        assert!(adam.moments.is_empty());
        assert_eq!(adam.loss_scale.unwrap().scale, LossScale::INITIAL / 2.0);
        // ∂loss/∂w = x = (1, 1), arriving times 2¹⁵: the norm and the first
        // moment, (1 − β₁)·g, are those of the unscaled gradient.
        let g = grads(&model, [1.0, 1.0], adam.loss_factor());
        let (model, norm) = step::<B, _>(&mut adam, model, &g, 1.0);
        assert!((norm.unwrap() - 2f64.sqrt()).abs() < 1e-6);
        assert_eq!(adam.step, 1);
        let m: Vec<f32> = adam
            .moments
            .values()
            .next()
            .unwrap()
            .m
            .clone()
            .into_data()
            .to_vec()
            .unwrap();
        assert!(m.iter().all(|&v| (v - 0.1).abs() < 1e-6), "{m:?}");
        assert!(weights(&model)[0] < 1.0);
        // The scale travels with the checkpoint.
        let dir =
            std::env::temp_dir().join(format!("statespace-loss-scale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("last.safetensors");
        checkpoint::save::<B, _, Flex>(&path, &model, &adam, 1, "").unwrap();
        let mut loaded = f16_adamw();
        checkpoint::load_optim(&path, &mut loaded, &device).unwrap();
        assert_eq!(loaded.loss_scale, adam.loss_scale);
        assert_eq!(loaded.loss_scale.unwrap().good_steps, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_scale_halves_on_an_overflow_and_doubles_after_a_run_of_finite_steps() {
        let mut s = LossScale::new();
        assert!(!s.update(false));
        assert_eq!(s.scale, LossScale::INITIAL / 2.0);
        for _ in 0..LossScale::GROWTH_INTERVAL - 1 {
            assert!(s.update(true));
        }
        assert_eq!(s.scale, LossScale::INITIAL / 2.0);
        assert!(s.update(true));
        assert_eq!((s.scale, s.good_steps), (LossScale::INITIAL, 0));
        // An overflow restarts the count.
        s.update(true);
        s.update(false);
        assert_eq!((s.scale, s.good_steps), (LossScale::INITIAL / 2.0, 0));
    }
}
