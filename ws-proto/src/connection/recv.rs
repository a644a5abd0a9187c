//! The receive path: buffering (zero copy), frame parsing and checks
//! (§5.2, §5.1 masking rules), in-place unmasking (§5.3), reassembly (§5.4),
//! incremental UTF-8 validation (§8.1), control frames (§5.5) and the
//! extension chain, turned into events by `poll_event`.

use core::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};

use super::codec::{CloseReply, Codec};
use super::{Connection, FRAME_RESERVE, RecvFrame, RecvMessage};
use crate::Instant;
use crate::config::Role;
use crate::error::{CapacityError, Error, PeerError, UsageError};
use crate::event::{Event, MessageKind, Utf8Bytes};
use crate::extension::{FrameMeta, Granularity};
use crate::frame::{FrameHeader, OpCode, SmallHeader, Status};
use crate::mask::{apply_mask, apply_mask_ascii};

/// Below this, a payload is never copied out of the receive buffer.
const PIN_MIN: usize = 4 << 10;

/// The least a receive buffer is allocated with: room for the next small
/// messages of a busy connection, so it reads on into the buffer instead of
/// taking it back after each one (see `reuse_rx`). A connection that goes
/// idle releases it.
const RX_CHUNK: usize = 4 << 10;

/// A drained receive buffer up to this size is kept for the next message
/// (`Config::buffer_linger`); a larger one is released when drained.
const KEEP_RX: usize = 64 << 10;

/// What one step of frame processing produced.
pub(super) enum Step {
    Event(Event),
    Continue,
    NeedMore,
}

impl Connection {
    /// Copies `data` into the receive buffer (the copying convenience over
    /// [`recv_buf`](Connection::recv_buf) + [`recv_commit`](Connection::recv_commit)).
    /// Space lent by an earlier `recv_buf` is filled first; beyond it the
    /// buffer grows by exactly `data.len()`, without zero-filling, so a
    /// driver that reads into one shared scratch buffer pays one copy of
    /// what arrived and nothing for the room it did not use.
    pub fn receive(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        self.check_failed()?;
        self.timers
            .touch(&self.shared.config, now, !data.is_empty());
        if self.close_received || self.eof || data.is_empty() {
            return Ok(());
        }
        if self.shared.has_stream {
            // Wire bytes wait, compressed, until the parser needs them.
            if let Some(s) = self.shared.stream.as_deref_mut() {
                s.raw.extend_from_slice(data);
            }
            return Ok(());
        }
        self.reuse_rx();
        let lent = self.spare.min(data.len());
        let start = self.rx.len() - self.spare;
        let (head, tail) = data.split_at(lent);
        if let Some(dst) = self.rx.get_mut(start..start + lent) {
            dst.copy_from_slice(head);
        }
        self.spare -= lent;
        if !tail.is_empty() {
            if self.rx.capacity() == 0 {
                self.rx.reserve(tail.len().max(RX_CHUNK));
            }
            // `spare` is 0 here: the data region ends the buffer.
            self.rx.extend_from_slice(tail);
        }
        self.after_input(data.len())
    }

    /// Lends at least `min` bytes of writable space at the end of the
    /// receive buffer, for the driver to read the transport into directly.
    /// Follow with [`recv_commit`](Connection::recv_commit).
    ///
    /// In the middle of a frame whose header announced more payload
    /// (RFC 6455 §5.2), room for the rest of it (and one more read of
    /// `min` past its end) is reserved at once, in a buffer of its own,
    /// so that a large frame is read into place: no copies of a buffer
    /// growing by doubling, and the message handed out is a `Bytes` over
    /// an allocation of about its own size. The reservation is bounded by
    /// what arrived: at most `max(arrived, FRAME_RESERVE)` (1 MiB) beyond
    /// the bytes held, so a peer that announces 16 MiB and sends one byte
    /// gets 1 MiB of untouched capacity, and one that sends n bytes about
    /// n more; the frame-size limit was checked on the header already.
    ///
    /// New space is zero-filled once, as it is lent (safe Rust has no
    /// uninitialized buffers), one `memset` pass over the bytes that
    /// arrive; space lent but not committed stays lent, without another
    /// fill, until the buffer is released when the connection goes idle
    /// (every received byte consumed). A driver that reads many small
    /// messages should prefer reading into a shared scratch buffer and
    /// [`receive`](Connection::receive), which copies only what arrived.
    pub fn recv_buf(&mut self, min: usize) -> &mut [u8] {
        self.reuse_rx();
        if self.spare < min {
            let expected = self.frame_bytes_expected();
            if expected > (min - self.spare) as u64 {
                self.reserve_frame(expected, min);
            }
            let len = self.rx.len();
            self.rx.resize(len + (min - self.spare), 0);
            self.spare = min;
        }
        let start = self.rx.len() - self.spare;
        self.rx.get_mut(start..).unwrap_or_default()
    }

    /// Room at the end of the receive buffer that a read can go into
    /// without allocating: the buffer kept from the last messages of a busy
    /// connection, taken back whole once every message split off it is
    /// gone. 0 for an idle connection (it holds no buffer) or while a
    /// message handed out still shares the allocation.
    ///
    /// A driver whose transport reads into uninitialized memory can read
    /// the next frames straight into this room with
    /// [`recv_into`](Self::recv_into) when it is large: a busy connection
    /// receiving large messages then reads each one whole, in place, in
    /// one read, with no copy out of a scratch buffer.
    #[inline]
    pub fn recv_room(&mut self) -> usize {
        self.reuse_rx();
        if self.shared.has_stream {
            return 0;
        }
        self.rx.capacity() - self.data_len()
    }

    /// Reads into the receive buffer without zero-filling the room first:
    /// `read` gets `min` bytes of uninitialized room at the end of the
    /// buffer (reserved as [`recv_buf`](Self::recv_buf) reserves: bounded
    /// by what the frame's header announced and what arrived) and returns
    /// the prefix of it that it filled, as the `&mut [u8]` a reader into
    /// uninitialized memory gives back (`rustix::io::read`, tokio's
    /// `ReadBuf`). The filled bytes are received as by
    /// [`recv_commit`](Self::recv_commit); an empty prefix is a read of
    /// nothing, not the end of stream ([`receive_eof`](Self::receive_eof)
    /// says that). Returns the count filled.
    ///
    /// Bytes received after the peer's close frame or by a failed
    /// connection are dropped (its error is reported by
    /// [`poll_event`](Self::poll_event)).
    ///
    /// # Panics
    ///
    /// If `read` returns a slice that is not a prefix of the room it was
    /// given (a bug in the reader, not something a peer can cause).
    pub fn recv_into<E>(
        &mut self,
        now: Instant,
        min: usize,
        read: impl for<'a> FnOnce(&'a mut [MaybeUninit<u8>]) -> Result<&'a mut [u8], E>,
    ) -> Result<usize, E> {
        self.reuse_rx();
        if self.spare > 0 {
            // Initialized room lent earlier: given up for uninitialized.
            let len = self.data_len();
            self.rx.truncate(len);
            self.spare = 0;
        }
        let free = self.rx.capacity() - self.rx.len();
        if free < min {
            let expected = self.frame_bytes_expected();
            if expected > (min - free) as u64 {
                self.reserve_frame(expected, min);
            }
            if self.rx.capacity() - self.rx.len() < min {
                self.regrow_rx(min);
            }
        }
        let room = self.rx.spare_capacity_mut();
        let take = room.len().min(min);
        let room = room.get_mut(..take).unwrap_or_default();
        let (start, max) = (room.as_ptr().cast::<u8>(), room.len());
        let filled = read(room)?;
        let n = filled.len();
        assert!(
            n == 0 || (core::ptr::eq(filled.as_ptr(), start) && n <= max),
            "recv_into: the reader returned a slice that is not a prefix of the room it was given"
        );
        if self.check_failed().is_ok() {
            self.timers.touch(&self.shared.config, now, n > 0);
            if !self.close_received && !self.eof && n > 0 {
                let len = self.rx.len() + n;
                // SAFETY: `filled`, a `&mut [u8]`, covers exactly the first
                // `n` bytes of the spare capacity (checked above), so they
                // are initialized, and `n` is within the capacity.
                #[allow(unsafe_code)]
                unsafe {
                    self.rx.set_len(len);
                }
                let _ = self.after_input(n);
            }
        }
        Ok(n)
    }

    /// [`recv_buf`](Self::recv_buf) as an owned buffer, for completion-based
    /// I/O (io_uring), where the kernel holds the buffer while the read is
    /// in flight and the connection may be served (events handed out,
    /// messages sent) meanwhile. The loan is split off the end of the
    /// receive buffer (same allocation, no copy) and goes back with
    /// [`commit_loan`](Self::commit_loan); until then the connection takes
    /// no other input. Its bytes are initialized (zero-filled as
    /// `recv_buf` lends), so the reader may write any prefix of them.
    pub fn lend_recv(&mut self, min: usize) -> RecvLoan {
        let lent = self.recv_buf(min).len();
        let start = self.rx.len() - lent;
        let buf = self.rx.split_off(start);
        self.spare = 0;
        RecvLoan {
            buf,
            connection: true,
        }
    }

    /// Takes back a [`lend_recv`](Self::lend_recv) loan whose first `n`
    /// bytes the reader filled; then as [`recv_commit`](Self::recv_commit).
    /// The loan rejoins the buffer it was split from without a copy (it is
    /// copied only if the buffer was released meanwhile).
    pub fn commit_loan(&mut self, now: Instant, loan: RecvLoan, n: usize) -> Result<(), Error> {
        self.return_loan(loan);
        self.recv_commit(now, n)
    }

    /// The loan's bytes are lent space again, as after `recv_buf`.
    pub(crate) fn return_loan(&mut self, loan: RecvLoan) {
        let len = loan.buf.len();
        if self.spare > 0 {
            // A `recv_buf` since the loan: forget its unused space.
            let len = self.rx.len() - self.spare;
            self.rx.truncate(len);
        }
        self.rx.unsplit(loan.buf);
        self.spare = len;
    }

    /// Room for `min` more bytes after the data (`spare` is 0): the data
    /// moves to the front of its allocation when the messages split off it
    /// are gone and it is large enough, else to a new allocation of exactly
    /// the data plus `min`. (`BytesMut::reserve` would double a shared
    /// allocation instead, and each message later split off it would pin
    /// twice as much: `take_rx` copies a message out of an allocation more
    /// than four times its size.)
    fn regrow_rx(&mut self, min: usize) {
        let held = self.rx.len();
        if self.rx.try_reclaim(min) {
            self.rx_front = 0;
        } else {
            self.move_rx(held, held.saturating_add(min));
        }
    }

    /// Moves the first `held` bytes of the receive buffer to a new
    /// allocation of `capacity`.
    fn move_rx(&mut self, held: usize, capacity: usize) {
        let mut fresh = BytesMut::with_capacity(capacity);
        fresh.extend_from_slice(self.rx.get(..held).unwrap_or_default());
        self.rx = fresh;
        self.rx_front = 0;
    }

    /// Makes room for the `expected` payload bytes still to come of the
    /// current frame and one read of `lend` past them, bounded as
    /// [`recv_buf`](Self::recv_buf) says. When the buffer lacks it, the
    /// bytes held move to a new allocation of that size: one copy of what
    /// arrived so far (a read or less at a frame's start), where letting
    /// `BytesMut` grow would copy at every doubling, and where growing the
    /// old allocation in place would keep the messages already handed out
    /// of it pinned to a larger one.
    #[cold]
    fn reserve_frame(&mut self, expected: u64, lend: usize) {
        let held = self.data_len();
        let bound = held.max(FRAME_RESERVE) as u64;
        let rest = usize::try_from(expected.min(bound)).unwrap_or(FRAME_RESERVE);
        let want = held.saturating_add(rest).saturating_add(lend);
        if self.rx.capacity() >= want {
            return;
        }
        self.move_rx(held, want);
        self.spare = 0;
    }

    /// Declares that the driver wrote `n` bytes at the start of the space
    /// [`recv_buf`](Connection::recv_buf) lent. Data after the peer's close
    /// frame is ignored (§5.5.1).
    pub fn recv_commit(&mut self, now: Instant, n: usize) -> Result<(), Error> {
        self.check_failed()?;
        if n > self.spare {
            return Err(UsageError::CommitTooLarge {
                size: n,
                max: self.spare,
            }
            .into());
        }
        self.timers.touch(&self.shared.config, now, n > 0);
        if self.close_received || self.eof {
            return Ok(());
        }
        self.spare -= n;
        self.after_input(n)
    }

    /// The `n` bytes just added to the data region: with a stream
    /// extension they are wire bytes, moved aside to be decoded on demand.
    fn after_input(&mut self, n: usize) -> Result<(), Error> {
        if self.shared.has_stream && n > 0 {
            let at = self.data_len() - n;
            let raw = self.rx.get(at..at + n).unwrap_or_default();
            if let Some(s) = self.shared.stream.as_deref_mut() {
                s.raw.extend_from_slice(raw);
            }
            self.rx.truncate(at);
            self.spare = 0;
        }
        Ok(())
    }

    /// Declares that the transport reached end of stream (TCP FIN). Buffered
    /// input is still turned into events; if no close frame arrived, the
    /// next [`poll_event`](Connection::poll_event) reports
    /// [`PeerError::UnexpectedEof`] (status 1006, §7.1.5).
    pub fn receive_eof(&mut self, now: Instant) {
        self.timers.touch(&self.shared.config, now, false);
        self.eof = true;
        self.ending = true;
    }

    /// The next event, `Ok(None)` when more input is needed. Parsing,
    /// unmasking and validation happen here. A peer violation or exceeded
    /// limit fails the connection: the close frame is queued and the error
    /// is returned now and from every later call.
    #[inline]
    pub fn poll_event(&mut self) -> Result<Option<Event>, Error> {
        // Nothing buffered between messages: the call after each message
        // (or read) that finds the input used up, answered without the
        // general path's frame.
        if self.data_len() == 0
            && !self.rf.active
            && self.rm.kind.is_none()
            && self.err.is_none()
            && self.shared.stream.is_none()
            && !self.eof
            && !matches!(self.shared.codec, Codec::Hixie76(_))
        {
            self.timers.starved = false;
            self.release_idle_buffers();
            return Ok(None);
        }
        self.poll_event_general()
    }

    #[inline(never)]
    fn poll_event_general(&mut self) -> Result<Option<Event>, Error> {
        self.check_failed()?;
        let next = if self.shared.has_stream {
            self.next_stream_event()
        } else {
            self.next_event()
        };
        match next {
            Ok(Some(ev)) => Ok(Some(ev)),
            Ok(None) => match self.shared.stream.as_deref_mut().and_then(|s| s.err.take()) {
                // Everything decoded before the stream broke is consumed
                // (and if that included the peer's close, what follows it
                // does not matter, §5.5.1).
                Some(e) if !self.close_received => Err(self.fail(e)),
                _ => {
                    self.timers.starved =
                        self.data_len() > 0 || self.rf.active || self.rm.kind.is_some();
                    self.release_idle_buffers();
                    Ok(None)
                }
            },
            Err(e) => Err(self.fail(e)),
        }
    }

    /// `next_event` over a stream extension: when the parser runs dry,
    /// decode at most `STREAM_STEP` more bytes and try again. The decoded
    /// bytes held stay within one step of what the parser needs (a frame
    /// being gathered whole is bounded by `max_frame_size`), whatever the
    /// compression ratio of the input.
    fn next_stream_event(&mut self) -> Result<Option<Event>, Error> {
        loop {
            if let Some(ev) = self.next_event()? {
                return Ok(Some(ev));
            }
            if self.close_received || !self.stream_inflate() {
                return self.end_of_stream_input();
            }
        }
    }

    /// Decodes up to `STREAM_STEP` bytes of stream input into the data
    /// region; false when nothing was left to decode or no progress was
    /// made.
    fn stream_inflate(&mut self) -> bool {
        const STREAM_STEP: usize = 32 << 10;
        let super::Shared { exts, stream, .. } = &mut *self.shared;
        let Some(s) = stream.as_deref_mut() else {
            return false;
        };
        if s.err.is_some() || (s.raw.is_empty() && !s.more) {
            return false;
        }
        let Some(ext) = exts
            .iter_mut()
            .rev()
            .find(|e| e.granularity() == Granularity::Stream)
        else {
            return false;
        };
        // Lent space is not data: decoded bytes go after the data.
        let len = self.rx.len() - self.spare;
        self.rx.truncate(len);
        self.spare = 0;
        match ext.decode_stream(&s.raw, &mut self.rx, STREAM_STEP) {
            Ok(used) => {
                let used = used.min(s.raw.len());
                let made = self.rx.len() - len;
                bytes::Buf::advance(&mut s.raw, used);
                if s.raw.is_empty() {
                    s.raw = BytesMut::new();
                }
                s.more = made >= STREAM_STEP;
                used > 0 || made > 0
            }
            Err(e) => {
                s.err = Some(Error::Extension(e));
                s.raw = BytesMut::new();
                s.more = false;
                true
            }
        }
    }

    /// The end of the input once the stream extension has decoded all of
    /// it (end of stream is only an error after the last decoded byte).
    fn end_of_stream_input(&self) -> Result<Option<Event>, Error> {
        if self.shared.stream.as_ref().is_some_and(|s| s.err.is_some()) {
            return Ok(None);
        }
        self.end_of_input()
    }

    #[inline]
    pub(super) fn data_len(&self) -> usize {
        self.rx.len() - self.spare
    }

    /// An idle connection holds no receive buffer: once every received byte
    /// is consumed, the buffer (and any unused lent space) is released; the
    /// next `recv_buf` allocates afresh. (Messages handed out as `Bytes`
    /// keep their part of the old buffer alive on their own.)
    ///
    /// An emptied buffer is dropped even when it has no capacity left: after
    /// the last message was split off it still holds a reference to the
    /// shared allocation, which would otherwise outlive the message.
    ///
    /// A buffer that still holds a few bytes (the start of the next frame
    /// header) but was grown for much more is compacted: those bytes move
    /// to a buffer of their own size, so a peer cannot keep a large
    /// allocation alive with one byte.
    fn release_idle_buffers(&mut self) {
        let len = self.data_len();
        if len == 0 {
            let alloc = self.rx_front as usize + self.rx.capacity();
            if alloc == 0 {
                return;
            }
            if self.spare == 0 && alloc <= KEEP_RX && self.keep_buffers(false) {
                // Kept for the next message (reclaimed by `reuse_rx`),
                // released after the linger.
                return;
            }
            self.rx = BytesMut::new();
            self.rx_front = 0;
            self.spare = 0;
        } else if !self.rf.active && self.pins_too_much(len) {
            let rest = BytesMut::from(self.rx.get(..len).unwrap_or_default());
            self.rx = rest;
            self.rx_front = 0;
            self.spare = 0;
        }
    }

    /// Before new input lands in an empty receive buffer kept from the last
    /// message: takes the whole allocation back (the messages split off it
    /// are gone, so it is the only handle) and starts at its front, without
    /// allocating. Still shared (a message the application keeps): a fresh
    /// buffer, as for an idle connection. A small buffer ([`RX_CHUNK`], a
    /// connection of small messages) is read on into until three quarters
    /// of it lie behind: taken back once per many messages, not for each
    /// (the check of the shared count and the move to the front cost as
    /// much as the rest of a small message's parse). A larger one (large
    /// frames) is taken back at once, so the next frame is read whole into
    /// it.
    #[inline]
    fn reuse_rx(&mut self) {
        let alloc = self.rx_front as usize + self.rx.capacity();
        if alloc == 0 || self.data_len() != 0 || self.spare != 0 {
            return;
        }
        if alloc <= RX_CHUNK && self.rx.capacity() >= alloc / 4 {
            return;
        }
        if self.rx_front > 0 && !self.rx.try_reclaim(alloc) {
            self.rx = BytesMut::new();
        }
        self.rx_front = 0;
    }

    /// Kept buffers not used for a whole `buffer_linger`: released.
    pub(super) fn release_kept(&mut self) {
        self.forget_kept();
        if self.data_len() == 0 && self.spare == 0 {
            self.rx = BytesMut::new();
            self.rx_front = 0;
        }
        if self.tx.is_empty() && self.txb_end == 0 {
            self.tx = Default::default();
            self.txb = alloc::vec::Vec::new();
        }
    }

    /// True if `n` bytes of `rx` would keep alive an allocation much larger
    /// than themselves: more than 4 KiB and more than 4 times `n`.
    #[inline]
    fn pins_too_much(&self, n: usize) -> bool {
        let alloc = self.rx_front as usize + self.rx.capacity();
        alloc > PIN_MIN && alloc / 4 > n
    }

    /// Skips `n` bytes at the front of `rx` (headers, discarded data).
    #[inline]
    pub(super) fn rx_advance(&mut self, n: usize) {
        bytes::Buf::advance(&mut self.rx, n);
        self.rx_front = self
            .rx_front
            .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// Takes the first `n` bytes of `rx` as a payload to hand out. Zero
    /// copy, unless the payload is much smaller than the allocation it
    /// lives in (see `pins_too_much`): then it is copied, so that a small
    /// message an application keeps does not keep a large receive buffer
    /// alive with it. A message never pins more than 4 KiB or 4 times its
    /// own size.
    #[inline]
    pub(super) fn take_rx(&mut self, n: usize) -> Bytes {
        let pins = self.pins_too_much(n);
        self.rx_front = self
            .rx_front
            .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        if pins {
            let copy = Bytes::copy_from_slice(self.rx.get(..n).unwrap_or_default());
            bytes::Buf::advance(&mut self.rx, n);
            return copy;
        }
        self.rx.split_to(n).freeze()
    }

    // Inlined into `poll_event` (its hot caller), as it was before the
    // stream path got a caller of its own.
    #[inline(always)]
    fn next_event(&mut self) -> Result<Option<Event>, Error> {
        if let Codec::Hixie76(_) = self.shared.codec {
            return self.next_hixie_event();
        }
        // Nothing buffered between messages (the usual state once a read's
        // messages are out): no frame to start, no message event pending
        // (those need a message in progress).
        if self.data_len() == 0 && !self.rf.active && self.rm.kind.is_none() {
            return self.end_of_input();
        }
        if let Some(ev) = self.fast_frame()? {
            return Ok(Some(ev));
        }
        loop {
            if self.close_received {
                return Ok(None);
            }
            if let Some(ev) = self.pending_stream_event() {
                return Ok(Some(ev));
            }
            if !self.rf.active {
                if !self.start_frame()? {
                    return self.end_of_input();
                }
                // A new message may have a `MessageStart` to report first.
                continue;
            }
            match self.advance_frame()? {
                Step::Event(ev) => return Ok(Some(ev)),
                Step::Continue => {}
                Step::NeedMore => return self.end_of_input(),
            }
        }
    }

    /// The common case in one step: an RFC 6455 connection between
    /// messages, with the whole of a small unfragmented text or binary frame
    /// (FIN, no RSV bit, 7- or 16-bit length, masked as the role requires,
    /// within every limit, not streamed, no extension to see it) buffered.
    /// It is parsed, unmasked, validated and handed out as the general path
    /// would, without that path's per-frame state. Anything else, errors
    /// included, is left to the general path (`Ok(None)`), which reports
    /// them exactly.
    #[inline]
    fn fast_frame(&mut self) -> Result<Option<Event>, Error> {
        let s = &self.shared;
        if s.fast_recv_end == 0 || self.rf.active || self.rm.kind.is_some() || self.close_received {
            return Ok(None);
        }
        let avail = self.data_len();
        let data = self.rx.get(..avail).unwrap_or_default();
        let Some((SmallHeader { text, key, len }, head)) = FrameHeader::parse_small(data) else {
            return Ok(None);
        };
        if key.is_some() != (self.role == Role::Server) {
            return Ok(None);
        }
        // The limits, worked out once (see `Shared::fast_recv_end`); a
        // frame over them goes the general way, which reports it.
        if len >= s.fast_recv_end as usize {
            return Ok(None);
        }
        if avail < head + len {
            return Ok(None);
        }
        let Some(payload) = self.rx.get_mut(head..head + len) else {
            return Ok(None);
        };
        let ascii = match key {
            Some(key) if text => apply_mask_ascii(payload, key, 0).1,
            Some(key) => {
                apply_mask(payload, key, 0);
                false
            }
            None => false,
        };
        if text && !ascii && crate::utf8::validate(payload).is_err() {
            return Err(PeerError::InvalidUtf8.into());
        }
        self.rx_advance(head);
        let payload = self.take_rx(len);
        self.shared.last_frame = (head + len) as u32;
        Ok(Some(if text {
            Event::Text(Utf8Bytes::from_validated(payload))
        } else {
            Event::Binary(payload)
        }))
    }

    #[inline]
    pub(super) fn end_of_input(&self) -> Result<Option<Event>, Error> {
        let undecoded = self
            .shared
            .stream
            .as_ref()
            .is_some_and(|s| s.err.is_none() && (!s.raw.is_empty() || s.more));
        if self.eof && !self.close_received && !undecoded {
            return Err(PeerError::UnexpectedEof.into());
        }
        Ok(None)
    }

    /// Stream-mode bookkeeping events, in order: start, buffered data, end.
    pub(super) fn pending_stream_event(&mut self) -> Option<Event> {
        let rm = &mut self.rm;
        if rm.start_pending {
            rm.start_pending = false;
            return rm.kind.map(Event::MessageStart);
        }
        if rm.streaming && !self.shared.msg.is_empty() {
            return Some(Event::MessageChunk(Bytes::from(core::mem::take(
                &mut self.shared.msg,
            ))));
        }
        if rm.end_pending {
            self.rm = RecvMessage::default();
            return Some(Event::MessageEnd);
        }
        None
    }

    /// Parses and checks the next header; `false` if it is incomplete.
    fn start_frame(&mut self) -> Result<bool, Error> {
        let data = self.rx.get(..self.data_len()).unwrap_or_default();
        let (h, len, phase) = match self.shared.codec.parse_header(self.role, data)? {
            Status::Complete(v) => v,
            Status::Partial => return Ok(false),
        };
        self.check_header(&h)?;
        self.rx_advance(len);
        if !h.opcode.is_control() {
            self.begin_data_frame(&h);
            let wire = h.payload_len.saturating_add(len as u64);
            self.shared.last_frame = u32::try_from(wire).unwrap_or(u32::MAX);
        }
        let whole = h.opcode.is_control() || self.needs_decode(h.rsv);
        self.rf = RecvFrame {
            remaining: h.payload_len,
            held: 0,
            key: h.mask.unwrap_or_default(),
            phase,
            opcode: h.opcode,
            fin: h.fin,
            rsv: h.rsv,
            active: true,
            masked: h.mask.is_some(),
            whole,
        };
        Ok(true)
    }

    /// Checks what depends on the connection: masking by role (§5.1), RSV
    /// bits (§5.2), fragmentation sequence (§5.4) and limits.
    fn check_header(&self, h: &FrameHeader) -> Result<(), Error> {
        let s = &self.shared;
        s.codec.check_mask(self.role, h.mask.is_some())?;
        let continuation = h.opcode == OpCode::Continuation;
        let bad_rsv = h.rsv & !s.ext_rsv != 0
            || (h.opcode.is_control() && h.rsv != 0)
            || (continuation && h.rsv & s.msg_rsv != 0);
        if bad_rsv {
            return Err(PeerError::ReservedBits(h.rsv).into());
        }
        if h.opcode.is_control() {
            return Ok(());
        }
        match (continuation, self.rm.kind.is_some()) {
            (true, false) => return Err(PeerError::UnexpectedContinuation.into()),
            (false, true) => return Err(PeerError::ExpectedContinuation.into()),
            _ => {}
        }
        self.check_limits(h)
    }

    pub(super) fn check_limits(&self, h: &FrameHeader) -> Result<(), Error> {
        let c = &self.shared.config;
        if h.payload_len > c.max_frame_size {
            return Err(CapacityError::FrameTooLarge {
                size: h.payload_len,
                max: c.max_frame_size,
            }
            .into());
        }
        let (size, frags) = match h.opcode {
            OpCode::Continuation => (self.rm.size, self.rm.fragments),
            _ => (0, 0),
        };
        let total = size.saturating_add(h.payload_len);
        if total > c.max_message_size {
            return Err(CapacityError::MessageTooLarge {
                size: total,
                max: c.max_message_size,
            }
            .into());
        }
        if frags + 1 > c.max_fragments {
            return Err(CapacityError::TooManyFragments {
                size: frags + 1,
                max: c.max_fragments,
            }
            .into());
        }
        Ok(())
    }

    pub(super) fn begin_data_frame(&mut self, h: &FrameHeader) {
        let kind = match h.opcode {
            OpCode::Text => MessageKind::Text,
            OpCode::Binary => MessageKind::Binary,
            _ => {
                self.rm.fragments += 1;
                return;
            }
        };
        let stream_all = self.shared.config.stream_threshold() == 0;
        self.rm = RecvMessage {
            kind: Some(kind),
            rsv: h.rsv,
            fragments: 1,
            streaming: stream_all,
            start_pending: stream_all,
            ..RecvMessage::default()
        };
    }

    /// True if an extension must see this frame (so it is gathered whole).
    fn needs_decode(&self, frame_rsv: u8) -> bool {
        let s = &self.shared;
        s.always_decode || frame_rsv & s.frame_rsv != 0 || self.rm.rsv & s.msg_rsv != 0
    }

    fn is_text(&self) -> bool {
        self.rm.kind == Some(MessageKind::Text)
    }

    /// Unmasks (and, for text not bound for an extension, validates) the
    /// payload bytes that arrived since the last call, then hands the
    /// frame on once it is complete — or, when streaming, what is there.
    fn advance_frame(&mut self) -> Result<Step, Error> {
        self.unmask_new()?;
        let rf = self.rf;
        if rf.remaining > 0 {
            return self.partial_frame();
        }
        self.rf.active = false;
        self.rf.held = 0;
        if !rf.opcode.is_control() && !rf.whole && self.gathers(rf.held, rf.fin) {
            return self.gather_from_rx(rf.held, rf.fin);
        }
        let payload = self.take_rx(rf.held);
        if rf.opcode.is_control() {
            return self.on_control(rf.opcode, payload);
        }
        let payload = if rf.whole {
            self.decode_chain(payload)?
        } else {
            payload
        };
        self.complete_data(payload, rf.fin)
    }

    fn unmask_new(&mut self) -> Result<(), Error> {
        let rf = &mut self.rf;
        let avail = (self.rx.len() - self.spare - rf.held) as u64;
        let n = avail.min(rf.remaining) as usize;
        if n == 0 {
            return Ok(());
        }
        let fresh = self.rx.get_mut(rf.held..rf.held + n).unwrap_or_default();
        let validate = !rf.whole && self.rm.kind == Some(MessageKind::Text);
        let mut ascii = false;
        if rf.masked {
            // ASCII is checked in the unmasking pass; such a piece needs no
            // validation unless a code point is split before it.
            (rf.phase, ascii) = self.shared.codec.unmask(fresh, rf.key, rf.phase, validate);
        }
        rf.held += n;
        rf.remaining -= n as u64;
        if validate && !(ascii && self.rm.utf8.is_boundary()) {
            self.rm
                .utf8
                .feed(fresh)
                .map_err(|_| PeerError::InvalidUtf8)?;
        }
        Ok(())
    }

    /// A data frame still arriving: stream out what is there if the message
    /// is (or just became) streamed.
    pub(super) fn partial_frame(&mut self) -> Result<Step, Error> {
        let rf = self.rf;
        if rf.whole || rf.held == 0 {
            return Ok(Step::NeedMore);
        }
        if !self.rm.streaming {
            let size = self.rm.size.saturating_add(rf.held as u64);
            if size <= self.shared.config.stream_threshold() {
                return Ok(Step::NeedMore);
            }
            self.rm.streaming = true;
            self.rm.start_pending = true;
            return Ok(Step::Continue);
        }
        let chunk = self.take_rx(rf.held);
        self.rf.held = 0;
        self.rm.size += chunk.len() as u64;
        Ok(Step::Event(Event::MessageChunk(chunk)))
    }

    /// A complete (decoded) data frame payload.
    pub(super) fn complete_data(&mut self, payload: Bytes, fin: bool) -> Result<Step, Error> {
        self.count_data(payload.len(), fin)?;
        if !self.rm.streaming && self.rm.size > self.shared.config.stream_threshold() {
            self.rm.streaming = true;
            self.rm.start_pending = true;
        }
        if self.rm.streaming {
            self.rm.end_pending = fin;
            if self.rm.start_pending || !self.shared.msg.is_empty() {
                self.gather(&payload);
                return Ok(Step::Continue);
            }
            return Ok(if payload.is_empty() {
                Step::Continue
            } else {
                Step::Event(Event::MessageChunk(payload))
            });
        }
        if !fin {
            self.gather(&payload);
            return Ok(Step::Continue);
        }
        let whole = if self.shared.msg.is_empty() {
            payload
        } else {
            self.gather(&payload);
            self.take_gathered()
        };
        Ok(Step::Event(self.message_event(whole)))
    }

    /// True if a data frame of `n` payload bytes that needs no extension
    /// joins a message gathered whole (not streamed) in `msg`: a fragment
    /// before the last, or the last of several. Such a frame is copied
    /// from the receive buffer straight into `msg` (`gather_from_rx`), not
    /// taken out as a payload of its own first.
    #[inline]
    fn gathers(&self, n: usize, fin: bool) -> bool {
        !self.rm.streaming
            && (!fin || !self.shared.msg.is_empty())
            && self.rm.size.saturating_add(n as u64) <= self.shared.config.stream_threshold()
    }

    /// [`complete_data`](Self::complete_data) for a frame that
    /// [`gathers`](Self::gathers): its `n` bytes, at the front of the
    /// receive buffer (unmasked and, for text, validated), join `msg`.
    fn gather_from_rx(&mut self, n: usize, fin: bool) -> Result<Step, Error> {
        self.count_data(n, fin)?;
        let Connection { rx, shared, .. } = self;
        let part = rx.get(..n).unwrap_or_default();
        gather_into(&mut shared.msg, shared.msg_hint, part);
        self.rx_advance(n);
        if !fin {
            return Ok(Step::Continue);
        }
        let whole = self.take_gathered();
        Ok(Step::Event(self.message_event(whole)))
    }

    /// A data frame's `n` payload bytes join the message; the last one
    /// ends its text, which must then be whole UTF-8 (§8.1).
    #[inline]
    fn count_data(&mut self, n: usize, fin: bool) -> Result<(), Error> {
        self.rm.size += n as u64;
        if fin && self.is_text() {
            self.rm.utf8.finish().map_err(|_| PeerError::InvalidUtf8)?;
        }
        Ok(())
    }

    /// Appends a fragment to the message gathered in `msg`.
    #[inline]
    fn gather(&mut self, part: &[u8]) {
        gather_into(&mut self.shared.msg, self.shared.msg_hint, part);
    }

    /// The message gathered in `msg`, handed out; its length is the next
    /// one's reservation.
    fn take_gathered(&mut self) -> Bytes {
        let whole = core::mem::take(&mut self.shared.msg);
        self.shared.msg_hint = u32::try_from(whole.len()).unwrap_or(u32::MAX);
        Bytes::from(whole)
    }

    /// The event for a whole message; the message state is reset.
    fn message_event(&mut self, whole: Bytes) -> Event {
        let kind = self.rm.kind;
        self.rm = RecvMessage::default();
        match kind {
            Some(MessageKind::Text) => Event::Text(Utf8Bytes::from_validated(whole)),
            _ => Event::Binary(whole),
        }
    }

    /// Passes a complete frame payload through the extensions that claim
    /// it, in reverse chain order, within the message budget; validates
    /// decoded text.
    fn decode_chain(&mut self, mut payload: Bytes) -> Result<Bytes, Error> {
        let max = self.shared.config.max_message_size;
        let budget = max.saturating_sub(self.rm.size);
        let cap = usize::try_from(budget).unwrap_or(usize::MAX);
        let (frame_rsv, msg_rsv) = (self.rf.rsv, self.rm.rsv);
        let kind = self.rm.kind.unwrap_or(MessageKind::Binary);
        let first = self.rm.fragments == 1;
        for ext in self.shared.exts.iter_mut().rev() {
            let m = ext.rsv_mask();
            let rsv = match ext.granularity() {
                Granularity::Frame => frame_rsv,
                Granularity::Message => msg_rsv,
                Granularity::Stream => continue,
            };
            if m != 0 && rsv & m == 0 {
                continue;
            }
            let meta = FrameMeta {
                kind,
                first,
                fin: self.rf.fin,
                rsv,
            };
            payload = ext.decode(&meta, payload, cap)?;
            if payload.len() > cap {
                let size = self.rm.size.saturating_add(payload.len() as u64);
                return Err(CapacityError::MessageTooLarge { size, max }.into());
            }
        }
        if kind == MessageKind::Text {
            self.rm
                .utf8
                .feed(&payload)
                .map_err(|_| PeerError::InvalidUtf8)?;
        }
        Ok(payload)
    }

    /// Ping, pong, close (§5.5). The close echo repeats the peer's code
    /// (empty for an empty close) and ends the receive side.
    fn on_control(&mut self, op: OpCode, payload: Bytes) -> Result<Step, Error> {
        match op {
            OpCode::Ping => {
                if self.shared.config.auto_pong && !self.close_sent {
                    self.queue_control(OpCode::Pong, payload.clone());
                }
                Ok(Step::Event(Event::Ping(payload)))
            }
            OpCode::Pong => {
                self.shared.pong_at = super::timers::NEVER;
                Ok(Step::Event(Event::Pong(payload)))
            }
            _ => self.on_close(payload),
        }
    }

    fn on_close(&mut self, payload: Bytes) -> Result<Step, Error> {
        let (code, reason, reply) = self.shared.codec.read_close(self.close_sent, payload)?;
        match reply {
            CloseReply::Nothing => {}
            CloseReply::Code(code) => self.queue_close(code, &[]),
            CloseReply::Echo(body) => self.queue_frame(OpCode::Close, true, 0, body),
        }
        self.close_sent = true;
        self.close_received = true;
        self.ending = true;
        self.on_handshake_complete();
        self.drop_input();
        Ok(Step::Event(Event::Close { code, reason }))
    }
}

/// Receive space lent as an owned buffer ([`Connection::lend_recv`],
/// [`Session::lend_recv`](crate::session::Session::lend_recv)): a reader
/// that completes later (io_uring) holds it while its read is in flight
/// and gives it back with the count it filled.
#[derive(Debug)]
pub struct RecvLoan {
    buf: BytesMut,
    /// Split off a connection's receive buffer (else the handshake's own).
    pub(crate) connection: bool,
}

impl RecvLoan {
    /// A loan of `len` zeroed bytes of its own (the handshake's input).
    pub(crate) fn detached(len: usize) -> Self {
        RecvLoan {
            buf: BytesMut::zeroed(len),
            connection: false,
        }
    }

    /// The space to read into (initialized; its address is stable while
    /// the loan is held, even if the loan itself moves).
    pub fn space(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Bytes lent.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True for a loan of no bytes.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The first `n` bytes (what a read filled).
    pub(crate) fn filled(&self, n: usize) -> Option<&[u8]> {
        self.buf.get(..n)
    }
}

/// Appends `part` to a message being gathered in `msg`. The first part
/// reserves the last gathered message's length (`hint`), bounded by
/// [`FRAME_RESERVE`]: a message of several fragments is gathered in one
/// allocation, without the copies of growing by doubling. What a peer can
/// make this reserve ahead of the bytes it sends is bounded by a message
/// it sent before and by 1 MiB.
#[inline]
fn gather_into(msg: &mut alloc::vec::Vec<u8>, hint: u32, part: &[u8]) {
    if msg.capacity() == 0 {
        let hint = usize::try_from(hint)
            .unwrap_or(usize::MAX)
            .min(FRAME_RESERVE);
        msg.reserve(hint.max(part.len()));
    }
    msg.extend_from_slice(part);
}
