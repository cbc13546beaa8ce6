//! Data parallelism: ranks that each hold a replica of the model, compute
//! the gradient of their part of every batch, and sum the gradients over a
//! [`Collective`] before an optimiser step that is then the same on every
//! rank. Holds the two exchanges the loop needs: rank 0's parameters to
//! every rank at the start, and the gradients after each backward.
//!
//! Gradients are weighted by each rank's number of targets, so the summed
//! gradient is that of the mean loss over the whole batch, as one device
//! computing the whole batch gets it (up to float rounding).

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData, TensorPrimitive};

use super::collective::Collective;
use super::optim::flat_grads;
use crate::error::Result;

/// The float parameters of a module, flattened and concatenated on the host.
struct CollectParams {
    values: Vec<f32>,
}

impl<B: Backend> ModuleVisitor<B> for CollectParams {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let data = param.val().into_data().convert::<f32>();
        self.values
            .extend_from_slice(data.as_slice::<f32>().expect("converted to f32"));
    }
}

/// Replaces each float parameter with the next values of a buffer, in
/// visiting order.
struct ReplaceParams {
    values: Vec<f32>,
    at: usize,
}

impl<B: AutodiffBackend> ModuleMapper<B> for ReplaceParams {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let value = param.val();
        let shape = value.shape();
        let n = shape.num_elements();
        let device = value.device();
        let data = TensorData::new(self.values[self.at..self.at + n].to_vec(), shape);
        self.at += n;
        let replaced = Tensor::<B::InnerBackend, D>::from_data(data, &device);
        param.map(|_| Tensor::from_inner(replaced).require_grad())
    }
}

/// `module` with rank 0's parameters on every rank (one host round trip;
/// the other ranks' values are ignored). Makes replicas equal whatever
/// their initialisation drew.
pub fn broadcast_params<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: M,
    collective: &dyn Collective,
) -> Result<M> {
    if collective.size() == 1 {
        return Ok(module);
    }
    let mut collect = CollectParams { values: Vec::new() };
    module.visit(&mut collect);
    let mut values = collect.values;
    if collective.rank() != 0 {
        values.iter_mut().for_each(|v| *v = 0.0);
    }
    collective.all_reduce_sum_f32(&mut values)?;
    Ok(module.map(&mut ReplaceParams { values, at: 0 }))
}

/// Registers the next values of a buffer as the gradient of each parameter
/// that had one, in visiting order.
struct RegisterGrads<'a, B: Backend> {
    had: &'a GradientsParams,
    out: GradientsParams,
    values: Tensor<B, 1>,
    at: usize,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for RegisterGrads<'_, B::InnerBackend> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.had.get::<B::InnerBackend, D>(param.id) {
            let shape = g.shape();
            let n = shape.num_elements();
            let part = self.values.clone().narrow(0, self.at, n).reshape(shape);
            self.at += n;
            self.out.register::<B::InnerBackend, D>(param.id, part);
        }
    }
}

/// The gradient of the whole batch's mean loss on every rank: each rank's
/// gradient (of its part's mean loss over `targets` targets) weighted by
/// `targets`, summed over the group and divided by the group's targets.
/// The sum runs on the devices where the transport can (NCCL), else as one
/// host round trip of all gradients; the identity for one rank.
pub fn all_reduce_grads<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: GradientsParams,
    targets: usize,
    collective: &dyn Collective,
) -> Result<GradientsParams> {
    if collective.size() == 1 {
        return Ok(grads);
    }
    let flat = flat_grads::<B, M>(module, &grads);
    let Some(first) = flat.first() else {
        return Ok(grads);
    };
    let device = first.device();
    // The group's targets first, through host memory: every rank has then
    // finished its backward, so a rank that failed stops the others here
    // rather than inside a device collective they would wait in.
    let mut total = [targets as f64];
    collective.all_reduce_sum(&mut total)?;
    let [total] = total;
    let weighted = Tensor::cat(flat, 0) * targets as f64;
    let primitive = weighted.into_primitive().tensor();
    let on_device = collective.all_reduce_sum_in_place(&primitive)?;
    let summed = Tensor::<B::InnerBackend, 1>::from_primitive(TensorPrimitive::Float(primitive));
    let summed = if on_device {
        summed
    } else {
        let mut values = summed
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .expect("converted to f32");
        collective.all_reduce_sum_f32(&mut values)?;
        let n = values.len();
        Tensor::from_data(TensorData::new(values, [n]), &device)
    };
    let mut register = RegisterGrads::<B::InnerBackend> {
        had: &grads,
        out: GradientsParams::new(),
        values: summed / total,
        at: 0,
    };
    module.visit(&mut register);
    Ok(register.out)
}
