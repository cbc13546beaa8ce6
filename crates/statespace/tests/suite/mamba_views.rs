//! The three views of Mamba, Mamba-2 and Mamba-3 mixers and of the language model
//! agree: the parallel pass, token-by-token steps, and streaming in chunks.

use crate::common::Draws;
use burn::backend::Flex;
use burn::tensor::{DType, Int, Tensor, TensorData};
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::layers::mamba::MambaConfig;
use statespace::layers::mamba2::Mamba2Config;
use statespace::layers::mamba3::Mamba3Config;
use statespace::models::{LmConfig, MixerConfig};

type B = Flex;

fn host<const D: usize>(t: &Tensor<B, D>) -> Vec<f64> {
    HostTensor::from_tensor(t).data
}

fn configs() -> Vec<MixerConfig> {
    vec![
        MixerConfig::Mamba(MambaConfig {
            d_state: 8,
            ..MambaConfig::new(16)
        }),
        MixerConfig::Mamba2(Mamba2Config {
            d_state: 8,
            headdim: 8,
            ngroups: 2,
            chunk_size: 5,
            ..Mamba2Config::new(16)
        }),
        MixerConfig::Mamba3(Mamba3Config {
            d_state: 8,
            headdim: 8,
            ngroups: 2,
            ..Mamba3Config::new(16)
        }),
        MixerConfig::Mamba3(Mamba3Config {
            d_state: 8,
            headdim: 8,
            rope_fraction: 1.0,
            is_mimo: true,
            mimo_rank: 3,
            is_outproj_norm: true,
            ..Mamba3Config::new(16)
        }),
    ]
}

#[test]
fn mixer_step_and_chunks_equal_parallel_pass() {
    let device = Default::default();
    for config in configs() {
        let mixer = config
            .init::<B>(
                &device,
                &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(100),
            )
            .unwrap();
        let len = 23;
        let x = Draws::new(3).normal::<B, 3>([2, len, 16], DType::F32);
        let full = host(&mixer.forward(x.clone()).unwrap());

        let mut state = mixer.initial_state(2).unwrap();
        let mut pieces = Vec::new();
        for (from, n) in [(0, 1), (1, 9), (10, 13)] {
            let (y, s) = mixer
                .forward_with_state(&state, x.clone().narrow(1, from, n))
                .unwrap();
            pieces.push(y);
            state = s;
        }
        let chunked = host(&Tensor::cat(pieces, 1));
        let err = rel_err(&chunked, &full);
        assert!(err < 1e-5, "{config:?}: chunks differ by {err:.2e}");
    }
}

#[test]
fn language_model_recurrent_decoding_equals_parallel_logits() {
    let device = Default::default();
    for mixer in configs() {
        let config = LmConfig {
            vocab_size: 40,
            n_layer: 2,
            mixer,
            norm_eps: 1e-5,
            tie_embeddings: true,
        };
        let model = config
            .init::<B>(
                &device,
                &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1),
            )
            .unwrap();
        let ids: Vec<i64> = (0..17).map(|i| (i * 7 + 3) % 40).collect();
        let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(ids.clone(), [1, 17]), &device);
        let full = host(&model.forward(tokens).unwrap());
        let mut state = model.initial_state(1).unwrap();
        let mut steps = Vec::new();
        for &id in &ids {
            let token = Tensor::<B, 1, Int>::from_data(TensorData::new(vec![id], [1]), &device);
            let (logits, next) = model.step(&state, token).unwrap();
            steps.push(logits.unsqueeze_dim::<3>(1));
            state = next;
        }
        let stepped = host(&Tensor::cat(steps, 1));
        let err = rel_err(&stepped, &full);
        assert!(
            err < 1e-5,
            "{:?}: stepping differs by {err:.2e}",
            config.mixer
        );
        // Prefill: the last position's logits and the same state.
        let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(ids.clone(), [1, 17]), &device);
        let (last, prefilled) = model
            .prefill(&model.initial_state(1).unwrap(), tokens)
            .unwrap();
        let vocab = 40;
        let err = rel_err(&host(&last), &full[16 * vocab..]);
        assert!(
            err < 1e-5,
            "{:?}: prefill differs by {err:.2e}",
            config.mixer
        );
        let probe = Tensor::<B, 1, Int>::from_data(TensorData::new(vec![5i64], [1]), &device);
        let (a, _) = model.step(&prefilled, probe.clone()).unwrap();
        let (b, _) = model.step(&state, probe).unwrap();
        let err = rel_err(&host(&a), &host(&b));
        assert!(
            err < 1e-5,
            "{:?}: prefill state differs by {err:.2e}",
            config.mixer
        );
    }
}

#[test]
fn out_of_range_tokens_are_an_error() {
    let device = Default::default();
    let config = LmConfig {
        vocab_size: 10,
        n_layer: 1,
        mixer: configs().remove(0),
        norm_eps: 1e-5,
        tie_embeddings: true,
    };
    let model = config
        .init::<B>(
            &device,
            &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(2),
        )
        .unwrap();
    let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![1i64, 10], [1, 2]), &device);
    let err = model.forward(tokens).unwrap_err().to_string();
    assert!(err.contains("0..10"), "{err}");
}
