//! Broadcast across processes through NATS against local broadcast: two
//! server processes (mio, one loop each) on one `nats-server`, a client
//! publishing on A, one member of the group on A (local delivery) and one
//! on B (through the broker). Measures the latency from the publisher's
//! send to each member's receipt (paced messages), then the throughput
//! of a burst (messages per second until each member has them all): one
//! that fits the link's queues (5,000) and one that overflows them
//! (`--burst`, default 50,000: what does not fit is dropped at the
//! publisher, by design).
//!
//! ```text
//! cargo run --release -p ws-benches --bin fanout -- [--paced 2000] [--burst 50000] [--size 20]
//! ```
//!
//! Needs `/usr/sbin/nats-server` (Debian's `nats-server`). Everything runs
//! on 127.0.0.1; the broker, both servers and the clients share the
//! machine's cores, so the figures are for comparing the two paths in one
//! run, not absolute.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use http_upgrade::ClientRequest;
use ws_adapters::broker::{Broker, Channel};
use ws_adapters::{ClientOptions, Ctx, Event, Group, Protocol, Protocols, Push, ServerOptions};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num(name: &str, default: usize) -> usize {
    arg(name).map_or(default, |v| v.parse().unwrap())
}

/// Members of the group: they receive.
struct Member(Arc<Group<Arc<dyn Push>>>);

impl Protocol for Member {
    type State = ();
    fn established(&self, cx: &mut Ctx<'_>) {
        if let Some(p) = cx.push_handle() {
            self.0.join(p);
        }
    }
    fn event(&self, _: &mut (), _: &mut Ctx<'_>, _: Event) {}
}

/// The publisher: what it sends goes to the local members and to the
/// other process through the broker.
struct Source {
    group: Arc<Group<Arc<dyn Push>>>,
    channel: Channel,
}

impl Protocol for Source {
    type State = ();
    fn established(&self, _: &mut Ctx<'_>) {}
    fn event(&self, _: &mut (), _: &mut Ctx<'_>, event: Event) {
        if let Event::Text(t) = event {
            let text = ws_proto::Utf8Bytes::from(t.as_str());
            self.group.broadcast_text(text.clone());
            let _ = self.channel.publish_text(text);
        }
    }
}

/// `--serve URL`: one server process on the broker at URL.
fn serve(url: &str) {
    let group: Arc<Group<Arc<dyn Push>>> = Arc::new(Group::default());
    let broker = Broker::nats(url).unwrap();
    let channel = broker.relay("bench", group.clone()).unwrap();
    let table = Protocols::new()
        .protocol("member", Member(group.clone()))
        .protocol("source", Source { group, channel });
    let options = table.options(ServerOptions::default());
    let mut server =
        ws_adapters::mio::Server::bind("127.0.0.1:0".parse().unwrap(), options, table).unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while !broker.status().connected {
        assert!(Instant::now() < until, "no broker at {url}");
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("listening {}", server.local_addr().unwrap().port());
    server.run().unwrap();
}

fn spawn_server(url: &str) -> (Child, u16) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--serve", url])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening ")
        .unwrap()
        .parse()
        .unwrap();
    (child, port)
}

fn client(port: u16, protocol: &str) -> ws_adapters::blocking::WebSocket<TcpStream> {
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/"))
        .unwrap()
        .protocol(protocol);
    let options = ClientOptions::default().with_proxy(ws_adapters::proxy::ProxySetting::Direct);
    ws_adapters::blocking::connect_with(request, &options).unwrap()
}

/// Receives until `n` messages numbered 0..n arrived (or 30 s pass);
/// returns each one's arrival time.
fn receive(
    mut ws: ws_adapters::blocking::WebSocket<TcpStream>,
    n: usize,
) -> mpsc::Receiver<Vec<Option<Instant>>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut at = vec![None; n];
        let mut got = 0;
        let end = Instant::now() + Duration::from_secs(30);
        while got < n && Instant::now() < end {
            match ws.recv_timeout(Duration::from_millis(500)) {
                Ok(Some(Event::Text(t))) => {
                    let seq: usize = t.as_str().split(' ').next().unwrap().parse().unwrap();
                    if seq < n && at[seq].is_none() {
                        at[seq] = Some(Instant::now());
                        got += 1;
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        }
        let _ = tx.send(at);
    });
    rx
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn latency(name: &str, sent: &[Instant], at: &[Option<Instant>]) {
    let mut d: Vec<Duration> = sent
        .iter()
        .zip(at)
        .filter_map(|(s, a)| a.map(|a| a - *s))
        .collect();
    d.sort();
    let lost = at.iter().filter(|a| a.is_none()).count();
    println!(
        "{name:<22} p50 {:>8.1?}  p99 {:>8.1?}  max {:>8.1?}  lost {lost}",
        percentile(&d, 0.5),
        percentile(&d, 0.99),
        d[d.len() - 1]
    );
}

fn main() {
    if let Some(url) = arg("--serve") {
        return serve(&url);
    }
    let paced = num("--paced", 2000);
    let burst = num("--burst", 50_000);
    let size = num("--size", 20);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut nats = Command::new("/usr/sbin/nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stderr(Stdio::null())
        .spawn()
        .expect("fanout needs /usr/sbin/nats-server (apt-get install nats-server)");
    let url = format!("nats://127.0.0.1:{port}");
    std::thread::sleep(Duration::from_millis(300));
    let (mut a, port_a) = spawn_server(&url);
    let (mut b, port_b) = spawn_server(&url);
    let pad = "x".repeat(size.saturating_sub(8));

    // Let the subscriptions settle: probes until B's member hears one.
    let mut source = client(port_a, "source");
    let mut probe = client(port_b, "member");
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < end, "B never heard A");
        source.send_text(format!("{} probe", usize::MAX)).unwrap();
        if let Ok(Some(_)) = probe.recv_timeout(Duration::from_millis(100)) {
            break;
        }
    }
    drop(probe);

    println!("fan-out through NATS vs local broadcast, {size} B text messages");
    for (label, n, pace) in [
        ("paced (1 per ms)", paced, Some(Duration::from_millis(1))),
        ("burst within the link's queues", 5000, None),
        ("burst", burst, None),
    ] {
        let local = receive(client(port_a, "member"), n);
        let remote = receive(client(port_b, "member"), n);
        std::thread::sleep(Duration::from_millis(200));
        let mut sent = Vec::with_capacity(n);
        let start = Instant::now();
        for i in 0..n {
            sent.push(Instant::now());
            source.send_text(format!("{i} {pad}")).unwrap();
            if let Some(p) = pace {
                let next = start + p * (i as u32 + 1);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        }
        let local = local.recv().unwrap();
        let remote = remote.recv().unwrap();
        println!("-- {label}: {n} messages");
        latency("local (same process)", &sent, &local);
        latency("remote (via NATS)", &sent, &remote);
        if pace.is_none() {
            for (name, at) in [("local", &local), ("remote", &remote)] {
                let got = at.iter().filter(|a| a.is_some()).count();
                let last = at.iter().flatten().max().unwrap();
                let secs = (*last - start).as_secs_f64();
                println!(
                    "{name:<22} {got} of {n} in {secs:.3} s: {:.0} msgs/s",
                    got as f64 / secs
                );
            }
        }
    }
    let _ = a.kill();
    let _ = b.kill();
    let _ = nats.kill();
    let _ = (a.wait(), b.wait(), nats.wait());
}
