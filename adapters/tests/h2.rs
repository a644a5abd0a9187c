//! WebSocket over HTTP/2 (RFC 8441), feature `h2`: our client and server,
//! many WebSockets multiplexed on one TLS connection beside plain
//! requests, HTTP/1.1 clients on the same port, prior knowledge, the close
//! handshake and a stream reset, a refusal's status, and Node's built-in
//! `http2` module as an independent peer.
#![cfg(feature = "h2")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Pki, bounded, client_options, server_options};
use http_upgrade::Response;
use ws_adapters::h2::{Connection, Server, Transport};
use ws_adapters::tls::{ClientTls, ServerTls};
use ws_adapters::{ClientOptions, ErrorKind, Event, Policy, ServerOptions};
use ws_proto::CloseCode;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// What the echo server saw: each WebSocket's transport and how it ended.
#[derive(Default)]
struct Seen {
    transports: Vec<Transport>,
    ends: Vec<String>,
}

/// An echo server (permessage-deflate on) answering plain requests with
/// `plain <path>`; `close-me` makes it close with 4000.
/// How an echo that failed ends the connection: a stream the peer reset
/// is a connection reset.
fn send_end(e: &ws_adapters::Error) -> String {
    match e.kind() {
        ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::ConnectionReset => {
            "send reset".to_owned()
        }
        _ => format!("send error {e:?}"),
    }
}

async fn echo_server(tls: Option<ServerTls>) -> (SocketAddr, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let policy = Policy::default()
        .on_request(|req| Response::new(200).body(format!("plain {}", req.target)))
        .on_upgrade(|req, _| {
            if req.target == "/refuse" {
                Err(Response::new(403).body("no\n"))
            } else {
                Ok(http_upgrade::Accept::for_request(req))
            }
        });
    let mut options: ServerOptions = server_options(true).with_policy(policy);
    if let Some(t) = tls {
        options = options.with_tls(t);
    }
    let s = seen.clone();
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), options, move |mut ws, t| {
        s.lock().unwrap().transports.push(t);
        let s = s.clone();
        tokio::spawn(async move {
            // To the end of the connection: the close reply and the end of
            // the stream are written by `recv` after the close event.
            let mut closed = None;
            let end = loop {
                match ws.recv().await {
                    Ok(Some(Event::Text(t))) if t.as_str() == "close-me" => {
                        ws.close(CloseCode(4000), "asked").await.unwrap();
                    }
                    Ok(Some(Event::Text(t))) => {
                        // A stream the peer reset fails the echo or the
                        // next read, whichever comes first.
                        if let Err(e) = ws.send_text(t).await {
                            break send_end(&e);
                        }
                    }
                    Ok(Some(Event::Binary(b))) => {
                        if let Err(e) = ws.send_binary(b).await {
                            break send_end(&e);
                        }
                    }
                    Ok(Some(Event::Close { code, .. })) => {
                        closed = Some(format!("close {}", code.map_or(0, |c| c.0)));
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break closed.take().unwrap_or_else(|| "end".to_owned()),
                    Err(e) => break format!("error {:?}", e.close_code().map(|c| c.0)),
                }
            };
            s.lock().unwrap().ends.push(end);
        });
    })
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run());
    (addr, seen)
}

fn tls_pair() -> (ServerTls, ClientOptions) {
    let pki = Pki::new();
    let (chain, key) = pki.issue(&["localhost"]);
    let server = ServerTls::new(chain, key).unwrap();
    let client =
        client_options(true).with_tls(ClientTls::trusting(std::slice::from_ref(&pki.ca)).unwrap());
    (server, client)
}

async fn wait_for(seen: &Mutex<Seen>, ends: usize) {
    for _ in 0..500 {
        if seen.lock().unwrap().ends.len() >= ends {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} ends seen, not {ends}", seen.lock().unwrap().ends.len());
}

/// Five WebSockets on one HTTP/2 connection over TLS (ALPN h2), each
/// exchanging text and a 300 KB binary message (past HTTP/2's 64 KiB
/// initial window both ways), permessage-deflate negotiated on each, then
/// a normal close; one TCP connection in all.
#[test]
fn websockets_multiplexed_on_one_tls_connection() {
    bounded(Duration::from_secs(60), "h2 multiplexed", || {
        runtime().block_on(async {
            let (server_tls, client) = tls_pair();
            let (addr, seen) = echo_server(Some(server_tls)).await;
            let url = format!("wss://localhost:{}/", addr.port());
            let conn = Connection::connect(&url, &client).await.unwrap();
            let mut tasks = Vec::new();
            for i in 0..5 {
                let conn = conn.clone();
                let url = format!("wss://localhost:{}/ws/{i}", addr.port());
                tasks.push(tokio::spawn(async move {
                    let mut ws = conn.websocket(url.as_str()).await.unwrap();
                    let hs = ws.negotiated().unwrap();
                    assert_eq!(
                        hs.extensions.first().map(|e| e.name.as_str()),
                        Some("permessage-deflate"),
                        "{hs:?}"
                    );
                    let big: Vec<u8> = (0..300_000u32).map(|n| (n * 7 % 251) as u8).collect();
                    ws.send_text(format!("hello {i}")).await.unwrap();
                    ws.send_binary(big.clone()).await.unwrap();
                    assert_eq!(
                        ws.recv().await.unwrap(),
                        Some(Event::Text(format!("hello {i}").into()))
                    );
                    assert_eq!(ws.recv().await.unwrap(), Some(Event::Binary(big.into())));
                    ws.close(CloseCode::NORMAL, "done").await.unwrap();
                    loop {
                        match ws.recv().await.unwrap() {
                            Some(Event::Close { code, .. }) => {
                                assert_eq!(code, Some(CloseCode::NORMAL));
                            }
                            Some(other) => panic!("{other:?}"),
                            None => break,
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            wait_for(&seen, 5).await;
            let seen = seen.lock().unwrap();
            assert_eq!(seen.transports, [Transport::Http2; 5]);
            assert!(
                seen.ends.iter().all(|e| e == "close 1000"),
                "{:?}",
                seen.ends
            );
        });
    });
}

/// A client that does not offer `h2` gets the HTTP/1.1 upgrade on the
/// same port; a plain HTTP/1.1 request there is answered too.
#[test]
fn http1_clients_upgrade_on_the_same_port() {
    bounded(Duration::from_secs(60), "h2 fallback", || {
        runtime().block_on(async {
            let (server_tls, client) = tls_pair();
            let mut client = client;
            client.session =
                std::sync::Arc::new(ws_adapters::session_config(Default::default(), false));
            let (addr, seen) = echo_server(Some(server_tls)).await;
            let url = format!("wss://localhost:{}/", addr.port());
            let (mut ws, hs) = ws_adapters::tokio::connect(url.as_str(), &client)
                .await
                .unwrap();
            let _ = hs;
            ws.send_text("over HTTP/1.1").await.unwrap();
            assert_eq!(
                ws.recv().await.unwrap(),
                Some(Event::Text("over HTTP/1.1".into()))
            );
            ws.close(CloseCode::NORMAL, "").await.unwrap();
            while ws.recv().await.unwrap().is_some() {}
            wait_for(&seen, 1).await;
            assert_eq!(seen.lock().unwrap().transports, [Transport::Http1]);
        });
    });
}

/// Without TLS: HTTP/2 with prior knowledge (RFC 9113 §3.3) beside
/// HTTP/1.1 on one port; the server's close reaches the client and the
/// stream ends (END_STREAM for the TCP close, RFC 8441 §5); a client that
/// drops its WebSocket resets the stream (CANCEL) and the server sees an
/// abnormal end; a refused upgrade reports its status.
#[test]
fn prior_knowledge_close_reset_and_refusal() {
    bounded(Duration::from_secs(60), "h2c", || {
        runtime().block_on(async {
            let (addr, seen) = echo_server(None).await;
            let client = client_options(false);
            let url = format!("ws://127.0.0.1:{}/", addr.port());
            let conn = Connection::connect(&url, &client).await.unwrap();

            let mut a = conn.websocket(url.as_str()).await.unwrap();
            assert!(a.negotiated().unwrap().extensions.is_empty());
            a.send_text("close-me").await.unwrap();
            match a.recv().await.unwrap() {
                Some(Event::Close { code, reason }) => {
                    assert_eq!((code, reason.as_str()), (Some(CloseCode(4000)), "asked"));
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(a.recv().await.unwrap(), None, "the stream ended");

            let b = conn.websocket(url.as_str()).await.unwrap();
            b.send_text("then gone").await.unwrap();
            drop(b);

            let refused = conn
                .websocket(format!("ws://127.0.0.1:{}/refuse", addr.port()).as_str())
                .await
                .unwrap_err();
            assert!(
                matches!(refused.kind(), ErrorKind::Rejected(403)),
                "{refused:?}"
            );

            // The same port still speaks HTTP/1.1.
            let (mut c, _) = ws_adapters::tokio::connect(url.as_str(), &client)
                .await
                .unwrap();
            c.send_text("h1").await.unwrap();
            assert_eq!(c.recv().await.unwrap(), Some(Event::Text("h1".into())));
            drop(c);

            wait_for(&seen, 3).await;
            let seen = seen.lock().unwrap();
            assert_eq!(
                seen.transports,
                [Transport::Http2, Transport::Http2, Transport::Http1]
            );
            assert_eq!(seen.ends[0], "close 4000");
            assert!(
                seen.ends[1..]
                    .iter()
                    .any(|e| e == "error Some(1006)" || e == "send reset"),
                "the reset stream: {:?}",
                seen.ends
            );
        });
    });
}

fn node_peer() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/h2/node-h2-peer.mjs")
}

/// Node's `http2` module (not ours) as the client: it waits for our
/// `SETTINGS_ENABLE_CONNECT_PROTOCOL`, opens two WebSockets with the
/// extended CONNECT on one connection (over TLS, and with prior
/// knowledge), negotiates permessage-deflate, and gets a `200` without
/// `sec-websocket-accept`, its text, binary, fragmented and 1 MiB
/// messages echoed, the close answered with 1000 and the stream ended;
/// then a plain `GET` on the same connection.
#[test]
fn node_http2_client() {
    bounded(Duration::from_secs(120), "node http2 client", || {
        let rt = runtime();
        let (server_tls, _) = tls_pair();
        let (tls_addr, _) = rt.block_on(echo_server(Some(server_tls)));
        let (plain_addr, _) = rt.block_on(echo_server(None));
        for url in [
            format!("https://localhost:{}/node", tls_addr.port()),
            format!("http://127.0.0.1:{}/node", plain_addr.port()),
        ] {
            let out = Command::new("node")
                .arg(node_peer())
                .args(["client", &url])
                .output()
                .expect("node (Node.js 20) must be installed: .ci/run installs it");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            eprintln!("{url}:\n{text}{}", String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "{url}: {text}");
            assert!(!text.contains("error"), "{url}: {text}");
            for i in 0..2 {
                for want in [
                    format!("ok {i} status 200 ext=permessage-deflate accept=no"),
                    // Small messages may go uncompressed (RFC 7692 §6: a
                    // sender chooses per message); the others must not.
                    format!("ok {i} echo text 7 compressed="),
                    format!("ok {i} echo binary 3000 compressed=true"),
                    format!("ok {i} echo text 5501 compressed=true"),
                    format!("ok {i} echo binary 1048576 compressed=true"),
                    format!("ok {i} close 1000"),
                    format!("ok {i} end"),
                ] {
                    let found = text
                        .lines()
                        .any(|l| l == want || (want.ends_with('=') && l.starts_with(&want)));
                    assert!(found, "{url}: no {want:?} in\n{text}");
                }
            }
            assert!(text.contains("ok get 200"), "{url}: {text}");
            assert!(text.ends_with("done\n"), "{url}: {text}");
        }
    });
}

/// Node's `http2` module as the server: our client opens two WebSockets
/// on one HTTP/2 connection to it (TLS with ALPN h2, and prior
/// knowledge), negotiates permessage-deflate, sends text, binary and a
/// 1 MiB message in 16 KiB fragments, gets each echoed (the large ones in
/// fragments, compressed), and closes with 1000.
#[test]
fn node_http2_server() {
    bounded(Duration::from_secs(120), "node http2 server", || {
        let pki = Pki::new();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("h2-node-server");
        let (cert_path, key_path) = common::write_pem(&dir, &pki.issue(&["localhost"]));
        for tls in [true, false] {
            let mut cmd = Command::new("node");
            cmd.arg(node_peer()).arg("server");
            if tls {
                cmd.arg("--tls").arg(&cert_path).arg(&key_path);
            }
            let mut child = cmd
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("node (Node.js 20) must be installed: .ci/run installs it");
            let (first, node_lines) = common::stdout_lines(&mut child);
            let mut seen: Vec<String> = Vec::new();
            let port: u16 = first
                .strip_prefix("listening ")
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("{first}"));
            let (scheme, host) = if tls {
                ("wss", "localhost")
            } else {
                ("ws", "127.0.0.1")
            };
            let url = format!("{scheme}://{host}:{port}/echo");
            let mut client =
                ClientOptions::new(ws_adapters::session_config(Default::default(), true))
                    .with_proxy(ws_adapters::proxy::ProxySetting::Direct);
            client.session = Arc::new(ws_adapters::session_config(
                ws_proto::Config::default().with_fragment_size(Some(16 * 1024)),
                true,
            ));
            if tls {
                client =
                    client.with_tls(ClientTls::trusting(std::slice::from_ref(&pki.ca)).unwrap());
            }
            runtime().block_on(async {
                let conn = Connection::connect(&url, &client).await.unwrap();
                let mut tasks = Vec::new();
                for i in 0..2 {
                    let (conn, url) = (conn.clone(), url.clone());
                    tasks.push(tokio::spawn(async move {
                        let mut ws = conn.websocket(url.as_str()).await.unwrap();
                        let hs = ws.negotiated().unwrap();
                        assert_eq!(hs.extensions[0].name, "permessage-deflate", "{hs:?}");
                        // Incompressible, so that it stays over 1 MiB on
                        // the wire and goes in 16 KiB fragments.
                        let mut x = 0x9e37_79b9_7f4a_7c15u64 + i as u64;
                        let big: Vec<u8> = (0..1u32 << 20)
                            .map(|_| {
                                x ^= x << 13;
                                x ^= x >> 7;
                                x ^= x << 17;
                                x as u8
                            })
                            .collect();
                        let msgs = [
                            Event::Text(format!("hello node {i}").into()),
                            Event::Binary(vec![i as u8; 3000].into()),
                            Event::Binary(big.into()),
                        ];
                        for m in &msgs {
                            match m {
                                Event::Text(t) => ws.send_text(t.clone()).await.unwrap(),
                                Event::Binary(b) => ws.send_binary(b.clone()).await.unwrap(),
                                _ => unreachable!(),
                            }
                        }
                        for m in msgs {
                            assert_eq!(ws.recv().await.unwrap(), Some(m));
                        }
                        ws.close(CloseCode::NORMAL, "bye").await.unwrap();
                        match ws.recv().await.unwrap() {
                            Some(Event::Close { code, .. }) => {
                                assert_eq!(code, Some(CloseCode::NORMAL))
                            }
                            other => panic!("{other:?}"),
                        }
                        assert_eq!(ws.recv().await.unwrap(), None, "END_STREAM");
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
                // Node's side of it.
                common::await_ends(&node_lines, &mut seen, 2).await;
            });
            let _ = child.kill();
            let _ = child.wait();
            let text = seen.join("\n");
            eprintln!("node server ({scheme}):\n{text}");
            for i in 0..2 {
                for want in [
                    format!("ws {i} open ext=permessage-deflate key=no"),
                    format!("ws {i} close 1000"),
                    format!("ws {i} end"),
                ] {
                    assert!(seen.contains(&want), "{scheme}: no {want:?} in\n{text}");
                }
            }
            assert!(!text.contains("error"), "{text}");
            // The 1 MiB message arrived in 16 KiB fragments (64 or more).
            for i in 0..2 {
                let parts: usize = seen
                    .iter()
                    .find_map(|l| l.strip_prefix(&format!("ws {i} got binary 1048576 in ")))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("{scheme}: no 1 MiB message for {i}:\n{text}"));
                assert!(parts >= 64, "{scheme}: {parts} fragments");
            }
        }
    });
}

/// One Autobahn-style case over an HTTP/2 stream: what to send, what the
/// echo server must send back.
struct Case {
    name: &'static str,
    send: Vec<Step>,
    expect: Vec<Event>,
}

enum Step {
    Text(String),
    Binary(Vec<u8>),
    Fragment(ws_proto::MessageKind, Vec<u8>, bool),
    Ping(Vec<u8>),
}

/// The Autobahn testsuite speaks HTTP/1.1 only; these are its cases'
/// payloads (sections 1, 2, 5, 6, 7, 9, and 12/13 by running everything
/// with permessage-deflate too) sent over HTTP/2 streams to our server
/// and checked against what the suite expects: framing limits at 125, 126,
/// 127, 128, 65535 and 65536 bytes; pings answered with the same payload;
/// fragmented messages with pings between the fragments; UTF-8 text with
/// multi-byte characters split across fragments; close codes echoed;
/// messages of 1 and 4 MiB (the latter in 64 KiB fragments).
fn autobahn_cases() -> Vec<Case> {
    use ws_proto::MessageKind::{Binary, Text};
    let mut cases = Vec::new();
    for len in [0usize, 125, 126, 127, 128, 65535, 65536] {
        let text = "*".repeat(len);
        cases.push(Case {
            name: "1.1 text",
            send: vec![Step::Text(text.clone())],
            expect: vec![Event::Text(text.into())],
        });
        let bin = vec![0xfe_u8; len];
        cases.push(Case {
            name: "1.2 binary",
            send: vec![Step::Binary(bin.clone())],
            expect: vec![Event::Binary(bin.into())],
        });
    }
    for len in [0usize, 125] {
        let p = vec![0xaa_u8; len];
        cases.push(Case {
            name: "2 ping",
            send: vec![Step::Ping(p.clone())],
            expect: vec![Event::Pong(p.into())],
        });
    }
    cases.push(Case {
        name: "5.6 fragments with a ping between",
        send: vec![
            Step::Fragment(Text, b"fragment1".to_vec(), false),
            Step::Ping(b"ping payload".to_vec()),
            Step::Fragment(Text, b"fragment2".to_vec(), true),
        ],
        expect: vec![
            Event::Pong(b"ping payload".to_vec().into()),
            Event::Text("fragment1fragment2".into()),
        ],
    });
    cases.push(Case {
        name: "5.19 many fragments, pings between",
        send: (0..10)
            .flat_map(|i| {
                [
                    Step::Fragment(Binary, vec![i as u8; 1000], i == 9),
                    Step::Ping(vec![i as u8]),
                ]
            })
            .collect(),
        expect: (0..10u8)
            .map(|i| Event::Pong(vec![i].into()))
            .take(9)
            .chain([Event::Binary(
                (0..10u8)
                    .flat_map(|i| vec![i; 1000])
                    .collect::<Vec<u8>>()
                    .into(),
            )])
            .chain([Event::Pong(vec![9u8].into())])
            .collect(),
    });
    for text in ["κόσμε", "Hello-µ@ßöäüàá-UTF-8!!", "\u{10FFFF}\u{FEFF}\u{0}"] {
        cases.push(Case {
            name: "6 UTF-8",
            send: vec![Step::Text(text.to_owned())],
            expect: vec![Event::Text(text.into())],
        });
        // Every split point, code points cut in two included (6.2.3).
        let bytes = text.as_bytes();
        for cut in 1..bytes.len() {
            cases.push(Case {
                name: "6.2 UTF-8 split across fragments",
                send: vec![
                    Step::Fragment(Text, bytes[..cut].to_vec(), false),
                    Step::Fragment(Text, bytes[cut..].to_vec(), true),
                ],
                expect: vec![Event::Text(text.into())],
            });
        }
    }
    let mega_text = "abcdefghij".repeat(1 << 17) + "κόσμε";
    cases.push(Case {
        name: "9.1 1 MiB text",
        send: vec![Step::Text(mega_text.clone())],
        expect: vec![Event::Text(mega_text.into())],
    });
    let four: Vec<u8> = (0..4u32 << 20).map(|n| (n % 251) as u8).collect();
    cases.push(Case {
        name: "9.2 4 MiB binary in 64 KiB fragments",
        send: four
            .chunks(64 << 10)
            .enumerate()
            .map(|(i, c)| Step::Fragment(Binary, c.to_vec(), i == 63))
            .collect(),
        expect: vec![Event::Binary(four.into())],
    });
    cases
}

#[test]
fn autobahn_case_payloads_over_http2() {
    bounded(Duration::from_secs(120), "autobahn over h2", || {
        runtime().block_on(async {
            let (addr, seen) = echo_server(None).await;
            let url = format!("ws://127.0.0.1:{}/", addr.port());
            let mut streams = 0;
            for compression in [false, true] {
                let conn = Connection::connect(&url, &client_options(compression))
                    .await
                    .unwrap();
                for case in autobahn_cases() {
                    let mut ws = conn.websocket(url.as_str()).await.unwrap();
                    streams += 1;
                    assert_eq!(ws.negotiated().unwrap().extensions.is_empty(), !compression);
                    for step in case.send {
                        match step {
                            Step::Text(t) => ws.send_text(t).await.unwrap(),
                            Step::Binary(b) => ws.send_binary(b).await.unwrap(),
                            Step::Fragment(k, d, fin) => ws.send_fragment(k, d, fin).await.unwrap(),
                            Step::Ping(p) => ws.send_ping(p).await.unwrap(),
                        }
                    }
                    for want in case.expect {
                        let got = ws.recv().await.unwrap();
                        assert_eq!(
                            got.as_ref(),
                            Some(&want),
                            "{} (compression {compression})",
                            case.name
                        );
                    }
                    // 7.1: a close code of the application's range echoed.
                    ws.close(CloseCode(3000), "done").await.unwrap();
                    match ws.recv().await.unwrap() {
                        Some(Event::Close { code, .. }) => assert_eq!(code, Some(CloseCode(3000))),
                        other => panic!("{}: {other:?}", case.name),
                    }
                    assert_eq!(ws.recv().await.unwrap(), None);
                }
            }
            wait_for(&seen, streams).await;
            let seen = seen.lock().unwrap();
            assert!(seen.transports.iter().all(|t| *t == Transport::Http2));
            assert!(
                seen.ends.iter().all(|e| e == "close 3000"),
                "{:?}",
                seen.ends
            );
        });
    });
}

/// hyper's own HTTP/2 server (`enable_connect_protocol`) with our
/// `hosted::connect_upgrade_http` answering the extended CONNECT and the
/// session running on `hyper::upgrade::on`'s stream: what an axum or
/// hyper application does to take WebSockets over HTTP/2. Our client
/// opens three on one connection (prior knowledge), permessage-deflate
/// negotiated; a refused one gets its status.
#[test]
fn hyper_http2_server_with_hosted_connect_upgrade() {
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    bounded(Duration::from_secs(60), "hyper h2", || {
        runtime().block_on(async {
            let policy = Policy::default().on_upgrade(|req, _| {
                if req.target == "/refuse" {
                    Err(Response::new(403).body("no\n"))
                } else {
                    Ok(http_upgrade::Accept::for_request(req))
                }
            });
            let options = Arc::new(server_options(true).with_policy(policy));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                loop {
                    let (tcp, peer) = listener.accept().await.unwrap();
                    let options = options.clone();
                    let svc =
                        hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                            let options = options.clone();
                            async move {
                                if req.method() != http::Method::CONNECT {
                                    let r =
                                        http::Response::new(Full::new(bytes::Bytes::from("plain")));
                                    return Ok::<_, std::convert::Infallible>(r);
                                }
                                let protocol = req
                                    .extensions()
                                    .get::<hyper::ext::Protocol>()
                                    .map(|p| p.as_str().to_owned());
                                let answer = ws_adapters::hosted::connect_upgrade_http(
                                    &req,
                                    protocol.as_deref(),
                                    Some(peer),
                                    &options,
                                );
                                match answer {
                                    Ok((response, upgrading)) => {
                                        let on = hyper::upgrade::on(&mut req);
                                        tokio::spawn(async move {
                                            let mut ws =
                                                upgrading.tokio(TokioIo::new(on.await.unwrap()));
                                            while let Ok(Some(ev)) = ws.recv().await {
                                                if let Some(m) = ev.into_message() {
                                                    let _ = ws.send(m).await;
                                                }
                                            }
                                        });
                                        Ok(response.map(Full::new))
                                    }
                                    Err(refused) => Ok(refused.http_response().map(Full::new)),
                                }
                            }
                        });
                    tokio::spawn(async move {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .enable_connect_protocol()
                            .serve_connection(TokioIo::new(tcp), svc)
                            .await;
                    });
                }
            });
            let url = format!("ws://127.0.0.1:{}/", addr.port());
            let conn = Connection::connect(&url, &client_options(true))
                .await
                .unwrap();
            let mut sockets = Vec::new();
            for i in 0..3 {
                let ws = conn.websocket(url.as_str()).await.unwrap();
                assert_eq!(
                    ws.negotiated().unwrap().extensions[0].name,
                    "permessage-deflate"
                );
                ws.send_text(format!("via hyper {i}")).await.unwrap();
                sockets.push(ws);
            }
            for (i, ws) in sockets.iter_mut().enumerate() {
                assert_eq!(
                    ws.recv().await.unwrap(),
                    Some(Event::Text(format!("via hyper {i}").into()))
                );
                ws.send_binary(vec![i as u8; 70_000]).await.unwrap();
                assert_eq!(
                    ws.recv().await.unwrap(),
                    Some(Event::Binary(vec![i as u8; 70_000].into()))
                );
                ws.close(CloseCode::NORMAL, "").await.unwrap();
                while ws.recv().await.unwrap().is_some() {}
            }
            let refused = conn
                .websocket(format!("ws://127.0.0.1:{}/refuse", addr.port()).as_str())
                .await
                .unwrap_err();
            assert!(
                matches!(refused.kind(), ErrorKind::Rejected(403)),
                "{refused:?}"
            );
        });
    });
}

/// One WebSocket whose reader stalls does not stall the others on the
/// same HTTP/2 connection: the client never reads A's echo of a 300 KB
/// message (A's stream window fills on both sides: the echo task of A
/// waits to send, and A's input waits to be read), and B still talks.
/// With HTTP/2's default connection window (one stream's worth) A's
/// unread bytes would take all of it.
#[test]
fn a_stalled_websocket_does_not_stall_the_others() {
    bounded(Duration::from_secs(60), "h2 stalled stream", || {
        runtime().block_on(async {
            let (addr, _) = echo_server(None).await;
            let url = format!("ws://127.0.0.1:{}/", addr.port());
            let conn = Connection::connect(&url, &client_options(false))
                .await
                .unwrap();
            let a = conn.websocket(url.as_str()).await.unwrap();
            let mut b = conn.websocket(url.as_str()).await.unwrap();
            // A's send completes as far as the windows let it; not awaited
            // to the end: nobody reads A's echo.
            let stalled = tokio::spawn(async move {
                let _ = a.send_binary(vec![1u8; 300_000]).await;
                a
            });
            tokio::time::sleep(Duration::from_millis(300)).await;
            for i in 0..3 {
                b.send_text(format!("still here {i}")).await.unwrap();
                let got = tokio::time::timeout(Duration::from_secs(5), b.recv())
                    .await
                    .expect("B stalled behind A")
                    .unwrap();
                assert_eq!(got, Some(Event::Text(format!("still here {i}").into())));
            }
            stalled.abort();
        });
    });
}
