//! RFC 7692 §7.2.3 examples, byte for byte, through the permessage-deflate
//! codec. Frame headers are built by hand here (FIN/RSV1/opcode, 7-bit length,
//! unmasked) so the test pins the whole frame as printed in the RFC.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use deflate_ext::pmd::codec::IdleState;
use deflate_ext::{
    Budget, CodecError, FrameKind, Level, PerMessageDeflate, PmdAgreed, PmdConfig, Role, Transform,
    WindowBits,
};

const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
const TEXT: u8 = 0x1;

fn frame(fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut f = vec![
        u8::from(fin) << 7 | u8::from(rsv1) << 6 | opcode,
        payload.len() as u8,
    ];
    f.extend_from_slice(payload);
    f
}

fn config(level: Level) -> PmdConfig {
    PmdConfig::default()
        .with_level(level)
        .with_threshold(0)
        .with_idle(IdleState::Reset)
}

/// Sends `msg` as one frame, returns the frame bytes.
fn send(ext: &mut PerMessageDeflate, msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match ext
        .encode_frame(FrameKind::First, true, msg, &mut out)
        .unwrap()
    {
        Transform::Replaced { rsv1 } => frame(true, rsv1, TEXT, &out),
        Transform::Unchanged => frame(true, false, TEXT, msg),
    }
}

fn recv(
    ext: &mut PerMessageDeflate,
    frames: &[(FrameKind, bool, bool, &[u8])],
) -> Result<Vec<u8>, CodecError> {
    let mut msg = Vec::new();
    for &(kind, rsv1, fin, payload) in frames {
        let mut out = Vec::new();
        match ext.decode_frame(kind, rsv1, fin, payload, Budget::Message(1 << 20), &mut out)? {
            Transform::Unchanged => msg.extend_from_slice(payload),
            Transform::Replaced { .. } => msg.extend_from_slice(&out),
        }
    }
    Ok(msg)
}

#[test]
fn one_compressed_frame_7_2_3_1() {
    for level in [Level::FAST, Level::DEFAULT, Level::BEST] {
        let mut client = PerMessageDeflate::new(Role::Client, PmdAgreed::default(), config(level));
        assert_eq!(
            send(&mut client, b"Hello"),
            [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            "level {level:?}"
        );
    }
    let mut server =
        PerMessageDeflate::new(Role::Server, PmdAgreed::default(), PmdConfig::default());
    assert_eq!(
        recv(&mut server, &[(FrameKind::First, true, true, &HELLO)]).unwrap(),
        b"Hello"
    );
}

#[test]
fn fragmented_compressed_message_7_2_3_1() {
    // The RFC splits the 7 compressed octets 3 + 4.
    let first = frame(false, true, TEXT, &HELLO[..3]);
    let second = frame(true, false, 0x0, &HELLO[3..]);
    assert_eq!(first, [0x41, 0x03, 0xf2, 0x48, 0xcd]);
    assert_eq!(second, [0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00]);
    let mut server =
        PerMessageDeflate::new(Role::Server, PmdAgreed::default(), PmdConfig::default());
    let msg = recv(
        &mut server,
        &[
            (FrameKind::First, true, false, &first[2..]),
            (FrameKind::Continuation, false, true, &second[2..]),
        ],
    )
    .unwrap();
    assert_eq!(msg, b"Hello");
}

#[test]
fn fragmented_send_sets_rsv1_on_the_first_frame_only() {
    let mut client =
        PerMessageDeflate::new(Role::Client, PmdAgreed::default(), config(Level::FAST));
    let mut server =
        PerMessageDeflate::new(Role::Server, PmdAgreed::default(), PmdConfig::default());
    let parts: [&[u8]; 3] = [b"Hel", b"", b"lo"];
    let mut frames = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let kind = if i == 0 {
            FrameKind::First
        } else {
            FrameKind::Continuation
        };
        let fin = i == parts.len() - 1;
        let mut out = Vec::new();
        let Transform::Replaced { rsv1 } = client.encode_frame(kind, fin, p, &mut out).unwrap()
        else {
            panic!("fragment not compressed")
        };
        assert_eq!(rsv1, i == 0);
        frames.push((kind, rsv1, fin, out));
    }
    let view: Vec<_> = frames
        .iter()
        .map(|(k, r, f, p)| (*k, *r, *f, p.as_slice()))
        .collect();
    assert_eq!(recv(&mut server, &view).unwrap(), b"Hello");
}

#[test]
fn uncompressed_message_in_between_7_2_3_2() {
    // A message with RSV1 clear is taken as is and does not touch the window.
    let mut server =
        PerMessageDeflate::new(Role::Server, PmdAgreed::default(), PmdConfig::default());
    assert_eq!(
        recv(&mut server, &[(FrameKind::First, true, true, &HELLO)]).unwrap(),
        b"Hello"
    );
    assert_eq!(
        recv(&mut server, &[(FrameKind::First, false, true, b"Hello")]).unwrap(),
        b"Hello"
    );
    let second = [0xf2, 0x00, 0x11, 0x00, 0x00];
    assert_eq!(
        recv(&mut server, &[(FrameKind::First, true, true, &second)]).unwrap(),
        b"Hello"
    );
    // The threshold sends short messages uncompressed, RSV1 clear.
    let cfg = PmdConfig::default().with_threshold(6);
    let mut client = PerMessageDeflate::new(Role::Client, PmdAgreed::default(), cfg);
    assert_eq!(
        send(&mut client, b"Hello"),
        frame(true, false, TEXT, b"Hello")
    );
}

#[test]
fn context_takeover_7_2_3_2() {
    for level in [Level::DEFAULT, Level::BEST] {
        let mut client = PerMessageDeflate::new(Role::Client, PmdAgreed::default(), config(level));
        assert_eq!(send(&mut client, b"Hello")[2..], HELLO);
        assert_eq!(
            send(&mut client, b"Hello")[2..],
            [0xf2, 0x00, 0x11, 0x00, 0x00]
        );
    }
    // Level 1 (zlib-rs's deflate_quick) codes the same match in 4 octets,
    // an equally valid encoding; both inflate to "Hello" after the first.
    let mut client =
        PerMessageDeflate::new(Role::Client, PmdAgreed::default(), config(Level::FAST));
    assert_eq!(send(&mut client, b"Hello")[2..], HELLO);
    assert_eq!(send(&mut client, b"Hello")[2..], [0x02, 0x13, 0x00, 0x00]);
    for second in [
        &[0xf2, 0x00, 0x11, 0x00, 0x00][..],
        &[0x02, 0x13, 0x00, 0x00],
    ] {
        let mut server =
            PerMessageDeflate::new(Role::Server, PmdAgreed::default(), PmdConfig::default());
        assert_eq!(
            recv(&mut server, &[(FrameKind::First, true, true, &HELLO)]).unwrap(),
            b"Hello"
        );
        assert_eq!(
            recv(&mut server, &[(FrameKind::First, true, true, second)]).unwrap(),
            b"Hello"
        );
    }
    // With client_no_context_takeover both payloads are the same.
    let agreed = PmdAgreed {
        client_no_context_takeover: true,
        ..PmdAgreed::default()
    };
    for idle in [IdleState::Reset, IdleState::Release] {
        let cfg = config(Level::FAST).with_idle(idle);
        let mut client = PerMessageDeflate::new(Role::Client, agreed, cfg);
        assert_eq!(send(&mut client, b"Hello")[2..], HELLO);
        assert_eq!(send(&mut client, b"Hello")[2..], HELLO);
        assert_eq!(client.allocated().0, idle == IdleState::Reset);
        // The server inflates both, resetting between them.
        let mut server =
            PerMessageDeflate::new(Role::Server, agreed, PmdConfig::default().with_idle(idle));
        for _ in 0..2 {
            assert_eq!(
                recv(&mut server, &[(FrameKind::First, true, true, &HELLO)]).unwrap(),
                b"Hello"
            );
        }
        assert_eq!(server.allocated().1, idle == IdleState::Reset);
    }
    // The server side of the same rule: server_no_context_takeover.
    let agreed = PmdAgreed {
        server_no_context_takeover: true,
        ..PmdAgreed::default()
    };
    let mut server = PerMessageDeflate::new(Role::Server, agreed, config(Level::FAST));
    assert_eq!(send(&mut server, b"Hello")[2..], HELLO);
    assert_eq!(send(&mut server, b"Hello")[2..], HELLO);
}

#[test]
fn stored_block_7_2_3_3() {
    let wire = [
        0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    let mut server =
        PerMessageDeflate::new(Role::Server, PmdAgreed::default(), PmdConfig::default());
    assert_eq!(
        recv(&mut server, &[(FrameKind::First, true, true, &wire[2..])]).unwrap(),
        b"Hello"
    );
    // Level 0 produces exactly this frame.
    let mut client =
        PerMessageDeflate::new(Role::Client, PmdAgreed::default(), config(Level::NONE));
    assert_eq!(send(&mut client, b"Hello"), wire);
}

#[test]
fn bfinal_block_and_two_blocks_7_2_3_4_and_5() {
    let mut server =
        PerMessageDeflate::new(Role::Server, PmdAgreed::default(), PmdConfig::default());
    let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    assert_eq!(
        recv(&mut server, &[(FrameKind::First, true, true, &bfinal)]).unwrap(),
        b"Hello"
    );
    let two = [
        0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
    ];
    assert_eq!(
        recv(&mut server, &[(FrameKind::First, true, true, &two)]).unwrap(),
        b"Hello"
    );
}

#[test]
fn empty_fragment_7_2_3_6() {
    // A non-final fragment keeps its 00 00 ff ff (§7.2.1); the final,
    // empty-handed one is the single octet 00.
    let first = [&HELLO[..], &[0x00, 0x00, 0xff, 0xff]].concat();
    let mut server =
        PerMessageDeflate::new(Role::Server, PmdAgreed::default(), PmdConfig::default());
    let msg = recv(
        &mut server,
        &[
            (FrameKind::First, true, false, &first),
            (FrameKind::Continuation, false, true, &[0x00]),
        ],
    )
    .unwrap();
    assert_eq!(msg, b"Hello");
    // An empty message compresses to the single octet 00.
    let mut client =
        PerMessageDeflate::new(Role::Client, PmdAgreed::default(), config(Level::FAST));
    assert_eq!(send(&mut client, b""), [0xc1, 0x01, 0x00]);
}

#[test]
fn rsv1_misplaced_and_control_frames() {
    let mut server =
        PerMessageDeflate::new(Role::Server, PmdAgreed::default(), PmdConfig::default());
    let mut out = Vec::new();
    // Control frames pass through both ways.
    assert_eq!(
        server.decode_frame(
            FrameKind::Control,
            false,
            true,
            b"ping",
            Budget::Message(10),
            &mut out
        ),
        Ok(Transform::Unchanged)
    );
    assert_eq!(
        server.encode_frame(FrameKind::Control, true, b"ping", &mut out),
        Ok(Transform::Unchanged)
    );
    assert_eq!(
        server.decode_frame(
            FrameKind::Control,
            true,
            true,
            b"x",
            Budget::Message(10),
            &mut out
        ),
        Err(CodecError::Rsv1Misplaced)
    );
    let mut server =
        PerMessageDeflate::new(Role::Server, PmdAgreed::default(), PmdConfig::default());
    server
        .decode_frame(
            FrameKind::First,
            true,
            false,
            &HELLO[..3],
            Budget::Message(10),
            &mut out,
        )
        .unwrap();
    assert_eq!(
        server.decode_frame(
            FrameKind::Continuation,
            true,
            true,
            &HELLO[3..],
            Budget::Message(10),
            &mut out
        ),
        Err(CodecError::Rsv1Misplaced)
    );
    // The failure is permanent.
    assert_eq!(
        server.decode_frame(
            FrameKind::First,
            false,
            true,
            b"x",
            Budget::Message(10),
            &mut out
        ),
        Err(CodecError::Rsv1Misplaced)
    );
    let code = ws_proto::Error::from(ws_proto::ExtensionError::from(CodecError::Rsv1Misplaced));
    assert_eq!(code.close_code().map(|c| c.0), Some(1002));
}

#[test]
fn small_windows_round_trip_both_roles() {
    for bits in 8..=15 {
        let w = WindowBits::new(bits).unwrap();
        let agreed = PmdAgreed {
            server_max_window_bits: Some(w),
            client_max_window_bits: Some(w),
            ..PmdAgreed::default()
        };
        let mut client = PerMessageDeflate::new(Role::Client, agreed, PmdConfig::default());
        let mut server = PerMessageDeflate::new(Role::Server, agreed, PmdConfig::default());
        let msg: Vec<u8> = (0..5000u32)
            .map(|i| b"abcdefgh"[(i * 7 % 8) as usize] ^ (i >> 9) as u8)
            .collect();
        for (a, b) in [(&mut client, &mut server)] {
            for _ in 0..3 {
                let mut z = Vec::new();
                a.encode_frame(FrameKind::First, true, &msg, &mut z)
                    .unwrap();
                assert_eq!(recv(b, &[(FrameKind::First, true, true, &z)]).unwrap(), msg);
                let mut z = Vec::new();
                b.encode_frame(FrameKind::First, true, &msg, &mut z)
                    .unwrap();
                assert_eq!(recv(a, &[(FrameKind::First, true, true, &z)]).unwrap(), msg);
            }
        }
    }
}
