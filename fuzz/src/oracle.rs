//! Differential targets against implementations nobody here wrote: the same
//! bytes go into ours and into an independent one, and the results must
//! agree. A shared misreading of the RFC between our client and our server
//! (which the `roundtrip` target cannot see) shows up here.
//!
//! - `oracle_frames`: the RFC 6455 receive path (framing, fragmentation,
//!   control frames, masking, UTF-8, close bodies, limits) against
//!   `tungstenite`'s `WebSocket` read loop, both roles.
//! - `oracle_handshake`: the server's opening-handshake decision against
//!   `tungstenite`'s server handshake (`httparse` plus its own checks).
//! - `oracle_inflate`: raw DEFLATE inflate (permessage-deflate's message
//!   path, zlib-rs through flate2) against `miniz_oxide`.
//!
//! Where the two sides differ by design, the difference is named by a
//! predicate here and documented in docs/robustness.md ("Differential
//! oracles") with the RFC section that decides; every other difference
//! panics.

use std::io::{self, Read, Write};
use std::sync::Arc;

use arbitrary::Arbitrary;
use deflate_ext::{CodecError, DEFLATE_TAIL, Decompressor, WindowBits};
use http_upgrade::{
    Accept, Dialect, DialectSet, Limits, ServerConfig, ServerEvent, ServerHandshake,
};
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};
use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};
use ws_proto::{Config, Connection, Event};

use crate::util::{T0, XorShift, mask_rng, split_input};

// ---------------------------------------------------------------------------
// In-memory stream for tungstenite.

/// A `Read + Write` over a byte slice: reads hand out the input, then
/// `WouldBlock` (more may come: never an end of stream); writes are kept.
struct Mem<'a> {
    input: &'a [u8],
    out: Vec<u8>,
}

impl Read for Mem<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for Mem<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// oracle_frames

/// The fixed-size prefix of an `oracle_frames` input; the rest is the wire.
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct OracleFrameInput {
    /// Act as the client (the peer sends unmasked frames).
    pub client: bool,
}

/// The message and frame size limit on both sides. The wire is at most
/// `-max_len` (8 KiB) long, so no message within the limit is cut short by
/// it, and completing a pending frame costs at most this much padding.
pub const ORACLE_LIMIT: usize = 64 * 1024;

/// What a receiver handed to the application, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// A whole text message.
    Text(Vec<u8>),
    /// A whole binary message.
    Binary(Vec<u8>),
    /// A ping's payload.
    Ping(Vec<u8>),
    /// A pong's payload.
    Pong(Vec<u8>),
    /// The peer's close frame: code and reason, `None` for an empty body.
    Close(Option<(u16, Vec<u8>)>),
}

/// How a receiver's run over the wire ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The input ran out with the connection open (waiting for more).
    NeedMore,
    /// The peer's close frame arrived (the last [`Msg`]); what follows is
    /// not read.
    Closed,
    /// The connection failed with this close code.
    Fail(u16),
}

/// A receiver's messages and how the run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The messages, in order.
    pub msgs: Vec<Msg>,
    /// The end.
    pub end: End,
}

/// The `oracle_frames` harness.
pub fn frames(data: &[u8]) {
    let (input, wire): (OracleFrameInput, _) = split_input(data);
    check_frames(input.client, wire);
}

/// Compares both sides on `wire`, allowing only the named differences.
pub fn check_frames(client: bool, wire: &[u8]) {
    let ours = ours_frames(client, wire);
    // RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode
    // the length". We fail a frame that does not (1002, on its header);
    // tungstenite reads it. Up to that frame both must agree, and from it
    // on we must have failed.
    if let Some(p) = first_non_minimal_length(wire) {
        let before = ours_frames(client, &wire[..p]);
        let expect = match before.end {
            End::NeedMore => Outcome {
                msgs: before.msgs,
                end: End::Fail(1002),
            },
            _ => before,
        };
        assert_eq!(
            ours, expect,
            "a non-minimal length at {p}\nwire: {wire:02x?}"
        );
        return check_frames(client, &wire[..p]);
    }
    let theirs = tungstenite_frames(client, wire);
    if ours == theirs {
        return;
    }
    let input = OracleFrameInput { client };
    // The peer's close with a status code RFC 6455 §7.4 does not allow on
    // the wire: we fail the connection with 1002 (§7.4.1, Autobahn 7.9.x);
    // tungstenite reports the close with the code replaced by 1002 and
    // echoes that. The same decision, told differently.
    if let (End::Fail(1002), End::Closed) = (ours.end, theirs.end)
        && let Some((Msg::Close(Some((1002, reason))), before)) = theirs.msgs.split_last()
        && reason == b"Protocol violation"
        && ours.msgs == before
    {
        return;
    }
    // 1014 (Bad Gateway) is in the IANA close code registry that RFC 6455
    // §11.7 set up; we accept it from the peer, tungstenite does not know
    // it and treats it as a protocol violation.
    if let (End::Closed, End::Closed) = (ours.end, theirs.end)
        && let Some((Msg::Close(Some((1014, _))), ours_before)) = ours.msgs.split_last()
        && let Some((Msg::Close(Some((1002, reason))), before)) = theirs.msgs.split_last()
        && reason == b"Protocol violation"
        && ours_before == before
    {
        return;
    }
    // We check a frame on its header (RSV bits, opcode, control frame
    // length and fragmentation, masking, the size limits) and fail at once;
    // tungstenite checks most of these only once the whole payload is in.
    // Complete the pending frame with padding and ask again: it must then
    // fail the same way.
    if let (End::Fail(code), End::NeedMore) = (ours.end, theirs.end)
        && ours.msgs == theirs.msgs
        && let Some(padded) = complete_pending_frame(wire)
    {
        let again = tungstenite_frames(input.client, &padded);
        if again.end == End::Fail(code) {
            return;
        }
        // A frame breaking two rules at once (an oversized control frame
        // with RSV bits set, say) fails on whichever each side checks
        // first; RFC 6455 §5.2 and §7.4.1 rank none of them.
        if matches!(again.end, End::Fail(_)) && breaks_two_rules(wire, input.client) {
            return;
        }
        panic!(
            "ours failed with {code} on a pending frame; tungstenite on the completed frame: \
             {again:?}\nwire: {wire:02x?}"
        );
    }
    if let (End::Fail(a), End::Fail(b)) = (ours.end, theirs.end)
        && a != b
        && ours.msgs == theirs.msgs
        && breaks_two_rules(wire, input.client)
    {
        return;
    }
    panic!(
        "ours and tungstenite disagree ({} role)\nours:   {ours:?}\ntheirs: {theirs:?}\nwire: {wire:02x?}",
        if input.client { "client" } else { "server" }
    );
}

/// Our connection over `wire`, in one `receive`.
pub fn ours_frames(client: bool, wire: &[u8]) -> Outcome {
    let mut config = Config::default();
    config.max_frame_size = ORACLE_LIMIT as u64;
    config.max_message_size = ORACLE_LIMIT as u64;
    config.max_fragments = u64::MAX;
    let mut conn = if client {
        Connection::client(config, mask_rng(7), T0)
    } else {
        Connection::server(config, T0)
    }
    .expect("RFC 6455 connection");
    let mut msgs = Vec::new();
    let fail = |e: ws_proto::Error| End::Fail(e.close_code().map_or(0, |c| c.0));
    if let Err(e) = conn.receive(T0, wire) {
        return Outcome { msgs, end: fail(e) };
    }
    loop {
        match conn.poll_event() {
            Ok(Some(ev)) => {
                let m = match ev {
                    Event::Text(t) => Msg::Text(t.as_bytes().to_vec()),
                    Event::Binary(b) => Msg::Binary(b.to_vec()),
                    Event::Ping(p) => Msg::Ping(p.to_vec()),
                    Event::Pong(p) => Msg::Pong(p.to_vec()),
                    Event::Close { code, reason } => {
                        msgs.push(Msg::Close(code.map(|c| (c.0, reason.as_bytes().to_vec()))));
                        return Outcome {
                            msgs,
                            end: End::Closed,
                        };
                    }
                    other => panic!("a streamed event in Whole mode: {other:?}"),
                };
                msgs.push(m);
            }
            Ok(None) => {
                return Outcome {
                    msgs,
                    end: End::NeedMore,
                };
            }
            Err(e) => return Outcome { msgs, end: fail(e) },
        }
    }
}

/// tungstenite's `WebSocket` over `wire`, read until it waits or ends.
pub fn tungstenite_frames(client: bool, wire: &[u8]) -> Outcome {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .max_message_size(Some(ORACLE_LIMIT))
        .max_frame_size(Some(ORACLE_LIMIT));
    let role = if client { TRole::Client } else { TRole::Server };
    let mut ws = WebSocket::from_raw_socket(
        Mem {
            input: wire,
            out: Vec::new(),
        },
        role,
        Some(config),
    );
    let mut msgs = Vec::new();
    // Every message but the last takes at least two bytes of the wire.
    for _ in 0..=wire.len() {
        let m = match ws.read() {
            Ok(tungstenite::Message::Text(t)) => Msg::Text(t.as_bytes().to_vec()),
            Ok(tungstenite::Message::Binary(b)) => Msg::Binary(b.to_vec()),
            Ok(tungstenite::Message::Ping(p)) => Msg::Ping(p.to_vec()),
            Ok(tungstenite::Message::Pong(p)) => Msg::Pong(p.to_vec()),
            Ok(tungstenite::Message::Close(c)) => {
                msgs.push(Msg::Close(
                    c.map(|f| (u16::from(f.code), f.reason.as_bytes().to_vec())),
                ));
                return Outcome {
                    msgs,
                    end: End::Closed,
                };
            }
            Ok(tungstenite::Message::Frame(f)) => panic!("a raw frame from read(): {f:?}"),
            Err(e) => {
                let end = match e {
                    tungstenite::Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        End::NeedMore
                    }
                    tungstenite::Error::Protocol(_) => End::Fail(1002),
                    tungstenite::Error::Utf8(_) => End::Fail(1007),
                    tungstenite::Error::Capacity(_) => End::Fail(1009),
                    other => panic!("tungstenite: unexpected error {other:?}"),
                };
                return Outcome { msgs, end };
            }
        };
        msgs.push(m);
    }
    panic!("tungstenite read more messages than the wire has bytes");
}

/// A frame header read by the oracle itself (RFC 6455 §5.2), with no rule
/// checked: the walk below must not depend on our parser.
#[derive(Clone, Copy, Debug)]
struct RawHeader {
    fin: bool,
    rsv: u8,
    opcode: u8,
    key: Option<[u8; 4]>,
    len: u64,
    /// Header length in bytes.
    size: usize,
}

/// The header at the start of `b`, or `None` if it is not all there.
fn raw_header(b: &[u8]) -> Option<RawHeader> {
    let (&b0, rest) = b.split_first()?;
    let (&b1, _) = rest.split_first()?;
    let (len, mut size) = match b1 & 0x7f {
        126 => (
            u64::from(u16::from_be_bytes(b.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => (u64::from_be_bytes(b.get(2..10)?.try_into().ok()?), 10),
        n => (u64::from(n), 2),
    };
    let key = if b1 & 0x80 != 0 {
        let k: [u8; 4] = b.get(size..size + 4)?.try_into().ok()?;
        size += 4;
        Some(k)
    } else {
        None
    };
    Some(RawHeader {
        fin: b0 & 0x80 != 0,
        rsv: b0 & 0x70,
        opcode: b0 & 0x0f,
        key,
        len,
        size,
    })
}

/// Where the first frame whose length is not in its shortest form starts
/// (once its header is complete), walking the frames of `wire` from the
/// start.
pub fn first_non_minimal_length(wire: &[u8]) -> Option<usize> {
    let mut pos = 0;
    while let Some(h) = wire.get(pos..).and_then(raw_header) {
        let ext = h.size - if h.key.is_some() { 4 } else { 0 };
        if (ext == 4 && h.len < 126) || (ext == 10 && h.len <= 0xffff) {
            return Some(pos);
        }
        pos = usize::try_from(h.len)
            .ok()
            .and_then(|l| (pos + h.size).checked_add(l))?;
    }
    None
}

/// The wire with its last, incomplete frame completed: zero bytes finish a
/// partial header, then payload bytes that unmask to zero (valid UTF-8, a
/// valid empty close reason); a pending frame over [`ORACLE_LIMIT`] gets
/// its header completed only. `None` if no frame is pending.
pub fn complete_pending_frame(wire: &[u8]) -> Option<Vec<u8>> {
    let mut pos = 0;
    while pos < wire.len() {
        let mut v = wire.to_vec();
        let h = loop {
            if let Some(h) = raw_header(&v[pos..]) {
                break h;
            }
            v.push(0);
        };
        // Over the limit, the header alone decides (both sides check the
        // length on the header).
        let Some(len) = usize::try_from(h.len).ok().filter(|&l| l <= ORACLE_LIMIT) else {
            return Some(v);
        };
        let end = pos + h.size + len;
        if end <= wire.len() {
            pos = end;
            continue;
        }
        let have = v.len() - (pos + h.size);
        let key = h.key.unwrap_or([0; 4]);
        v.extend((have..len).map(|i| key[i % 4]));
        return Some(v);
    }
    None
}

/// Whether some frame of `wire` (its pending frame completed) breaks more
/// than one of the header-level rules of RFC 6455 §5.2 at once, so which
/// one each side reports first is a matter of order.
pub fn breaks_two_rules(wire: &[u8], client: bool) -> bool {
    let padded = complete_pending_frame(wire).unwrap_or_else(|| wire.to_vec());
    let mut pos = 0;
    let mut in_message = false;
    while let Some(h) = padded.get(pos..).and_then(raw_header) {
        let control = h.opcode >= 8;
        let faults = [
            h.rsv != 0,
            h.key.is_some() == client,
            h.len > ORACLE_LIMIT as u64,
            h.len >> 63 != 0,
            !matches!(h.opcode, 0 | 1 | 2 | 8 | 9 | 10),
            control && h.len > 125,
            control && !h.fin,
            // §5.4: a continuation with no message begun, a new message
            // inside a fragmented one.
            h.opcode == 0 && !in_message,
            matches!(h.opcode, 1 | 2) && in_message,
        ];
        if matches!(h.opcode, 0..=2) {
            in_message = !h.fin;
        }
        let Some(next) = usize::try_from(h.len)
            .ok()
            .and_then(|l| (pos + h.size).checked_add(l))
        else {
            return faults.iter().filter(|&&f| f).count() > 1;
        };
        // A close body with a status code §7.4 does not allow on the wire
        // and a reason that is not UTF-8 (§5.5.1): two more rules.
        let body = if h.opcode == 8 {
            padded.get(pos + h.size..next).map(|p| {
                let key = h.key.unwrap_or([0; 4]);
                p.iter()
                    .enumerate()
                    .map(|(i, b)| b ^ key[i % 4])
                    .collect::<Vec<u8>>()
            })
        } else {
            None
        };
        let close = body.as_deref().filter(|b| b.len() >= 2).map(|b| {
            let code = u16::from_be_bytes([b[0], b[1]]);
            let allowed = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            [!allowed, core::str::from_utf8(&b[2..]).is_err()]
        });
        let count = faults
            .iter()
            .chain(close.iter().flatten())
            .filter(|&&f| f)
            .count();
        if count > 1 {
            return true;
        }
        pos = next;
    }
    false
}

// ---------------------------------------------------------------------------
// oracle_handshake

/// The fixed-size prefix of an `oracle_handshake` input; the rest is the
/// request.
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct OracleHandshakeInput {
    /// Unused yet; keeps room for settings without invalidating corpora.
    pub reserved: u8,
}

/// tungstenite's (and `httparse`'s default) header count limit.
pub const TUNGSTENITE_MAX_HEADERS: usize = 124;

/// A server's decision on an opening handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The head is not complete yet.
    NeedMore,
    /// Upgraded, with this `Sec-WebSocket-Accept`.
    Accept(Vec<u8>),
    /// Not upgraded (an error status, or a plain HTTP request).
    Refuse,
}

/// The `oracle_handshake` harness.
pub fn handshake(data: &[u8]) {
    let (_input, wire): (OracleHandshakeInput, _) = split_input(data);
    let ours = ours_handshake(wire);
    let theirs = tungstenite_handshake(wire);
    if ours == theirs {
        return;
    }
    let head = Head::parse(wire);
    // One side upgrades, the other refuses.
    let split_decision = matches!(
        (&ours, &theirs),
        (Decision::Accept(_), Decision::Refuse) | (Decision::Refuse, Decision::Accept(_))
    );
    // We refuse an upgrade whose Sec-WebSocket-Extensions is not an
    // extension-list (RFC 6455 §9.1) with 400; tungstenite implements no
    // extension and never reads the header.
    if let (Decision::Refuse, Decision::Accept(_)) = (&ours, &theirs)
        && head
            .values("sec-websocket-extensions")
            .iter()
            .any(|v| !valid_extension_list(v))
    {
        return;
    }
    // RFC 7230 §5.4: a server MUST answer 400 to a request without
    // exactly one Host or with an invalid one; and we hand the Origin to
    // the application as text, so one that is not UTF-8 (RFC 6454 §7
    // serializes origins in ASCII) is refused too. tungstenite reads
    // neither header.
    if let (Decision::Refuse, Decision::Accept(_)) = (&ours, &theirs) {
        let host = head.values("host");
        // Without Origin we read Sec-WebSocket-Origin (versions 4 to 8).
        let mut origin = head.values("origin");
        origin.extend(head.values("sec-websocket-origin"));
        // RFC 6455 §11.3.1 and §11.3.5: Sec-WebSocket-Key and
        // Sec-WebSocket-Version MUST NOT appear more than once in a
        // request, RFC 6454 §7 the same of Origin; we refuse a repeat,
        // tungstenite reads the first.
        let repeated = [
            "sec-websocket-key",
            "sec-websocket-version",
            "origin",
            "sec-websocket-origin",
        ]
        .iter()
        .any(|n| head.values(n).len() > 1);
        if repeated
            || host.len() != 1
            || !valid_host(host[0])
            // RFC 6455 §4.1: Sec-WebSocket-Protocol is a 1#token list; we
            // refuse one that is not (tungstenite does not read it).
            || head.values("sec-websocket-protocol")
                .iter()
                .any(|v| !valid_token_list(v))
            // Connection is a 1#token list too (RFC 7230 §6.1): we look for
            // an `upgrade` element, tungstenite for an `Upgrade` word
            // anywhere between spaces and commas.
            || head.values("connection")
                .iter()
                .any(|v| !valid_token_list(v))
            || origin.iter().any(|o| core::str::from_utf8(o).is_err())
        {
            return;
        }
    }
    // RFC 7230 §3.2.2: repeated list headers (Connection, Upgrade) are one
    // comma-separated list; tungstenite reads only the first line, so it
    // misses an `Upgrade` token on a later one.
    // Likewise Upgrade is a list (RFC 7230 §6.7) that must contain
    // `websocket` (RFC 6455 §4.2.1 item 3); tungstenite wants the value to
    // be exactly `websocket`.
    if let (Decision::Accept(_), Decision::Refuse) = (&ours, &theirs)
        && (["connection", "upgrade"]
            .iter()
            .any(|n| head.values(n).len() > 1)
            || head
                .values("upgrade")
                .iter()
                .any(|v| !v.eq_ignore_ascii_case(b"websocket")))
    {
        return;
    }
    // A request-target that is not strict origin-form (RFC 7230 §5.3.1,
    // RFC 3986 path and query characters): tungstenite refuses what the
    // `http` crate cannot parse as a URI; we take any target that starts
    // with `/` (or is an absolute ws/http URI) with the bytes httparse
    // allows, as browsers leave `|`, `^`, `[` unencoded. The other way
    // round, `http::Uri` takes `&chat` (authority-form), which we refuse
    // (400) for an upgrade.
    if split_decision && !head.target.as_deref().is_some_and(valid_origin_form) {
        return;
    }
    // We decode Sec-WebSocket-Key leniently (padding optional, non-zero
    // trailing bits: draft -04's own example key has them); tungstenite
    // wants exactly 24 characters of canonical base64. Both require 16
    // bytes.
    // The other way round, tungstenite's base64 decoder (data_encoding)
    // takes a padded block in the middle of the key (`...w=dvs=`).
    if split_decision
        && !head
            .values("sec-websocket-key")
            .first()
            .is_some_and(|k| canonical_key(k))
    {
        return;
    }
    // One side refuses a head that is not complete yet, the other waits
    // for its end first (we parse once the blank line is in; httparse
    // fails on the first bad byte). With the head ended, the one that
    // waited must refuse too.
    let mut ended = wire.to_vec();
    ended.extend_from_slice(b"\r\n\r\n");
    match (&ours, &theirs) {
        // A plain request with a body (Content-Length, Transfer-Encoding)
        // is answered once its body is in; tungstenite refuses anything
        // but an upgrade on its head.
        (Decision::NeedMore, Decision::Refuse)
            if ["content-length", "transfer-encoding"]
                .iter()
                .any(|n| !head.values(n).is_empty()) =>
        {
            return;
        }
        (Decision::NeedMore, Decision::Refuse) | (Decision::Refuse, Decision::NeedMore) => {
            let waited: fn(&[u8]) -> Decision = if ours == Decision::NeedMore {
                ours_handshake
            } else {
                tungstenite_handshake
            };
            assert_eq!(
                waited(&ended),
                Decision::Refuse,
                "{:?}",
                String::from_utf8_lossy(wire)
            );
            return;
        }
        _ => {}
    }
    panic!(
        "ours and tungstenite disagree on the handshake\nours:   {ours:?}\ntheirs: {theirs:?}\nrequest: {:?}",
        String::from_utf8_lossy(wire)
    );
}

/// Our server handshake (RFC 6455 only) over `wire`.
pub fn ours_handshake(wire: &[u8]) -> Decision {
    let mut limits = Limits::default();
    limits.max_headers = TUNGSTENITE_MAX_HEADERS;
    let config = Arc::new(
        ServerConfig::default()
            .with_dialects(DialectSet::of(&[Dialect::Rfc6455]))
            .with_limits(limits),
    );
    let mut s = ServerHandshake::new(config, T0);
    let ev = s.receive(T0, wire).and_then(|()| s.poll_event());
    match ev {
        Ok(None) => Decision::NeedMore,
        Ok(Some(ServerEvent::Upgrade(req))) => {
            s.accept(Accept::for_request(&req), &mut XorShift(2))
                .expect("accept a valid upgrade");
            let mut out = Vec::new();
            let _ = s.poll_transmit(&mut out);
            Decision::Accept(accept_header(&out).expect("101 without Sec-WebSocket-Accept"))
        }
        Ok(Some(_)) | Err(_) => Decision::Refuse,
    }
}

/// tungstenite's server handshake over the head of `wire` (the bytes after
/// the head belong to the connection, which tungstenite refuses to see
/// before its answer: "junk after request").
pub fn tungstenite_handshake(wire: &[u8]) -> Decision {
    let mut headers = [httparse::EMPTY_HEADER; TUNGSTENITE_MAX_HEADERS];
    let head = match httparse::Request::new(&mut headers).parse(wire) {
        Ok(httparse::Status::Complete(n)) => &wire[..n],
        Ok(httparse::Status::Partial) => wire,
        Err(_) => wire,
    };
    let mem = Mem {
        input: head,
        out: Vec::new(),
    };
    match tungstenite::accept_with_config(mem, None) {
        Ok(ws) => Decision::Accept(
            accept_header(&ws.get_ref().out).expect("tungstenite's 101 without the accept"),
        ),
        Err(tungstenite::HandshakeError::Interrupted(_)) => Decision::NeedMore,
        Err(tungstenite::HandshakeError::Failure(_)) => Decision::Refuse,
    }
}

/// The request head of `wire` as httparse reads it (nothing if it does
/// not parse), read once for every predicate.
#[derive(Debug, Default)]
struct Head {
    target: Option<Vec<u8>>,
    /// Lowercased names and values, in order.
    headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    fn parse(wire: &[u8]) -> Head {
        let mut headers = [httparse::EMPTY_HEADER; TUNGSTENITE_MAX_HEADERS];
        let mut r = httparse::Request::new(&mut headers);
        if r.parse(wire).is_err() {
            return Head::default();
        }
        Head {
            target: r.path.map(|p| p.as_bytes().to_vec()),
            headers: r
                .headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                .collect(),
        }
    }

    /// Every value of the header `name` (lowercase).
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

/// Whether `v` is `uri-host [ ":" port ]` (RFC 7230 §5.4, RFC 3986
/// §3.2.2: an IP literal in brackets or a reg-name, which an IPv4 address
/// also is), written here from the grammar.
pub fn valid_host(v: &[u8]) -> bool {
    let unreserved_or_sub = |c: u8| c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&c);
    let (host_ok, port) = if let Some(rest) = v.strip_prefix(b"[") {
        match rest.iter().position(|&c| c == b']') {
            Some(end) => (
                end > 0
                    && rest[..end]
                        .iter()
                        .all(|&c| unreserved_or_sub(c) || c == b':'),
                &rest[end + 1..],
            ),
            None => return false,
        }
    } else {
        let end = v.iter().position(|&c| c == b':').unwrap_or(v.len());
        let name = &v[..end];
        let pct_ok = name.iter().enumerate().all(|(i, &c)| {
            c != b'%'
                || name
                    .get(i + 1..i + 3)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        });
        (
            pct_ok && name.iter().all(|&c| unreserved_or_sub(c) || c == b'%'),
            &v[end..],
        )
    };
    let port_ok = match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    host_ok && port_ok
}

/// Whether `v` is a `1#token` list (RFC 7230 §7: empty elements ignored).
pub fn valid_token_list(v: &[u8]) -> bool {
    let mut elements = 0;
    for e in v.split(|&c| c == b',') {
        let e = e
            .iter()
            .position(|&c| c != b' ' && c != b'\t')
            .map_or(&[][..], |a| &e[a..]);
        let e = e
            .iter()
            .rposition(|&c| c != b' ' && c != b'\t')
            .map_or(&[][..], |z| &e[..=z]);
        if !e.is_empty() {
            if !e.iter().copied().all(is_tchar) {
                return false;
            }
            elements += 1;
        }
    }
    elements > 0
}

/// Whether `k` is 16 bytes in canonical padded base64 (RFC 4648 §4):
/// 22 alphabet characters, the last with its 4 low bits zero, then `==`.
pub fn canonical_key(k: &[u8]) -> bool {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let index = |c: u8| ALPHABET.iter().position(|&a| a == c);
    k.len() == 24
        && k.ends_with(b"==")
        && k[..22].iter().all(|&c| index(c).is_some())
        && index(k[21]).is_some_and(|i| i % 16 == 0)
}

/// Whether `t` is `absolute-path [ "?" query ]` (RFC 7230 §5.3.1, RFC 3986
/// §3.3 and §3.4).
pub fn valid_origin_form(t: &[u8]) -> bool {
    let pchar = |c: u8| c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%".contains(&c);
    let (path, query) = match t.iter().position(|&c| c == b'?') {
        Some(q) => (&t[..q], &t[q + 1..]),
        None => (t, &[][..]),
    };
    path.first() == Some(&b'/')
        && path.iter().all(|&c| pchar(c) || c == b'/')
        && query.iter().all(|&c| pchar(c) || c == b'/' || c == b'?')
}

/// RFC 7230 §3.2.6 `tchar`.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Whether `v` is an `extension-list` (RFC 6455 §9.1): `1#extension`,
/// `extension = token *( ";" token [ "=" ( token / quoted-string ) ] )`,
/// a quoted value unescaping to a token, optional whitespace around the
/// separators, and (RFC 7230 §7) empty list elements tolerated. Written
/// here from the grammar, independently of our parser.
pub fn valid_extension_list(v: &[u8]) -> bool {
    let mut i = 0;
    let ows = |i: &mut usize| {
        while v.get(*i).is_some_and(|&c| c == b' ' || c == b'\t') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| {
        let start = *i;
        while v.get(*i).copied().is_some_and(is_tchar) {
            *i += 1;
        }
        *i > start
    };
    let mut elements = 0;
    loop {
        ows(&mut i);
        if i == v.len() {
            return elements > 0;
        }
        if v[i] == b',' {
            i += 1;
            continue;
        }
        if !token(&mut i) {
            return false;
        }
        elements += 1;
        loop {
            ows(&mut i);
            if v.get(i) != Some(&b';') {
                break;
            }
            i += 1;
            ows(&mut i);
            if !token(&mut i) {
                return false;
            }
            ows(&mut i);
            if v.get(i) == Some(&b'=') {
                i += 1;
                ows(&mut i);
                if v.get(i) == Some(&b'"') {
                    i += 1;
                    let mut value = Vec::new();
                    loop {
                        match v.get(i) {
                            None => return false,
                            Some(b'"') => break,
                            Some(b'\\') => {
                                let Some(&c) = v.get(i + 1) else { return false };
                                value.push(c);
                                i += 2;
                            }
                            Some(&c) => {
                                value.push(c);
                                i += 1;
                            }
                        }
                    }
                    i += 1;
                    if value.is_empty() || !value.iter().copied().all(is_tchar) {
                        return false;
                    }
                } else if !token(&mut i) {
                    return false;
                }
            }
        }
        ows(&mut i);
        match v.get(i) {
            None => return true,
            Some(b',') => i += 1,
            Some(_) => return false,
        }
    }
}

/// The value of `Sec-WebSocket-Accept` in a response head.
fn accept_header(resp: &[u8]) -> Option<Vec<u8>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    r.parse(resp).ok()?;
    if r.code != Some(101) {
        return None;
    }
    r.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|h| h.value.to_vec())
}

// ---------------------------------------------------------------------------
// oracle_inflate

/// The fixed-size prefix of an `oracle_inflate` input; the rest is one
/// compressed message (without its `00 00 ff ff` tail).
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct OracleInflateInput {
    /// The output limit (0: 64 KiB).
    pub limit: u16,
    /// Where the message is split into two frames (`split % (len + 1)`).
    pub split: u16,
}

/// A limit no input of `-max_len=8192` reaches (DEFLATE expands at most
/// 1032:1).
const UNLIMITED: usize = 9 << 20;

/// An inflater's result on one message.
#[derive(Clone, PartialEq, Eq)]
pub enum Inflated {
    /// The whole output.
    Ok(Vec<u8>),
    /// The output would pass the limit.
    TooBig,
    /// Not a valid DEFLATE stream.
    Corrupt,
}

impl core::fmt::Debug for Inflated {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Inflated::Ok(out) => write!(
                f,
                "Ok({} bytes: {:02x?}..)",
                out.len(),
                &out[..out.len().min(16)]
            ),
            Inflated::TooBig => f.write_str("TooBig"),
            Inflated::Corrupt => f.write_str("Corrupt"),
        }
    }
}

/// The `oracle_inflate` harness.
pub fn inflate(data: &[u8]) {
    let (input, msg): (OracleInflateInput, _) = split_input(data);
    let limit = if input.limit == 0 {
        64 * 1024
    } else {
        usize::from(input.limit)
    };
    let split = usize::from(input.split) % (msg.len() + 1);
    // First without a limit: the two decoders must agree on the stream.
    let ours = ours_inflate(msg, split, UNLIMITED);
    let theirs = miniz_inflate(msg, UNLIMITED);
    match (&ours, &theirs) {
        (a, b) if a == b => {}
        // The message's data ends inside a block (a compliant sender's
        // sync flush always ends it on a block boundary, RFC 7692 §7.2.1).
        // zlib (and so zlib-rs) waits for the bits that complete what it
        // is reading; miniz_oxide may decide from the bits it has. We do
        // not fail that message: the next bytes of the stream do, which we
        // check by sending them.
        (Inflated::Ok(_), Inflated::Corrupt) => {
            let mut more = msg.to_vec();
            more.extend_from_slice(&DEFLATE_TAIL);
            more.extend_from_slice(&[0; 512]);
            assert_eq!(
                ours_inflate(&more, split, UNLIMITED),
                Inflated::Corrupt,
                "miniz_oxide fails a message we inflate, and the stream goes on fine"
            );
            return;
        }
        // The other way round: zlib rejects a dynamic block whose code has
        // no end-of-block symbol at once ("missing end-of-block"),
        // miniz_oxide only when it would need it. Such a message never
        // ends on a block boundary, so it is malformed whatever a decoder
        // says.
        (Inflated::Corrupt, Inflated::Ok(_)) if !miniz_on_boundary(msg) => return,
        _ => panic!(
            "ours and miniz_oxide disagree on {} bytes\nours:   {ours:?}\ntheirs: {theirs:?}",
            msg.len()
        ),
    }
    // Then with the limit: a message within it is inflated whole, one
    // past it is refused with TooBig. A corrupt message past the limit
    // may be refused either way: we inflate in 32 KiB pieces and may meet
    // the corruption before checking the limit, miniz_oxide stops when its
    // buffer is full.
    let expect = match ours {
        Inflated::Ok(out) if out.len() > limit => Inflated::TooBig,
        other => other,
    };
    for (who, got) in [
        ("ours", ours_inflate(msg, split, limit)),
        ("miniz_oxide", miniz_inflate(msg, limit)),
    ] {
        let fine = got == expect || (expect == Inflated::Corrupt && got == Inflated::TooBig);
        assert!(
            fine,
            "{who} with limit {limit}: {got:?}, expected {expect:?}"
        );
    }
}

/// Our permessage-deflate message path: the message in two pieces, the
/// second with the tail (RFC 7692 §7.2.2).
pub fn ours_inflate(msg: &[u8], split: usize, limit: usize) -> Inflated {
    let mut d = Decompressor::new(WindowBits::MAX);
    let mut out = Vec::new();
    let r = d
        .decompress(&msg[..split], &mut out, limit)
        .and_then(|()| d.decompress_end(&msg[split..], &mut out, limit));
    match r {
        Ok(()) => Inflated::Ok(out),
        Err(CodecError::TooBig { .. }) => Inflated::TooBig,
        Err(CodecError::Corrupt) => Inflated::Corrupt,
        Err(e) => panic!("inflate: unexpected error {e:?}"),
    }
}

/// `miniz_oxide`'s raw inflater on the message and the tail, into a linear
/// buffer of `limit + 1` bytes. A block with BFINAL set ends a DEFLATE stream;
/// RFC 7692 §7.2.3.3 lets a message go on after one, as a new stream that
/// may refer back into the output so far: a fresh decompressor continues at
/// the same place in the same buffer, which is exactly that.
pub fn miniz_inflate(msg: &[u8], limit: usize) -> Inflated {
    let mut input = msg.to_vec();
    input.extend_from_slice(&DEFLATE_TAIL);
    miniz_run(&input, limit).0
}

/// Whether the message (with its tail) leaves miniz_oxide on a block
/// boundary: then a final fixed-Huffman block holding only end-of-block
/// (`03 00`) ends the stream there.
pub fn miniz_on_boundary(msg: &[u8]) -> bool {
    let mut input = msg.to_vec();
    input.extend_from_slice(&DEFLATE_TAIL);
    input.extend_from_slice(&[0x03, 0x00]);
    miniz_run(&input, UNLIMITED).1
}

/// miniz_oxide over `input`; the result and whether the last DEFLATE
/// stream ended (BFINAL) exactly at the end of the input.
fn miniz_run(input: &[u8], limit: usize) -> (Inflated, bool) {
    // One byte over the limit: miniz_oxide reports a full buffer even when
    // nothing more would come.
    let cap = limit + 1;
    // Grown on demand: a fresh 9 MiB buffer per run would cost more than
    // the inflating.
    let mut out = vec![0u8; cap.min(1 << 16)];
    let mut pos = 0;
    let mut at = 0;
    let flags = inflate_flags::TINFL_FLAG_HAS_MORE_INPUT
        | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let mut r = DecompressorOxide::new();
    // Each round consumes input, grows the buffer or ends; bound it anyway.
    for _ in 0..input.len() + 64 {
        let (status, used, written) = decompress(&mut r, &input[at..], &mut out, pos, flags);
        at += used;
        pos += written;
        if pos > limit {
            return (Inflated::TooBig, false);
        }
        match status {
            TINFLStatus::NeedsMoreInput => {
                out.truncate(pos);
                return (Inflated::Ok(out), false);
            }
            TINFLStatus::Done => {
                if at == input.len() {
                    out.truncate(pos);
                    return (Inflated::Ok(out), true);
                }
                r = DecompressorOxide::new();
            }
            TINFLStatus::HasMoreOutput if out.len() >= cap => return (Inflated::TooBig, false),
            TINFLStatus::HasMoreOutput => {
                let n = (out.len() * 2).min(cap);
                out.resize(n, 0);
            }
            TINFLStatus::Failed
            | TINFLStatus::FailedCannotMakeProgress
            | TINFLStatus::BadParam
            | TINFLStatus::Adler32Mismatch => return (Inflated::Corrupt, false),
            other => panic!("miniz_oxide: unexpected status {other:?}"),
        }
    }
    panic!("miniz_oxide made no progress");
}
