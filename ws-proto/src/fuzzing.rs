//! [`Arbitrary`] for the public input types (feature `arbitrary`), for
//! people fuzzing code built on this crate with cargo-fuzz.
//!
//! The values stay inside what the types promise, so a harness spends its
//! time in the user's code rather than on errors the type system would
//! reject anyway:
//!
//! - [`Message`]: text (any UTF-8), binary, ping and pong (payload cut to
//!   125 bytes, RFC 6455 §5.5), close (a code and a reason cut to 123
//!   bytes at a character boundary, §5.5.1);
//! - [`CloseCode`]: three times in four a sendable code (§7.4.1, §7.4.2:
//!   1000–1003, 1007–1014, 3000–4999), else any `u16` (so a handler meets
//!   the codes a peer may not send);
//! - [`FrameHeader`] and [`OpCode`]: any header
//!   [`to_bytes`](FrameHeader::to_bytes) can encode (a length below 2^63,
//!   RSV bits only in their place), valid or not for its opcode, to feed
//!   decoders;
//! - [`Config`]: limits from 1 byte to 64 MiB, any receive mode, timeouts
//!   from 1 ms to 60 s or off; always a configuration
//!   [`Connection::server`](crate::Connection::server) accepts;
//! - [`Utf8Bytes`] and [`ReceiveMode`].
//!
//! ```
//! use arbitrary::{Arbitrary, Unstructured};
//! use ws_proto::{Message, Config};
//!
//! let raw = [7u8; 64]; // what libFuzzer hands a fuzz target
//! let mut u = Unstructured::new(&raw);
//! let config = Config::arbitrary(&mut u).unwrap();
//! let msg = Message::arbitrary(&mut u).unwrap();
//! if let Message::Ping(p) = &msg {
//!     assert!(p.len() <= 125);
//! }
//! assert!(config.max_message_size >= 1);
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use arbitrary::{Arbitrary, Result, Unstructured};
use bytes::Bytes;

use crate::close::MAX_REASON_LEN;
use crate::frame::MAX_CONTROL_PAYLOAD;
use crate::{CloseCode, Config, FrameHeader, Message, OpCode, ReceiveMode, Utf8Bytes};

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl<'a> Arbitrary<'a> for Utf8Bytes {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Utf8Bytes::from(String::arbitrary(u)?))
    }
}

impl<'a> Arbitrary<'a> for CloseCode {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        if u.ratio(1u8, 4u8)? {
            return Ok(CloseCode(u16::arbitrary(u)?));
        }
        let code = match u.int_in_range(0u16..=2010)? {
            n @ 0..=3 => 1000 + n,
            n @ 4..=11 => 1003 + n,
            n => 3000 + (n - 12) % 2000,
        };
        Ok(CloseCode(code))
    }
}

impl<'a> Arbitrary<'a> for OpCode {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(*u.choose(&[
            OpCode::Continuation,
            OpCode::Text,
            OpCode::Binary,
            OpCode::Close,
            OpCode::Ping,
            OpCode::Pong,
        ])?)
    }
}

impl<'a> Arbitrary<'a> for FrameHeader {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(FrameHeader {
            fin: bool::arbitrary(u)?,
            rsv: u8::arbitrary(u)? & 0x70,
            opcode: OpCode::arbitrary(u)?,
            mask: Option::<[u8; 4]>::arbitrary(u)?,
            payload_len: u64::arbitrary(u)? >> 1,
        })
    }
}

impl<'a> Arbitrary<'a> for Message {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let control = |u: &mut Unstructured<'a>| -> Result<Bytes> {
            let mut v = Vec::<u8>::arbitrary(u)?;
            v.truncate(MAX_CONTROL_PAYLOAD);
            Ok(Bytes::from(v))
        };
        Ok(match u.int_in_range(0u8..=4)? {
            0 => Message::Text(Utf8Bytes::arbitrary(u)?),
            1 => Message::Binary(Bytes::from(Vec::<u8>::arbitrary(u)?)),
            2 => Message::Ping(control(u)?),
            3 => Message::Pong(control(u)?),
            _ => Message::Close {
                code: CloseCode::arbitrary(u)?,
                reason: Utf8Bytes::from(cut(String::arbitrary(u)?, MAX_REASON_LEN)),
            },
        })
    }
}

impl<'a> Arbitrary<'a> for ReceiveMode {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.int_in_range(0u8..=2)? {
            0 => ReceiveMode::Whole,
            1 => ReceiveMode::Stream,
            _ => ReceiveMode::Threshold(u.int_in_range(0usize..=1 << 20)?),
        })
    }
}

/// A duration from 1 ms to 60 s.
fn millis(u: &mut Unstructured<'_>) -> Result<Duration> {
    Ok(Duration::from_millis(u.int_in_range(1u64..=60_000)?))
}

/// `None`, or a duration from 1 ms to 60 s.
fn maybe_millis(u: &mut Unstructured<'_>) -> Result<Option<Duration>> {
    Ok(if bool::arbitrary(u)? {
        Some(millis(u)?)
    } else {
        None
    })
}

impl<'a> Arbitrary<'a> for Config {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        const MAX: u64 = 64 << 20;
        Ok(Config {
            max_frame_size: u.int_in_range(1..=MAX)?,
            max_message_size: u.int_in_range(1..=MAX)?,
            max_fragments: u.int_in_range(1..=1 << 16)?,
            fragment_size: if bool::arbitrary(u)? {
                Some(u.int_in_range(1usize..=1 << 16)?)
            } else {
                None
            },
            receive_mode: ReceiveMode::arbitrary(u)?,
            auto_pong: bool::arbitrary(u)?,
            close_timeout: millis(u)?,
            keep_alive: maybe_millis(u)?,
            idle_timeout: maybe_millis(u)?,
            stall_timeout: maybe_millis(u)?,
            write_timeout: maybe_millis(u)?,
            pong_timeout: maybe_millis(u)?,
            buffer_linger: maybe_millis(u)?,
        })
    }
}
