//! A Mamba-3 language model in mamba_ssm's checkpoint layout (`config.json`
//! with `ssm_cfg.layer = "Mamba3"`, weights under `backbone.layers.{i}.mixer.*`)
//! loads to exactly the model of its weights, and `ssm info` and
//! `ssm generate` work on it.

use std::path::Path;
use std::process::Command;

use burn::backend::Flex;
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use statespace::generate::{Generator, Sampling};
use statespace::io::{HostTensor, load_params, param_infos};
use statespace::layers::mamba3::Mamba3Config;
use statespace::models::{LmConfig, MixerConfig};

fn ssm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ssm"))
}

/// Writes a Mamba-3 MIMO LM of random weights in mamba_ssm's layout;
/// returns the weights by our parameter names.
fn write_checkpoint(dir: &Path, config: &LmConfig) -> Vec<(String, Vec<f32>, Vec<usize>)> {
    let model = config
        .init::<Flex>(
            &Default::default(),
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
        )
        .unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let weights: Vec<(String, Vec<f32>, Vec<usize>)> = param_infos::<Flex, _>(&model)
        .into_iter()
        .map(|p| {
            let count = p.shape.iter().product();
            let centre = if p.name.ends_with("norm.weight") || p.name.ends_with("norm_f.weight") {
                1.0
            } else {
                0.0
            };
            let values = (0..count)
                .map(|_| centre + rng.random_range(-0.3f32..0.3))
                .collect();
            (p.name, values, p.shape)
        })
        .collect();
    let bytes: Vec<Vec<u8>> = weights
        .iter()
        .map(|(_, v, _)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = weights
        .iter()
        .zip(&bytes)
        .map(|((name, _, shape), b)| {
            let native = format!("backbone.{}", name.replacen("embeddings.", "embedding.", 1));
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b)
                    .unwrap();
            (native, view)
        })
        .collect();
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
    let MixerConfig::Mamba3(m) = &config.mixer else {
        unreachable!()
    };
    let json = serde_json::json!({
        "d_model": m.d_model,
        "d_intermediate": 0,
        "n_layer": config.n_layer,
        "vocab_size": config.vocab_size,
        "ssm_cfg": {
            "layer": "Mamba3",
            "d_state": m.d_state,
            "headdim": m.headdim,
            "ngroups": m.ngroups,
            "rope_fraction": m.rope_fraction,
            "is_mimo": m.is_mimo,
            "mimo_rank": m.mimo_rank,
            "is_outproj_norm": m.is_outproj_norm,
            "chunk_size": 16,
            "fuse_pregate_headwise_norm": true
        },
        "rms_norm": true,
        "residual_in_fp32": true,
        "fused_add_norm": true,
        "pad_vocab_size_multiple": 1,
        "tie_embeddings": true
    });
    std::fs::write(dir.join("config.json"), json.to_string()).unwrap();
    weights
}

#[test]
fn mamba3_checkpoint_loads_reports_and_generates() {
    let dir = std::env::temp_dir().join(format!("ssm-mamba3-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = LmConfig {
        vocab_size: 260,
        n_layer: 2,
        mixer: MixerConfig::Mamba3(Mamba3Config {
            d_state: 8,
            headdim: 8,
            is_mimo: true,
            mimo_rank: 2,
            is_outproj_norm: true,
            chunk_size: 16,
            ..Mamba3Config::new(16)
        }),
        norm_eps: 1e-5,
        tie_embeddings: true,
    };
    let weights = write_checkpoint(&dir, &config);
    let device = Default::default();
    let ckpt = statespace::models::pretrained::load::<Flex>(&dir, &device).unwrap();
    assert_eq!(ckpt.config.mixer, config.mixer);
    let direct = load_params(
        config
            .init::<Flex>(&device, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1))
            .unwrap(),
        |name| {
            let (_, values, shape) = weights.iter().find(|(n, _, _)| n == name).unwrap();
            HostTensor::new(
                name,
                shape.clone(),
                values.iter().map(|&v| v as f64).collect(),
            )
        },
    )
    .unwrap();
    let ids: Vec<i64> = (0..2 * 7).map(|i| (i * 37 % 260) as i64).collect();
    let tokens = Tensor::<Flex, 2, Int>::from_data(TensorData::new(ids, [2, 7]), &device);
    let loaded = ckpt.model.forward(tokens.clone()).unwrap().into_data();
    let expected = direct.forward(tokens).unwrap().into_data();
    assert_eq!(
        loaded, expected,
        "the checkpoint's model differs from its weights"
    );

    let out = ssm().arg("info").arg(&dir).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Mamba-3 MIMO rank 2"), "{text}");

    let prompt = b"hi";
    let mut generator = Generator::new(
        &ckpt.model,
        &prompt.map(i64::from),
        Sampling::default(),
        512,
        &device,
    )
    .unwrap()
    .with_vocabulary(256)
    .unwrap();
    let tokens: Vec<i64> = (0..5).map(|_| generator.next_token().unwrap()).collect();
    let out = ssm()
        .args([
            "generate",
            "--prompt",
            "hi",
            "--max-tokens",
            "5",
            "--byte-level",
            "--model",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<u8> = prompt
        .iter()
        .copied()
        .chain(tokens.iter().map(|&t| t as u8))
        .collect();
    let printed = out.stdout.strip_suffix(b"\n").unwrap_or(&out.stdout);
    assert_eq!(
        printed, expected,
        "ssm generate differs from the library's greedy tokens"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
