//! The CubeCL kernels of the selective scan: [`forward`] (the output,
//! checkpoint and segment-summary passes, and the device helpers both
//! directions share) and [`backward`].

pub mod backward;
pub mod forward;
