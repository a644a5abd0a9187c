//! The interoperability matrix, the cells no other test covers (see
//! docs/conformance.md, "Interoperability matrix"), over 127.0.0.1 only:
//!
//! * AutobahnPython (asyncio flavour, pinned in
//!   `scripts/interop-matrix/requirements.txt`) as server, against each of
//!   our clients, and as client, against each of our servers, with
//!   permessage-deflate on and off: text, binary, 1 MiB, fragmented both
//!   ways (autobahn fragments with `fragmentSize`, splitting UTF-8
//!   sequences), ping/pong, closes 1000 and 4000 with reasons from either
//!   side. Both ends assert: the peer script exits non-zero on a mismatch,
//!   and the autobahn server prints every close it saw, checked here.
//! * Headless Chromium (Debian's `/usr/bin/chromium`, driven by
//!   `playwright-core`) as a client of each of our echo servers, with
//!   compression accepted and declined: text, binary `ArrayBuffer`s, 1 MiB
//!   binary and text, `close(4000, reason)`, and the server's close 4000.
//!
//! The peers are installed by the test (a venv under the target directory
//! with `pip install -r requirements.txt`; `npm ci` in
//! `scripts/interop-matrix`; `apt-get install chromium` if it is missing).
//! If any of that fails the test fails, loudly, never skips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use ws_adapters::Event;
use ws_proto::CloseCode;

/// Bound on one peer process (a whole conversation or the browser run).
const LIMIT: Duration = Duration::from_secs(60);

/// Our adapters built into this test run.
fn kinds() -> Vec<Kind> {
    let mut k = vec![Kind::Std, Kind::Mio];
    if cfg!(feature = "smol") {
        k.push(Kind::Smol);
    }
    if cfg!(feature = "tokio") {
        k.push(Kind::Tokio);
    }
    if cfg!(feature = "uring") {
        k.push(Kind::Uring);
    }
    k
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/interop-matrix")
}

fn work() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-matrix")
}

/// Runs `cmd` to completion within `limit` (killed after it); panics with
/// its output unless it succeeds. Returns stdout.
fn run(cmd: &mut Command, what: &str, limit: Duration) -> String {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let collect = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = collect(Box::new(child.stdout.take().unwrap()));
    let err = collect(Box::new(child.stderr.take().unwrap()));
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    match status {
        Some(s) if s.success() => out,
        Some(s) => panic!("{what} failed ({s}):\n{out}\n{err}"),
        None => panic!("{what}: did not finish in {limit:?}, killed:\n{out}\n{err}"),
    }
}

/// The venv's python with AutobahnPython installed.
fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let venv = work().join("venv");
        let py = venv.join("bin/python");
        let ok = |py: &Path| {
            Command::new(py)
                .args(["-c", "import autobahn.asyncio.websocket"])
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&py) {
            std::fs::create_dir_all(work()).unwrap();
            let install = Duration::from_secs(300);
            run(
                Command::new("python3").args(["-m", "venv"]).arg(&venv),
                "python3 -m venv",
                install,
            );
            run(
                Command::new(&py)
                    .args(["-m", "pip", "install", "-q", "-r"])
                    .arg(scripts().join("requirements.txt")),
                "pip install autobahn",
                install,
            );
            assert!(ok(&py), "autobahn is not importable after pip install");
        }
        py
    })
}

fn autobahn(args: &[&str]) -> Command {
    let mut c = Command::new(python());
    c.arg(scripts().join("autobahn_peer.py")).args(args);
    c
}

// --- AutobahnPython server, our clients ----------------------------------------

/// The autobahn echo server; its output lines after "listening" are
/// collected in `lines`. Killed on drop.
struct AutobahnServer {
    child: Child,
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for AutobahnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl AutobahnServer {
    fn start(compress: bool) -> AutobahnServer {
        let mut cmd = autobahn(if compress {
            &["server", "compress"]
        } else {
            &["server"]
        });
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("autobahn server: {e}"));
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("autobahn server said {line:?}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        AutobahnServer { child, port, lines }
    }

    /// Waits for `n` lines, then returns them sorted.
    fn lines(&self, n: usize) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let mut l = self.lines.lock().unwrap().clone();
            if l.len() >= n || Instant::now() >= end {
                l.sort();
                return l;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Must match FRAGMENTED_TEXT in autobahn_peer.py.
const FRAGMENTED_TEXT: &str = "fragmented \u{2713} text \u{e9}\u{e8} \u{1F600} end";

fn expect_close(c: &mut dyn Client, code: CloseCode, reason: Option<&str>, what: &str) {
    match c.recv() {
        Some(Event::Close {
            code: got,
            reason: r,
        }) => {
            assert_eq!(got, Some(code), "{what}: close code");
            if let Some(want) = reason {
                assert_eq!(r.as_str(), want, "{what}: close reason");
            }
        }
        other => panic!("{what}: expected a close, got {other:?}"),
    }
    assert_eq!(c.recv(), None, "{what}: the connection should be over");
}

/// Our client of `kind` through the whole conversation with the autobahn
/// server at `url`.
fn our_client(kind: Kind, url: &str, compress: bool) {
    let options = client_options(compress);
    let want: &[&str] = if compress {
        &["permessage-deflate"]
    } else {
        &[]
    };
    let mut c = connect(kind, url, &options);
    assert_eq!(c.extensions(), want, "extensions");
    c.text("hello \u{2713}");
    assert_eq!(c.recv(), Some(Event::Text("hello \u{2713}".into())), "text");
    c.binary(vec![0, 1, 2, 255]);
    assert_eq!(
        c.recv(),
        Some(Event::Binary(vec![0, 1, 2, 255].into())),
        "binary"
    );
    let mib = big(1 << 20);
    c.binary(mib.clone());
    assert_eq!(c.recv(), Some(Event::Binary(mib.into())), "1 MiB binary");
    let long = "x\u{e9}\u{2713}".repeat(100_000);
    c.text(&long);
    assert_eq!(
        c.recv(),
        Some(Event::Text(long.as_str().into())),
        "600 kB text"
    );
    // Fragmented by us ...
    c.fragments(&["frag", "mented ", "mess", "age \u{2713}"]);
    assert_eq!(
        c.recv(),
        Some(Event::Text("fragmented message \u{2713}".into())),
        "our fragments"
    );
    // ... and by autobahn (5-byte frames split the UTF-8 sequences).
    c.text("fragment-me");
    assert_eq!(
        c.recv(),
        Some(Event::Text(FRAGMENTED_TEXT.into())),
        "autobahn's fragmented text"
    );
    assert_eq!(
        c.recv(),
        Some(Event::Binary(big(256 * 1024).into())),
        "autobahn's fragmented 256 KiB binary"
    );
    c.ping(b"are you there");
    assert_eq!(
        c.recv(),
        Some(Event::Pong(b"are you there".to_vec().into())),
        "pong"
    );
    c.close(CloseCode::NORMAL);
    // The server echoes code and reason (autobahn's echoCloseCodeReason).
    expect_close(
        &mut *c,
        CloseCode::NORMAL,
        Some("client-close"),
        "our close 1000",
    );

    let mut c = connect(kind, url, &options);
    c.close(SERVER_CLOSE);
    expect_close(
        &mut *c,
        SERVER_CLOSE,
        Some("client-close"),
        "our close 4000",
    );

    let mut c = connect(kind, url, &options);
    c.text("close-me");
    expect_close(
        &mut *c,
        SERVER_CLOSE,
        Some("server-close"),
        "autobahn's close 4000",
    );
}

#[test]
fn autobahn_python_server() {
    let kinds = kinds();
    for compress in [false, true] {
        let server = AutobahnServer::start(compress);
        let url = format!("ws://127.0.0.1:{}/", server.port);
        for &kind in &kinds {
            let url = url.clone();
            let what =
                format!("our {kind:?} client -> AutobahnPython server, compression {compress}");
            bounded(LIMIT, &what, move || our_client(kind, &url, compress));
        }
        // What autobahn saw: three connections per client, each closed
        // cleanly with our code and reason (the server's own close comes
        // back as our echo: its code, no reason).
        let n = kinds.len();
        let ext = if compress { "permessage-deflate" } else { "-" };
        let mut want = Vec::new();
        for _ in 0..n {
            want.push("close True 1000 client-close".to_owned());
            want.push("close True 4000 client-close".to_owned());
            want.push("close True 4000 -".to_owned());
            want.extend((0..3).map(|_| format!("open {ext}")));
        }
        want.sort();
        assert_eq!(
            server.lines(want.len()),
            want,
            "AutobahnPython server's view, compression {compress}"
        );
    }
}

// --- AutobahnPython client, our servers ----------------------------------------

#[test]
fn autobahn_python_client() {
    for compress in [false, true] {
        for kind in kinds() {
            let addr = start_server(kind, server_options(compress));
            let url = format!("ws://{addr}/");
            let mut args = vec!["client", url.as_str()];
            if compress {
                args.push("compress");
            }
            let what =
                format!("AutobahnPython client -> our {kind:?} server, compression {compress}");
            let out = run(&mut autobahn(&args), &what, LIMIT);
            assert!(out.lines().any(|l| l == "ok"), "{what}: said {out:?}");
        }
    }
}

// --- Chromium, our servers ------------------------------------------------------

/// Installs Debian's chromium if `/usr/bin/chromium` is missing; panics
/// if that is not possible.
fn ensure_chromium() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if Path::new("/usr/bin/chromium").exists() {
            return;
        }
        for args in [&["update"][..], &["install", "-y", "chromium"][..]] {
            let out = Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .output()
                .expect("the Chromium test needs /usr/bin/chromium, and apt-get to install it");
            assert!(
                out.status.success(),
                "apt-get {args:?} failed (the Chromium test needs Debian's chromium):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            Path::new("/usr/bin/chromium").exists(),
            "no /usr/bin/chromium after apt-get"
        );
    });
}

/// `npm ci` in scripts/interop-matrix if playwright-core is missing.
fn ensure_playwright() {
    let dir = scripts();
    if !dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--silent"])
                .current_dir(&dir),
            "npm ci in scripts/interop-matrix (needs npm on PATH)",
            Duration::from_secs(300),
        );
    }
}

#[test]
fn chromium_client() {
    ensure_chromium();
    ensure_playwright();
    let mut targets = Vec::new();
    for compress in [true, false] {
        for kind in kinds() {
            let addr = start_server(kind, server_options(compress));
            let mode = if compress { "on" } else { "off" };
            targets.push((format!("{kind:?}-{mode}").to_lowercase(), addr, mode));
        }
    }
    let mut cmd = Command::new("node");
    cmd.arg(scripts().join("chromium-echo.mjs"));
    for (name, addr, mode) in &targets {
        cmd.arg(format!("{name}=ws://{addr}/={mode}"));
    }
    let out = run(&mut cmd, "chromium-echo.mjs", LIMIT);
    eprintln!("{out}");
    for (name, _, mode) in &targets {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("ok {name} ")))
            .unwrap_or_else(|| panic!("Chromium -> {name}: no ok line in\n{out}"));
        let declined = line.contains(" ext=- ");
        assert_eq!(declined, *mode == "off", "Chromium -> {name}: {line}");
        assert!(
            line.contains(" close=4000/") && line.ends_with(" server-close=4000/server-close"),
            "Chromium -> {name}: {line}"
        );
    }
}
