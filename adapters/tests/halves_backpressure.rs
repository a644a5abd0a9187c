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
