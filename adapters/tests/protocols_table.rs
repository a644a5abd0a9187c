//! The protocols table (the libwebsockets server model) on every adapter:
//! the handshake picks the protocol (a default for clients that offer
//! none), each protocol keeps per-connection state, gets its timer and
//! writable wake-ups and its own limits, hears the close with its code and
//! reason, and reaches other connections through a group with its push
//! handles.
#![cfg(all(feature = "tokio", feature = "smol"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Kind, bounded, client_options, server_options, start_table};
use http_upgrade::{ClientRequest, Response};
use ws_adapters::{Ctx, End, Event, Group, Protocol, Protocols, Push, blocking};
use ws_proto::{CloseCode, Config};

type Log = Arc<Mutex<Vec<String>>>;

/// Echoes; "later" arms a 30 ms timer that answers "timer fired";
/// "writable?" asks for a writable wake-up that answers "writable";
/// "all:X" sends X to every echo connection through their push handles.
struct Echo {
    log: Log,
    room: Arc<Group<Arc<dyn Push>>>,
}

impl Protocol for Echo {
    type State = u32;
    fn established(&self, cx: &mut Ctx<'_>) -> u32 {
        if let Some(p) = cx.push_handle() {
            self.room.join(p);
        }
        0
    }
    fn event(&self, seen: &mut u32, cx: &mut Ctx<'_>, event: Event) {
        let Event::Text(t) = event else { return };
        *seen += 1;
        match t.as_str() {
            "later" => cx.set_timer(Duration::from_millis(30)),
            "writable?" => cx.request_writable(),
            "has push?" => {
                let _ = cx.send_text(format!("{}", cx.push_handle().is_some()));
            }
            s if s.starts_with("all:") => {
                self.room.broadcast_text(s[4..].to_owned());
            }
            _ => {
                let _ = cx.send_text(t);
            }
        }
    }
    fn writable(&self, _: &mut u32, cx: &mut Ctx<'_>) {
        let _ = cx.send_text("writable");
    }
    fn timer(&self, _: &mut u32, cx: &mut Ctx<'_>) {
        let _ = cx.send_text("timer fired");
    }
    fn closed(&self, seen: u32, end: &End) {
        self.log.lock().unwrap().push(format!(
            "echo closed {:?} {} after {seen}",
            end.code.map(|c| c.0),
            end.reason
        ));
    }
}

/// dumb-increment: a number every 20 ms from its own timer.
struct Counter;

impl Protocol for Counter {
    type State = u64;
    fn established(&self, cx: &mut Ctx<'_>) -> u64 {
        cx.set_timer(Duration::from_millis(20));
        0
    }
    fn event(&self, n: &mut u64, _: &mut Ctx<'_>, event: Event) {
        if matches!(&event, Event::Text(t) if t.as_str() == "reset\n") {
            *n = 0;
        }
    }
    fn timer(&self, n: &mut u64, cx: &mut Ctx<'_>) {
        let _ = cx.send_text(n.to_string());
        *n += 1;
        cx.set_timer(Duration::from_millis(20));
    }
}

/// Messages over 1000 bytes are refused (its own limits).
struct Small;

impl Protocol for Small {
    type State = ();
    fn established(&self, _: &mut Ctx<'_>) {}
    fn event(&self, _: &mut (), cx: &mut Ctx<'_>, event: Event) {
        if let Some(m) = event.into_message() {
            let _ = cx.send(m);
        }
    }
}

/// Greets in `established`: what a protocol sends there reaches the
/// client without anything else happening on the connection.
struct Greeter;

impl Protocol for Greeter {
    type State = ();
    fn established(&self, cx: &mut Ctx<'_>) {
        let _ = cx.send_text("welcome");
    }
    fn event(&self, _: &mut (), _: &mut Ctx<'_>, _: Event) {}
}

fn table(log: Log) -> Protocols {
    Protocols::new()
        .protocol(
            "echo",
            Echo {
                log,
                room: Arc::new(Group::default()),
            },
        )
        .protocol("dumb-increment-protocol", Counter)
        .protocol("greeter", Greeter)
        .protocol_with(
            "small",
            Small,
            Config::default().with_max_message_size(1000),
        )
        .default_protocol("echo")
        .http(|req| Response::new(200).body(format!("page {}\n", req.target)))
}

fn client(addr: SocketAddr, protocol: Option<&str>) -> blocking::WebSocket<TcpStream> {
    let mut req = ClientRequest::new(&format!("ws://{addr}/")).unwrap();
    if let Some(p) = protocol {
        req = req.protocol(p);
    }
    blocking::connect_with(req, &client_options(false)).unwrap()
}

#[track_caller]
fn text(ws: &mut blocking::WebSocket<TcpStream>) -> String {
    match ws.recv_timeout(Duration::from_secs(10)).unwrap() {
        Some(Event::Text(t)) => t.as_str().to_owned(),
        other => panic!("{other:?}"),
    }
}

fn exercise(kind: Kind) {
    let log: Log = Arc::default();
    let addr = start_table(kind, table(log.clone()), server_options(false));

    // The counter: its own timer, re-armed, per connection.
    let mut counter = client(addr, Some("dumb-increment-protocol"));
    let chosen = counter.negotiated().and_then(|h| h.protocol.clone());
    assert_eq!(chosen.as_deref(), Some("dumb-increment-protocol"));
    assert_eq!(
        [text(&mut counter), text(&mut counter), text(&mut counter)],
        ["0", "1", "2"]
    );

    // Sent from `established`, with nothing else happening (mio once
    // left it queued until the handshake timer's deadline, 5 s later).
    let mut greeted = client(addr, Some("greeter"));
    assert_eq!(
        greeted.recv_timeout(Duration::from_secs(2)).unwrap(),
        Some(Event::Text("welcome".into())),
        "{kind:?}"
    );

    // No subprotocol offered: the default; its timer and writable.
    let mut echo = client(addr, None);
    assert_eq!(echo.negotiated().and_then(|h| h.protocol.clone()), None);
    echo.send_text("hello").unwrap();
    assert_eq!(text(&mut echo), "hello");
    echo.send_text("later").unwrap();
    assert_eq!(text(&mut echo), "timer fired");
    echo.send_text("writable?").unwrap();
    assert_eq!(text(&mut echo), "writable");

    // An unknown subprotocol only: the default too, none echoed.
    let mut other = client(addr, Some("no-such-protocol"));
    assert_eq!(other.negotiated().and_then(|h| h.protocol.clone()), None);
    other.send_text("x").unwrap();
    assert_eq!(text(&mut other), "x");

    // Push through the group: every adapter has handles (std on unix:
    // the connection's thread waits in poll(2) once one is handed out).
    other.send_text("has push?").unwrap();
    assert_eq!(text(&mut other), "true", "{kind:?}");
    other.send_text("all:to the room").unwrap();
    assert_eq!(text(&mut other), "to the room");
    assert_eq!(text(&mut echo), "to the room");

    // Its own limits: 1009 past 1000 bytes.
    let mut small = client(addr, Some("small"));
    small.send_binary(vec![0u8; 900]).unwrap();
    assert_eq!(
        small.recv_timeout(Duration::from_secs(10)).unwrap(),
        Some(Event::Binary(vec![0u8; 900].into()))
    );
    small.send_binary(vec![0u8; 2000]).unwrap();
    match small.recv_timeout(Duration::from_secs(10)).unwrap() {
        Some(Event::Close { code, .. }) => assert_eq!(code, Some(CloseCode::TOO_BIG)),
        other => panic!("{other:?}"),
    }

    // The close reaches the protocol with its code and reason.
    echo.close(CloseCode(4001), "bye").unwrap();
    while echo
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .is_some()
    {}
    for _ in 0..200 {
        if log.lock().unwrap().iter().any(|l| l.contains("4001")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let entries = log.lock().unwrap().clone();
    assert!(
        entries
            .iter()
            .any(|l| l == "echo closed Some(4001) bye after 3"
                || l == "echo closed Some(4001) bye after 4"),
        "{kind:?}: {entries:?}"
    );

    // Plain HTTP on the same port.
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    assert!(
        page.starts_with("HTTP/1.1 200") && page.ends_with("page /index.html\n"),
        "{page}"
    );
}

#[test]
fn table_on_std() {
    bounded(Duration::from_secs(60), "table std", || exercise(Kind::Std));
}

#[test]
fn table_on_mio() {
    bounded(Duration::from_secs(60), "table mio", || exercise(Kind::Mio));
}

#[test]
fn table_on_tokio() {
    bounded(Duration::from_secs(60), "table tokio", || {
        exercise(Kind::Tokio)
    });
}

#[test]
fn table_on_smol() {
    bounded(Duration::from_secs(60), "table smol", || {
        exercise(Kind::Smol)
    });
}

#[cfg(feature = "uring")]
#[test]
fn table_on_uring() {
    bounded(Duration::from_secs(60), "table uring", || {
        exercise(Kind::Uring)
    });
}

/// A graceful shutdown: [`Protocols::going_away`] closes every connection
/// of every protocol with 1001 (the clients see the code and reason and
/// answer), [`Protocols::live`] counts them down to 0 as they finish, and
/// an upgrade after it is refused with `503` and `Retry-After`.
fn going_away(kind: Kind) {
    let log: Log = Arc::default();
    let table = table(log.clone());
    let addr = start_table(kind, table.clone(), server_options(false));
    let mut clients: Vec<_> = [Some("dumb-increment-protocol"), Some("greeter"), None]
        .into_iter()
        .map(|p| client(addr, p))
        .collect();
    let mut echo = clients.pop().unwrap();
    echo.send_text("hello").unwrap();
    assert_eq!(text(&mut echo), "hello");
    clients.push(echo);
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while table.live() < 3 {
        assert!(std::time::Instant::now() < until, "live {}", table.live());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!table.is_going_away());
    assert_eq!(table.going_away(), 3);
    for ws in &mut clients {
        let code = loop {
            match ws.recv_timeout(Duration::from_secs(10)).unwrap() {
                Some(Event::Close { code, reason }) => {
                    assert_eq!(reason.as_str(), "server going away");
                    break code;
                }
                Some(_) => {}
                None => panic!("{kind:?}: the connection ended without a close"),
            }
        };
        assert_eq!(code, Some(CloseCode::GOING_AWAY), "{kind:?}");
        while ws.recv_timeout(Duration::from_secs(10)).unwrap().is_some() {}
    }
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while table.live() > 0 {
        assert!(std::time::Instant::now() < until, "live {}", table.live());
        std::thread::sleep(Duration::from_millis(5));
    }
    // The echo protocol heard its close with the code.
    let closed = log.lock().unwrap().clone();
    assert!(
        closed
            .iter()
            .any(|l| l.starts_with("echo closed Some(1001)")),
        "{closed:?}"
    );
    // New upgrades are refused; a load balancer retries elsewhere.
    let req = ClientRequest::new(&format!("ws://{addr}/")).unwrap();
    let err = blocking::connect_with(req, &client_options(false)).unwrap_err();
    assert!(
        matches!(err.kind(), ws_adapters::ErrorKind::Rejected(503)),
        "{kind:?}: {err}"
    );
}

#[test]
fn going_away_on_every_adapter() {
    for kind in [Kind::Std, Kind::Mio, Kind::Tokio, Kind::Smol, Kind::Uring] {
        bounded(Duration::from_secs(60), "going away", move || {
            going_away(kind)
        });
    }
}
