//! From the first byte to the close: one sans-IO machine that runs the
//! opening handshake ([`http_upgrade`]), negotiates extensions through
//! [`Negotiator`]s, then hands over to a [`Connection`](crate::Connection).
//!
//! Every adapter drives a [`Session`]: it owns no protocol logic of its own.
//!
//! # Call order
//!
//! The contract of every machine of the family (the handshake machines of
//! [`http_upgrade`] and [`Connection`](crate::Connection) follow it too),
//! for both roles:
//!
//! 1. input: [`receive`](Session::receive) bytes from the socket, or read
//!    them in place with [`recv_buf`](Session::recv_buf) +
//!    [`recv_commit`](Session::recv_commit) (zero copy once the connection
//!    is open), and [`receive_eof`](Session::receive_eof) at the end of the
//!    stream; input is only buffered;
//! 2. events: drain [`poll_event`](Session::poll_event) until `Ok(None)`
//!    (need more input);
//! 3. commands: answer server-side [`SessionEvent::Request`]s with
//!    [`respond`](Session::respond) and [`SessionEvent::Upgrade`]s with
//!    [`accept`](Session::accept) or [`reject`](Session::reject); once
//!    [`SessionEvent::Open`] arrives, send with
//!    [`connection_mut`](Session::connection_mut);
//! 4. output: write out [`poll_transmit`](Session::poll_transmit) (or the
//!    vectored [`transmit_slices`](Session::transmit_slices) +
//!    [`advance_transmit`](Session::advance_transmit));
//! 5. timers: arm one at [`poll_timeout`](Session::poll_timeout), call
//!    [`handle_timeout`](Session::handle_timeout) when it fires;
//! 6. teardown: close the socket when [`wants_close`](Session::wants_close).
//!
//! Behind a host HTTP server (hyper, axum, ...) that parsed the upgrade
//! request itself, a server session starts at
//! [`Session::server_hosted`] instead: it is open from the start (steps 2
//! and 3 begin at `SessionEvent::Open`), and the host sends the `101` it
//! returns before the session's own output.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use ws_proto::session::{Session, SessionConfig, SessionEvent};
//! use ws_proto::{Event, Instant};
//! use http_upgrade::{Accept, ClientRequest, ServerConfig};
//!
//! struct Counter(u32);
//! impl rand_core::TryRng for Counter {
//!     type Error = core::convert::Infallible;
//!     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { self.0 += 1; Ok(self.0) }
//!     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { Ok(u64::from(self.try_next_u32()?)) }
//!     fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
//!         for b in dst { *b = self.try_next_u32()? as u8; }
//!         Ok(())
//!     }
//! }
//!
//! let now = Instant::ZERO;
//! let config = Arc::new(SessionConfig::default());
//! let http = Arc::new(ServerConfig::default());
//! let request = ClientRequest::new("ws://localhost/echo")?;
//! let mut client = Session::client(request, config.clone(), Box::new(Counter(0)), now)?;
//! let mut server = Session::server(http, config, now);
//!
//! let mut wire = Vec::new();
//! assert!(client.poll_transmit(&mut wire) > 0);
//! server.receive(now, &wire)?;
//! let Some(SessionEvent::Upgrade(req)) = server.poll_event()? else { panic!() };
//! server.accept(now, Accept::for_request(&req), &mut Counter(9))?;
//! assert!(matches!(server.poll_event()?, Some(SessionEvent::Open(_))));
//! server.connection_mut().unwrap().send_text("hi")?;
//!
//! wire.clear();
//! assert!(server.poll_transmit(&mut wire) > 0);
//! client.receive(now, &wire)?;
//! assert!(matches!(client.poll_event()?, Some(SessionEvent::Open(_))));
//! assert_eq!(client.poll_event()?, Some(SessionEvent::Ws(Event::Text("hi".into()))));
//! # Ok::<(), ws_proto::session::SessionError>(())
//! ```

mod machine;
mod negotiate;

pub use machine::{Session, SessionConfig, SessionError, SessionEvent};
pub use negotiate::Negotiator;

#[cfg(test)]
mod tests {
    use alloc::boxed::Box;
    use alloc::sync::Arc;

    use http_upgrade::ClientRequest;

    use super::*;
    use crate::{Instant, Role};

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

    /// Found by the session_client fuzz target: a client stays a client
    /// after its handshake ends in a redirect.
    #[test]
    fn role_survives_the_end_of_the_handshake() {
        let now = Instant::ZERO;
        let config = Arc::new(SessionConfig::default());
        let req = ClientRequest::new("ws://example.com/").unwrap();
        let mut c = Session::client(req, config, Box::new(Zero), now).unwrap();
        assert_eq!(c.role(), Role::Client);
        assert!(c.poll_transmit(&mut alloc::vec::Vec::new()) > 0);
        c.receive(now, b"HTTP/1.1 302 Found\r\nLocation: ws://other/\r\n\r\n")
            .unwrap();
        assert!(matches!(
            c.poll_event(),
            Ok(Some(SessionEvent::Redirect { .. }))
        ));
        assert!(c.wants_close());
        assert_eq!(c.role(), Role::Client);
    }
}
