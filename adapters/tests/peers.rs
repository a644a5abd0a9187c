//! The conversation suite against real peers over loopback: Python
//! `websockets` and Node `ws`, each as server (our five clients talk to it)
//! and as client (against our five servers), compression on and off.
//!
//! The peers are installed by this test into the target directory
//! (`pip install websockets` into a venv, `npm install ws`); if that fails
//! the test fails, loudly. The peer scripts are `scripts/interop-adapters/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod peer_install;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use peer_install::{Peer, run};

const LIMIT: Duration = Duration::from_secs(120);

fn command(peer: Peer) -> Command {
    peer_install::command(peer, "peer")
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
