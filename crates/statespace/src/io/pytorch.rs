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
//!
//! Hostile files are bounded: the pickle is at most [`MAX_PICKLE_BYTES`],
//! nests at most [`MAX_DEPTH`] containers deep and builds at most
//! [`MAX_VALUES`] values (a memo that copies itself cannot blow up); a
//! tensor's shape, strides and offset are checked against its storage (with
//! overflow-checked arithmetic) before anything is allocated, and only the
//! bytes it needs are read.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::safetensors::HostTensor;
use crate::error::{Error, Result};

/// The largest `data.pkl` read (a state dict's pickle is kilobytes).
pub const MAX_PICKLE_BYTES: u64 = 64 << 20;
/// The deepest nesting of containers accepted (a state dict nests ~4).
pub const MAX_DEPTH: usize = 64;
/// The most values the pickle machine builds, copies by memo included.
pub const MAX_VALUES: usize = 10_000_000;

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

impl Value {
    /// The value's kind, for error messages (a value may be huge).
    fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Tuple(_) => "a tuple",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dict",
            Value::Global(..) => "a global",
            Value::Storage { .. } => "a storage",
            Value::Tensor(_) => "a tensor",
            Value::Mark => "a mark",
        }
    }

    /// Containers nested in this value, itself included (0 for a scalar).
    /// Recursion is bounded: no container deeper than [`MAX_DEPTH`] is built.
    fn depth(&self) -> usize {
        match self {
            Value::Tuple(items) | Value::List(items) => {
                1 + items.iter().map(Value::depth).max().unwrap_or(0)
            }
            Value::Dict(items) => {
                1 + items
                    .iter()
                    .map(|(k, v)| k.depth().max(v.depth()))
                    .max()
                    .unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// The number of values this one holds, itself included.
    fn count(&self) -> usize {
        match self {
            Value::Tuple(items) | Value::List(items) => {
                1 + items.iter().map(Value::count).sum::<usize>()
            }
            Value::Dict(items) => {
                1 + items
                    .iter()
                    .map(|(k, v)| k.count() + v.count())
                    .sum::<usize>()
            }
            _ => 1,
        }
    }
}

/// The pickle machine's limits: values built (memo copies included) and
/// container depth.
struct Budget {
    built: usize,
}

impl Budget {
    /// Counts `n` more values, failing past [`MAX_VALUES`].
    fn charge(&mut self, n: usize) -> std::result::Result<(), String> {
        self.built = self.built.saturating_add(n);
        if self.built > MAX_VALUES {
            return Err(format!(
                "the pickle builds more than {MAX_VALUES} values: not a state dict"
            ));
        }
        Ok(())
    }

    /// Fails if putting `item` into a container makes it deeper than
    /// [`MAX_DEPTH`].
    fn nest(item: &Value) -> std::result::Result<(), String> {
        if item.depth() + 1 > MAX_DEPTH {
            return Err(format!(
                "containers nested deeper than {MAX_DEPTH} levels: not a state dict"
            ));
        }
        Ok(())
    }
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
            .take(MAX_PICKLE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("reading {pkl}: {e}")))?;
        if bytes.len() as u64 > MAX_PICKLE_BYTES {
            return Err(bad(format!(
                "{pkl} is larger than {MAX_PICKLE_BYTES} bytes: not a state dict"
            )));
        }
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

    /// The element count of tensor `name`, checked against the size of its
    /// storage entry (so that a lying pickle cannot make a caller allocate
    /// more than the archive holds).
    pub fn numel(&mut self, name: &str) -> Result<usize> {
        let t = self.tensor_ref(name)?.clone();
        let entry = format!("{}data/{}", self.prefix, t.key);
        let bad = |message: String| Error::Format {
            path: self.path.clone(),
            message: format!("tensor `{name}`: {message}"),
        };
        let stored = self
            .archive
            .by_name(&entry)
            .map_err(|e| bad(format!("storage {entry}: {e}")))?
            .compressed_size();
        let numel = t
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .filter(|&n| (n as u128) * (t.dtype.size() as u128) <= u128::from(stored))
            .ok_or_else(|| {
                bad(format!(
                    "shape {:?} needs more than the {stored} bytes of storage {entry}",
                    t.shape
                ))
            })?;
        Ok(numel)
    }

    /// Tensor `name` as f64 (any storage type), gathered through its strides.
    /// The view must lie inside its storage and hold no more elements than
    /// the storage does; both are checked before anything is allocated.
    pub fn f64(&mut self, name: &str) -> Result<HostTensor<f64>> {
        let t = self.tensor_ref(name)?.clone();
        let entry = format!("{}data/{}", self.prefix, t.key);
        let path = self.path.clone();
        let bad = |message: String| Error::Format {
            path: path.clone(),
            message: format!("tensor `{name}`: {message}"),
        };
        let size = t.dtype.size();
        let mut storage = self
            .archive
            .by_name(&entry)
            .map_err(|e| bad(format!("storage {entry}: {e}")))?;
        if storage.compression() != zip::CompressionMethod::Stored {
            return Err(bad(format!(
                "storage {entry} is compressed; torch.save stores storages uncompressed"
            )));
        }
        let numel = t
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| bad(format!("shape {:?} overflows", t.shape)))?;
        // One past the last storage element the view reads.
        let end = if numel == 0 {
            t.offset
        } else {
            t.shape
                .iter()
                .zip(&t.stride)
                .try_fold(t.offset, |acc, (&d, &s)| {
                    (d - 1).checked_mul(s).and_then(|x| acc.checked_add(x))
                })
                .and_then(|last| last.checked_add(1))
                .ok_or_else(|| {
                    bad(format!(
                        "offset {} and strides {:?} overflow",
                        t.offset, t.stride
                    ))
                })?
        };
        // A state dict's tensors do not repeat elements (no expanded
        // views), so the elements fit in the span they read; this also
        // bounds the allocation below by the bytes actually present.
        if numel > end - t.offset {
            return Err(bad(format!(
                "shape {:?} with strides {:?} repeats storage elements",
                t.shape, t.stride
            )));
        }
        let bytes = end
            .checked_mul(size)
            .ok_or_else(|| bad(format!("{end} elements of {size} bytes overflow")))?;
        let mut raw = Vec::new();
        (&mut storage)
            .take(bytes as u64)
            .read_to_end(&mut raw)
            .map_err(|e| bad(format!("storage {entry}: {e}")))?;
        if raw.len() < bytes {
            return Err(bad(format!(
                "offset {} and strides {:?} read past the end of storage {entry} \
                 ({} of {bytes} bytes present: truncated or malformed file)",
                t.offset,
                t.stride,
                raw.len()
            )));
        }
        let mut data = Vec::with_capacity(numel);
        let mut index = vec![0usize; t.shape.len()];
        for _ in 0..numel {
            // In range: every index is below its dimension, checked above.
            let pos = t.offset
                + index
                    .iter()
                    .zip(&t.stride)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            data.push(t.dtype.read(&raw[pos * size..(pos + 1) * size]));
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
        other => Err(format!(
            "expected a non-negative integer, got {}",
            other.kind()
        )),
    }
}

fn as_usizes(v: &Value) -> std::result::Result<Vec<usize>, String> {
    match v {
        Value::Tuple(items) | Value::List(items) => items.iter().map(as_usize).collect(),
        other => Err(format!(
            "expected a tuple of integers, got {}",
            other.kind()
        )),
    }
}

/// Calls an allowed global with `args`.
fn reduce(callable: Value, args: Value) -> std::result::Result<Value, String> {
    let Value::Global(module, name) = callable else {
        return Err(format!("REDUCE on a non-global {}", callable.kind()));
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
            let (shape, stride) = (as_usizes(size)?, as_usizes(stride)?);
            if shape.len() != stride.len() {
                return Err(format!(
                    "_rebuild_tensor_v2 with {} dimensions but {} strides",
                    shape.len(),
                    stride.len()
                ));
            }
            Ok(Value::Tensor(TensorRef {
                dtype: *dtype,
                key: key.clone(),
                offset: as_usize(offset)?,
                shape,
                stride,
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
    let mut budget = Budget { built: 0 };
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
        budget.charge(1)?;
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
            b'q' | b'r' | 0x94 => {
                let k = match op {
                    b'q' => take(&mut pos, 1)?[0] as u32, // BINPUT
                    b'r' => u32::from_le_bytes(take(&mut pos, 4)?.try_into().unwrap()),
                    _ => memo.len() as u32, // MEMOIZE
                };
                let top = stack.last().ok_or("memo put on an empty stack")?;
                budget.charge(top.count())?;
                memo.insert(k, top.clone());
            }
            b'h' | b'j' => {
                let k = match op {
                    b'h' => take(&mut pos, 1)?[0] as u32, // BINGET
                    _ => u32::from_le_bytes(take(&mut pos, 4)?.try_into().unwrap()),
                };
                let value = memo.get(&k).ok_or("memo get of an unknown key")?;
                budget.charge(value.count())?;
                stack.push(value.clone());
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
                items.iter().try_for_each(Budget::nest)?;
                stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err("pickle stack underflow".into());
                }
                let items = stack.split_off(stack.len() - n);
                items.iter().try_for_each(Budget::nest)?;
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
                    _ => return Err("unsupported persistent id".into()),
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
                Budget::nest(&k)?;
                Budget::nest(&v)?;
                match stack.last_mut() {
                    Some(Value::Dict(items)) => items.push((k, v)),
                    _ => return Err("SETITEM on a non-dict".into()),
                }
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                items.iter().try_for_each(Budget::nest)?;
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
                Budget::nest(&v)?;
                match stack.last_mut() {
                    Some(Value::List(l)) => l.push(v),
                    _ => return Err("APPEND on a non-list".into()),
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack)?;
                items.iter().try_for_each(Budget::nest)?;
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
