//! Running the tool examples as child processes: build them once, start them
//! with piped output, read their lines with bounded waits, kill them on drop.

// Each test binary that includes this uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Bound on any single wait for a child's output.
pub const WAIT: Duration = Duration::from_secs(30);

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("adapters/ has a parent")
        .to_path_buf()
}

/// `<target>/<profile>/`, the directory holding this test binary's `deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binaries live in <target>/<profile>/deps")
        .to_path_buf()
}

/// Builds the examples (once per test binary) with this test's profile,
/// target directory and features, so the binaries match the code under
/// test; a no-op when `cargo test` has built them already.
fn build_examples() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let profile = profile_dir();
        let target = profile.parent().expect("<target>/<profile>");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace())
            .args(["build", "--quiet", "-p", "ws-adapters", "--examples"])
            .env("CARGO_TARGET_DIR", target);
        match profile.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some("release") => {
                cmd.arg("--release");
            }
            Some(other) => {
                cmd.args(["--profile", other]);
            }
        }
        // The exact feature set of this test binary ("default" included),
        // so cargo reuses the library it built for the tests.
        let mut features = Vec::new();
        if cfg!(feature = "default") {
            features.push("default");
        }
        if cfg!(feature = "tls") {
            features.push("tls");
        }
        if cfg!(feature = "smol") {
            features.push("smol");
        }
        if cfg!(feature = "tokio") {
            features.push("tokio");
        }
        for (on, name) in [
            (cfg!(feature = "http"), "http"),
            (cfg!(feature = "h2"), "h2"),
            (cfg!(feature = "h3"), "h3"),
            (cfg!(feature = "nats"), "nats"),
            (cfg!(feature = "uring"), "uring"),
            (cfg!(feature = "tracing"), "tracing"),
            (cfg!(feature = "webpki-roots"), "webpki-roots"),
            (cfg!(feature = "native-roots"), "native-roots"),
        ] {
            if on {
                features.push(name);
            }
        }
        cmd.arg("--no-default-features");
        if !features.is_empty() {
            cmd.args(["--features", &features.join(",")]);
        }
        let out = cmd.output().expect("running cargo to build the examples");
        assert!(
            out.status.success(),
            "building the examples failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        profile.join("examples")
    })
}

/// The path of example `name`, built if needed.
pub fn example(name: &str) -> PathBuf {
    let path = build_examples().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A running child: its stdout lines arrive on a channel, its stderr is
/// kept for failure messages; killed (and reaped) on drop.
pub struct Proc {
    name: String,
    child: Child,
    lines: Receiver<String>,
    /// Every stdout line read so far.
    pub seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    /// Bytes of stderr [`expect_stderr`](Self::expect_stderr) consumed.
    stderr_seen: usize,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Proc {
    /// Starts example `name` with `args`.
    pub fn start(name: &str, args: &[&str]) -> Proc {
        Proc::spawn(name, Command::new(example(name)).args(args))
    }

    /// Starts a prepared command (stdout and stderr are piped here).
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]);
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&text);
            }
        });
        Proc {
            name: name.to_owned(),
            child,
            lines,
            seen: Vec::new(),
            stderr,
            stderr_seen: 0,
            stderr_reader: Some(stderr_reader),
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn report(&self) -> String {
        format!(
            "{}: stdout so far:\n{}\nstderr:\n{}",
            self.name,
            self.seen.join("\n"),
            self.stderr()
        )
    }

    /// The next stdout line, `None` at the end of output or after `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Reads lines until one satisfies `pred`; panics with the output so
    /// far if none does within `timeout`.
    pub fn expect(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.next_line(left) {
                Some(line) if pred(&line) => return line,
                Some(_) => {}
                None => panic!("waiting for {what}: {}", self.report()),
            }
        }
    }

    /// Starts example `name` with `args` and reads the port it listens on.
    pub fn listening(name: &str, args: &[&str]) -> (Proc, u16) {
        let mut p = Proc::start(name, args);
        let port = p.listening_port();
        (p, port)
    }

    /// Waits until a line of the child's stderr satisfies `pred`; panics
    /// with the output so far if none does within `timeout`. Lines found
    /// once are consumed: the next call looks after them.
    pub fn expect_stderr(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let end = Instant::now() + timeout;
        loop {
            let all = self.stderr();
            let fresh = all.get(self.stderr_seen..).unwrap_or_default();
            if let Some(line) = fresh.lines().find(|l| pred(l)) {
                let line = line.to_owned();
                let at = fresh.find(&line).unwrap_or(0) + line.len();
                self.stderr_seen += at;
                return line;
            }
            if Instant::now() >= end {
                panic!("waiting for {what} on stderr: {}", self.report());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port from the `listening on <scheme>://<addr>/` line.
    pub fn listening_port(&mut self) -> u16 {
        let line = self.expect("the listening line", WAIT, |l| {
            l.starts_with("listening on ")
        });
        line.trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"))
    }

    /// Waits for the child to exit (reading the rest of its output);
    /// panics if it takes longer than `timeout`.
    pub fn finish(&mut self, timeout: Duration) -> ExitStatus {
        let end = Instant::now() + timeout;
        while self
            .next_line(end.saturating_duration_since(Instant::now()))
            .is_some()
        {}
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Lines written just before the exit.
                while self.next_line(Duration::from_millis(200)).is_some() {}
                if let Some(reader) = self.stderr_reader.take() {
                    let _ = reader.join();
                }
                return status;
            }
            if Instant::now() >= end {
                panic!(
                    "{} did not exit within {timeout:?}: {}",
                    self.name,
                    self.report()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Like [`finish`](Self::finish), and asserts success.
    pub fn succeed(&mut self, timeout: Duration) {
        let status = self.finish(timeout);
        assert!(
            status.success(),
            "{} exited with {status}: {}",
            self.name,
            self.report()
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGINT to `pid` (what Ctrl-C does).
pub fn interrupt(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -INT {pid} failed");
}

/// Held while a prerequisite is checked or installed: the tests run in
/// parallel, and one must not start Chromium or read playwright-core
/// while another is still installing it (nor run two apt-gets).
static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Installs Debian's `pkg` with apt-get if `path` is missing; panics with
/// the reason if that fails.
pub fn ensure_debian(pkg: &str, path: &str) {
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    if Path::new(path).exists() {
        return;
    }
    for args in [&["update"][..], &["install", "-y", pkg][..]] {
        let out = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .unwrap_or_else(|e| {
                panic!("this test needs {path}, and apt-get to install {pkg}: {e}")
            });
        assert!(
            out.status.success(),
            "apt-get {args:?} failed (this test needs Debian's {pkg}):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(Path::new(path).exists(), "{pkg} installed, but no {path}");
}

/// Installs Debian's chromium if `/usr/bin/chromium` is missing.
pub fn ensure_chromium() {
    ensure_debian("chromium", "/usr/bin/chromium");
}

/// `npm ci` in scripts/browser if playwright-core is missing.
pub fn ensure_playwright() -> std::path::PathBuf {
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    let dir = workspace().join("scripts/browser");
    if !dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .expect("the browser test needs `npm` on PATH to install playwright-core");
        assert!(
            out.status.success(),
            "npm ci in {} failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}

/// Runs scripts/browser/check-page.mjs (headless Chromium): the first
/// page on `port`, the second on `second`; the numbers count and reset,
/// a line sent by our client to the first is drawn, and a stroke drawn
/// on the first appears on the second.
pub fn check_page(dir: &Path, port: u16, second: u16, name: &str) {
    let shot = workspace().join(format!("target/artifacts/test-server-{name}.png"));
    let _ = std::fs::remove_file(&shot);
    let mut cmd = Command::new("node");
    cmd.current_dir(dir)
        .arg("check-page.mjs")
        .args(["--url", &format!("http://127.0.0.1:{port}/")])
        .args(["--second-url", &format!("http://127.0.0.1:{second}/")])
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
    let request = http_upgrade::ClientRequest::new(&format!("ws://127.0.0.1:{port}/"))
        .unwrap()
        .protocol("lws-mirror-protocol");
    let options =
        ws_adapters::ClientOptions::default().with_proxy(ws_adapters::proxy::ProxySetting::Direct);
    let mut mirror = ws_adapters::blocking::connect_with(request, &options).unwrap();
    mirror.send_text("d #ff0000 20 150 580 150;").unwrap();
    let done = page.expect("the mirrored stroke", WAIT, |l| l == "ok" || bad(l));
    assert_eq!(done, "ok", "{name}: {:?}\n{}", page.seen, page.stderr());
    page.succeed(WAIT);
    assert!(shot.exists(), "no screenshot at {}", shot.display());
}

/// Our blocking client on 127.0.0.1:`port` asking for `protocol`, with
/// permessage-deflate offered if `compression`.
pub fn ws_client(
    port: u16,
    protocol: &str,
    compression: bool,
) -> ws_adapters::blocking::WebSocket<std::net::TcpStream> {
    let request = http_upgrade::ClientRequest::new(&format!("ws://127.0.0.1:{port}/"))
        .unwrap()
        .protocol(protocol);
    let options = ws_adapters::ClientOptions::new(ws_adapters::session_config(
        Default::default(),
        compression,
    ))
    .with_proxy(ws_adapters::proxy::ProxySetting::Direct);
    ws_adapters::blocking::connect_with(request, &options).unwrap()
}

/// The next text message satisfying `pred` within `limit` (others are
/// skipped); `None` if none comes. Panics if the connection ends.
pub fn text_where(
    ws: &mut ws_adapters::blocking::WebSocket<std::net::TcpStream>,
    limit: Duration,
    pred: impl Fn(&str) -> bool,
) -> Option<String> {
    let end = Instant::now() + limit;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        match ws.recv_timeout(left).unwrap() {
            Some(ws_adapters::Event::Text(t)) if pred(t.as_str()) => {
                return Some(t.as_str().to_owned());
            }
            Some(_) => {}
            None => assert!(!ws.is_finished(), "the connection closed"),
        }
    }
}
