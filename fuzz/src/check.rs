//! Invariants shared by the harnesses: what every event, error and output of
//! the core must satisfy.

use ws_proto::frame::{MAX_CONTROL_PAYLOAD, RSV_BITS};
use ws_proto::session::{SessionError, SessionEvent};
use ws_proto::{
    CloseCode, Config, Error, Event, FrameHeader, MessageKind, OpCode, ReceiveMode, Status,
    apply_mask, close::MAX_REASON_LEN,
};

/// The transmit backlog a connection may build up on its own, without any
/// send by the application: automatic pongs, one each until the backlog
/// reaches `PONG_COALESCE_FRAMES` frames or `PONG_COALESCE_BYTES` bytes
/// (then they replace the last one), plus a close frame and a keep-alive
/// ping. A ping flood must not make it grow past this.
pub const AUTO_TX_BOUND: usize = {
    let frame = MAX_CONTROL_PAYLOAD + 14;
    let by_frames = (ws_proto::PONG_COALESCE_FRAMES + 1) * frame;
    let by_bytes = ws_proto::PONG_COALESCE_BYTES + frame;
    let pongs = if by_frames < by_bytes {
        by_frames
    } else {
        by_bytes
    };
    pongs + 2 * frame
};

/// Checks every event a connection hands out against its config and the
/// events before it.
#[derive(Debug)]
pub struct EventCheck {
    /// Close codes are checked against this dialect's list.
    dialect: ws_proto::Dialect,
    max_message: u64,
    mode: ReceiveMode,
    /// The streamed message in progress: its kind and its bytes so far.
    streaming: Option<(MessageKind, Vec<u8>)>,
    closed: bool,
}

impl EventCheck {
    /// The dialect the handshake settled on (a session's checker starts
    /// before it is known).
    pub fn set_dialect(&mut self, dialect: ws_proto::Dialect) {
        self.dialect = dialect;
    }

    /// A checker for an RFC 6455 connection with `config` (see
    /// [`set_dialect`](Self::set_dialect) for the others).
    pub fn new(config: &Config) -> Self {
        EventCheck {
            dialect: ws_proto::Dialect::Rfc6455,
            max_message: config.max_message_size,
            mode: config.receive_mode,
            streaming: None,
            closed: false,
        }
    }

    /// Asserts the invariants for the next event.
    pub fn event(&mut self, ev: &Event) {
        assert!(!self.closed, "event {ev:?} after the peer's close");
        match ev {
            Event::Text(t) => {
                self.whole(t.len());
                assert!(
                    core::str::from_utf8(t.as_bytes()).is_ok(),
                    "text event is not UTF-8"
                );
            }
            Event::Binary(b) => self.whole(b.len()),
            Event::MessageStart(kind) => {
                assert!(
                    self.mode != ReceiveMode::Whole,
                    "MessageStart in Whole mode"
                );
                assert!(
                    self.streaming.is_none(),
                    "MessageStart inside a streamed message"
                );
                self.streaming = Some((*kind, Vec::new()));
            }
            Event::MessageChunk(c) => {
                let (_, acc) = self
                    .streaming
                    .as_mut()
                    .expect("MessageChunk outside a streamed message");
                acc.extend_from_slice(c);
                assert!(
                    acc.len() as u64 <= self.max_message,
                    "streamed message of {} bytes over max_message_size {}",
                    acc.len(),
                    self.max_message
                );
            }
            Event::MessageEnd => {
                let (kind, acc) = self
                    .streaming
                    .take()
                    .expect("MessageEnd outside a streamed message");
                if kind == MessageKind::Text {
                    assert!(
                        core::str::from_utf8(&acc).is_ok(),
                        "streamed text is not UTF-8"
                    );
                }
            }
            Event::Ping(p) | Event::Pong(p) => {
                assert!(
                    p.len() <= MAX_CONTROL_PAYLOAD,
                    "control payload {}",
                    p.len()
                );
            }
            Event::Close { code, reason } => {
                assert!(
                    reason.len() <= MAX_REASON_LEN,
                    "close reason {}",
                    reason.len()
                );
                assert!(core::str::from_utf8(reason.as_bytes()).is_ok());
                if let Some(c) = code {
                    assert!(
                        c.is_valid_in(self.dialect),
                        "close event with code {} in {:?}",
                        c.0,
                        self.dialect
                    );
                }
                self.closed = true;
            }
            other => panic!("unknown event {other:?}"),
        }
    }

    fn whole(&self, len: usize) {
        assert!(
            self.streaming.is_none(),
            "whole message inside a streamed message"
        );
        assert!(
            len as u64 <= self.max_message,
            "message of {len} bytes over max_message_size {}",
            self.max_message
        );
        match self.mode {
            ReceiveMode::Whole => {}
            ReceiveMode::Stream => panic!("whole message in Stream mode"),
            ReceiveMode::Threshold(n) => {
                assert!(len <= n, "whole message of {len} bytes over threshold {n}")
            }
        }
    }
}

/// Asserts the contract for an error a connection returned: fatal errors
/// carry a close code (UnsupportedDialect aside, which only `new` returns).
pub fn conn_error(e: &Error) {
    if e.is_fatal() {
        assert!(
            e.close_code().is_some() || matches!(e, Error::UnsupportedDialect(_)),
            "fatal error without a close code: {e:?}"
        );
    } else {
        assert!(
            e.close_code().is_none(),
            "usage error with a close code: {e:?}"
        );
    }
}

/// Asserts the contract for an HTTP handshake error: a 4xx or 5xx status.
pub fn http_error(e: &http_upgrade::Error) {
    let s = e.status();
    assert!((400..600).contains(&s), "status {s} for {e:?}");
}

/// Asserts the contract for a session error.
pub fn session_error(e: &SessionError) {
    match e {
        SessionError::Handshake(h) => http_error(h),
        SessionError::Connection(c) => conn_error(c),
        SessionError::Negotiation(_) => {}
        other => panic!("unknown session error {other:?}"),
    }
}

/// One frame decoded from our own output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireFrame {
    /// The header as parsed.
    pub header: FrameHeader,
    /// The unmasked payload.
    pub payload: Vec<u8>,
}

/// Parses RFC 6455 frames written by a connection (masked iff `client`).
/// Asserts that they are well formed (a peer must be able to read them);
/// stops at an incomplete tail.
pub fn parse_output(mut out: &[u8], client: bool) -> Vec<WireFrame> {
    let mut frames = Vec::new();
    loop {
        let (header, n) = match FrameHeader::parse(out) {
            Ok(Status::Complete(x)) => x,
            Ok(Status::Partial) => return frames,
            Err(e) => panic!("our own output does not parse: {e:?}"),
        };
        assert_eq!(header.mask.is_some(), client, "masking of our output");
        let len = usize::try_from(header.payload_len).unwrap();
        let Some(payload) = out.get(n..n + len) else {
            return frames;
        };
        let mut payload = payload.to_vec();
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        if header.opcode.is_control() {
            assert!(header.fin && payload.len() <= MAX_CONTROL_PAYLOAD);
            assert_eq!(header.rsv & RSV_BITS, 0, "RSV on our control frame");
        }
        out = &out[n + len..];
        frames.push(WireFrame { header, payload });
    }
}

/// The close code in a close frame's payload.
pub fn close_code_of(f: &WireFrame) -> Option<CloseCode> {
    (f.header.opcode == OpCode::Close && f.payload.len() >= 2)
        .then(|| CloseCode(u16::from_be_bytes([f.payload[0], f.payload[1]])))
}

/// Session events, with consecutive message chunks merged (chunk boundaries
/// depend on how the input was split; nothing else may).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    /// The events, in order.
    pub events: Vec<SessionEvent>,
    /// The error the run ended with, if any.
    pub error: Option<String>,
}

impl Transcript {
    /// Appends an event, merging it into a preceding chunk.
    pub fn push(&mut self, ev: SessionEvent) {
        if let SessionEvent::Ws(Event::MessageChunk(b)) = &ev {
            if let Some(SessionEvent::Ws(Event::MessageChunk(prev))) = self.events.last_mut() {
                let mut v = prev.to_vec();
                v.extend_from_slice(b);
                *prev = v.into();
                return;
            }
            if b.is_empty() {
                return;
            }
        }
        self.events.push(ev);
    }
}

/// Asserts that two runs over the same bytes, cut differently, agree.
///
/// Without an error they must be identical. When both end with the same
/// error they must agree up to where the shorter one stopped: how many
/// events precede a fatal error may depend on the read boundaries (a
/// failing read can discard what it decoded before the failure, a streamed
/// message can hand out a longer or shorter valid prefix before an invalid
/// byte), never what those events contain.
///
/// With `lenient`, two different fatal errors are accepted too: where an
/// input breaks two rules, which one is seen first can depend on the read
/// boundaries (hixie-76 frames carry no length, so "too long" and "not
/// UTF-8" race; deflate-stream inflates at `receive` time, so a corrupt
/// stream can be found before or after a bad frame it inflated earlier).
pub fn same_outcome(a: &Transcript, b: &Transcript, what: &str, lenient: bool) {
    let both_failed = a.error.is_some() && b.error.is_some();
    if !(both_failed && (a.error == b.error || lenient)) {
        assert_eq!(a, b, "result depends on chunking ({what})");
        return;
    }
    let (short, long) = if a.events.len() <= b.events.len() {
        (&a.events, &b.events)
    } else {
        (&b.events, &a.events)
    };
    let n = short.len();
    if n == 0 {
        return;
    }
    assert_eq!(
        short[..n - 1],
        long[..n - 1],
        "result depends on chunking ({what})"
    );
    match (&short[n - 1], &long[n - 1]) {
        (x, y) if x == y => {}
        (SessionEvent::Ws(Event::MessageChunk(x)), SessionEvent::Ws(Event::MessageChunk(y))) => {
            let (p, q) = if x.len() <= y.len() { (x, y) } else { (y, x) };
            assert!(q.starts_with(p), "streamed chunks differ ({what})");
        }
        (x, y) => panic!("result depends on chunking ({what}): {x:?} vs {y:?}"),
    }
}

/// True if the transcript opened a hixie-76 connection or one with
/// deflate-stream (see [`same_outcome`]'s `lenient`).
pub fn races_errors(t: &Transcript) -> bool {
    t.events.iter().any(|e| match e {
        SessionEvent::Open(h) => {
            h.dialect == ws_proto::Dialect::Hixie76
                || h.extensions
                    .iter()
                    .any(|x| x.name.eq_ignore_ascii_case("deflate-stream"))
        }
        _ => false,
    })
}
