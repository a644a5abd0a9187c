//! Server push and broadcast on the async adapters: a push from a plain
//! thread, a broadcast to many members, a member that never reads (skipped
//! or closed with 1008 past the limit, never holding the others back or
//! growing the server's memory), and handles of closed connections.
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{bounded, client_options, server_options};
use ws_adapters::tokio::{Server, WebSocket};
use ws_adapters::{Event, Group, Message, Push, SlowConsumer, WriteHalf};
use ws_proto::CloseCode;

type Half = WriteHalf<ws_adapters::tokio::Tokio<tokio::net::TcpStream>>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A server whose connections join `group` and are driven by a task each
/// (their events dropped); returns its URL, and each connection's handle.
async fn serve_with_handles(
    group: Arc<Group<Half>>,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<Half>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), server_options(false))
        .await
        .unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut ws, _) = server.accept().await.unwrap();
            let (group, tx) = (group.clone(), tx.clone());
            tokio::spawn(async move {
                ws.handshake().await.unwrap();
                let (mut read, write) = ws.split();
                let _ = tx.send(write.clone());
                group.join(write);
                while let Ok(Some(_)) = read.recv().await {}
            });
        }
    });
    (url, rx)
}

async fn serve(group: Arc<Group<Half>>) -> String {
    serve_with_handles(group).await.0
}

async fn client(url: &str) -> WebSocket {
    ws_adapters::tokio::connect(url, &client_options(false))
        .await
        .unwrap()
        .0
}

async fn wait_members<P: Push>(group: &Group<P>, n: usize) {
    for _ in 0..500 {
        if group.len() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} members, not {n}", group.len());
}

#[test]
fn push_from_a_plain_thread_and_broadcast_to_all() {
    bounded(Duration::from_secs(60), "push and broadcast", || {
        runtime().block_on(async {
            let group = Arc::new(Group::<Half>::default());
            let url = serve(group.clone()).await;
            let mut clients = Vec::new();
            for _ in 0..50 {
                clients.push(client(&url).await);
            }
            wait_members(&group, 50).await;
            // From a thread that is no task of the runtime.
            let g = group.clone();
            let d = std::thread::spawn(move || g.broadcast_text("to everyone"))
                .join()
                .unwrap();
            assert_eq!((d.sent, d.skipped, d.closed, d.gone), (50, 0, 0, 0));
            for c in &mut clients {
                assert_eq!(
                    c.recv().await.unwrap(),
                    Some(Event::Text("to everyone".into()))
                );
            }
            let d = group.broadcast_binary(vec![7u8; 100_000]);
            assert_eq!(d.sent, 50);
            for c in &mut clients {
                assert_eq!(
                    c.recv().await.unwrap(),
                    Some(Event::Binary(vec![7u8; 100_000].into()))
                );
            }
        });
    });
}

/// A broadcast made inside a tokio task writes to every member at once:
/// tokio's cooperative budget (128 operations per task poll) would make
/// every write after the 128th return `Pending` and leave the message
/// queued for that member's own task to write.
#[test]
fn a_broadcast_from_a_task_writes_to_every_member_at_once() {
    bounded(Duration::from_secs(60), "broadcast in a task", || {
        runtime().block_on(async {
            let group = Arc::new(Group::<Half>::default());
            let (url, mut handles) = serve_with_handles(group.clone()).await;
            let mut clients = Vec::new();
            let mut halves = Vec::new();
            for _ in 0..300 {
                clients.push(client(&url).await);
                halves.push(handles.recv().await.unwrap());
            }
            wait_members(&group, 300).await;
            let g = group.clone();
            let left = tokio::spawn(async move {
                let d = g.broadcast_text("in one go");
                // Still in the same poll of this task.
                let left: usize = halves.iter().map(Push::queued).sum();
                (d.sent, left)
            })
            .await
            .unwrap();
            assert_eq!(left, (300, 0), "(sent, bytes left queued)");
            for c in &mut clients {
                assert_eq!(
                    c.recv().await.unwrap(),
                    Some(Event::Text("in one go".into()))
                );
            }
        });
    });
}

/// One member never reads: it misses what would queue more than the limit
/// for it, the others get everything, and what the server holds for it
/// stays near the limit.
#[test]
fn a_member_that_never_reads_is_skipped_not_buffered() {
    bounded(Duration::from_secs(60), "slow member skipped", || {
        runtime().block_on(async {
            let limit = 256 * 1024;
            let group = Arc::new(Group::<Half>::new(SlowConsumer::Skip { limit }));
            let (url, mut handles) = serve_with_handles(group.clone()).await;
            let _stalled = client(&url).await; // never polled again
            let stalled = handles.recv().await.unwrap();
            let mut reader = client(&url).await;
            wait_members(&group, 2).await;
            let payload = vec![1u8; 64 * 1024];
            const N: usize = 300; // ~19 MiB: more than loopback buffers
            let mut skipped = 0;
            for i in 0..N {
                let d = group.broadcast_binary(payload.clone());
                skipped += d.skipped;
                assert_eq!(d.gone + d.closed, 0);
                // The reader keeps up: its copy arrives.
                let got = reader.recv().await.unwrap();
                assert_eq!(
                    got,
                    Some(Event::Binary(payload.clone().into())),
                    "message {i}"
                );
            }
            assert!(skipped > 0, "the stalled member was never skipped");
            // What the server holds for it: at most the limit and the one
            // message that crossed it.
            assert!(
                stalled.queued() <= limit + payload.len() + 64,
                "{} queued",
                stalled.queued()
            );
            assert!(!stalled.is_closed());
            assert!(skipped < N, "the stalled member got nothing at all");
        });
    });
}

/// With `SlowConsumer::Close`, the member is closed with 1008 and leaves.
#[test]
fn a_member_that_never_reads_is_closed_with_1008() {
    bounded(Duration::from_secs(60), "slow member closed", || {
        runtime().block_on(async {
            let limit = 256 * 1024;
            let group = Arc::new(Group::<Half>::new(SlowConsumer::Close { limit }));
            let url = serve(group.clone()).await;
            let mut stalled = client(&url).await;
            wait_members(&group, 1).await;
            let mut closed = 0;
            for _ in 0..300 {
                closed += group.broadcast_binary(vec![2u8; 64 * 1024]).closed;
                if closed > 0 {
                    break;
                }
            }
            assert_eq!(closed, 1);
            assert_eq!(group.len(), 0);
            // Reading now, the member finds the data, then the close.
            let code = loop {
                match stalled.recv().await.unwrap() {
                    Some(Event::Binary(_)) => {}
                    Some(Event::Close { code, .. }) => break code,
                    other => panic!("{other:?}"),
                }
            };
            assert_eq!(code, Some(CloseCode::POLICY_VIOLATION));
        });
    });
}

/// A handle outlives its connection: it reports it, and broadcasts drop it.
#[test]
fn handles_of_closed_connections_report_it() {
    bounded(Duration::from_secs(60), "closed handles", || {
        runtime().block_on(async {
            let group = Arc::new(Group::<Half>::default());
            let url = serve(group.clone()).await;
            let mut c = client(&url).await;
            wait_members(&group, 1).await;
            c.close(CloseCode::NORMAL, "bye").await.unwrap();
            while c.recv().await.unwrap().is_some() {}
            // The server side finishes its close.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let d = group.broadcast_text("anyone?");
            assert_eq!(d.gone, 1, "{d:?}");
            assert!(group.is_empty());
        });
    });
}

/// `Push` on a handle held outside: a message and a close pushed from a
/// plain thread; afterwards the handle reports the connection closed and
/// refuses, without panicking.
#[test]
fn push_a_close_from_outside() {
    bounded(Duration::from_secs(60), "push close", || {
        runtime().block_on(async {
            let group = Arc::new(Group::<Half>::default());
            let (url, mut handles) = serve_with_handles(group.clone()).await;
            let mut c = client(&url).await;
            let handle: Half = handles.recv().await.unwrap();
            let h = handle.clone();
            std::thread::spawn(move || {
                assert!(!h.is_closed());
                h.push(Message::text("from a thread")).unwrap();
                h.push(Message::close(CloseCode::GOING_AWAY, "server going away"))
                    .unwrap();
                assert!(h.is_closed(), "closing: no more data");
                assert!(h.push(Message::text("too late")).is_err());
            })
            .join()
            .unwrap();
            assert_eq!(
                c.recv().await.unwrap(),
                Some(Event::Text("from a thread".into()))
            );
            match c.recv().await.unwrap() {
                Some(Event::Close { code, reason }) => {
                    assert_eq!(code, Some(CloseCode::GOING_AWAY));
                    assert_eq!(reason, "server going away");
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(c.recv().await.unwrap(), None);
            assert!(handle.is_closed());
            assert!(handle.push(Message::text("after the end")).is_err());
        });
    });
}

/// Pushes that land while the connection's own task is busy go to its
/// inbox and wake the task; one landing after the task drained the inbox
/// but before it registered to be woken again must not be stranded until
/// the next read. Each round the client keeps the server's task busy with
/// its messages while a plain thread pushes a burst, then everything stops
/// and every pushed message must arrive.
#[test]
fn pushes_racing_a_busy_task_are_never_stranded() {
    bounded(Duration::from_secs(120), "push race", || {
        runtime().block_on(async {
            let group = Arc::new(Group::<Half>::default());
            let (url, mut handles) = serve_with_handles(group.clone()).await;
            let c = client(&url).await;
            let handle: Half = handles.recv().await.unwrap();
            let (mut read, write) = c.split();
            const ROUNDS: usize = 300;
            const BURST: usize = 8;
            for round in 0..ROUNDS {
                let h = handle.clone();
                let pusher = std::thread::spawn(move || {
                    for i in 0..BURST {
                        h.push(Message::text(format!("{round}.{i}"))).unwrap();
                        std::thread::yield_now();
                    }
                });
                for _ in 0..BURST * 2 {
                    write.send_text("busy").await.unwrap();
                }
                pusher.join().unwrap();
                for i in 0..BURST {
                    let got = tokio::time::timeout(Duration::from_secs(5), read.recv())
                        .await
                        .unwrap_or_else(|_| panic!("round {round}: push {i} stranded"))
                        .unwrap();
                    assert_eq!(got, Some(Event::Text(format!("{round}.{i}").into())));
                }
            }
        });
    });
}

/// The mio server and the blocking (thread per connection) server:
/// connections join a group with their push handles; the test thread
/// broadcasts (through the mio server's inbox, or waking each std
/// connection's thread from its `poll`).
mod on_threads {
    use super::*;
    use deflate_ext::{PmdNegotiator, PmdServerPolicy};
    use http_upgrade::{Dialect, ExtensionOffer};
    use std::net::{SocketAddr, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use ws_adapters::blocking;
    use ws_adapters::mio::{Conn, Handler, Server};
    use ws_proto::session::Negotiator;
    use ws_proto::{Bytes, BytesMut, Encoded, Extension, ExtensionError, FrameMeta, Granularity};

    type Members = Group<Arc<dyn Push>>;

    struct Joiner(Arc<Members>);

    impl Handler for Joiner {
        type Data = ();
        fn accepted(&mut self, _: SocketAddr) {}
        fn opened(&mut self, conn: &mut Conn, _: &mut ()) {
            let handle = conn.push_handle().expect("a server's connection");
            self.0.join(Arc::new(handle));
        }
        fn event(&mut self, _: &mut Conn, _: &mut (), _: Event) {}
    }

    #[derive(Clone, Copy, Debug)]
    enum On {
        Mio,
        Std,
    }

    fn start(on: On, group: Arc<Members>) -> SocketAddr {
        let local = "127.0.0.1:0".parse::<SocketAddr>().unwrap();
        match on {
            On::Mio => {
                let mut server = Server::bind(local, server_options(false), Joiner(group)).unwrap();
                let addr = server.local_addr().unwrap();
                std::thread::spawn(move || server.run().unwrap());
                addr
            }
            On::Std => {
                let server = blocking::Server::bind_with(local, server_options(false)).unwrap();
                let addr = server.local_addr().unwrap();
                std::thread::spawn(move || {
                    server.run(move |mut ws| {
                        if !ws.handshake().unwrap_or(false) {
                            return;
                        }
                        let handle = ws.push_handle().expect("a TCP socket on unix");
                        group.join(Arc::new(handle));
                        while let Ok(Some(_)) = ws.recv() {}
                    })
                });
                addr
            }
        }
    }

    fn client(addr: SocketAddr) -> blocking::WebSocket<TcpStream> {
        let req = http_upgrade::ClientRequest::new(&format!("ws://{addr}/")).unwrap();
        blocking::connect_with(req, &client_options(false)).unwrap()
    }

    fn wait_members(group: &Members, n: usize) {
        for _ in 0..500 {
            if group.len() == n {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{} members, not {n}", group.len());
    }

    fn broadcast_from_another_thread(on: On) {
        let group = Arc::new(Group::default());
        let addr = start(on, group.clone());
        let mut clients: Vec<_> = (0..20).map(|_| client(addr)).collect();
        wait_members(&group, 20);
        for round in 0..10 {
            let d = group.broadcast_text(format!("round {round}"));
            assert_eq!(d.sent, 20);
        }
        for c in &mut clients {
            for round in 0..10 {
                assert_eq!(
                    c.recv().unwrap(),
                    Some(Event::Text(format!("round {round}").into()))
                );
            }
        }
        // A closed client: its handle says so, the broadcast drops it.
        let mut last = clients.pop().unwrap();
        last.close(CloseCode::NORMAL, "").unwrap();
        while last.recv().unwrap().is_some() {}
        let mut gone = 0;
        for _ in 0..100 {
            gone += group.broadcast_text("still there?").gone;
            if gone > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(gone, 1);
        assert_eq!(group.len(), 19);
    }

    fn member_that_never_reads_is_skipped(on: On) {
        let limit = 256 * 1024;
        let group = Arc::new(Group::new(SlowConsumer::Skip { limit }));
        let addr = start(on, group.clone());
        let _stalled = client(addr);
        wait_members(&group, 1);
        let mut reader = client(addr);
        wait_members(&group, 2);
        let payload = vec![3u8; 64 * 1024];
        let mut skipped = 0;
        for i in 0..300 {
            skipped += group.broadcast_binary(payload.clone()).skipped;
            assert_eq!(
                reader.recv().unwrap(),
                Some(Event::Binary(payload.clone().into())),
                "message {i}"
            );
        }
        assert!(skipped > 0 && skipped < 300, "{skipped} skipped");
    }

    /// A std connection waiting in `poll(2)` (it handed out a push handle)
    /// whose peer stopped reading: a send gives up after the connection's
    /// write timeout without progress, instead of waiting for ever.
    #[test]
    fn std_polled_send_to_a_peer_that_stopped_reading_times_out() {
        bounded(Duration::from_secs(60), "std polled send", || {
            let config =
                ws_proto::Config::default().with_write_timeout(Some(Duration::from_millis(500)));
            let options =
                server_options(false).with_session(ws_adapters::session_config(config, false));
            let local = "127.0.0.1:0".parse::<SocketAddr>().unwrap();
            let server = blocking::Server::bind_with(local, options).unwrap();
            let addr = server.local_addr().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let (mut ws, _) = server.accept().unwrap();
                assert!(ws.handshake().unwrap());
                let _handle = ws.push_handle().expect("a TCP socket on unix");
                let t0 = std::time::Instant::now();
                let chunk = vec![1u8; 64 * 1024];
                let err = loop {
                    if let Err(e) = ws.send_binary(chunk.clone()) {
                        break e;
                    }
                    assert!(t0.elapsed() < Duration::from_secs(30), "never gave up");
                };
                tx.send((err.to_string(), t0.elapsed())).unwrap();
            });
            let _silent = client(addr);
            let (err, took) = rx.recv().unwrap();
            eprintln!("gave up after {took:?}: {err}");
            assert!(err.contains("timed out") || err.contains("write"), "{err}");
        });
    }

    #[test]
    fn mio_broadcast_from_another_thread() {
        bounded(Duration::from_secs(60), "mio broadcast", || {
            broadcast_from_another_thread(On::Mio)
        });
    }

    #[test]
    fn std_broadcast_from_another_thread() {
        bounded(Duration::from_secs(60), "std broadcast", || {
            broadcast_from_another_thread(On::Std)
        });
    }

    #[test]
    fn mio_member_that_never_reads_is_skipped() {
        bounded(Duration::from_secs(60), "mio slow member", || {
            member_that_never_reads_is_skipped(On::Mio)
        });
    }

    #[test]
    fn std_member_that_never_reads_is_skipped() {
        bounded(Duration::from_secs(60), "std slow member", || {
            member_that_never_reads_is_skipped(On::Std)
        });
    }

    /// Wraps a negotiator so that the extensions it makes count the
    /// messages they encode (compress).
    struct Counting(Box<dyn Negotiator>, Arc<AtomicUsize>);

    struct CountingExt(Box<dyn Extension>, Arc<AtomicUsize>);

    impl Negotiator for Counting {
        fn name(&self) -> &str {
            self.0.name()
        }
        fn offers(&self, dialect: Dialect) -> Vec<ExtensionOffer> {
            self.0.offers(dialect)
        }
        fn accept(
            &self,
            dialect: Dialect,
            offers: &[ExtensionOffer],
        ) -> Option<(ExtensionOffer, Box<dyn Extension>)> {
            let (response, ext) = self.0.accept(dialect, offers)?;
            Some((response, Box::new(CountingExt(ext, self.1.clone()))))
        }
        fn confirm(
            &self,
            dialect: Dialect,
            response: &ExtensionOffer,
        ) -> Result<Option<Box<dyn Extension>>, ExtensionError> {
            self.0.confirm(dialect, response)
        }
    }

    impl Extension for CountingExt {
        fn name(&self) -> &str {
            self.0.name()
        }
        fn rsv_mask(&self) -> u8 {
            self.0.rsv_mask()
        }
        fn granularity(&self) -> Granularity {
            self.0.granularity()
        }
        fn encode(&mut self, meta: &FrameMeta, payload: Bytes) -> Result<Encoded, ExtensionError> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.encode(meta, payload)
        }
        fn shared_encoding(&self) -> Option<u64> {
            self.0.shared_encoding()
        }
        fn decode(
            &mut self,
            meta: &FrameMeta,
            payload: Bytes,
            max_output: usize,
        ) -> Result<Bytes, ExtensionError> {
            self.0.decode(meta, payload, max_output)
        }
        fn encode_stream(
            &mut self,
            input: &[u8],
            out: &mut BytesMut,
        ) -> Result<(), ExtensionError> {
            self.0.encode_stream(input, out)
        }
        fn decode_stream(
            &mut self,
            input: &[u8],
            out: &mut BytesMut,
            max_output: usize,
        ) -> Result<usize, ExtensionError> {
            self.0.decode_stream(input, out, max_output)
        }
    }

    /// Broadcasts `MESSAGES` texts of 4 KiB to `READERS` permessage-deflate
    /// clients of a mio server whose policy is `server_no_context_takeover`
    /// = `nct`; returns how many compressions the server made.
    fn compressions_for_broadcast(nct: bool) -> usize {
        const READERS: usize = 40;
        const MESSAGES: usize = 20;
        let count = Arc::new(AtomicUsize::new(0));
        let policy = PmdServerPolicy::default().with_server_no_context_takeover(nct);
        let pmd = PmdNegotiator::new().with_policy(policy);
        let session = ws_adapters::session_config(Default::default(), false)
            .with_negotiator(Counting(Box::new(pmd), count.clone()));
        let group = Arc::new(Group::default());
        let local = "127.0.0.1:0".parse::<SocketAddr>().unwrap();
        let options = ws_adapters::ServerOptions::new(session);
        let mut server = Server::bind(local, options, Joiner(group.clone())).unwrap();
        let addr = server.local_addr().unwrap();
        std::thread::spawn(move || server.run().unwrap());
        let req = || http_upgrade::ClientRequest::new(&format!("ws://{addr}/")).unwrap();
        let mut readers: Vec<_> = (0..READERS)
            .map(|_| blocking::connect_with(req(), &client_options(true)).unwrap())
            .collect();
        wait_members(&group, READERS);
        let texts: Vec<String> = (0..MESSAGES)
            .map(|m| format!("message {m}: ").repeat(4096 / 12))
            .collect();
        for text in &texts {
            assert_eq!(group.broadcast_text(text.clone()).sent, READERS);
        }
        for r in &mut readers {
            for text in &texts {
                assert_eq!(r.recv().unwrap(), Some(Event::Text(text.clone().into())));
            }
        }
        count.load(Ordering::Relaxed)
    }

    /// With `server_no_context_takeover` (RFC 7692 §7.1.1.1) a broadcast
    /// is compressed once per message, whatever the number of readers
    /// (`Connection::send_prepared` through the loop's inbox); with
    /// context takeover once per reader. Counted, not timed.
    #[test]
    fn mio_broadcast_compresses_once_for_peers_without_context_takeover() {
        bounded(Duration::from_secs(60), "mio shared compression", || {
            assert_eq!(compressions_for_broadcast(true), 20);
            assert_eq!(compressions_for_broadcast(false), 20 * 40);
        });
    }
}
