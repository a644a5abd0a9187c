//! The conversation suite across every pairing of our adapters (client
//! std/mio/smol/tokio/uring × server std/mio/smol/tokio/uring), compression
//! on and off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{
    KINDS, Kind, bounded, client_options, connect, converse, server_options, start_server,
};

fn pairing(server: Kind, compression: bool) {
    let addr = start_server(server, server_options(compression));
    let url = format!("ws://{addr}/echo");
    for client in KINDS {
        let url = url.clone();
        let name = format!("{client:?} client -> {server:?} server, compression {compression}");
        bounded(Duration::from_secs(60), &name, move || {
            let options = client_options(compression);
            converse(compression, || connect(client, &url, &options));
        });
    }
}

#[test]
fn std_server_every_client() {
    pairing(Kind::Std, false);
    pairing(Kind::Std, true);
}

#[test]
fn mio_server_every_client() {
    pairing(Kind::Mio, false);
    pairing(Kind::Mio, true);
}

#[test]
fn smol_server_every_client() {
    pairing(Kind::Smol, false);
    pairing(Kind::Smol, true);
}

#[test]
fn tokio_server_every_client() {
    pairing(Kind::Tokio, false);
    pairing(Kind::Tokio, true);
}

#[cfg(feature = "uring")]
#[test]
fn uring_server_every_client() {
    pairing(Kind::Uring, false);
    pairing(Kind::Uring, true);
}

/// Every server adapter sending in fragments (`fragment_size` 64 KiB,
/// RFC 6455 §5.4): the 1 MiB echo goes out as 16 fragments that view the
/// one message, through each adapter's write path (vectored writes, the
/// io_uring loop's held sends, partial writes over loopback), to a client
/// that reassembles it.
#[test]
fn every_server_sending_in_fragments() {
    for server in KINDS {
        let config = ws_proto::Config::default().with_fragment_size(Some(64 * 1024));
        let options = ws_adapters::ServerOptions::new(ws_adapters::session_config(config, false));
        let addr = start_server(server, options);
        let url = format!("ws://{addr}/echo");
        let name = format!("std client -> {server:?} server sending in fragments");
        bounded(Duration::from_secs(60), &name, move || {
            let options = client_options(false);
            converse(false, || connect(Kind::Std, &url, &options));
        });
    }
}
