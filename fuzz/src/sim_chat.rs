//! `template_sim`: the template for fuzzing a session-level handler (your
//! protocol's server logic) in a simulated network, with `ws_proto::sim`.
//!
//! libFuzzer's bytes become the network's [`Faults`] (seed, chunk size,
//! window, timer lateness, spurious wakeups), 1 to 4 clients, and a script
//! of up to 64 actions: a client sends a message (any `Message`; texts are
//! numbered so their order can be checked), a client closes, an endpoint
//! stops or resumes reading or loses its FIN, a link is cut, time passes.
//! The code under test is [`Chat`], a relay that sends each text to the
//! other members: replace it with your handler and keep the assertions
//! that state its contract.
//!
//! Asserts: the simulation never livelocks or storms timers; bytes in
//! flight never exceed the window; every relayed line names a real sender
//! and comes from that sender's texts in the order they were sent, none
//! twice; and between two links that nothing disturbed (no cut, no close,
//! no error, reading at the end), every text sent reaches the other
//! member.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use http_upgrade::{ClientRequest, ServerConfig};
use ws_proto::session::{SessionConfig, SessionEvent};
use ws_proto::sim::{Cx, Endpoint, Faults, Handler, Sim};
use ws_proto::{CloseCode, Event, Message};

/// The code under test: a chat relay.
#[derive(Debug, Default)]
pub struct Chat {
    members: Vec<Endpoint>,
}

impl Handler for Chat {
    fn on_event(&mut self, cx: &mut Cx<'_>, event: &SessionEvent) {
        let me = cx.endpoint();
        if !me.is_server() {
            return;
        }
        match event {
            SessionEvent::Open(_) => self.members.push(me),
            SessionEvent::Ws(Event::Text(text)) => {
                let line = format!("{}>{text}", me.link);
                for &m in self.members.iter().filter(|&&m| m != me) {
                    cx.send(m, Message::text(line.clone()));
                }
            }
            SessionEvent::Ws(Event::Close { .. }) => self.members.retain(|&m| m != me),
            _ => {}
        }
    }
}

/// One step of the script.
#[derive(Arbitrary, Debug)]
enum Action {
    /// Client `who` sends `msg` (a text gets its sequence number prefixed).
    Send { who: u8, msg: Message },
    /// Client `who` starts the closing handshake.
    Close { who: u8, code: CloseCode },
    /// An endpoint stops reading.
    StopReading { who: u8, server: bool },
    /// An endpoint reads again.
    ResumeReading { who: u8, server: bool },
    /// An endpoint's FIN will be lost.
    LoseFin { who: u8, server: bool },
    /// A link goes silent.
    Cut { who: u8 },
    /// Virtual time passes.
    Advance { millis: u16 },
}

/// The harness.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = Input::arbitrary(&mut u) else {
        return;
    };
    input.run();
}

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    max_chunk: u8,
    window: u16,
    late_ms: u8,
    spurious: bool,
    clients: u8,
    actions: Vec<Action>,
}

impl Input {
    fn run(self) {
        let mut faults = Faults::adversarial(self.seed);
        faults.max_chunk = usize::from(self.max_chunk % 16);
        faults.window = 64 + usize::from(self.window);
        faults.timer_late = Duration::from_millis(u64::from(self.late_ms));
        faults.spurious_wakeups = self.spurious;
        let window = faults.window;
        let n = 1 + usize::from(self.clients % 4);
        let mut sim = Sim::new(faults, Chat::default());
        let config = Arc::new(SessionConfig::default());
        let http = Arc::new(ServerConfig::default());
        for _ in 0..n {
            let req = ClientRequest::new("ws://chat.test/room").expect("url");
            sim.connect(req, config.clone(), http.clone(), config.clone())
                .expect("connect");
        }
        sim.settle().expect("the handshakes settle");
        for l in 0..n {
            assert!(
                sim.session(Endpoint::client(l))
                    .is_some_and(|s| s.connection().is_some()),
                "link {l} did not open"
            );
        }

        // What each client sent (numbered texts) and which links were
        // disturbed.
        let mut sent: Vec<Vec<String>> = vec![Vec::new(); n];
        let mut disturbed = vec![false; n];
        let ep = |who: u8, server: bool| {
            let l = usize::from(who) % n;
            if server {
                Endpoint::server(l)
            } else {
                Endpoint::client(l)
            }
        };
        for action in self.actions.into_iter().take(64) {
            match action {
                Action::Send { who, msg } => {
                    let c = ep(who, false);
                    let msg = match msg {
                        Message::Text(t) => {
                            let line = format!("{}|{t}", sent[c.link].len());
                            Message::text(line)
                        }
                        Message::Close { .. } => continue,
                        other => other,
                    };
                    let text = match &msg {
                        Message::Text(t) => Some(t.to_string()),
                        _ => None,
                    };
                    if sim.send(c, msg).is_ok()
                        && let Some(t) = text
                    {
                        sent[c.link].push(t);
                    }
                }
                Action::Close { who, code } => {
                    let c = ep(who, false);
                    disturbed[c.link] = true;
                    let _ = sim.close(c, code, "bye");
                }
                Action::StopReading { who, server } => {
                    sim.stop_reading(ep(who, server)).expect("endpoint");
                }
                Action::ResumeReading { who, server } => {
                    sim.resume_reading(ep(who, server)).expect("endpoint");
                }
                Action::LoseFin { who, server } => {
                    sim.lose_fin(ep(who, server)).expect("endpoint");
                }
                Action::Cut { who } => {
                    let l = usize::from(who) % n;
                    disturbed[l] = true;
                    sim.cut(l).expect("link");
                }
                Action::Advance { millis } => {
                    sim.run_for(Duration::from_millis(u64::from(millis)))
                        .expect("the network settles");
                }
            }
            for l in 0..n {
                for e in [Endpoint::client(l), Endpoint::server(l)] {
                    assert!(sim.in_flight(e) <= window, "{e:?} over the window");
                }
            }
        }
        // Everyone reads again; let the traffic drain.
        for l in 0..n {
            for e in [Endpoint::client(l), Endpoint::server(l)] {
                sim.resume_reading(e).expect("endpoint");
            }
        }
        sim.run_for(Duration::from_secs(2))
            .expect("the network settles");

        for r in 0..n {
            // Per sender, the sequence numbers this client got.
            let mut got: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for ev in sim.events(Endpoint::client(r)) {
                let SessionEvent::Ws(Event::Text(t)) = ev else {
                    continue;
                };
                let (from, text) = t.as_str().split_once('>').expect("a relayed line");
                let from: usize = from.parse().expect("a sender number");
                assert!(from < n && from != r, "line from {from} at {r}");
                let k = sent[from]
                    .iter()
                    .position(|s| s == text)
                    .expect("a line its sender sent");
                got.entry(from).or_default().push(k);
            }
            for (from, ks) in &got {
                assert!(
                    ks.windows(2).all(|w| w[0] < w[1]),
                    "{from}'s lines at {r} out of order or twice: {ks:?}"
                );
            }
            let clean = |l: usize| {
                !disturbed[l]
                    && [Endpoint::client(l), Endpoint::server(l)]
                        .iter()
                        .all(|&e| sim.error(e).is_none() && !sim.is_transport_closed(e))
            };
            for from in (0..n).filter(|&s| s != r && clean(s) && clean(r)) {
                let want: Vec<usize> = (0..sent[from].len()).collect();
                assert_eq!(
                    got.get(&from).cloned().unwrap_or_default(),
                    want,
                    "{from}'s lines at {r}"
                );
            }
        }
    }
}
