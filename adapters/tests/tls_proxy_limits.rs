//! wss:// with generated certificates (server and client certificates),
//! the CONNECT proxy for ws:// and wss://, and the server controls
//! (filter, connection limit, handshake and idle timeouts) on every adapter.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cloned_ref_to_slice_refs
)]

mod common;

use std::io::Read;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use ws_adapters::proxy::ProxySetting;
use ws_adapters::tls::{ClientTls, ServerTls};
use ws_adapters::{ErrorKind, Event};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn wss_every_pairing() {
    let pki = Pki::new();
    let (chain, key) = pki.issue(&["localhost"]);
    let tls = ServerTls::new(chain, key).unwrap();
    let client_tls = ClientTls::trusting(&[pki.ca.clone()]).unwrap();
    for server in KINDS {
        let addr = start_server(server, server_options(false).with_tls(tls.clone()));
        for client in KINDS {
            let url = format!("wss://localhost:{}/tls", addr.port());
            let options = client_options(false).with_tls(client_tls.clone());
            bounded(LIMIT, &format!("wss {client:?} -> {server:?}"), move || {
                converse(false, || connect(client, &url, &options));
            });
        }
    }
}

#[test]
fn wss_refuses_untrusted_and_unconfigured() {
    let pki = Pki::new();
    let (chain, key) = pki.issue(&["localhost"]);
    let tls = ServerTls::new(chain, key).unwrap();
    let addr = start_server(Kind::Std, server_options(false).with_tls(tls));
    let url = format!("wss://localhost:{}/", addr.port());
    for client in KINDS {
        // Trusting another CA: the certificate is refused.
        let other = ClientTls::trusting(&[Pki::new().ca]).unwrap();
        let options = client_options(false).with_tls(other);
        let err = try_connect(client, &url, &options)
            .err()
            .expect("untrusted accepted");
        assert!(
            format!("{err}").contains("certificate"),
            "{client:?}: {err}"
        );
        // No TLS settings at all: nothing is trusted implicitly.
        let err = try_connect(client, &url, &client_options(false))
            .err()
            .unwrap();
        assert!(matches!(err.kind(), ErrorKind::TlsConfig(_)), "{err}");
        // The explicit test mode accepts it.
        let any = ClientTls::dangerous_accept_any_certificate().unwrap();
        let options = client_options(false).with_tls(any);
        let mut c = connect(client, &url, &options);
        c.text("x");
        assert_eq!(c.recv(), Some(Event::Text("x".into())));
    }
}

/// The well-known root sets are in force (not a test mode): a certificate
/// from our own CA is refused by both, on every client.
#[cfg(all(feature = "webpki-roots", feature = "native-roots"))]
#[test]
fn well_known_roots_refuse_a_private_ca() {
    let pki = Pki::new();
    let (chain, key) = pki.issue(&["localhost"]);
    let tls = ServerTls::new(chain, key).unwrap();
    let addr = start_server(Kind::Mio, server_options(false).with_tls(tls));
    let url = format!("wss://localhost:{}/", addr.port());
    let webpki = ClientTls::webpki_roots().unwrap();
    // The system store may be missing on a bare machine: then the error
    // says so, at configuration time, instead of trusting nothing quietly.
    let native = match ClientTls::native_roots() {
        Ok(t) => Some(t),
        Err(e) => {
            assert!(
                matches!(e.kind(), ErrorKind::TlsConfig(m) if m.contains("system root")),
                "{e}"
            );
            None
        }
    };
    for client in KINDS {
        for roots in [Some(webpki.clone()), native.clone()].into_iter().flatten() {
            let options = client_options(false).with_tls(roots);
            let err = try_connect(client, &url, &options)
                .err()
                .expect("a private CA accepted by well-known roots");
            assert!(
                format!("{err}").contains("certificate"),
                "{client:?}: {err}"
            );
        }
    }
}

#[test]
fn client_certificates() {
    let pki = Pki::new();
    let (chain, key) = pki.issue(&["localhost"]);
    let tls = ServerTls::with_client_auth(chain, key, &[pki.ca.clone()]).unwrap();
    for server in KINDS {
        let addr = start_server(server, server_options(false).with_tls(tls.clone()));
        let url = format!("wss://localhost:{}/", addr.port());
        for client in KINDS {
            let (cchain, ckey) = pki.issue(&["client.test"]);
            let with_cert = ClientTls::trusting(&[pki.ca.clone()])
                .unwrap()
                .with_client_cert(cchain, ckey)
                .unwrap();
            let options = client_options(false).with_tls(with_cert);
            let mut c = connect(client, &url, &options);
            c.text("with cert");
            assert_eq!(c.recv(), Some(Event::Text("with cert".into())));
            // Without a certificate the server refuses the TLS handshake.
            let without = ClientTls::trusting(&[pki.ca.clone()]).unwrap();
            let options = client_options(false).with_tls(without);
            let refused = try_connect(client, &url, &options).map(|mut c| {
                // TLS 1.3: the alert may arrive after the client's handshake.
                c.text("x");
                c.recv()
            });
            assert!(
                matches!(refused, Err(_) | Ok(None)),
                "{client:?} -> {server:?} without a client certificate"
            );
        }
    }
}

#[test]
fn proxy_for_ws_and_wss() {
    let (proxy, tunnels) = start_proxy();
    let pki = Pki::new();
    let (chain, key) = pki.issue(&["localhost"]);
    let plain = start_server(Kind::Mio, server_options(true));
    let tls = ServerTls::new(chain, key).unwrap();
    let secure = start_server(Kind::Tokio, server_options(false).with_tls(tls));
    let setting = ProxySetting::Url(format!("http://{proxy}"));
    let mut expected = 0;
    for client in KINDS {
        let options = client_options(true).with_proxy(setting.clone());
        let url = format!("ws://localhost:{}/", plain.port());
        bounded(LIMIT, &format!("proxy ws {client:?}"), move || {
            converse(true, || connect(client, &url, &options));
        });
        expected += 2;
        let options = client_options(false)
            .with_proxy(setting.clone())
            .with_tls(ClientTls::trusting(&[pki.ca.clone()]).unwrap());
        let url = format!("wss://localhost:{}/", secure.port());
        bounded(LIMIT, &format!("proxy wss {client:?}"), move || {
            converse(false, || connect(client, &url, &options));
        });
        expected += 2;
    }
    assert_eq!(tunnels.load(Ordering::SeqCst), expected);
    // A proxy that refuses: the error says so.
    let options = client_options(false).with_proxy(ProxySetting::Url("http://127.0.0.1:1".into()));
    assert!(try_connect(Kind::Std, "ws://localhost:9/", &options).is_err());
}

#[test]
fn filter_refuses_before_reading() {
    for server in KINDS {
        let options = server_options(false).with_filter(|peer| !peer.ip().is_loopback());
        let addr = start_server(server, options);
        let err = try_connect(Kind::Std, &format!("ws://{addr}/"), &client_options(false));
        assert!(err.is_err(), "{server:?}: a filtered peer was served");
    }
}

/// The named filter sees the reverse name the system resolver gives
/// 127.0.0.1 (`localhost`, from /etc/hosts), and refuses by it.
#[test]
fn named_filter_sees_the_reverse_name() {
    let expected = ws_adapters::reverse_name("127.0.0.1".parse().unwrap());
    assert_eq!(expected.as_deref(), Some("localhost"), "/etc/hosts");
    for server in KINDS {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let options = server_options(false).with_named_filter(move |peer, name| {
            log.lock()
                .unwrap()
                .push((peer.ip(), name.map(str::to_owned)));
            name == Some("localhost")
        });
        let addr = start_server(server, options);
        let mut ws = connect(Kind::Std, &format!("ws://{addr}/"), &client_options(false));
        ws.text("by name");
        assert_eq!(ws.recv(), Some(Event::Text("by name".into())));
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            [("127.0.0.1".parse().unwrap(), Some("localhost".to_owned()))],
            "{server:?}"
        );
        let options = server_options(false).with_named_filter(|_, name| name == Some("elsewhere"));
        let addr = start_server(server, options);
        let err = try_connect(Kind::Std, &format!("ws://{addr}/"), &client_options(false));
        assert!(err.is_err(), "{server:?}: a filtered peer was served");
    }
}

#[test]
fn connection_limit_refuses_with_503() {
    for server in KINDS {
        let addr = start_server(server, server_options(false).with_max_connections(1));
        let url = format!("ws://{addr}/");
        let mut first = connect(Kind::Std, &url, &client_options(false));
        first.text("still here");
        assert_eq!(first.recv(), Some(Event::Text("still here".into())));
        let err = try_connect(Kind::Std, &url, &client_options(false))
            .err()
            .unwrap();
        assert!(
            matches!(err.kind(), ErrorKind::Rejected(503)),
            "{server:?}: {err}"
        );
        // Closing the first frees the place.
        first.close(ws_proto::CloseCode::NORMAL);
        while first.recv().is_some() {}
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            match try_connect(Kind::Std, &url, &client_options(false)) {
                Ok(_) => break,
                Err(e) if std::time::Instant::now() < deadline => {
                    assert!(matches!(e.kind(), ErrorKind::Rejected(503)), "{e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("{server:?}: the place was not freed: {e}"),
            }
        }
    }
}

#[test]
fn handshake_and_idle_timeouts() {
    for server in KINDS {
        let options = server_options(false)
            .with_handshake_timeout(Duration::from_millis(300))
            .with_session(ws_adapters::session_config(
                ws_proto::Config::default().with_idle_timeout(Some(Duration::from_millis(300))),
                false,
            ));
        let addr = start_server(server, options);
        // A peer that never sends its request is dropped.
        let mut raw = std::net::TcpStream::connect(addr).unwrap();
        raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 256];
        let n = raw.read(&mut buf).unwrap_or(0);
        let answer = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(
            n == 0 || answer.starts_with("HTTP/1.1 408"),
            "{server:?}: {answer}"
        );
        // An idle connection is closed with 1001.
        let mut c = connect(Kind::Std, &format!("ws://{addr}/"), &client_options(false));
        match c.recv() {
            Some(Event::Close { code, .. }) => {
                assert_eq!(code, Some(ws_proto::CloseCode::GOING_AWAY))
            }
            other => panic!("{server:?}: expected an idle close, got {other:?}"),
        }
    }
}

/// A peer that floods messages and never reads (4 KiB receive window):
/// the echoes fill its socket, the server's output stops moving, and after the
/// connection's write timeout (800 ms here) every server drops it; std
/// too, whose thread would otherwise block in its write for good (its
/// socket's write timeout is a quarter of the connection's). Returns how
/// long it took, and what a well-behaved client got meanwhile
/// ([`echo_beside`], started once the stalled peer's output is stuck).
type Beside = Result<(usize, Duration), String>;
fn stalled_peer_closed_after(server: Kind) -> (Duration, Beside) {
    use rustix::net::{AddressFamily, SocketType, connect, socket, sockopt};
    use std::io::Write;
    let stall = Duration::from_millis(800);
    let config = ws_proto::Config::default().with_write_timeout(Some(stall));
    let options = server_options(false).with_session(ws_adapters::session_config(config, false));
    let addr = start_server(server, options);
    let fd = socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    sockopt::set_socket_recv_buffer_size(&fd, 4096).unwrap();
    connect(&fd, &addr).unwrap();
    let mut s = std::net::TcpStream::from(fd);
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{server:?}");
    // 16 KiB binary messages (masked with a zero key), echoed in full.
    // Not pings: a server may answer a burst of pings with one pong
    // (RFC 6455 §5.5.3), so how fast a ping flood fills the socket
    // depends on how the server's reads are scheduled, and on a loaded
    // machine it can take longer than the test waits.
    let mut message = vec![0x82, 0x80 | 126, 0x40, 0x00, 0, 0, 0, 0];
    message.extend_from_slice(&[0x70; 16 * 1024]);
    s.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let t0 = std::time::Instant::now();
    let mut beside = None;
    // Where the stream of messages is: a write cut short by the timeout
    // goes on from there, so the server sees whole frames.
    let mut at = 0;
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{server:?}: a peer that stopped reading is still connected"
        );
        if beside.is_none() && t0.elapsed() >= Duration::from_millis(200) {
            beside = Some(std::thread::spawn(move || echo_beside(addr)));
        }
        match s.write(&message[at..]) {
            Ok(n) => {
                at = (at + n) % message.len();
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let took = t0.elapsed();
    let served = match beside {
        Some(h) => h
            .join()
            .unwrap_or_else(|_| Err("the client beside panicked".into())),
        None => Err("dropped before the client beside started".into()),
    };
    (took, served)
}

#[test]
fn a_peer_that_stops_reading_is_dropped_after_the_write_timeout() {
    let _ = env_logger::try_init();
    for server in KINDS {
        let (took, served) = stalled_peer_closed_after(server);
        eprintln!("{server:?}: dropped after {took:?}; beside it {served:?}");
        assert!(took >= Duration::from_millis(800), "{server:?}: {took:?}");
        // Meanwhile another client on the same server (the same loop, on
        // mio and uring) was answered, every message, promptly.
        let (echoed, slowest) = served.unwrap_or_else(|e| panic!("{server:?}: {e}"));
        assert_eq!(echoed, 20, "{server:?}");
        assert!(slowest < Duration::from_secs(2), "{server:?}: {slowest:?}");
    }
}

/// A well-behaved client beside a stalled one: 20 echoed messages, 20 ms
/// apart; how many came back, and the slowest round trip.
fn echo_beside(addr: std::net::SocketAddr) -> Result<(usize, Duration), String> {
    let mut c = try_connect(Kind::Std, &format!("ws://{addr}/"), &client_options(false))
        .map_err(|e| format!("connect beside the stalled peer: {e}"))?;
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let t = std::time::Instant::now();
        let msg = format!("beside {i}");
        c.text(&msg);
        match c.recv() {
            Some(Event::Text(got)) if got.as_str() == msg => {}
            other => return Err(format!("message {i}: got {other:?}")),
        }
        slowest = slowest.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((20, slowest))
}
