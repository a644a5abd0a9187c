//! deflate-stream inflates on demand: the decoded bytes a connection holds
//! stay within a step of what its parser needs, whatever the compression
//! ratio (issue 15, finding 1: a burst of valid frames used to be inflated
//! whole at every read, with a budget of `max_message_size` per read).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use deflate_ext::{DeflateStream, Level};
use ws_proto::{Config, Connection, Dialect, Event, Instant, Role};

struct Key;
impl rand_core::TryRng for Key {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(0x0bad_cafe)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(0x0bad_cafe)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.fill(0x5a);
        Ok(())
    }
}

fn connection(role: Role, config: Config) -> Connection {
    let ext: Vec<Box<dyn ws_proto::Extension>> = vec![Box::new(DeflateStream::new(Level::BEST))];
    let rng: Option<ws_proto::MaskRng> = match role {
        Role::Client => Some(Box::new(Key)),
        Role::Server => None,
    };
    Connection::new(role, config, ext, rng, Instant::ZERO).unwrap()
}

/// What a hybi-08 deflate-stream client sends for `frames` binary messages
/// of `size` zero bytes each.
fn burst(frames: usize, size: usize) -> Vec<u8> {
    let mut client = connection(Role::Client, Config::for_dialect(Dialect::Hybi08));
    let mut wire = Vec::new();
    for _ in 0..frames {
        client.send_binary(vec![0u8; size]).unwrap();
        client.poll_transmit(&mut wire);
    }
    wire
}

#[test]
fn a_compressed_burst_is_inflated_no_further_than_the_parser_goes() {
    // 64 frames of 64 KiB (4 MiB decoded) in a few KiB of wire.
    let wire = burst(64, 64 << 10);
    let mut server = connection(Role::Server, Config::for_dialect(Dialect::Hybi08));
    assert!(wire.len() < 64 << 10, "wire {} bytes", wire.len());
    // All of it arrives before the application polls.
    server.receive(Instant::ZERO, &wire).unwrap();
    assert!(
        server.buffer_capacity() <= 2 * wire.len(),
        "holds {} bytes after receiving {} (nothing decoded yet)",
        server.buffer_capacity(),
        wire.len()
    );
    let mut peak = 0;
    let mut count = 0;
    while let Some(ev) = server.poll_event().unwrap() {
        peak = peak.max(server.buffer_capacity());
        assert!(matches!(ev, Event::Binary(ref b) if b.len() == 64 << 10));
        count += 1;
    }
    assert_eq!(count, 64);
    assert!(
        peak <= 256 << 10,
        "held {peak} bytes at the peak for 64 KiB frames"
    );
    assert_eq!(server.buffer_capacity(), 0, "idle: nothing held");
}

#[test]
fn a_partial_header_after_a_burst_holds_only_itself() {
    // The client's compressed stream: a burst, then one byte of a next
    // frame, flushed (what finding 1's attacker sends before going idle).
    let mut codec = DeflateStream::new(Level::BEST);
    let mut plain = Vec::new();
    for _ in 0..64 {
        // hybi-08 binary frame, FIN, masked with a zero key, 64 KiB.
        plain.extend_from_slice(&[0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        plain.extend(std::iter::repeat_n(0u8, 64 << 10));
    }
    plain.push(0x82);
    let mut wire = Vec::new();
    codec.encode(&plain, &mut wire).unwrap();
    let mut server = connection(Role::Server, Config::for_dialect(Dialect::Hybi08));
    server.receive(Instant::ZERO, &wire).unwrap();
    let mut n = 0;
    while let Some(ev) = server.poll_event().unwrap() {
        drop(ev);
        n += 1;
    }
    assert_eq!(n, 64);
    assert_eq!(server.buffered_receive(), 1);
    assert!(
        server.buffer_capacity() <= 64,
        "one header byte holds {} bytes",
        server.buffer_capacity()
    );
}

#[test]
fn a_deflate_stream_bomb_costs_time_not_memory() {
    // A frame header announcing 100 MB (over the 16 MiB frame limit) and
    // the zeros: refused on the header with 1009, after inflating a step.
    let mut codec = DeflateStream::new(Level::BEST);
    let mut plain = vec![0x82, 0xff, 0, 0, 0, 0, 0x05, 0xf5, 0xe1, 0x00, 1, 2, 3, 4];
    plain.extend(std::iter::repeat_n(0u8, 8 << 20));
    let mut wire = Vec::new();
    codec.encode(&plain, &mut wire).unwrap();
    let mut server = connection(Role::Server, Config::for_dialect(Dialect::Hybi08));
    server.receive(Instant::ZERO, &wire).unwrap();
    let e = server.poll_event().unwrap_err();
    assert_eq!(e.close_code().map(|c| c.0), Some(1009), "{e}");
    assert!(server.buffer_capacity() <= 1024, "only the close frame");
    // A frame within the limits made of a bomb is a legal message: it is
    // gathered, holding about the frame, not the frame per read.
    let config = Config {
        max_frame_size: 1 << 20,
        max_message_size: 1 << 20,
        ..Config::for_dialect(Dialect::Hybi08)
    };
    let mut plain = vec![0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0];
    plain.extend(std::iter::repeat_n(0u8, 1 << 20));
    let mut wire = Vec::new();
    DeflateStream::new(Level::BEST)
        .encode(&plain, &mut wire)
        .unwrap();
    let mut server = connection(Role::Server, config);
    let mut events = Vec::new();
    for read in wire.chunks(100) {
        server.receive(Instant::ZERO, read).unwrap();
        while let Some(ev) = server.poll_event().unwrap() {
            events.push(ev);
        }
        assert!(server.buffer_capacity() <= (1 << 20) + (128 << 10));
    }
    assert!(matches!(&events[..], [Event::Binary(b)] if b.len() == 1 << 20));
}
