//! `template_messages`: the template for fuzzing your own code on top of
//! ws-proto, with the `arbitrary` feature's types (`ws_proto::fuzzing`).
//!
//! libFuzzer's bytes become a server `Config` and a sequence of `Message`s;
//! a client connection sends them and the server connection's events go to
//! the code under test, here [`Collector`], a stand-in for your handler
//! that rebuilds whole messages from whole or streamed events. Replace it
//! with your handler and keep the assertions that state its contract.
//!
//! Asserts: every message within the server's limits arrives as sent, in
//! order; the first one over `max_message_size` or `max_frame_size` fails
//! the connection with 1009 and nothing after it arrives; a close arrives
//! with its code and reason and ends the conversation.

use arbitrary::{Arbitrary, Unstructured};
use ws_proto::{Config, Connection, Event, Message, MessageKind};

use crate::util::{T0, mask_rng};

/// The code under test: collects what a server connection hands out.
#[derive(Debug, Default)]
pub struct Collector {
    /// Whole messages, rebuilt from streamed chunks where needed.
    pub got: Vec<Message>,
    streamed: Option<(MessageKind, Vec<u8>)>,
}

impl Collector {
    /// One event from the connection.
    pub fn on_event(&mut self, ev: Event) {
        let msg = match ev {
            Event::Text(t) => Message::Text(t),
            Event::Binary(b) => Message::Binary(b),
            Event::Ping(p) => Message::Ping(p),
            Event::Pong(p) => Message::Pong(p),
            Event::Close { code, reason } => match code {
                Some(code) => Message::Close { code, reason },
                None => panic!("an empty close body was never sent"),
            },
            Event::MessageStart(kind) => {
                assert!(self.streamed.is_none(), "message start inside a message");
                self.streamed = Some((kind, Vec::new()));
                return;
            }
            Event::MessageChunk(c) => {
                let (_, buf) = self.streamed.as_mut().expect("chunk outside a message");
                buf.extend_from_slice(&c);
                return;
            }
            Event::MessageEnd => {
                let (kind, buf) = self.streamed.take().expect("end outside a message");
                match kind {
                    MessageKind::Text => Message::Text(
                        String::from_utf8(buf)
                            .expect("streamed text is UTF-8")
                            .into(),
                    ),
                    _ => Message::Binary(buf.into()),
                }
            }
            other => panic!("unknown event {other:?}"),
        };
        self.got.push(msg);
    }
}

/// The harness.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok((config, msgs)) = <(Config, Vec<Message>)>::arbitrary(&mut u) else {
        return;
    };
    let mut client =
        Connection::client(Config::default(), mask_rng(3), T0).expect("client connection");
    let mut server = Connection::server(config.clone(), T0).expect("any arbitrary Config");
    // What the server must deliver: the messages up to the first one over
    // its limits (then 1009) or up to and including the first close.
    let mut expect = Vec::new();
    let mut expect_error = None;
    for m in msgs.iter().take(64) {
        if client.send(T0, m.clone()).is_err() {
            // A close with a code no endpoint may send: refused, not sent.
            assert!(matches!(m, Message::Close { code, .. } if !code.is_sendable()));
            continue;
        }
        // The limits bound data messages; control frames carry at most 125
        // bytes and are not counted (RFC 6455 §5.5).
        let len = match m {
            Message::Text(t) => t.len(),
            Message::Binary(b) => b.len(),
            _ => 0,
        } as u64;
        if len > config.max_message_size || len > config.max_frame_size {
            expect_error = Some(1009);
            break;
        }
        expect.push(m.clone());
        if matches!(m, Message::Close { .. }) {
            break;
        }
    }
    let mut wire = Vec::new();
    let _ = client.poll_transmit(&mut wire);
    let mut handler = Collector::default();
    let mut error = server.receive(T0, &wire).err();
    while error.is_none() {
        match server.poll_event() {
            Ok(Some(ev)) => handler.on_event(ev),
            Ok(None) => break,
            Err(e) => error = Some(e),
        }
    }
    assert_eq!(handler.got, expect);
    assert_eq!(
        error.and_then(|e| e.close_code()).map(|c| c.0),
        expect_error
    );
}
