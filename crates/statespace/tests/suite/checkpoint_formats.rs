//! Checkpoint readers: the official state-spaces/mamba `pytorch_model.bin`
//! (torch zip pickle, read without Python) holds exactly the tensors of the
//! Hugging Face `model.safetensors` of the same weights; pickles that ask
//! for anything but tensor storage are refused.

use std::io::Write;

use crate::common::golden_dir;
use statespace::io::{PyTorchFile, SafetensorsFile};

/// The native name of an HF tensor (`embeddings` is `embedding` natively).
fn native_name(hf: &str) -> String {
    hf.replace("backbone.embeddings.", "backbone.embedding.")
}

#[test]
fn native_pickle_checkpoints_equal_hf_safetensors() {
    for (native, hf) in [("native_mamba", "hf_mamba"), ("native_mamba2", "hf_mamba2")] {
        let dir = golden_dir();
        let mut torch = PyTorchFile::open(dir.join(native).join("pytorch_model.bin")).unwrap();
        let st = SafetensorsFile::open(dir.join(hf).join("model.safetensors")).unwrap();
        let names = st.names();
        assert!(!names.is_empty());
        for name in names {
            let expected = st.f64(&name).unwrap();
            let got = torch
                .f64(&native_name(&name))
                .unwrap_or_else(|e| panic!("{native}: {e}"));
            assert_eq!(got.shape, expected.shape, "{native}: {name}");
            assert_eq!(got.data, expected.data, "{native}: {name}");
        }
        // The native file also stores the tied head.
        assert!(
            torch.names().iter().any(|n| n == "lm_head.weight"),
            "{native}: lm_head.weight"
        );
    }
}

/// A zip archive with one `archive/data.pkl` holding `pickle`.
fn archive_with(pickle: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "statespace-pickle-{}-{}.bin",
        std::process::id(),
        pickle.len()
    ));
    let file = std::fs::File::create(&path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", options).unwrap();
    zip.write_all(pickle).unwrap();
    zip.finish().unwrap();
    path
}

#[test]
fn pickles_asking_for_code_are_refused() {
    // protocol 2: GLOBAL 'os system', ('echo hi',), REDUCE, STOP
    let evil = b"\x80\x02cos\nsystem\nq\x00X\x07\x00\x00\x00echo hi\x85R.";
    let path = archive_with(evil);
    let err = PyTorchFile::open(&path)
        .err()
        .expect("must refuse")
        .to_string();
    assert!(
        err.contains("os.system") && err.contains("refusing"),
        "{err}"
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn truncated_or_foreign_files_are_clear_errors() {
    let path = std::env::temp_dir().join(format!("statespace-notzip-{}.bin", std::process::id()));
    std::fs::write(&path, b"definitely not a zip").unwrap();
    let err = PyTorchFile::open(&path)
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("not a PyTorch zip checkpoint"), "{err}");
    std::fs::remove_file(&path).unwrap();

    let path = archive_with(b"\x80\x02}q\x00(X\x01\x00\x00\x00a");
    let err = PyTorchFile::open(&path)
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("truncated"), "{err}");
    std::fs::remove_file(path).unwrap();
}

/// A scratch checkpoint folder holding `config.json` copied from `from`.
fn scratch_checkpoint(tag: &str, from: &std::path::Path) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("statespace-ckpt-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(from.join("config.json"), dir.join("config.json")).unwrap();
    dir
}

/// Writes `tensors` (name, f32 values, shape) as a safetensors file storing
/// them as `dtype` (F32, BF16 or F16).
fn write_safetensors(
    path: &std::path::Path,
    tensors: &[(String, Vec<f32>, Vec<usize>)],
    dtype: safetensors::Dtype,
) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, data, _)| match dtype {
            safetensors::Dtype::F32 => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            safetensors::Dtype::BF16 => data
                .iter()
                .flat_map(|&v| burn::tensor::bf16::from_f32(v).to_le_bytes())
                .collect(),
            safetensors::Dtype::F16 => data
                .iter()
                .flat_map(|&v| burn::tensor::f16::from_f32(v).to_le_bytes())
                .collect(),
            other => panic!("{other:?}"),
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, _, shape), b)| {
            let view = safetensors::tensor::TensorView::new(dtype, shape.clone(), b).unwrap();
            (name.clone(), view)
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// Every tensor of a safetensors file as f32.
fn read_all(path: &std::path::Path) -> Vec<(String, Vec<f32>, Vec<usize>)> {
    let file = SafetensorsFile::open(path).unwrap();
    file.names()
        .into_iter()
        .map(|n| {
            let t = file.f32(&n).unwrap();
            (n, t.data, t.shape)
        })
        .collect()
}

/// The logits of the checkpoint in `dir` on a fixed batch of tokens.
fn logits(dir: &std::path::Path) -> Vec<f32> {
    use burn::backend::Flex;
    use burn::tensor::{Int, Tensor, TensorData};
    let ckpt = statespace::models::pretrained::load::<Flex>(dir, &Default::default())
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let ids: Vec<i64> = (0..2 * 9).map(|i| (i * 37 % 200) as i64).collect();
    let tokens =
        Tensor::<Flex, 2, Int>::from_data(TensorData::new(ids, [2, 9]), &Default::default());
    ckpt.model
        .forward(tokens)
        .unwrap()
        .into_data()
        .to_vec::<f32>()
        .unwrap()
}

/// A Hugging Face checkpoint split into shards (`model.safetensors.index.json`)
/// loads to exactly the same model; bf16 and f16 files load to exactly the
/// model of their values widened to f32 (the widening is exact).
#[test]
fn sharded_and_half_precision_checkpoints_load_end_to_end() {
    for folder in ["hf_mamba", "hf_mamba2"] {
        let golden = golden_dir().join(folder);
        let tensors = read_all(&golden.join("model.safetensors"));
        let original = logits(&golden);
        assert!(original.iter().all(|v| v.is_finite()));

        let sharded = scratch_checkpoint(&format!("{folder}-sharded"), &golden);
        let half = tensors.len() / 2;
        let shard_names = [
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
        ];
        write_safetensors(
            &sharded.join(shard_names[0]),
            &tensors[..half],
            safetensors::Dtype::F32,
        );
        write_safetensors(
            &sharded.join(shard_names[1]),
            &tensors[half..],
            safetensors::Dtype::F32,
        );
        let weight_map: serde_json::Map<String, serde_json::Value> = tensors
            .iter()
            .enumerate()
            .map(|(i, (n, _, _))| (n.clone(), shard_names[usize::from(i >= half)].into()))
            .collect();
        std::fs::write(
            sharded.join("model.safetensors.index.json"),
            serde_json::json!({"metadata": {}, "weight_map": weight_map}).to_string(),
        )
        .unwrap();
        assert_eq!(logits(&sharded), original, "{folder}: sharded");
        // A shard the index names but the folder lacks is a clear error.
        std::fs::remove_file(sharded.join(shard_names[1])).unwrap();
        let err = statespace::models::pretrained::load::<burn::backend::Flex>(
            &sharded,
            &Default::default(),
        )
        .err()
        .expect("a missing shard must fail")
        .to_string();
        assert!(err.contains(shard_names[1]), "{err}");
        std::fs::remove_dir_all(sharded).unwrap();

        for (tag, dtype, round) in [
            (
                "bf16",
                safetensors::Dtype::BF16,
                (|v: f32| burn::tensor::bf16::from_f32(v).to_f32()) as fn(f32) -> f32,
            ),
            ("f16", safetensors::Dtype::F16, |v: f32| {
                burn::tensor::f16::from_f32(v).to_f32()
            }),
        ] {
            let stored = scratch_checkpoint(&format!("{folder}-{tag}"), &golden);
            write_safetensors(&stored.join("model.safetensors"), &tensors, dtype);
            let widened = scratch_checkpoint(&format!("{folder}-{tag}-f32"), &golden);
            let rounded: Vec<_> = tensors
                .iter()
                .map(|(n, d, s)| (n.clone(), d.iter().map(|&v| round(v)).collect(), s.clone()))
                .collect();
            write_safetensors(
                &widened.join("model.safetensors"),
                &rounded,
                safetensors::Dtype::F32,
            );
            let got = logits(&stored);
            assert_eq!(got, logits(&widened), "{folder}: {tag}");
            // And the rounding moved the model only as far as it should.
            let err = statespace::golden::rel_err(
                &got.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
                &original.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
            );
            assert!(
                err > 0.0 && err < 0.05,
                "{folder}: {tag} moved the logits by {err}"
            );
            std::fs::remove_dir_all(stored).unwrap();
            std::fs::remove_dir_all(widened).unwrap();
        }
    }
}

/// A greedy generator on the CPU, prefilled with `prompt`.
fn greedy_generator<'a>(
    model: &'a statespace::models::LanguageModel<burn::backend::Flex>,
    prompt: &[i64],
) -> statespace::generate::Generator<'a, burn::backend::Flex> {
    statespace::generate::Generator::new(
        model,
        prompt,
        statespace::generate::Sampling::default(),
        64,
        &Default::default(),
    )
    .unwrap()
}

/// A state-spaces config whose vocabulary is padded to
/// `pad_vocab_size_multiple` loads against the padded embedding rows, and
/// generation, as mamba_ssm's, never picks a padding row (here made the
/// most likely tokens); a config whose padded size does not match the
/// weights is refused.
#[test]
fn padded_vocabularies_load_sample_only_real_tokens_and_mismatches_are_refused() {
    use burn::backend::Flex;
    use statespace::models::pretrained::load;
    let golden = golden_dir().join("native_mamba");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(golden.join("config.json")).unwrap())
            .unwrap();
    let mut torch = PyTorchFile::open(golden.join("pytorch_model.bin")).unwrap();
    let names = torch.names().to_vec();
    let mut tensors: Vec<(String, Vec<f32>, Vec<usize>)> = names
        .into_iter()
        .map(|n| {
            let t = torch.f64(&n).unwrap();
            (n, t.data.iter().map(|&v| v as f32).collect(), t.shape)
        })
        .collect();
    let embedding = tensors
        .iter()
        .position(|(n, _, _)| n == "backbone.embedding.weight")
        .unwrap();
    let (rows, width) = (tensors[embedding].2[0], tensors[embedding].2[1]);
    let vocab = rows - 3;
    let prompt = [1i64, 2, 3];
    let greedy = |dir: &std::path::Path, limit: bool, steps: usize| -> Vec<i64> {
        let ckpt = load::<Flex>(dir, &Default::default()).unwrap();
        let generator = greedy_generator(&ckpt.model, &prompt);
        let mut generator = if limit {
            generator.with_vocabulary(ckpt.vocab_size).unwrap()
        } else {
            generator
        };
        (0..steps)
            .map(|_| generator.next_token().unwrap())
            .collect()
    };
    let folder =
        |tag: &str, vocab: usize, multiple: usize, tensors: &[(String, Vec<f32>, Vec<usize>)]| {
            let dir =
                std::env::temp_dir().join(format!("statespace-vocab-{}-{tag}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let mut config = config.clone();
            config["vocab_size"] = vocab.into();
            config["pad_vocab_size_multiple"] = multiple.into();
            std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
            write_safetensors(
                &dir.join("model.safetensors"),
                tensors,
                safetensors::Dtype::F32,
            );
            dir
        };
    // The padding rows become ±100 × the row of the token the model picks
    // first, in the tied embeddings and the stored head alike.
    let first = greedy(&folder("probe", rows, 1, &tensors), false, 1)[0] as usize;
    let row: Vec<f32> = tensors[embedding].1[first * width..(first + 1) * width].to_vec();
    for (name, data, _) in tensors.iter_mut() {
        if name == "backbone.embedding.weight" || name == "lm_head.weight" {
            for (k, pad) in (vocab..rows).enumerate() {
                let sign = if k % 2 == 0 { 100.0 } else { -100.0 };
                for (d, v) in data[pad * width..(pad + 1) * width].iter_mut().zip(&row) {
                    *d = sign * v;
                }
            }
        }
    }
    let dir = folder("padded", vocab, 8, &tensors);
    let ckpt = load::<Flex>(&dir, &Default::default()).unwrap();
    assert_eq!((ckpt.vocab_size, ckpt.model.vocab_size()), (vocab, rows));
    assert!(
        greedy(&dir, false, 8).iter().any(|&t| t as usize >= vocab),
        "the padding rows should win without the limit"
    );
    let limited = greedy(&dir, true, 8);
    assert!(limited.iter().all(|&t| (t as usize) < vocab), "{limited:?}");
    assert!(
        greedy_generator(&ckpt.model, &prompt)
            .with_vocabulary(rows + 1)
            .is_err()
    );
    std::fs::remove_dir_all(dir).unwrap();
    // The same vocabulary unpadded asks for fewer rows than stored.
    let dir = folder("unpadded", vocab, 1, &tensors);
    let err = load::<Flex>(&dir, &Default::default())
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("embedding"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
