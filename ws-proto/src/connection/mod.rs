//! The connection state machine after the opening handshake (RFC 6455 §5-§7).

mod codec;
mod hixie;
mod recv;
mod send;

pub use recv::RecvLoan;
pub use send::{PONG_COALESCE_BYTES, PONG_COALESCE_FRAMES, Prepared};
mod timers;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use bytes::{Bytes, BytesMut};
use rand_core::Rng;

use crate::config::{Config, Negotiated, Role};
use crate::error::{Error, UsageError};
use crate::event::MessageKind;
use crate::extension::{Extension, Granularity};
use crate::frame::{OpCode, RSV_BITS};
use crate::session::SessionConfig;
use crate::utf8::Utf8Validator;
use crate::{Dialect, Instant};
use codec::Codec;

/// A mask-key source for client connections (§5.3 asks for unpredictable
/// keys: inject a cryptographic RNG in production).
pub type MaskRng = Box<dyn Rng + Send>;

/// The settings a connection runs with: those of the session config that
/// opened it (a server's connections all point at the one
/// `SessionConfig`: a reference count, not a copy of the ~180-byte
/// [`Config`] in every idle connection), or a config of its own wrapped
/// the same way. One pointer, read without a branch.
pub(crate) struct Settings(Arc<SessionConfig>);

impl Settings {
    /// A connection's own settings.
    pub(crate) fn own(config: Config) -> Settings {
        Settings(Arc::new(SessionConfig::new(config)))
    }

    /// The settings of the session config `s`.
    pub(crate) fn shared(s: &Arc<SessionConfig>) -> Settings {
        Settings(Arc::clone(s))
    }
}

impl core::ops::Deref for Settings {
    type Target = Config;

    #[inline]
    fn deref(&self) -> &Config {
        &self.0.connection
    }
}

/// Where the connection is in the closing handshake (§7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Data flows both ways.
    Open,
    /// We sent a close frame and wait for the peer's (§7.1.2). Incoming data
    /// is still delivered; sending data is refused.
    Closing,
    /// The close handshake completed, failed, timed out, or the transport
    /// ended. See [`Connection::wants_close`].
    Closed,
}

/// A WebSocket connection after the handshake, for either role: bytes in,
/// events and bytes out, no I/O, no clock, no ambient randomness.
///
/// # Driving it
///
/// A driver (see the `adapters` crate) repeats, in this order:
///
/// 1. **Input.** Read from the transport straight into
///    [`recv_buf`](Connection::recv_buf) and [`recv_commit`](Connection::recv_commit)
///    the count read (zero copy), or pass a slice to
///    [`receive`](Connection::receive). On end of stream call
///    [`receive_eof`](Connection::receive_eof). Each takes `now`.
/// 2. **Events.** Call [`poll_event`](Connection::poll_event) until it
///    returns `Ok(None)`. Parsing happens here, lazily. An `Err` is final:
///    the right close frame is already queued and every later call returns
///    the same error; stop polling events.
/// 3. **Commands.** The application may call
///    [`send_text`](Connection::send_text),
///    [`send_binary`](Connection::send_binary),
///    [`send_fragment`](Connection::send_fragment),
///    [`send_ping`](Connection::send_ping),
///    [`send_pong`](Connection::send_pong) and
///    [`close`](Connection::close) at any time.
/// 4. **Output.** Drain the transmit queue:
///    [`poll_transmit`](Connection::poll_transmit) appends it to a `Vec`, or
///    [`transmit_slices`](Connection::transmit_slices) / `fill_io_slices`
///    (with `std`) expose it for a vectored write followed by
///    [`advance_transmit`](Connection::advance_transmit).
///    [`pending_transmit`](Connection::pending_transmit) is the backlog, for
///    backpressure.
/// 5. **Timers.** Sleep until [`poll_timeout`](Connection::poll_timeout) (or
///    new input), then call [`handle_timeout`](Connection::handle_timeout);
///    go to 4.
/// 6. **Teardown.** When
///    [`wants_close`](Connection::wants_close) is true,
///    close the transport and drop the connection.
///
/// # Who closes TCP (§7.1.1)
///
/// The server closes the TCP connection first: as soon as the close
/// handshake is complete and the close frame is flushed. The client waits
/// for the server to close (it calls `receive_eof`), at most
/// `close_timeout`, and then closes itself. After a failure (any fatal
/// [`Error`]) both roles close once the close frame is flushed, or when
/// `close_timeout` expires if it cannot be flushed. If we started the close
/// and no echo arrives within `close_timeout`, both roles close.
///
/// # Memory
///
/// `size_of::<Connection>()` is at most 256 bytes (a test checks it). An idle
/// connection owns one small heap block for its settings; receive and
/// transmit buffers are released when drained. The receive buffer only grows
/// with data that actually arrived; limits are checked on frame headers
/// before anything is buffered. Messages handed out as `Bytes` share the
/// buffer they were read into.
pub struct Connection {
    shared: Box<Shared>,
    /// Received (decoded) bytes; the last `spare` of them are zeroed space
    /// lent to the driver, not data.
    rx: BytesMut,
    spare: usize,
    tx: VecDeque<TxFrame>,
    /// Frames written whole, back to back: small frames, and a client's
    /// masked frames (see `send::queue_contiguous`). The `run`s of `tx`
    /// entries stand for `txb[txb_off..txb_sealed]` in order; the rest,
    /// `txb[txb_sealed..txb_end]`, is the tail, written after every queued
    /// entry. Its length is its zero-filled room (filled when it grows),
    /// so frames are written with plain slice copies.
    /// A busy connection sending small messages only appends here and
    /// drains it: no queue entry, no allocation, one slice per write.
    txb: Vec<u8>,
    /// Bytes at the front of `txb` already written (`<= txb_sealed`).
    txb_off: u32,
    /// The end of the part of `txb` that `tx` entries stand for.
    txb_sealed: u32,
    /// The end of the bytes written in `txb`.
    txb_end: u32,
    tx_len: usize,
    /// Where the queued pong is in `tx` (from the front), `NO_PONG` if
    /// none.
    pong_idx: u32,
    err: Option<Box<Error>>,
    rf: RecvFrame,
    rm: RecvMessage,
    timers: timers::Timers,
    send_kind: Option<MessageKind>,
    send_utf8: Utf8Validator,
    role: Role,
    close_sent: bool,
    close_received: bool,
    eof: bool,
    timed_out: bool,
    /// Any of `close_sent`, `close_received`, `eof`, `timed_out` or `err`
    /// is set: the connection is past `Open`. Tested first on every turn
    /// of a driver ([`wants_close`](Self::wants_close), [`state`](Self::state)):
    /// one load for the open connection's answer instead of five.
    ending: bool,
    /// Bytes taken from the front of `rx` since it was allocated: with
    /// its capacity, the size of the allocation a payload split off it
    /// would keep alive (see `take_rx`).
    rx_front: u32,
}

/// Settings and collaborators that are read rarely: kept behind one box.
struct Shared {
    config: Settings,
    /// Reassembly buffer for fragmented whole messages (here: most
    /// connections never fragment, and `Connection` stays small).
    msg: Vec<u8>,
    /// The framing of the negotiated dialect (the dialect seam).
    codec: Codec,
    exts: Vec<Box<dyn Extension>>,
    rng: Option<MaskRng>,
    /// RSV bits owned by any extension.
    ext_rsv: u8,
    /// RSV bits owned by frame- / message-granularity extensions.
    frame_rsv: u8,
    msg_rsv: u8,
    /// A non-stream extension that owns no RSV bit (sees every frame).
    always_decode: bool,
    /// The largest payload a server copies into its output as one plain
    /// RFC 6455 frame (no extension, not split by `fragment_size`, at most
    /// `send::COPY_MAX`): the fast path of `send_*`. 0: none.
    small_max: u16,
    /// One past the largest payload a whole small frame may have to be
    /// decoded in one step (`recv::fast_frame`): the frame and message
    /// limits and the streaming threshold, at most 65,535 (a small
    /// frame's length field). 0: never (another dialect, an extension
    /// that sees frames, streamed messages, `max_fragments` 0). Worked
    /// out once here instead of per frame.
    fast_recv_end: u32,
    /// Wire bytes (header and payload, saturated) of the last data frame
    /// whose header was parsed: see `Connection::last_frame_len`.
    last_frame: u32,
    /// Length of the last message gathered from fragments in `msg`
    /// (saturated): the next one reserves that much at once (at most
    /// `FRAME_RESERVE`), not growing by doubling.
    msg_hint: u32,
    has_stream: bool,
    /// With a stream extension: its undecoded input and state.
    stream: Option<Box<StreamIn>>,
    /// The deadline for the pong to our keep-alive ping (ns, see `timers`).
    pong_at: u64,
    /// When queued output last made progress, or started waiting (ns).
    tx_since: u64,
    /// Drained buffers are kept for reuse: release them at
    /// `kept_at + buffer_linger` unless used since (then the deadline
    /// moves to `used + buffer_linger`). `NEVER` (ns): nothing kept.
    kept_at: u64,
    /// When the receive buffer and the send queue last drained (ns,
    /// `NEVER`: not yet). A buffer is only kept when its previous drain
    /// was within the linger: a connection that sends one message and goes
    /// quiet releases at once, a busy one keeps its buffers.
    rx_used: u64,
    tx_used: u64,
    /// The session's recorder, once the connection is open
    /// ([`crate::record`]): the application's commands are recorded here.
    rec: Option<Box<crate::record::Recorder>>,
}

/// The receive side of a stream extension (deflate-stream).
#[derive(Default)]
struct StreamIn {
    /// Wire bytes received and not decoded yet: decoding runs on demand,
    /// no further ahead than the parser needs.
    raw: BytesMut,
    /// The extension stopped at its output budget and may hold decoded
    /// output without further input.
    more: bool,
    /// The extension failed to decode input (see `stream_inflate`):
    /// reported once the bytes decoded before the failure are consumed.
    err: Option<Error>,
}

/// The frame being received.
#[derive(Clone, Copy, Debug)]
struct RecvFrame {
    /// Payload bytes not yet arrived.
    remaining: u64,
    /// Payload bytes at the front of `rx`, already unmasked (and validated).
    held: usize,
    key: [u8; 4],
    phase: u8,
    opcode: OpCode,
    fin: bool,
    rsv: u8,
    active: bool,
    masked: bool,
    /// Gather the whole payload before handling it (control frames and
    /// frames an extension decodes).
    whole: bool,
}

/// The data message being received.
#[derive(Clone, Copy, Debug, Default)]
struct RecvMessage {
    size: u64,
    fragments: u64,
    kind: Option<MessageKind>,
    rsv: u8,
    streaming: bool,
    start_pending: bool,
    end_pending: bool,
    utf8: Utf8Validator,
}

/// One part of the pending output, from
/// [`Connection::for_each_transmit_part`] or
/// [`Session::for_each_transmit_part`](crate::session::Session::for_each_transmit_part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransmitPart<'a> {
    /// Bytes that live in the queue itself (a frame header, a small frame
    /// whole, the handshake): copy them to hold them.
    Inline(&'a [u8]),
    /// A payload in a `Bytes` of its own (a message's, or the compressor's
    /// output): clone it to hold it without a copy.
    Shared(&'a Bytes),
    /// `len` bytes from `start` of a `Bytes` (a fragment of a message
    /// sent in fragments, which holds the whole message): clone the
    /// `Bytes` to hold them without a copy.
    Slice(&'a Bytes, usize, usize),
}

impl<'a> TransmitPart<'a> {
    /// The part's bytes.
    #[inline]
    pub fn as_slice(&self) -> &'a [u8] {
        match *self {
            TransmitPart::Inline(s) => s,
            TransmitPart::Shared(b) => b,
            TransmitPart::Slice(b, start, len) => {
                b.get(start..start.saturating_add(len)).unwrap_or_default()
            }
        }
    }
}

/// A queued outgoing frame: an inline header and a shared payload, so a
/// large payload is written vectored without being copied; or a run of
/// the contiguous output (`Connection::txb`).
struct TxFrame {
    /// The header, or a small frame whole (`codec::TX_INLINE`).
    head: [u8; codec::TX_INLINE],
    head_len: u8,
    head_off: u8,
    /// A fragment of a message held once: see `view_start`.
    view: bool,
    /// Bytes of `Connection::txb` this entry stands for (not yet written);
    /// 0 for a frame of its own.
    run: u32,
    /// The payload; for a fragment of a message held once (`view`), the
    /// whole message, held by the first of its fragments still
    /// queued (and handed to the next when that one is written), empty in
    /// the others.
    payload: Bytes,
    /// For a fragment of a message held once (`view`; a server's message
    /// sent in fragments, RFC 6455 §5.4): its payload not yet written is
    /// bytes `view_start..view_start + view_len` of the message, one
    /// reference for all the fragments instead of a shared slice each.
    view_start: u32,
    view_len: u32,
}

impl TxFrame {
    /// A frame of its own: `head[..head_len]`, then `payload`.
    fn new(head: [u8; codec::TX_INLINE], head_len: usize, payload: Bytes) -> TxFrame {
        TxFrame {
            head,
            head_len: head_len as u8,
            head_off: 0,
            view: false,
            run: 0,
            payload,
            view_start: 0,
            view_len: 0,
        }
    }

    /// Its payload's bytes not yet written.
    #[inline]
    fn payload_len(&self) -> usize {
        if self.view {
            self.view_len as usize
        } else {
            self.payload.len()
        }
    }

    /// Holds the message its fragment views (and, after it, the message's
    /// next fragments still queued).
    #[inline]
    fn holds_message(&self) -> bool {
        self.view && !self.payload.is_empty()
    }

    fn len(&self) -> usize {
        usize::from(self.head_len - self.head_off) + self.payload_len() + self.run as usize
    }

    fn head(&self) -> &[u8] {
        self.head
            .get(usize::from(self.head_off)..usize::from(self.head_len))
            .unwrap_or_default()
    }
}

const NO_PONG: u32 = u32::MAX;

/// The floor of the reservation for a large frame's rest (see
/// [`Connection::recv_buf`]): 1 MiB.
pub const FRAME_RESERVE: usize = 1 << 20;

impl Connection {
    /// An RFC 6455 server-side connection without extensions (never
    /// masks, requires masked input, §5.1).
    pub fn server(config: Config, now: Instant) -> Result<Self, Error> {
        Self::new(Role::Server, config, Negotiated::default(), None, now)
    }

    /// An RFC 6455 client-side connection without extensions; `rng`
    /// supplies the mask keys (§5.3).
    pub fn client(config: Config, rng: MaskRng, now: Instant) -> Result<Self, Error> {
        Self::new(Role::Client, config, Negotiated::default(), Some(rng), now)
    }

    /// A connection for `role` with the user's `config` and what the
    /// handshake decided, `negotiated`: the dialect (it selects the
    /// framing; every [`Dialect`] is implemented, see
    /// `docs/architecture.md`, "Legacy dialects"), the extension chain and
    /// hybi-04's key.
    ///
    /// Fails with [`UsageError::MissingHybi04Key`] for hybi-04 without its
    /// key, with [`UsageError::MissingRng`] for a client without `rng`, and
    /// with [`UsageError::RsvConflict`] if two extensions claim the same
    /// RSV bit.
    #[must_use = "a connection that is not kept does nothing"]
    pub fn new(
        role: Role,
        config: Config,
        negotiated: Negotiated,
        rng: Option<MaskRng>,
        now: Instant,
    ) -> Result<Self, Error> {
        Self::with_settings(role, Settings::own(config), negotiated, rng, now)
    }

    /// [`new`](Connection::new) with settings that may be shared.
    pub(crate) fn with_settings(
        role: Role,
        config: Settings,
        negotiated: Negotiated,
        rng: Option<MaskRng>,
        now: Instant,
    ) -> Result<Self, Error> {
        let codec = Codec::new(&negotiated)?;
        if role == Role::Client && rng.is_none() {
            return Err(UsageError::MissingRng.into());
        }
        let shared = Shared::new(config, codec, negotiated.extensions, rng)?;
        Ok(Connection {
            timers: timers::Timers::new(&shared.config, now),
            shared: Box::new(shared),
            rx: BytesMut::new(),
            spare: 0,
            tx: VecDeque::new(),
            txb: Vec::new(),
            txb_off: 0,
            txb_sealed: 0,
            txb_end: 0,
            tx_len: 0,
            pong_idx: NO_PONG,
            err: None,
            rf: RecvFrame::IDLE,
            rm: RecvMessage::default(),
            send_kind: None,
            send_utf8: Utf8Validator::new(),
            role,
            close_sent: false,
            close_received: false,
            eof: false,
            timed_out: false,
            ending: false,
            rx_front: 0,
        })
    }

    /// `ending` is exactly "one of the closing conditions holds".
    #[inline]
    fn debug_check_ending(&self) {
        debug_assert_eq!(
            self.ending,
            self.close_sent
                || self.close_received
                || self.eof
                || self.timed_out
                || self.err.is_some(),
            "Connection::ending out of step"
        );
    }

    /// This endpoint's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The negotiated dialect.
    pub fn dialect(&self) -> Dialect {
        self.shared.codec.dialect()
    }

    /// Where the connection is in the closing handshake (§7).
    pub fn state(&self) -> State {
        self.debug_check_ending();
        if !self.ending {
            return State::Open;
        }
        if self.err.is_some() || self.timed_out || self.close_received || self.eof {
            State::Closed
        } else if self.close_sent {
            State::Closing
        } else {
            State::Open
        }
    }

    /// The error the connection failed with, if it did.
    pub fn error(&self) -> Option<&Error> {
        self.err.as_deref()
    }

    /// True when the driver should close the transport now (§7.1.1): see
    /// [who closes TCP](Connection#who-closes-tcp-711).
    #[must_use]
    #[inline]
    pub fn wants_close(&self) -> bool {
        self.debug_check_ending();
        if !self.ending {
            return false;
        }
        if self.timed_out {
            return true;
        }
        if !self.tx.is_empty() || self.txb_end > 0 {
            return false;
        }
        let handshake_done = self.close_sent && self.close_received;
        self.err.is_some() || self.eof || (handshake_done && self.role == Role::Server)
    }

    /// Bytes received but not yet turned into events (with a stream
    /// extension, decoded bytes plus wire bytes not decoded yet). A driver
    /// pauses reading while this is large and the application does not
    /// poll events.
    #[must_use]
    #[inline]
    pub fn buffered_receive(&self) -> usize {
        self.rx.len() - self.spare + self.shared.stream.as_ref().map_or(0, |s| s.raw.len())
    }

    /// Payload bytes of the frame being received that have not arrived
    /// yet (0 between frames, or before [`poll_event`](Self::poll_event) has
    /// parsed the header). A driver can lend that much room with
    /// [`recv_buf`](Self::recv_buf) and read a large payload straight into
    /// the buffer it will be handed out from; between frames, reading into
    /// a shared scratch buffer and [`receive`](Self::receive) is cheaper (no
    /// room to zero-fill for a small message).
    #[must_use]
    #[inline]
    pub fn frame_bytes_expected(&self) -> u64 {
        // With a stream extension the wire bytes are not the payload's.
        if !self.rf.active || self.shared.has_stream {
            return 0;
        }
        let unparsed = (self.rx.len() - self.spare).saturating_sub(self.rf.held) as u64;
        self.rf.remaining.saturating_sub(unparsed)
    }

    /// Wire bytes (header and payload) of the last data frame whose header
    /// was parsed, 0 before the first (saturated at `u32::MAX`) and with a
    /// stream extension (its wire bytes are not frames). Peers that stream frames of
    /// one size make it the size of the next: a driver reading them in
    /// place can end its reads where frames end (see
    /// [`recv_into`](Self::recv_into)), so that no partial frame is left
    /// at the end of a buffer to be moved to the next.
    #[must_use]
    #[inline]
    pub fn last_frame_len(&self) -> usize {
        if self.shared.has_stream {
            return 0;
        }
        self.shared.last_frame as usize
    }

    /// Heap bytes held by the connection's buffers: receive buffer,
    /// reassembly buffer and transmit queue (not the settings block, the
    /// extensions' own state, or payloads already handed out as `Bytes`).
    /// Zero for an idle connection.
    #[inline]
    pub fn buffer_capacity(&self) -> usize {
        self.rx.capacity()
            + self.shared.msg.capacity()
            + self.shared.stream.as_ref().map_or(0, |s| s.raw.capacity())
            + self.tx.capacity() * core::mem::size_of::<TxFrame>()
            + self.txb.len()
    }

    /// Names of the negotiated extensions, in chain order.
    pub fn extension_names(&self) -> impl Iterator<Item = &str> {
        self.shared.exts.iter().map(|e| e.name())
    }

    /// Returns the stored error if the connection failed.
    #[inline]
    fn check_failed(&self) -> Result<(), Error> {
        match &self.err {
            Some(e) => Err((**e).clone()),
            None => Ok(()),
        }
    }

    /// Makes `e` permanent (unless it is a usage error): queues the close
    /// frame for its code, drops buffered input, returns `e`.
    fn fail(&mut self, e: Error) -> Error {
        if !e.is_fatal() || self.err.is_some() {
            return e;
        }
        if let Some(code) = self.shared.codec.close_code(&e) {
            if !self.close_sent {
                self.queue_close(Some(code), &[]);
            }
        }
        self.close_sent = true;
        self.ending = true;
        self.drop_input();
        self.rf = RecvFrame::IDLE;
        self.rm = RecvMessage::default();
        self.timers.arm_close_wait(&self.shared.config);
        self.err = Some(Box::new(e.clone()));
        e
    }
}

impl Connection {
    /// The recorder, while the session records.
    pub(crate) fn recorder(&mut self) -> Option<&mut crate::record::Recorder> {
        self.shared.rec.as_deref_mut()
    }

    /// True while the session records ([`crate::record`]): commands are
    /// logged.
    #[inline(always)]
    pub(crate) fn recording(&self) -> bool {
        self.shared.rec.is_some()
    }

    /// Records a command with `f` (out of line: the hot path tests
    /// [`recording`](Self::recording) only).
    #[cold]
    #[inline(never)]
    pub(crate) fn log_rec(&mut self, f: impl FnOnce(&mut crate::record::Recorder)) {
        if let Some(r) = self.shared.rec.as_deref_mut() {
            f(r);
        }
    }

    pub(crate) fn set_recorder(&mut self, rec: Option<Box<crate::record::Recorder>>) {
        self.shared.rec = rec;
    }

    pub(crate) fn take_recorder(&mut self) -> Option<Box<crate::record::Recorder>> {
        self.shared.rec.take()
    }

    /// The first `n` bytes of the space [`recv_buf`](Self::recv_buf)
    /// lent (what a `recv_commit(n)` is about to declare), if lent.
    pub(crate) fn lent(&self, n: usize) -> Option<&[u8]> {
        if n > self.spare {
            return None;
        }
        let start = self.rx.len() - self.spare;
        self.rx.get(start..start + n)
    }

    /// Forgets every received byte not handed out (after a failure or the
    /// peer's close, §5.5.1), releasing the buffers.
    fn drop_input(&mut self) {
        self.forget_kept();
        self.rx = BytesMut::new();
        self.rx_front = 0;
        self.spare = 0;
        self.shared.msg = Vec::new();
        if let Some(s) = self.shared.stream.as_deref_mut() {
            s.raw = BytesMut::new();
            s.more = false;
        }
        self.timers.starved = false;
    }
}

impl Shared {
    fn new(
        config: Settings,
        codec: Codec,
        exts: Vec<Box<dyn Extension>>,
        rng: Option<MaskRng>,
    ) -> Result<Self, Error> {
        let mut s = Shared {
            config,
            msg: Vec::new(),
            codec,
            exts,
            rng,
            ext_rsv: 0,
            frame_rsv: 0,
            msg_rsv: 0,
            always_decode: false,
            small_max: 0,
            fast_recv_end: 0,
            last_frame: 0,
            msg_hint: 0,
            has_stream: false,
            stream: None,
            pong_at: timers::NEVER,
            tx_since: 0,
            kept_at: timers::NEVER,
            rx_used: timers::NEVER,
            tx_used: timers::NEVER,
            rec: None,
        };
        for e in &s.exts {
            let m = e.rsv_mask();
            if m & !RSV_BITS != 0 || m & s.ext_rsv != 0 {
                return Err(UsageError::RsvConflict(m).into());
            }
            s.ext_rsv |= m;
            match e.granularity() {
                Granularity::Message => s.msg_rsv |= m,
                Granularity::Frame => s.frame_rsv |= m,
                // One stream extension at most: it is decoded on demand,
                // and a second one under it would have to buffer the first
                // one's output without bound.
                Granularity::Stream if s.has_stream => {
                    return Err(UsageError::TwoStreamExtensions.into());
                }
                Granularity::Stream => {
                    s.has_stream = true;
                    s.stream = Some(Box::default());
                }
            }
            s.always_decode |= m == 0 && e.granularity() != Granularity::Stream;
        }
        let c = &s.config;
        if s.codec.is_rfc6455()
            && !s.always_decode
            && !s.has_stream
            && c.stream_threshold() > 0
            && c.max_fragments > 0
        {
            let limit = c
                .max_frame_size
                .min(c.max_message_size)
                .min(c.stream_threshold())
                .min(u64::from(u16::MAX));
            s.fast_recv_end = limit as u32 + 1;
        }
        if s.exts.is_empty() && s.codec.is_rfc() {
            let max = send::COPY_MAX;
            let frame = s.config.fragment_size.map_or(max, |n| n.clamp(1, max));
            s.small_max = frame as u16;
        }
        Ok(s)
    }
}

impl RecvFrame {
    const IDLE: RecvFrame = RecvFrame {
        remaining: 0,
        held: 0,
        key: [0; 4],
        phase: 0,
        opcode: OpCode::Continuation,
        fin: false,
        rsv: 0,
        active: false,
        masked: false,
        whole: false,
    };
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state())
            .field("buffered_receive", &self.buffered_receive())
            .field("pending_transmit", &self.tx_len)
            .field("error", &self.err)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_budget() {
        let size = core::mem::size_of::<Connection>();
        assert!(size <= 256, "Connection is {size} bytes");
        // The boxed part, allocated per connection while it is open (168
        // bytes: a 176-byte chunk of glibc's heap, as 160 were).
        let shared = core::mem::size_of::<Shared>();
        assert!(shared <= 168, "Shared is {shared} bytes");
    }
}
