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
use crate::error::{Error, Result};

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
    let weighted = Tensor::cat(flat, 0) * targets as f64;
    let n = weighted.dims()[0];
    let primitive = weighted.into_primitive().tensor();
    // One host reduction first: the group's targets, whether every rank's
    // sum can run on its device, and every rank's gradient length (its own
    // slot), which a device sum cannot check. Every rank has then finished
    // its backward and its part of the sum's set-up, so a rank that failed
    // stops the others here rather than leaving them inside a device sum.
    let (size, rank) = (collective.size(), collective.rank());
    let mut shared = vec![0.0; 2 + size];
    shared[0] = targets as f64;
    shared[1] = f64::from(u8::from(collective.can_reduce_in_place(&primitive)));
    shared[2 + rank] = n as f64;
    collective.all_reduce_sum(&mut shared)?;
    let (total, on_device) = (shared[0], shared[1]);
    if let Some(other) = shared[2..].iter().position(|&len| len != n as f64) {
        return Err(Error::Shape {
            tensor: format!("flat gradient of rank {rank} against rank {other}'s"),
            expected: vec![shared[2 + other] as usize],
            actual: vec![n],
        });
    }
    let summed = if on_device == size as f64 {
        collective.all_reduce_sum_in_place(&primitive)?;
        Tensor::<B::InnerBackend, 1>::from_primitive(TensorPrimitive::Float(primitive))
    } else {
        let mut values =
            Tensor::<B::InnerBackend, 1>::from_primitive(TensorPrimitive::Float(primitive))
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

#[cfg(test)]
mod tests {
    use std::any::Any;

    use burn::backend::{Autodiff, Flex};
    use burn::nn::Linear;
    use burn::tensor::Tensor;

    use super::*;
    use crate::train::collective::LocalGroup;
    use crate::train::optim::flat_grads;

    type B = Autodiff<Flex>;

    /// A host group member that claims a device path (it has none) when
    /// `claims` is set.
    struct Claims<'a> {
        host: &'a LocalGroup,
        claims: bool,
    }

    impl Collective for Claims<'_> {
        fn rank(&self) -> usize {
            self.host.rank()
        }
        fn size(&self) -> usize {
            self.host.size()
        }
        fn all_reduce_sum(&self, values: &mut [f64]) -> Result<()> {
            self.host.all_reduce_sum(values)
        }
        fn all_reduce_sum_f32(&self, values: &mut [f32]) -> Result<()> {
            self.host.all_reduce_sum_f32(values)
        }
        fn send_f32(&self, to: usize, values: &[f32]) -> Result<()> {
            self.host.send_f32(to, values)
        }
        fn recv_f32(&self, from: usize, len: usize) -> Result<Vec<f32>> {
            self.host.recv_f32(from, len)
        }
        fn abort(&self) {
            self.host.abort();
        }
        fn can_reduce_in_place(&self, _: &dyn Any) -> bool {
            self.claims
        }
    }

    /// The gradient of `module`'s summed output on rank `rank`'s input.
    fn grads_of(module: &Linear<B>, rank: usize) -> GradientsParams {
        let x = Tensor::<B, 2>::from_floats(
            [
                [1.0 + rank as f32, -2.0, 0.5],
                [0.25, 3.0 * rank as f32, -1.0],
            ],
            &Default::default(),
        );
        let grads = module.forward(x).sum().backward();
        GradientsParams::from_grads(grads, module)
    }

    /// The flat gradient values of `grads`.
    fn values(module: &Linear<B>, grads: &GradientsParams) -> Vec<f32> {
        let flat = Tensor::cat(flat_grads::<B, _>(module, grads), 0);
        flat.into_data().convert::<f32>().into_vec::<f32>().unwrap()
    }

    #[test]
    fn the_device_path_is_taken_only_when_every_rank_can_take_it() {
        // Weights set by hand: no draw from burn's generator, which other
        // tests share.
        let device = Default::default();
        let module = Linear::<B> {
            weight: Param::from_tensor(Tensor::from_floats(
                [[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]],
                &device,
            )),
            bias: Some(Param::from_tensor(Tensor::from_floats(
                [0.1, -0.2],
                &device,
            ))),
        };
        let targets = [3usize, 5];
        let expected: Vec<f32> = {
            let (a, b) = (
                values(&module, &grads_of(&module, 0)),
                values(&module, &grads_of(&module, 1)),
            );
            // Weighted in f32, summed in f64 and rounded once, divided in
            // f32: the bits every rank must get.
            a.iter()
                .zip(&b)
                .map(|(a, b)| ((f64::from(a * 3.0) + f64::from(b * 5.0)) as f32) / 8.0)
                .collect()
        };
        // Rank 0 could sum on its device, rank 1 not: both go through the
        // host, and neither calls the device path it lacks.
        let group = LocalGroup::new(2);
        let results: Vec<Vec<f32>> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .iter()
                .map(|host| {
                    let module = module.clone();
                    s.spawn(move || {
                        let rank = host.rank();
                        let member = Claims {
                            host,
                            claims: rank == 0,
                        };
                        let grads = grads_of(&module, rank);
                        let summed =
                            all_reduce_grads::<B, _>(&module, grads, targets[rank], &member);
                        if summed.is_err() {
                            // Fail the test, not hang the other rank.
                            host.abort();
                        }
                        values(&module, &summed.unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in &results {
            assert_eq!(r, &expected);
        }
        // Every rank claiming a path this transport lacks is its error,
        // not a silent host sum.
        let group = LocalGroup::new(2);
        let outcomes: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .iter()
                .map(|host| {
                    let module = module.clone();
                    s.spawn(move || {
                        let member = Claims { host, claims: true };
                        let grads = grads_of(&module, host.rank());
                        all_reduce_grads::<B, _>(&module, grads, 1, &member).is_err()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(outcomes, [true, true]);
    }
}
