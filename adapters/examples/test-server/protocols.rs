//! The two protocols of the libwebsockets test server.

use std::collections::{HashMap, VecDeque};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ws_adapters::Error;
use ws_adapters::blocking::WebSocket;
use ws_proto::session::SessionEvent;
use ws_proto::{Bytes, Dialect, Event, State, Utf8Bytes};

/// Sends an incrementing number every 50 ms; "reset\n" resets it.
pub(crate) const DUMB_INCREMENT: &str = "dumb-increment-protocol";
/// Broadcasts every message to every mirror client.
pub(crate) const MIRROR: &str = "lws-mirror-protocol";

pub(crate) const TICK: Duration = Duration::from_millis(50);
/// Recent mirror messages replayed to newcomers.
pub(crate) const RING: usize = 512;
/// Messages queued for one slow mirror client before it starts missing some.
const CLIENT_QUEUE: usize = 1024;
/// How often a mirror connection looks for broadcasts while idle.
const MIRROR_POLL: Duration = Duration::from_millis(5);

/// True for dumb-increment-protocol's reset command.
pub(crate) fn is_reset(text: &str) -> bool {
    text == "reset\n"
}

fn is_open(ws: &WebSocket<TcpStream>) -> bool {
    ws.session()
        .connection()
        .is_some_and(|c| c.state() == State::Open)
}

/// Runs dumb-increment-protocol until the connection ends.
pub(crate) fn dumb_increment(mut ws: WebSocket<TcpStream>) -> Result<(), Error> {
    let mut number: u64 = 0;
    let mut next = Instant::now() + TICK;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        match ws.next_event(Some(wait))? {
            Some(SessionEvent::Ws(Event::Text(t))) if is_reset(t.as_str()) => number = 0,
            Some(_) => {}
            None if ws.is_finished() => return Ok(()),
            None => {}
        }
        if Instant::now() >= next {
            next += TICK;
            if is_open(&ws) {
                ws.send_text(&number.to_string())?;
                number += 1;
            }
        }
    }
}

/// A mirrored message.
#[derive(Clone, Debug)]
pub(crate) enum Message {
    Text(Utf8Bytes),
    Binary(Bytes),
}

/// The shared state of lws-mirror-protocol: the clients and the ring.
#[derive(Default)]
pub(crate) struct Mirror {
    next_id: AtomicU64,
    clients: Mutex<HashMap<u64, SyncSender<Message>>>,
    ring: Mutex<VecDeque<Message>>,
}

impl Mirror {
    fn join(&self) -> (u64, Receiver<Message>, Vec<Message>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = sync_channel(CLIENT_QUEUE);
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        // Register while holding the ring so no broadcast falls in between.
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, tx);
        (id, rx, ring.iter().cloned().collect())
    }

    fn leave(&self, id: u64) {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    fn broadcast(&self, msg: Message) {
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        if ring.len() == RING {
            ring.pop_front();
        }
        ring.push_back(msg.clone());
        let clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        for (id, tx) in clients.iter() {
            if let Err(TrySendError::Full(_)) = tx.try_send(msg.clone()) {
                log::warn!("mirror client {id} is too slow: dropped a message");
            }
        }
    }

    /// Runs lws-mirror-protocol for one client until the connection ends.
    pub(crate) fn serve(&self, mut ws: WebSocket<TcpStream>) -> Result<(), Error> {
        let (id, rx, backlog) = self.join();
        let result = self.run(&mut ws, &rx, backlog);
        self.leave(id);
        result
    }

    fn run(
        &self,
        ws: &mut WebSocket<TcpStream>,
        rx: &Receiver<Message>,
        backlog: Vec<Message>,
    ) -> Result<(), Error> {
        for m in backlog {
            send(ws, m)?;
        }
        loop {
            match ws.next_event(Some(MIRROR_POLL))? {
                Some(SessionEvent::Ws(Event::Text(t))) => self.broadcast(Message::Text(t)),
                Some(SessionEvent::Ws(Event::Binary(b))) => self.broadcast(Message::Binary(b)),
                Some(_) => {}
                None if ws.is_finished() => return Ok(()),
                None => {}
            }
            while let Ok(m) = rx.try_recv() {
                if is_open(ws) {
                    send(ws, m)?;
                }
            }
        }
    }
}

fn send(ws: &mut WebSocket<TcpStream>, m: Message) -> Result<(), Error> {
    let conn = ws.session_mut().connection_mut().ok_or(Error::Closed)?;
    match m {
        Message::Text(t) => conn.send_text(t)?,
        // hixie-76 carries only text: its clients miss binary messages.
        Message::Binary(_) if conn.config().dialect == Dialect::Hixie76 => {}
        Message::Binary(b) => conn.send_binary(b)?,
    }
    ws.flush()
}
