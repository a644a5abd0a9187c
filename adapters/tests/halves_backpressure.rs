//! Split halves (std threads, smol and tokio tasks) and the mio server's
//! backpressure (a peer that does not read is not read from).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use ws_adapters::{Event, blocking, mio as wmio};
use ws_proto::CloseCode;

const N: usize = 200;

#[test]
fn std_split_halves_on_two_threads() {
    bounded(Duration::from_secs(60), "std split", || {
        let addr = start_server(Kind::Mio, server_options(true));
        let options = client_options(true);
        let req = http_upgrade::ClientRequest::new(&format!("ws://{addr}/")).unwrap();
        let ws = blocking::connect_with(req, &options).unwrap();
        let (mut reader, writer) = ws.split().unwrap();
        let w = writer.clone();
        let sender = std::thread::spawn(move || {
            for i in 0..N {
                w.send_text(format!("message {i}")).unwrap();
            }
        });
        for i in 0..N {
            assert_eq!(
                reader.recv().unwrap(),
                Some(Event::Text(format!("message {i}").into()))
            );
        }
        sender.join().unwrap();
        writer.close(CloseCode::NORMAL, "done").unwrap();
        assert!(matches!(reader.recv().unwrap(), Some(Event::Close { .. })));
        assert_eq!(reader.recv().unwrap(), None);
    });
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_split_halves_on_two_tasks() {
    bounded(Duration::from_secs(60), "tokio split", || {
        let addr = start_server(Kind::Std, server_options(false));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let url = format!("ws://{addr}/");
            let (ws, _) = ws_adapters::tokio::connect(&url, &client_options(false))
                .await
                .unwrap();
            let (mut rx, tx) = ws.split();
            let t = tx.clone();
            let sender = tokio::spawn(async move {
                for i in 0..N {
                    t.send_binary(vec![i as u8; 1000]).await.unwrap();
                }
            });
            for i in 0..N {
                assert_eq!(
                    rx.recv().await.unwrap(),
                    Some(Event::Binary(vec![i as u8; 1000].into()))
                );
            }
            sender.await.unwrap();
            tx.close(CloseCode::NORMAL, "done").await.unwrap();
            assert!(matches!(
                rx.recv().await.unwrap(),
                Some(Event::Close { .. })
            ));
            assert_eq!(rx.recv().await.unwrap(), None);
        });
    });
}

#[cfg(feature = "smol")]
#[test]
fn smol_split_halves_on_two_tasks() {
    bounded(Duration::from_secs(60), "smol split", || {
        let addr = start_server(Kind::Tokio, server_options(true));
        let url = format!("ws://{addr}/");
        let (ws, _) =
            async_io::block_on(ws_adapters::smol::connect(&url, &client_options(true))).unwrap();
        let (mut rx, tx) = ws.split();
        let t = tx.clone();
        let sender = std::thread::spawn(move || {
            async_io::block_on(async {
                for i in 0..N {
                    t.send_text(&format!("m{i}")).await.unwrap();
                }
            })
        });
        async_io::block_on(async {
            for i in 0..N {
                assert_eq!(
                    rx.recv().await.unwrap(),
                    Some(Event::Text(format!("m{i}").into()))
                );
            }
            sender.join().unwrap();
            tx.close(CloseCode::NORMAL, "done").await.unwrap();
            assert!(matches!(
                rx.recv().await.unwrap(),
                Some(Event::Close { .. })
            ));
            assert_eq!(rx.recv().await.unwrap(), None);
        });
    });
}

/// Echoes, and counts the bytes it was handed.
struct Counting(Arc<AtomicUsize>);

impl wmio::Handler for Counting {
    type Data = ();
    fn accepted(&mut self, _: SocketAddr) {}
    fn event(&mut self, conn: &mut wmio::Conn, _: &mut (), ev: Event) {
        if let Event::Binary(b) = ev {
            self.0.fetch_add(b.len(), Ordering::SeqCst);
            conn.high_water = 256 * 1024;
            let _ = conn.send_binary(b);
        }
    }
}

#[test]
fn mio_stops_reading_from_a_peer_that_does_not_read() {
    bounded(Duration::from_secs(60), "backpressure", || {
        let echoed = Arc::new(AtomicUsize::new(0));
        let local = "127.0.0.1:0".parse().unwrap();
        let mut server =
            wmio::Server::bind(local, server_options(false), Counting(echoed.clone())).unwrap();
        let addr = server.local_addr().unwrap();
        let stop = server.stop_handle();
        let serving = std::thread::spawn(move || server.run().unwrap());

        // A raw client: handshake, then send masked 64 KiB frames without
        // ever reading the echoes.
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        let payload = vec![0u8; 64 * 1024];
        let mut frame = vec![0x82, 0xFF];
        frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 0]); // zero mask key: payload as is
        frame.extend_from_slice(&payload);
        s.set_write_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut sent = 0usize;
        // Write until the server stops taking bytes (bounded at 256 MiB).
        while sent < 256 << 20 {
            match s.write_all(&frame) {
                Ok(()) => sent += payload.len(),
                Err(_) => break,
            }
        }
        let seen = echoed.load(Ordering::SeqCst);
        assert!(sent < 256 << 20, "the server never pushed back");
        // The server read only while its queue for us stayed under the
        // high-water mark, plus what the kernel buffers hold.
        assert!(seen < sent, "seen {seen} of {sent}");
        eprintln!("sent {sent} bytes before the server stopped reading; it echoed {seen}");
        stop.stop();
        serving.join().unwrap();
    });
}

/// Sending to a peer that stopped reading, with no task receiving.
#[cfg(any(feature = "tokio", feature = "smol", feature = "uring"))]
mod stalled {
    use super::*;

    /// A server that completes the opening handshake and then never reads
    /// (a 4 KiB receive window); it holds the socket until `hold` ends.
    fn deaf_server(hold: Duration) -> SocketAddr {
        use rustix::net::{AddressFamily, SocketType, bind, listen, socket, sockopt};
        let fd = socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
        sockopt::set_socket_recv_buffer_size(&fd, 4096).unwrap();
        bind(&fd, &"127.0.0.1:0".parse::<SocketAddr>().unwrap()).unwrap();
        listen(&fd, 1).unwrap();
        let listener = std::net::TcpListener::from(fd);
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                s.read_exact(&mut byte).unwrap();
                head.push(byte[0]);
            }
            let head = String::from_utf8(head).unwrap();
            let key = head
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap();
            let accept = http_upgrade::keys::accept_key(key.trim().as_bytes());
            write!(
                s,
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            .unwrap();
            std::thread::sleep(hold);
        });
        addr
    }

    fn write_stalled(e: &ws_adapters::Error) -> bool {
        matches!(
            e.kind(),
            ws_adapters::ErrorKind::Session(ws_proto::session::SessionError::Connection(
                ws_proto::Error::Timeout(ws_proto::TimeoutError::WriteStalled)
            ))
        )
    }

    /// Options with a 300 ms write timeout.
    fn impatient_client() -> ws_adapters::ClientOptions {
        let config =
            ws_proto::Config::default().with_write_timeout(Some(Duration::from_millis(300)));
        ws_adapters::ClientOptions::new(ws_adapters::session_config(config, false))
            .with_proxy(ws_adapters::proxy::ProxySetting::Direct)
    }

    /// One task that only sends (nothing receives, so no turn runs the
    /// connection's timers): once the peer stops reading, a send fails with
    /// the write timeout instead of waiting for good. Returns how many 64 KiB
    /// messages went before, and the error.
    #[cfg(any(feature = "tokio", feature = "smol"))]
    async fn send_until_stalled<F, S>(send: F) -> (usize, ws_adapters::Error)
    where
        F: Fn(Vec<u8>) -> S,
        S: std::future::Future<Output = Result<(), ws_adapters::Error>>,
    {
        for sent in 0.. {
            if let Err(e) = send(vec![7u8; 64 * 1024]).await {
                return (sent, e);
            }
        }
        unreachable!()
    }

    #[cfg(feature = "tokio")]
    #[test]
    fn tokio_send_to_a_peer_that_stopped_reading_fails_at_the_write_timeout() {
        bounded(Duration::from_secs(60), "tokio stalled send", || {
            let addr = deaf_server(Duration::from_secs(30));
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let url = format!("ws://{addr}/");
                let (ws, _) = ws_adapters::tokio::connect(&url, &impatient_client())
                    .await
                    .unwrap();
                let (sent, e) = send_until_stalled(|m| ws.send_binary(m)).await;
                assert!(write_stalled(&e), "{e}");
                assert!(sent > 0, "{sent}");
                // The connection is over: a later send says so.
                assert!(ws.send_binary(vec![1u8]).await.is_err());
            });
        });
    }

    #[cfg(feature = "smol")]
    #[test]
    fn smol_send_to_a_peer_that_stopped_reading_fails_at_the_write_timeout() {
        bounded(Duration::from_secs(60), "smol stalled send", || {
            let addr = deaf_server(Duration::from_secs(30));
            async_io::block_on(async {
                let url = format!("ws://{addr}/");
                let (ws, _) = ws_adapters::smol::connect(&url, &impatient_client())
                    .await
                    .unwrap();
                let (_rx, tx) = ws.split();
                let (sent, e) = send_until_stalled(|m| tx.send_binary(m)).await;
                assert!(write_stalled(&e), "{e}");
                assert!(sent > 0, "{sent}");
                assert!(tx.send_binary(vec![1u8]).await.is_err());
            });
        });
    }

    #[cfg(feature = "uring")]
    #[test]
    fn uring_flush_to_a_peer_that_stopped_reading_fails_at_the_write_timeout() {
        bounded(Duration::from_secs(60), "uring stalled flush", || {
            let addr = deaf_server(Duration::from_secs(30));
            let url = format!("ws://{addr}/");
            let mut ws = ws_adapters::uring::Client::connect(&url, &impatient_client()).unwrap();
            let mut sent = 0;
            let e = loop {
                let sending = ws
                    .send_binary(vec![7u8; 64 * 1024])
                    .and_then(|()| ws.flush());
                match sending {
                    Ok(()) => sent += 1,
                    Err(e) => break e,
                }
            };
            assert!(write_stalled(&e), "{e}");
            assert!(sent > 0, "{sent}");
        });
    }
}
