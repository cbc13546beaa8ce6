//! SpaceTime (Zhang et al., "Effectively Modeling Time Series with Simple
//! Discrete State Spaces"; HazyResearch/spacetime): companion-matrix SSMs,
//! the shift SSM, the closed-loop forecaster and the fixed preprocessing
//! SSMs, by the official parameter names and with the official code's
//! semantics, quirks included (each module's docs say which).
//!
//! Every module maps (batch, L, D) → (batch, L, D) (the closed loop:
//! (batch, lag, D) → (batch, horizon, D)).

mod closed_loop;
mod companion_fft;
mod config;
mod conv;
mod krylov;
mod mlp;
mod network;
mod norm;
mod preprocess;
mod recipe;
mod ssm;

pub use closed_loop::{ClosedLoopSsm, Forecast, TeacherForced};
pub use companion_fft::companion_fft_kernel;
pub use config::{ChannelLayout, SsmKwargs};
pub use krylov::{companion_matrix, krylov_kernel, krylov_states, shift_matrix};
pub use mlp::{Mlp, MlpKwargs};
pub use network::{
    Block, BlockConfig, Decoder, EmbeddingConfig, MlpConfig, OutputConfig, PreConfig, SpaceTime,
    SpaceTimeConfig, SpaceTimeOutput, SsmConfig, StackConfig,
};
pub use norm::row_norm;
pub use preprocess::{DifferencingSsm, ResidualSsm, pascal};
pub use recipe::SpaceTimeRecipe;
pub use ssm::{CompanionSsm, SsmKind};

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::tensor::Tensor;
    use rand::SeedableRng;

    use super::*;
    use crate::error::Error;

    fn kwargs(json: &str) -> SsmKwargs {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn bad_settings_and_inputs_are_named() {
        let device = Default::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let unknown = serde_json::from_str::<SsmKwargs>(
            r#"{"model_dim": 4, "n_kernels": 2, "kernel_dim": 3, "colour": 1}"#,
        );
        assert!(unknown.unwrap_err().to_string().contains("colour"));
        let uneven = kwargs(r#"{"model_dim": 6, "n_kernels": 4, "kernel_dim": 3}"#);
        let err = uneven
            .init_open::<Flex>(SsmKind::Companion, &device, &mut rng)
            .unwrap_err();
        assert!(
            matches!(err, Error::Config { ref key, .. } if key == "model_dim"),
            "{err}"
        );
        let no_horizon = kwargs(r#"{"model_dim": 4, "n_kernels": 4, "kernel_dim": 3}"#);
        let err = no_horizon
            .init_closed::<Flex>(SsmKind::Shift, &device, &mut rng)
            .unwrap_err();
        assert!(
            matches!(err, Error::Config { ref key, .. } if key == "horizon"),
            "{err}"
        );
        let windows = kwargs(
            r#"{"model_dim": 8, "n_kernels": 8, "kernel_dim": 2, "max_diff_order": 4, "min_avg_window": 9, "max_avg_window": 9}"#,
        );
        assert!(windows.init_residual::<Flex>(&device, &mut rng).is_err());
        let short =
            kwargs(r#"{"model_dim": 4, "n_kernels": 4, "kernel_dim": 2, "max_diff_order": 4}"#);
        assert!(short.init_differencing::<Flex>(&device).is_err());
        let ssm =
            kwargs(r#"{"model_dim": 4, "n_kernels": 2, "kernel_dim": 3, "skip_connection": true}"#)
                .init_open::<Flex>(SsmKind::Companion, &device, &mut rng)
                .unwrap();
        let wide = Tensor::<Flex, 3>::zeros([1, 5, 6], &device);
        assert!(matches!(ssm.forward(wide), Err(Error::Shape { .. })));
    }

    #[test]
    fn shift_kernel_is_its_taps_and_steps_are_causal() {
        let device = Default::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let ssm = kwargs(r#"{"model_dim": 2, "n_kernels": 2, "kernel_dim": 3}"#)
            .init_open::<Flex>(SsmKind::Shift, &device, &mut rng)
            .unwrap();
        let k: Vec<f32> = ssm.kernel(5).unwrap().into_data().to_vec().unwrap();
        let c: Vec<f32> = ssm.c.val().into_data().to_vec().unwrap();
        assert_eq!(&k[..3], &c[..3]);
        assert_eq!(&k[3..5], &[0.0, 0.0]);
        // A change at step 3 leaves steps 0..3 of the output unchanged (to
        // the FFT convolution's rounding).
        let u = Tensor::<Flex, 3>::ones([1, 6, 2], &device);
        let v = u
            .clone()
            .slice_assign([0..1, 3..4, 0..2], Tensor::zeros([1, 1, 2], &device));
        let (y, z) = (ssm.forward(u).unwrap(), ssm.forward(v).unwrap());
        let diff: f32 = (y - z).narrow(1, 0, 3).abs().max().into_scalar();
        assert!(diff < 1e-5, "{diff}");
    }
}
