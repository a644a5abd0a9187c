//! One send API on every facade (issue 16): text from a `String` without a
//! copy, fragments and unsolicited pongs, on the blocking adapter's
//! `WebSocket` and split `Writer` (the other facades forward to the same
//! `Driver` calls, checked by the conversation tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::thread;

use ws_adapters::{ServerOptions, blocking, session_config};
use ws_proto::{Bytes, Config, Event, MessageKind};

/// Serves one connection: reports each event's debug form back as text,
/// until the client closes.
fn reporting_server() -> (std::net::SocketAddr, thread::JoinHandle<()>) {
    let server =
        blocking::Server::bind_with("127.0.0.1:0", ServerOptions::default()).expect("bind");
    let addr = server.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (mut ws, _) = server.accept().unwrap();
        while let Some(ev) = ws.recv().unwrap() {
            let report = match ev {
                Event::Text(t) => format!("text {}", t.as_str()),
                Event::Pong(p) => format!("pong {}", String::from_utf8_lossy(&p)),
                // The echo goes out with the next recv, which then ends.
                Event::Close { .. } => continue,
                other => format!("{other:?}"),
            };
            ws.send_text(report).unwrap();
        }
    });
    (addr, handle)
}

fn text(ev: Option<Event>) -> String {
    match ev {
        Some(Event::Text(t)) => t.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

#[test]
fn fragments_pongs_and_owned_text_on_the_blocking_facades() {
    let (addr, server) = reporting_server();
    let config = Arc::new(session_config(Config::default(), false));
    let mut ws = blocking::connect(&format!("ws://{addr}/"), config).unwrap();
    ws.send_fragment(MessageKind::Text, Bytes::from_static(b"Hel"), false)
        .unwrap();
    ws.send_fragment(MessageKind::Text, Bytes::from_static(b"lo"), true)
        .unwrap();
    assert_eq!(text(ws.recv().unwrap()), "text Hello");
    ws.send_pong(Bytes::from_static(b"beat")).unwrap();
    assert_eq!(text(ws.recv().unwrap()), "pong beat");
    ws.send_text(String::from("owned")).unwrap();
    assert_eq!(text(ws.recv().unwrap()), "text owned");

    let (mut reader, writer) = ws.split().unwrap();
    writer
        .send_fragment(MessageKind::Text, Bytes::from_static(b"sp"), false)
        .unwrap();
    writer
        .send_fragment(MessageKind::Text, Bytes::from_static(b"lit"), true)
        .unwrap();
    assert_eq!(text(reader.recv().unwrap()), "text split");
    writer.send_pong(Bytes::from_static(b"2")).unwrap();
    assert_eq!(text(reader.recv().unwrap()), "pong 2");
    writer.close(ws_proto::CloseCode::NORMAL, "").unwrap();
    while reader.recv().unwrap().is_some() {}
    server.join().unwrap();
}
