//! The exported simulation harness (`ws_proto::sim`): each fault it offers
//! does what its documentation says, and the core survives it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use http_upgrade::{ClientRequest, Response, ServerConfig};
use ws_proto::session::{SessionConfig, SessionError, SessionEvent};
use ws_proto::sim::{Cx, Endpoint, Faults, Sim};
use ws_proto::{CloseCode, Config, Event, Instant, Message, State};

fn link<H: ws_proto::sim::Handler>(sim: &mut Sim<H>, client: Config, server: Config) -> usize {
    sim.link(client, server).unwrap()
}

/// Servers echo data messages.
fn echo(cx: &mut Cx<'_>, ev: &SessionEvent) {
    let me = cx.endpoint();
    if !me.is_server() {
        return;
    }
    match ev {
        SessionEvent::Ws(Event::Text(t)) => cx.send(me, Message::Text(t.clone())),
        SessionEvent::Ws(Event::Binary(b)) => cx.send(me, Message::Binary(b.clone())),
        _ => {}
    }
}

fn data(events: &[SessionEvent]) -> Vec<Message> {
    events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Ws(Event::Text(t)) => Some(Message::Text(t.clone())),
            SessionEvent::Ws(Event::Binary(b)) => Some(Message::Binary(b.clone())),
            _ => None,
        })
        .collect()
}

fn close_code(e: Option<&SessionError>) -> Option<CloseCode> {
    match e? {
        SessionError::Connection(e) => e.close_code(),
        _ => None,
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn messages(n: usize) -> Vec<Message> {
    (0..n)
        .map(|i| match i % 3 {
            0 => Message::text(format!("héllo {i} ✓")),
            1 => Message::Binary(vec![i as u8; i * 37 % 3000].into()),
            _ => Message::text("€".repeat(i % 50)),
        })
        .collect()
}

#[test]
fn echo_survives_adversarial_chunking_for_many_seeds() {
    for seed in 0..40 {
        let mut sim = Sim::new(Faults::adversarial(seed), echo);
        let l = link(&mut sim, Config::default(), Config::default());
        sim.settle().unwrap();
        let sent = messages(24);
        for m in &sent {
            sim.send(Endpoint::client(l), m.clone()).unwrap();
        }
        sim.run_for(secs(1)).unwrap();
        assert_eq!(data(sim.events(Endpoint::client(l))), sent, "seed {seed}");
        assert_eq!(data(sim.events(Endpoint::server(l))), sent, "seed {seed}");
        assert!(sim.error(Endpoint::client(l)).is_none());
    }
}

#[test]
fn the_same_seed_is_the_same_run() {
    let run = |seed| {
        let mut sim = Sim::new(Faults::adversarial(seed), echo);
        let l = link(&mut sim, Config::default(), Config::default());
        for m in messages(9) {
            sim.settle().unwrap();
            sim.send(Endpoint::client(l), m).unwrap();
        }
        sim.close(Endpoint::client(l), CloseCode::NORMAL, "done")
            .unwrap();
        sim.run_for(secs(30)).unwrap();
        (
            sim.take_events(Endpoint::client(l)),
            sim.take_events(Endpoint::server(l)),
            sim.now(),
        )
    };
    assert_eq!(run(5), run(5));
}

#[test]
fn a_lost_fin_leaves_the_client_to_its_close_timeout() {
    // The server's FIN never arrives: the client, closed at the WebSocket
    // level, waits for TCP to end and gives up at its close timeout
    // (RFC 6455 §7.1.1: the server closes TCP first).
    let quiet = Config::default().with_buffer_linger(None);
    let mut sim = Sim::new(Faults::default(), ());
    let l = link(&mut sim, quiet.clone(), quiet);
    sim.settle().unwrap();
    sim.lose_fin(Endpoint::server(l)).unwrap();
    sim.close(Endpoint::client(l), CloseCode::NORMAL, "")
        .unwrap();
    sim.settle().unwrap();
    assert!(sim.is_transport_closed(Endpoint::server(l)));
    assert!(!sim.is_transport_closed(Endpoint::client(l)));
    let conn = sim.session(Endpoint::client(l)).unwrap().connection();
    assert_eq!(conn.map(|c| c.state()), Some(State::Closed));
    sim.run_for(secs(4)).unwrap();
    assert!(!sim.is_transport_closed(Endpoint::client(l)));
    sim.run_for(secs(2)).unwrap();
    assert!(sim.is_transport_closed(Endpoint::client(l)));
}

#[test]
fn a_reader_that_stops_backs_output_up_into_the_sender() {
    let mut faults = Faults::default();
    faults.window = 10_000;
    let mut sim = Sim::new(faults, ());
    let l = link(&mut sim, Config::default(), Config::default());
    sim.settle().unwrap();
    sim.stop_reading(Endpoint::client(l)).unwrap();
    let big = Message::Binary(vec![7u8; 4000].into());
    for _ in 0..10 {
        sim.send(Endpoint::server(l), big.clone()).unwrap();
    }
    sim.settle().unwrap();
    // The window is full; the rest waits in the server's session.
    assert_eq!(sim.in_flight(Endpoint::client(l)), 10_000);
    let queued = sim.session(Endpoint::server(l)).unwrap().pending_transmit();
    assert!(queued > 30_000, "queued {queued}");
    sim.resume_reading(Endpoint::client(l)).unwrap();
    sim.settle().unwrap();
    assert_eq!(data(sim.events(Endpoint::client(l))), vec![big; 10]);
    assert_eq!(
        sim.session(Endpoint::server(l)).unwrap().pending_transmit(),
        0
    );
}

#[test]
fn a_reader_that_never_resumes_trips_the_write_timeout() {
    let server = Config::default().with_write_timeout(Some(secs(10)));
    let mut faults = Faults::adversarial(3);
    faults.window = 2_000;
    let mut sim = Sim::new(faults, ());
    let l = link(&mut sim, Config::default(), server);
    sim.settle().unwrap();
    sim.stop_reading(Endpoint::client(l)).unwrap();
    sim.send(
        Endpoint::server(l),
        Message::Binary(vec![1u8; 50_000].into()),
    )
    .unwrap();
    sim.run_for(secs(9)).unwrap();
    assert!(!sim.is_transport_closed(Endpoint::server(l)));
    sim.run_for(secs(30)).unwrap();
    // Between one and two write timeouts (plus timer lateness) later.
    assert!(sim.is_transport_closed(Endpoint::server(l)));
    assert_eq!(
        close_code(sim.error(Endpoint::server(l))),
        Some(CloseCode::POLICY_VIOLATION)
    );
}

#[test]
fn late_reordered_and_spurious_timers_keep_an_idle_link_alive() {
    // Keep-alive pings both ways for ten virtual minutes, every timer up
    // to 250 ms late and sessions woken early: nobody times out.
    let c = Config::default()
        .with_keep_alive(Some(secs(7)))
        .with_pong_timeout(Some(secs(3)));
    let s = Config::default()
        .with_keep_alive(Some(secs(11)))
        .with_pong_timeout(Some(secs(3)))
        .with_idle_timeout(Some(secs(60)));
    for seed in 0..4 {
        let mut sim = Sim::new(Faults::adversarial(seed), ());
        let l = link(&mut sim, c.clone(), s.clone());
        sim.run_for(secs(600)).unwrap();
        let (c, s) = (Endpoint::client(l), Endpoint::server(l));
        for ep in [c, s] {
            assert!(sim.error(ep).is_none(), "seed {seed}: {:?}", sim.error(ep));
            assert!(!sim.is_transport_closed(ep));
        }
        // The client's pings (every 7 s of silence, at most 250 ms late)
        // keep the server from needing its own: the server only answers.
        let count =
            |ep, f: fn(&SessionEvent) -> bool| sim.events(ep).iter().filter(|e| f(e)).count();
        let pongs = count(c, |e| matches!(e, SessionEvent::Ws(Event::Pong(_))));
        let pings = count(s, |e| matches!(e, SessionEvent::Ws(Event::Ping(_))));
        assert!(pongs >= 600 / 8, "seed {seed}: {pongs} pongs");
        assert_eq!(pings, pongs, "seed {seed}");
        assert_eq!(
            count(s, |e| matches!(e, SessionEvent::Ws(Event::Pong(_)))),
            0
        );
    }
}

#[test]
fn a_cut_link_is_found_by_the_pong_timeout() {
    let c = Config::default()
        .with_keep_alive(Some(secs(5)))
        .with_pong_timeout(Some(secs(2)));
    let mut sim = Sim::new(Faults::default(), ());
    let l = link(&mut sim, c, Config::default());
    sim.settle().unwrap();
    sim.cut(l).unwrap();
    sim.run_for(secs(6)).unwrap();
    assert!(sim.error(Endpoint::client(l)).is_none());
    sim.run_for(secs(2)).unwrap();
    assert_eq!(
        close_code(sim.error(Endpoint::client(l))),
        Some(CloseCode::GOING_AWAY)
    );
    // The server heard nothing: no FIN crosses a cut link.
    assert!(!sim.is_transport_closed(Endpoint::server(l)));
    assert!(sim.error(Endpoint::server(l)).is_none());
}

#[test]
fn an_abrupt_close_is_abnormal_closure_at_the_peer() {
    let mut sim = Sim::new(Faults::adversarial(9), ());
    let l = link(&mut sim, Config::default(), Config::default());
    sim.settle().unwrap();
    sim.close_transport(Endpoint::server(l)).unwrap();
    sim.settle().unwrap();
    assert_eq!(
        close_code(sim.error(Endpoint::client(l))),
        Some(CloseCode::ABNORMAL)
    );
}

#[test]
fn a_server_that_ignores_wants_close_is_left_by_the_client() {
    let quiet = Config::default().with_buffer_linger(None);
    let mut sim = Sim::new(Faults::default(), ());
    let l = link(&mut sim, quiet.clone(), quiet);
    sim.settle().unwrap();
    sim.ignore_close(Endpoint::server(l)).unwrap();
    sim.close(Endpoint::client(l), CloseCode::NORMAL, "")
        .unwrap();
    sim.run_for(secs(4)).unwrap();
    assert!(!sim.is_transport_closed(Endpoint::server(l)));
    assert!(!sim.is_transport_closed(Endpoint::client(l)));
    sim.run_for(secs(2)).unwrap();
    assert!(sim.is_transport_closed(Endpoint::client(l)));
    assert!(!sim.is_transport_closed(Endpoint::server(l)));
}

#[test]
fn the_handler_chooses_the_subprotocol_or_refuses() {
    let handler = |cx: &mut Cx<'_>, ev: &SessionEvent| {
        if let SessionEvent::Upgrade(req) = ev {
            if req.target == "/private" {
                cx.reject(Response::new(403)).unwrap();
            } else {
                cx.accept(http_upgrade::Accept::default().protocol("chat"))
                    .unwrap();
            }
        }
    };
    let mut sim = Sim::new(Faults::adversarial(2), handler);
    let cfg = Arc::new(SessionConfig::default());
    let http = Arc::new(ServerConfig::default());
    let mut ok = ClientRequest::new("ws://sim.test/room").unwrap();
    ok.protocols = vec!["chat".into(), "superchat".into()];
    let ok = sim
        .connect(ok, cfg.clone(), http.clone(), cfg.clone())
        .unwrap();
    let no = ClientRequest::new("ws://sim.test/private").unwrap();
    let no = sim.connect(no, cfg.clone(), http, cfg).unwrap();
    sim.run_for(secs(1)).unwrap();
    let hs = sim.session(Endpoint::client(ok)).unwrap().handshake();
    assert_eq!(hs.and_then(|h| h.protocol.as_deref()), Some("chat"));
    assert!(matches!(
        sim.events(Endpoint::client(no)).first(),
        Some(SessionEvent::Rejected(r)) if r.status == 403
    ));
    assert!(
        sim.session(Endpoint::client(no))
            .unwrap()
            .connection()
            .is_none()
    );
}

#[test]
fn sends_to_a_departed_endpoint_are_counted_not_fatal() {
    // The server broadcasts each text to both server endpoints; one link
    // is closed first, so its sends are refused and counted.
    let handler = |cx: &mut Cx<'_>, ev: &SessionEvent| {
        if let SessionEvent::Ws(Event::Text(t)) = ev
            && cx.endpoint().is_server()
        {
            for l in 0..2 {
                cx.send(Endpoint::server(l), Message::Text(t.clone()));
            }
        }
    };
    let mut sim = Sim::new(Faults::default(), handler);
    let a = link(&mut sim, Config::default(), Config::default());
    let b = link(&mut sim, Config::default(), Config::default());
    sim.settle().unwrap();
    sim.close(Endpoint::client(b), CloseCode::NORMAL, "")
        .unwrap();
    sim.run_for(secs(1)).unwrap();
    sim.send(Endpoint::client(a), Message::text("anyone?"))
        .unwrap();
    sim.run_for(secs(1)).unwrap();
    assert_eq!(
        data(sim.events(Endpoint::client(a))),
        vec![Message::text("anyone?")]
    );
    assert_eq!(sim.dropped_sends(Endpoint::server(b)), 1);
    assert_eq!(sim.dropped_sends(Endpoint::server(a)), 0);
}

#[test]
fn unknown_endpoints_are_errors_not_panics() {
    let mut sim = Sim::new(Faults::default(), ());
    assert!(sim.events(Endpoint::client(3)).is_empty());
    assert!(sim.session(Endpoint::server(0)).is_none());
    assert!(sim.send(Endpoint::client(0), Message::text("x")).is_err());
    assert!(sim.cut(1).is_err());
    let l = link(&mut sim, Config::default(), Config::default());
    // Before the handshake there is no connection to send on.
    assert!(matches!(
        sim.send(Endpoint::client(l), Message::text("x")),
        Err(ws_proto::sim::SimError::NotOpen(_))
    ));
    assert_eq!(sim.now(), Instant::ZERO);
}
