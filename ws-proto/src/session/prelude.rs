//! Handshake bytes queued in front of the connection's own output.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use bytes::{Buf, Bytes};

/// A FIFO of byte chunks with partial-write support.
#[derive(Debug, Default)]
pub(super) struct Prelude {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Prelude {
    pub(super) fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.len += b.len();
            self.chunks.push_back(b);
        }
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn drain_into(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.len;
        for c in core::mem::take(&mut self.chunks) {
            out.extend_from_slice(&c);
        }
        self.len = 0;
        n
    }

    pub(super) fn slices<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        let mut n = 0;
        for (slot, c) in out.iter_mut().zip(&self.chunks) {
            *slot = c;
            n += 1;
        }
        n
    }

    /// Consumes up to `n` written bytes; returns how many of `n` remain.
    #[inline]
    pub(super) fn advance(&mut self, mut n: usize) -> usize {
        if self.len == 0 {
            return n;
        }
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let k = n.min(front.len());
            front.advance(k);
            self.len -= k;
            n -= k;
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
        if self.chunks.is_empty() {
            // Release the queue's storage once the handshake bytes are out.
            self.chunks = VecDeque::new();
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_advance_keeps_order() {
        let mut p = Prelude::default();
        p.push(Bytes::from_static(b"abc"));
        p.push(Bytes::new());
        p.push(Bytes::from_static(b"de"));
        assert_eq!(p.len(), 5);
        assert_eq!(p.advance(2), 0);
        let mut s = [&[][..]; 4];
        assert_eq!(p.slices(&mut s), 2);
        assert_eq!((s[0], s[1]), (&b"c"[..], &b"de"[..]));
        assert_eq!(p.advance(10), 7);
        assert_eq!(p.len(), 0);
        assert_eq!(p.chunks.capacity(), 0, "drained storage is released");
    }
}
