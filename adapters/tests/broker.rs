//! Broadcast across processes through a real NATS broker (Debian's
//! `nats-server`, started here on loopback; installed with apt-get if
//! missing): two links share a channel with types and order kept, bad
//! messages from the broker are dropped, an outage is reported and
//! survived without duplicates, and a broker that stalls never stalls a
//! publisher. Then the mirror across processes: two test-servers with
//! `--broker`, a Chromium page on each, a stroke drawn on one seen on the
//! other; the broker stopped and restarted under them.
#![cfg(feature = "nats")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

#[path = "tools/support.rs"]
mod support;

use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{
    Proc, WAIT, check_page, ensure_chromium, ensure_debian, ensure_playwright, text_where,
    ws_client,
};
use ws_adapters::broker::{Broker, BrokerOptions, Delivered};
use ws_proto::Bytes;

const NATS: &str = "/usr/sbin/nats-server";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nats-server on 127.0.0.1:`port`, stopped on drop.
fn nats_server(port: u16) -> Proc {
    ensure_debian("nats-server", NATS);
    let mut cmd = Command::new(NATS);
    cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
    let p = Proc::spawn("nats-server", &mut cmd);
    let until = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < until,
            "nats-server did not listen: {}",
            p.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    p
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < until, "waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A channel whose deliveries arrive on a std channel.
fn listen(
    broker: &Broker,
    name: &str,
) -> (ws_adapters::broker::Channel, mpsc::Receiver<Delivered>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let ch = broker
        .channel(name, move |d| {
            let _ = tx.lock().unwrap().send(d);
        })
        .unwrap();
    (ch, rx)
}

/// Publishes probes on `from` until `to` gets one (the subscription is
/// live); returns how many probes `to` then drains.
fn until_linked(from: &ws_adapters::broker::Channel, to: &mpsc::Receiver<Delivered>) {
    let until = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < until, "no probe got through");
        let _ = from.publish_text("probe");
        if let Ok(d) = to.recv_timeout(Duration::from_millis(50)) {
            assert_eq!(d, Delivered::Text("probe".into()));
            break;
        }
    }
    while to.recv_timeout(Duration::from_millis(200)).is_ok() {}
}

fn text(i: usize) -> Delivered {
    Delivered::Text(format!("m{i}").into())
}

fn binary(i: usize) -> Delivered {
    Delivered::Binary(Bytes::from((i as u32).to_be_bytes().to_vec()))
}

#[test]
fn two_links_share_a_channel_with_types_and_order() {
    let port = free_port();
    let _nats = nats_server(port);
    let url = format!("nats://127.0.0.1:{port}");
    let a = Broker::nats(&url).unwrap();
    let b = Broker::nats(&url).unwrap();
    let (from_a, at_a) = listen(&a, "room");
    let (_from_b, at_b) = listen(&b, "room");
    // Another channel hears nothing of "room".
    let (_other, at_other) = listen(&b, "elsewhere");
    wait_for("both connected", || {
        a.status().connected && b.status().connected
    });
    until_linked(&from_a, &at_b);
    let n = 2000;
    for i in 0..n {
        if i % 2 == 0 {
            from_a.publish_text(format!("m{i}")).unwrap();
        } else {
            from_a
                .publish_binary((i as u32).to_be_bytes().to_vec())
                .unwrap();
        }
    }
    for i in 0..n {
        let want = if i % 2 == 0 { text(i) } else { binary(i) };
        let got = at_b.recv_timeout(WAIT).unwrap();
        assert_eq!(got, want, "message {i}");
    }
    // A's own messages are not delivered back to A; nothing leaks.
    assert!(at_a.recv_timeout(Duration::from_millis(300)).is_err());
    assert!(at_other.try_recv().is_err());
    let s = b.status();
    assert_eq!((s.rejected, s.duplicates), (0, 0), "{s:?}");
    assert!(a.status().published >= n as u64);
}

/// What a hostile or broken publisher on the broker sends is dropped
/// with a log line and counted, never delivered; a message repeated with
/// its publisher's sequence number is delivered once.
#[test]
fn bad_messages_from_the_broker_are_dropped() {
    let port = free_port();
    let _nats = nats_server(port);
    let url = format!("nats://127.0.0.1:{port}");
    let options = BrokerOptions::default().with_max_message(1000);
    let b = Broker::nats_with(&url, options).unwrap();
    let (_ch, at_b) = listen(&b, "room");
    let a = Broker::nats(&url).unwrap();
    let (from_a, _) = listen(&a, "room");
    wait_for("connected", || a.status().connected && b.status().connected);
    until_linked(&from_a, &at_b);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let raw = async_nats::connect(url.as_str()).await.unwrap();
        let h = |kind: &str, origin: &str, seq: &str| {
            let mut h = async_nats::HeaderMap::new();
            h.insert("Ws-Kind", kind);
            h.insert("Ws-Origin", origin);
            h.insert("Ws-Seq", seq);
            h
        };
        let o = "00000000000000ab";
        raw.publish("ws.room", "no headers".into()).await.unwrap();
        raw.publish_with_headers("ws.room", h("ping", o, "1"), "x".into())
            .await
            .unwrap();
        raw.publish_with_headers("ws.room", h("text", o, "2"), vec![0xc3, 0x28].into())
            .await
            .unwrap();
        raw.publish_with_headers("ws.room", h("binary", o, "3"), vec![0u8; 1001].into())
            .await
            .unwrap();
        raw.publish_with_headers("ws.room", h("text", "nothex", "4"), "x".into())
            .await
            .unwrap();
        // Valid, then the same number again.
        raw.publish_with_headers("ws.room", h("text", o, "5"), "good".into())
            .await
            .unwrap();
        raw.publish_with_headers("ws.room", h("text", o, "5"), "again".into())
            .await
            .unwrap();
        raw.publish_with_headers("ws.room", h("text", o, "6"), "next".into())
            .await
            .unwrap();
        raw.flush().await.unwrap();
    });
    assert_eq!(
        at_b.recv_timeout(WAIT).unwrap(),
        Delivered::Text("good".into())
    );
    assert_eq!(
        at_b.recv_timeout(WAIT).unwrap(),
        Delivered::Text("next".into())
    );
    assert!(at_b.recv_timeout(Duration::from_millis(300)).is_err());
    let s = b.status();
    assert_eq!(s.rejected, 5, "{s:?}");
    assert_eq!(s.duplicates, 1, "{s:?}");
}

/// The broker goes away and comes back on the same port: the links say
/// so, publishing never blocks meanwhile, they reconnect by themselves,
/// the channel works again, and no message is delivered twice or out of
/// order.
#[test]
fn a_broker_outage_is_reported_and_survived() {
    let port = free_port();
    let nats = nats_server(port);
    let url = format!("nats://127.0.0.1:{port}");
    let a = Broker::nats(&url).unwrap();
    let b = Broker::nats(&url).unwrap();
    let (from_a, _) = listen(&a, "room");
    let (_from_b, at_b) = listen(&b, "room");
    wait_for("connected", || a.status().connected && b.status().connected);
    until_linked(&from_a, &at_b);
    let mut sent = 0usize;
    let publish = |sent: &mut usize, n: usize| {
        for _ in 0..n {
            let _ = from_a.publish_text(format!("m{sent}"));
            *sent += 1;
        }
    };
    publish(&mut sent, 100);
    for i in 0..100 {
        assert_eq!(at_b.recv_timeout(WAIT).unwrap(), text(i));
    }
    drop(nats);
    wait_for("the outage noticed", || {
        !a.status().connected && !b.status().connected
    });
    assert!(a.status().disconnects >= 1);
    // Publishing during the outage returns at once (queued or dropped).
    publish(&mut sent, 100);
    std::thread::sleep(Duration::from_secs(1));
    let _nats = nats_server(port);
    wait_for("reconnected", || {
        a.status().connected && b.status().connected
    });
    assert!(a.status().connects >= 2);
    // The channel works again (the subscription came back by itself).
    let until = Instant::now() + WAIT;
    let mut got: Vec<usize> = Vec::new();
    loop {
        assert!(
            Instant::now() < until,
            "nothing after the reconnect: {got:?}"
        );
        publish(&mut sent, 1);
        let last = sent - 1;
        while let Ok(d) = at_b.recv_timeout(Duration::from_millis(50)) {
            let Delivered::Text(t) = d else {
                panic!("{d:?}")
            };
            got.push(t.as_str()[1..].parse().unwrap());
        }
        if got.last() == Some(&last) {
            break;
        }
    }
    // At most once, in order: strictly increasing, none from before the
    // outage again.
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    assert!(got[0] >= 100, "{got:?}");
    assert_eq!(b.status().duplicates, 0);
}

/// A "broker" that accepts the connection and never says a word: the
/// link cannot come up, publishes return at once and are dropped past
/// the bounded queue; nothing waits on it.
#[test]
fn a_stalled_broker_never_stalls_publishers() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok((s, _)) = listener.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        held.len()
    });
    let options = BrokerOptions::default().with_queue(64);
    let a = Broker::nats_with(&format!("nats://127.0.0.1:{port}"), options).unwrap();
    let (room, _) = listen(&a, "room");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let failed = (0..10_000)
            .filter(|i| room.publish_text(format!("m{i}")).is_err())
            .count();
        let _ = tx.send(failed);
    });
    let failed = rx
        .recv_timeout(WAIT)
        .expect("publishing blocked on a stalled broker");
    // Two queues of 64 (ours, the NATS client's) and one in hand.
    assert!(failed >= 10_000 - 2 * 64 - 1, "{failed} dropped");
    let s = a.status();
    assert!(!s.connected);
    assert_eq!(s.dropped, failed as u64);
    assert!(held.join().unwrap() >= 1, "the link never even connected");
}

/// A test-server (port 0) sharing its mirror through `broker`.
fn mirror_server(adapter: &str, broker: &str) -> (Proc, u16) {
    let args = ["--port", "0", "-d", "info", "--adapter", adapter];
    Proc::listening(
        "test-server",
        &[&args[..], &["--broker", broker][..]].concat(),
    )
}

fn client(port: u16, protocol: &str) -> ws_adapters::blocking::WebSocket<std::net::TcpStream> {
    ws_client(port, protocol, false)
}

/// The next text message containing `needle` within `limit`.
fn text_within(
    ws: &mut ws_adapters::blocking::WebSocket<std::net::TcpStream>,
    needle: &str,
    limit: Duration,
) -> Option<String> {
    text_where(ws, limit, |t| t.contains(needle))
}

/// lws-mirror-protocol across two server processes (mio and tokio) on
/// one NATS broker: Chromium draws on a page of the first and the stroke
/// shows on a page of the second. Then the broker stops for a few
/// seconds: both servers keep serving (each its own mirror, the counter),
/// and when it is back the shared mirror resumes by itself.
#[test]
fn the_mirror_spans_two_servers_through_the_broker() {
    ensure_chromium();
    let dir = ensure_playwright();
    let port = free_port();
    let nats = nats_server(port);
    let url = format!("nats://127.0.0.1:{port}");
    let (mut a, port_a) = mirror_server("mio", &url);
    let (mut b, port_b) = mirror_server("tokio", &url);
    for s in [&mut a, &mut b] {
        s.expect_stderr("the broker link", WAIT, |l| {
            l.contains("broker") && l.contains("connected")
        });
    }
    // Our clients: one on each server.
    let mut on_a = client(port_a, "lws-mirror-protocol");
    let mut on_b = client(port_b, "lws-mirror-protocol");
    let shared = |on_a: &mut ws_adapters::blocking::WebSocket<std::net::TcpStream>,
                  on_b: &mut ws_adapters::blocking::WebSocket<std::net::TcpStream>,
                  tag: &str,
                  limit: Duration| {
        on_a.send_text(format!("d #00ff00 1 1 2 2; {tag}")).unwrap();
        text_within(on_b, tag, limit).is_some()
    };
    let until = Instant::now() + WAIT;
    let mut n = 0;
    while !shared(
        &mut on_a,
        &mut on_b,
        &format!("link{n}"),
        Duration::from_millis(200),
    ) {
        assert!(
            Instant::now() < until,
            "the mirror never spanned the servers"
        );
        n += 1;
    }
    // Chromium: first page on A, second page on B.
    check_page(&dir, port_a, port_b, "broker");

    // The broker goes away.
    drop(nats);
    for s in [&mut a, &mut b] {
        s.expect_stderr("the outage", WAIT, |l| l.contains("disconnected"));
    }
    // Each server still mirrors its own clients, and counts.
    on_a.send_text("d #0000ff 3 3 4 4; local-a").unwrap();
    assert!(
        text_within(&mut on_a, "local-a", WAIT).is_some(),
        "A stopped mirroring"
    );
    on_b.send_text("d #0000ff 3 3 4 4; local-b").unwrap();
    assert!(
        text_within(&mut on_b, "local-b", WAIT).is_some(),
        "B stopped mirroring"
    );
    let mut counter = client(port_b, "dumb-increment-protocol");
    assert!(
        text_within(&mut counter, "", WAIT).is_some(),
        "B stopped counting"
    );
    std::thread::sleep(Duration::from_secs(2));

    // The broker is back: the shared mirror resumes by itself.
    let _nats = nats_server(port);
    let until = Instant::now() + WAIT;
    let mut n = 0;
    while !shared(
        &mut on_a,
        &mut on_b,
        &format!("back{n}"),
        Duration::from_millis(200),
    ) {
        assert!(
            Instant::now() < until,
            "the mirror did not resume: {}",
            a.stderr()
        );
        n += 1;
    }
    // B to A too.
    on_b.send_text("d #000000 5 5 6 6; from-b").unwrap();
    assert!(text_within(&mut on_a, "from-b", WAIT).is_some());
}
