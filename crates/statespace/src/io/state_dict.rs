//! Parameters by name: listing, loading and reading gradients of any burn
//! module through the dotted field paths that name its parameters
//! (`kernel.inv_dt`, `layers.0.mixer.A_log`, …).

use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, Tensor};

use super::host::tensor_from_f64;
use super::safetensors::HostTensor;
use crate::error::{Error, Result};

/// A float parameter's name, id and shape.
#[derive(Debug, Clone)]
pub struct ParamInfo {
    /// Dotted path, e.g. `kernel.A_real`.
    pub name: String,
    /// burn's parameter id (keys optimiser state and gradients).
    pub id: ParamId,
    /// Dimensions.
    pub shape: Vec<usize>,
}

/// The dotted path of the module being visited. Enum variants add no
/// segment, so a parameter's name does not depend on which variant holds it
/// (`layers.0.mixer.in_proj.weight` for every mixer kind).
#[derive(Default)]
pub(crate) struct Path(Vec<String>);

impl Path {
    pub(crate) fn enter(&mut self, name: &str, container: &str) {
        let segment = if container.starts_with("Enum:") {
            ""
        } else {
            name
        };
        self.0.push(segment.to_string());
    }
    pub(crate) fn exit(&mut self) {
        self.0.pop();
    }
    pub(crate) fn name(&self) -> String {
        self.0
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(".")
    }
}

struct Lister {
    path: Path,
    params: Vec<ParamInfo>,
}

impl<B: Backend> ModuleVisitor<B> for Lister {
    fn enter_module(&mut self, name: &str, container: &str) {
        self.path.enter(name, container);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.params.push(ParamInfo {
            name: self.path.name(),
            id: param.id,
            shape: param.val().dims().to_vec(),
        });
    }
}

/// Every float parameter of `module`, in declaration order.
pub fn param_infos<B: Backend, M: Module<B>>(module: &M) -> Vec<ParamInfo> {
    let mut lister = Lister {
        path: Path::default(),
        params: Vec::new(),
    };
    module.visit(&mut lister);
    lister.params
}

struct Loader<'a> {
    path: Path,
    lookup: &'a mut dyn FnMut(&str) -> Result<HostTensor<f64>>,
    errors: Vec<Error>,
}

impl<B: Backend> ModuleMapper<B> for Loader<'_> {
    fn enter_module(&mut self, name: &str, container: &str) {
        self.path.enter(name, container);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let name = self.path.name();
        let value = match (self.lookup)(&name) {
            Ok(v) => v,
            Err(e) => {
                self.errors.push(e);
                return param;
            }
        };
        let current = param.val();
        let dims = current.dims();
        if value.shape != dims {
            self.errors.push(Error::shape(name, &dims, &value.shape));
            return param;
        }
        if let Some(bad) = value.data.iter().find(|x| !x.is_finite()) {
            self.errors.push(Error::NonFinite {
                name,
                message: format!("checkpoint value {bad}"),
            });
            return param;
        }
        let device = current.device();
        let dtype = current.dtype();
        param.map(|old| {
            let requires = old.is_require_grad();
            tensor_from_f64::<B, D>(value.data, dims, &device, dtype).set_require_grad(requires)
        })
    }
}

/// Replaces every float parameter of `module` by `lookup(name)`, keeping
/// each parameter's id, device, dtype and trainability. Fails with the
/// first missing tensor, shape mismatch or non-finite value (naming the
/// parameter), leaving nothing half-loaded.
pub fn load_params<B: Backend, M: Module<B>>(
    module: M,
    mut lookup: impl FnMut(&str) -> Result<HostTensor<f64>>,
) -> Result<M> {
    let mut loader = Loader {
        path: Path::default(),
        lookup: &mut lookup,
        errors: Vec::new(),
    };
    let loaded = module.map(&mut loader);
    match loader.errors.into_iter().next() {
        Some(err) => Err(err),
        None => Ok(loaded),
    }
}

struct Caster(DType);

impl<B: Backend> ModuleMapper<B> for Caster {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let dtype = self.0;
        param.map(|t| {
            let requires = t.is_require_grad();
            t.cast(dtype).detach().set_require_grad(requires)
        })
    }
}

/// `module` with every float parameter stored as `dtype` (ids and
/// trainability kept), e.g. F64 to run a layer in double precision.
pub fn cast_params<B: Backend, M: Module<B>>(module: M, dtype: DType) -> M {
    module.map(&mut Caster(dtype))
}

/// The gradient of every parameter that received one, by name, as f64.
pub fn named_grads<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &GradientsParams,
) -> Vec<(String, HostTensor<f64>)> {
    struct GradReader<'a> {
        path: Path,
        grads: &'a GradientsParams,
        out: Vec<(String, HostTensor<f64>)>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for GradReader<'_> {
        fn enter_module(&mut self, name: &str, container: &str) {
            self.path.enter(name, container);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
                self.out
                    .push((self.path.name(), HostTensor::from_tensor(&g)));
            }
        }
    }
    let mut reader = GradReader {
        path: Path::default(),
        grads,
        out: Vec::new(),
    };
    module.visit(&mut reader);
    reader.out
}
