//! Two-peer simulation on the exported harness (`ws_proto::sim`): a client
//! session wired to a server session over an in-memory transport on a
//! virtual clock, running whole conversations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use ws_proto::session::{SessionError, SessionEvent};
use ws_proto::sim::{Cx, Endpoint, Faults, Sim};
use ws_proto::{Bytes, CloseCode, Config, Event, Instant, MessageKind, Role, State};

const C: Endpoint = Endpoint::client(0);
const S: Endpoint = Endpoint::server(0);

/// Servers echo data messages.
fn echo(cx: &mut Cx<'_>, ev: &SessionEvent) {
    let me = cx.endpoint();
    match ev {
        SessionEvent::Ws(Event::Text(t)) if me.is_server() => {
            cx.send(me, ws_proto::Message::Text(t.clone()))
        }
        SessionEvent::Ws(Event::Binary(b)) if me.is_server() => {
            cx.send(me, ws_proto::Message::Binary(b.clone()))
        }
        _ => {}
    }
}

type Handler = fn(&mut Cx<'_>, &SessionEvent);

/// One open link: client and server with these connection settings.
fn sim(client: Config, server: Config) -> Sim<Handler> {
    let mut sim = Sim::new(Faults::default(), echo as Handler);
    sim.link(client, server).unwrap();
    sim.settle().unwrap();
    assert!(sim.connection_mut(C).is_some() && sim.connection_mut(S).is_some());
    sim
}

/// The WebSocket events of an endpoint (the handshake's left out).
fn ws(sim: &Sim<Handler>, ep: Endpoint) -> Vec<Event> {
    sim.events(ep)
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Ws(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn state(sim: &mut Sim<Handler>, ep: Endpoint) -> State {
    sim.connection_mut(ep).unwrap().state()
}

fn code(sim: &Sim<Handler>, ep: Endpoint) -> Option<CloseCode> {
    match sim.error(ep)? {
        SessionError::Connection(e) => e.close_code(),
        _ => None,
    }
}

fn secs(s: u64) -> Instant {
    Instant::from_millis(s * 1000)
}

#[test]
fn echo_conversation() {
    let mut sim = sim(
        Config::default().with_fragment_size(Some(1000)),
        Config::default(),
    );
    let big: Vec<u8> = (0..100_000).map(|i| (i % 251) as u8).collect();
    let c = sim.connection_mut(C).unwrap();
    c.send_text("hello").unwrap();
    c.send_binary(big.clone()).unwrap();
    c.send_fragment(MessageKind::Text, "frag".as_bytes(), false)
        .unwrap();
    c.send_ping(&b"mid"[..]).unwrap();
    c.send_fragment(MessageKind::Text, "mented".as_bytes(), true)
        .unwrap();
    sim.settle().unwrap();
    assert_eq!(
        ws(&sim, C),
        vec![
            Event::Text("hello".into()),
            Event::Binary(Bytes::from(big)),
            Event::Pong(Bytes::from_static(b"mid")),
            Event::Text("fragmented".into()),
        ]
    );
    assert!(sim.error(C).is_none() && sim.error(S).is_none());
    assert_eq!(ws(&sim, S).len(), 4);
}

#[test]
fn ping_pong_both_ways() {
    let mut sim = sim(Config::default(), Config::default());
    sim.connection_mut(C).unwrap().send_ping(&b"c"[..]).unwrap();
    sim.connection_mut(S).unwrap().send_ping(&b"s"[..]).unwrap();
    sim.settle().unwrap();
    assert!(ws(&sim, C).contains(&Event::Pong(Bytes::from_static(b"c"))));
    assert!(ws(&sim, C).contains(&Event::Ping(Bytes::from_static(b"s"))));
    assert!(ws(&sim, S).contains(&Event::Pong(Bytes::from_static(b"s"))));
}

#[test]
fn client_closes_server_drops_tcp_first() {
    let mut sim = sim(Config::default(), Config::default());
    sim.close(C, CloseCode::NORMAL, "done").unwrap();
    assert_eq!(state(&mut sim, C), State::Closing);
    sim.settle().unwrap();
    let close = Event::Close {
        code: Some(CloseCode::NORMAL),
        reason: "done".into(),
    };
    assert_eq!(ws(&sim, S), vec![close]);
    // The echo repeats the code (without the reason).
    assert_eq!(
        ws(&sim, C),
        vec![Event::Close {
            code: Some(CloseCode::NORMAL),
            reason: "".into()
        }]
    );
    assert_eq!(sim.transport_closes(), [S, C]);
    assert_eq!(state(&mut sim, C), State::Closed);
    assert_eq!(state(&mut sim, S), State::Closed);
    assert!(sim.error(C).is_none(), "{:?}", sim.error(C));
}

#[test]
fn server_closes_and_drops_tcp_first() {
    let mut sim = sim(Config::default(), Config::default());
    sim.close(S, CloseCode::GOING_AWAY, "restart").unwrap();
    sim.settle().unwrap();
    assert_eq!(
        ws(&sim, C),
        vec![Event::Close {
            code: Some(CloseCode::GOING_AWAY),
            reason: "restart".into()
        }]
    );
    assert_eq!(
        ws(&sim, S),
        vec![Event::Close {
            code: Some(CloseCode::GOING_AWAY),
            reason: "".into()
        }]
    );
    assert_eq!(sim.transport_closes(), [S, C]);
}

#[test]
fn empty_close_is_echoed_empty() {
    let mut s = conn(Role::Server, Config::default());
    s.receive(
        Instant::ZERO,
        &frame(Role::Server, true, 0, ws_proto::OpCode::Close, &[]),
    )
    .unwrap();
    assert_eq!(
        s.poll_event().unwrap(),
        Some(Event::Close {
            code: None,
            reason: "".into()
        })
    );
    assert_eq!(sent_close(&transmit(&mut s)), Some(None));
    assert!(s.wants_close());
}

#[test]
fn close_handshake_times_out() {
    let mut sim = sim(Config::default(), Config::default());
    sim.cut(0).unwrap(); // the server never hears anything
    sim.close(C, CloseCode::NORMAL, "").unwrap();
    sim.run_until(secs(4)).unwrap();
    assert_eq!(state(&mut sim, C), State::Closing);
    assert!(sim.transport_closes().is_empty());
    sim.run_until(secs(6)).unwrap();
    assert_eq!(state(&mut sim, C), State::Closed);
    // The client gave up; over a cut link the server learns nothing.
    assert_eq!(sim.transport_closes(), [C]);
    assert_eq!(state(&mut sim, S), State::Open);
}

#[test]
fn client_gives_up_waiting_for_server_tcp_close() {
    // Without the buffer linger's deadline, so the close wait is the next.
    let config = Config::default().with_buffer_linger(None);
    let mut sim = sim(config.clone(), config);
    sim.ignore_close(S).unwrap(); // a server that never closes TCP
    sim.close(C, CloseCode::NORMAL, "").unwrap();
    sim.settle().unwrap();
    assert_eq!(state(&mut sim, C), State::Closed);
    assert!(!sim.session(C).unwrap().wants_close());
    assert_eq!(sim.session(C).unwrap().poll_timeout(), Some(secs(5)));
    sim.run_until(secs(5)).unwrap();
    assert_eq!(sim.transport_closes(), [C]);
}

#[test]
fn keep_alive_pings_when_idle() {
    // Without the buffer linger's deadline, so the ping is the next.
    let client = Config::default()
        .with_keep_alive(Some(Duration::from_secs(10)))
        .with_buffer_linger(None);
    let mut sim = sim(client, Config::default());
    assert_eq!(sim.session(C).unwrap().poll_timeout(), Some(secs(10)));
    // Traffic at t=5 pushes the ping back.
    sim.run_until(secs(5)).unwrap();
    sim.connection_mut(S).unwrap().send_text("tick").unwrap();
    sim.settle().unwrap();
    assert_eq!(sim.session(C).unwrap().poll_timeout(), Some(secs(15)));
    sim.run_until(secs(16)).unwrap();
    let count = |evs: Vec<Event>, f: fn(&Event) -> bool| evs.iter().filter(|e| f(e)).count();
    assert_eq!(count(ws(&sim, C), |e| matches!(e, Event::Pong(_))), 1);
    assert_eq!(count(ws(&sim, S), |e| matches!(e, Event::Ping(_))), 1);
    // The pong counts as traffic: next ping 10 s after it.
    assert_eq!(sim.session(C).unwrap().poll_timeout(), Some(secs(25)));
}

#[test]
fn idle_timeout_closes_with_going_away() {
    let server = Config::default().with_idle_timeout(Some(Duration::from_secs(30)));
    let mut sim = sim(Config::default(), server);
    sim.run_until(secs(29)).unwrap();
    assert_eq!(state(&mut sim, S), State::Open);
    sim.run_until(secs(31)).unwrap();
    assert_eq!(
        ws(&sim, C),
        vec![Event::Close {
            code: Some(CloseCode::GOING_AWAY),
            reason: "idle timeout".into()
        }]
    );
    assert_eq!(sim.transport_closes(), [S, C]);
}

#[test]
fn protocol_error_server_fails_and_drops_tcp() {
    let mut sim = sim(Config::default(), Config::default());
    sim.inject(S, &[0x8F, 0x80, 0, 0, 0, 0]).unwrap(); // reserved opcode
    sim.settle().unwrap();
    assert_eq!(code(&sim, S), Some(CloseCode::PROTOCOL_ERROR));
    assert_eq!(
        ws(&sim, C),
        vec![Event::Close {
            code: Some(CloseCode::PROTOCOL_ERROR),
            reason: "".into()
        }]
    );
    assert_eq!(sim.transport_closes(), [S, C]);
}

#[test]
fn peer_vanishing_is_abnormal_closure() {
    let mut sim = sim(Config::default(), Config::default());
    sim.close_transport(S).unwrap();
    sim.settle().unwrap();
    assert_eq!(code(&sim, C), Some(CloseCode::ABNORMAL));
    assert_eq!(state(&mut sim, C), State::Closed);
}
