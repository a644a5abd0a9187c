//! Server push and broadcast: sending to a connection from code that does
//! not drive it (another connection's handler, a timer, another thread or
//! task), and to a whole group at once.
//!
//! * [`Push`]: a cheap handle to one connection (libwebsockets: writing
//!   from outside the connection's callback, `lws_send_pipe_choked`,
//!   `lws_callback_on_writable`). A push never waits: what the socket
//!   takes at once is written, the rest by the connection's own loop. The
//!   handle of a closed connection says so ([`Push::is_closed`], and
//!   `Err` with [`ErrorKind::Closed`](crate::ErrorKind::Closed) from a
//!   push); it never panics.
//! * [`Group`]: members of one protocol or room. [`Group::broadcast`]
//!   builds the message once ([`Prepared`]: the payload shared as `Bytes`,
//!   not copied per member; with permessage-deflate, compressed once per
//!   parameter set where the members' settings allow it) and pushes it to
//!   every member. A member that does not read cannot hold the others back
//!   or make the server hold more than the group's [`SlowConsumer`] limit
//!   for it: past the limit the message is skipped for that member, or the
//!   member is closed with 1008.
//!
//! Handles: the async adapters' [`WriteHalf`](crate::WriteHalf) (tokio,
//! smol), [`MioPush`](crate::mio::MioPush) (mio) and `BlockingPush`
//! (std, unix).

use std::sync::{Arc, Mutex, MutexGuard};

use ws_proto::{CloseCode, Message, Prepared};

use crate::{Driver, Error};

/// A prepared message shared by the members of one broadcast: an encoding
/// one connection makes (a permessage-deflate compression without context
/// takeover) is kept here for the others, whichever thread sends it and
/// whenever ([`Push::push_shared`]).
pub type SharedPrepared = Arc<Mutex<Prepared>>;

/// The payload bytes of `m`, as push handles count what they queue.
pub(crate) fn payload_len(m: &Message) -> usize {
    match m {
        Message::Text(t) => t.len(),
        Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.len(),
        _ => 0,
    }
}

fn lock_prepared(shared: &SharedPrepared) -> MutexGuard<'_, Prepared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends `shared` on `driver`, reusing the encodings stored in it and
/// storing the ones made here. The lock is not held while compressing:
/// connections on other threads encode in parallel (two may make the same
/// encoding once, at worst).
pub(crate) fn send_shared(driver: &mut Driver, shared: &SharedPrepared) -> Result<(), Error> {
    let mut msg = lock_prepared(shared).clone();
    let had = msg.encodings();
    let r = driver.send_prepared(&mut msg);
    if msg.encodings() > had {
        let mut stored = lock_prepared(shared);
        if stored.encodings() < msg.encodings() {
            *stored = msg;
        }
    }
    r
}

/// A handle to push to one connection from anywhere.
pub trait Push: Send + Sync {
    /// Queues `msg` (a close starts the closing handshake) and writes what
    /// the socket takes now. `Err` if the connection is closed or the
    /// message is refused (too long a control payload, ...).
    fn push(&self, msg: Message) -> Result<(), Error>;
    /// Queues a message prepared once for many connections.
    fn push_prepared(&self, msg: &mut Prepared) -> Result<(), Error>;
    /// Queues a message shared by a broadcast's members
    /// ([`Group::broadcast`] uses this): encodings are made once for all of
    /// them, even when each connection sends it later on its own thread.
    fn push_shared(&self, msg: &SharedPrepared) -> Result<(), Error> {
        self.push_prepared(&mut lock_prepared(msg))
    }
    /// Bytes queued and not yet written.
    fn queued(&self) -> usize;
    /// True while the queued output is over the connection's high-water
    /// mark (libwebsockets' `lws_send_pipe_choked`): the peer is not
    /// keeping up.
    fn is_choked(&self) -> bool;
    /// True once the connection can take no more data messages (closing,
    /// closed or failed).
    fn is_closed(&self) -> bool;
}

/// A shared handle is a handle (`Arc<dyn Push>` from
/// [`Ctx::push_handle`](crate::Ctx::push_handle) in a [`Group`]).
impl<P: Push + ?Sized> Push for std::sync::Arc<P> {
    fn push(&self, msg: Message) -> Result<(), Error> {
        (**self).push(msg)
    }
    fn push_prepared(&self, msg: &mut Prepared) -> Result<(), Error> {
        (**self).push_prepared(msg)
    }
    fn push_shared(&self, msg: &SharedPrepared) -> Result<(), Error> {
        (**self).push_shared(msg)
    }
    fn queued(&self) -> usize {
        (**self).queued()
    }
    fn is_choked(&self) -> bool {
        (**self).is_choked()
    }
    fn is_closed(&self) -> bool {
        (**self).is_closed()
    }
}

/// What a [`Group`] does with a member whose queued output is over
/// `limit` bytes when a broadcast comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlowConsumer {
    /// The member misses this message (counted in [`Delivery::skipped`]).
    Skip {
        /// Queued bytes above which a message is skipped.
        limit: usize,
    },
    /// The member is closed with 1008 (policy violation, RFC 6455 §7.4.1)
    /// and leaves the group.
    Close {
        /// Queued bytes above which the member is closed.
        limit: usize,
    },
}

impl Default for SlowConsumer {
    /// Skip past 1 MiB queued (the drive loop's high-water mark).
    fn default() -> Self {
        SlowConsumer::Skip {
            limit: crate::HIGH_WATER,
        }
    }
}

/// What one [`Group::broadcast`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Members the message was queued for.
    pub sent: usize,
    /// Members over the limit that missed it ([`SlowConsumer::Skip`]).
    pub skipped: usize,
    /// Members over the limit closed with 1008 ([`SlowConsumer::Close`]).
    pub closed: usize,
    /// Members found closed, removed from the group.
    pub gone: usize,
}

/// A member's place in a [`Group`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemberId {
    index: usize,
    generation: u64,
}

struct Slot<P> {
    generation: u64,
    member: Option<P>,
}

struct Members<P> {
    slots: Vec<Slot<P>>,
    free: Vec<usize>,
    live: usize,
}

/// Connections that receive the same broadcasts (a protocol's, a room's).
pub struct Group<P> {
    members: Mutex<Members<P>>,
    policy: SlowConsumer,
}

impl<P> std::fmt::Debug for Group<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("members", &self.members.lock().map_or(0, |m| m.live))
            .field("policy", &self.policy)
            .finish()
    }
}

impl<P: Push> Default for Group<P> {
    fn default() -> Self {
        Group::new(SlowConsumer::default())
    }
}

impl<P: Push> Group<P> {
    /// An empty group with `policy` for members that do not keep up.
    pub fn new(policy: SlowConsumer) -> Self {
        Group {
            members: Mutex::new(Members {
                slots: Vec::new(),
                free: Vec::new(),
                live: 0,
            }),
            policy,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Members<P>> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a member.
    pub fn join(&self, member: P) -> MemberId {
        let mut m = self.lock();
        m.live += 1;
        if let Some(index) = m.free.pop() {
            if let Some(slot) = m.slots.get_mut(index) {
                slot.generation += 1;
                slot.member = Some(member);
                return MemberId {
                    index,
                    generation: slot.generation,
                };
            }
        }
        let index = m.slots.len();
        m.slots.push(Slot {
            generation: 0,
            member: Some(member),
        });
        MemberId {
            index,
            generation: 0,
        }
    }

    /// Removes a member (`None` if it already left or was removed).
    pub fn leave(&self, id: MemberId) -> Option<P> {
        let mut m = self.lock();
        let slot = m.slots.get_mut(id.index)?;
        if slot.generation != id.generation {
            return None;
        }
        let member = slot.member.take()?;
        m.free.push(id.index);
        m.live -= 1;
        Some(member)
    }

    /// Members now.
    pub fn len(&self) -> usize {
        self.lock().live
    }

    /// True without members.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts the closing handshake of every member with `code` and
    /// `reason`. Members stay in the group until they leave (a protocol
    /// table's leave when their connection ends). Returns how many were
    /// sent the close (not those closing or closed already).
    pub fn close_all(&self, code: CloseCode, reason: &str) -> usize {
        let m = self.lock();
        m.slots
            .iter()
            .filter_map(|slot| slot.member.as_ref())
            .filter(|member| {
                !member.is_closed() && member.push(Message::close(code, reason)).is_ok()
            })
            .count()
    }

    /// Sends a text message to every member, built once.
    pub fn broadcast_text(&self, text: impl Into<ws_proto::Utf8Bytes>) -> Delivery {
        self.broadcast(&mut Prepared::text(text))
    }

    /// Sends a binary message to every member, built once.
    pub fn broadcast_binary(&self, data: impl Into<ws_proto::Bytes>) -> Delivery {
        self.broadcast(&mut Prepared::binary(data))
    }

    /// Sends `msg` to every member (see the [module docs](self) for what
    /// happens to members that do not keep up, and to closed ones).
    pub fn broadcast(&self, msg: &mut Prepared) -> Delivery {
        let shared: SharedPrepared = Arc::new(Mutex::new(msg.clone()));
        let d = self.broadcast_shared(&shared);
        // Encodings made while pushing come back to the caller.
        *msg = lock_prepared(&shared).clone();
        d
    }

    fn broadcast_shared(&self, msg: &SharedPrepared) -> Delivery {
        let mut d = Delivery::default();
        let mut m = self.lock();
        let Members { slots, free, live } = &mut *m;
        for (index, slot) in slots.iter_mut().enumerate() {
            let Some(member) = &slot.member else {
                continue;
            };
            let remove = if member.is_closed() {
                d.gone += 1;
                true
            } else {
                match self.policy {
                    SlowConsumer::Skip { limit } if member.queued() > limit => {
                        d.skipped += 1;
                        false
                    }
                    SlowConsumer::Close { limit } if member.queued() > limit => {
                        let why = Message::close(CloseCode::POLICY_VIOLATION, "too slow");
                        let _ = member.push(why);
                        d.closed += 1;
                        true
                    }
                    _ => match member.push_shared(msg) {
                        Ok(()) => {
                            d.sent += 1;
                            false
                        }
                        Err(_) => {
                            d.gone += 1;
                            true
                        }
                    },
                }
            };
            if remove {
                slot.member = None;
                free.push(index);
                *live -= 1;
            }
        }
        d
    }
}
