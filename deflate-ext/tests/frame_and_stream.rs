//! deflate-frame / x-webkit-deflate-frame and deflate-stream: negotiation
//! tables and codecs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use deflate_ext::frame::{
    DeflateFrameClientConfig, DeflateFrameName, DeflateFrameServerPolicy, X_WEBKIT_DEFLATE_FRAME,
};
use deflate_ext::{
    CodecError, DeflateFrame, DeflateFrameParams, DeflateStream, ExtensionOffer, FrameKind, Level,
    NegotiationError as E, Role, Transform, WindowBits, stream,
};
use http_upgrade::Dialect;

fn el(s: &str) -> ExtensionOffer {
    let mut parts = s.split(';').map(str::trim);
    let mut e = ExtensionOffer::new(parts.next().unwrap());
    for p in parts {
        e = match p.split_once('=') {
            Some((n, v)) => e.with_param(n.trim(), Some(v.trim())),
            None => e.with_param(p, None),
        };
    }
    e
}

#[test]
fn deflate_frame_params_table() {
    let w = |n| WindowBits::new(n);
    let d = DeflateFrameParams::default();
    type Parsed = Result<(DeflateFrameName, DeflateFrameParams), E>;
    let table: Vec<(&str, Parsed)> = vec![
        ("deflate-frame", Ok((DeflateFrameName::DeflateFrame, d))),
        ("x-webkit-deflate-frame", Ok((DeflateFrameName::XWebkit, d))),
        ("X-WebKit-Deflate-Frame", Ok((DeflateFrameName::XWebkit, d))),
        ("permessage-deflate", Err(E::WrongName)),
        (
            "deflate-frame; max_window_bits=8",
            Ok((
                DeflateFrameName::DeflateFrame,
                DeflateFrameParams {
                    max_window_bits: w(8),
                    ..d
                },
            )),
        ),
        (
            "deflate-frame; max_window_bits=15; no_context_takeover",
            Ok((
                DeflateFrameName::DeflateFrame,
                DeflateFrameParams {
                    max_window_bits: w(15),
                    no_context_takeover: true,
                },
            )),
        ),
        (
            "deflate-frame; max_window_bits",
            Err(E::InvalidValue("max_window_bits".into())),
        ),
        (
            "deflate-frame; max_window_bits=7",
            Err(E::InvalidValue("max_window_bits".into())),
        ),
        (
            "deflate-frame; max_window_bits=010",
            Err(E::InvalidValue("max_window_bits".into())),
        ),
        (
            "deflate-frame; no_context_takeover=1",
            Err(E::InvalidValue("no_context_takeover".into())),
        ),
        (
            "deflate-frame; no_context_takeover; no_context_takeover",
            Err(E::DuplicateParam("no_context_takeover".into())),
        ),
        (
            "deflate-frame; max_window_bits=9; max_window_bits=9",
            Err(E::DuplicateParam("max_window_bits".into())),
        ),
        (
            "deflate-frame; server_max_window_bits=9",
            Err(E::UnknownParam("server_max_window_bits".into())),
        ),
    ];
    for (text, want) in table {
        assert_eq!(DeflateFrameParams::parse(&el(text)), want, "{text}");
    }
}

#[test]
fn deflate_frame_negotiation_both_roles() {
    let offers = [
        el("deflate-frame; max_window_bits=3"),
        el("x-webkit-deflate-frame; no_context_takeover"),
        el("deflate-frame"),
    ];
    let policy = DeflateFrameServerPolicy::default()
        .with_request(DeflateFrameParams {
            max_window_bits: WindowBits::new(10),
            no_context_takeover: false,
        })
        .with_min_window_bits(None);
    let (i, agreed) = policy.accept(&offers).unwrap();
    assert_eq!(i, 1);
    assert_eq!(
        agreed.response_element().to_string(),
        "x-webkit-deflate-frame; max_window_bits=10"
    );
    // The client that made offer 1 accepts that answer.
    let client = DeflateFrameClientConfig::default()
        .with_name(DeflateFrameName::XWebkit)
        .with_request(DeflateFrameParams {
            no_context_takeover: true,
            ..Default::default()
        });
    assert_eq!(
        client.offer_element().to_string(),
        "x-webkit-deflate-frame; no_context_takeover"
    );
    assert_eq!(client.validate(&agreed.response_element()), Ok(agreed));
    assert_eq!(client.validate(&el("deflate-frame")), Err(E::WrongName));
    assert_eq!(
        client.validate(&el("x-webkit-deflate-frame; foo")),
        Err(E::UnknownParam("foo".into()))
    );
    let picky = DeflateFrameServerPolicy::default().with_min_window_bits(WindowBits::new(9));
    assert_eq!(
        picky.accept(&[el("deflate-frame; max_window_bits=8")]),
        None
    );
    assert!(deflate_ext::frame::defined_in(Dialect::Rfc6455));
    assert!(!deflate_ext::frame::defined_in(Dialect::Hybi04));
}

#[test]
fn deflate_frame_compresses_every_data_frame_with_rsv1() {
    for (nct, window) in [(false, None), (true, WindowBits::new(9))] {
        let params = DeflateFrameParams {
            max_window_bits: window,
            no_context_takeover: nct,
        };
        let client_cfg = DeflateFrameClientConfig::default()
            .with_name(DeflateFrameName::DeflateFrame)
            .with_request(params);
        let server = DeflateFrameServerPolicy::default()
            .with_request(params)
            .with_min_window_bits(None);
        let (_, agreed) = server.accept(&[client_cfg.offer_element()]).unwrap();
        let agreed_c = client_cfg.validate(&agreed.response_element()).unwrap();
        let mut c = DeflateFrame::new(Role::Client, agreed_c, Level::FAST, 0);
        let mut s = DeflateFrame::new(Role::Server, agreed, Level::FAST, 0);
        assert_eq!(c.allocated(), (false, false));
        let mut outputs = Vec::new();
        for (kind, payload) in [
            (FrameKind::First, &b"Hello"[..]),
            (FrameKind::Continuation, b"Hello"),
            (FrameKind::First, b"Hello"),
        ] {
            let mut z = Vec::new();
            assert_eq!(
                c.encode_frame(kind, payload, &mut z),
                Ok(Transform::Replaced { rsv1: true })
            );
            let mut back = Vec::new();
            assert_eq!(
                s.decode_frame(kind, true, &z, 100, &mut back),
                Ok(Transform::Replaced { rsv1: false })
            );
            assert_eq!(back, payload);
            outputs.push(z);
        }
        assert_eq!(outputs[0], [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        // Context takeover shrinks the repeats; no_context_takeover does not.
        assert_eq!(outputs[1] == outputs[0], nct);
        let mut z = Vec::new();
        assert_eq!(
            s.encode_frame(FrameKind::Control, b"ping", &mut z),
            Ok(Transform::Unchanged)
        );
        assert_eq!(
            c.decode_frame(FrameKind::First, false, b"plain", 100, &mut z),
            Ok(Transform::Unchanged)
        );
        assert_eq!(
            c.decode_frame(FrameKind::Control, true, b"x", 100, &mut z),
            Err(CodecError::Rsv1Misplaced)
        );
        assert_eq!(
            c.decode_frame(FrameKind::First, false, b"plain", 100, &mut z),
            Err(CodecError::Rsv1Misplaced)
        );
    }
}

#[test]
fn deflate_frame_inflation_is_bounded() {
    let agreed = DeflateFrameClientConfig::default()
        .validate(&el(X_WEBKIT_DEFLATE_FRAME))
        .unwrap();
    let mut c = DeflateFrame::new(Role::Client, agreed, Level::BEST, 0);
    let mut s = DeflateFrame::new(Role::Server, agreed, Level::BEST, 0);
    let mut z = Vec::new();
    c.encode_frame(FrameKind::First, &vec![b'a'; 100_000], &mut z)
        .unwrap();
    let mut out = b"earlier".to_vec();
    let err = s
        .decode_frame(FrameKind::First, true, &z, 1000, &mut out)
        .unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::TooBig {
                size: 1001,
                max: 1000
            }
        ),
        "{err:?}"
    );
    assert!(out.capacity() <= 1008);
    let code = ws_proto::Error::from(ws_proto::ExtensionError::from(err)).close_code();
    assert_eq!(code.map(|c| c.0), Some(1009));
}

#[test]
fn deflate_stream_negotiation() {
    assert_eq!(stream::element().to_string(), "deflate-stream");
    assert_eq!(stream::validate(&el("deflate-stream")), Ok(()));
    assert_eq!(stream::validate(&el("Deflate-Stream")), Ok(()));
    assert_eq!(
        stream::validate(&el("deflate-stream; x=1")),
        Err(E::UnknownParam("x".into()))
    );
    assert_eq!(stream::validate(&el("deflate-frame")), Err(E::WrongName));
    for d in Dialect::ALL {
        let expected = matches!(d.version(), Some(4..=8));
        assert_eq!(stream::defined_in(d), expected, "{d:?}");
    }
}

#[test]
fn deflate_stream_round_trips_arbitrary_splits() {
    let mut a = DeflateStream::new(Level::FAST);
    let mut b = DeflateStream::new(Level::FAST);
    assert_eq!(a.allocated(), (false, false));
    // Two hybi frames worth of bytes, written in three writes.
    let writes: [&[u8]; 3] = [
        &[0x84, 0x05],
        b"Hello",
        &[0x84, 0x05, b'H', b'e', b'l', b'l', b'o'],
    ];
    let mut wire = Vec::new();
    let mut cuts = Vec::new();
    for w in writes {
        a.encode(w, &mut wire).unwrap();
        assert!(
            wire.ends_with(&[0x00, 0x00, 0xff, 0xff]),
            "each write is flushed"
        );
        cuts.push(wire.len());
    }
    // The receiver gets the bytes in odd pieces; everything written so far
    // decodes as soon as it arrives.
    let mut plain = Vec::new();
    for piece in wire.chunks(3) {
        b.decode(piece, &mut plain, 1 << 16).unwrap();
    }
    assert_eq!(plain, writes.concat());
    let mut bomb = DeflateStream::new(Level::BEST);
    let mut z = Vec::new();
    bomb.encode(&vec![0u8; 1 << 20], &mut z).unwrap();
    let mut out = Vec::new();
    let mut rx = DeflateStream::new(Level::FAST);
    assert!(matches!(
        rx.decode(&z, &mut out, 4096),
        Err(CodecError::TooBig { max: 4096, .. })
    ));
    assert!(
        matches!(
            rx.decode(b"", &mut out, 4096),
            Err(CodecError::TooBig { .. })
        ),
        "permanent"
    );
}
