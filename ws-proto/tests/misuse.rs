//! One misuse category (issue 14): a session call in the wrong stage and a
//! handshake answer the machine refuses are both `Error::Usage`, leave the
//! session as it was, and carry no close code or HTTP status.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use http_upgrade::{Accept, ClientRequest, MisuseError, ServerConfig};
use ws_proto::session::{Session, SessionConfig, SessionError, SessionEvent};
use ws_proto::{Error, Instant, UsageError};

#[test]
fn wrong_stage_and_refused_answers_are_usage_errors() {
    let now = Instant::ZERO;
    let config = Arc::new(SessionConfig::default());
    let request = ClientRequest::new("ws://localhost/")
        .unwrap()
        .protocol("chat");
    let mut client = Session::client(request, config.clone(), common::rng(), now).unwrap();
    // A client has nothing to accept.
    let e = client
        .accept(now, Accept::default(), &mut common::SplitMix::new(3))
        .unwrap_err();
    assert!(e.is_misuse(), "{e:?}");
    assert_eq!(
        e,
        SessionError::Connection(Error::Usage(UsageError::WrongState("accept")))
    );
    let mut hello = Vec::new();
    let _ = client.poll_transmit(&mut hello);
    let mut server = Session::server(Arc::new(ServerConfig::default()), config, now);
    server.receive(now, &hello).unwrap();
    let Some(SessionEvent::Upgrade(_)) = server.poll_event().unwrap() else {
        panic!("no upgrade")
    };
    // A subprotocol the client did not offer is refused by the handshake
    // machine: misuse, and the upgrade is still pending.
    let e = server
        .accept(
            now,
            Accept::default().protocol("superchat"),
            &mut common::SplitMix::new(4),
        )
        .unwrap_err();
    assert!(e.is_misuse(), "{e:?}");
    assert!(matches!(
        e,
        SessionError::Connection(Error::Usage(UsageError::Handshake(
            MisuseError::ProtocolNotOffered(_)
        )))
    ));
    if let SessionError::Connection(c) = &e {
        assert_eq!(c.close_code(), None);
        assert!(!c.is_fatal());
    }
    server
        .accept(
            now,
            Accept::default().protocol("chat"),
            &mut common::SplitMix::new(5),
        )
        .unwrap();
    assert_eq!(
        server.handshake().unwrap().protocol.as_deref(),
        Some("chat")
    );
}
