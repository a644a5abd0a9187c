//! Two-peer simulation: a client machine wired to a server machine over an
//! in-memory transport on a virtual clock, running whole conversations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use ws_proto::{
    Bytes, CloseCode, Config, Connection, Error, Event, Instant, MessageKind, Role, State,
};

struct Peer {
    conn: Connection,
    events: Vec<Event>,
    error: Option<Error>,
    /// Bytes in flight toward this peer.
    inbox: Vec<u8>,
    /// This peer closed its transport.
    tcp_closed: bool,
    /// The other side closed: deliver EOF once the inbox is drained.
    eof_pending: bool,
    /// Echo data messages back (a server behaviour).
    echo: bool,
    /// Honour `wants_close` (a well-behaved driver).
    obeys_close: bool,
    /// The network toward this peer works.
    link_up: bool,
}

impl Peer {
    fn new(conn: Connection) -> Self {
        Peer {
            conn,
            events: Vec::new(),
            error: None,
            inbox: Vec::new(),
            tcp_closed: false,
            eof_pending: false,
            echo: false,
            obeys_close: true,
            link_up: true,
        }
    }
}

struct Sim {
    client: Peer,
    server: Peer,
    now: Instant,
    /// Which side closed TCP first, second.
    tcp_close_order: Vec<Role>,
}

impl Sim {
    fn new(client: Config, server: Config) -> Self {
        let c = Connection::client(client, rng(), Instant::ZERO).unwrap();
        let mut server = Peer::new(Connection::server(server, Instant::ZERO).unwrap());
        server.echo = true;
        Sim {
            client: Peer::new(c),
            server,
            now: Instant::ZERO,
            tcp_close_order: Vec::new(),
        }
    }

    fn peers(&mut self, role: Role) -> (&mut Peer, &mut Peer) {
        match role {
            Role::Client => (&mut self.client, &mut self.server),
            Role::Server => (&mut self.server, &mut self.client),
        }
    }

    /// One round for `role`: take input, poll events, send output, maybe
    /// close the transport. Returns true if anything happened.
    fn turn(&mut self, role: Role) -> bool {
        let now = self.now;
        let (me, other) = self.peers(role);
        if me.tcp_closed {
            return false;
        }
        let mut progress = false;
        if !me.inbox.is_empty() {
            let input = std::mem::take(&mut me.inbox);
            let _ = me.conn.receive(now, &input);
            progress = true;
        } else if me.eof_pending {
            me.eof_pending = false;
            me.conn.receive_eof(now);
            progress = true;
        }
        loop {
            match me.conn.poll_event() {
                Ok(Some(ev)) => {
                    if me.echo {
                        let _ = match &ev {
                            Event::Text(t) => me.conn.send_text(t.clone()),
                            Event::Binary(b) => me.conn.send_binary(b.clone()),
                            _ => Ok(()),
                        };
                    }
                    me.events.push(ev);
                    progress = true;
                }
                Ok(None) => break,
                Err(e) => {
                    if me.error.is_none() {
                        me.error = Some(e);
                        progress = true;
                    }
                    break;
                }
            }
        }
        let mut out = Vec::new();
        if me.conn.poll_transmit(&mut out) > 0 {
            progress = true;
            if other.link_up && !other.tcp_closed {
                other.inbox.extend_from_slice(&out);
            }
        }
        if me.obeys_close && me.conn.wants_close() {
            me.tcp_closed = true;
            other.eof_pending = true;
            self.tcp_close_order.push(role);
            progress = true;
        }
        progress
    }

    /// Runs rounds until nothing moves.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            let a = self.turn(Role::Client);
            let b = self.turn(Role::Server);
            if !a && !b {
                return;
            }
        }
        panic!("simulation did not settle");
    }

    /// Advances the clock to the next timer (at most until `limit`) and
    /// fires it; returns false if no timer is armed before `limit`.
    fn next_timer(&mut self, limit: Instant) -> bool {
        let next = [&self.client, &self.server]
            .iter()
            .filter(|p| !p.tcp_closed)
            .filter_map(|p| p.conn.poll_timeout())
            .min();
        match next {
            Some(t) if t <= limit => {
                self.now = self.now.max(t);
                for p in [&mut self.client, &mut self.server] {
                    if !p.tcp_closed && p.conn.poll_timeout().is_some_and(|d| d <= self.now) {
                        p.conn.handle_timeout(self.now);
                    }
                }
                self.settle();
                true
            }
            _ => false,
        }
    }

    fn run_until(&mut self, limit: Instant) {
        self.settle();
        while self.next_timer(limit) {}
        self.now = self.now.max(limit);
    }
}

fn secs(s: u64) -> Instant {
    Instant::from_millis(s * 1000)
}

#[test]
fn echo_conversation() {
    let mut sim = Sim::new(
        Config::default().with_fragment_size(Some(1000)),
        Config::default(),
    );
    let big: Vec<u8> = (0..100_000).map(|i| (i % 251) as u8).collect();
    sim.client.conn.send_text("hello").unwrap();
    sim.client.conn.send_binary(big.clone()).unwrap();
    sim.client
        .conn
        .send_fragment(MessageKind::Text, "frag".as_bytes(), false)
        .unwrap();
    sim.client.conn.send_ping(&b"mid"[..]).unwrap();
    sim.client
        .conn
        .send_fragment(MessageKind::Text, "mented".as_bytes(), true)
        .unwrap();
    sim.settle();
    assert_eq!(
        sim.client.events,
        vec![
            Event::Text("hello".into()),
            Event::Binary(Bytes::from(big)),
            Event::Pong(Bytes::from_static(b"mid")),
            Event::Text("fragmented".into()),
        ]
    );
    assert!(sim.client.error.is_none() && sim.server.error.is_none());
    assert_eq!(sim.server.events.len(), 4);
}

#[test]
fn ping_pong_both_ways() {
    let mut sim = Sim::new(Config::default(), Config::default());
    sim.client.conn.send_ping(&b"c"[..]).unwrap();
    sim.server.conn.send_ping(&b"s"[..]).unwrap();
    sim.settle();
    assert!(
        sim.client
            .events
            .contains(&Event::Pong(Bytes::from_static(b"c")))
    );
    assert!(
        sim.client
            .events
            .contains(&Event::Ping(Bytes::from_static(b"s")))
    );
    assert!(
        sim.server
            .events
            .contains(&Event::Pong(Bytes::from_static(b"s")))
    );
}

#[test]
fn client_closes_server_drops_tcp_first() {
    let mut sim = Sim::new(Config::default(), Config::default());
    sim.client
        .conn
        .close(sim.now, CloseCode::NORMAL, "done")
        .unwrap();
    assert_eq!(sim.client.conn.state(), State::Closing);
    sim.settle();
    let close = Event::Close {
        code: Some(CloseCode::NORMAL),
        reason: "done".into(),
    };
    assert_eq!(sim.server.events, vec![close]);
    // The echo repeats the code (without the reason).
    assert_eq!(
        sim.client.events,
        vec![Event::Close {
            code: Some(CloseCode::NORMAL),
            reason: "".into()
        }]
    );
    assert_eq!(sim.tcp_close_order, vec![Role::Server, Role::Client]);
    assert_eq!(sim.client.conn.state(), State::Closed);
    assert_eq!(sim.server.conn.state(), State::Closed);
    assert!(sim.client.error.is_none(), "{:?}", sim.client.error);
}

#[test]
fn server_closes_and_drops_tcp_first() {
    let mut sim = Sim::new(Config::default(), Config::default());
    sim.server
        .conn
        .close(sim.now, CloseCode::GOING_AWAY, "restart")
        .unwrap();
    sim.settle();
    assert_eq!(
        sim.client.events,
        vec![Event::Close {
            code: Some(CloseCode::GOING_AWAY),
            reason: "restart".into()
        }]
    );
    assert_eq!(
        sim.server.events,
        vec![Event::Close {
            code: Some(CloseCode::GOING_AWAY),
            reason: "".into()
        }]
    );
    assert_eq!(sim.tcp_close_order, vec![Role::Server, Role::Client]);
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
    let mut sim = Sim::new(Config::default(), Config::default());
    sim.server.link_up = false; // the server never hears anything
    sim.client
        .conn
        .close(sim.now, CloseCode::NORMAL, "")
        .unwrap();
    sim.run_until(secs(4));
    assert_eq!(sim.client.conn.state(), State::Closing);
    assert!(sim.tcp_close_order.is_empty());
    sim.run_until(secs(6));
    assert_eq!(sim.client.conn.state(), State::Closed);
    // The client gave up; the server then sees EOF without a close (1006).
    assert_eq!(sim.tcp_close_order, vec![Role::Client, Role::Server]);
    assert_eq!(
        sim.server.error.as_ref().and_then(|e| e.close_code()),
        Some(CloseCode::ABNORMAL)
    );
}

#[test]
fn client_gives_up_waiting_for_server_tcp_close() {
    // Without the buffer linger's deadline, so the close wait is the next.
    let config = Config::default().with_buffer_linger(None);
    let mut sim = Sim::new(config.clone(), config);
    sim.server.obeys_close = false; // a server that never closes TCP
    sim.client
        .conn
        .close(sim.now, CloseCode::NORMAL, "")
        .unwrap();
    sim.settle();
    assert_eq!(sim.client.conn.state(), State::Closed);
    assert!(!sim.client.conn.wants_close());
    assert_eq!(sim.client.conn.poll_timeout(), Some(secs(5)));
    sim.run_until(secs(5));
    assert_eq!(sim.tcp_close_order, vec![Role::Client]);
}

#[test]
fn keep_alive_pings_when_idle() {
    // Without the buffer linger's deadline, so the ping is the next.
    let client = Config::default()
        .with_keep_alive(Some(Duration::from_secs(10)))
        .with_buffer_linger(None);
    let mut sim = Sim::new(client, Config::default());
    assert_eq!(sim.client.conn.poll_timeout(), Some(secs(10)));
    // Traffic at t=5 pushes the ping back.
    sim.run_until(secs(5));
    sim.server.conn.send_text("tick").unwrap();
    sim.settle();
    assert_eq!(sim.client.conn.poll_timeout(), Some(secs(15)));
    sim.run_until(secs(16));
    let pongs = sim
        .client
        .events
        .iter()
        .filter(|e| matches!(e, Event::Pong(_)))
        .count();
    assert_eq!(pongs, 1);
    assert_eq!(
        sim.server
            .events
            .iter()
            .filter(|e| matches!(e, Event::Ping(_)))
            .count(),
        1
    );
    // The pong counts as traffic: next ping 10 s after it.
    assert_eq!(sim.client.conn.poll_timeout(), Some(secs(25)));
}

#[test]
fn idle_timeout_closes_with_going_away() {
    let server = Config::default().with_idle_timeout(Some(Duration::from_secs(30)));
    let mut sim = Sim::new(Config::default(), server);
    sim.run_until(secs(29));
    assert_eq!(sim.server.conn.state(), State::Open);
    sim.run_until(secs(31));
    assert_eq!(
        sim.client.events,
        vec![Event::Close {
            code: Some(CloseCode::GOING_AWAY),
            reason: "idle timeout".into()
        }]
    );
    assert_eq!(sim.tcp_close_order, vec![Role::Server, Role::Client]);
}

#[test]
fn protocol_error_server_fails_and_drops_tcp() {
    let mut sim = Sim::new(Config::default(), Config::default());
    sim.server
        .inbox
        .extend_from_slice(&[0x8F, 0x80, 0, 0, 0, 0]); // reserved opcode
    sim.settle();
    assert_eq!(
        sim.server.error.as_ref().and_then(|e| e.close_code()),
        Some(CloseCode::PROTOCOL_ERROR)
    );
    assert_eq!(
        sim.client.events,
        vec![Event::Close {
            code: Some(CloseCode::PROTOCOL_ERROR),
            reason: "".into()
        }]
    );
    assert_eq!(sim.tcp_close_order, vec![Role::Server, Role::Client]);
}

#[test]
fn peer_vanishing_is_abnormal_closure() {
    let mut sim = Sim::new(Config::default(), Config::default());
    sim.server.tcp_closed = true;
    sim.client.eof_pending = true;
    sim.settle();
    assert_eq!(
        sim.client.error.as_ref().and_then(|e| e.close_code()),
        Some(CloseCode::ABNORMAL)
    );
    assert_eq!(sim.client.conn.state(), State::Closed);
}
