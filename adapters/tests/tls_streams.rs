//! The tokio adapter over a TLS stream the application built itself with
//! `tokio-rustls` (not our TLS layer), against independent peers over
//! `wss://` on loopback: Python `websockets` and Node `ws` as clients of
//! our server (`ws_adapters::tokio::accept` on a `TlsStream`) and as
//! servers for our client (`ws_adapters::tokio::client` on a `TlsStream`),
//! compression on and off, the whole conversation.
//!
//! The peers are installed by the test (see `peer_install`); if that
//! fails the test fails, loudly.
#![cfg(all(feature = "tokio", feature = "tls"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod peer_install;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::*;
use peer_install::{Peer, run};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector, rustls};

const LIMIT: Duration = Duration::from_secs(120);

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A CA, a certificate for 127.0.0.1 and localhost, and their PEM files
/// for the peers.
struct Tls {
    ca: CertificateDer<'static>,
    identity: Identity,
    dir: PathBuf,
}

impl Tls {
    fn new() -> Tls {
        let pki = Pki::new();
        let identity = pki.issue(&["127.0.0.1", "localhost"]);
        // One directory per PKI: `cargo test` runs both tests in one
        // process, each with its own CA.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("tls-streams-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), pem("CERTIFICATE", &pki.ca)).unwrap();
        std::fs::write(dir.join("cert.pem"), pem("CERTIFICATE", &identity.0[0])).unwrap();
        std::fs::write(
            dir.join("key.pem"),
            pem("PRIVATE KEY", identity.1.secret_der()),
        )
        .unwrap();
        Tls {
            ca: pki.ca,
            identity,
            dir,
        }
    }

    fn acceptor(&self) -> TlsAcceptor {
        let (chain, key) = (self.identity.0.clone(), self.identity.1.clone_key());
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }

    fn connector(&self) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

/// Our tokio echo server, each connection a `tokio_rustls` server stream
/// handed to `ws_adapters::tokio::accept`.
fn start_tls_server(tls: &Tls, compress: bool) -> u16 {
    let acceptor = tls.acceptor();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            let options = server_options(compress);
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (acceptor, options) = (acceptor.clone(), options.clone());
                tokio::spawn(async move {
                    let stream = acceptor.accept(tcp).await.unwrap();
                    let mut ws = ws_adapters::tokio::accept(stream, &options).await.unwrap();
                    while let Ok(Some(ev)) = ws.recv().await {
                        let _ = match reply(&ev) {
                            Reply::Text(t) => ws.send_text(t).await,
                            Reply::Binary(b) => ws.send_binary(b).await,
                            Reply::Close => ws.close(SERVER_CLOSE, "server-close").await,
                            Reply::Nothing => Ok(()),
                        };
                    }
                });
            }
        });
    });
    rx.recv_timeout(STEP).unwrap()
}

#[test]
fn peers_against_our_server_on_a_tokio_rustls_stream() {
    let tls = Tls::new();
    for peer in [Peer::Python, Peer::Node] {
        for compress in [false, true] {
            let port = start_tls_server(&tls, compress);
            let mut cmd = peer_install::command(peer, "peer");
            cmd.arg("client")
                .arg(format!("wss://127.0.0.1:{port}/"))
                .env("PEER_TLS_CA", tls.dir.join("ca.pem"));
            if compress {
                cmd.arg("compress");
            }
            let what =
                format!("{peer:?} wss client -> tokio over tokio-rustls, compression {compress}");
            bounded(LIMIT, &what.clone(), move || run(&mut cmd, &what));
        }
    }
}

/// A peer's TLS echo server, killed on drop.
struct PeerServer(Child, u16);

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn peer_tls_server(peer: Peer, tls: &Tls, compress: bool) -> PeerServer {
    let mut cmd = peer_install::command(peer, "peer");
    cmd.arg("server")
        .env("PEER_TLS_CERT", tls.dir.join("cert.pem"))
        .env("PEER_TLS_KEY", tls.dir.join("key.pem"));
    if compress {
        cmd.arg("compress");
    }
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{peer:?} server said {line:?}"));
    PeerServer(child, port)
}

#[test]
fn our_client_on_a_tokio_rustls_stream_against_peers() {
    let tls = Tls::new();
    for peer in [Peer::Python, Peer::Node] {
        for compress in [false, true] {
            let server = peer_tls_server(peer, &tls, compress);
            let port = server.1;
            let connector = tls.connector();
            let what =
                format!("tokio over tokio-rustls -> {peer:?} wss server, compression {compress}");
            bounded(LIMIT, &what, move || {
                converse(compress, || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    let connector = connector.clone();
                    let ws = rt.block_on(async move {
                        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                            .await
                            .unwrap();
                        let name = ServerName::try_from("127.0.0.1").unwrap();
                        let stream = connector.connect(name, tcp).await.unwrap();
                        let url = format!("wss://127.0.0.1:{port}/");
                        let (ws, answer) =
                            ws_adapters::tokio::client(stream, url, &client_options(compress))
                                .await
                                .unwrap();
                        assert_eq!(answer.extensions.len(), usize::from(compress));
                        ws
                    });
                    Box::new(TokioClient { rt, ws })
                });
            });
            drop(server);
        }
    }
}
