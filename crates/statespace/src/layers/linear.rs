//! A linear layer stored as PyTorch stores it, so checkpoints load without
//! transposes: y = x Wᵀ + b with W (d_out, d_in).

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};

/// y = x Wᵀ + b.
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    /// W, (d_out, d_in).
    pub weight: Param<Tensor<B, 2>>,
    /// b, (d_out).
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Linear<B> {
    /// PyTorch's default initialisation: W, b ~ U(−1/√d_in, 1/√d_in).
    pub fn new(d_in: usize, d_out: usize, bias: bool, device: &B::Device) -> Self {
        let bound = 1.0 / (d_in.max(1) as f64).sqrt();
        Self {
            weight: Param::from_tensor(Tensor::random(
                [d_out, d_in],
                Distribution::Uniform(-bound, bound),
                device,
            )),
            bias: bias.then(|| {
                Param::from_tensor(Tensor::random(
                    [d_out],
                    Distribution::Uniform(-bound, bound),
                    device,
                ))
            }),
        }
    }

    /// Output width d_out.
    pub fn d_out(&self) -> usize {
        self.weight.val().dims()[0]
    }

    /// Applies the layer to the last dimension of x (…, d_in) → (…, d_out).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let w = self.weight.val().transpose();
        let mut shape = [1usize; D];
        let [d_in, d_out] = w.dims();
        shape[D - 2] = d_in;
        shape[D - 1] = d_out;
        let y = x.matmul(w.reshape(shape));
        match &self.bias {
            Some(b) => {
                let mut bshape = [1usize; D];
                bshape[D - 1] = d_out;
                y + b.val().reshape(bshape)
            }
            None => y,
        }
    }
}
