//! The libwebsockets tool set on our stack, run as real programs: the
//! examples test-server, test-client, ping and fraggle are started as child
//! processes over loopback (port 0, the port read from their `listening on`
//! line, bounded waits, killed on drop) and checked for their real output;
//! the test server's page is opened in headless Chromium.
//!
//! The browser test needs Debian's `chromium` (installed with apt-get if
//! `/usr/bin/chromium` is missing) and `node`/`npm` (for `playwright-core`,
//! installed with `npm ci` in `scripts/browser`); it fails loudly, never
//! skips, if they cannot be had. Its screenshot is written to
//! `target/artifacts/test-server.png`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

#[path = "tools/support.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_upgrade::ClientRequest;
use support::{Proc, WAIT, ensure_chromium, ensure_playwright, interrupt, workspace};
use ws_adapters::blocking::{self, WebSocket};
use ws_adapters::tls::ClientTls;
use ws_adapters::{ClientOptions, Event};
use ws_proto::CloseCode;

/// Every adapter the test server runs on (uring with its feature).
#[cfg(feature = "uring")]
const ADAPTERS: [&str; 5] = ["mio", "std", "tokio", "smol", "uring"];
#[cfg(not(feature = "uring"))]
const ADAPTERS: [&str; 4] = ["mio", "std", "tokio", "smol"];

/// Starts the test server (port 0) with `args`; returns it and its port.
fn test_server(args: &[&str]) -> (Proc, u16) {
    let mut all = vec!["--port", "0", "-d", "warn"];
    all.extend_from_slice(args);
    let mut p = Proc::start("test-server", &all);
    let port = p.listening_port();
    (p, port)
}

/// Our own client to the test server.
fn connect(port: u16, protocol: &str, ssl: bool) -> WebSocket<TcpStream> {
    let scheme = if ssl { "wss" } else { "ws" };
    let request = ClientRequest::new(&format!("{scheme}://127.0.0.1:{port}/"))
        .unwrap()
        .protocol(protocol);
    let mut options = ClientOptions::default().with_proxy(ws_adapters::proxy::ProxySetting::Direct);
    if ssl {
        options = options.with_tls(ClientTls::dangerous_accept_any_certificate().unwrap());
    }
    blocking::connect_with(request, &options).unwrap()
}

/// The next text message within `WAIT`.
fn next_text(ws: &mut WebSocket<TcpStream>) -> String {
    let end = Instant::now() + WAIT;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no text message within {WAIT:?}");
        match ws.recv_timeout(left).unwrap() {
            Some(Event::Text(t)) => return t.as_str().to_owned(),
            Some(_) => {}
            None => assert!(!ws.is_finished(), "the connection closed"),
        }
    }
}

fn next_number(ws: &mut WebSocket<TcpStream>) -> u64 {
    let t = next_text(ws);
    t.parse().unwrap_or_else(|_| panic!("not a number: {t:?}"))
}

/// A plain HTTP/1.1 GET; returns the status line and the body.
fn http_get(port: u16, path: &str) -> (String, String) {
    let (head, body) = http_raw(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    );
    (head.lines().next().unwrap_or("").to_owned(), body)
}

/// Checks that dumb-increment numbers count up by one, and that `reset\n`
/// starts them again from 0.
fn check_dumb_increment(ws: &mut WebSocket<TcpStream>) {
    let first = next_number(ws);
    let mut last = first;
    for _ in 0..5 {
        let n = next_number(ws);
        assert_eq!(n, last + 1, "numbers must count up by one");
        last = n;
    }
    ws.send_text("reset\n").unwrap();
    // A number or two may already be on the way; then it restarts.
    let mut after = Vec::new();
    while after.len() < 5 {
        after.push(next_number(ws));
        if after.last() < Some(&last) {
            break;
        }
    }
    let restarted = *after.last().unwrap();
    assert!(restarted < 3, "no reset: {last} then {after:?}");
    ws.close(CloseCode::NORMAL, "").unwrap();
}

#[test]
fn test_server_serves_the_page_and_counts_up() {
    for adapter in ADAPTERS {
        let (_server, port) = test_server(&["--adapter", adapter]);
        let (status, body) = http_get(port, "/");
        assert!(status.contains(" 200 "), "{adapter}: GET / -> {status}");
        assert!(body.contains("dumb-increment-protocol") && body.contains("<canvas"));
        let (status, body) = http_get(port, "/test.js");
        assert!(status.contains(" 200 ") && body.contains("lws-mirror-protocol"));
        let (status, _) = http_get(port, "/missing");
        assert!(status.contains(" 404 "), "{adapter}: {status}");
        let mut ws = connect(port, "dumb-increment-protocol", false);
        check_dumb_increment(&mut ws);
    }
}

#[test]
fn test_server_mirror_broadcasts_and_replays() {
    for adapter in ADAPTERS {
        // Printed with a failure's output: which adapter it was.
        eprintln!("[{adapter}] test-server mirror");
        let (_server, port) = test_server(&["--adapter", adapter]);
        let mut a = connect(port, "lws-mirror-protocol", false);
        let mut b = connect(port, "lws-mirror-protocol", false);
        let stroke = format!("d #00a000 10 20 30 40; {adapter}");
        a.send_text(&stroke).unwrap();
        assert_eq!(
            next_text(&mut b),
            stroke,
            "{adapter}: broadcast to the other client"
        );
        assert_eq!(next_text(&mut a), stroke, "{adapter}: and to the sender");
        // A newcomer gets the ring of recent messages first.
        let mut c = connect(port, "lws-mirror-protocol", false);
        assert_eq!(
            next_text(&mut c),
            stroke,
            "{adapter}: replayed to a newcomer"
        );
        // A client offering neither protocol is refused.
        let err = blocking::connect_with(
            ClientRequest::new(&format!("ws://127.0.0.1:{port}/"))
                .unwrap()
                .protocol("chat"),
            &ClientOptions::default().with_proxy(ws_adapters::proxy::ProxySetting::Direct),
        );
        assert!(
            err.is_err(),
            "{adapter}: an unknown subprotocol was accepted"
        );
    }
}

#[test]
fn test_server_over_tls_with_a_self_signed_certificate() {
    for adapter in ADAPTERS {
        // Printed with a failure's output: which adapter it was.
        eprintln!("[{adapter}] test-server --ssl");
        let (server, port) = test_server(&["--adapter", adapter, "--ssl"]);
        assert!(
            server
                .seen
                .iter()
                .any(|l| l.starts_with("listening on https://"))
        );
        let mut ws = connect(port, "dumb-increment-protocol", true);
        check_dumb_increment(&mut ws);
        let mut m1 = connect(port, "lws-mirror-protocol", true);
        let mut m2 = connect(port, "lws-mirror-protocol", true);
        m1.send_text("c #ff0000 50 50 10;").unwrap();
        assert_eq!(next_text(&mut m2), "c #ff0000 50 50 10;");
        // The tools' --ssl.
        let port_s = port.to_string();
        let mut client = Proc::start(
            "test-client",
            &["127.0.0.1", "-p", &port_s, "--ssl", "-n", "3", "-i", "20"],
        );
        client.succeed(WAIT);
        assert_counting(&printed_numbers(&client.seen), 3);
        let mut ping = Proc::start(
            "ping",
            &["127.0.0.1", "-p", &port_s, "--ssl", "-c", "2", "-i", "0.02"],
        );
        ping.succeed(WAIT);
        assert_eq!(ping_summary(&ping.seen).0, (2, 2, "0%".to_owned()));
    }
}

/// A raw HTTP/1.1 request; returns the whole response head and body.
fn http_raw(port: u16, request: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_owned(), body.to_owned())
}

/// `--resource-path`: the directory's files (its `test.html` for `/`),
/// with MIME types, `HEAD`, `ETag` and `304`, no escape from it, and the
/// built-in page for what it lacks. `--closetest`: a dumb-increment
/// connection is closed (1000) after 50 numbers.
#[test]
fn test_server_resource_path_and_closetest() {
    let dir = workspace().join("target/tmp/test-server-resources");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("test.html"),
        "<p>a page from the resource path</p>\n",
    )
    .unwrap();
    std::fs::write(dir.join("data.json"), "{\"n\": 1}\n").unwrap();
    let dir_s = dir.to_str().unwrap().to_owned();
    for adapter in ADAPTERS {
        let (_server, port) = test_server(&[
            "--adapter",
            adapter,
            "--resource-path",
            &dir_s,
            "--closetest",
        ]);
        let get = |path: &str, extra: &str| {
            http_raw(
                port,
                &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"),
            )
        };
        let (head, body) = get("/", "");
        assert!(head.starts_with("HTTP/1.1 200"), "{adapter}: {head}");
        assert_eq!(body, "<p>a page from the resource path</p>\n", "{adapter}");
        let (head, _) = get("/data.json", "");
        assert!(head.contains("application/json"), "{adapter}: {head}");
        let etag = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("ETag: ")
                    .or_else(|| l.strip_prefix("etag: "))
            })
            .unwrap_or_else(|| panic!("{adapter}: no ETag in {head}"))
            .to_owned();
        let (head, body) = get("/data.json", &format!("If-None-Match: {etag}\r\n"));
        assert!(
            head.starts_with("HTTP/1.1 304") && body.is_empty(),
            "{adapter}: {head}"
        );
        let (head, body) = http_raw(
            port,
            "HEAD /data.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(
            head.contains("Content-Length: 9") && body.is_empty(),
            "{adapter}: {head}"
        );
        for escape in ["/../Cargo.toml", "/%2e%2e/Cargo.toml", "/a%00b"] {
            let (head, _) = get(escape, "");
            assert!(
                head.starts_with("HTTP/1.1 403") || head.starts_with("HTTP/1.1 404"),
                "{adapter} {escape}: {head}"
            );
        }
        // Not in the directory: the built-in page's script.
        let (head, body) = get("/test.js", "");
        assert!(
            head.starts_with("HTTP/1.1 200") && body.contains("lws-mirror-protocol"),
            "{adapter}: {head}"
        );

        let mut ws = connect(port, "dumb-increment-protocol", false);
        let numbers: Vec<u64> = (0..50).map(|_| next_number(&mut ws)).collect();
        assert_eq!(numbers, (0..50).collect::<Vec<_>>(), "{adapter}");
        let end = Instant::now() + WAIT;
        let close = loop {
            assert!(Instant::now() < end, "{adapter}: no close after 50 numbers");
            match ws.recv_timeout(WAIT).unwrap() {
                Some(Event::Close { code, reason }) => break (code, reason),
                Some(other) => panic!("{adapter}: {other:?} after 50 numbers"),
                None => {}
            }
        };
        assert_eq!(close.0, Some(CloseCode::NORMAL), "{adapter}");
        assert_eq!(close.1, "close test", "{adapter}");
    }
}

/// Numbers printed by test-client, in order.
fn printed_numbers(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("dumb-increment-protocol: "))
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn assert_counting(numbers: &[u64], want: usize) {
    assert_eq!(numbers.len(), want, "{numbers:?}");
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "not counting up: {numbers:?}"
    );
}

#[test]
fn test_client_prints_numbers_and_draws_into_the_mirror() {
    let (_server, port) = test_server(&[]);
    // A second mirror client stands in for a browser on the same server.
    let mut watcher = connect(port, "lws-mirror-protocol", false);
    let port_s = port.to_string();
    let mut client = Proc::start(
        "test-client",
        &[
            "127.0.0.1",
            "--port",
            &port_s,
            "-n",
            "10",
            "--interval-ms",
            "20",
        ],
    );
    let circle = next_text(&mut watcher);
    assert!(
        circle.starts_with("c #") && circle.ends_with(';'),
        "not a circle: {circle:?}"
    );
    client.succeed(WAIT);
    assert_counting(&printed_numbers(&client.seen), 10);
    let sent: Vec<&str> = client
        .seen
        .iter()
        .filter_map(|l| l.strip_prefix("lws-mirror-protocol: sent "))
        .collect();
    assert!(
        sent.contains(&circle.as_str()),
        "{circle:?} not among {sent:?}"
    );
}

/// Without `--longlived` the mirror connection ends after its lifetime
/// and a new one opens (libwebsockets' test client); with it, one
/// connection lasts the whole run.
#[test]
fn test_client_mirror_lifetime_and_longlived() {
    let (_server, port) = test_server(&[]);
    let port_s = port.to_string();
    let base = [
        "127.0.0.1",
        "--port",
        &port_s,
        "-n",
        "12",
        "--interval-ms",
        "20",
    ];
    let mut short: Vec<&str> = base.to_vec();
    short.extend(["--mirror-lifetime", "3"]);
    let mut client = Proc::start("test-client", &short);
    client.succeed(WAIT);
    let opens = client
        .seen
        .iter()
        .filter(|l| *l == "lws-mirror-protocol: open")
        .count();
    let reconnects = client
        .seen
        .iter()
        .filter(|l| l.contains("lifetime over after 3 circles"))
        .count();
    assert!(opens >= 2 && reconnects >= 1, "{:?}", client.seen);
    let mut long: Vec<&str> = base.to_vec();
    long.extend(["--longlived", "--mirror-lifetime", "3"]);
    let mut client = Proc::start("test-client", &long);
    client.succeed(WAIT);
    let opens = client
        .seen
        .iter()
        .filter(|l| *l == "lws-mirror-protocol: open")
        .count();
    assert_eq!(opens, 1, "{:?}", client.seen);
}

#[test]
fn test_client_speaks_every_dialect() {
    for adapter in ADAPTERS {
        let (_server, port) = test_server(&["--adapter", adapter]);
        let port_s = port.to_string();
        for version in ["13", "8", "7", "6", "5", "4", "76"] {
            let mut client = Proc::start(
                "test-client",
                &[
                    "127.0.0.1",
                    "-p",
                    &port_s,
                    "-v",
                    version,
                    "-n",
                    "3",
                    "-i",
                    "10",
                ],
            );
            client.succeed(WAIT);
            let numbers = printed_numbers(&client.seen);
            assert_counting(&numbers, 3);
            let mirrored = client.seen.iter().any(|l| l.contains("circles sent"));
            assert!(mirrored, "{adapter} version {version}: {:?}", client.seen);
        }
    }
}

/// A minimal HTTP CONNECT proxy on loopback; records each request line.
fn connect_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let log = log.clone();
            std::thread::spawn(move || tunnel(conn, &log));
        }
    });
    (port, seen)
}

fn tunnel(conn: TcpStream, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request = String::new();
    reader.read_line(&mut request).unwrap();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
    }
    log.lock().unwrap().push(request.trim_end().to_owned());
    let target = request.split(' ').nth(1).unwrap_or_default().to_owned();
    let mut client = conn;
    let Ok(upstream) = TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .unwrap();
    let (mut up_r, mut up_w) = (upstream.try_clone().unwrap(), upstream);
    let mut down_w = client.try_clone().unwrap();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_r, &mut down_w);
        let _ = down_w.shutdown(std::net::Shutdown::Both);
    });
    // The reader may hold bytes read past the header (none: the client
    // waits for the 200), then the rest of the stream.
    let _ = std::io::copy(&mut reader, &mut up_w);
    let _ = up_w.shutdown(std::net::Shutdown::Write);
}

#[test]
fn test_client_honours_http_proxy() {
    let (_server, port) = test_server(&[]);
    let (proxy, seen) = connect_proxy();
    let port_s = port.to_string();
    let mut cmd = Command::new(support::example("test-client"));
    cmd.args(["127.0.0.1", "-p", &port_s, "-n", "3", "-i", "20"])
        .env("http_proxy", format!("http://127.0.0.1:{proxy}"))
        .env_remove("no_proxy")
        .env_remove("NO_PROXY")
        .env_remove("HTTP_PROXY");
    let mut client = Proc::spawn("test-client", &mut cmd);
    client.succeed(WAIT);
    assert_counting(&printed_numbers(&client.seen), 3);
    let seen = seen.lock().unwrap().clone();
    let want = format!("CONNECT 127.0.0.1:{port} HTTP/1.1");
    assert_eq!(seen.iter().filter(|l| **l == want).count(), 2, "{seen:?}");
}

/// ping's summary lines: (transmitted, received, loss %) and the rtt values.
fn ping_summary(lines: &[String]) -> ((u64, u64, String), Vec<f64>) {
    let stats = lines
        .iter()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no summary in {lines:?}"));
    let words: Vec<&str> = stats.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let transmitted = words[0].parse().unwrap();
    let received = words[3].parse().unwrap();
    let loss = words[5].to_owned();
    let rtt = lines
        .iter()
        .find_map(|l| l.strip_prefix("rtt min/avg/max/mdev = "))
        .unwrap_or_else(|| panic!("no rtt line in {lines:?}"));
    let rtt = rtt
        .trim_end_matches(" ms")
        .split('/')
        .map(|v| v.parse().unwrap())
        .collect();
    ((transmitted, received, loss), rtt)
}

fn assert_rtt(rtt: &[f64]) {
    let [min, avg, max, mdev] = rtt else {
        panic!("rtt has four values: {rtt:?}")
    };
    assert!(
        0.0 <= *min && min <= avg && avg <= max && *mdev >= 0.0,
        "{rtt:?}"
    );
}

#[test]
fn ping_frames_with_zero_loss() {
    let (_server, port) = test_server(&[]);
    let port_s = port.to_string();
    let mut ping = Proc::start(
        "ping",
        &[
            "127.0.0.1",
            "-p",
            &port_s,
            "-c",
            "5",
            "-i",
            "0.05",
            "-s",
            "125",
        ],
    );
    ping.succeed(WAIT);
    let replies: Vec<&String> = ping
        .seen
        .iter()
        .filter(|l| l.contains(" bytes from "))
        .collect();
    assert_eq!(replies.len(), 5, "{:?}", ping.seen);
    for (i, r) in replies.iter().enumerate() {
        assert!(r.starts_with("125 bytes from 127.0.0.1:"), "{r}");
        assert!(
            r.contains(&format!("req={} time=", i + 1)) && r.ends_with(" ms"),
            "{r}"
        );
    }
    let (counts, rtt) = ping_summary(&ping.seen);
    assert_eq!(counts, (5, 5, "0%".to_owned()));
    assert_rtt(&rtt);
}

#[test]
fn ping_mirror_mode_with_large_binary_payloads() {
    let (_server, port) = test_server(&[]);
    let port_s = port.to_string();
    let mut ping = Proc::start(
        "ping",
        &[
            "127.0.0.1",
            "-p",
            &port_s,
            "-m",
            "-s",
            "4096",
            "-c",
            "4",
            "-i",
            "0.02",
        ],
    );
    ping.succeed(WAIT);
    let replies = ping
        .seen
        .iter()
        .filter(|l| l.starts_with("4096 bytes from "))
        .count();
    assert_eq!(replies, 4, "{:?}", ping.seen);
    let (counts, rtt) = ping_summary(&ping.seen);
    assert_eq!(counts, (4, 4, "0%".to_owned()));
    assert_rtt(&rtt);
}

#[test]
fn ping_prints_its_summary_on_ctrl_c() {
    let (_server, port) = test_server(&[]);
    let port_s = port.to_string();
    let mut ping = Proc::start("ping", &["127.0.0.1", "-p", &port_s, "-i", "0.02"]);
    for _ in 0..3 {
        ping.expect("a reply", WAIT, |l| l.contains(" bytes from "));
    }
    interrupt(ping.id());
    ping.succeed(WAIT);
    let ((transmitted, received, _), rtt) = ping_summary(&ping.seen);
    assert!(received >= 3 && transmitted >= received, "{:?}", ping.seen);
    assert!(
        transmitted - received <= 1,
        "only the ping in flight may be lost"
    );
    assert_rtt(&rtt);
}

#[test]
fn ping_refuses_oversized_ping_frames() {
    let mut ping = Proc::start("ping", &["127.0.0.1", "-p", "1", "-s", "126"]);
    let status = ping.finish(WAIT);
    assert!(!status.success());
    assert!(
        ping.stderr().contains("at most 125 bytes"),
        "{}",
        ping.stderr()
    );
}

/// (bytes, fragments) from `EOM received N correctly from M fragments`.
fn eom_lines(lines: &[String]) -> Vec<(usize, usize)> {
    lines
        .iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("EOM received ")?;
            let (n, rest) = rest.split_once(" correctly from ")?;
            let m = rest.strip_suffix(" fragments")?;
            Some((n.parse().ok()?, m.parse().ok()?))
        })
        .collect()
}

#[test]
fn fraggle_checksums_are_correct() {
    for extra in [&[][..], &["--no-compression"][..]] {
        let mut args = vec!["--port", "0", "-n", "4"];
        args.extend_from_slice(extra);
        let mut server = Proc::start("fraggle", &args);
        let port = server.listening_port().to_string();
        let mut cargs = vec!["-c", "127.0.0.1", "-p", &port];
        cargs.extend_from_slice(extra);
        let mut client = Proc::start("fraggle", &cargs);
        client.succeed(WAIT);
        let eoms = eom_lines(&client.seen);
        assert_eq!(eoms.len(), 4, "{:?}", client.seen);
        for &(bytes, fragments) in &eoms {
            assert!((1..=1024).contains(&fragments), "{fragments} fragments");
            assert!(
                (fragments..=fragments * 2001).contains(&bytes),
                "{bytes} bytes"
            );
        }
        assert!(
            client
                .seen
                .contains(&"4 messages correct, 0 wrong".to_owned())
        );
        assert!(!client.stderr().contains("MISMATCH"), "{}", client.stderr());
        server.expect("the server's confirmation", WAIT, |l| {
            l.ends_with(": all 4 messages confirmed")
        });
        // What the server says it sent is what the client received.
        let sent: Vec<(usize, usize)> = server
            .seen
            .iter()
            .filter_map(|l| {
                let rest = l.split_once(": sent ")?.1;
                let (n, rest) = rest.split_once(" bytes in ")?;
                let m = rest.split_once(" fragments")?.0;
                Some((n.parse().ok()?, m.parse().ok()?))
            })
            .collect();
        assert_eq!(sent, eoms);
    }
}

// ---- the browser test ----

/// The page in Chromium against the test server on `adapter`: the
/// numbers count and "Reset counter" resets them, the ring replays
/// test-client's circles, a line sent by another client is drawn, and a
/// stroke drawn with the mouse on one page appears on a second page.
fn browser_check(dir: &std::path::Path, adapter: &str) {
    let rec = workspace().join(format!("target/tmp/recorded-{adapter}"));
    let _ = std::fs::remove_dir_all(&rec);
    let rec_s = rec.display().to_string();
    let (server, port) = test_server(&["--adapter", adapter, "--record", &rec_s]);
    // test-client draws circles first: the page gets them from the ring.
    let port_s = port.to_string();
    let mut client = Proc::start(
        "test-client",
        &[
            "127.0.0.1",
            "-p",
            &port_s,
            "-n",
            "12",
            "--interval-ms",
            "25",
        ],
    );
    client.succeed(WAIT);
    let circles = client
        .seen
        .iter()
        .filter(|l| l.starts_with("lws-mirror-protocol: sent c #"))
        .count();
    assert!(circles > 0, "{:?}", client.seen);
    let shot = workspace().join(format!("target/artifacts/test-server-{adapter}.png"));
    let _ = std::fs::remove_file(&shot);
    let mut cmd = Command::new("node");
    cmd.current_dir(dir)
        .arg("check-page.mjs")
        .args(["--url", &format!("http://127.0.0.1:{port}/")])
        .arg("--screenshot")
        .arg(&shot);
    let mut page = Proc::spawn("check-page.mjs", &mut cmd);
    let bad = |l: &str| l.starts_with("FAIL");
    let numbers = page.expect("the page's numbers", Duration::from_secs(90), |l| {
        l.starts_with("numbers: ") || bad(l)
    });
    assert!(!bad(&numbers), "{numbers}\n{}", page.stderr());
    let numbers: Vec<u64> = numbers[9..]
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        numbers.len() >= 3 && numbers.windows(2).all(|w| w[0] < w[1]),
        "{numbers:?}"
    );
    let ready = page.expect("the page's mirror", WAIT, |l| {
        l.starts_with("ready") || bad(l)
    });
    let replayed: usize = ready
        .strip_prefix("ready ")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        replayed >= circles,
        "the page got {replayed} of {circles} circles"
    );
    // A second client draws a red line; the page must show it.
    let mut mirror = connect(port, "lws-mirror-protocol", false);
    mirror.send_text("d #ff0000 20 150 580 150;").unwrap();
    let done = page.expect("the mirrored stroke", WAIT, |l| l == "ok" || bad(l));
    assert_eq!(done, "ok", "{adapter}: {:?}\n{}", page.seen, page.stderr());
    for line in ["mirror: ", "reset: ", "stroke: "] {
        assert!(
            page.seen.iter().any(|l| l.starts_with(line)),
            "{adapter}: no {line:?} line in {:?}",
            page.seen
        );
    }
    page.succeed(WAIT);
    assert!(shot.exists(), "no screenshot at {}", shot.display());
    println!("{adapter}: screenshot {}", shot.display());
    // Every connection was recorded (test-client's, the browser's, ours):
    // each transcript replays identically, and Chromium's are among them.
    drop(mirror);
    let until = Instant::now() + WAIT;
    let chromium = loop {
        let found = replay_dir(&rec);
        let from_chromium = found
            .iter()
            .filter(|(_, head)| head.contains("Chrome/"))
            .count();
        // Two pages, each with its two WebSockets and its page request.
        if from_chromium >= 4 || Instant::now() > until {
            break from_chromium;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        chromium >= 4,
        "{adapter}: {chromium} transcripts from Chromium"
    );
    drop(server);
}

/// The test server's connection settings (its defaults), to replay what
/// it recorded.
fn test_server_session() -> std::sync::Arc<ws_proto::session::SessionConfig> {
    let connection = ws_proto::Config::default()
        .with_max_message_size(1 << 20)
        .with_max_frame_size(1 << 20)
        .with_write_timeout(Some(Duration::from_secs(10)));
    std::sync::Arc::new(ws_adapters::session_config(connection, true))
}

/// Replays every transcript in `dir` as the test server recorded it;
/// panics on any that differs. Returns each file with its first request
/// head's `User-Agent` (empty if none).
fn replay_dir(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let path = e.unwrap().path();
        // Transcripts only (one being written is a `.wsrt.part`).
        if path.extension().is_none_or(|x| x != "wsrt") {
            continue;
        }
        let t = ws_proto::record::Transcript::from_bytes(std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let http = std::sync::Arc::new(
            http_upgrade::ServerConfig::default()
                .with_protocols(["dumb-increment-protocol", "lws-mirror-protocol"]),
        );
        let fresh =
            ws_proto::session::Session::server(http, test_server_session(), t.header().start);
        let r = t
            .replay(fresh)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // A connection that sent nothing (a browser's preconnect, closed
        // unused) is answered with nothing; every other one is answered.
        let received = t.entries().any(
            |e| matches!(e, Ok(ws_proto::record::Entry::Receive { data, .. }) if !data.is_empty()),
        );
        assert!(
            !received || r.bytes_out > 0,
            "{}: a request and no answer",
            path.display()
        );
        let agent = t
            .entries()
            .find_map(|e| match e {
                Ok(ws_proto::record::Entry::Receive { data, .. }) => Some(data.to_vec()),
                _ => None,
            })
            .map(|head| {
                let head = String::from_utf8_lossy(&head).into_owned();
                head.lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("user-agent:"))
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_default();
        out.push((path, agent));
    }
    out
}

/// Transcripts of the test server talking to Chromium, recorded by
/// `browser_shows_the_page_on_every_adapter` and kept in
/// `tests/transcripts/`, replay identically (no browser needed).
#[test]
fn recorded_chromium_conversations_replay() {
    let dir = workspace().join("adapters/tests/transcripts");
    let found = replay_dir(&dir);
    let chromium: Vec<_> = found
        .iter()
        .filter(|(_, a)| a.contains("Chrome/"))
        .collect();
    assert!(chromium.len() >= 2, "{found:?}");
    // Both protocols, compressed, with real browser framing.
    let mut protocols = Vec::new();
    let mut compressed = 0;
    for (path, _) in &chromium {
        let t = ws_proto::record::Transcript::from_bytes(std::fs::read(path).unwrap()).unwrap();
        for e in t.entries() {
            if let Ok(ws_proto::record::Entry::Accept { accept, .. }) = e {
                protocols.extend(accept.protocol);
            }
        }
        let rsv1 = t
            .scan_input()
            .iter()
            .any(|(_, s)| matches!(s, ws_proto::record::Scanned::Frame { rsv: 0b100, .. }));
        compressed += usize::from(rsv1);
    }
    assert!(
        compressed >= 1,
        "no compressed frame from Chromium in {chromium:?}"
    );
    protocols.sort();
    protocols.dedup();
    assert_eq!(
        protocols,
        ["dumb-increment-protocol", "lws-mirror-protocol"]
    );
}

#[test]
fn browser_shows_the_page_on_every_adapter() {
    ensure_chromium();
    let dir = ensure_playwright();
    for adapter in ADAPTERS {
        browser_check(&dir, adapter);
    }
}

/// The page over HTTP/2 (RFC 8441): the test server on tokio with `--ssl`
/// serves the page with ALPN `h2`, and Chromium opens both of the page's
/// WebSockets as streams of the page's own connection (the server logs
/// each WebSocket's transport and peer: HTTP/2, the same address for
/// both, and again for the second page). The checks are the HTTP/1.1
/// browser test's: numbers count and reset, a mirror line sent by one of
/// our clients (over HTTP/1.1, on the same port) is drawn, and a stroke
/// drawn on one page appears on the other.
#[cfg(feature = "h2")]
#[test]
fn browser_over_http2() {
    ensure_chromium();
    let dir = ensure_playwright();
    let mut server = Proc::start(
        "test-server",
        &["--port", "0", "-d", "info", "--adapter", "tokio", "--ssl"],
    );
    let port = server.listening_port();
    let shot = workspace().join("target/artifacts/test-server-http2.png");
    let _ = std::fs::remove_file(&shot);
    let mut cmd = Command::new("node");
    cmd.current_dir(&dir)
        .arg("check-page.mjs")
        .args(["--url", &format!("https://localhost:{port}/")])
        .arg("--screenshot")
        .arg(&shot);
    let mut page = Proc::spawn("check-page.mjs", &mut cmd);
    let bad = |l: &str| l.starts_with("FAIL");
    let numbers = page.expect("the page's numbers", Duration::from_secs(90), |l| {
        l.starts_with("numbers: ") || bad(l)
    });
    assert!(!bad(&numbers), "{numbers}\n{}", page.stderr());
    let ready = page.expect("the page's mirror", WAIT, |l| {
        l.starts_with("ready") || bad(l)
    });
    assert!(!bad(&ready), "{ready}\n{}", page.stderr());
    let mut mirror = connect(port, "lws-mirror-protocol", true);
    mirror.send_text("d #ff0000 20 150 580 150;").unwrap();
    let done = page.expect("the mirrored stroke", WAIT, |l| l == "ok" || bad(l));
    assert_eq!(done, "ok", "{:?}\n{}", page.seen, page.stderr());
    page.succeed(WAIT);
    drop(mirror);
    let log = server.stderr();
    let over = |transport: &str| -> Vec<(String, String)> {
        log.lines()
            .filter_map(|l| {
                let (_, rest) = l.split_once("test_server] Some(")?;
                let (peer, rest) = rest.split_once("): ")?;
                let (protocol, t) = rest.split_once(" WebSocket over ")?;
                (t == transport).then(|| (peer.to_owned(), protocol.to_owned()))
            })
            .collect()
    };
    let h2 = over("HTTP/2");
    let h1 = over("HTTP/1.1");
    // Two pages, each with its two WebSockets, all on HTTP/2 streams.
    assert!(h2.len() >= 4, "WebSockets over HTTP/2: {h2:?}\n{log}");
    for protocol in ["dumb-increment-protocol", "lws-mirror-protocol"] {
        assert!(h2.iter().any(|(_, p)| p == protocol), "{protocol}: {h2:?}");
    }
    // On the page's connection: one peer address for the page's sockets.
    let mut peers: Vec<&str> = h2.iter().map(|(a, _)| a.as_str()).collect();
    peers.dedup();
    assert_eq!(
        peers.len(),
        1,
        "one HTTP/2 connection for the pages: {h2:?}"
    );
    // Our mirror client asked for HTTP/1.1 on the same port.
    assert_eq!(h1.len(), 1, "{h1:?}\n{log}");
    assert!(shot.exists());
}

/// A blocking client of ours on `url` (no proxy).
#[cfg(all(feature = "tokio", feature = "http"))]
fn client_at(url: &str) -> WebSocket<TcpStream> {
    let options = ClientOptions::new(ws_adapters::session_config(Default::default(), true))
        .with_proxy(ws_adapters::proxy::ProxySetting::Direct);
    blocking::connect_with(ClientRequest::new(url).unwrap(), &options).unwrap()
}

/// examples/axum-chat: the page and an ordinary route beside the room, and
/// what one member says reaches every member, compressed.
#[cfg(all(feature = "tokio", feature = "http"))]
#[test]
fn axum_chat_example() {
    let mut p = Proc::start("axum-chat", &["--port", "0"]);
    let port = p.listening_port();
    let (status, body) = http_get(port, "/health");
    assert!(status.contains("200"), "{status}");
    assert_eq!(body, "ok");
    let (status, body) = http_get(port, "/");
    assert!(
        status.contains("200") && body.contains("WebSocket"),
        "{status}"
    );
    let url = format!("ws://127.0.0.1:{port}/ws");
    let mut alice = client_at(&url);
    assert!(next_text(&mut alice).ends_with("joined"));
    let mut bob = client_at(&url);
    assert!(next_text(&mut bob).ends_with("joined"));
    assert!(
        next_text(&mut alice).ends_with("joined"),
        "alice sees bob join"
    );
    assert_eq!(
        alice.negotiated().map(|h| h.extensions.len()),
        Some(1),
        "permessage-deflate"
    );
    alice.send_text("hello room").unwrap();
    for ws in [&mut alice, &mut bob] {
        assert!(next_text(ws).ends_with(": hello room"));
    }
    bob.close(CloseCode::NORMAL, "bye").unwrap();
    assert!(next_text(&mut alice).ends_with("left"));
    drop(p);
}

/// examples/hyper-echo: an echo on hyper alone, and its plain page.
#[cfg(all(feature = "tokio", feature = "http"))]
#[test]
fn hyper_echo_example() {
    let mut p = Proc::start("hyper-echo", &["--port", "0"]);
    let port = p.listening_port();
    let (status, body) = http_get(port, "/");
    assert!(
        status.contains("200") && body.contains("echo"),
        "{status} {body}"
    );
    let mut ws = client_at(&format!("ws://127.0.0.1:{port}/"));
    ws.send_text("echo me").unwrap();
    assert_eq!(next_text(&mut ws), "echo me");
    ws.send_binary(vec![1u8; 100_000]).unwrap();
    assert_eq!(
        ws.recv().unwrap(),
        Some(Event::Binary(vec![1u8; 100_000].into()))
    );
    drop(p);
}

/// examples/extpoll: the protocols table in a poll(2) loop the example
/// owns, which announces every socket it adds, changes and removes.
#[cfg(unix)]
#[test]
fn extpoll_example() {
    let mut p = Proc::start("extpoll", &["--port", "0", "--sndbuf", "4096"]);
    let port = p.listening_port();
    let (status, body) = http_get(port, "/");
    assert!(
        status.contains("200") && body.contains("poll(2)"),
        "{status} {body}"
    );
    // dumb-increment: the numbers count up on the loop's timeouts.
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/"))
        .unwrap()
        .protocol("dumb-increment-protocol");
    let options = ClientOptions::default().with_proxy(ws_adapters::proxy::ProxySetting::Direct);
    let mut counter = blocking::connect_with(request, &options).unwrap();
    let first: u64 = next_text(&mut counter).parse().unwrap();
    let second: u64 = next_text(&mut counter).parse().unwrap();
    assert_eq!(second, first + 1);
    // The default protocol echoes; a 2 MiB echo to a client with a 4 KiB
    // receive buffer (through a 4 KiB send buffer) makes the loop wait for
    // POLLOUT, however fast the machine.
    let mut echo = {
        use rustix::net::{AddressFamily, SocketType, connect, socket, sockopt};
        let sock = socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
        sockopt::set_socket_recv_buffer_size(&sock, 4096).unwrap();
        connect(&sock, &std::net::SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
        let options = ClientOptions::default().with_proxy(ws_adapters::proxy::ProxySetting::Direct);
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
        let driver = options.driver_on_stream(request).unwrap();
        let mut ws = blocking::WebSocket::with_driver(TcpStream::from(sock), driver);
        assert!(ws.handshake().unwrap());
        ws
    };
    echo.send_text("through poll(2)").unwrap();
    assert_eq!(next_text(&mut echo), "through poll(2)");
    let big = vec![7u8; 2 << 20];
    echo.send_binary(big.clone()).unwrap();
    assert_eq!(echo.recv().unwrap(), Some(Event::Binary(big.into())));
    echo.close(CloseCode::NORMAL, "").unwrap();
    while echo.recv().unwrap().is_some() {}
    // The announcements: an ADD per connection (HTTP, counter, echo), a
    // CHANGE, and a DEL for the HTTP and the echo connections (the
    // counter stays). Descriptors are reused, so they are counted.
    p.expect("the HTTP connection's DEL", WAIT, |l| l.starts_with("DEL "));
    p.expect("the echo connection's DEL", WAIT, |l| l.starts_with("DEL "));
    let count = |prefix: &str| p.seen.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(count("ADD "), 3, "{:?}", p.seen);
    assert_eq!(count("DEL "), 2, "{:?}", p.seen);
    assert!(
        p.seen
            .iter()
            .any(|l| l.starts_with("CHANGE ") && l.contains("out")),
        "{:?}",
        p.seen
    );
    drop(counter);
    drop(p);
}
