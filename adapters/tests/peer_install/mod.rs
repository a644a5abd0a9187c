//! Installs the interop peers (Python `websockets` in a venv, Node `ws`
//! with npm) into the test target dir, once, shared by every test binary
//! that runs them; fails loudly if they cannot be installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The peer scripts (`scripts/interop-adapters`).
fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/interop-adapters")
}

/// Where the peers are installed.
fn work() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-adapters")
}

/// Runs `cmd` to completion and asserts it succeeded.
#[allow(dead_code)] // not every test binary runs peers to completion
pub(crate) fn run(cmd: &mut Command, what: &str) {
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

/// The venv's python with `websockets` (and its permessage-deflate) installed.
fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let venv = work().join("venv");
        let py = venv.join("bin/python");
        let ok = |py: &Path| {
            Command::new(py)
                .args([
                    "-c",
                    "import websockets.asyncio.server, websockets.extensions.permessage_deflate",
                ])
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
            assert!(
                nm.join("ws/package.json").exists(),
                "ws missing after npm install"
            );
        }
        nm
    })
}

/// A peer implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peer {
    /// Python `websockets`.
    Python,
    /// Node `ws`.
    Node,
}

/// A command running the peer script `name` (`name.py` or `name.js`).
pub(crate) fn command(peer: Peer, name: &str) -> Command {
    match peer {
        Peer::Python => {
            let mut c = Command::new(python());
            c.arg(scripts().join(format!("{name}.py")));
            c
        }
        Peer::Node => {
            let mut c = Command::new("node");
            c.env("NODE_PATH", node_modules())
                .arg(scripts().join(format!("{name}.js")));
            c
        }
    }
}
