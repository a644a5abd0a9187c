//! The conversation suite against real peers over loopback: Python
//! `websockets` and Node `ws`, each as server (our four clients talk to it)
//! and as client (against our four servers), compression on and off.
//!
//! The peers are installed by this test into the target directory
//! (`pip install websockets` into a venv, `npm install ws`); if that fails
//! the test fails, loudly. The peer scripts are `scripts/interop-adapters/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(120);

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/interop-adapters")
}

fn work() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-adapters")
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The venv's python with `websockets` installed.
fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let venv = work().join("venv");
        let py = venv.join("bin/python");
        let ok = |py: &Path| {
            Command::new(py)
                .args(["-c", "import websockets.asyncio.server"])
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&py) {
            std::fs::create_dir_all(work()).unwrap();
            run(
                Command::new("python3").args(["-m", "venv"]).arg(&venv),
                "python3 -m venv",
            );
            run(
                Command::new(&py).args(["-m", "pip", "install", "-q", "websockets>=13"]),
                "pip install websockets",
            );
            assert!(ok(&py), "websockets is not importable after pip install");
        }
        py
    })
}

/// The node_modules directory holding `ws`.
fn node_modules() -> &'static Path {
    static NM: OnceLock<PathBuf> = OnceLock::new();
    NM.get_or_init(|| {
        let dir = work().join("node");
        let nm = dir.join("node_modules");
        if !nm.join("ws/package.json").exists() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::copy(scripts().join("package.json"), dir.join("package.json")).unwrap();
            run(
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--silent"])
                    .current_dir(&dir),
                "npm install ws",
            );
        }
        nm
    })
}

#[derive(Clone, Copy, Debug)]
enum Peer {
    Python,
    Node,
}

fn command(peer: Peer) -> Command {
    match peer {
        Peer::Python => {
            let mut c = Command::new(python());
            c.arg(scripts().join("peer.py"));
            c
        }
        Peer::Node => {
            let mut c = Command::new("node");
            c.env("NODE_PATH", node_modules())
                .arg(scripts().join("peer.js"));
            c
        }
    }
}

/// A peer server process, killed on drop.
struct PeerServer(Child, u16);

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn peer_server(peer: Peer, compress: bool) -> PeerServer {
    let mut cmd = command(peer);
    cmd.arg("server");
    if compress {
        cmd.arg("compress");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{peer:?} server: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{peer:?} server said {line:?}"));
    PeerServer(child, port)
}

fn our_clients_against(peer: Peer) {
    for compress in [false, true] {
        let server = peer_server(peer, compress);
        let url = format!("ws://127.0.0.1:{}/", server.1);
        for client in KINDS {
            let url = url.clone();
            let name = format!("{client:?} client -> {peer:?} server, compression {compress}");
            bounded(LIMIT, &name, move || {
                let options = client_options(compress);
                converse(compress, || connect(client, &url, &options));
            });
        }
    }
}

fn peer_clients_against_ours(peer: Peer) {
    for compress in [false, true] {
        for server in KINDS {
            let addr = start_server(server, server_options(compress));
            let mut cmd = command(peer);
            cmd.arg("client").arg(format!("ws://{addr}/"));
            if compress {
                cmd.arg("compress");
            }
            let what = format!("{peer:?} client -> {server:?} server, compression {compress}");
            bounded(LIMIT, &what.clone(), move || run(&mut cmd, &what));
        }
    }
}

#[test]
fn python_websockets_server() {
    our_clients_against(Peer::Python);
}

#[test]
fn python_websockets_client() {
    peer_clients_against_ours(Peer::Python);
}

#[test]
fn node_ws_server() {
    our_clients_against(Peer::Node);
}

#[test]
fn node_ws_client() {
    peer_clients_against_ours(Peer::Node);
}
