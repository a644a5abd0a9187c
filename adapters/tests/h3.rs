//! WebSocket over HTTP/3 (RFC 9220), feature `h3`: our client and server
//! on QUIC (many WebSockets on one connection, permessage-deflate, large
//! and fragmented messages, the close and its FIN, a refusal's status),
//! and Python's `aioquic` (its own HTTP/3 and QPACK) as an independent
//! client.
#![cfg(feature = "h3")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Pki, bounded, client_options, server_options};
use http_upgrade::Response;
use ws_adapters::h3::{Connection, Server};
use ws_adapters::tls::{ClientTls, ServerTls};
use ws_adapters::{ClientOptions, ErrorKind, Event, Policy};
use ws_proto::CloseCode;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// How each WebSocket of the echo server ended.
type Ends = Arc<Mutex<Vec<String>>>;

/// An HTTP/3 echo server (permessage-deflate on); `/refuse` is refused
/// with 403, plain requests get `plain <path>`.
fn echo_server(tls: ServerTls) -> (SocketAddr, Ends) {
    let ends = Ends::default();
    let policy = Policy::default()
        .on_request(|req| Response::new(200).body(format!("plain {}", req.target)))
        .on_upgrade(|req, _| {
            if req.target == "/refuse" {
                Err(Response::new(403).body("no\n"))
            } else {
                Ok(http_upgrade::Accept::for_request(req))
            }
        });
    let options = server_options(true).with_policy(policy).with_tls(tls);
    let e = ends.clone();
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), options, move |mut ws| {
        let e = e.clone();
        tokio::spawn(async move {
            let mut closed = None;
            let end = loop {
                match ws.recv().await {
                    Ok(Some(Event::Text(t))) => ws.send_text(t).await.unwrap(),
                    Ok(Some(Event::Binary(b))) => ws.send_binary(b).await.unwrap(),
                    Ok(Some(Event::Close { code, .. })) => {
                        closed = Some(format!("close {}", code.map_or(0, |c| c.0)));
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break closed.take().unwrap_or_else(|| "end".into()),
                    Err(e) => break format!("error {:?}", e.close_code().map(|c| c.0)),
                }
            };
            e.lock().unwrap().push(end);
        });
    })
    .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run());
    (addr, ends)
}

fn tls_pair() -> (ServerTls, ClientOptions, Pki) {
    let pki = Pki::new();
    let (chain, key) = pki.issue(&["localhost"]);
    let server = ServerTls::new(chain, key).unwrap();
    let client =
        client_options(true).with_tls(ClientTls::trusting(std::slice::from_ref(&pki.ca)).unwrap());
    (server, client, pki)
}

#[test]
fn websockets_on_one_quic_connection() {
    bounded(Duration::from_secs(60), "h3", || {
        runtime().block_on(async {
            let (server_tls, client, _pki) = tls_pair();
            let (addr, ends) = echo_server(server_tls);
            let url = format!("wss://localhost:{}/", addr.port());
            let conn = Connection::connect(&url, &client).await.unwrap();
            let mut tasks = Vec::new();
            for i in 0..4 {
                let (conn, url) = (conn.clone(), format!("{url}ws/{i}"));
                tasks.push(tokio::spawn(async move {
                    let mut ws = conn.websocket(url.as_str()).await.unwrap();
                    let hs = ws.negotiated().unwrap();
                    assert_eq!(hs.extensions[0].name, "permessage-deflate", "{hs:?}");
                    let big: Vec<u8> = (0..1u32 << 20).map(|n| (n * 31 % 251) as u8).collect();
                    ws.send_text(format!("hello {i}")).await.unwrap();
                    ws.send_binary(big.clone()).await.unwrap();
                    ws.send_fragment(ws_proto::MessageKind::Text, "frag", false)
                        .await
                        .unwrap();
                    ws.send_fragment(ws_proto::MessageKind::Text, "ments", true)
                        .await
                        .unwrap();
                    assert_eq!(
                        ws.recv().await.unwrap(),
                        Some(Event::Text(format!("hello {i}").into()))
                    );
                    assert_eq!(ws.recv().await.unwrap(), Some(Event::Binary(big.into())));
                    assert_eq!(
                        ws.recv().await.unwrap(),
                        Some(Event::Text("fragments".into()))
                    );
                    ws.close(CloseCode::NORMAL, "done").await.unwrap();
                    match ws.recv().await.unwrap() {
                        Some(Event::Close { code, .. }) => {
                            assert_eq!(code, Some(CloseCode::NORMAL))
                        }
                        other => panic!("{other:?}"),
                    }
                    assert_eq!(ws.recv().await.unwrap(), None, "the stream's FIN");
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let refused = conn
                .websocket(format!("wss://localhost:{}/refuse", addr.port()).as_str())
                .await
                .unwrap_err();
            assert!(
                matches!(refused.kind(), ErrorKind::Rejected(403)),
                "{refused:?}"
            );
            for _ in 0..200 {
                if ends.lock().unwrap().len() >= 4 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let ends = ends.lock().unwrap();
            assert_eq!(ends.len(), 4, "{ends:?}");
            assert!(ends.iter().all(|e| e == "close 1000"), "{ends:?}");
        });
    });
}

/// A virtualenv with `aioquic` (from PyPI, installed on first use, by
/// one test at a time: they run in parallel).
fn aioquic_python() -> std::path::PathBuf {
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("h3-aioquic/venv");
    let py = venv.join("bin/python");
    let ok = |py: &std::path::Path| {
        std::process::Command::new(py)
            .args(["-c", "import aioquic.h3.connection, aioquic.asyncio"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ok(&py) {
        std::fs::create_dir_all(venv.parent().unwrap()).unwrap();
        let st = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 must be installed: .ci/run installs it");
        assert!(st.success(), "python3 -m venv failed");
        let out = std::process::Command::new(&py)
            .args(["-m", "pip", "install", "-q", "aioquic>=1.2,<2"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pip install aioquic failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(ok(&py), "aioquic is not importable after pip install");
    }
    py
}

/// aioquic (not ours: QUIC, HTTP/3, QPACK with its dynamic-table-capable
/// encoder held to our capacity 0) as the client: two WebSockets with the
/// extended CONNECT on one QUIC connection, one plain and one with
/// permessage-deflate; a `200` without `sec-websocket-accept`; text
/// (multi-byte included) and a 100 KB binary echoed; the close answered
/// with 1000 and the stream ended by our FIN.
#[test]
fn aioquic_client() {
    let py = aioquic_python();
    bounded(Duration::from_secs(90), "aioquic client", move || {
        let rt = runtime();
        let (server_tls, _, _pki) = tls_pair();
        let (addr, ends) = rt.block_on(async { echo_server(server_tls) });
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/h3/aioquic-client.py");
        let out = std::process::Command::new(&py)
            .arg(&script)
            .arg("127.0.0.1")
            .arg(addr.port().to_string())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{text}");
        assert!(!text.contains("error"), "{text}");
        // Small texts may go uncompressed (the sender chooses per message,
        // RFC 7692 §6); the 100 KB message is compressed iff negotiated.
        for (i, ext, compressed) in [(0, "-", "False"), (1, "permessage-deflate", "True")] {
            for want in [
                format!("ok {i} status 200 ext={ext} accept=no"),
                format!("ok {i} echo text 20 compressed="),
                format!("ok {i} echo binary 100000 compressed={compressed}"),
                format!("ok {i} echo text 10 compressed="),
                format!("ok {i} close 1000"),
                format!("ok {i} end"),
            ] {
                let found = text
                    .lines()
                    .any(|l| l == want || (want.ends_with('=') && l.starts_with(&want)));
                assert!(found, "no {want:?} in\n{text}");
            }
        }
        assert!(text.ends_with("done\n"), "{text}");
        rt.block_on(async {
            for _ in 0..200 {
                if ends.lock().unwrap().len() >= 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let ends = ends.lock().unwrap();
        assert_eq!(*ends, ["close 1000", "close 1000"], "{ends:?}");
    });
}

/// aioquic as the server (its QUIC, HTTP/3 and QPACK; the framing and
/// permessage-deflate of the script): our client opens two WebSockets
/// on one QUIC connection, with permessage-deflate, sends text, binary
/// and a 1 MiB message in 16 KiB fragments, gets each echoed, and closes
/// with 1000; the stream ends.
#[test]
fn aioquic_server() {
    let py = aioquic_python();
    bounded(Duration::from_secs(90), "aioquic server", move || {
        let pki = Pki::new();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("h3-aioquic-server");
        let (cert, key) = common::write_pem(&dir, &pki.issue(&["localhost"]));
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/h3/aioquic-server.py");
        let mut child = std::process::Command::new(&py)
            .arg(&script)
            .arg(&cert)
            .arg(&key)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (first, server_lines) = common::stdout_lines(&mut child);
        let port: u16 = first
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{first}"));
        let mut seen: Vec<String> = Vec::new();
        let mut client = client_options(true)
            .with_tls(ClientTls::trusting(std::slice::from_ref(&pki.ca)).unwrap());
        client.session = Arc::new(ws_adapters::session_config(
            ws_proto::Config::default().with_fragment_size(Some(16 * 1024)),
            true,
        ));
        runtime().block_on(async {
            let url = format!("wss://localhost:{port}/echo");
            let conn = Connection::connect(&url, &client).await.unwrap();
            let mut tasks = Vec::new();
            for i in 0..2u8 {
                let (conn, url) = (conn.clone(), url.clone());
                tasks.push(tokio::spawn(async move {
                    let mut ws = conn.websocket(url.as_str()).await.unwrap();
                    let hs = ws.negotiated().unwrap();
                    assert_eq!(hs.extensions[0].name, "permessage-deflate", "{hs:?}");
                    let mut x = 0x2545_f491_4f6c_dd1du64 + u64::from(i);
                    let big: Vec<u8> = (0..1u32 << 20)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            x as u8
                        })
                        .collect();
                    let msgs = [
                        Event::Text(format!("hello aioquic {i}").into()),
                        Event::Binary(vec![i; 3000].into()),
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
                    assert_eq!(ws.recv().await.unwrap(), None, "the stream's FIN");
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            common::await_ends(&server_lines, &mut seen, 2).await;
        });
        let _ = child.kill();
        let _ = child.wait();
        let text = seen.join("\n");
        eprintln!("aioquic server:\n{text}");
        assert!(!text.contains("error"), "{text}");
        for i in 0..2 {
            for want in [
                format!("ws {i} open ext=permessage-deflate key=no"),
                format!("ws {i} close 1000"),
                format!("ws {i} end"),
            ] {
                assert!(seen.contains(&want), "no {want:?} in\n{text}");
            }
            let parts: usize = seen
                .iter()
                .find_map(|l| l.strip_prefix(&format!("ws {i} got binary 1048576 in ")))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no 1 MiB message for {i}:\n{text}"));
            assert!(parts >= 64, "{parts} fragments");
        }
    });
}
