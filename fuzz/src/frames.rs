//! `frame_decode`: frame headers and the connection machine, both roles,
//! fed arbitrary bytes in arbitrary chunks.
//!
//! Asserts: `FrameHeader::parse` never panics, reports a consumed length
//! equal to `buffer_len`, re-emits the same bytes and calls every strict
//! prefix of a header partial; every header error has a close code. The
//! connection's events respect its limits ([`EventCheck`]), its transmit
//! queue stays bounded without application sends, every fatal error has a
//! close code, is permanent, and is announced by a close frame with that
//! code; its output parses as frames; and the events do not depend on how
//! the input was chunked (nor on `receive` versus `recv_buf`/`recv_commit`).

use arbitrary::Arbitrary;
use ws_proto::{Config, Connection, Error, FrameHeader, Role, State, Status};

use crate::check::{self, AUTO_TX_BOUND, EventCheck, Transcript};
use crate::util::{ChunkPlan, Settings, T0, mask_rng, split_input};

/// The fixed-size prefix of a `frame_decode` input; the rest is the wire.
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct FrameInput {
    /// Act as the client (the peer is a server: unmasked frames).
    pub client: bool,
    /// Connection settings.
    pub settings: Settings,
    /// How the wire is cut.
    pub chunks: ChunkPlan,
    /// Read through `recv_buf`/`recv_commit`, lending this much extra.
    pub zero_copy: Option<u8>,
    /// Never drain the transmit queue (checks it stays bounded).
    pub no_drain: bool,
    /// End of stream after the input.
    pub eof: bool,
}

/// The harness.
pub fn run(data: &[u8]) {
    let (input, wire): (FrameInput, _) = split_input(data);
    header(wire);
    let role = if input.client {
        Role::Client
    } else {
        Role::Server
    };
    let config = input.settings.config();
    let chunked = drive(role, &config, &input, wire, input.chunks);
    let whole = drive(
        role,
        &config,
        &FrameInput {
            zero_copy: None,
            ..input
        },
        wire,
        ChunkPlan::default(),
    );
    check::same_outcome(&chunked, &whole, "frame_decode", false);
}

/// The header parser on its own.
pub fn header(wire: &[u8]) {
    match FrameHeader::parse(wire) {
        Ok(Status::Complete((h, n))) => {
            assert!(n <= wire.len());
            assert_eq!(n, h.buffer_len(), "{h:?}");
            let (bytes, len) = h.to_bytes();
            assert_eq!(&bytes[..len], &wire[..n], "re-emitted header differs");
            for k in 0..n {
                assert!(
                    matches!(FrameHeader::parse(&wire[..k]), Ok(Status::Partial)),
                    "prefix {k} of a valid header is not partial"
                );
            }
        }
        Ok(Status::Partial) => assert!(wire.len() < ws_proto::frame::MAX_HEADER_LEN),
        Err(e) => check::conn_error(&Error::from(e)),
    }
}

/// Runs one connection over `wire` cut by `plan`; returns the transcript
/// (with the error's close code, which must not depend on the chunking).
pub fn drive(
    role: Role,
    config: &Config,
    input: &FrameInput,
    wire: &[u8],
    plan: ChunkPlan,
) -> Transcript {
    let mut conn = match role {
        Role::Client => Connection::client(config.clone(), mask_rng(7), T0),
        Role::Server => Connection::server(config.clone(), T0),
    }
    .expect("RFC 6455 connection");
    let mut run = ConnRun::new(config, input.no_drain);
    for chunk in plan.split(wire) {
        let r = match input.zero_copy {
            None => conn.receive(T0, chunk),
            Some(extra) => {
                let want = chunk.len() + usize::from(extra);
                let buf = conn.recv_buf(want);
                assert!(buf.len() >= want, "recv_buf lent less than asked");
                buf[..chunk.len()].copy_from_slice(chunk);
                conn.recv_commit(T0, chunk.len())
            }
        };
        if let Err(e) = r {
            run.error(&mut conn, e);
        }
        run.poll(&mut conn);
    }
    if input.eof {
        conn.receive_eof(T0);
        run.poll(&mut conn);
    }
    run.timers(&mut conn);
    run.finish(conn, role == Role::Client)
}

/// The bookkeeping of one connection run.
#[derive(Debug)]
pub struct ConnRun {
    check: EventCheck,
    /// What was polled so far.
    pub transcript: Transcript,
    out: Vec<u8>,
    no_drain: bool,
    error: Option<Error>,
    /// A close frame may have been queued before the error (we echoed the
    /// peer's close, or a timer started a close).
    closing_before_error: bool,
    saw_close: bool,
    in_timers: bool,
}

impl ConnRun {
    /// A run for a connection with `config`.
    pub fn new(config: &Config, no_drain: bool) -> Self {
        ConnRun {
            check: EventCheck::new(config),
            transcript: Transcript::default(),
            out: Vec::new(),
            no_drain,
            error: None,
            closing_before_error: false,
            saw_close: false,
            in_timers: false,
        }
    }

    /// Polls every event, checking each; then the transmit queue.
    pub fn poll(&mut self, conn: &mut Connection) {
        loop {
            match conn.poll_event() {
                Ok(Some(ev)) => {
                    assert!(self.error.is_none(), "event after a failure");
                    self.check.event(&ev);
                    if matches!(ev, ws_proto::Event::Close { .. }) {
                        self.saw_close = true;
                    }
                    self.transcript
                        .push(ws_proto::session::SessionEvent::Ws(ev));
                }
                Ok(None) => break,
                Err(e) => {
                    self.error(conn, e);
                    break;
                }
            }
        }
        self.tx(conn);
    }

    /// Checks the transmit backlog, then drains it (unless told not to).
    pub fn tx(&mut self, conn: &mut Connection) {
        assert!(
            conn.pending_transmit() <= AUTO_TX_BOUND,
            "transmit queue grew to {} without sends",
            conn.pending_transmit()
        );
        if !self.no_drain {
            conn.poll_transmit(&mut self.out);
        }
    }

    /// Records and checks an error: its close code, and that it is permanent.
    pub fn error(&mut self, conn: &mut Connection, e: Error) {
        check::conn_error(&e);
        assert!(e.is_fatal(), "a usage error from receive/poll: {e:?}");
        if let Some(prev) = &self.error {
            assert_eq!(prev, &e, "a second, different error");
        } else {
            self.closing_before_error = self.saw_close || self.in_timers;
        }
        assert_eq!(conn.state(), State::Closed, "failed but not closed");
        assert_eq!(conn.error(), Some(&e), "error() differs");
        assert_eq!(
            conn.poll_event().err().as_ref(),
            Some(&e),
            "failure not permanent"
        );
        assert_eq!(
            conn.receive(T0, b"\x81\x00").err().as_ref(),
            Some(&e),
            "failure not permanent"
        );
        self.error = Some(e);
    }

    /// Fires every timer due within the harness horizon, polling after each.
    pub fn timers(&mut self, conn: &mut Connection) {
        self.in_timers = true;
        crate::util::fire_timers(conn, Connection::poll_timeout, |conn, at| {
            conn.handle_timeout(at);
            self.poll(conn);
        });
    }

    /// Drains the output, parses it, checks the close frame, and returns the
    /// transcript with the error's close code.
    pub fn finish(mut self, mut conn: Connection, client: bool) -> Transcript {
        conn.poll_transmit(&mut self.out);
        let frames = check::parse_output(&self.out, client);
        if let Some(e) = &self.error
            && let Some(code) = e.close_code().filter(|c| c.is_sendable())
            && !self.closing_before_error
        {
            let sent = frames.iter().filter_map(check::close_code_of).next();
            assert_eq!(sent, Some(code), "no close frame with the error's code");
        }
        let mut t = self.transcript;
        t.error = self.error.as_ref().map(|e| format!("{:?}", e.close_code()));
        t
    }
}
