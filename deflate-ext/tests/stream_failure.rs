//! deflate-stream (hybi-04..-08): when the compressed byte stream breaks,
//! the frames that were intact before the break are delivered, then the
//! error, however the bytes were split into reads (robustness finding 2 in
//! docs/robustness.md); and the input is inflated on demand, never far
//! ahead of the parser (issue 15, finding 1).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use deflate_ext::{DeflateStream, Level};
use ws_proto::{Config, Connection, Dialect, Event, Instant, Negotiated, Role};

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

fn connection(role: Role, dialect: Dialect) -> Connection {
    connection_with(role, dialect, Config::default(), Level::FAST)
}

fn connection_with(role: Role, dialect: Dialect, config: Config, level: Level) -> Connection {
    let ext: Vec<Box<dyn ws_proto::Extension>> = vec![Box::new(DeflateStream::new(level))];
    let negotiated = Negotiated::new(dialect)
        .with_extensions(ext)
        .with_hybi04_key([0x42; 20]);
    let rng: Option<ws_proto::MaskRng> = match role {
        Role::Client => Some(Box::new(Key)),
        Role::Server => None,
    };
    Connection::new(role, config, negotiated, rng, Instant::ZERO).unwrap()
}

/// Events until the first error, and that error's close code.
fn transcript(server: &mut Connection, reads: &[&[u8]]) -> (Vec<Event>, Option<u16>) {
    let mut events = Vec::new();
    for read in reads {
        if server.receive(Instant::ZERO, read).is_err() {
            break;
        }
        loop {
            match server.poll_event() {
                Ok(Some(ev)) => events.push(ev),
                Ok(None) => break,
                Err(e) => return (events, e.close_code().map(|c| c.0)),
            }
        }
    }
    (events, None)
}

#[test]
fn intact_frames_before_a_corrupt_tail_arrive_whatever_the_reads() {
    for dialect in [
        Dialect::Hybi04,
        Dialect::Hybi05,
        Dialect::Hybi07,
        Dialect::Hybi08,
    ] {
        let mut client = connection(Role::Client, dialect);
        client.send_text("Hello").unwrap();
        client.send_text("World".repeat(50)).unwrap();
        let mut wire = Vec::new();
        client.poll_transmit(&mut wire);
        // A DEFLATE block header with the reserved block type 3: corrupt.
        wire.extend_from_slice(&[0x07, 0xff, 0xff, 0xff]);
        let want = vec![
            Event::Text("Hello".into()),
            Event::Text("World".repeat(50).into()),
        ];

        let whole = transcript(&mut connection(Role::Server, dialect), &[&wire]);
        assert_eq!(whole.0, want, "{dialect:?}, one read");
        let code = whole.1.expect("the corrupt tail is an error");
        for size in [1, 3, 7, 64] {
            let reads: Vec<&[u8]> = wire.chunks(size).collect();
            let split = transcript(&mut connection(Role::Server, dialect), &reads);
            assert_eq!(
                split,
                (want.clone(), Some(code)),
                "{dialect:?}, reads of {size}"
            );
        }
    }
}

// deflate-stream inflates on demand: the decoded bytes a connection holds
// stay within a step of what its parser needs, whatever the compression
// ratio (issue 15, finding 1: a burst of valid frames used to be inflated
// whole at every read, with a budget of `max_message_size` per read).

/// What a hybi-08 deflate-stream client sends for `frames` binary messages
/// of `size` zero bytes each.
fn burst(frames: usize, size: usize) -> Vec<u8> {
    let mut client = connection_with(
        Role::Client,
        Dialect::Hybi08,
        Config::default(),
        Level::BEST,
    );
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
    let mut server = connection_with(
        Role::Server,
        Dialect::Hybi08,
        Config::default(),
        Level::BEST,
    );
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
    let mut server = connection_with(
        Role::Server,
        Dialect::Hybi08,
        Config::default(),
        Level::BEST,
    );
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
    let mut server = connection_with(
        Role::Server,
        Dialect::Hybi08,
        Config::default(),
        Level::BEST,
    );
    server.receive(Instant::ZERO, &wire).unwrap();
    let e = server.poll_event().unwrap_err();
    assert_eq!(e.close_code().map(|c| c.0), Some(1009), "{e}");
    assert!(server.buffer_capacity() <= 1024, "only the close frame");
    // A frame within the limits made of a bomb is a legal message: it is
    // gathered, holding about the frame, not the frame per read.
    let config = Config::default()
        .with_max_frame_size(1 << 20)
        .with_max_message_size(1 << 20);
    let mut plain = vec![0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0];
    plain.extend(std::iter::repeat_n(0u8, 1 << 20));
    let mut wire = Vec::new();
    DeflateStream::new(Level::BEST)
        .encode(&plain, &mut wire)
        .unwrap();
    let mut server = connection_with(Role::Server, Dialect::Hybi08, config, Level::BEST);
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
