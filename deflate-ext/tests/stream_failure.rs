//! deflate-stream (hybi-04..-08): when the compressed byte stream breaks,
//! the frames that were intact before the break are delivered, then the
//! error, however the bytes were split into reads (robustness finding 2 in
//! docs/robustness.md).

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

fn connection(role: Role, dialect: Dialect) -> Connection {
    let ext: Vec<Box<dyn ws_proto::Extension>> = vec![Box::new(DeflateStream::new(Level::FAST))];
    let rng: Option<ws_proto::MaskRng> = match role {
        Role::Client => Some(Box::new(Key)),
        Role::Server => None,
    };
    let mut config = Config::for_dialect(dialect);
    config.hybi04_key = Some([0x42; 20]);
    Connection::new(role, config, ext, rng, Instant::ZERO).unwrap()
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
