//! Partial input is never an error: every prefix of a valid message is
//! "need more", and any split of the input gives the same result.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use http_upgrade::*;
use proptest::prelude::*;

/// A client request and the server's answer for `dialect`, as produced by
/// our own machines (deterministic RNG).
fn exchange(dialect: Dialect) -> (Vec<u8>, Vec<u8>) {
    let request = ClientRequest::new("ws://example.com:8080/chat?room=1")
        .unwrap()
        .dialect(dialect)
        .origin("http://example.com")
        .protocol("chat")
        .extension(
            ExtensionOffer::new("permessage-deflate")
                .with_param("server_max_window_bits", Some("10")),
        );
    let mut c = ClientHandshake::new(request, &mut SplitMix::new(42), Instant::ZERO).unwrap();
    let req = drain_client(&mut c);
    let mut s = server(ServerConfig::default().with_protocols(["chat"]));
    let up = upgrade(&mut s, &req);
    let mut accept = Accept::for_request(&up);
    if dialect.has_extensions() {
        accept = accept.extension(ExtensionOffer::new("permessage-deflate"));
    }
    s.accept(accept, &mut SplitMix::new(43)).unwrap();
    (req, drain_server(&mut s))
}

fn client_for(dialect: Dialect) -> ClientHandshake {
    let request = ClientRequest::new("ws://example.com:8080/chat?room=1")
        .unwrap()
        .dialect(dialect)
        .origin("http://example.com")
        .protocol("chat")
        .extension(
            ExtensionOffer::new("permessage-deflate")
                .with_param("server_max_window_bits", Some("10")),
        );
    let mut c = ClientHandshake::new(request, &mut SplitMix::new(42), Instant::ZERO).unwrap();
    drain_client(&mut c);
    c
}

fn fresh_server() -> ServerHandshake {
    server(ServerConfig::default().with_protocols(["chat"]))
}

/// Feeds `chunks` to a fresh server, polling after each; the first event
/// or error (`Ok(None)`: still need more).
fn feed_server(chunks: &[&[u8]]) -> Result<Option<ServerEvent>, Error> {
    let mut s = fresh_server();
    let mut last = Ok(None);
    for c in chunks {
        last = step_server(&mut s, c);
        if !matches!(last, Ok(None)) {
            break;
        }
    }
    last
}

fn feed_client(dialect: Dialect, chunks: &[&[u8]]) -> Result<Option<ClientEvent>, Error> {
    let mut c = client_for(dialect);
    let mut last = Ok(None);
    for chunk in chunks {
        last = step_client(&mut c, chunk);
        if !matches!(last, Ok(None)) {
            break;
        }
    }
    last
}

/// Buffers every chunk first, then polls: the lazy parser gives the same
/// result as polling after each chunk.
fn buffered_server(chunks: &[&[u8]]) -> Result<Option<ServerEvent>, Error> {
    let mut s = fresh_server();
    for c in chunks {
        s.receive(T0, c)?;
    }
    s.poll_event()
}

fn buffered_client(dialect: Dialect, chunks: &[&[u8]]) -> Result<Option<ClientEvent>, Error> {
    let mut c = client_for(dialect);
    for chunk in chunks {
        c.receive(T0, chunk)?;
    }
    c.poll_event()
}

#[test]
fn every_prefix_is_need_more() {
    for d in Dialect::ALL {
        let (req, res) = exchange(d);
        for n in 0..req.len() {
            assert_eq!(
                feed_server(&[&req[..n]]),
                Ok(None),
                "{d:?} request prefix {n}"
            );
        }
        for n in 0..res.len() {
            assert_eq!(
                feed_client(d, &[&res[..n]]),
                Ok(None),
                "{d:?} response prefix {n}"
            );
        }
    }
    for n in 0..HIXIE76_REQUEST.len() {
        assert_eq!(feed_server(&[&HIXIE76_REQUEST[..n]]), Ok(None));
    }
}

#[test]
fn one_byte_at_a_time() {
    for d in Dialect::ALL {
        let (req, res) = exchange(d);
        let whole = feed_server(&[&req]);
        assert!(matches!(whole, Ok(Some(ServerEvent::Upgrade(_)))), "{d:?}");
        let bytes: Vec<&[u8]> = req.chunks(1).collect();
        assert_eq!(feed_server(&bytes), whole, "{d:?}");
        assert_eq!(buffered_server(&bytes), whole, "{d:?}");
        let whole = feed_client(d, &[&res]);
        assert!(
            matches!(whole, Ok(Some(ClientEvent::Connected(_)))),
            "{d:?}: {whole:?}"
        );
        let bytes: Vec<&[u8]> = res.chunks(1).collect();
        assert_eq!(feed_client(d, &bytes), whole, "{d:?}");
        assert_eq!(buffered_client(d, &bytes), whole, "{d:?}");
    }
}

#[test]
fn errors_are_the_same_one_byte_at_a_time() {
    let bad = rfc6455_with(&[("Sec-WebSocket-Version", Some("99"))]);
    let bytes: Vec<&[u8]> = bad.chunks(1).collect();
    assert_eq!(feed_server(&bytes), feed_server(&[&bad]));
}

fn splits(len: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..=len, 0..8).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

fn cut<'a>(data: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for &p in points {
        out.push(&data[start..p]);
        start = p;
    }
    out.push(&data[start..]);
    out
}

proptest! {
    #[test]
    fn random_splits_give_the_same_result(d in 0usize..7, points in splits(400)) {
        let d = Dialect::ALL[d];
        let (req, res) = exchange(d);
        let p: Vec<usize> = points.iter().map(|&x| x.min(req.len())).collect();
        prop_assert_eq!(feed_server(&cut(&req, &p)), feed_server(&[&req]));
        let p: Vec<usize> = points.iter().map(|&x| x.min(res.len())).collect();
        prop_assert_eq!(feed_client(d, &cut(&res, &p)), feed_client(d, &[&res]));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut s = fresh_server();
        let _ = step_server(&mut s, &data);
        let mut c = client_for(Dialect::Rfc6455);
        let _ = step_client(&mut c, &data);
        let mut h = client_for(Dialect::Hixie76);
        let _ = step_client(&mut h, &data);
    }

    #[test]
    fn mutated_requests_never_panic(d in 0usize..7, pos in 0usize..400, byte in any::<u8>()) {
        let (mut req, mut res) = exchange(Dialect::ALL[d]);
        if let Some(b) = req.get_mut(pos) { *b = byte; }
        if let Some(b) = res.get_mut(pos) { *b = byte; }
        let _ = feed_server(&[&req]);
        let _ = feed_client(Dialect::ALL[d], &[&res]);
    }
}
