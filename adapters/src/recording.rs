//! Recording connections on any adapter ([`ws_proto::record`]).
//!
//! A [`Recording`] in [`ServerOptions::recording`](crate::ServerOptions)
//! or [`ClientOptions::recording`](crate::ClientOptions) records the
//! connections it selects, on every adapter (each builds its connections
//! through the options' driver): each connection's
//! [`Session`](ws_proto::session::Session) carries a recorder from its first
//! byte, and when the connection ends (its [`Driver`](crate::Driver) is
//! dropped) the transcript goes to the recording's sink.
//!
//! It is switched at run time: [`Recording::set_enabled`] turns it on or
//! off for the connections that start afterwards (a transcript must start
//! at the first byte to replay), a filter picks connections by peer
//! address, and [`Driver::stop_recording`](crate::Driver::stop_recording)
//! ends one connection's recording early. The transcript's bound
//! ([`RecordOptions::max_bytes`]) holds per connection, so a recording
//! server holds at most `max_bytes` more per recorded connection.
//!
//! ```no_run
//! use ws_adapters::{Recording, ServerOptions};
//! use ws_proto::record::RecordOptions;
//!
//! // Record, redacted, every connection from 10.0.0.7 into /var/tmp/ws.
//! let recording = Recording::to_dir("/var/tmp/ws")?
//!     .with_options(RecordOptions::default().with_redact(true))
//!     .with_filter(|peer| peer.is_some_and(|p| p.ip().to_string() == "10.0.0.7"));
//! let options = ServerOptions::default().with_recording(recording.clone());
//! // ... serve with `options` on any adapter; later, from anywhere:
//! recording.set_enabled(false);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! `ws-replay FILE` prints a transcript as a timeline, and
//! [`Transcript::replay`](ws_proto::record::Transcript::replay) replays it.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ws_proto::record::{RecordOptions, Transcript};

type Sink = dyn Fn(Recorded) + Send + Sync;
type Filter = dyn Fn(Option<SocketAddr>) -> bool + Send + Sync;

/// A finished recording of one connection, as the sink receives it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Recorded {
    /// The connection's number in this recording (from 1).
    pub id: u64,
    /// The peer's address, when known.
    pub peer: Option<SocketAddr>,
    /// The transcript.
    pub transcript: Transcript,
}

struct Inner {
    enabled: AtomicBool,
    options: RecordOptions,
    filter: Option<Arc<Filter>>,
    sink: Arc<Sink>,
    started: AtomicU64,
    finished: AtomicU64,
}

/// Which connections to record and where their transcripts go (see the
/// [module docs](self)). Cloning shares the switch and the counters.
#[derive(Clone)]
pub struct Recording {
    inner: Arc<Inner>,
}

impl fmt::Debug for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recording")
            .field("enabled", &self.is_enabled())
            .field("options", &self.inner.options)
            .field("started", &self.started())
            .field("finished", &self.finished())
            .finish_non_exhaustive()
    }
}

impl Recording {
    /// Records every connection (enabled, default [`RecordOptions`]) and
    /// hands each finished transcript to `sink`, on the thread or task
    /// that ends the connection: keep it short (queue the work
    /// elsewhere).
    pub fn new(sink: impl Fn(Recorded) + Send + Sync + 'static) -> Self {
        Recording {
            inner: Arc::new(Inner {
                enabled: AtomicBool::new(true),
                options: RecordOptions::default(),
                filter: None,
                sink: Arc::new(sink),
                started: AtomicU64::new(0),
                finished: AtomicU64::new(0),
            }),
        }
    }

    /// Writes each transcript to `dir` (created if missing) as
    /// `<id>-<peer>.wsrt` (`<id>.wsrt` without a known peer); a write
    /// that fails is logged and the transcript dropped. The file is
    /// written when the connection ends, on its thread (at most
    /// [`RecordOptions::max_bytes`] bytes), first as `<name>.wsrt.part`
    /// and then renamed: a `.wsrt` file is always whole, even to a reader
    /// that watches the directory while the server runs.
    pub fn to_dir(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Recording::new(move |r: Recorded| {
            let name = match r.peer {
                Some(p) => format!("{:06}-{}.wsrt", r.id, p).replace([':', '[', ']'], "_"),
                None => format!("{:06}.wsrt", r.id),
            };
            let path = dir.join(&name);
            let part = dir.join(name + ".part");
            let written = std::fs::write(&part, r.transcript.as_bytes())
                .and_then(|()| std::fs::rename(&part, &path));
            if let Err(e) = written {
                log::warn!("recording: cannot write {}: {e}", path.display());
                let _ = std::fs::remove_file(&part);
            }
        }))
    }

    fn rebuild(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Inner {
            enabled: AtomicBool::new(self.is_enabled()),
            options: self.inner.options.clone(),
            filter: self.inner.filter.clone(),
            sink: self.inner.sink.clone(),
            started: AtomicU64::new(self.started()),
            finished: AtomicU64::new(self.finished()),
        };
        f(&mut inner);
        Recording {
            inner: Arc::new(inner),
        }
    }

    /// What to record and the bound per connection (the label is set per
    /// connection: the peer's address, or the client's URL).
    #[must_use]
    pub fn with_options(self, options: RecordOptions) -> Self {
        self.rebuild(|i| i.options = options)
    }

    /// Records only connections whose peer address `f` accepts (`None`:
    /// a stream without a known address).
    #[must_use]
    pub fn with_filter(
        self,
        f: impl Fn(Option<SocketAddr>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.rebuild(|i| i.filter = Some(Arc::new(f)))
    }

    /// Starts off: nothing is recorded until [`set_enabled`](Self::set_enabled).
    #[must_use]
    pub fn disabled(self) -> Self {
        self.set_enabled(false);
        self
    }

    /// Turns recording on or off for connections that start from now on
    /// (connections being recorded go on to their end).
    pub fn set_enabled(&self, on: bool) {
        self.inner.enabled.store(on, Ordering::Relaxed);
    }

    /// Whether new connections are recorded.
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled.load(Ordering::Relaxed)
    }

    /// Connections whose recording started.
    pub fn started(&self) -> u64 {
        self.inner.started.load(Ordering::Relaxed)
    }

    /// Transcripts handed to the sink.
    pub fn finished(&self) -> u64 {
        self.inner.finished.load(Ordering::Relaxed)
    }

    /// The options for a connection to `peer` labelled `label`, if it is
    /// to be recorded; counts it.
    pub(crate) fn begin(
        &self,
        peer: Option<SocketAddr>,
        label: String,
    ) -> Option<(RecordOptions, u64)> {
        if !self.is_enabled() || !self.inner.filter.as_ref().is_none_or(|f| f(peer)) {
            return None;
        }
        let id = self.inner.started.fetch_add(1, Ordering::Relaxed) + 1;
        Some((self.inner.options.clone().with_label(label), id))
    }

    pub(crate) fn deliver(&self, id: u64, peer: Option<SocketAddr>, transcript: Transcript) {
        self.inner.finished.fetch_add(1, Ordering::Relaxed);
        (self.inner.sink)(Recorded {
            id,
            peer,
            transcript,
        });
    }
}
