//! The async adapters over any stream, as `futures` Stream + Sink: in-memory
//! pipes (tokio `duplex`, a Unix socket pair on async-io), `forward`,
//! `select!`, split halves from two tasks both waiting to write (the lost
//! wake-up of tokio-websockets #92/#106), and cancel safety of `recv` and
//! the sends.
#![cfg(all(feature = "tokio", feature = "smol"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{bounded, client_options, server_options};
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use ws_adapters::{Event, Message, tokio as wtokio};
use ws_proto::CloseCode;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A server and a client handshaking over a tokio `duplex` pipe of
/// `buffer` bytes each way.
async fn pipe_pair(
    buffer: usize,
    compression: bool,
) -> (
    wtokio::WebSocket<tokio::io::DuplexStream>,
    wtokio::WebSocket<tokio::io::DuplexStream>,
) {
    let (a, b) = tokio::io::duplex(buffer);
    let server_opts = server_options(compression);
    let client_opts = client_options(compression);
    let (server, client) = tokio::join!(
        wtokio::accept(a, &server_opts),
        wtokio::client(b, "ws://pipe.invalid/chat", &client_opts)
    );
    let (client, answer) = client.unwrap();
    let server = server.unwrap();
    if compression {
        let names: Vec<_> = answer.extensions.iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, ["permessage-deflate"], "{answer:?}");
    }
    (server, client)
}

#[test]
fn tokio_duplex_stream_and_sink_with_forward() {
    bounded(Duration::from_secs(30), "duplex forward", || {
        runtime().block_on(async {
            let (server, mut client) = pipe_pair(64 * 1024, true).await;
            // An echo server in one line: the read half's data messages
            // forwarded into the write half.
            let echo = tokio::spawn(async move {
                let (rx, tx) = server.split();
                rx.try_filter_map(|ev| async move { Ok(ev.into_message()) })
                    .forward(tx)
                    .await
            });
            for i in 0..100u32 {
                let msg = if i % 2 == 0 {
                    Message::text(format!("text {i}"))
                } else {
                    Message::binary(i.to_be_bytes().repeat(i as usize))
                };
                SinkExt::send(&mut client, msg.clone()).await.unwrap();
                let back = client.next().await.unwrap().unwrap();
                assert_eq!(back.into_message(), Some(msg));
            }
            // Sink::close sends 1000; the echo's stream ends with the
            // peer's close, and forward closes its sink (already closing).
            SinkExt::close(&mut client).await.unwrap();
            let mut closed = false;
            while let Some(ev) = client.next().await {
                if let Event::Close { code, .. } = ev.unwrap() {
                    assert_eq!(code, Some(CloseCode::NORMAL));
                    closed = true;
                }
            }
            assert!(closed);
            echo.await.unwrap().unwrap();
        });
    });
}

#[test]
fn futures_split_of_the_whole_socket_works_too() {
    bounded(Duration::from_secs(30), "futures split", || {
        runtime().block_on(async {
            let (server, client) = pipe_pair(8 * 1024, false).await;
            let echo = tokio::spawn(async move {
                let (tx, rx) = StreamExt::split(server);
                rx.try_filter_map(|ev| async move { Ok(ev.into_message()) })
                    .forward(tx)
                    .await
            });
            let (mut tx, mut rx) = StreamExt::split(client);
            // The client closes once every echo is back: futures' split
            // sink holds one message back until its next poll, so a close
            // sent before the echoes are in would overtake the last of
            // them (refused by the echo's sink: the peer's close came
            // first).
            let (all_back, wait_back) = tokio::sync::oneshot::channel::<()>();
            let sender = tokio::spawn(async move {
                for i in 0..500u32 {
                    tx.send(Message::binary(vec![i as u8; 3000])).await.unwrap();
                }
                wait_back.await.unwrap();
                tx.close().await.unwrap();
            });
            for i in 0..500u32 {
                match rx.next().await.unwrap().unwrap() {
                    Event::Binary(b) => assert!(b.len() == 3000 && b.iter().all(|&x| x == i as u8)),
                    other => panic!("message {i}: {other:?}"),
                }
            }
            all_back.send(()).unwrap();
            sender.await.unwrap();
            while let Some(ev) = rx.next().await {
                ev.unwrap();
            }
            echo.await.unwrap().unwrap();
        });
    });
}

/// Both halves wait for the pipe to take output (the writer its messages,
/// the reader the pong it owes) while the peer reads nothing; then the
/// peer reads. Each task must be woken: a stream keeps one write waker, so
/// without the connection's own waker the reader's registration would
/// replace the writer's and leave the writer parked forever, its bytes
/// already written by the reader's turn.
#[test]
fn both_halves_blocked_on_write_are_woken() {
    bounded(Duration::from_secs(30), "both halves woken", || {
        runtime().block_on(async {
            const N: usize = 40;
            let (mut server, client) = pipe_pair(4096, false).await;
            let (mut rx, tx) = client.split();
            let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel();
            let writer = tokio::spawn(async move {
                for i in 0..N {
                    tx.send_binary(vec![i as u8; 1500]).await.unwrap();
                    sent_tx.send(i).unwrap();
                }
                tx
            });
            // The writer fills the pipe and blocks.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut sent = 0;
            while sent_rx.try_recv().is_ok() {
                sent += 1;
            }
            assert!(sent < N, "the pipe should be full, {sent} sent");
            // The reader gets a ping and owes a pong it cannot write.
            server.send_ping("are you there").await.unwrap();
            let reader = tokio::spawn(async move {
                let ev = rx.recv().await.unwrap();
                assert_eq!(ev, Some(Event::Ping("are you there".into())));
                // Keeps driving (the pong waits for room) until the close.
                while let Some(ev) = rx.recv().await.unwrap() {
                    if matches!(ev, Event::Close { .. }) {
                        break;
                    }
                }
                rx
            });
            tokio::time::sleep(Duration::from_millis(100)).await;
            // Now the peer reads: every message, and the pong.
            let mut binaries = 0;
            let mut pong = false;
            while binaries < N || !pong {
                match server.recv().await.unwrap().unwrap() {
                    Event::Binary(b) => {
                        assert_eq!(b[..], vec![binaries as u8; 1500][..]);
                        binaries += 1;
                    }
                    Event::Pong(p) => {
                        assert_eq!(&p[..], b"are you there");
                        pong = true;
                    }
                    other => panic!("{other:?}"),
                }
            }
            let tx = writer.await.unwrap();
            server.close(CloseCode::NORMAL, "bye").await.unwrap();
            let closing =
                tokio::spawn(async move { while server.recv().await.unwrap().is_some() {} });
            let rx = reader.await.unwrap();
            let mut ws = rx.unsplit(tx).expect("halves of one socket");
            assert_eq!(ws.recv().await.unwrap(), None);
            closing.await.unwrap();
        });
    });
}

/// `recv` dropped at its await point (a `select!` losing to a timer) loses
/// and duplicates no message.
#[test]
fn recv_in_select_is_cancel_safe() {
    bounded(Duration::from_secs(60), "recv cancel", || {
        runtime().block_on(async {
            const N: u32 = 300;
            let (server, mut client) = pipe_pair(2048, true).await;
            let sender = tokio::spawn(async move {
                for i in 0..N {
                    server.send_text(format!("{i}:{}", "x".repeat(i as usize * 7))).await.unwrap();
                    if i % 10 == 0 {
                        // A pause longer than the receiver's timer: its
                        // `recv` is pending when the timer wins.
                        tokio::time::sleep(Duration::from_millis(4)).await;
                    }
                }
                server.close(CloseCode::NORMAL, "").await.unwrap();
                // Sees the closing handshake through (the server closes
                // the stream, which the client waits for).
                let mut server = server;
                while server.recv().await.unwrap().is_some() {}
            });
            let mut next = 0u32;
            let mut timeouts = 0u32;
            loop {
                tokio::select! {
                    ev = client.recv() => match ev.unwrap() {
                        Some(Event::Text(t)) => {
                            assert_eq!(t.as_str(), format!("{next}:{}", "x".repeat(next as usize * 7)));
                            next += 1;
                        }
                        Some(Event::Close { .. }) => {}
                        Some(other) => panic!("{other:?}"),
                        None => break,
                    },
                    () = tokio::time::sleep(Duration::from_millis(1)) => timeouts += 1,
                }
            }
            assert_eq!(next, N);
            assert!(timeouts > 0, "no recv was ever cancelled");
            sender.await.unwrap();
        });
    });
}

/// A send dropped while its message waits for room (a timeout) has queued
/// the message whole: the next flush writes it, once.
#[test]
fn sends_dropped_mid_write_are_cancel_safe() {
    bounded(Duration::from_secs(60), "send cancel", || {
        runtime().block_on(async {
            const N: usize = 60;
            let (mut server, client) = pipe_pair(1024, false).await;
            let mut cancelled = 0;
            for i in 0..N {
                let send = client.send_binary(vec![i as u8; 10_000]);
                if tokio::time::timeout(Duration::from_micros(10), send)
                    .await
                    .is_err()
                {
                    cancelled += 1;
                }
            }
            assert!(cancelled > 0, "no send was ever cancelled");
            let (mut rx, tx) = client.split();
            let flusher = tokio::spawn(async move {
                tx.flush().await.unwrap();
                tx.close(CloseCode::NORMAL, "").await.unwrap();
                while rx.recv().await.unwrap().is_some() {}
            });
            for i in 0..N {
                match server.recv().await.unwrap() {
                    Some(Event::Binary(b)) => assert_eq!(b[..], vec![i as u8; 10_000][..]),
                    other => panic!("message {i}: {other:?}"),
                }
            }
            assert!(matches!(
                server.recv().await.unwrap(),
                Some(Event::Close { .. })
            ));
            assert_eq!(server.recv().await.unwrap(), None);
            flusher.await.unwrap();
        });
    });
}

/// The smol adapter over a stream it did not open: a Unix socket pair.
#[cfg(unix)]
#[test]
fn smol_over_a_unix_socket_pair() {
    use async_io::Async;
    use std::os::unix::net::UnixStream;
    use ws_adapters::smol as wsmol;

    bounded(Duration::from_secs(30), "smol unix", || {
        async_io::block_on(async {
            let (a, b) = Async::<UnixStream>::pair().unwrap();
            let (server, client) = futures_lite::future::zip(
                wsmol::accept(a, &server_options(true)),
                wsmol::client(b, "ws://unix.invalid/", &client_options(true)),
            )
            .await;
            let mut server = server.unwrap();
            let (mut client, answer) = client.unwrap();
            assert_eq!(answer.extensions.len(), 1);
            let echo = async move {
                while let Some(ev) = server.next().await {
                    if let Some(m) = ev.unwrap().into_message() {
                        SinkExt::send(&mut server, m).await.unwrap();
                    }
                }
            };
            let talk = async move {
                for i in 0..50 {
                    SinkExt::send(&mut client, Message::text(format!("hello {i}")))
                        .await
                        .unwrap();
                    let back = client.next().await.unwrap().unwrap();
                    assert_eq!(back, Event::Text(format!("hello {i}").into()));
                }
                SinkExt::close(&mut client).await.unwrap();
                while let Some(ev) = client.next().await {
                    ev.unwrap();
                }
            };
            futures_lite::future::zip(echo, talk).await;
        });
    });
}

/// A tokio stream that counts the reads that brought data, and those of
/// them made into uninitialized room (the connection's own buffer, read in
/// place) rather than into an initialized scratch buffer.
struct Counted<S> {
    inner: S,
    reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    in_place: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The size of every read.
    sizes: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Counted<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::sync::atomic::Ordering::Relaxed;
        let (before, uninit) = (buf.filled().len(), buf.initialized().is_empty());
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, std::task::Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.reads.fetch_add(1, Relaxed);
            if uninit {
                self.in_place.fetch_add(1, Relaxed);
            }
            let n = buf.filled().len() - before;
            self.sizes.lock().unwrap().push(n);
        }
        r
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A server over a [`Counted`] end of a tokio duplex pipe of `capacity`
/// and a client over the other end, both open; with the server's counts of
/// reads and of reads in place.
async fn counted_pair(
    capacity: usize,
) -> (
    wtokio::WebSocket<Counted<tokio::io::DuplexStream>>,
    wtokio::WebSocket<tokio::io::DuplexStream>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
) {
    let (a, b) = tokio::io::duplex(capacity);
    let reads = std::sync::Arc::default();
    let in_place = std::sync::Arc::default();
    let a = Counted {
        inner: a,
        reads: std::sync::Arc::clone(&reads),
        in_place: std::sync::Arc::clone(&in_place),
        sizes: std::sync::Arc::default(),
    };
    let sizes = std::sync::Arc::clone(&a.sizes);
    let (server_opts, client_opts) = (server_options(false), client_options(false));
    let (server, client) = tokio::join!(
        wtokio::accept(a, &server_opts),
        wtokio::client(b, "ws://pipe.invalid/", &client_opts)
    );
    (server.unwrap(), client.unwrap().0, reads, in_place, sizes)
}

/// Frames arriving back to back (an upload: the peer sends faster than
/// the server reads) are read in place too. A read rarely ends where a
/// frame does, so before, nearly every read went through the scratch
/// buffer: copied in, the buffer grown by copying, and each 16 KiB message
/// copied out again (about four copies of every byte). Now, once a read
/// fills all it was given, the next ones go straight into the connection's
/// buffer, up to 64 KiB at a time.
#[test]
fn tokio_reads_a_stream_of_frames_in_place() {
    use std::sync::atomic::Ordering::Relaxed;
    bounded(Duration::from_secs(30), "a stream read in place", || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut server, client, reads, in_place, sizes) = counted_pair(4 << 20).await;
            const N: usize = 128;
            let payload = bytes::Bytes::from(vec![0x5au8; 16 * 1024]);
            // All of it is in the pipe before the server reads any.
            for _ in 0..N {
                client.send(Message::Binary(payload.clone())).await.unwrap();
            }
            let (reads0, in_place0) = (reads.load(Relaxed), in_place.load(Relaxed));
            sizes.lock().unwrap().clear();
            for i in 0..N {
                let Some(Event::Binary(got)) = server.recv().await.unwrap() else {
                    panic!("message {i}: no message")
                };
                assert!(got == payload, "message {i}");
            }
            let reads = reads.load(Relaxed) - reads0;
            let in_place = in_place.load(Relaxed) - in_place0;
            eprintln!("{N} streamed messages: {reads} reads, {in_place} in place");
            // 2 MiB in reads of up to 64 KiB (a frame's rest is read
            // alone): the first through the scratch buffer, the rest in
            // place. Before: 129 reads, none in place.
            assert!(reads <= 48, "{reads} reads for {N} messages of 16 KiB");
            assert!(
                in_place + 2 >= reads,
                "only {in_place} of {reads} reads in place"
            );
            // Frames of one size: once the first has been seen, reads end
            // where frames end (3 frames of 16,392 wire bytes in 64 KiB),
            // so no frame's start is left at the end of a buffer to be
            // moved to the next. Before, every read after the first ended
            // 16,368 bytes into a frame.
            let wire = 16 * 1024 + 8;
            let sizes = sizes.lock().unwrap();
            let ends = sizes.iter().scan(0, |at, n| {
                *at += n;
                Some(*at)
            });
            let cut = ends.skip(2).filter(|end| end % wire != 0).count();
            assert!(
                cut <= 1,
                "reads ending inside a frame: {cut} (read sizes {sizes:?})"
            );
        });
    });
}

/// Issue 18's "one read per message" and "large frames in place" on
/// tokio: a busy server connection echoing 16 KiB messages reads each one
/// whole, in one read, straight into its kept receive buffer (uninitialized
/// room through `ReadBuf::uninit`), once the first messages have sized
/// that buffer. Before, every message took two reads (a 16 KiB scratch
/// buffer, then the frame's last bytes) and a 16 KiB copy.
#[test]
fn tokio_reads_a_large_message_once_in_place() {
    use std::sync::atomic::Ordering::Relaxed;
    bounded(Duration::from_secs(30), "one read per message", || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut server, mut client, reads, in_place, _) = counted_pair(256 * 1024).await;
            const N: usize = 100;
            let payload = bytes::Bytes::from(vec![0xa5u8; 16 * 1024]);
            let before = reads.load(Relaxed);
            for i in 0..N {
                client.send(Message::Binary(payload.clone())).await.unwrap();
                let Some(Event::Binary(got)) = server.recv().await.unwrap() else {
                    panic!("message {i}: no message")
                };
                assert!(got == payload, "message {i}");
                server.send(Message::Binary(got)).await.unwrap();
                let Some(Event::Binary(back)) = client.recv().await.unwrap() else {
                    panic!("echo {i}: no message")
                };
                assert_eq!(back.len(), payload.len());
            }
            let (reads, in_place) = (reads.load(Relaxed) - before, in_place.load(Relaxed));
            eprintln!("{N} messages: {reads} reads, {in_place} in place");
            assert!(reads <= N + 5, "{reads} reads for {N} messages");
            assert!(in_place >= N - 5, "only {in_place} of {N} read in place");
        });
    });
}

/// A connection's idle timeout still fires after traffic, on both tokio
/// runtimes: every message's wait ends on the timer armed by an earlier
/// wait, which is not polled again while it waits with the same waker
/// (`AsyncStream::sleep_waits`); once it fires the next wait must poll it,
/// see it done and arm the later deadline. Messages back to back, then
/// spaced past the first deadline, then silence: the server closes.
#[test]
fn tokio_idle_timeout_fires_after_traffic() {
    let idle = Duration::from_millis(300);
    let current = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    bounded(
        Duration::from_secs(40),
        "idle timeout after traffic",
        move || {
            for rt in [runtime(), current()] {
                rt.block_on(async {
                    let (a, b) = tokio::io::duplex(64 * 1024);
                    let config = ws_proto::Config::default().with_idle_timeout(Some(idle));
                    let server_opts =
                        ws_adapters::ServerOptions::new(ws_adapters::session_config(config, false));
                    let client_opts = client_options(false);
                    let (server, client) = tokio::join!(
                        wtokio::accept(a, &server_opts),
                        wtokio::client(b, "ws://pipe.invalid/", &client_opts)
                    );
                    let mut server = server.unwrap();
                    let (mut client, _) = client.unwrap();
                    let echo = tokio::spawn(async move {
                        while let Ok(Some(ev)) = server.recv().await {
                            if let Event::Binary(b) = ev {
                                server.send_binary(b).await.unwrap();
                            }
                        }
                    });
                    for i in 0..120u32 {
                        if i >= 100 {
                            // Spaced: the timer armed early fires mid-traffic.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        client.send_binary(i.to_be_bytes().to_vec()).await.unwrap();
                        match client.recv().await.unwrap() {
                            Some(Event::Binary(b)) => assert_eq!(&b[..], &i.to_be_bytes()),
                            other => panic!("{other:?}"),
                        }
                    }
                    // Then silence: the server's idle timeout closes with 1001.
                    let last = std::time::Instant::now();
                    match client.recv().await.unwrap() {
                        Some(Event::Close { code, .. }) => {
                            assert_eq!(code, Some(CloseCode::GOING_AWAY))
                        }
                        other => panic!("{other:?}"),
                    }
                    let silent = last.elapsed();
                    assert!(
                        silent >= idle / 2 && silent < idle * 10,
                        "closed {silent:?} after the last message (idle timeout {idle:?})"
                    );
                    while client.recv().await.unwrap().is_some() {}
                    echo.await.unwrap();
                });
            }
        },
    );
}
