//! The transmit queue every handshake machine drains the same way as
//! `ws_proto::Connection`: `poll_transmit` copies, `transmit_slices` +
//! `advance_transmit` write vectored without copying.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use bytes::{Buf, Bytes};

/// Byte chunks waiting to be written, in order, with partial writes.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Outbox {
    /// A queue holding `first`.
    pub(crate) fn with(first: Bytes) -> Self {
        let mut q = Outbox::default();
        q.push(first);
        q
    }

    /// Queues `b` behind what is queued (empty chunks are dropped).
    pub(crate) fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.len += b.len();
            self.chunks.push_back(b);
        }
    }

    /// Bytes queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends everything queued to `out`; returns the count.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.len;
        out.reserve(n);
        for c in &self.chunks {
            out.extend_from_slice(c);
        }
        self.advance(n);
        n
    }

    /// Fills `out` with the queued chunks; returns how many were filled.
    pub(crate) fn slices<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        let mut n = 0;
        for (slot, c) in out.iter_mut().zip(&self.chunks) {
            *slot = c;
            n += 1;
        }
        n
    }

    /// Consumes `n` written bytes (at most what is queued).
    pub(crate) fn advance(&mut self, n: usize) {
        let mut n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let k = n.min(front.len());
            front.advance(k);
            n -= k;
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
        if self.chunks.is_empty() {
            // Release the queue's storage once everything is out.
            self.chunks = VecDeque::new();
        }
    }
}

/// The transmit half of the one I/O contract for a machine with an
/// `Outbox` field named `transmit`: `pending_transmit`, `poll_transmit`,
/// `transmit_slices`, `advance_transmit`. `$peer` names who the bytes go
/// to, `$what` what they are, in the docs.
macro_rules! transmit_methods {
    ($peer:literal, $what:literal) => {
        #[doc = concat!("Bytes waiting to be written to ", $peer, ".")]
        #[inline]
        pub fn pending_transmit(&self) -> usize {
            self.transmit.len()
        }

        #[doc = concat!("Appends the pending output (", $what, ") to `out` and returns how many bytes were appended.")]
        #[must_use]
        pub fn poll_transmit(&mut self, out: &mut alloc::vec::Vec<u8>) -> usize {
            self.transmit.drain_into(out)
        }

        /// Fills `out` with the pending output as slices, without copying
        /// (each queued chunk is its own slice). Returns the number of
        /// slices filled; follow a write with
        /// [`advance_transmit`](Self::advance_transmit).
        pub fn transmit_slices<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
            self.transmit.slices(out)
        }

        /// Marks `n` bytes of pending output as written.
        pub fn advance_transmit(&mut self, n: usize) {
            self.transmit.advance(n);
        }
    };
}

pub(crate) use transmit_methods;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_advance_keeps_order() {
        let mut q = Outbox::with(Bytes::from_static(b"abc"));
        q.push(Bytes::new());
        q.push(Bytes::from_static(b"de"));
        assert_eq!(q.len(), 5);
        q.advance(2);
        let mut s = [&[][..]; 4];
        assert_eq!(q.slices(&mut s), 2);
        assert_eq!((s[0], s[1]), (&b"c"[..], &b"de"[..]));
        let mut out = Vec::new();
        assert_eq!(q.drain_into(&mut out), 3);
        assert_eq!(out, b"cde");
        q.advance(10);
        assert_eq!(q.len(), 0);
        assert_eq!(q.chunks.capacity(), 0, "drained storage is released");
    }
}
