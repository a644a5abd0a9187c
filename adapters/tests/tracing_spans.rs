//! Feature `tracing`: a span per connection with its role, peer address
//! and negotiated parameters, and the open and close events inside it,
//! seen by a subscriber of the test's own.
#![cfg(all(feature = "tracing", feature = "tokio"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use ws_adapters::Event as WsEvent;

/// Every span's name and fields, and every event's message with its span.
#[derive(Default)]
struct Seen {
    spans: HashMap<u64, (String, HashMap<String, String>)>,
    events: Vec<(Option<u64>, String)>,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Seen>>,
    next: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let name = attrs.metadata().name().to_owned();
        self.seen.lock().unwrap().spans.insert(id, (name, fields));
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut seen = self.seen.lock().unwrap();
        if let Some((_, fields)) = seen.spans.get_mut(&span.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let parent = event.parent().map(Id::into_u64);
        let msg = fields.remove("message").unwrap_or_default();
        self.seen.lock().unwrap().events.push((parent, msg));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn a_span_per_connection_with_peer_and_negotiated_parameters() {
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(recorder.clone()).unwrap();
    bounded(Duration::from_secs(30), "tracing", || {
        let addr = start_server(Kind::Tokio, server_options(true));
        let url = format!("ws://{addr}/");
        let mut c = connect(Kind::Tokio, &url, &client_options(true));
        c.text("traced");
        assert_eq!(c.recv(), Some(WsEvent::Text("traced".into())));
        c.close(ws_proto::CloseCode::NORMAL);
        while c.recv().is_some() {}
    });
    // The server's side ends a moment after the client's.
    std::thread::sleep(Duration::from_millis(200));
    let seen = recorder.seen.lock().unwrap();
    let conns: Vec<_> = seen
        .spans
        .iter()
        .filter(|(_, (name, _))| name == "websocket")
        .collect();
    assert_eq!(conns.len(), 2, "a client and a server span");
    for (id, (_, fields)) in &conns {
        let role = fields["role"].as_str();
        assert!(role == "client" || role == "server", "{fields:?}");
        assert!(fields["peer"].starts_with("127.0.0.1:"), "{fields:?}");
        assert!(
            fields["extensions"].starts_with("permessage-deflate"),
            "{fields:?}"
        );
        assert_eq!(fields["dialect"], "Rfc6455", "{fields:?}");
        let mine: Vec<_> = seen
            .events
            .iter()
            .filter(|(p, _)| *p == Some(**id))
            .map(|(_, m)| m.as_str())
            .collect();
        assert_eq!(mine, ["open", "closed"], "{role}: {fields:?}");
    }
}
