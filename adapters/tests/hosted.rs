//! WebSockets behind axum (hyper underneath) through
//! `ws_adapters::hosted::upgrade_http`: an axum router with a `/ws` route
//! beside an ordinary one; every client of ours (compression on and off)
//! and the Python `websockets` and Node `ws` clients run the conversation
//! against it; refusals come back with the protocol's status; the
//! negotiated subprotocol reaches the handler.
#![cfg(all(feature = "tokio", feature = "http"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod peer_install;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use common::*;
use http_upgrade::ServerConfig;
use peer_install::{Peer, run};
use ws_adapters::{Event, Policy, ServerOptions, hosted};

const LIMIT: Duration = Duration::from_secs(120);

/// The `/ws` route: upgrades go to `hosted`, the connection to an echo
/// task that also says which subprotocol was chosen when asked.
async fn ws_route(State(options): State<Arc<ServerOptions>>, mut req: Request) -> Response {
    match hosted::upgrade_http(&req, None, &options) {
        Ok((response, upgrading)) => {
            let protocol = upgrading
                .handshake()
                .and_then(|h| h.protocol.clone())
                .unwrap_or_default();
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let upgraded = on_upgrade.await.unwrap();
                let mut ws = upgrading.tokio(hyper_util::rt::TokioIo::new(upgraded));
                while let Ok(Some(ev)) = ws.recv().await {
                    let _ = match reply(&ev) {
                        Reply::Text(t) if t == "which protocol?" => {
                            ws.send_text(protocol.clone()).await
                        }
                        Reply::Text(t) => ws.send_text(t).await,
                        Reply::Binary(b) => ws.send_binary(b).await,
                        Reply::Close => ws.close(SERVER_CLOSE, "server-close").await,
                        Reply::Nothing => Ok(()),
                    };
                }
            });
            response.map(Body::from)
        }
        Err(refused) => refused.http_response().map(Body::from),
    }
}

fn start_axum(options: ServerOptions) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new()
                .route("/", axum::routing::get(|| async { "an ordinary page" }))
                .route("/ws", axum::routing::any(ws_route))
                .with_state(Arc::new(options));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv_timeout(STEP).unwrap()
}

#[test]
fn every_client_of_ours_through_axum() {
    for compress in [false, true] {
        let addr = start_axum(server_options(compress));
        let url = format!("ws://{addr}/ws");
        for client in KINDS {
            let url = url.clone();
            let name = format!("{client:?} client -> axum, compression {compress}");
            bounded(LIMIT, &name, move || {
                let options = client_options(compress);
                converse(compress, || connect(client, &url, &options));
            });
        }
    }
}

#[test]
fn python_and_node_clients_through_axum() {
    for peer in [Peer::Python, Peer::Node] {
        for compress in [false, true] {
            let addr = start_axum(server_options(compress));
            let mut cmd = peer_install::command(peer, "peer");
            cmd.arg("client").arg(format!("ws://{addr}/ws"));
            if compress {
                cmd.arg("compress");
            }
            let what = format!("{peer:?} client -> axum, compression {compress}");
            bounded(LIMIT, &what.clone(), move || run(&mut cmd, &what));
        }
    }
}

/// Sends a raw request, returns the status and the response head.
fn raw(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(STEP)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = vec![0; 4096];
    let mut got = 0;
    while !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf[got..]).unwrap();
        assert!(
            n > 0,
            "closed after {:?}",
            String::from_utf8_lossy(&buf[..got])
        );
        got += n;
    }
    let head = String::from_utf8_lossy(&buf[..got]).to_string();
    let status = head[9..12].parse().unwrap();
    (status, head)
}

#[test]
fn refusals_carry_the_protocols_status() {
    let addr = start_axum(
        ServerOptions::default().with_http(ServerConfig::default().with_protocols(["chat"])),
    );
    let upgrade = |extra: &str| {
        format!(
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
        )
    };
    // RFC 6455 §4.2.2: the accept key of the §1.3 example.
    let (status, head) = raw(addr, &upgrade("Sec-WebSocket-Version: 13\r\n"));
    assert_eq!(status, 101, "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    // §4.4: an unknown version gets 426 and the versions we speak.
    let (status, head) = raw(addr, &upgrade("Sec-WebSocket-Version: 99\r\n"));
    assert_eq!(status, 426, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{head}"
    );
    // No key: 400.
    let (status, head) = raw(
        addr,
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
    );
    assert_eq!(status, 400, "{head}");
    // Hixie-76 cannot run behind a host server: 426.
    let (status, head) = raw(
        addr,
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\r\n",
    );
    assert_eq!(status, 426, "{head}");
    // The ordinary route is still axum's.
    let (status, _) = raw(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200);
}

#[test]
fn the_policy_and_subprotocol_reach_the_handler() {
    let policy = Policy::default().on_upgrade(|req, _| {
        if req.origin.as_deref() == Some("http://evil.example") {
            return Err(http_upgrade::Response::new(403));
        }
        Ok(http_upgrade::Accept::for_request(req))
    });
    let options = ServerOptions::default()
        .with_http(ServerConfig::default().with_protocols(["chat", "superchat"]))
        .with_policy(policy);
    let addr = start_axum(options);
    bounded(LIMIT, "axum subprotocol", move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let url = format!("ws://{addr}/ws");
            let request = http_upgrade::ClientRequest::new(&url)
                .unwrap()
                .protocol("superchat");
            let options = client_options(false);
            let (mut ws, answer) = ws_adapters::tokio::connect(request, &options)
                .await
                .unwrap();
            assert_eq!(answer.protocol.as_deref(), Some("superchat"));
            ws.send_text("which protocol?").await.unwrap();
            assert_eq!(
                ws.recv().await.unwrap(),
                Some(Event::Text("superchat".into()))
            );
            let evil = http_upgrade::ClientRequest::new(&url)
                .unwrap()
                .origin("http://evil.example");
            let err = ws_adapters::tokio::connect(evil, &options)
                .await
                .unwrap_err();
            assert_eq!(err.status(), Some(403), "{err}");
        });
    });
}
