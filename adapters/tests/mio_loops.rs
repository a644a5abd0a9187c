//! The mio and io_uring servers on every core (`mio::serve_loops`,
//! `uring::serve_loops`): connections spread over the loops, a broadcast
//! reaches members on every loop, and the connection limit counts every
//! loop's connections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use common::{bounded, client_options, server_options};
use http_upgrade::ClientRequest;
use ws_adapters::{Ctx, Event, Group, MemberId, Protocol, Protocols, Push, blocking, mio};

type Room = Arc<Group<Arc<dyn Push>>>;

/// Joins the room; echoes.
struct Member(Room);

impl Protocol for Member {
    type State = Option<MemberId>;
    fn established(&self, cx: &mut Ctx<'_>) -> Option<MemberId> {
        cx.push_handle().map(|p| self.0.join(p))
    }
    fn event(&self, _: &mut Option<MemberId>, cx: &mut Ctx<'_>, event: Event) {
        if let Some(m) = event.into_message() {
            let _ = cx.send(m);
        }
    }
    fn closed(&self, id: Option<MemberId>, _: &ws_adapters::End) {
        if let Some(id) = id {
            self.0.leave(id);
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Mio,
    #[cfg(feature = "uring")]
    Uring,
}

fn serve(kind: Kind, room: &Room, loops: usize, max: usize) -> mio::Loops {
    let table = Protocols::new()
        .protocol("room", Member(room.clone()))
        .default_protocol("room");
    let options = table.options(server_options(false).with_max_connections(max));
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    match kind {
        Kind::Mio => mio::serve_loops(local, options, loops, |_| table.clone()).unwrap(),
        #[cfg(feature = "uring")]
        Kind::Uring => {
            ws_adapters::uring::serve_loops(local, options, loops, |_| table.clone()).unwrap()
        }
    }
}

fn try_client(addr: SocketAddr) -> Result<blocking::WebSocket<TcpStream>, ws_adapters::Error> {
    let req = ClientRequest::new(&format!("ws://{addr}/")).unwrap();
    blocking::connect_with(req, &client_options(false))
}

fn kinds() -> Vec<Kind> {
    #[allow(unused_mut)]
    let mut k = vec![Kind::Mio];
    #[cfg(feature = "uring")]
    k.push(Kind::Uring);
    k
}

#[test]
fn connections_spread_over_the_loops_and_a_broadcast_reaches_every_loop() {
    for kind in kinds() {
        bounded(Duration::from_secs(60), "loops", move || spread(kind));
    }
}

fn spread(kind: Kind) {
    {
        let room: Room = Arc::default();
        let loops = serve(kind, &room, 2, 1000);
        assert_eq!(loops.loops(), 2);
        let addr = loops.local_addr();
        let mut clients: Vec<_> = (0..40).map(|_| try_client(addr).unwrap()).collect();
        for _ in 0..500 {
            if room.len() == 40 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(room.len(), 40);
        let per_loop = loops.per_loop();
        eprintln!("{kind:?}: connections per loop: {per_loop:?}");
        assert_eq!(per_loop.iter().sum::<usize>(), 40);
        assert!(
            per_loop.iter().all(|&n| n > 0),
            "SO_REUSEPORT gave every connection to one loop: {per_loop:?}"
        );
        assert_eq!(loops.connections(), 40);
        let delivery = room.broadcast_text("to every loop");
        assert_eq!(delivery.sent, 40);
        for c in &mut clients {
            assert_eq!(
                c.recv_timeout(Duration::from_secs(10)).unwrap(),
                Some(Event::Text("to every loop".into()))
            );
            c.send_text("echo").unwrap();
            assert_eq!(
                c.recv_timeout(Duration::from_secs(10)).unwrap(),
                Some(Event::Text("echo".into()))
            );
        }
        drop(clients);
        loops.stop();
        loops.join().unwrap();
    }
}

#[test]
fn the_connection_limit_counts_every_loop() {
    for kind in kinds() {
        bounded(Duration::from_secs(60), "loops limit", move || limit(kind));
    }
}

fn limit(kind: Kind) {
    {
        let room: Room = Arc::default();
        let loops = serve(kind, &room, 2, 4);
        let addr = loops.local_addr();
        let held: Vec<_> = (0..4).map(|_| try_client(addr).unwrap()).collect();
        // Whichever loop the kernel hands them to, more are refused.
        for _ in 0..6 {
            let err = try_client(addr).expect_err("a fifth connection was served");
            assert!(
                matches!(err.kind(), ws_adapters::ErrorKind::Rejected(503)),
                "{err}"
            );
        }
        assert_eq!(loops.connections(), 4, "{kind:?}");
        drop(held);
        loops.stop();
        loops.join().unwrap();
    }
}
