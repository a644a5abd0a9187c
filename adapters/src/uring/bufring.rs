//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`, Linux 5.19): a
//! pool of equal buffers the kernel picks from when data arrives, so a
//! receive waiting on an idle connection holds no buffer. The loop hands
//! each buffer back as soon as it has fed its bytes to the connection.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::Submitter;
use io_uring::types::BufRingEntry;

/// The ring of buffer descriptors (page-aligned, shared with the kernel)
/// and the buffers it points into.
pub(super) struct BufRing {
    entries: NonNull<BufRingEntry>,
    layout: Layout,
    count: u16,
    /// Our copy of the ring's tail (published to the kernel by
    /// [`publish`](Self::publish)).
    tail: u16,
    bufs: Box<[u8]>,
    size: usize,
    bgid: u16,
}

// SAFETY: the descriptor ring is memory this value owns (like a `Box`);
// moving it to another thread moves that ownership. The kernel's access
// is tied to the ring it is registered with, which moves along.
unsafe impl Send for BufRing {}

impl std::fmt::Debug for BufRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufRing")
            .field("count", &self.count)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl BufRing {
    /// `count` (a power of two) buffers of `size` bytes, registered as
    /// group `bgid`. The ring must be dropped after the `IoUring` it was
    /// registered with (or unregistered first).
    pub(super) fn new(
        submitter: &Submitter<'_>,
        count: u16,
        size: usize,
        bgid: u16,
    ) -> io::Result<BufRing> {
        if !count.is_power_of_two() || u32::try_from(size).is_err() {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        let layout = Layout::from_size_align(
            usize::from(count) * std::mem::size_of::<BufRingEntry>(),
            4096,
        )
        .map_err(io::Error::other)?;
        // SAFETY: the layout has a non-zero size (count >= 1).
        let ptr = unsafe { alloc_zeroed(layout) }.cast::<BufRingEntry>();
        let entries = NonNull::new(ptr).ok_or(io::ErrorKind::OutOfMemory)?;
        let mut ring = BufRing {
            entries,
            layout,
            count,
            tail: 0,
            bufs: vec![0; usize::from(count) * size].into_boxed_slice(),
            size,
            bgid,
        };
        // SAFETY: the descriptor ring is `count` entries, page-aligned, and
        // lives in `ring` until it is dropped, after the io_uring (see
        // `new`'s contract), or after `unregister`.
        unsafe { submitter.register_buf_ring_with_flags(ptr as u64, count, bgid, 0) }?;
        for bid in 0..count {
            ring.add(bid);
        }
        ring.publish();
        Ok(ring)
    }

    /// The buffer group to name in a receive.
    pub(super) fn group(&self) -> u16 {
        self.bgid
    }

    /// The first `len` bytes of buffer `bid` (what a receive filled).
    pub(super) fn get(&self, bid: u16, len: usize) -> Option<&[u8]> {
        let start = usize::from(bid).checked_mul(self.size)?;
        self.bufs.get(start..start.checked_add(len.min(self.size))?)
    }

    /// Puts buffer `bid` back in the ring (visible to the kernel after
    /// [`publish`](Self::publish)).
    pub(super) fn add(&mut self, bid: u16) {
        if bid >= self.count {
            return;
        }
        let slot = usize::from(self.tail & (self.count - 1));
        let addr = self.bufs.as_ptr() as u64 + (usize::from(bid) * self.size) as u64;
        // SAFETY: `slot < count`, inside the descriptor allocation; the
        // kernel reads a descriptor only once the tail passes it, and the
        // tail is published after this write (release ordering).
        let entry = unsafe { &mut *self.entries.as_ptr().add(slot) };
        entry.set_addr(addr);
        entry.set_len(self.size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes the buffers added since the last call.
    pub(super) fn publish(&self) {
        // SAFETY: the tail field lies in the first descriptor, inside the
        // allocation; the kernel reads it concurrently, hence the atomic.
        let tail = unsafe { BufRingEntry::tail(self.entries.as_ptr()) }.cast_mut();
        // SAFETY: `tail` is valid and 2-byte aligned for the ring's life, and
        // only accessed atomically by us (the kernel only reads it).
        let tail = unsafe { AtomicU16::from_ptr(tail) };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the kernel no longer
        // uses it (the ring that registered it is gone, see `new`).
        unsafe { dealloc(self.entries.as_ptr().cast(), self.layout) };
    }
}
