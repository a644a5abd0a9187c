//! `dialects`: every [`Dialect`] through `Negotiated.dialect`, for the ones
//! `Connection::new` accepts (those answering `UnsupportedDialect` are
//! skipped, so the legacy framings are picked up as soon as they land).
//!
//! Two halves per input: hostile bytes into a connection of the chosen
//! dialect and role (the `frame_decode` invariants, without the RFC 6455
//! output parser for the other framings), then a connection-level round
//! trip between a client and a server of that dialect (the `roundtrip`
//! invariants, no handshake, no extensions).

use arbitrary::{Arbitrary, Unstructured};
use ws_proto::{Config, Connection, Dialect, Error, Negotiated, Role};

use crate::check::{AUTO_TX_BOUND, EventCheck, Transcript};
use crate::roundtrip::{self, RtInput};
use crate::util::{ChunkPlan, Settings, T0, dialect, hybi04_key, mask_rng, split_input};

/// The fixed-size prefix of a `dialects` input.
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct DialectInput {
    /// Index into `Dialect::ALL`.
    pub dialect: u8,
    /// Act as the client.
    pub client: bool,
    /// Connection settings.
    pub settings: Settings,
    /// How the wire is cut.
    pub chunks: ChunkPlan,
    /// End of stream after the input.
    pub eof: bool,
    /// Seed of the hybi-04 masking key.
    pub key_seed: u8,
}

/// The dialect and hybi-04 key of a run.
#[derive(Clone, Copy)]
struct Wire {
    dialect: Dialect,
    key: [u8; 20],
}

fn connection(role: Role, config: &Config, wire: Wire) -> Option<Connection> {
    let negotiated = Negotiated::new(wire.dialect).with_hybi04_key(wire.key);
    let rng = (role == Role::Client).then(|| mask_rng(3));
    let r = Connection::new(role, config.clone(), negotiated, rng, T0);
    match r {
        Ok(c) => Some(c),
        Err(Error::UnsupportedDialect(_)) => None,
        Err(e) => panic!("Connection::new failed: {e:?}"),
    }
}

/// The harness.
pub fn run(data: &[u8]) {
    let (input, rest): (DialectInput, _) = split_input(data);
    let d = dialect(input.dialect);
    let config = input.settings.config();
    let w = Wire {
        dialect: d,
        key: hybi04_key(input.key_seed),
    };
    let role = if input.client {
        Role::Client
    } else {
        Role::Server
    };
    let Some(_) = connection(role, &config, w) else {
        return;
    };
    // Half 1: hostile bytes, chunked and whole must agree.
    let a = hostile(role, &config, w, &input, rest, input.chunks);
    let b = hostile(role, &config, w, &input, rest, ChunkPlan::default());
    // hixie-76 frames carry no length: "too long" and "not UTF-8" race.
    let lenient = d == ws_proto::Dialect::Hixie76;
    crate::check::same_outcome(&a, &b, "dialects", lenient);
    // Half 2: the same bytes read as a message sequence, round-tripped.
    let u = Unstructured::new(rest);
    let Ok(mut rt) = RtInput::arbitrary_take_rest(u) else {
        return;
    };
    rt.chunks = input.chunks;
    let side = |mode| {
        Config::default()
            .with_receive_mode(mode)
            .with_auto_pong(false)
            .with_fragment_size(config.fragment_size)
    };
    let (Some(client), Some(server)) = (
        connection(Role::Client, &side(config.receive_mode), w),
        connection(Role::Server, &side(rt.server.mode.receive_mode()), w),
    ) else {
        panic!("{d:?} supported for one role only");
    };
    roundtrip::exchange(d, client, server, &rt);
}

fn hostile(
    role: Role,
    config: &Config,
    w: Wire,
    input: &DialectInput,
    wire: &[u8],
    plan: ChunkPlan,
) -> Transcript {
    let mut conn = connection(role, config, w).expect("supported");
    let mut check = EventCheck::new(config);
    check.set_dialect(w.dialect);
    let mut t = Transcript::default();
    let mut err: Option<Error> = None;
    let mut poll = |conn: &mut Connection, t: &mut Transcript, err: &mut Option<Error>| {
        loop {
            match conn.poll_event() {
                Ok(Some(ev)) => {
                    assert!(err.is_none(), "event after failure");
                    check.event(&ev);
                    t.push(ws_proto::session::SessionEvent::Ws(ev));
                }
                Ok(None) => break,
                Err(e) => {
                    crate::check::conn_error(&e);
                    assert_eq!(conn.poll_event().err().as_ref(), Some(&e), "not permanent");
                    *err = Some(e);
                    break;
                }
            }
        }
        assert!(
            conn.pending_transmit() <= AUTO_TX_BOUND,
            "transmit queue unbounded"
        );
    };
    for chunk in plan.split(wire) {
        if let Err(e) = conn.receive(T0, chunk) {
            crate::check::conn_error(&e);
            err = Some(e);
        }
        poll(&mut conn, &mut t, &mut err);
    }
    if input.eof {
        conn.receive_eof(T0);
        poll(&mut conn, &mut t, &mut err);
    }
    crate::util::fire_timers(&mut conn, Connection::poll_timeout, |conn, at| {
        conn.handle_timeout(at);
        poll(conn, &mut t, &mut err);
    });
    let mut out = Vec::new();
    conn.poll_transmit(&mut out);
    if w.dialect.has_rfc6455_framing() {
        crate::check::parse_output(&out, role == Role::Client);
    }
    t.error = err.map(|e| format!("{:?}", e.close_code()));
    t
}
