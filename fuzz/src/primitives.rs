//! `primitives`: masking, incremental UTF-8 validation and close bodies,
//! each checked against a reference.
//!
//! Asserts: `apply_mask` (the word loop, the crate's one `unsafe`-adjacent
//! hot path) equals `apply_mask_naive` for any key, phase and split, and is
//! an involution; `Utf8Validator` fed in arbitrary chunks agrees with
//! `core::str::from_utf8` (and so does `utf8::validate`); `parse_close_body`
//! accepts exactly a sendable code plus a UTF-8 reason and maps every
//! rejection to a close code.

use arbitrary::Arbitrary;
use ws_proto::close::parse_close_body;
use ws_proto::mask::apply_mask_naive;
use ws_proto::{Bytes, CloseCode, Error, Utf8Validator, apply_mask};

use crate::check;
use crate::util::{ChunkPlan, split_input};

/// The fixed-size prefix of a `primitives` input; the rest is the data.
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct PrimInput {
    /// Mask key.
    pub key: [u8; 4],
    /// Starting phase.
    pub phase: u8,
    /// Splits for incremental masking and validation.
    pub chunks: ChunkPlan,
}

/// The harness.
pub fn run(data: &[u8]) {
    let (input, bytes): (PrimInput, _) = split_input(data);
    mask(&input, bytes);
    utf8(&input, bytes);
    close_body(bytes);
}

fn mask(input: &PrimInput, bytes: &[u8]) {
    let phase = usize::from(input.phase);
    let mut fast = bytes.to_vec();
    let mut slow = bytes.to_vec();
    let p1 = apply_mask(&mut fast, input.key, phase);
    let p2 = apply_mask_naive(&mut slow, input.key, phase);
    assert_eq!(fast, slow, "apply_mask differs from the reference");
    assert_eq!(p1, p2, "next phase differs");
    assert_eq!(p1, (phase + bytes.len()) % 4);
    // In pieces, carrying the phase, gives the same.
    let mut pieces = bytes.to_vec();
    let mut p = phase;
    let mut at = 0;
    for c in input.chunks.split(bytes) {
        p = apply_mask(&mut pieces[at..at + c.len()], input.key, p);
        at += c.len();
    }
    assert_eq!(pieces, fast, "split masking differs");
    apply_mask(&mut fast, input.key, phase);
    assert_eq!(fast, bytes, "masking twice does not restore");
}

fn utf8(input: &PrimInput, bytes: &[u8]) {
    let valid = core::str::from_utf8(bytes).is_ok();
    assert_eq!(ws_proto::utf8::validate(bytes).is_ok(), valid, "validate");
    let mut v = Utf8Validator::new();
    let mut fed = 0;
    for c in input.chunks.split(bytes) {
        if v.feed(c).is_err() {
            assert!(
                !valid,
                "validator refused valid UTF-8 at chunk end {fed}+{}",
                c.len()
            );
            // Fail fast: the prefix up to here cannot be completed.
            return;
        }
        fed += c.len();
        let prefix_ok = core::str::from_utf8(&bytes[..fed]).is_ok();
        assert_eq!(v.is_boundary(), prefix_ok, "boundary after {fed} bytes");
    }
    assert_eq!(v.finish().is_ok(), valid, "finish");
}

fn close_body(bytes: &[u8]) {
    match parse_close_body(Bytes::copy_from_slice(bytes)) {
        Ok((None, reason)) => {
            assert!(bytes.is_empty());
            assert!(reason.is_empty());
        }
        Ok((Some(code), reason)) => {
            assert!(bytes.len() >= 2);
            assert_eq!(code, CloseCode(u16::from_be_bytes([bytes[0], bytes[1]])));
            assert!(code.is_sendable());
            assert_eq!(reason.as_bytes(), &bytes[2..]);
            assert!(core::str::from_utf8(&bytes[2..]).is_ok());
        }
        Err(e) => {
            let e = Error::from(e);
            check::conn_error(&e);
            let code_ok = bytes.len() >= 2
                && CloseCode(u16::from_be_bytes([bytes[0], bytes[1]])).is_sendable();
            assert!(
                bytes.len() == 1 || !code_ok || core::str::from_utf8(&bytes[2..]).is_err(),
                "valid close body refused: {e:?}"
            );
        }
    }
}
