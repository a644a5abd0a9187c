//! Recording from the options, on every adapter: the server and the
//! client record each connection of a whole conversation (text, binary,
//! 1 MiB, fragments, ping, both closes, permessage-deflate), the
//! transcripts reach the sink when the connections end, and each replays
//! identically into a fresh session; switched off, nothing is recorded.
#![cfg(all(feature = "tokio", feature = "smol"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{KINDS, bounded, client_options, connect, converse, server_options, start_server};
use http_upgrade::ClientRequest;
use ws_adapters::{Recorded, Recording};
use ws_proto::Role;
use ws_proto::record::{Entry, PollKind, RecordOptions};
use ws_proto::session::Session;

fn collecting() -> (Recording, Arc<Mutex<Vec<Recorded>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let r = Recording::new(move |t| sink.lock().unwrap().push(t))
        .with_options(RecordOptions::default().with_max_bytes(16 << 20));
    (r, got)
}

fn wait_for(r: &Recording, n: u64) {
    let until = Instant::now() + Duration::from_secs(20);
    while r.finished() < n {
        assert!(
            Instant::now() < until,
            "{} of {n} transcripts",
            r.finished()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn every_adapter_records_both_sides_and_the_transcripts_replay() {
    bounded(Duration::from_secs(300), "recording", || {
        for kind in KINDS {
            let (srec, sgot) = collecting();
            let (crec, cgot) = collecting();
            let sopts = server_options(true).with_recording(srec.clone());
            let copts = client_options(true).with_recording(crec.clone());
            let addr = start_server(kind, sopts.clone());
            let url = format!("ws://{addr}/");
            converse(true, || connect(kind, &url, &copts));
            wait_for(&srec, 2);
            wait_for(&crec, 2);
            for r in sgot.lock().unwrap().iter() {
                let t = &r.transcript;
                assert_eq!(t.header().role, Role::Server);
                assert!(!t.header().truncated);
                assert_eq!(
                    r.peer.map(|p| p.to_string()),
                    Some(t.header().label.clone())
                );
                let fresh =
                    Session::server(sopts.http.clone(), sopts.session.clone(), t.header().start);
                let done = t
                    .replay(fresh)
                    .unwrap_or_else(|e| panic!("{kind:?} server #{}: {e}", r.id));
                assert!(done.bytes_out > 0);
                // The negotiated compression was recorded and replayed.
                let ext = done.session.connection().unwrap();
                assert_eq!(
                    ext.extension_names().collect::<Vec<_>>(),
                    ["permessage-deflate"],
                    "{kind:?}"
                );
            }
            let mut big = 0;
            for r in cgot.lock().unwrap().iter() {
                let t = &r.transcript;
                assert_eq!(t.header().role, Role::Client);
                assert_eq!(t.header().label, url);
                let request = ClientRequest::new(&t.header().label).unwrap();
                let fresh = Session::client(
                    request,
                    copts.session.clone(),
                    t.header().rng().unwrap(),
                    t.header().start,
                )
                .unwrap();
                let done = t
                    .replay(fresh)
                    .unwrap_or_else(|e| panic!("{kind:?} client #{}: {e}", r.id));
                big = big.max(done.bytes_in);
                let closes = t
                    .entries()
                    .filter(|e| matches!(e, Ok(Entry::Poll(p)) if p.kind == PollKind::Close))
                    .count();
                assert_eq!(closes, 1, "{kind:?}");
            }
            // The 1 MiB message (compressed) came through one of them.
            assert!(big > 1000, "{kind:?}: {big}");
            assert_eq!(srec.started(), 2);
        }
    });
}

#[test]
fn a_recording_switched_off_or_filtered_out_records_nothing() {
    bounded(Duration::from_secs(120), "recording off", || {
        let (rec, got) = collecting();
        let rec = rec.disabled();
        let sopts = server_options(false).with_recording(rec.clone());
        let addr = start_server(common::Kind::Mio, sopts);
        let url = format!("ws://{addr}/");
        let copts = client_options(false);
        let mut c = connect(common::Kind::Std, &url, &copts);
        c.text("unrecorded");
        assert!(c.recv().is_some());
        drop(c);
        // On again: the next connection is recorded.
        rec.set_enabled(true);
        let mut c = connect(common::Kind::Std, &url, &copts);
        c.text("recorded");
        assert!(c.recv().is_some());
        drop(c);
        wait_for(&rec, 1);
        assert_eq!(rec.started(), 1);
        assert_eq!(got.lock().unwrap().len(), 1);

        // A filter that refuses every address.
        let (rec, _) = collecting();
        let rec = rec.with_filter(|peer| peer.is_none());
        let addr = start_server(
            common::Kind::Tokio,
            server_options(false).with_recording(rec.clone()),
        );
        let mut c = connect(common::Kind::Std, &format!("ws://{addr}/"), &copts);
        c.text("filtered");
        assert!(c.recv().is_some());
        assert_eq!(rec.started(), 0);
    });
}
