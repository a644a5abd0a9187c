//! Target `replay`: the input is a transcript (`ws_proto::record`), as
//! recorded by a server or client session — the committed seeds are real
//! ones, Chromium's among them. Asserts, for any bytes:
//!
//! - decoding the header and the entries, scanning the input and
//!   replaying never panic (every malformed transcript is an error);
//! - a replay is deterministic: replayed twice, the same verdict;
//! - recording is faithful: when a transcript replays, the replaying
//!   session (recording itself) yields a transcript that replays too,
//!   with the same input, output and event counts.

use std::sync::Arc;

use http_upgrade::{ClientRequest, ServerConfig};
use ws_proto::record::{RecordOptions, Replayed, Transcript};
use ws_proto::session::{Session, SessionConfig};
use ws_proto::{Config, Role};

/// The test-server's settings: what the Chromium seeds were recorded with.
fn config() -> Arc<SessionConfig> {
    let connection = Config::default()
        .with_max_message_size(1 << 20)
        .with_max_frame_size(1 << 20)
        .with_write_timeout(Some(std::time::Duration::from_secs(10)));
    let mut c = SessionConfig::new(connection);
    c.negotiators = deflate_ext::default_negotiators();
    Arc::new(c)
}

struct Zero;

impl rand_core::TryRng for Zero {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(0)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.fill(0);
        Ok(())
    }
}

/// A fresh session for `t`, recording itself when `record`.
fn fresh(t: &Transcript, record: bool) -> Option<Session> {
    let h = t.header();
    let options = RecordOptions::default().with_max_bytes(1 << 20);
    match h.role {
        Role::Server => {
            let http = Arc::new(
                ServerConfig::default()
                    .with_protocols(["dumb-increment-protocol", "lws-mirror-protocol"]),
            );
            let mut s = Session::server(http, config(), h.start);
            if record {
                s.record(options).ok()?;
            }
            Some(s)
        }
        _ => {
            let request = ClientRequest::new("ws://fuzz.test/").ok()?;
            let rng = h.rng().unwrap_or_else(|| Box::new(Zero));
            if record {
                // The seed is drawn from `rng`: hand it the recorded seed
                // back so that the keys are the same.
                let seed = h.seed.unwrap_or_default();
                Session::client_recorded(
                    request,
                    config(),
                    Box::new(SeedOnce(Some(seed), rng)),
                    h.start,
                    options,
                )
                .ok()
            } else {
                Session::client(request, config(), rng, h.start).ok()
            }
        }
    }
}

/// Gives `seed` to the first 32-byte draw (`client_recorded` takes its
/// seed so), then defers to the RNG.
struct SeedOnce(Option<[u8; 32]>, ws_proto::MaskRng);

impl rand_core::TryRng for SeedOnce {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.1.next_u32())
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.1.next_u64())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        match self.0.take() {
            Some(seed) if dst.len() == 32 => dst.copy_from_slice(&seed),
            _ => self.1.fill_bytes(dst),
        }
        Ok(())
    }
}

fn verdict(r: &Result<Replayed, ws_proto::record::ReplayError>) -> String {
    match r {
        Ok(r) => format!(
            "ok {} {} {} {} {}",
            r.entries, r.polls, r.bytes_in, r.bytes_out, r.truncated
        ),
        Err(e) => format!("err {e}"),
    }
}

pub fn run(data: &[u8]) {
    let Ok(t) = Transcript::from_bytes(data.to_vec()) else {
        return;
    };
    let n = t.entries().count();
    assert!(n <= data.len(), "more entries than bytes");
    let _ = t.scan_input();
    let Some(a) = fresh(&t, true) else { return };
    let first = t.replay(a);
    let Some(b) = fresh(&t, false) else { return };
    let second = t.replay(b);
    assert_eq!(
        verdict(&first),
        verdict(&second),
        "replay is not deterministic"
    );
    let Ok(mut done) = first else { return };
    if done.truncated {
        return;
    }
    let again = done
        .session
        .take_transcript()
        .expect("the replaying session recorded");
    assert!(!again.header().truncated);
    let Some(c) = fresh(&again, false) else {
        panic!("no session for the re-recorded transcript")
    };
    let r = again
        .replay(c)
        .unwrap_or_else(|e| panic!("the replay's own transcript does not replay: {e}"));
    assert_eq!(
        (r.polls, r.bytes_in, r.bytes_out),
        (done.polls, done.bytes_in, done.bytes_out),
        "re-recording changed the conversation"
    );
}
