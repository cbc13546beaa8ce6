//! Hostile PyTorch checkpoints: each gets a clear error, quickly, with no
//! code run, no allocation sized by a lying header and no stack overflow.

use std::io::Write;

use statespace::io::PyTorchFile;

/// Pickle opcodes for the hand-built state dicts.
fn string(s: &str) -> Vec<u8> {
    let mut out = vec![b'X'];
    out.extend((s.len() as u32).to_le_bytes());
    out.extend(s.as_bytes());
    out
}

fn int(i: i64) -> Vec<u8> {
    if let Ok(small) = i32::try_from(i) {
        let mut out = vec![b'J'];
        out.extend(small.to_le_bytes());
        out
    } else {
        let mut out = vec![0x8a, 8];
        out.extend(i.to_le_bytes());
        out
    }
}

fn tuple(items: &[i64]) -> Vec<u8> {
    let mut out = vec![b'('];
    for &i in items {
        out.extend(int(i));
    }
    out.push(b't');
    out
}

/// `{"w": tensor}` with a FloatStorage of `numel` elements under key "0",
/// viewed with `offset`, `shape` and `stride`.
fn state_dict(numel: i64, offset: i64, shape: &[i64], stride: &[i64]) -> Vec<u8> {
    let mut p = b"\x80\x02}(".to_vec();
    p.extend(string("w"));
    p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
    p.push(b'(');
    p.extend(string("storage"));
    p.extend(b"ctorch\nFloatStorage\n");
    p.extend(string("0"));
    p.extend(string("cpu"));
    p.extend(int(numel));
    p.extend(b"tQ");
    p.extend(int(offset));
    p.extend(tuple(shape));
    p.extend(tuple(stride));
    p.extend(b"\x89ccollections\nOrderedDict\n)RtRu.");
    p
}

/// A torch-style zip: `archive/data.pkl` and stored entries `archive/data/<key>`.
fn archive(name: &str, pickle: &[u8], storages: &[(&str, &[u8])]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "statespace-hostile-{}-{name}.bin",
        std::process::id()
    ));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", stored).unwrap();
    zip.write_all(pickle).unwrap();
    for (key, bytes) in storages {
        zip.start_file(format!("archive/data/{key}"), stored)
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}

fn floats(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Opens `path` and reads tensor `w`, returning the first error's text.
fn open_and_read(path: &std::path::Path) -> Result<Vec<f64>, String> {
    let result = PyTorchFile::open(path)
        .and_then(|mut f| f.f64("w"))
        .map(|t| t.data)
        .map_err(|e| e.to_string());
    std::fs::remove_file(path).unwrap();
    result
}

#[test]
fn a_well_formed_hand_built_state_dict_loads() {
    let data = floats(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    // A transposed (2, 3) view of a (3, 2) storage, offset 0.
    let path = archive("ok", &state_dict(6, 0, &[2, 3], &[1, 2]), &[("0", &data)]);
    assert_eq!(
        open_and_read(&path).unwrap(),
        [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]
    );
}

#[test]
fn lying_shapes_strides_and_offsets_are_refused_before_allocating() {
    let data = floats(&[1.0, 2.0, 3.0]);
    // (name, storage offset, shape, stride, expected message)
    type Case<'a> = (&'a str, i64, &'a [i64], &'a [i64], &'a str);
    let cases: [Case; 7] = [
        ("huge", 0, &[1 << 40], &[1], "read past the end"),
        ("broadcast", 0, &[1 << 40], &[0], "repeats storage elements"),
        ("stride", 0, &[3], &[1 << 62], "overflow"),
        ("offset", 1 << 62, &[3], &[1], "overflow"),
        ("far", 1 << 20, &[3], &[1], "read past the end"),
        ("wrap", 0, &[3, 1 << 62], &[1, 4], "overflow"),
        ("rank", 0, &[3], &[1, 1], "strides"),
    ];
    for (name, offset, shape, stride, expected) in cases {
        let path = archive(name, &state_dict(3, offset, shape, stride), &[("0", &data)]);
        let err = open_and_read(&path).expect_err(name);
        assert!(err.contains(expected), "{name}: {err}");
    }
}

#[test]
fn truncated_storages_and_missing_entries_are_errors() {
    let short = floats(&[1.0, 2.0]);
    let path = archive("short", &state_dict(3, 0, &[3], &[1]), &[("0", &short)]);
    let err = open_and_read(&path).unwrap_err();
    assert!(err.contains("truncated"), "{err}");
    let path = archive("nostorage", &state_dict(3, 0, &[3], &[1]), &[]);
    let err = open_and_read(&path).unwrap_err();
    assert!(err.contains("storage archive/data/0"), "{err}");
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    // 10⁶ nested lists: ] × 10⁶, then APPEND × (10⁶ − 1).
    let n = 1_000_000;
    let mut p = b"\x80\x02".to_vec();
    p.extend(std::iter::repeat_n(b']', n));
    p.extend(std::iter::repeat_n(b'a', n - 1));
    p.push(b'.');
    let path = archive("deep", &p, &[]);
    let err = open_and_read(&path).unwrap_err();
    assert!(err.contains("nested deeper"), "{err}");
}

#[test]
fn memo_copy_bombs_are_refused() {
    // x = []; then 40 × (x = (x, x)) through the memo: 2⁴⁰ values if copied.
    let mut p = b"\x80\x02]q\x00".to_vec();
    for _ in 0..40 {
        p.extend(b"h\x00h\x00\x86q\x00\x94");
    }
    p.push(b'.');
    let path = archive("bomb", &p, &[]);
    let start = std::time::Instant::now();
    let err = open_and_read(&path).unwrap_err();
    assert!(
        err.contains("more than") || err.contains("nested deeper"),
        "{err}"
    );
    assert!(start.elapsed().as_secs() < 30, "took {:?}", start.elapsed());
}

#[test]
fn code_through_stack_global_is_refused() {
    // STACK_GLOBAL 'os' 'system', ('echo hi',), REDUCE.
    let mut p = b"\x80\x04".to_vec();
    p.extend(string("os"));
    p.extend(string("system"));
    p.push(0x93);
    p.extend(string("echo hi"));
    p.extend(b"\x85R.");
    let path = archive("stackglobal", &p, &[]);
    let err = open_and_read(&path).unwrap_err();
    assert!(
        err.contains("refusing") && err.contains("os.system"),
        "{err}"
    );
}

mod safetensors_files {
    use statespace::io::SafetensorsFile;

    fn write(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "statespace-hostile-{}-{name}.safetensors",
            std::process::id()
        ));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// A safetensors file with a hand-written JSON header and `data` bytes.
    fn with_header(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn a_header_claiming_2_40_elements_is_refused_without_allocating() {
        let header = r#"{"w":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,16]}}"#;
        let path = write("huge", &with_header(header, &[0u8; 16]));
        let err = SafetensorsFile::open(&path)
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("not a valid safetensors file"), "{err}");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn truncated_files_and_headers_are_errors() {
        let header = r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        let whole = with_header(header, &[0u8; 16]);
        for cut in [0, 4, 8, 20, whole.len() - 1] {
            let path = write(&format!("cut{cut}"), &whole[..cut]);
            assert!(SafetensorsFile::open(&path).is_err(), "cut at {cut} opened");
            std::fs::remove_file(path).unwrap();
        }
        // A header length far beyond the file.
        let mut lying = whole.clone();
        lying[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let path = write("lying", &lying);
        assert!(SafetensorsFile::open(&path).is_err());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn nan_and_infinite_weights_are_refused_when_loading() {
        use burn::backend::Flex;
        use statespace::models::pretrained::load;
        let golden = {
            let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
            statespace::golden::golden_dir(&repo).join("hf_mamba")
        };
        let file = SafetensorsFile::open(golden.join("model.safetensors")).unwrap();
        let names = file.names();
        for (tag, bad) in [("nan", f32::NAN), ("inf", f32::INFINITY)] {
            let dir = std::env::temp_dir()
                .join(format!("statespace-hostile-{}-{tag}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::copy(golden.join("config.json"), dir.join("config.json")).unwrap();
            let tensors: Vec<(String, Vec<u8>, Vec<usize>)> = names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let t = file.f32(n).unwrap();
                    let mut data = t.data.clone();
                    if i == names.len() / 2 {
                        data[0] = bad;
                    }
                    (
                        n.clone(),
                        data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                        t.shape,
                    )
                })
                .collect();
            let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
                .iter()
                .map(|(n, bytes, shape)| {
                    let view = safetensors::tensor::TensorView::new(
                        safetensors::Dtype::F32,
                        shape.clone(),
                        bytes,
                    )
                    .unwrap();
                    (n.clone(), view)
                })
                .collect();
            std::fs::write(
                dir.join("model.safetensors"),
                safetensors::serialize(views, None).unwrap(),
            )
            .unwrap();
            let err = load::<Flex>(&dir, &Default::default())
                .err()
                .expect("refused");
            assert!(err.to_string().contains("non-finite"), "{tag}: {err}");
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
