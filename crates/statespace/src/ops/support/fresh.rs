//! Output buffers of the CPU kernels, allocated without zeroing. A kernel
//! that writes every element of its output once gains nothing from
//! `vec![0.0; n]` but a pass over memory: the allocator clears the block
//! first (10 % of an S4D training step at 32 × 200 went to that memset;
//! ARCHITECTURE.md, "CPU training speed").

use std::mem::MaybeUninit;

use bytemuck::Pod;

/// `n` slots a kernel writes, then hands out as values with
/// [`Fresh::written`].
pub(crate) struct Fresh<T>(Box<[MaybeUninit<T>]>);

impl<T: Pod> Fresh<T> {
    /// `n` unwritten slots. Builds with debug assertions (the test suite's)
    /// set every bit of them, a NaN in f32 and f64, so a slot a kernel
    /// forgets to write shows up as NaN in its results instead of stale
    /// memory.
    pub(crate) fn new(n: usize) -> Self {
        let mut slots = Box::new_uninit_slice(n);
        if cfg!(debug_assertions) {
            let mut nan = T::zeroed();
            bytemuck::bytes_of_mut(&mut nan).fill(0xFF);
            slots.iter_mut().for_each(|s| {
                s.write(nan);
            });
        }
        Self(slots)
    }

    /// The slots, to be written (`MaybeUninit::write`).
    pub(crate) fn slots(&mut self) -> &mut [MaybeUninit<T>] {
        &mut self.0
    }

    /// The written values.
    ///
    /// # Safety
    /// Every slot has been written.
    pub(crate) unsafe fn written(self) -> Vec<T> {
        // SAFETY: the caller wrote every slot.
        unsafe { self.0.assume_init() }.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_slots_come_back_in_order() {
        let mut out = Fresh::<f32>::new(5);
        for (i, s) in out.slots().iter_mut().enumerate() {
            s.write(i as f32);
        }
        // SAFETY: the loop wrote every slot.
        assert_eq!(unsafe { out.written() }, [0.0, 1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn unwritten_slots_are_nan_in_debug_builds() {
        if cfg!(debug_assertions) {
            let out = Fresh::<f64>::new(3);
            // SAFETY: debug builds wrote NaN into every slot.
            assert!(unsafe { out.written() }.iter().all(|v| v.is_nan()));
        }
    }
}
