//! The transport of ranks on separate GPUs: NCCL sums the gradients on the
//! devices, in place on CubeCL's streams
//! ([`Collective::all_reduce_sum_in_place`]); everything else (rank 0's
//! parameters at the start, the metric sums, the sequence-parallel states
//! and aborts) goes through a [`LocalGroup`] in host memory, being small or
//! once a run.

use std::any::Any;

use burn_cubecl::tensor::CubeTensor;
use cubecl::cuda::{CudaDevice, CudaRuntime};

use super::collective::{Collective, LocalGroup};
use crate::error::{Error, Result};
use crate::ops::cuda_libs::nccl::{self, Clique, Communicator};

/// One rank of a group on GPUs: its host group member and its NCCL
/// communicator.
pub struct NcclGroup<'a> {
    host: &'a LocalGroup,
    comm: &'a Communicator,
    clique: &'a Clique,
}

impl<'a> NcclGroup<'a> {
    /// The ranks of `clique` (rank order) over the host group `hosts`.
    pub fn members(clique: &'a Clique, hosts: &'a [LocalGroup]) -> Vec<Self> {
        clique
            .members()
            .iter()
            .zip(hosts)
            .map(|(comm, host)| Self { host, comm, clique })
            .collect()
    }

    /// `tensor` as a CUDA tensor, if it is one.
    fn cuda(tensor: &dyn Any) -> Option<&CubeTensor<CudaRuntime>> {
        tensor.downcast_ref::<CubeTensor<CudaRuntime>>()
    }
}

impl Collective for NcclGroup<'_> {
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

    /// Aborts the host group and the clique's communicators, so no rank
    /// waits for this one on the host or on its GPU.
    fn abort(&self) {
        self.host.abort();
        self.clique.abort();
    }

    fn can_reduce_in_place(&self, tensor: &dyn Any) -> bool {
        Self::cuda(tensor).is_some_and(|t| self.comm.can_take(t))
    }

    fn all_reduce_sum_in_place(&self, tensor: &dyn Any) -> Result<()> {
        let tensor = Self::cuda(tensor).ok_or_else(|| {
            Error::config(
                "collective",
                "NCCL sums CUDA tensors; this is another backend's",
            )
        })?;
        self.comm
            .all_reduce_sum_in_place(tensor)
            .map_err(|message| Error::Numerical {
                what: "NCCL all-reduce".into(),
                message,
            })
    }
}

/// NCCL's communicators for ranks on `devices`, or `None` where they are
/// not CUDA GPUs, share a GPU (ranks simulated on one), NCCL is turned off
/// (`SSM_NCCL=off`), or it is missing or fails to start: then the
/// gradients go through host memory, and in the last two cases the reason
/// is printed on stderr.
pub fn clique_for<D: Any>(devices: &[D]) -> Option<Clique> {
    let ordinals: Vec<usize> = devices
        .iter()
        .map(|d| {
            (d as &dyn Any)
                .downcast_ref::<CudaDevice>()
                .map(|d| d.index)
        })
        .collect::<Option<_>>()?;
    let mut distinct = ordinals.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != ordinals.len() || !nccl::enabled() {
        return None;
    }
    match Clique::new(&ordinals) {
        Ok(clique) => Some(clique),
        Err(e) => {
            eprintln!("warning: {e}; the gradients go through host memory instead");
            None
        }
    }
}
