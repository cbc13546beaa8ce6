//! Reading tensors from PyTorch checkpoints (`torch.save` zip format, as
//! the official state-spaces/mamba `pytorch_model.bin` files) without
//! Python and without executing the pickle.
//!
//! The archive holds `<name>/data.pkl` (a pickled state dict) and one raw
//! little-endian file per storage under `<name>/data/`. A small pickle
//! machine interprets only the opcodes torch emits for state dicts and only
//! the globals that rebuild tensors (`torch._utils._rebuild_tensor_v2`,
//! `collections.OrderedDict`, `torch.*Storage`); anything else is refused
//! with an error naming it.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::safetensors::HostTensor;
use crate::error::{Error, Result};

/// Element type of a torch storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StorageType {
    F64,
    F32,
    F16,
    Bf16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl StorageType {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "DoubleStorage" => Self::F64,
            "FloatStorage" => Self::F32,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::Bf16,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::Bf16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    fn read(self, b: &[u8]) -> f64 {
        match self {
            Self::F64 => f64::from_le_bytes(b.try_into().unwrap()),
            Self::F32 => f32::from_le_bytes(b.try_into().unwrap()) as f64,
            Self::F16 => {
                super::safetensors::f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]])) as f64
            }
            Self::Bf16 => f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16) as f64,
            Self::I64 => i64::from_le_bytes(b.try_into().unwrap()) as f64,
            Self::I32 => i32::from_le_bytes(b.try_into().unwrap()) as f64,
            Self::I16 => i16::from_le_bytes([b[0], b[1]]) as f64,
            Self::I8 => b[0] as i8 as f64,
            Self::U8 | Self::Bool => b[0] as f64,
        }
    }
}

/// Where a tensor's elements live.
#[derive(Debug, Clone)]
struct TensorRef {
    dtype: StorageType,
    key: String,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

/// A value on the pickle machine's stack.
#[derive(Debug, Clone)]
#[allow(dead_code)] // scalar payloads are only shown in error messages
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    Storage { dtype: StorageType, key: String },
    Tensor(TensorRef),
    Mark,
}

/// A PyTorch zip checkpoint, its state dict indexed by name.
pub struct PyTorchFile {
    path: PathBuf,
    archive: zip::ZipArchive<std::fs::File>,
    prefix: String,
    tensors: HashMap<String, TensorRef>,
    names: Vec<String>,
}

impl PyTorchFile {
    /// Opens `path` and reads its state dict's index (not the tensor data).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let bad = |message: String| Error::Format {
            path: path.clone(),
            message,
        };
        let file = std::fs::File::open(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let mut archive = zip::ZipArchive::new(file)
            .map_err(|e| bad(format!("not a PyTorch zip checkpoint ({e}); legacy non-zip torch.save files are not supported")))?;
        let pkl = (0..archive.len())
            .filter_map(|i| {
                archive
                    .name_for_index(i)
                    .and_then(|r| r.ok())
                    .map(|n| n.to_string())
            })
            .find(|n| n.ends_with("/data.pkl") || n == "data.pkl")
            .ok_or_else(|| bad("no data.pkl in the archive".into()))?;
        let prefix = pkl.trim_end_matches("data.pkl").to_string();
        let mut bytes = Vec::new();
        archive
            .by_name(&pkl)
            .map_err(|e| bad(format!("reading {pkl}: {e}")))?
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("reading {pkl}: {e}")))?;
        let root = unpickle(&bytes).map_err(|m| bad(format!("{pkl}: {m}")))?;
        let mut tensors = HashMap::new();
        let mut names = Vec::new();
        collect_tensors(&root, "", &mut tensors, &mut names);
        if names.is_empty() {
            return Err(bad(
                "the pickle holds no tensors (expected a state dict)".into()
            ));
        }
        Ok(Self {
            path,
            archive,
            prefix,
            tensors,
            names,
        })
    }

    /// Tensor names in file order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The shape of tensor `name`.
    pub fn shape(&self, name: &str) -> Result<Vec<usize>> {
        Ok(self.tensor_ref(name)?.shape.clone())
    }

    fn tensor_ref(&self, name: &str) -> Result<&TensorRef> {
        self.tensors.get(name).ok_or_else(|| Error::MissingTensor {
            name: name.to_string(),
            source_name: self.path.display().to_string(),
        })
    }

    /// Tensor `name` as f64 (any storage type), gathered through its strides.
    pub fn f64(&mut self, name: &str) -> Result<HostTensor<f64>> {
        let t = self.tensor_ref(name)?.clone();
        let entry = format!("{}data/{}", self.prefix, t.key);
        let bad = |message: String| Error::Format {
            path: self.path.clone(),
            message,
        };
        let mut raw = Vec::new();
        self.archive
            .by_name(&entry)
            .map_err(|e| bad(format!("storage {entry} of `{name}`: {e}")))?
            .read_to_end(&mut raw)
            .map_err(|e| bad(format!("storage {entry} of `{name}`: {e}")))?;
        let size = t.dtype.size();
        let numel: usize = t.shape.iter().product();
        let mut data = Vec::with_capacity(numel);
        let mut index = vec![0usize; t.shape.len()];
        for _ in 0..numel {
            let pos = t.offset
                + index
                    .iter()
                    .zip(&t.stride)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            let bytes = raw.get(pos * size..(pos + 1) * size).ok_or_else(|| {
                bad(format!(
                    "tensor `{name}` reads past the end of its storage (truncated file?)"
                ))
            })?;
            data.push(t.dtype.read(bytes));
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < t.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        HostTensor::new(name, t.shape, data)
    }
}

/// Gathers tensors of a (possibly nested) state dict as dotted names.
fn collect_tensors(
    value: &Value,
    prefix: &str,
    out: &mut HashMap<String, TensorRef>,
    names: &mut Vec<String>,
) {
    if let Value::Dict(items) = value {
        for (k, v) in items {
            let key = match k {
                Value::Str(s) => s.clone(),
                Value::Int(i) => i.to_string(),
                _ => continue,
            };
            let name = if prefix.is_empty() {
                key
            } else {
                format!("{prefix}.{key}")
            };
            match v {
                Value::Tensor(t) => {
                    names.push(name.clone());
                    out.insert(name, t.clone());
                }
                Value::Dict(_) => collect_tensors(v, &name, out, names),
                _ => {}
            }
        }
    }
}

fn as_usize(v: &Value) -> std::result::Result<usize, String> {
    match v {
        Value::Int(i) if *i >= 0 => Ok(*i as usize),
        other => Err(format!("expected a non-negative integer, got {other:?}")),
    }
}

fn as_usizes(v: &Value) -> std::result::Result<Vec<usize>, String> {
    match v {
        Value::Tuple(items) | Value::List(items) => items.iter().map(as_usize).collect(),
        other => Err(format!("expected a tuple of integers, got {other:?}")),
    }
}

/// Calls an allowed global with `args`.
fn reduce(callable: Value, args: Value) -> std::result::Result<Value, String> {
    let Value::Global(module, name) = callable else {
        return Err(format!("REDUCE on a non-global {callable:?}"));
    };
    let Value::Tuple(args) = args else {
        return Err("REDUCE arguments are not a tuple".into());
    };
    match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") => Ok(Value::Dict(Vec::new())),
        ("torch._utils", "_rebuild_tensor_v2") => {
            let [storage, offset, size, stride, ..] = args.as_slice() else {
                return Err("_rebuild_tensor_v2 needs (storage, offset, size, stride, …)".into());
            };
            let Value::Storage { dtype, key } = storage else {
                return Err("_rebuild_tensor_v2 without a storage".into());
            };
            Ok(Value::Tensor(TensorRef {
                dtype: *dtype,
                key: key.clone(),
                offset: as_usize(offset)?,
                shape: as_usizes(size)?,
                stride: as_usizes(stride)?,
            }))
        }
        ("torch._utils", "_rebuild_parameter") => match args.into_iter().next() {
            Some(t @ Value::Tensor(_)) => Ok(t),
            _ => Err("_rebuild_parameter without a tensor".into()),
        },
        _ => Err(format!("refusing to call {module}.{name}")),
    }
}

fn allowed_global(module: &str, name: &str) -> bool {
    matches!(
        (module, name),
        ("collections", "OrderedDict")
            | ("torch._utils", "_rebuild_tensor_v2")
            | ("torch._utils", "_rebuild_parameter")
    ) || (module == "torch" && StorageType::from_name(name).is_some())
}

/// Runs the restricted pickle machine over `bytes`.
fn unpickle(bytes: &[u8]) -> std::result::Result<Value, String> {
    let mut stack: Vec<Value> = Vec::new();
    let mut memo: HashMap<u32, Value> = HashMap::new();
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> std::result::Result<&[u8], String> {
        let s = bytes.get(*pos..*pos + n).ok_or("truncated pickle")?;
        *pos += n;
        Ok(s)
    };
    let pop = |stack: &mut Vec<Value>| {
        stack
            .pop()
            .ok_or_else(|| "pickle stack underflow".to_string())
    };
    let pop_mark = |stack: &mut Vec<Value>| -> std::result::Result<Vec<Value>, String> {
        let mark = stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .ok_or("MARK missing")?;
        let items = stack.split_off(mark + 1);
        stack.pop();
        Ok(items)
    };
    let line = |pos: &mut usize| -> std::result::Result<String, String> {
        let end = bytes[*pos..]
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("unterminated GLOBAL")?;
        let s = String::from_utf8_lossy(&bytes[*pos..*pos + end]).into_owned();
        *pos += end + 1;
        Ok(s)
    };
    loop {
        let op = *take(&mut pos, 1)?.first().unwrap();
        match op {
            0x80 => {
                take(&mut pos, 1)?; // PROTO
            }
            0x95 => {
                take(&mut pos, 8)?; // FRAME
            }
            b'.' => return pop(&mut stack),
            b'}' => stack.push(Value::Dict(Vec::new())),
            b']' => stack.push(Value::List(Vec::new())),
            b')' => stack.push(Value::Tuple(Vec::new())),
            b'(' => stack.push(Value::Mark),
            b'N' => stack.push(Value::None),
            0x88 => stack.push(Value::Bool(true)),
            0x89 => stack.push(Value::Bool(false)),
            b'K' => stack.push(Value::Int(take(&mut pos, 1)?[0] as i64)),
            b'M' => {
                let b = take(&mut pos, 2)?;
                stack.push(Value::Int(u16::from_le_bytes([b[0], b[1]]) as i64));
            }
            b'J' => {
                let b = take(&mut pos, 4)?;
                stack.push(Value::Int(i32::from_le_bytes(b.try_into().unwrap()) as i64));
            }
            0x8a => {
                let n = take(&mut pos, 1)?[0] as usize; // LONG1
                let b = take(&mut pos, n)?;
                if n > 8 {
                    return Err("integer too large".into());
                }
                let mut buf = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                    [0xffu8; 8]
                } else {
                    [0u8; 8]
                };
                buf[..n].copy_from_slice(b);
                stack.push(Value::Int(i64::from_le_bytes(buf)));
            }
            b'G' => {
                let b = take(&mut pos, 8)?;
                stack.push(Value::Float(f64::from_be_bytes(b.try_into().unwrap())));
            }
            b'X' => {
                let n = u32::from_le_bytes(take(&mut pos, 4)?.try_into().unwrap()) as usize;
                stack.push(Value::Str(
                    String::from_utf8_lossy(take(&mut pos, n)?).into_owned(),
                ));
            }
            0x8c => {
                let n = take(&mut pos, 1)?[0] as usize; // SHORT_BINUNICODE
                stack.push(Value::Str(
                    String::from_utf8_lossy(take(&mut pos, n)?).into_owned(),
                ));
            }
            b'U' => {
                let n = take(&mut pos, 1)?[0] as usize; // SHORT_BINSTRING
                stack.push(Value::Str(
                    String::from_utf8_lossy(take(&mut pos, n)?).into_owned(),
                ));
            }
            b'q' => {
                let k = take(&mut pos, 1)?[0] as u32;
                memo.insert(k, stack.last().cloned().ok_or("BINPUT on empty stack")?);
            }
            b'r' => {
                let k = u32::from_le_bytes(take(&mut pos, 4)?.try_into().unwrap());
                memo.insert(
                    k,
                    stack.last().cloned().ok_or("LONG_BINPUT on empty stack")?,
                );
            }
            0x94 => {
                let k = memo.len() as u32; // MEMOIZE
                memo.insert(k, stack.last().cloned().ok_or("MEMOIZE on empty stack")?);
            }
            b'h' => {
                let k = take(&mut pos, 1)?[0] as u32;
                stack.push(memo.get(&k).cloned().ok_or("BINGET of an unknown key")?);
            }
            b'j' => {
                let k = u32::from_le_bytes(take(&mut pos, 4)?.try_into().unwrap());
                stack.push(
                    memo.get(&k)
                        .cloned()
                        .ok_or("LONG_BINGET of an unknown key")?,
                );
            }
            b'c' => {
                let module = line(&mut pos)?;
                let name = line(&mut pos)?;
                if !allowed_global(&module, &name) {
                    return Err(format!(
                        "refusing to load global {module}.{name}: only tensor storage is read"
                    ));
                }
                stack.push(Value::Global(module, name));
            }
            0x93 => {
                let name = pop(&mut stack)?; // STACK_GLOBAL
                let module = pop(&mut stack)?;
                let (Value::Str(module), Value::Str(name)) = (module, name) else {
                    return Err("STACK_GLOBAL of non-strings".into());
                };
                if !allowed_global(&module, &name) {
                    return Err(format!(
                        "refusing to load global {module}.{name}: only tensor storage is read"
                    ));
                }
                stack.push(Value::Global(module, name));
            }
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err("pickle stack underflow".into());
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Value::Tuple(items));
            }
            b'Q' => {
                let pid = pop(&mut stack)?; // BINPERSID
                let Value::Tuple(items) = pid else {
                    return Err("persistent id is not a tuple".into());
                };
                match items.as_slice() {
                    [
                        Value::Str(kind),
                        Value::Global(module, name),
                        Value::Str(key),
                        ..,
                    ] if kind == "storage" && module == "torch" => {
                        let dtype = StorageType::from_name(name)
                            .ok_or_else(|| format!("unsupported storage type {name}"))?;
                        stack.push(Value::Storage {
                            dtype,
                            key: key.clone(),
                        });
                    }
                    other => return Err(format!("unsupported persistent id {other:?}")),
                }
            }
            b'R' => {
                let args = pop(&mut stack)?;
                let callable = pop(&mut stack)?;
                stack.push(reduce(callable, args)?);
            }
            b'b' => {
                pop(&mut stack)?; // BUILD: the state of an OrderedDict/tensor (metadata) is not needed
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                match stack.last_mut() {
                    Some(Value::Dict(items)) => items.push((k, v)),
                    _ => return Err("SETITEM on a non-dict".into()),
                }
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                match stack.last_mut() {
                    Some(Value::Dict(d)) => {
                        let mut it = items.into_iter();
                        while let (Some(k), Some(v)) = (it.next(), it.next()) {
                            d.push((k, v));
                        }
                    }
                    _ => return Err("SETITEMS on a non-dict".into()),
                }
            }
            b'a' => {
                let v = pop(&mut stack)?;
                match stack.last_mut() {
                    Some(Value::List(l)) => l.push(v),
                    _ => return Err("APPEND on a non-list".into()),
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack)?;
                match stack.last_mut() {
                    Some(Value::List(l)) => l.extend(items),
                    _ => return Err("APPENDS on a non-list".into()),
                }
            }
            other => {
                return Err(format!(
                    "unsupported pickle opcode 0x{other:02x} at byte {}",
                    pos - 1
                ));
            }
        }
    }
}
