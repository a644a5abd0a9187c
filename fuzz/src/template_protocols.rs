//! `template_protocols`: the template for fuzzing a protocol handler of the
//! libwebsockets server model (`ws_adapters::Protocols`) in memory: the
//! real table, policy and drive loop (`Driver::turn_app`) on virtual time
//! (`Driver::set_virtual_time`), a real client `Session` as the peer, and
//! no socket, thread or clock.
//!
//! libFuzzer's bytes become how the server's transport splits its input (a
//! read size) and a script of up to 64 steps: the client sends a message
//! (any `Message`) or virtual time passes. The code under test is
//! [`Shout`], which answers each text with it in capitals, echoes binary
//! messages, and sends a `tick N` line every second; replace it with your
//! protocol and keep the assertions that state its contract.
//!
//! Asserts: the handshake picks the protocol; every data message the
//! client sends is answered, in order, before the conversation ends; a
//! tick arrives for each virtual second, with a message count that never
//! goes back; a close the client sends ends the connection cleanly, with
//! `Protocol::closed` called once with the client's code.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use http_upgrade::{ClientRequest, ServerConfig};
use ws_adapters::{Clock, Ctx, Driver, End, Protocol, Protocols, Transport, Turn};
use ws_proto::session::{Session, SessionConfig, SessionEvent};
use ws_proto::{CloseCode, Event, Instant, Message};

use crate::util::mask_rng;

/// The code under test: a protocol of the server model.
#[derive(Debug, Default)]
pub struct Shout {
    /// Close codes `closed` saw, one per connection.
    pub ended: Arc<Mutex<Vec<Option<CloseCode>>>>,
}

impl Protocol for Shout {
    /// Data messages answered so far.
    type State = u64;

    fn established(&self, cx: &mut Ctx<'_>) -> u64 {
        cx.set_timer(Duration::from_secs(1));
        0
    }

    fn event(&self, n: &mut u64, cx: &mut Ctx<'_>, event: Event) {
        let sent = match event {
            Event::Text(t) => cx.send_text(t.as_str().to_uppercase()),
            Event::Binary(b) => cx.send_binary(b),
            _ => return,
        };
        if sent.is_ok() {
            *n += 1;
        }
    }

    fn timer(&self, n: &mut u64, cx: &mut Ctx<'_>) {
        let _ = cx.send_text(format!("tick {n}"));
        cx.set_timer(Duration::from_secs(1));
    }

    fn closed(&self, _: u64, end: &End) {
        self.ended.lock().expect("lock").push(end.code);
    }
}

/// The server's transport: what the client wrote, read in pieces of at
/// most `read_max` bytes; what the server writes.
struct Pipe {
    input: VecDeque<u8>,
    output: Vec<u8>,
    read_max: usize,
    reads: Arc<AtomicUsize>,
}

impl Transport for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        let n = buf.len().min(self.read_max).min(self.input.len());
        for (d, s) in buf.iter_mut().zip(self.input.drain(..n)) {
            *d = s;
        }
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut n = 0;
        for b in bufs {
            self.output.extend_from_slice(b);
            n += b.len();
        }
        Ok(n)
    }
}

#[derive(Arbitrary, Debug)]
enum Step {
    Send(Message),
    Advance { millis: u16 },
}

/// The harness.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok((read_max, steps)) = <(u16, Vec<Step>)>::arbitrary(&mut u) else {
        return;
    };
    let ended = Arc::new(Mutex::new(Vec::new()));
    let table = Protocols::new()
        .protocol(
            "shout",
            Shout {
                ended: ended.clone(),
            },
        )
        .default_protocol("shout");
    let t0 = Instant::ZERO;
    let config = Arc::new(SessionConfig::default());
    let server = Session::server(Arc::new(ServerConfig::default()), config.clone(), t0);
    let mut driver = Driver::new(server, Clock::new(), None).with_policy(Arc::new(table.policy()));
    driver.set_virtual_time(t0);
    let request = ClientRequest::new("ws://localhost/")
        .expect("url")
        .protocol("shout");
    let mut client = Session::client(request, config, mask_rng(1), t0).expect("client");
    let mut net = Net {
        pipe: Pipe {
            input: VecDeque::new(),
            output: Vec::new(),
            read_max: 1 + usize::from(read_max % 4096),
            reads: Arc::new(AtomicUsize::new(0)),
        },
        scratch: vec![0; 16 * 1024],
        now: t0,
        got: Vec::new(),
        closed: false,
        eof_sent: false,
    };

    // The handshake, then the protocol.
    let mut run = None;
    for _ in 0..64 {
        net.client_to_server(&mut client);
        match driver.turn_handshake(&mut net.pipe, &mut net.scratch) {
            Ok(Turn::Event(())) => {
                run = table.attach(&mut driver, None);
                break;
            }
            Ok(Turn::Wait(_)) => {}
            other => panic!("handshake ended: {other:?}"),
        }
        net.server_to_client(&mut client);
    }
    assert!(run.is_some(), "the table picks `shout`");
    assert_eq!(
        driver.negotiated().and_then(|h| h.protocol.as_deref()),
        Some("shout")
    );

    let mut expect: Vec<Message> = Vec::new();
    let mut close_code = None;
    for step in steps.into_iter().take(64) {
        match step {
            Step::Send(msg) => {
                let Some(conn) = client.connection_mut() else {
                    break;
                };
                if close_code.is_some() || conn.send(net.now, msg.clone()).is_err() {
                    continue;
                }
                match msg {
                    Message::Text(t) => expect.push(Message::text(t.as_str().to_uppercase())),
                    Message::Binary(b) => expect.push(Message::Binary(b)),
                    Message::Close { code, .. } => close_code = Some(code),
                    _ => {}
                }
            }
            Step::Advance { millis } => {
                let until = net.now + Duration::from_millis(u64::from(millis));
                net.run(&table, &mut driver, &mut run, &mut client, until);
            }
        }
    }
    let until = net.now + Duration::from_secs(10);
    net.run(&table, &mut driver, &mut run, &mut client, until);

    // Every answer, in order, and ticks whose count never goes back.
    let mut answers = Vec::new();
    let mut last_tick = 0u64;
    let mut ticks = 0u64;
    for m in &net.got {
        match m {
            Message::Text(t) if t.as_str().starts_with("tick ") => {
                let n: u64 = t.as_str()[5..].parse().expect("a tick count");
                assert!(n >= last_tick, "tick {n} after {last_tick}");
                last_tick = n;
                ticks += 1;
            }
            other => answers.push(other.clone()),
        }
    }
    if let Some(code) = close_code {
        // Answers to messages sent before the close may or may not have
        // been written before the server's close: a prefix, in order.
        assert!(expect.starts_with(&answers), "answers after close");
        assert!(net.closed, "the close ended the connection");
        assert_eq!(*ended.lock().expect("lock"), vec![Some(code)]);
    } else {
        assert_eq!(answers, expect);
        let secs = net.now.since_epoch().as_secs();
        assert!(
            ticks + 1 >= secs && ticks <= secs,
            "{ticks} ticks in {secs} s"
        );
        assert!(!net.closed);
    }
}

struct Net {
    pipe: Pipe,
    scratch: Vec<u8>,
    now: Instant,
    /// What the client received (ping/pong left out).
    got: Vec<Message>,
    closed: bool,
    eof_sent: bool,
}

impl Net {
    fn client_to_server(&mut self, client: &mut Session) {
        let mut out = Vec::new();
        let _ = client.poll_transmit(&mut out);
        self.pipe.input.extend(out);
    }

    fn server_to_client(&mut self, client: &mut Session) {
        let out = std::mem::take(&mut self.pipe.output);
        if !out.is_empty() {
            client.receive(self.now, &out).expect("the server's bytes");
        }
        if self.closed && !self.eof_sent {
            self.eof_sent = true;
            client.receive_eof(self.now);
        }
        while let Some(ev) = client.poll_event().expect("client events") {
            match ev {
                SessionEvent::Ws(Event::Text(t)) => self.got.push(Message::Text(t)),
                SessionEvent::Ws(Event::Binary(b)) => self.got.push(Message::Binary(b)),
                _ => {}
            }
        }
    }

    /// Runs server and client until `until` in virtual time.
    fn run(
        &mut self,
        table: &Protocols,
        driver: &mut Driver,
        run: &mut Option<ws_adapters::Running>,
        client: &mut Session,
        until: Instant,
    ) {
        for _ in 0..100_000 {
            self.client_to_server(client);
            let mut wake = None;
            while let Some(r) = run.as_mut() {
                match driver.turn_app(&mut self.pipe, &mut self.scratch) {
                    Ok(Turn::Event(ev)) => table.dispatch(r, driver, ev),
                    Ok(Turn::Wait(w)) if w.again => {}
                    Ok(Turn::Wait(w)) => {
                        wake = w.until;
                        break;
                    }
                    end => {
                        // `Turn` is non-exhaustive: anything else ends it.
                        let r = run.take().expect("running");
                        table.finish(r, end.err());
                        self.closed = true;
                    }
                }
            }
            self.server_to_client(client);
            if client.pending_transmit() > 0 || !self.pipe.input.is_empty() {
                continue;
            }
            // Quiet: jump to the next deadline of either side.
            let next = [wake, client.poll_timeout()]
                .into_iter()
                .flatten()
                .filter(|&t| t > self.now)
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = t;
                    driver.set_virtual_time(t);
                    client.handle_timeout(t);
                }
                _ => {
                    self.now = self.now.max(until);
                    driver.set_virtual_time(self.now);
                    return;
                }
            }
        }
        panic!("the conversation never went quiet");
    }
}
