//! Behind a real reverse proxy: Debian's nginx, started here on loopback
//! with a generated configuration (the usual WebSocket proxying:
//! `proxy_http_version 1.1`, `Upgrade`/`Connection`, `proxy_read_timeout`,
//! `X-Forwarded-For`), in front of two test-server processes (mio and
//! tokio adapters).
//!
//! Checked through the proxy: the page and both protocols (our client and
//! headless Chromium), permessage-deflate negotiated end to end, a server
//! shut down behind the proxy closing its clients with 1001 and the
//! clients reconnecting to the other, and `X-Forwarded-For` reaching the
//! address filter of a server that trusts the proxy.
//!
//! Needs `/usr/sbin/nginx` (installed with apt-get, `nginx-light`, if
//! missing) and, for the browser part, Chromium and playwright-core like
//! tests/tools.rs. Fails loudly, never skips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

#[path = "tools/support.rs"]
mod support;
#[path = "forwarded/who.rs"]
mod who;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{
    Proc, WAIT, check_page, ensure_chromium, ensure_debian, ensure_playwright, text_where,
    workspace, ws_client,
};
use ws_adapters::Event;
use ws_adapters::blocking::WebSocket;
use ws_proto::CloseCode;

const NGINX: &str = "/usr/sbin/nginx";
/// The address nginx connects to the servers from (`proxy_bind`), so that
/// the servers can trust it and only it.
const PROXY_ADDR: &str = "127.0.0.2";

/// A free port on 127.0.0.1 (bound and released: nginx binds it next).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx in the foreground on a config of its own; stopped on drop.
struct Nginx {
    proc: Proc,
    dir: PathBuf,
    port: u16,
}

impl Nginx {
    /// nginx on a free port proxying to `upstreams` (127.0.0.1 ports);
    /// `balance` is the upstream block's balancing directive (empty for
    /// round robin).
    fn start(name: &str, upstreams: &[u16], balance: &str) -> Nginx {
        ensure_debian("nginx-light", NGINX);
        let dir = workspace().join(format!("target/tmp/nginx-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let servers: String = upstreams
            .iter()
            .map(|p| format!("        server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;\n"))
            .collect();
        for _attempt in 0..5 {
            let port = free_port();
            let d = dir.display();
            let conf = format!(
                "worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    upstream servers {{
        {balance}
{servers}    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://servers;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 60s;
            proxy_next_upstream error timeout http_503;
            proxy_bind {PROXY_ADDR};
        }}
    }}
}}
"
            );
            let path = dir.join("nginx.conf");
            std::fs::write(&path, conf).unwrap();
            let mut cmd = Command::new(NGINX);
            cmd.arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&path)
                .arg("-e")
                .arg(dir.join("error.log"));
            let proc = Proc::spawn("nginx", &mut cmd);
            let until = Instant::now() + WAIT;
            while Instant::now() < until {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Nginx { proc, dir, port };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            if !log.contains("Address already in use") {
                panic!("nginx did not listen on {port}:\n{log}\n{}", proc.stderr());
            }
        }
        panic!("no free port for nginx");
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master stops its worker on SIGQUIT/SIGTERM; the Proc's kill
        // would leave the worker behind.
        let _ = Command::new("kill")
            .args(["-TERM", &self.proc.id().to_string()])
            .status();
        let _ = self.proc.finish(WAIT);
    }
}

/// Starts the test server on `adapter` (port 0) trusting the proxy.
fn test_server(adapter: &str) -> (Proc, u16) {
    let args = ["--port", "0", "-d", "info", "--adapter", adapter];
    let trust = ["--trust-proxy", PROXY_ADDR, "--grace", "5"];
    Proc::listening("test-server", &[&args[..], &trust[..]].concat())
}

/// Our client through the proxy, with permessage-deflate offered.
fn connect(port: u16, protocol: &str) -> WebSocket<TcpStream> {
    ws_client(port, protocol, true)
}

fn next_number(ws: &mut WebSocket<TcpStream>) -> u64 {
    let t = text_where(ws, WAIT, |_| true).expect("a number");
    t.parse().unwrap()
}

/// A plain GET through the proxy: status line and body.
fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    let (head, body) = all.split_once("\r\n\r\n").unwrap_or((&all, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

/// The close a client gets within `limit` (code, reason), reading what
/// comes before it; `None` if none comes.
fn close_within(
    ws: &mut WebSocket<TcpStream>,
    limit: Duration,
) -> Option<(Option<CloseCode>, String)> {
    let end = Instant::now() + limit;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        match ws.recv_timeout(left).unwrap() {
            Some(Event::Close { code, reason }) => return Some((code, reason.as_str().to_owned())),
            Some(_) => {}
            None => assert!(!ws.is_finished(), "ended without a close frame"),
        }
    }
}

/// The page and both protocols through nginx; permessage-deflate end to
/// end; one server shut down (SIGTERM) behind the proxy closes its
/// clients with 1001, exits cleanly, and they reconnect to the other.
#[test]
fn two_test_servers_behind_nginx() {
    let (mut a, port_a) = test_server("mio");
    let (b, port_b) = test_server("tokio");
    let nginx = Nginx::start("pair", &[port_a, port_b], "");
    let port = nginx.port;

    let (status, page) = http_get(port, "/");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(page.contains("dumb-increment-protocol"), "{page}");

    // Round robin: four clients, two on each server.
    let mut clients: Vec<_> = (0..4)
        .map(|i| {
            let protocol = if i % 2 == 0 {
                "dumb-increment-protocol"
            } else {
                "lws-mirror-protocol"
            };
            (protocol, connect(port, protocol))
        })
        .collect();
    for (protocol, ws) in &mut clients {
        let h = ws.negotiated().unwrap();
        assert_eq!(h.protocol.as_deref(), Some(*protocol));
        let ext: Vec<&str> = h.extensions.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(ext, ["permessage-deflate"], "through nginx");
    }
    let (_, counter) = &mut clients[0];
    let first = next_number(counter);
    assert_eq!(next_number(counter), first + 1);
    // The mirror: a message comes back (from whichever server it is on).
    let (_, mirror) = &mut clients[1];
    mirror.send_text("d #123456 1 2 3 4;").unwrap();
    let echoed = loop {
        match mirror.recv_timeout(WAIT).unwrap() {
            Some(Event::Text(t)) => break t.as_str().to_owned(),
            Some(_) => {}
            None => panic!("no mirror message"),
        }
    };
    assert_eq!(echoed, "d #123456 1 2 3 4;");
    // Both servers serve clients of the proxy, which they see as such.
    for (server, name) in [(&a, "mio"), (&b, "tokio")] {
        let log = server.stderr();
        assert!(
            log.contains("trusting X-Forwarded-For"),
            "{name} test-server log:\n{log}"
        );
    }

    // Shut A down behind the proxy.
    let status = Command::new("kill")
        .args(["-TERM", &a.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut closed = 0;
    let mut kept = Vec::new();
    for (protocol, mut ws) in clients {
        // A's clients get the close at once; B's keep being served.
        let Some((code, reason)) = close_within(&mut ws, Duration::from_secs(2)) else {
            kept.push(ws);
            continue;
        };
        assert_eq!(code, Some(CloseCode::GOING_AWAY), "{reason}");
        assert_eq!(reason, "server going away");
        closed += 1;
        while ws.recv_timeout(WAIT).unwrap().is_some() {}
        // Reconnecting lands on B: A refuses upgrades, then is gone.
        let mut again = connect(port, protocol);
        if protocol == "dumb-increment-protocol" {
            let n = next_number(&mut again);
            assert_eq!(next_number(&mut again), n + 1);
        }
        again.close(CloseCode::NORMAL, "").unwrap();
    }
    assert_eq!(closed, 2, "A's two clients were closed with 1001");
    let status = a.finish(WAIT);
    assert!(status.success(), "A exited with {status}: {}", a.stderr());
    let log = a.stderr();
    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains("every client answered"), "{log}");
    // B serves everyone now.
    for _ in 0..4 {
        let mut ws = connect(port, "dumb-increment-protocol");
        next_number(&mut ws);
    }
    for ws in &mut kept {
        assert!(!ws.is_finished());
    }
    drop(nginx);
    drop(b);
}

/// The address filter behind nginx, on a server (in this process) that
/// trusts the proxy's address: it sees the client nginx names in
/// `X-Forwarded-For`, never an address the client claims for itself.
#[test]
fn forwarded_for_reaches_the_filter_through_nginx() {
    use who::{WhoAmI, upgrade_from};
    use ws_adapters::{Protocols, ServerOptions};

    let table = Protocols::new()
        .protocol("who", WhoAmI)
        .default_protocol("who");
    let proxy: IpAddr = PROXY_ADDR.parse().unwrap();
    // Only 127.0.0.3 is served.
    let options = table.options(
        ServerOptions::default()
            .with_trusted_proxies(move |ip| ip == proxy)
            .with_filter(|client| client.ip() == IpAddr::from([127, 0, 0, 3])),
    );
    let mut server =
        ws_adapters::mio::Server::bind("127.0.0.1:0".parse().unwrap(), options, table).unwrap();
    let upstream = server.local_addr().unwrap().port();
    let stop = server.stop_handle();
    let running = std::thread::spawn(move || server.run());
    let nginx = Nginx::start("forwarded", &[upstream], "");

    let from = |source: [u8; 4], claim: Option<&str>| -> (u16, String) {
        upgrade_from(
            Some(SocketAddr::from((source, 0))),
            SocketAddr::from(([127, 0, 0, 1], nginx.port)),
            claim.as_slice(),
        )
    };
    assert_eq!(from([127, 0, 0, 3], None), (101, "127.0.0.3".into()));
    // 127.0.0.1 is refused: 403 through the proxy, claim or not.
    assert_eq!(from([127, 0, 0, 1], None).0, 403);
    assert_eq!(from([127, 0, 0, 1], Some("127.0.0.3")).0, 403);
    // A claim from an allowed client does not change who it is.
    assert_eq!(
        from([127, 0, 0, 3], Some("198.51.100.1")),
        (101, "127.0.0.3".into())
    );
    // Directly (not through the trusted proxy) the claim is ignored and
    // the filter judges the socket: refused before reading.
    let direct = upgrade_from(
        None,
        SocketAddr::from(([127, 0, 0, 1], upstream)),
        &["127.0.0.3"],
    );
    assert_eq!(direct.0, 0, "closed at accept");
    stop.stop();
    running.join().unwrap().unwrap();
    assert!(
        !nginx.error_log().contains("[emerg]"),
        "{}",
        nginx.error_log()
    );
}

/// Chromium through nginx: the page, its counter and its mirror, both
/// pages on the same server (`ip_hash`: the sticky balancing a stateful
/// protocol like the mirror needs without a broker).
#[test]
fn browser_through_nginx() {
    ensure_chromium();
    let dir = ensure_playwright();
    let (_a, port_a) = test_server("mio");
    let (_b, port_b) = test_server("smol");
    let nginx = Nginx::start("browser", &[port_a, port_b], "ip_hash;");
    check_page(&dir, nginx.port, nginx.port, "nginx");
    let access = std::fs::read_to_string(nginx.dir.join("access.log")).unwrap();
    // The page and its two WebSockets (101), for both pages.
    let upgrades = access.lines().filter(|l| l.contains("\" 101 ")).count();
    assert!(upgrades >= 4, "{access}");
}
