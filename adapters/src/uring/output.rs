//! A connection's output on its way to the socket under io_uring, where the
//! kernel reads a send's buffers after the call that submitted it.
//!
//! Before a send, [`Output::fill`] takes the front of the driver's output
//! *without consuming it*: what lives in the driver's queue itself (frame
//! headers, small frames, the handshake, TLS records) is copied into a
//! staging buffer; a large payload is held as a clone of its `Bytes` (a
//! reference count, no copy). The send names the pieces: one `send` for a
//! single piece, a `sendmsg` with an iovec per piece otherwise (a header
//! and the payload it frames, the payload straight from the message the
//! application sent or the peer's receive buffer it was echoed from). Only
//! when the kernel reports bytes sent are they consumed from the driver
//! ([`Output::completed`]), so the driver's backlog, high-water mark, write
//! timeout and memory accounting count what is in flight, as they count a
//! blocked socket's on mio.

use std::io;

use io_uring::{opcode, squeue, types};
use ws_proto::{Bytes, TransmitPart};

use crate::Driver;

/// Most output copied into the staging buffer for one send.
const STAGE_MAX: usize = 256 * 1024;
/// Most output (copied and held) named by one send.
const SEND_MAX: usize = 1024 * 1024;
/// Payloads from this size on are held, not copied. Below it the copy
/// costs less than an iovec of its own and the reference count.
const SHARE_MIN: usize = 2048;
/// Most iovecs in one send.
const MAX_IOV: usize = 64;
/// `MSG_NOSIGNAL`: a send to a reset peer fails with `EPIPE`, no signal.
const MSG_NOSIGNAL: i32 = 0x4000;

/// A piece of a send: `len` bytes of the staging buffer from `start`, or
/// of `held[i]` (`held: Some(i)`).
#[derive(Clone, Copy, Debug)]
struct Piece {
    held: Option<usize>,
    start: usize,
    len: usize,
}

/// The `sendmsg` header and its iovecs, boxed: the kernel may read them
/// after the submission, so their address must not move with the
/// connection's entry.
struct Msg {
    iov: Vec<libc::iovec>,
    hdr: libc::msghdr,
}

// SAFETY: the raw pointers in `Msg` point into buffers owned by the same
// `Output` (its staging buffer, its held `Bytes`, `Msg::iov`); they move
// between threads with it and are only dereferenced by the kernel for a
// send the owner keeps alive.
unsafe impl Send for Msg {}

/// A connection's output on its way to the socket (see the module docs).
#[derive(Default)]
pub(super) struct Output {
    /// The staging buffer: copies of inline parts, taken from the loop's
    /// free list while the connection has output.
    pub(super) buf: Vec<u8>,
    /// Payloads named by the send, held until it completes.
    held: Vec<Bytes>,
    pieces: Vec<Piece>,
    msg: Option<Box<Msg>>,
    /// The first piece not wholly sent, and how much of it was.
    first: usize,
    first_off: usize,
    /// Bytes staged, and sent of them.
    len: usize,
    sent: usize,
    pub(super) sending: bool,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("staged", &self.len)
            .field("sent", &self.sent)
            .field("pieces", &self.pieces.len())
            .field("held", &self.held.len())
            .field("sending", &self.sending)
            .finish()
    }
}

impl Output {
    /// Bytes staged and not yet sent.
    pub(super) fn unsent(&self) -> usize {
        self.len - self.sent
    }

    /// Stages the front of `driver`'s output for the next send, unless a
    /// send is staged already. Nothing is consumed from the driver.
    pub(super) fn fill(&mut self, driver: &mut Driver) -> io::Result<()> {
        if self.sending || self.unsent() > 0 || driver.pending_write() == 0 {
            return Ok(());
        }
        self.reset();
        let whole = driver.for_each_output_part(|part| self.take(part));
        if whole {
            return Ok(());
        }
        // Through a layer (TLS): a copy of what it offers.
        match driver.write_to(|bufs| {
            for b in bufs {
                if !self.take(TransmitPart::Inline(b)) {
                    break;
                }
            }
            Err(io::ErrorKind::WouldBlock.into())
        }) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Names `len` bytes of `b` from `start` in the staged send, holding
    /// `b` until the send completes.
    fn hold(&mut self, b: &Bytes, start: usize, len: usize) -> bool {
        self.pieces.push(Piece {
            held: Some(self.held.len()),
            start,
            len,
        });
        self.held.push(b.clone());
        self.len += len;
        true
    }

    /// Adds `part` to the staged send; false once the send is full.
    fn take(&mut self, part: TransmitPart<'_>) -> bool {
        if self.len >= SEND_MAX || self.pieces.len() >= MAX_IOV {
            return false;
        }
        match part {
            TransmitPart::Shared(b) if b.len() >= SHARE_MIN => self.hold(b, 0, b.len()),
            // A fragment of a message held once: the message is held (one
            // reference per fragment in flight), the fragment named.
            TransmitPart::Slice(b, start, len)
                if len >= SHARE_MIN && b.len() >= start.saturating_add(len) =>
            {
                self.hold(b, start, len)
            }
            part => {
                let s = part.as_slice();
                let room = STAGE_MAX.saturating_sub(self.buf.len());
                let take = s.len().min(room);
                if take == 0 {
                    return false;
                }
                let start = self.buf.len();
                self.buf.extend_from_slice(&s[..take]);
                match self.pieces.last_mut() {
                    // Right after the last copy: one piece with it.
                    Some(p) if p.held.is_none() && p.start + p.len == start => p.len += take,
                    _ => self.pieces.push(Piece {
                        held: None,
                        start,
                        len: take,
                    }),
                }
                self.len += take;
                take == s.len()
            }
        }
    }

    /// Forgets a finished (or failed) send: the held payloads go.
    fn reset(&mut self) {
        self.buf.clear();
        self.held.clear();
        self.pieces.clear();
        self.first = 0;
        self.first_off = 0;
        self.len = 0;
        self.sent = 0;
    }

    /// Where piece `p` starts, `off` bytes in.
    fn base(&self, p: &Piece, off: usize) -> *const u8 {
        let bytes: &[u8] = match p.held {
            Some(i) => &self.held[i],
            None => &self.buf,
        };
        bytes[p.start + off..].as_ptr()
    }

    /// The send for what is staged and unsent (marks it in flight).
    ///
    /// # Safety
    ///
    /// The entry points into this `Output`: it must not be touched (but for
    /// [`completed`](Self::completed) with the send's result) nor dropped
    /// while the send is in flight.
    pub(super) unsafe fn send_sqe(&mut self, fd: i32, user_data: u64) -> squeue::Entry {
        self.sending = true;
        let fd = types::Fd(fd);
        let rest = &self.pieces[self.first..];
        if let [p] = rest {
            let ptr = self.base(p, self.first_off);
            let len = (p.len - self.first_off) as u32;
            return opcode::Send::new(fd, ptr, len)
                .flags(MSG_NOSIGNAL)
                .build()
                .user_data(user_data);
        }
        let mut msg = self.msg.take().unwrap_or_else(|| {
            Box::new(Msg {
                iov: Vec::new(),
                // SAFETY: a zeroed msghdr is a valid empty one (no name, no
                // control data, no iovecs); the iovecs are set below.
                hdr: unsafe { std::mem::zeroed() },
            })
        });
        msg.iov.clear();
        for (k, p) in rest.iter().enumerate() {
            let off = if k == 0 { self.first_off } else { 0 };
            msg.iov.push(libc::iovec {
                iov_base: self.base(p, off) as *mut libc::c_void,
                iov_len: p.len - off,
            });
        }
        msg.hdr.msg_iov = msg.iov.as_mut_ptr();
        msg.hdr.msg_iovlen = msg.iov.len() as _;
        // The box's contents stay where they are when it moves into `self`.
        let entry = opcode::SendMsg::new(fd, &msg.hdr)
            .flags(MSG_NOSIGNAL as u32)
            .build()
            .user_data(user_data);
        self.msg = Some(msg);
        entry
    }

    /// A send completed with `res`: the bytes sent are consumed from
    /// `driver`'s output. True once everything staged is sent.
    pub(super) fn completed(&mut self, driver: &mut Driver, res: i32) -> io::Result<bool> {
        self.sending = false;
        let n = match usize::try_from(res) {
            Ok(n) => n.min(self.unsent()),
            Err(_) => {
                self.reset();
                return Err(io::Error::from_raw_os_error(-res));
            }
        };
        if n > 0 {
            let mut take = Some(n);
            match driver.write_to(|_| take.take().ok_or(io::ErrorKind::WouldBlock.into())) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.advance(n))
    }

    /// Marks `n` more bytes sent; true once everything staged is.
    fn advance(&mut self, n: usize) -> bool {
        self.sent += n;
        if self.sent >= self.len {
            self.reset();
            return true;
        }
        // A partial send: step over what went.
        let mut left = n;
        while let Some(p) = self.pieces.get(self.first) {
            let rest = p.len - self.first_off;
            if left < rest {
                self.first_off += left;
                break;
            }
            left -= rest;
            self.first += 1;
            self.first_off = 0;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece_lens(out: &Output) -> Vec<(bool, usize)> {
        out.pieces
            .iter()
            .map(|p| (p.held.is_some(), p.len))
            .collect()
    }

    #[test]
    fn copies_small_parts_into_one_piece_and_holds_large_payloads() {
        let mut out = Output::default();
        let big = Bytes::from(vec![7u8; 16 * 1024]);
        assert!(out.take(TransmitPart::Inline(&[0x82, 126, 0x40, 0])));
        assert!(out.take(TransmitPart::Shared(&big)));
        assert!(out.take(TransmitPart::Inline(&[0x81, 2])));
        assert!(out.take(TransmitPart::Shared(&Bytes::from_static(b"hi"))));
        assert_eq!(piece_lens(&out), [(false, 4), (true, 16384), (false, 4)]);
        assert_eq!(out.len, 16392);
        // The payload is held, not copied: the same memory.
        assert_eq!(out.held[0].as_ptr(), big.as_ptr());
        assert_eq!(out.buf, [0x82, 126, 0x40, 0, 0x81, 2, b'h', b'i']);
    }

    /// A fragment of a message held once: the message is held, the
    /// fragment's range named (its first byte is the send's), and a small
    /// fragment is copied like any small part.
    #[test]
    fn holds_the_message_of_a_fragment_and_names_its_range() {
        let mut out = Output::default();
        let msg = Bytes::from((0..12_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        assert!(out.take(TransmitPart::Inline(&[0x00, 126, 0x10, 0])));
        assert!(out.take(TransmitPart::Slice(&msg, 4096, 4096)));
        assert!(out.take(TransmitPart::Inline(&[0x80, 126, 0x0e, 0xe0])));
        assert!(out.take(TransmitPart::Slice(&msg, 8192, 3808)));
        assert!(out.take(TransmitPart::Slice(&msg, 0, 3)));
        assert_eq!(
            piece_lens(&out),
            [
                (false, 4),
                (true, 4096),
                (false, 4),
                (true, 3808),
                (false, 3)
            ]
        );
        assert_eq!(out.len, 4 + 4096 + 4 + 3808 + 3);
        assert_eq!(out.held.len(), 2);
        assert!(out.held.iter().all(|h| h.as_ptr() == msg.as_ptr()));
        let p = out.pieces[1];
        assert_eq!(out.base(&p, 0), msg[4096..].as_ptr());
        let p = out.pieces[3];
        assert_eq!(out.base(&p, 10), msg[8202..].as_ptr());
        assert_eq!(out.buf[8..], [0, 1, 2]);
    }

    #[test]
    fn stops_at_the_iovec_and_size_limits() {
        let mut out = Output::default();
        let big = Bytes::from(vec![1u8; SHARE_MIN]);
        let mut taken = 0;
        while out.take(TransmitPart::Inline(&[0x82, 126, 8, 0]))
            && out.take(TransmitPart::Shared(&big))
        {
            taken += 1;
        }
        assert_eq!(out.pieces.len(), MAX_IOV);
        assert_eq!(taken, MAX_IOV / 2);
        let mut out = Output::default();
        let huge = Bytes::from(vec![1u8; SEND_MAX]);
        assert!(out.take(TransmitPart::Shared(&huge)));
        assert!(!out.take(TransmitPart::Inline(&[1])));
    }

    #[test]
    fn a_partial_send_resumes_where_it_stopped() {
        let mut out = Output::default();
        let big = Bytes::from((0..4096u32).map(|i| i as u8).collect::<Vec<u8>>());
        out.take(TransmitPart::Inline(&[0x82, 126, 16, 0]));
        out.take(TransmitPart::Shared(&big));
        out.take(TransmitPart::Inline(&[0x8a, 0]));
        assert!(!out.advance(3));
        assert_eq!((out.first, out.first_off), (0, 3));
        assert_eq!(out.unsent(), 4 + 4096 + 2 - 3);
        assert!(!out.advance(1 + 100));
        assert_eq!((out.first, out.first_off), (1, 100));
        // The next send starts 100 bytes into the payload.
        let p = out.pieces[out.first];
        assert_eq!(out.base(&p, out.first_off), big[100..].as_ptr());
        assert!(!out.advance(4096 - 100));
        assert_eq!((out.first, out.first_off), (2, 0));
        assert!(out.advance(2));
        assert!(out.held.is_empty() && out.pieces.is_empty() && out.unsent() == 0);
    }
}
