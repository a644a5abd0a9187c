//! The send path: commands that queue frames (§5.2-§5.5), client masking
//! (§5.3), outgoing fragmentation (§5.4), the extension chain, and the
//! transmit queue drained by the driver.

use alloc::vec::Vec;

use bytes::{Bytes, BytesMut};

use super::codec::{Built, TX_INLINE};
use super::{Connection, NO_PONG, TransmitPart, TxFrame};

/// A drained send queue of up to this many frames is kept for the next
/// message (`Config::buffer_linger`); a larger one is released.
const KEEP_TX: usize = 32;
/// The same for the contiguous output's buffer, in bytes.
const KEEP_TXB: usize = 128 * 1024;
/// A server copies payloads up to this size into the contiguous output
/// (a copy costs less than a slice of its own to write and a shared
/// reference to count); larger ones are written vectored, zero copy.
/// Measured (callgrind, the codec bench's 1 KiB encode): queued zero copy,
/// about 800 instructions per message besides the copies; copied, 540. A
/// 2 KiB copy is still a vector loop, not `rep movsb`.
pub(super) const COPY_MAX: usize = 2048;
// The fast path's length field (`small_max`) and header are 16-bit.
const _: () = assert!(COPY_MAX <= u16::MAX as usize);
/// A client copies (to mask) payloads up to this size into the contiguous
/// output; a larger frame is built in a buffer of its own.
pub(super) const MASK_COPY_MAX: usize = 64 * 1024;
/// `dst.copy_from_slice(src)` (same lengths) for the short payloads of
/// small frames without a call to `memcpy`: two overlapping fixed-size
/// copies, which compile to a few moves.
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if n != dst.len() {
        return;
    }
    if n > 32 {
        dst.copy_from_slice(src);
    } else if n >= 16 {
        copy_ends::<16>(dst, src);
    } else if n >= 8 {
        copy_ends::<8>(dst, src);
    } else if n >= 4 {
        copy_ends::<4>(dst, src);
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    }
}

/// The first and the last `K` bytes of `src` (`K <= len <= 2K`) into `dst`.
#[inline(always)]
fn copy_ends<const K: usize>(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if let (Some(d), Some(s)) = (dst.get_mut(..K), src.get(..K)) {
        d.copy_from_slice(s);
    }
    if let (Some(d), Some(s)) = (dst.get_mut(n - K..), src.get(n - K..)) {
        d.copy_from_slice(s);
    }
}

/// The contiguous output's first reservation.
const TXB_FIRST: usize = 512;
/// The contiguous output grows no further (frames are queued on their
/// own past it): its offsets are 32-bit.
const TXB_LIMIT: usize = 1 << 30;
use crate::Instant;
use crate::close::{CloseCode, MAX_REASON_LEN};
use crate::config::Role;
use crate::error::{Error, UsageError};
use crate::event::{Message, MessageKind, Utf8Bytes};
use crate::extension::{FrameMeta, Granularity};
use crate::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode};
use crate::mask::apply_mask;

fn opcode_of(kind: MessageKind) -> OpCode {
    match kind {
        MessageKind::Text => OpCode::Text,
        MessageKind::Binary => OpCode::Binary,
    }
}

/// Queued output frames beyond which a new automatic pong replaces the last
/// queued one instead of being added (RFC 6455 §5.5.3): below it every ping
/// gets its own pong, past it a ping flood cannot grow the queue.
pub const PONG_COALESCE_FRAMES: usize = 64;
/// Queued output bytes beyond which a new automatic pong replaces the last
/// queued one (see [`PONG_COALESCE_FRAMES`]).
pub const PONG_COALESCE_BYTES: usize = 16 * 1024;

/// A message to send to many connections with
/// [`Connection::send_prepared`]: its payload, and its encodings by the
/// connections' extensions, one per parameter set, made as they are needed.
///
/// ```
/// use ws_proto::{Config, Connection, Instant, Prepared};
///
/// let now = Instant::ZERO;
/// let mut msg = Prepared::text("to everyone");
/// let mut a = Connection::server(Config::default(), now)?;
/// let mut b = Connection::server(Config::default(), now)?;
/// a.send_prepared(&mut msg)?;
/// b.send_prepared(&mut msg)?;
/// // No extension here: nothing to share, nothing stored.
/// assert_eq!(msg.encodings(), 0);
/// # Ok::<(), ws_proto::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Prepared {
    kind: MessageKind,
    payload: Bytes,
    encoded: Vec<(u64, Bytes, u8)>,
}

impl Prepared {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Prepared {
        Prepared::new(MessageKind::Text, text.into().into_bytes())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Prepared {
        Prepared::new(MessageKind::Binary, data.into())
    }

    fn new(kind: MessageKind, payload: Bytes) -> Prepared {
        Prepared {
            kind,
            payload,
            encoded: Vec::new(),
        }
    }

    /// The message's kind.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The payload as given.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// How many encodings are stored (one per extension parameter set that
    /// could share its encoding).
    pub fn encodings(&self) -> usize {
        self.encoded.len()
    }
}

impl Connection {
    /// Sends `msg`: the [`send_text`](Self::send_text),
    /// [`send_binary`](Self::send_binary), [`send_ping`](Self::send_ping),
    /// [`send_pong`](Self::send_pong) or [`close`](Self::close) it stands
    /// for (`now` serves the close, which arms the close timer).
    pub fn send(&mut self, now: Instant, msg: Message) -> Result<(), Error> {
        match msg {
            Message::Text(t) => self.send_text(t),
            Message::Binary(b) => self.send_binary(b),
            Message::Ping(p) => self.send_ping(p),
            Message::Pong(p) => self.send_pong(p),
            Message::Close { code, reason } => self.close(now, code, reason.as_str()),
        }
    }

    /// Sends a text message (§5.6), fragmented per `fragment_size`.
    pub fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), Error> {
        self.send_owned(MessageKind::Text, text.into().into_bytes())
    }

    /// A whole message the caller handed over: small, copied into the
    /// output; large on a plain server, queued as `data` itself; else
    /// through the general path (recording, extensions, fragments).
    #[inline]
    fn send_owned(&mut self, kind: MessageKind, data: Bytes) -> Result<(), Error> {
        if self.try_send_small(kind, &data) {
            return Ok(());
        }
        if self.sends_large(data.len()) {
            self.queue_plain(opcode_of(kind), true, data);
            return Ok(());
        }
        if self.recording() {
            self.log_rec(|r| r.send(kind, &data));
        }
        self.send_whole(kind, data)
    }

    /// Whether a server's unfragmented message of `len` bytes, past
    /// [`COPY_MAX`] on a plain RFC 6455 connection, can be queued behind
    /// its header (§5.2) without a copy, straight, without the general
    /// path's extension chain and codec. False where that path is needed.
    /// The caller then hands its `Bytes` itself to
    /// [`queue_plain`](Self::queue_plain): no second reference to count
    /// and drop.
    #[inline]
    fn sends_large(&self, len: usize) -> bool {
        let s = &*self.shared;
        // `small_max` is 0 unless the connection is plain RFC 6455 framing
        // without extensions.
        s.small_max != 0
            && len > COPY_MAX
            && s.config.fragment_size.is_none_or(|n| len <= n)
            && self.fast_send_open()
    }

    /// Queues a server's unmasked RFC 6455 frame without extension bits
    /// behind its header (§5.2), zero copy: what `build_frame` does for
    /// it, without the codec. Only for a plain connection's server side.
    #[inline]
    fn queue_plain(&mut self, opcode: OpCode, fin: bool, payload: Bytes) {
        let len = payload.len();
        self.push_plain(opcode, fin, len, TxFrame::new([0; TX_INLINE], 0, payload));
    }

    /// Queues bytes `start..end` of the message being sent in fragments
    /// as a server's unmasked frame (§5.4) that views the message rather
    /// than holding a slice of it: the message is handed to the first of
    /// its views once all are queued (see `frame_message`). Returns the
    /// view's index in the queue.
    #[inline]
    fn queue_view(&mut self, opcode: OpCode, fin: bool, start: u32, end: u32) -> usize {
        let mut frame = TxFrame::new([0; TX_INLINE], 0, Bytes::new());
        frame.view = true;
        frame.view_start = start;
        frame.view_len = end - start;
        self.push_plain(opcode, fin, (end - start) as usize, frame);
        self.tx.len() - 1
    }

    /// Puts the header of a server's unmasked frame of `len` payload bytes
    /// into `frame` and queues it.
    #[inline]
    fn push_plain(&mut self, opcode: OpCode, fin: bool, len: usize, mut frame: TxFrame) {
        let header = FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask: None,
            payload_len: len as u64,
        };
        let (head, head_len) = header.to_bytes();
        if let (Some(d), Some(h)) = (frame.head.get_mut(..MAX_HEADER_LEN), head.get(..)) {
            d.copy_from_slice(h);
        }
        frame.head_len = head_len as u8;
        self.seal_tail();
        if self.tx_len == 0 {
            self.tx_started();
        }
        self.tx_len += head_len + len;
        self.tx.push_back(frame);
    }

    /// Sends a binary message (§5.6). On a server a payload over 2 KiB is
    /// queued without a copy (a smaller one is copied into the output,
    /// which costs less than a slice of its own to write); a client copies
    /// it once, masked, into the output.
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.send_owned(MessageKind::Binary, data.into())
    }

    /// Sends a text message from a borrowed string: it is copied, straight
    /// into the output when it is small (or, for a client, masked there),
    /// so sending a small message allocates nothing and counts no shared
    /// reference. For a payload the caller already holds as
    /// [`Utf8Bytes`] / [`Bytes`], [`send_text`](Self::send_text) queues it
    /// without a copy.
    ///
    /// ```
    /// use ws_proto::{Config, Connection, Instant};
    ///
    /// let mut server = Connection::server(Config::default(), Instant::ZERO)?;
    /// server.send_text_slice("hello")?;
    /// let mut wire = Vec::new();
    /// server.poll_transmit(&mut wire);
    /// assert_eq!(wire, b"\x81\x05hello");
    /// # Ok::<(), ws_proto::Error>(())
    /// ```
    pub fn send_text_slice(&mut self, text: &str) -> Result<(), Error> {
        self.send_slice(MessageKind::Text, text.as_bytes())
    }

    /// Sends a binary message from a borrowed slice, copied as
    /// [`send_text_slice`](Self::send_text_slice) copies text.
    pub fn send_binary_slice(&mut self, data: &[u8]) -> Result<(), Error> {
        self.send_slice(MessageKind::Binary, data)
    }

    #[inline]
    fn send_slice(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), Error> {
        if self.try_send_small(kind, data) {
            return Ok(());
        }
        self.send_slice_slow(kind, data)
    }

    /// What both send fast paths need besides the message's size: a server
    /// (no mask), no recording, a connection still sending, and no
    /// fragmented message of the caller's in progress.
    #[inline]
    fn fast_send_open(&self) -> bool {
        self.role == Role::Server
            && self.shared.rec.is_none()
            && self.err.is_none()
            && !self.close_sent
            && self.send_kind.is_none()
    }

    /// A server's message up to [`COPY_MAX`] on a plain connection with
    /// room in the contiguous output: a 2-byte header, or a 4-byte one past
    /// 125 bytes (§5.2), and the payload, copied. False (nothing done) if
    /// any of that does not hold.
    #[inline]
    fn try_send_small(&mut self, kind: MessageKind, data: &[u8]) -> bool {
        let len = data.len();
        if len > usize::from(self.shared.small_max) || !self.fast_send_open() {
            return false;
        }
        let at = self.txb_end as usize;
        let short = len <= 125;
        let n = if short { 2 + len } else { 4 + len };
        let Some(dst) = self.txb.get_mut(at..at + n) else {
            return false;
        };
        let first = 0x80 | opcode_of(kind) as u8;
        if short {
            if let [h0, h1, body @ ..] = dst {
                *h0 = first;
                *h1 = len as u8;
                copy_short(body, data);
            }
        } else if let [h0, h1, h2, h3, body @ ..] = dst {
            let [b2, b3] = (len as u16).to_be_bytes();
            (*h0, *h1, *h2, *h3) = (first, 126, b2, b3);
            body.copy_from_slice(data);
        }
        self.txb_end = (at + n) as u32;
        if self.tx_len == 0 {
            self.tx_started();
        }
        self.tx_len += n;
        true
    }

    fn send_slice_slow(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), Error> {
        if self.recording() {
            self.log_rec(|r| r.send(kind, data));
        }
        self.check_message(kind)?;
        let one_frame = match self.shared.config.fragment_size {
            Some(n) => data.len() <= n || !self.shared.codec.fragments(),
            None => true,
        };
        // The payload is copied either way: into the contiguous output
        // (up to `MASK_COPY_MAX`, in either role) rather than a buffer of
        // its own.
        if one_frame
            && self.shared.exts.is_empty()
            && self.queue_contiguous_upto(opcode_of(kind), true, 0, data, MASK_COPY_MAX)
        {
            return Ok(());
        }
        self.send_message(kind, Bytes::copy_from_slice(data), true, true)
    }

    /// Sends a message prepared for many connections (a broadcast): the
    /// same as [`send_text`](Self::send_text) /
    /// [`send_binary`](Self::send_binary) of its payload, except that the
    /// extensions' encoding is taken from `msg` when a connection with the
    /// same parameters already encoded it (see
    /// [`Extension::shared_encoding`](crate::Extension::shared_encoding)), and stored there otherwise. With
    /// permessage-deflate negotiated without server context takeover, a
    /// message to N compressing peers is compressed once per parameter set
    /// instead of N times; with context takeover (or no extension) each
    /// connection encodes as usual.
    pub fn send_prepared(&mut self, msg: &mut Prepared) -> Result<(), Error> {
        if self.recording() {
            self.log_rec(|r| r.send_prepared(msg.kind, &msg.payload));
        }
        self.check_message(msg.kind)?;
        let Some(key) = self.shared_key() else {
            return self.send_message(msg.kind, msg.payload.clone(), true, true);
        };
        let (data, rsv) = match msg.encoded.iter().find(|e| e.0 == key) {
            Some((_, data, rsv)) => (data.clone(), *rsv),
            None => {
                let (data, rsv) = self.encode_chain(
                    Granularity::Message,
                    msg.kind,
                    msg.payload.clone(),
                    true,
                    true,
                    0,
                )?;
                msg.encoded.push((key, data.clone(), rsv));
                (data, rsv)
            }
        };
        self.frame_message(msg.kind, data, rsv, true, true)
    }

    /// The combined sharing key of the extension chain, if every extension
    /// works per message and can share its encoding.
    fn shared_key(&self) -> Option<u64> {
        let exts = &self.shared.exts;
        if exts.is_empty() {
            return None;
        }
        let mut key = 0xcbf2_9ce4_8422_2325u64;
        for e in exts {
            if e.granularity() != Granularity::Message {
                return None;
            }
            key = (key ^ e.shared_encoding()?).wrapping_mul(0x0100_0000_01b3);
        }
        Some(key)
    }

    /// Sends one part of a message sent in parts (§5.4): the first call
    /// starts a message of `kind`, `fin` ends it. Parts of a text message may
    /// split code points; their concatenation must be UTF-8 (checked).
    /// Control frames may be sent between parts.
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: impl Into<Bytes>,
        fin: bool,
    ) -> Result<(), Error> {
        let data = data.into();
        if self.recording() {
            self.log_rec(|r| r.send_fragment(kind, &data, fin));
        }
        self.check_send()?;
        self.check_in_dialect("send_fragment", OpCode::Continuation)?;
        let first = match self.send_kind {
            None => true,
            Some(k) if k == kind => false,
            Some(_) => return Err(UsageError::MessageInProgress.into()),
        };
        if kind == MessageKind::Text {
            let mut v = if first {
                crate::Utf8Validator::new()
            } else {
                self.send_utf8
            };
            v.feed(&data).map_err(|_| UsageError::InvalidUtf8)?;
            if fin {
                v.finish().map_err(|_| UsageError::InvalidUtf8)?;
            }
            self.send_utf8 = v;
        }
        self.send_kind = if fin { None } else { Some(kind) };
        self.send_message(kind, data, first, fin)
    }

    /// Sends a ping (§5.5.2) with at most 125 bytes of payload.
    pub fn send_ping(&mut self, payload: impl Into<Bytes>) -> Result<(), Error> {
        let payload = payload.into();
        if self.recording() {
            self.log_rec(|r| r.control(false, &payload));
        }
        self.send_control(OpCode::Ping, payload)
    }

    /// Sends an unsolicited pong (§5.5.3), e.g. as a heartbeat, or a reply
    /// when `auto_pong` is off.
    pub fn send_pong(&mut self, payload: impl Into<Bytes>) -> Result<(), Error> {
        let payload = payload.into();
        if self.recording() {
            self.log_rec(|r| r.control(true, &payload));
        }
        self.send_control(OpCode::Pong, payload)
    }

    /// Starts the closing handshake (§7.1.2) with `code` and a reason of at
    /// most 123 bytes. Data sends fail afterwards; incoming data is still
    /// delivered until the peer's close arrives or `close_timeout` expires.
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) -> Result<(), Error> {
        if self.recording() {
            self.log_rec(|r| r.close(now, code, reason));
        }
        self.check_send()?;
        if !self.shared.codec.allows(code) {
            return Err(UsageError::InvalidCloseCode(code.0).into());
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(UsageError::ReasonTooLong { size: reason.len() }.into());
        }
        self.timers.touch(&self.shared.config, now, false);
        self.start_close(Some(code), reason.as_bytes());
        Ok(())
    }

    /// Ends the connection now, without waiting for the peer: queues a
    /// close frame with `code` and `reason` (unless a close was already
    /// sent; the reason is cut to 123 bytes), drops every received byte not
    /// yet handed out, and fails the connection with
    /// [`Error::Aborted`]: later calls report it, and
    /// [`wants_close`](Connection::wants_close) turns
    /// true once the close frame is written (or at `close_timeout`). For a
    /// server shedding load (1013, §7.4.1) or refusing a peer (1008). Does
    /// nothing on a connection that already failed.
    pub fn abort(&mut self, code: CloseCode, reason: &str) {
        if self.recording() {
            self.log_rec(|r| r.abort(code, reason));
        }
        if self.err.is_some() {
            return;
        }
        if !self.close_sent {
            // Dialects without status codes get their bare close frame.
            let code = self.shared.codec.allows(code).then_some(code);
            self.queue_close(code, reason.as_bytes());
            self.close_sent = true;
            self.ending = true;
        }
        self.fail(Error::Aborted(code));
    }

    fn check_send(&self) -> Result<(), Error> {
        self.check_failed()?;
        if self.close_sent {
            return Err(UsageError::AlreadyClosing.into());
        }
        Ok(())
    }

    /// Refuses a call (`op`, sending `opcode`) the dialect has no frame for
    /// (hixie-76 has text messages and the closing handshake only).
    #[inline]
    fn check_in_dialect(&self, op: &'static str, opcode: OpCode) -> Result<(), Error> {
        if self.shared.codec.has(opcode) {
            return Ok(());
        }
        Err(UsageError::NotInDialect {
            op,
            dialect: self.shared.codec.dialect(),
        }
        .into())
    }

    fn send_whole(&mut self, kind: MessageKind, data: Bytes) -> Result<(), Error> {
        self.check_message(kind)?;
        self.send_message(kind, data, true, true)
    }

    /// What a whole message of `kind` needs before it is queued: a
    /// connection still sending, a dialect with its frame, and no
    /// fragmented message of the caller's in progress.
    fn check_message(&self, kind: MessageKind) -> Result<(), Error> {
        self.check_send()?;
        self.check_in_dialect("send_binary", opcode_of(kind))?;
        if self.send_kind.is_some() {
            return Err(UsageError::MessageInProgress.into());
        }
        Ok(())
    }

    fn send_control(&mut self, op: OpCode, payload: Bytes) -> Result<(), Error> {
        self.check_send()?;
        let name = if op == OpCode::Ping {
            "send_ping"
        } else {
            "send_pong"
        };
        self.check_in_dialect(name, op)?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(UsageError::ControlTooLong {
                size: payload.len(),
            }
            .into());
        }
        self.queue_control(op, payload);
        Ok(())
    }

    /// Message extensions, fragmentation, frame extensions, queue.
    #[inline]
    fn send_message(
        &mut self,
        kind: MessageKind,
        data: Bytes,
        first: bool,
        fin: bool,
    ) -> Result<(), Error> {
        let (data, msg_rsv) = self.encode_chain(Granularity::Message, kind, data, first, fin, 0)?;
        self.frame_message(kind, data, msg_rsv, first, fin)
    }

    /// Fragmentation, frame extensions, queue: a message (or part) after
    /// the message extensions.
    fn frame_message(
        &mut self,
        kind: MessageKind,
        data: Bytes,
        msg_rsv: u8,
        first: bool,
        fin: bool,
    ) -> Result<(), Error> {
        // hixie-76 has no fragments: a message is one frame.
        let step = match self.shared.config.fragment_size {
            Some(n) if self.shared.codec.fragments() => n.max(1),
            _ => usize::MAX,
        };
        if data.len() <= step && self.shared.exts.is_empty() {
            let op = if first {
                opcode_of(kind)
            } else {
                OpCode::Continuation
            };
            self.queue_frame(op, fin, msg_rsv, data);
            return Ok(());
        }
        let count = data.len().div_ceil(step).max(1);
        // A plain connection (RFC 6455 framing, no extension): a fragment
        // is copied into the output (a client's masked there) up to
        // `queue_contiguous`'s limit without a shared slice of its own,
        // else queued, a server's zero copy behind its header.
        let plain = self.shared.exts.is_empty() && self.shared.small_max > 0;
        // Past this a fragment is queued, not copied: looked at here,
        // without the call to `queue_contiguous`, for every fragment.
        let copy_max = self.copy_max();
        // A server's fragments past the copy limit view the message, which
        // the first of them holds (`queue_view`): no reference counted per
        // fragment. Its index, once queued.
        let views = plain && self.role == Role::Server && u32::try_from(data.len()).is_ok();
        let mut holder = None;
        let mut data = data;
        for i in 0..count {
            let start = i.saturating_mul(step).min(data.len());
            let end = start.saturating_add(step).min(data.len());
            let head = first && i == 0;
            let last = fin && i + 1 == count;
            let op = if head {
                opcode_of(kind)
            } else {
                OpCode::Continuation
            };
            if plain {
                let piece = data.get(start..end).unwrap_or_default();
                if piece.len() > copy_max || !self.queue_contiguous(op, last, 0, piece) {
                    if views {
                        // Within u32: the message's length is.
                        let at = self.queue_view(op, last, start as u32, end as u32);
                        holder.get_or_insert(at);
                        continue;
                    }
                    let piece = fragment(&mut data, start, end, i + 1 == count);
                    match self.role {
                        Role::Server => self.queue_plain(op, last, piece),
                        Role::Client => self.queue_frame(op, last, 0, piece),
                    }
                }
                continue;
            }
            let rsv = if head { msg_rsv } else { 0 };
            let (piece, rsv) = self.encode_chain(
                Granularity::Frame,
                kind,
                fragment(&mut data, start, end, i + 1 == count),
                head,
                last,
                rsv,
            )?;
            self.queue_frame(op, last, rsv, piece);
        }
        // Nothing was written meanwhile (the queue's front did not move):
        // the first view takes the message.
        if let Some(first) = holder.and_then(|i| self.tx.get_mut(i)) {
            debug_assert!(first.view && first.payload.is_empty());
            first.payload = data;
        }
        Ok(())
    }

    /// Runs the extensions of one granularity over outgoing data, in chain
    /// order. An encoding failure is ours: the connection fails (1011).
    #[inline]
    fn encode_chain(
        &mut self,
        g: Granularity,
        kind: MessageKind,
        data: Bytes,
        first: bool,
        fin: bool,
        rsv: u8,
    ) -> Result<(Bytes, u8), Error> {
        if self.shared.exts.is_empty() {
            return Ok((data, rsv));
        }
        self.encode_chain_slow(g, kind, data, first, fin, rsv)
    }

    fn encode_chain_slow(
        &mut self,
        g: Granularity,
        kind: MessageKind,
        mut data: Bytes,
        first: bool,
        fin: bool,
        mut rsv: u8,
    ) -> Result<(Bytes, u8), Error> {
        for i in 0..self.shared.exts.len() {
            let Some(ext) = self.shared.exts.get_mut(i) else {
                break;
            };
            if ext.granularity() != g {
                continue;
            }
            let meta = FrameMeta {
                kind,
                first,
                fin,
                rsv,
            };
            match ext.encode(&meta, data) {
                Ok(enc) => {
                    rsv |= enc.rsv & ext.rsv_mask();
                    data = enc.payload;
                }
                Err(e) => return Err(self.fail(Error::Extension(e))),
            }
        }
        Ok((data, rsv))
    }

    /// Queues a control frame. Every ping gets its own pong while the
    /// output backlog is small (peers such as Autobahn's 2.10 expect one
    /// pong per ping of a burst); once the backlog passes
    /// [`PONG_COALESCE_FRAMES`] frames or [`PONG_COALESCE_BYTES`] bytes, a
    /// pong replaces the queued, not yet started one instead, as §5.5.3
    /// allows, so a ping flood against a peer that does not read cannot
    /// grow the queue.
    pub(super) fn queue_control(&mut self, op: OpCode, payload: Bytes) {
        let backlogged =
            self.tx.len() >= PONG_COALESCE_FRAMES || self.tx_len >= PONG_COALESCE_BYTES;
        if op == OpCode::Pong && backlogged && self.replace_pong(&payload) {
            return;
        }
        self.queue_frame(op, true, 0, payload);
        if op == OpCode::Pong {
            self.pong_idx = (self.tx.len() - 1) as u32;
        }
    }

    fn replace_pong(&mut self, payload: &Bytes) -> bool {
        // None queued, or it is at the front (it may have started).
        if self.pong_idx == NO_PONG || self.pong_idx == 0 {
            return false;
        }
        if self.shared.has_stream {
            // The stream encoder has consumed the queued pong already: keep
            // it and answer only that ping.
            return true;
        }
        let idx = self.pong_idx as usize;
        let frame = self.build_frame(OpCode::Pong, true, 0, payload.clone());
        let Some(slot) = self.tx.get_mut(idx) else {
            return false;
        };
        self.tx_len = self.tx_len - slot.len() + frame.len();
        *slot = frame;
        true
    }

    /// Queues a close frame (§5.5.1): empty for `None`, else code + reason
    /// (per dialect: hybi-05 sends its initiator byte and the reason,
    /// hixie-76 `0xFF 0x00`).
    pub(super) fn queue_close(&mut self, code: Option<CloseCode>, reason: &[u8]) {
        let reason = reason
            .get(..reason.len().min(MAX_REASON_LEN))
            .unwrap_or_default();
        let body = self.shared.codec.close_body(self.role, code, reason);
        self.queue_frame(OpCode::Close, true, 0, body);
    }

    #[inline]
    pub(super) fn queue_frame(&mut self, op: OpCode, fin: bool, rsv: u8, payload: Bytes) {
        if self.queue_contiguous(op, fin, rsv, &payload) {
            return;
        }
        self.seal_tail();
        let frame = self.build_frame(op, fin, rsv, payload);
        if self.tx_len == 0 {
            self.tx_started();
        }
        self.tx_len += frame.len();
        self.tx.push_back(frame);
    }

    /// Writes an RFC 6455 frame whole (header, then the payload, masked
    /// in place for a client, §5.3) at the end of the contiguous output
    /// when it pays: a server's payloads up to [`COPY_MAX`] (larger ones
    /// are queued as they are, zero copy, written vectored), a client's up
    /// to [`MASK_COPY_MAX`] (it copies them anyway, to mask them). False
    /// if the frame is to be queued on its own: a pong (a later one may
    /// replace it, §5.5.3), another dialect, a stream extension.
    #[inline]
    fn queue_contiguous(&mut self, op: OpCode, fin: bool, rsv: u8, payload: &[u8]) -> bool {
        self.queue_contiguous_upto(op, fin, rsv, payload, self.copy_max())
    }

    /// The largest payload [`queue_contiguous`](Self::queue_contiguous)
    /// copies into the output for this role.
    #[inline]
    fn copy_max(&self) -> usize {
        match self.role {
            Role::Server => COPY_MAX,
            Role::Client => MASK_COPY_MAX,
        }
    }

    /// [`queue_contiguous`](Self::queue_contiguous) for payloads up to
    /// `max`.
    #[inline]
    fn queue_contiguous_upto(
        &mut self,
        op: OpCode,
        fin: bool,
        rsv: u8,
        payload: &[u8],
        max: usize,
    ) -> bool {
        if payload.len() > max
            || op == OpCode::Pong
            || !self.shared.codec.is_rfc()
            || self.shared.has_stream
            || self.txb_end as usize + payload.len() + MAX_HEADER_LEN > TXB_LIMIT
        {
            return false;
        }
        let mask = match (self.role, self.shared.rng.as_deref_mut()) {
            (Role::Client, Some(rng)) => Some(rng.next_u32().to_ne_bytes()),
            (Role::Client, None) => return false,
            (Role::Server, _) => None,
        };
        let header = FrameHeader {
            fin,
            rsv,
            opcode: op,
            mask,
            payload_len: payload.len() as u64,
        };
        let (head, head_len) = header.to_bytes();
        let n = head_len + payload.len();
        let at = self.txb_end as usize;
        // Room for the whole header array, written in one fixed-size copy.
        let need = at + MAX_HEADER_LEN + payload.len();
        if self.txb.len() < need {
            let room = need.next_power_of_two().clamp(TXB_FIRST, TXB_LIMIT);
            self.txb.resize(room, 0);
        }
        if let Some(dst) = self.txb.get_mut(at..at + MAX_HEADER_LEN) {
            dst.copy_from_slice(&head);
        }
        let start = at + head_len;
        if let Some(body) = self.txb.get_mut(start..start + payload.len()) {
            copy_short(body, payload);
            if let Some(key) = mask {
                apply_mask(body, key, 0);
            }
        }
        self.txb_end = (at + n) as u32;
        if self.tx_len == 0 {
            self.tx_started();
        }
        self.tx_len += n;
        true
    }

    /// The front entry is written: drop it (the queued pong moves up).
    #[inline]
    fn pop_front(&mut self) {
        let front = self.tx.pop_front();
        if let Some(front) = front.filter(TxFrame::holds_message) {
            // The message goes to its next fragment still queued: the
            // first entry after this one that is not a run of the
            // contiguous output (only runs come between a message's
            // fragments), if it is a view that holds nothing.
            let next = self.tx.iter_mut().find(|f| f.run == 0);
            if let Some(next) = next.filter(|f| f.view && f.payload.is_empty()) {
                next.payload = front.payload;
            }
        }
        self.pong_idx = match self.pong_idx {
            0 | NO_PONG => NO_PONG,
            i => i - 1,
        };
    }

    /// Before a frame queued on its own: what the contiguous output holds
    /// past the queued entries becomes an entry, so that order is kept.
    fn seal_tail(&mut self) {
        let tail = (self.txb_end - self.txb_sealed) as usize;
        if tail == 0 {
            return;
        }
        let mut run = TxFrame::new([0; TX_INLINE], 0, Bytes::new());
        run.run = tail as u32;
        self.tx.push_back(run);
        self.txb_sealed = self.txb_end;
    }

    /// Builds the wire form (the codec's): a server's payload is queued as
    /// is behind its header; a client's is copied once, masked; a stream
    /// extension encodes header and payload together.
    #[inline]
    fn build_frame(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: Bytes) -> TxFrame {
        let s = &mut *self.shared;
        let rng = s
            .rng
            .as_deref_mut()
            .map(|r| r as &mut (dyn rand_core::Rng + Send));
        let wire = match s.codec.build(self.role, rng, opcode, fin, rsv, &payload) {
            Built::Split(head, head_len) if !s.has_stream => {
                let mut inline = [0; TX_INLINE];
                if let (Some(d), Some(h)) = (inline.get_mut(..head_len), head.get(..head_len)) {
                    d.copy_from_slice(h);
                }
                return TxFrame::new(inline, head_len, payload);
            }
            Built::Inline(frame, len) if !s.has_stream => {
                return TxFrame::new(frame, len, Bytes::new());
            }
            Built::Inline(frame, len) => BytesMut::from(frame.get(..len).unwrap_or_default()),
            Built::Split(head, head_len) => {
                let mut wire = BytesMut::with_capacity(head_len + payload.len());
                wire.extend_from_slice(head.get(..head_len).unwrap_or_default());
                wire.extend_from_slice(&payload);
                wire
            }
            Built::Whole(wire) => wire,
        };
        let wire = self.stream_encode(wire);
        TxFrame::new([0; TX_INLINE], 0, wire)
    }

    pub(super) fn stream_encode(&mut self, wire: BytesMut) -> Bytes {
        if !self.shared.has_stream {
            return wire.freeze();
        }
        let mut data = wire;
        for ext in self.shared.exts.iter_mut() {
            if ext.granularity() != Granularity::Stream {
                continue;
            }
            let mut out = BytesMut::new();
            if let Err(e) = ext.encode_stream(&data, &mut out) {
                // The byte stream is broken: nothing more can be sent, not
                // even a close frame. Fail without one.
                if self.err.is_none() {
                    self.err = Some(alloc::boxed::Box::new(Error::Extension(e)));
                    self.close_sent = true;
                    self.ending = true;
                }
                return Bytes::new();
            }
            data = out;
        }
        data.freeze()
    }
}

/// Fragment `start..end` of a message's `data`: a shared slice (a
/// reference count) for every fragment but the last, which takes `data`
/// itself (its end is the message's end), so a message sent in `n`
/// fragments counts `n - 1` references, not `n` and a drop.
#[inline]
fn fragment(data: &mut Bytes, start: usize, end: usize, last: bool) -> Bytes {
    if !last {
        return data.slice(start..end);
    }
    debug_assert_eq!(end, data.len(), "the last fragment ends the message");
    let mut rest = core::mem::take(data);
    bytes::Buf::advance(&mut rest, start);
    rest
}

/// Draining the transmit queue.
impl Connection {
    /// Bytes waiting to be written to the transport.
    #[inline]
    pub fn pending_transmit(&self) -> usize {
        self.tx_len
    }

    /// Appends all pending output to `out` and returns how many bytes were
    /// appended.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.tx_len;
        out.reserve(n);
        self.for_each_part(|part| {
            out.extend_from_slice(part);
            true
        });
        self.advance_transmit(n);
        n
    }

    /// The pending output when it is one contiguous slice (only small
    /// frames are waiting, the common case of a busy connection), else
    /// `None`: write it with one plain `write` instead of filling an array
    /// of slices, then call [`advance_transmit`](Self::advance_transmit).
    ///
    /// ```
    /// use ws_proto::{Config, Connection, Instant};
    ///
    /// let mut server = Connection::server(Config::default(), Instant::ZERO)?;
    /// assert_eq!(server.contiguous_transmit(), None);
    /// server.send_binary_slice(b"ab")?;
    /// server.send_binary_slice(b"cd")?;
    /// assert_eq!(server.contiguous_transmit(), Some(&b"\x82\x02ab\x82\x02cd"[..]));
    /// server.advance_transmit(8);
    /// assert_eq!(server.contiguous_transmit(), None);
    /// # Ok::<(), ws_proto::Error>(())
    /// ```
    #[inline]
    pub fn contiguous_transmit(&self) -> Option<&[u8]> {
        if !self.tx.is_empty() {
            return None;
        }
        self.txb
            .get(self.txb_off as usize..self.txb_end as usize)
            .filter(|t| !t.is_empty())
    }

    /// Fills `out` with the pending output as slices (header and payload of
    /// each frame separately, so large payloads are written vectored, not
    /// concatenated). Returns the number of slices filled; follow a write
    /// with [`advance_transmit`](Connection::advance_transmit).
    pub fn transmit_slices<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        let mut n = 0;
        self.for_each_part(|part| match out.get_mut(n) {
            Some(slot) => {
                *slot = part;
                n += 1;
                true
            }
            None => false,
        });
        n
    }

    /// Calls `f` with each non-empty part of the pending output in order
    /// (header, payload, next header, ...) while it returns true.
    fn for_each_part<'a>(&'a self, mut f: impl FnMut(&'a [u8]) -> bool) {
        self.for_each_transmit_part(|part| f(part.as_slice()));
    }

    /// Calls `f` with each non-empty part of the pending output in order
    /// while it returns true: a frame header (or a small frame whole) as
    /// [`TransmitPart::Inline`], a payload as [`TransmitPart::Shared`] with
    /// the `Bytes` that owns it, or, for a fragment of a server's message
    /// sent in fragments, as [`TransmitPart::Slice`]: the message's `Bytes`
    /// and the fragment's range in it.
    ///
    /// This is the owned form of [`transmit_slices`](Self::transmit_slices),
    /// for completion-based I/O (io_uring), where the kernel reads the
    /// output after the call returns: the transport copies the inline parts
    /// (they live in the queue, which moves as it grows) and clones the
    /// shared ones (a reference count, no copy), keeps them until the send
    /// completes, then calls [`advance_transmit`](Self::advance_transmit)
    /// with what was sent. Nothing is consumed here.
    #[inline]
    pub fn for_each_transmit_part<'a>(&'a self, mut f: impl FnMut(TransmitPart<'a>) -> bool) {
        let mut at = self.txb_off as usize;
        if self.tx.is_empty() {
            // Small messages only: one slice.
            let tail = self.txb.get(at..self.txb_end as usize).unwrap_or_default();
            if !tail.is_empty() {
                f(TransmitPart::Inline(tail));
            }
            return;
        }
        // The message the views met so far are fragments of.
        let mut held: Option<&'a Bytes> = None;
        for frame in &self.tx {
            if frame.run > 0 {
                let end = at + frame.run as usize;
                if !f(TransmitPart::Inline(
                    self.txb.get(at..end).unwrap_or_default(),
                )) {
                    return;
                }
                at = end;
                continue;
            }
            let head = frame.head();
            if !head.is_empty() && !f(TransmitPart::Inline(head)) {
                return;
            }
            if frame.view {
                if !frame.payload.is_empty() {
                    held = Some(&frame.payload);
                }
                let (start, len) = (frame.view_start as usize, frame.view_len as usize);
                // Always held (the first view queued holds the message and
                // hands it on): a view without one would be a bug, and
                // nothing after it is offered rather than wrong bytes.
                let Some(msg) = held.filter(|m| start + len <= m.len()) else {
                    debug_assert!(false, "a fragment view without its message");
                    return;
                };
                if !f(TransmitPart::Slice(msg, start, len)) {
                    return;
                }
                continue;
            }
            if !frame.payload.is_empty() && !f(TransmitPart::Shared(&frame.payload)) {
                return;
            }
        }
        let tail = self.txb.get(at..self.txb_end as usize).unwrap_or_default();
        if !tail.is_empty() {
            f(TransmitPart::Inline(tail));
        }
    }

    /// As [`transmit_slices`](Connection::transmit_slices), for
    /// `Write::write_vectored`.
    #[cfg(feature = "std")]
    pub fn fill_io_slices<'a>(&'a self, out: &mut [std::io::IoSlice<'a>]) -> usize {
        let mut n = 0;
        self.for_each_part(|part| match out.get_mut(n) {
            Some(slot) => {
                *slot = std::io::IoSlice::new(part);
                n += 1;
                true
            }
            None => false,
        });
        n
    }

    /// Marks `n` bytes of pending output as written. The queue's memory is
    /// kept for the next message when it drains (up to 32 frames, for
    /// `Config::buffer_linger`), else released.
    pub fn advance_transmit(&mut self, n: usize) {
        let mut n = n.min(self.tx_len);
        if n > 0 {
            self.timers.tx_progress();
            self.tx_len -= n;
        }
        if !self.tx.is_empty() {
            if self.tx_len == 0 {
                // Everything is written (the common case): the entries go
                // at once, without taking each one's bytes off in turn.
                self.tx.clear();
                self.pong_idx = NO_PONG;
                n = (self.txb_end - self.txb_off) as usize;
            } else {
                n = self.advance_entries(n);
            }
        }
        // What is left is the contiguous tail (every entry is written).
        if n > 0 {
            self.txb_off += n as u32;
            self.txb_sealed = self.txb_off;
        }
        if self.txb_off == self.txb_end {
            if self.txb_off > 0 {
                self.txb_end = 0;
                self.txb_off = 0;
                self.txb_sealed = 0;
            }
            if self.tx.is_empty() && (self.tx.capacity() > 0 || !self.txb.is_empty()) {
                self.output_drained();
            }
        }
    }

    /// Takes up to `n` written bytes off the queued entries; returns what
    /// is left for the contiguous tail.
    fn advance_entries(&mut self, mut n: usize) -> usize {
        while n > 0 {
            let Some(front) = self.tx.front_mut() else {
                break;
            };
            if front.run > 0 {
                let k = n.min(front.run as usize);
                front.run -= k as u32;
                self.txb_off += k as u32;
                n -= k;
                if front.run == 0 {
                    self.pop_front();
                }
                continue;
            }
            let head_left = usize::from(front.head_len - front.head_off);
            let from_head = n.min(head_left);
            front.head_off += from_head as u8;
            n -= from_head;
            if front.view {
                let k = n.min(front.view_len as usize);
                front.view_start += k as u32;
                front.view_len -= k as u32;
                n -= k;
            } else {
                let from_payload = n.min(front.payload.len());
                bytes::Buf::advance(&mut front.payload, from_payload);
                n -= from_payload;
            }
            if front.len() == 0 {
                self.pop_front();
            }
        }
        n
    }

    /// All output is written: the queue and the contiguous buffer are kept
    /// for the next message when the connection is busy (released after
    /// the linger), else released now.
    #[inline]
    fn output_drained(&mut self) {
        if self.tx.capacity() > KEEP_TX || self.txb.len() > KEEP_TXB || !self.keep_buffers(true) {
            self.tx = Default::default();
            self.txb = Vec::new();
        }
    }
}
