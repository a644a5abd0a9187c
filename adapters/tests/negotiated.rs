//! The negotiated handshake is kept (issue 14): on every adapter, both
//! sides can read the subprotocol the server chose and the extensions
//! agreed, after the connection opened. Every server kind is paired with
//! every client kind: the client offers `superchat, chat`, the server
//! (configured for `chat`) reports what it sees in its first message.
#![cfg(all(feature = "smol", feature = "tokio"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use http_upgrade::{ClientRequest, Handshake, ServerConfig};
use ws_adapters::proxy::ProxySetting;
use ws_adapters::{ClientOptions, Event, ServerOptions, blocking, mio as wmio, session_config};
use ws_proto::Config;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Std,
    Mio,
    Smol,
    Tokio,
}

const KINDS: [Kind; 4] = [Kind::Std, Kind::Mio, Kind::Smol, Kind::Tokio];

/// What a server side reports about its handshake, in one line.
fn describe(h: Option<&Handshake>) -> String {
    let Some(h) = h else {
        return "no handshake".into();
    };
    let exts: Vec<String> = h.extensions.iter().map(ToString::to_string).collect();
    format!(
        "protocol={} extensions={} target={}",
        h.protocol.as_deref().unwrap_or("-"),
        exts.join(","),
        h.target.as_deref().unwrap_or("-")
    )
}

fn server_options() -> ServerOptions {
    ServerOptions::new(session_config(Config::default(), true))
        .with_http(ServerConfig::default().with_protocols(["chat"]))
}

struct Reporter;

impl wmio::Handler for Reporter {
    type Data = Option<String>;
    fn accepted(&mut self, _peer: SocketAddr) -> Option<String> {
        None
    }
    fn opened(&mut self, conn: &mut wmio::Conn, data: &mut Option<String>) {
        *data = Some(describe(conn.negotiated()));
    }
    fn event(&mut self, conn: &mut wmio::Conn, data: &mut Option<String>, ev: Event) {
        if let Event::Text(_) = ev {
            let seen = data.clone().unwrap_or_else(|| "opened not called".into());
            let _ = conn.send_text(&seen);
        }
    }
}

/// A server of `kind` answering each connection's first text message with
/// what it sees of the handshake.
fn start_server(kind: Kind) -> SocketAddr {
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (tx, rx) = mpsc::channel();
    match kind {
        Kind::Std => {
            let server = blocking::Server::bind_with(local, server_options()).unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            std::thread::spawn(move || {
                server.run(|mut ws| {
                    if let Ok(Some(Event::Text(_))) = ws.recv() {
                        let seen = describe(ws.negotiated());
                        let _ = ws.send_text(&seen);
                    }
                    while let Ok(Some(_)) = ws.recv() {}
                })
            });
        }
        Kind::Mio => {
            std::thread::spawn(move || {
                let mut server = wmio::Server::bind(local, server_options(), Reporter).unwrap();
                tx.send(server.local_addr().unwrap()).unwrap();
                server.run().unwrap();
            });
        }
        Kind::Smol => {
            let server = ws_adapters::smol::Server::bind(local, server_options()).unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            std::thread::spawn(move || {
                async_io::block_on(async {
                    loop {
                        let (mut ws, _) = server.accept().await.unwrap();
                        std::thread::spawn(move || {
                            async_io::block_on(async {
                                ws.handshake().await.unwrap();
                                if let Ok(Some(Event::Text(_))) = ws.recv().await {
                                    let seen = describe(ws.negotiated().as_ref());
                                    let _ = ws.send_text(&seen).await;
                                }
                                while let Ok(Some(_)) = ws.recv().await {}
                            })
                        });
                    }
                })
            });
        }
        Kind::Tokio => {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let server = ws_adapters::tokio::Server::bind(local, server_options())
                        .await
                        .unwrap();
                    tx.send(server.local_addr().unwrap()).unwrap();
                    loop {
                        let (mut ws, _) = server.accept().await.unwrap();
                        tokio::spawn(async move {
                            ws.handshake().await.unwrap();
                            if let Ok(Some(Event::Text(_))) = ws.recv().await {
                                let seen = describe(ws.negotiated().as_ref());
                                let _ = ws.send_text(&seen).await;
                            }
                            while let Ok(Some(_)) = ws.recv().await {}
                        });
                    }
                })
            });
        }
    }
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

/// Connects with a client of `kind`, offering `superchat, chat` and
/// permessage-deflate; returns what the client sees of the handshake and
/// what the server reported.
fn run_client(kind: Kind, addr: SocketAddr) -> (String, String) {
    let request = ClientRequest::new(&format!("ws://{addr}/room?x=1"))
        .unwrap()
        .protocol("superchat")
        .protocol("chat");
    let options = ClientOptions::new(session_config(Config::default(), true))
        .with_proxy(ProxySetting::Direct);
    let step = Duration::from_secs(10);
    match kind {
        Kind::Std => {
            let mut ws = blocking::connect_with(request, &options).unwrap();
            let mine = describe(ws.negotiated());
            ws.send_text("what do you see?").unwrap();
            ws.flush().unwrap();
            match ws.recv_timeout(step).unwrap() {
                Some(Event::Text(t)) => (mine, t.as_str().to_owned()),
                other => panic!("{other:?}"),
            }
        }
        Kind::Mio => {
            let mut c = wmio::Client::connect_request(request, &options).unwrap();
            let mine = describe(c.conn().negotiated());
            c.conn().send_text("what do you see?").unwrap();
            match c.recv().unwrap() {
                Some(Event::Text(t)) => (mine, t.as_str().to_owned()),
                other => panic!("{other:?}"),
            }
        }
        Kind::Smol => async_io::block_on(async {
            let (mut ws, answer) = ws_adapters::smol::connect(request, &options).await.unwrap();
            let mine = describe(ws.negotiated().as_ref());
            assert_eq!(describe(Some(&answer)), mine, "connect's answer");
            ws.send_text("what do you see?").await.unwrap();
            match ws.recv().await.unwrap() {
                Some(Event::Text(t)) => (mine, t.as_str().to_owned()),
                other => panic!("{other:?}"),
            }
        }),
        Kind::Tokio => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let (mut ws, answer) = ws_adapters::tokio::connect(request, &options)
                    .await
                    .unwrap();
                let mine = describe(ws.negotiated().as_ref());
                assert_eq!(describe(Some(&answer)), mine, "connect's answer");
                ws.send_text("what do you see?").await.unwrap();
                match ws.recv().await.unwrap() {
                    Some(Event::Text(t)) => (mine, t.as_str().to_owned()),
                    other => panic!("{other:?}"),
                }
            })
        }
    }
}

#[test]
fn both_sides_see_the_chosen_subprotocol_on_every_adapter() {
    for server in KINDS {
        let addr = start_server(server);
        for client in KINDS {
            let (mine, theirs) = run_client(client, addr);
            eprintln!(
                "{server:?} server, {client:?} client: client sees {mine}; server sees {theirs}"
            );
            assert!(
                mine.starts_with("protocol=chat extensions=permessage-deflate"),
                "{server:?}/{client:?}: client sees {mine}"
            );
            assert!(mine.ends_with("target=-"), "{mine}");
            assert!(
                theirs.starts_with("protocol=chat extensions=permessage-deflate"),
                "{server:?}/{client:?}: server sees {theirs}"
            );
            assert!(theirs.ends_with("target=/room?x=1"), "{theirs}");
        }
    }
}

#[test]
fn the_client_reads_the_response_headers() {
    let addr = start_server(Kind::Mio);
    let request = ClientRequest::new(&format!("ws://{addr}/")).unwrap();
    let options = ClientOptions::new(session_config(Config::default(), false))
        .with_proxy(ProxySetting::Direct);
    let ws = blocking::connect_with(request, &options).unwrap();
    let h = ws.negotiated().unwrap();
    assert_eq!(h.headers.get_str("upgrade"), Some("websocket"));
    assert!(h.headers.get_str("sec-websocket-accept").is_some());
    assert_eq!(h.protocol, None, "nothing offered, nothing chosen");
}
