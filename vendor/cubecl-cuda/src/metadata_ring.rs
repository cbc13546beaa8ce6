//! statespace patch: each launch's kernel metadata (the shapes and strides
//! CubeCL passes beside a kernel's buffers) through a ring buffer per
//! stream, instead of a fresh allocation per launch.
//!
//! cubecl-cuda 0.10 uploads a launch's dynamic metadata with
//! `Command::create_with_data`: a pinned staging buffer and a device buffer,
//! both reserved from the memory pools, an asynchronous copy, and the
//! staging buffer queued until the device is past it, with a host wait on an
//! event every 64 queued uploads. A host profile of the ListOps S4 training
//! loop on an H100 put 14.6 % of all samples in that function, most of it
//! the pools' reservations, and 4.3 % in those waits.
//!
//! With [`set_metadata_ring`] on (the default since it measured faster:
//! the ListOps S4 and S4D training loops 9 % and 6 % more steps a second on
//! an H100 under statespace's `classes` pool layout, 2026-12-07), each
//! stream created afterwards owns, from
//! its first launch with metadata, a pinned host ring and a device ring of
//! [`RING_BYTES`], cut into
//! [`SEGMENTS`] segments. A launch's metadata is written at the ring's
//! cursor on the host and copied to the same offset on the device (one
//! asynchronous copy, in stream order before the kernel that reads it).
//! When the cursor leaves a segment, an event is recorded on the stream;
//! before it enters a segment again, the host waits for that segment's
//! event. Everything that read the segment (the copies and the kernels) was
//! queued before the event, so the wait returns once they are done and the
//! segment can be overwritten. The ring holds thousands of launches, so the
//! wait is for work queued long before and seldom blocks. Metadata larger
//! than a segment, and any CUDA error of the ring (said once on stderr), fall
//! back to `create_with_data`.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

use cudarc::driver::result::{event, free_host, free_sync, malloc_host, malloc_sync};
use cudarc::driver::sys::{CUdeviceptr, CUevent, CUevent_flags, CUstream};

/// Segments of a ring.
pub const SEGMENTS: usize = 16;
/// Bytes of a segment (the most metadata one launch may put in the ring).
pub const SEGMENT_BYTES: usize = 256 * 1024;
/// Bytes of a ring, on the host and on the device alike.
pub const RING_BYTES: usize = SEGMENTS * SEGMENT_BYTES;
/// Alignment of each launch's metadata in the ring.
const ALIGN: usize = 16;

static ON: AtomicBool = AtomicBool::new(true);

/// Gives the streams created after this call a metadata ring (`true`, the
/// default) or puts them on cubecl's allocation per launch (`false`).
pub fn set_metadata_ring(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

/// Whether new streams get a ring.
pub(crate) fn metadata_ring_on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// A stream's ring, made at its first launch with metadata (so streams
/// that launch nothing, such as CubeCL's own clean-up stream, hold none).
#[derive(Debug)]
pub enum LazyRing {
    /// On, not made yet.
    Pending,
    /// Made, or `None`: the ring was off as the stream was created, or CUDA
    /// refused its memory; the pools serve this stream.
    Made(Option<MetadataRing>),
}

impl LazyRing {
    /// A new stream's ring, as [`set_metadata_ring`] stands.
    pub(crate) fn for_new_stream() -> Self {
        if metadata_ring_on() {
            LazyRing::Pending
        } else {
            LazyRing::Made(None)
        }
    }

    /// The ring, made on first use; `None` when off or refused.
    pub(crate) fn get(&mut self) -> Option<&mut MetadataRing> {
        if let LazyRing::Pending = self {
            let ring = MetadataRing::new();
            if ring.is_none() {
                eprintln!(
                    "cubecl-cuda metadata ring: CUDA refused its memory; launches use the memory pools"
                );
            }
            *self = LazyRing::Made(ring);
        }
        match self {
            LazyRing::Made(ring) => ring.as_mut(),
            LazyRing::Pending => None,
        }
    }
}

/// A stream's ring: pinned host memory and device memory of [`RING_BYTES`]
/// each, the cursor, and an event per segment.
#[derive(Debug)]
pub struct MetadataRing {
    host: *mut u8,
    device: CUdeviceptr,
    /// The byte offset the next launch's metadata starts at.
    cursor: usize,
    /// The segment the cursor is in.
    segment: usize,
    events: [CUevent; SEGMENTS],
    /// Whether the segment's event has been recorded (the cursor has left
    /// the segment at least once).
    recorded: [bool; SEGMENTS],
    /// Set by a CUDA error of the ring: every later launch falls back.
    broken: bool,
}

// SAFETY: the ring belongs to one stream, which the device thread alone
// uses; its pointers stay valid for the life of the process (streams are
// never closed).
unsafe impl Send for MetadataRing {}

impl MetadataRing {
    /// Allocates a ring on the current CUDA context, or `None` when CUDA
    /// refuses (the stream then stays on `create_with_data`).
    pub(crate) fn new() -> Option<Self> {
        // SAFETY: plain allocations on the current context; on any failure
        // what was allocated is freed before returning.
        unsafe {
            let device = malloc_sync(RING_BYTES).ok()?;
            let Ok(host) = malloc_host(RING_BYTES, 0) else {
                let _ = free_sync(device);
                return None;
            };
            let mut events = [std::ptr::null_mut(); SEGMENTS];
            for i in 0..SEGMENTS {
                match event::create(CUevent_flags::CU_EVENT_DISABLE_TIMING) {
                    Ok(e) => events[i] = e,
                    Err(_) => {
                        for e in &events[..i] {
                            let _ = event::destroy(*e);
                        }
                        let _ = free_host(host);
                        let _ = free_sync(device);
                        return None;
                    }
                }
            }
            Some(Self {
                host: host.cast::<u8>(),
                device,
                cursor: 0,
                segment: 0,
                events,
                recorded: [false; SEGMENTS],
                broken: false,
            })
        }
    }

    /// Copies `data` into the ring on `stream` and returns its device
    /// address, valid for the kernels queued on `stream` next; `None` when
    /// it is empty, larger than a segment, or the ring is broken.
    pub(crate) fn push(&mut self, data: &[u8], stream: CUstream) -> Option<u64> {
        let len = data.len().next_multiple_of(ALIGN);
        if self.broken || len == 0 || len > SEGMENT_BYTES {
            return None;
        }
        if self.cursor + len > (self.segment + 1) * SEGMENT_BYTES {
            self.enter_next_segment(stream)?;
        }
        let at = self.cursor;
        // SAFETY: `at + data.len() ≤ RING_BYTES` (the segment check above),
        // and no copy or kernel queued earlier still reads this range (the
        // segment's event has completed, or the range was never used).
        let copied = unsafe {
            let staged = std::slice::from_raw_parts_mut(self.host.add(at), data.len());
            staged.copy_from_slice(data);
            cudarc::driver::result::memcpy_htod_async(self.device + at as u64, staged, stream)
        };
        if let Err(e) = copied {
            self.break_down("copy", e);
            return None;
        }
        self.cursor += len;
        Some(self.device + at as u64)
    }

    /// Records the current segment's event and moves the cursor to the
    /// start of the next segment, once everything queued before that
    /// segment's own event is done.
    fn enter_next_segment(&mut self, stream: CUstream) -> Option<()> {
        // SAFETY: the events are live (created in `new`, never destroyed);
        // `stream` is the ring's stream.
        let moved = unsafe {
            event::record(self.events[self.segment], stream).and_then(|()| {
                self.recorded[self.segment] = true;
                let next = (self.segment + 1) % SEGMENTS;
                if self.recorded[next] {
                    event::synchronize(self.events[next])?;
                }
                self.segment = next;
                self.cursor = next * SEGMENT_BYTES;
                Ok(())
            })
        };
        if let Err(e) = moved {
            self.break_down("segment change", e);
            return None;
        }
        Some(())
    }

    /// Marks the ring broken after a CUDA error, saying so on stderr once
    /// per process: the launches fall back to the pools from here on.
    fn break_down(&mut self, what: &str, error: cudarc::driver::DriverError) {
        self.broken = true;
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            eprintln!("cubecl-cuda metadata ring: {what} failed ({error:?}); launches use the memory pools from here on");
        });
    }
}

/// The form a launch's metadata binding takes: a device address the
/// kernel parameter holds. Kept beside the launch until the driver has
/// read the parameters (`cuLaunchKernel` copies them).
#[derive(Debug, Default)]
pub struct RingAddress(pub u64);

impl RingAddress {
    /// The pointer to pass as the kernel parameter's value.
    pub fn parameter(&mut self) -> *mut c_void {
        (&mut self.0 as *mut u64).cast::<c_void>()
    }
}
