//! Record and replay (`ws_proto::record`): what a session records replays
//! identically into a fresh one; a transcript that differs is caught; the
//! bound and the redaction hold.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::Duration;

use http_upgrade::{ClientRequest, ServerConfig};
use proptest::prelude::*;
use ws_proto::record::{Entry, PollKind, RecordOptions, ReplayError, Scanned, Transcript};
use ws_proto::session::{Session, SessionConfig, SessionEvent};
use ws_proto::sim::{Cx, Endpoint, Faults, Handler, Sim};
use ws_proto::{CloseCode, Config, Event, Instant, Message, Role};

/// Echoes every data message, from the server side only.
struct Echo;

impl Handler for Echo {
    fn on_event(&mut self, cx: &mut Cx<'_>, event: &SessionEvent) {
        if !cx.endpoint().is_server() {
            return;
        }
        let me = cx.endpoint();
        match event {
            SessionEvent::Ws(Event::Text(t)) => cx.send(me, Message::Text(t.clone())),
            SessionEvent::Ws(Event::Binary(b)) => cx.send(me, Message::Binary(b.clone())),
            _ => {}
        }
    }
}

fn server_config(config: &Config) -> Arc<SessionConfig> {
    Arc::new(SessionConfig::new(config.clone()))
}

/// Runs a recorded echo conversation under the seed's faults; returns
/// the server's transcript and the server config it ran with.
fn recorded_echo(seed: u64, messages: &[Message], options: RecordOptions) -> (Transcript, Config) {
    let config = Config::default().with_keep_alive(Some(Duration::from_secs(5)));
    let mut sim = Sim::new(Faults::adversarial(seed), Echo);
    let link = sim.link(Config::default(), config.clone()).unwrap();
    let server = Endpoint::server(link);
    sim.session_mut(server).unwrap().record(options).unwrap();
    sim.settle().unwrap();
    let client = Endpoint::client(link);
    for m in messages {
        sim.send(client, m.clone()).unwrap();
        sim.run_for(Duration::from_millis(300)).unwrap();
    }
    // Long enough for keep-alive pings and pongs to be recorded too.
    sim.run_for(Duration::from_secs(12)).unwrap();
    sim.close(client, CloseCode::NORMAL, "bye").unwrap();
    sim.run_for(Duration::from_secs(2)).unwrap();
    let t = sim.session_mut(server).unwrap().take_transcript().unwrap();
    (t, config)
}

fn replay_server(
    t: &Transcript,
    config: &Config,
) -> Result<ws_proto::record::Replayed, ReplayError> {
    let fresh = Session::server(
        Arc::new(ServerConfig::default()),
        server_config(config),
        t.header().start,
    );
    t.replay(fresh)
}

fn chat() -> Vec<Message> {
    vec![
        Message::text("hello"),
        Message::binary(vec![7u8; 3000]),
        Message::text("ünïcödé ✓"),
        Message::Ping("p".into()),
        Message::binary(Vec::new()),
    ]
}

#[test]
fn a_recorded_server_replays_identically_under_every_fault_seed() {
    for seed in 0..24 {
        let (t, config) = recorded_echo(seed, &chat(), RecordOptions::default());
        assert!(!t.header().truncated);
        // Through bytes, as it would be stored.
        let t = Transcript::from_bytes(t.as_bytes().to_vec()).unwrap();
        let r = replay_server(&t, &config).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(r.bytes_out > 3100, "seed {seed}: {} bytes out", r.bytes_out);
        assert!(r.bytes_in > 3000);
        // Every kind of entry the conversation produces was recorded.
        let kinds: Vec<PollKind> = t
            .entries()
            .filter_map(|e| match e.unwrap() {
                Entry::Poll(p) => Some(p.kind),
                _ => None,
            })
            .collect();
        for k in [
            PollKind::Upgrade,
            PollKind::Open,
            PollKind::Text,
            PollKind::Binary,
            PollKind::Ping,
            PollKind::Pong,
            PollKind::Close,
        ] {
            assert!(kinds.contains(&k), "seed {seed}: no {k:?} in {kinds:?}");
        }
        assert!(t.entries().any(|e| matches!(e, Ok(Entry::Timeout { .. }))));
        assert!(t.entries().any(|e| matches!(e, Ok(Entry::Send { .. }))));
    }
}

#[test]
fn a_changed_input_byte_or_config_is_a_divergence() {
    let (t, config) = recorded_echo(3, &chat(), RecordOptions::default());
    // The masked "hello" payload sits in some Receive entry: flip each
    // byte of the transcript's receive data in turn and require the
    // replay to notice (the echo, the event digests or the framing
    // change), never to panic.
    let bytes = t.as_bytes().to_vec();
    let mut ranges = Vec::new();
    let base = t.as_bytes().as_ptr() as usize;
    // Frames only: the head has bytes a flip leaves meaningless (the
    // case of a header name).
    let mut open = false;
    for e in t.entries() {
        match e {
            Ok(Entry::Poll(p)) if p.kind == PollKind::Open => open = true,
            Ok(Entry::Receive { data, .. }) if open => {
                ranges.push((data.as_ptr() as usize - base, data.len()));
            }
            _ => {}
        }
    }
    let mut flipped = 0;
    for &(at, len) in ranges.iter().take(40) {
        for i in at..at + len.min(3) {
            let mut b = bytes.clone();
            b[i] ^= 0x20;
            let t2 = Transcript::from_bytes(b).unwrap();
            match replay_server(&t2, &config) {
                Err(ReplayError::Diverged { .. }) => flipped += 1,
                Err(e) => panic!("byte {i}: {e}"),
                Ok(_) => panic!("byte {i} flipped and the replay agreed"),
            }
        }
    }
    assert!(flipped > 10, "{flipped}");
    // The same transcript against other limits: the 3000-byte message is
    // now too big (1009) where it was echoed.
    let small = config.clone().with_max_message_size(1000);
    match replay_server(&t, &small) {
        Err(ReplayError::Diverged { what, .. }) => assert!(what.contains("Binary"), "{what}"),
        other => panic!("{other:?}"),
    }
    // And against the other role.
    let client = Session::client(
        ClientRequest::new("ws://x/").unwrap(),
        server_config(&config),
        Box::new(Zero),
        Instant::ZERO,
    )
    .unwrap();
    assert!(matches!(t.replay(client), Err(ReplayError::Role { .. })));
}

#[test]
fn the_bound_truncates_and_the_prefix_replays() {
    let big: Vec<Message> = (0..40)
        .map(|i| Message::binary(vec![i as u8; 2000]))
        .collect();
    let (full, config) = recorded_echo(5, &big, RecordOptions::default());
    assert!(full.as_bytes().len() > 100_000);
    for max in [64, 600, 5_000, 20_000, 50_000] {
        let (t, _) = recorded_echo(5, &big, RecordOptions::default().with_max_bytes(max));
        assert!(t.as_bytes().len() <= max, "{} > {max}", t.as_bytes().len());
        assert!(t.header().truncated);
        let last = t.entries().last().unwrap().unwrap();
        assert_eq!(last, Entry::Truncated);
        let r = replay_server(&t, &config).unwrap();
        assert!(r.truncated);
    }
}

#[test]
fn redaction_keeps_structure_and_drops_secrets() {
    let http = Arc::new(ServerConfig::default());
    let config = server_config(&Config::default());
    let t0 = Instant::from_millis(1000);
    let mut server = Session::server(http.clone(), config.clone(), t0);
    server
        .record(RecordOptions::default().with_redact(true))
        .unwrap();
    let mut client = Session::client(
        {
            let mut r = ClientRequest::new("ws://h/chat?token=hunter2secret").unwrap();
            r.headers
                .push(("Cookie".into(), "session=hunter2secret".into()));
            r
        },
        server_config(&Config::default()),
        Box::new(Zero),
        t0,
    )
    .unwrap();
    let mut wire = Vec::new();
    let _ = client.poll_transmit(&mut wire);
    server.receive(t0, &wire).unwrap();
    let Some(SessionEvent::Upgrade(req)) = server.poll_event().unwrap() else {
        panic!()
    };
    server
        .accept(t0, http_upgrade::Accept::for_request(&req), &mut Zero)
        .unwrap();
    assert!(matches!(
        server.poll_event(),
        Ok(Some(SessionEvent::Open(_)))
    ));
    let mut out = Vec::new();
    let mut sent = server.poll_transmit(&mut out);
    client.receive(t0, &out).unwrap();
    assert!(matches!(
        client.poll_event(),
        Ok(Some(SessionEvent::Open(_)))
    ));
    let c = client.connection_mut().unwrap();
    c.send_text("the password is hunter2secret").unwrap();
    c.close(t0, CloseCode::NORMAL, "hunter2secret").unwrap();
    wire.clear();
    let _ = client.poll_transmit(&mut wire);
    server.receive(t0, &wire).unwrap();
    let Ok(Some(SessionEvent::Ws(Event::Text(text)))) = server.poll_event() else {
        panic!()
    };
    server
        .connection_mut()
        .unwrap()
        .send_text(format!("you said: {}", text.as_str()))
        .unwrap();
    assert!(matches!(
        server.poll_event(),
        Ok(Some(SessionEvent::Ws(Event::Close { .. })))
    ));
    out.clear();
    sent += server.poll_transmit(&mut out);
    let t = server.take_transcript().unwrap();
    assert!(t.header().redacted);
    let raw = t.as_bytes();
    let needle = b"hunter2";
    assert!(
        !raw.windows(needle.len()).any(|w| w == needle),
        "a secret survived redaction"
    );
    // The structure: the head (target without its query) and two frames
    // of the same lengths, the close keeping its code.
    let scanned: Vec<Scanned> = t.scan_input().into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        scanned[0],
        Scanned::Head(format!(
            "GET /chat?{} HTTP/1.1",
            "x".repeat("token=hunter2secret".len())
        ))
    );
    assert!(matches!(
        scanned[1],
        Scanned::Frame {
            opcode: 1,
            len: 29,
            masked: true,
            fin: true,
            ..
        }
    ));
    assert!(matches!(
        scanned[2],
        Scanned::Frame {
            opcode: 8,
            len: 15,
            ..
        }
    ));
    let close = t.entries().find_map(|e| match e {
        Ok(Entry::Poll(p)) if p.kind == PollKind::Close => Some(p),
        _ => None,
    });
    assert_eq!(close.unwrap().len, 13);
    // It replays structurally: the same events and output sizes.
    let fresh = Session::server(http, config, t.header().start);
    let r = t.replay(fresh).unwrap();
    assert_eq!(r.bytes_out, sent as u64);
    assert_eq!(r.polls, 4);
}

#[test]
fn a_recorded_client_replays_with_its_seed() {
    let http = Arc::new(ServerConfig::default());
    let config = server_config(&Config::default().with_fragment_size(Some(100)));
    let t0 = Instant::from_millis(5);
    let request = ClientRequest::new("ws://h/").unwrap();
    let mut client = Session::client_recorded(
        request.clone(),
        config.clone(),
        Box::new(Zero),
        t0,
        RecordOptions::default().with_label("ws://h/"),
    )
    .unwrap();
    let mut server = Session::server(http, server_config(&Config::default()), t0);
    let mut wire = Vec::new();
    let mut pump = |from: &mut Session, to: &mut Session, now: Instant| {
        wire.clear();
        let n = from.poll_transmit(&mut wire);
        // Two reads, to record chunking.
        let (a, b) = wire.split_at(n / 2);
        to.receive(now, a).unwrap();
        to.receive(now, b).unwrap();
    };
    pump(&mut client, &mut server, t0);
    let Some(SessionEvent::Upgrade(req)) = server.poll_event().unwrap() else {
        panic!()
    };
    server
        .accept(t0, http_upgrade::Accept::for_request(&req), &mut Zero)
        .unwrap();
    assert!(matches!(
        server.poll_event(),
        Ok(Some(SessionEvent::Open(_)))
    ));
    pump(&mut server, &mut client, t0);
    assert!(matches!(
        client.poll_event(),
        Ok(Some(SessionEvent::Open(_)))
    ));
    let t1 = Instant::from_millis(40);
    let c = client.connection_mut().unwrap();
    c.send_binary(vec![1u8; 1000]).unwrap();
    c.send_text("masked with the recorded seed").unwrap();
    pump(&mut client, &mut server, t1);
    let mut got = 0;
    while let Ok(Some(_)) = server.poll_event() {
        got += 1;
    }
    assert_eq!(got, 2);
    let t = client.take_transcript().unwrap();
    assert!(!client.is_recording());
    assert_eq!(t.header().role, Role::Client);
    assert_eq!(t.header().label, "ws://h/");
    let fresh = Session::client(
        request.clone(),
        config.clone(),
        t.header().rng().unwrap(),
        t.header().start,
    )
    .unwrap();
    let r = t.replay(fresh).unwrap();
    assert!(r.bytes_out > 1000);
    // Another seed draws other keys: the request's key differs at once.
    let other = Session::client(request, config, Box::new(Zero), t.header().start).unwrap();
    assert!(matches!(
        t.replay(other),
        Err(ReplayError::Diverged { index: 0, .. })
    ));
}

#[test]
fn recording_starts_only_on_a_fresh_server() {
    let http = Arc::new(ServerConfig::default());
    let config = server_config(&Config::default());
    let mut s = Session::server(http, config.clone(), Instant::ZERO);
    s.receive(Instant::ZERO, b"GET").unwrap();
    assert!(s.record(RecordOptions::default()).unwrap_err().is_misuse());
    let mut c = Session::client(
        ClientRequest::new("ws://h/").unwrap(),
        config,
        Box::new(Zero),
        Instant::ZERO,
    )
    .unwrap();
    assert!(c.record(RecordOptions::default()).is_err());
    assert!(c.take_transcript().is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any conversation, any chunking seed: the replay agrees.
    #[test]
    fn any_conversation_replays(
        seed in any::<u64>(),
        msgs in proptest::collection::vec(
            prop_oneof![
                ".{0,40}".prop_map(Message::text),
                proptest::collection::vec(any::<u8>(), 0..3000).prop_map(Message::binary),
                proptest::collection::vec(any::<u8>(), 0..100).prop_map(|p| Message::Ping(p.into())),
            ],
            0..8,
        ),
    ) {
        let (t, config) = recorded_echo(seed, &msgs, RecordOptions::default());
        let r = replay_server(&t, &config);
        prop_assert!(r.is_ok(), "{:?}", r.err());
    }

    /// Bytes that are not a transcript are refused or end in an error,
    /// and never panic, as the header, the entries or a replay.
    #[test]
    fn garbage_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..300), magic in any::<bool>()) {
        if magic && bytes.len() > 6 {
            bytes[..6].copy_from_slice(b"WSRT\x01\x01");
        }
        if let Ok(t) = Transcript::from_bytes(bytes) {
            for e in t.entries() {
                let _ = e;
            }
            let _ = t.scan_input();
            let fresh = Session::server(
                Arc::new(ServerConfig::default()),
                server_config(&Config::default()),
                t.header().start,
            );
            let _ = t.replay(fresh);
        }
    }
}

struct Zero;

impl rand_core::TryRng for Zero {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(0x0102_0304)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(0x0102_0304)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.fill(3);
        Ok(())
    }
}
