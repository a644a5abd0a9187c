//! Large frames are read in place (RFC 6455 §5.2): once a header announces
//! a payload, the receive buffer reserves room for the rest of it, bounded
//! by what has arrived, so an honest 1 MiB frame lands in one allocation
//! (no doubling copies) and a peer announcing 16 MiB and sending one byte
//! gets no more than `FRAME_RESERVE` of untouched capacity.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ws_proto::{Config, Connection, Event, FRAME_RESERVE, Instant};

const PIECE: usize = 64 * 1024;

fn masked_header(len: u64) -> Vec<u8> {
    let mut h = vec![0x82];
    if len < 126 {
        h.push(0x80 | len as u8);
    } else if len <= 0xffff {
        h.push(0x80 | 126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(0x80 | 127);
        h.extend_from_slice(&len.to_be_bytes());
    }
    h.extend_from_slice(&[0, 0, 0, 0]); // a zero mask: the payload reads as sent
    h
}

fn server(max: u64) -> Connection {
    Connection::server(
        Config::default()
            .with_max_frame_size(max)
            .with_max_message_size(max),
        Instant::ZERO,
    )
    .unwrap()
}

/// Reads `payload` (after `header`) as the adapters do: the header and
/// the first piece copied in with `receive`, the rest into `recv_buf`.
/// Returns the addresses of the lent pieces.
fn read_in_pieces(c: &mut Connection, header: &[u8], payload: &[u8]) -> Vec<usize> {
    let first = PIECE - header.len();
    let mut head = header.to_vec();
    head.extend_from_slice(&payload[..first]);
    c.receive(Instant::ZERO, &head).unwrap();
    assert!(c.poll_event().unwrap().is_none());
    let mut at = first;
    let mut lent = Vec::new();
    while at < payload.len() {
        let want = usize::try_from(c.frame_bytes_expected())
            .unwrap()
            .min(PIECE);
        let buf = c.recv_buf(want);
        let n = want.min(buf.len()).min(payload.len() - at);
        lent.push(buf.as_ptr() as usize);
        buf[..n].copy_from_slice(&payload[at..at + n]);
        c.recv_commit(Instant::ZERO, n).unwrap();
        at += n;
    }
    lent
}

#[test]
fn an_honest_large_frame_is_read_into_one_allocation() {
    for size in [200 * 1024, 1 << 20] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        let mut c = server(16 << 20);
        let lent = read_in_pieces(&mut c, &masked_header(size as u64), &payload);
        // Every piece lands right after the previous one: the buffer was
        // never moved (no reallocation, no copy of what had arrived).
        for w in lent.windows(2) {
            assert_eq!(w[1], w[0] + PIECE, "{size}: the buffer moved");
        }
        match c.poll_event().unwrap() {
            Some(Event::Binary(b)) => assert!(b == payload, "{size}: payload differs"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_large_announcement_reserves_only_the_bound() {
    // 16 MiB announced, 1 byte sent: at most FRAME_RESERVE (+ what the
    // allocator rounds) of capacity, none of it filled beyond the lent
    // piece.
    let mut c = server(64 << 20);
    let mut head = masked_header(16 << 20);
    head.push(b'x');
    c.receive(Instant::ZERO, &head).unwrap();
    assert!(c.poll_event().unwrap().is_none());
    let _ = c.recv_buf(PIECE);
    let cap = c.buffer_capacity();
    assert!(cap >= FRAME_RESERVE, "{cap}");
    assert!(cap <= 2 * FRAME_RESERVE + 2 * PIECE, "{cap}");
    // A peer that sent 3 MiB of a 16 MiB frame gets capacity in
    // proportion (as much again, which the buffer's growth may round up).
    let mut c = server(64 << 20);
    let payload = vec![1u8; 3 << 20];
    let header = masked_header(16 << 20);
    let _ = read_in_pieces(&mut c, &header, &payload);
    let cap = c.buffer_capacity();
    assert!(cap <= 4 * (3 << 20) + 2 * FRAME_RESERVE, "{cap}");
    // A small frame reserves only itself.
    let mut c = server(64 << 20);
    let mut head = masked_header(20_000);
    head.extend_from_slice(&[2u8; 4000]);
    c.receive(Instant::ZERO, &head).unwrap();
    assert!(c.poll_event().unwrap().is_none());
    let _ = c.recv_buf(16_000);
    assert!(c.buffer_capacity() <= 64 * 1024, "{}", c.buffer_capacity());
}

/// The owned form for completion-based readers: each loan is split off
/// the receive buffer and rejoins it without a copy, so the pieces land
/// one after the other in one allocation, as with `recv_buf`; the
/// connection can be polled and sent on while a loan is out.
#[test]
fn loans_land_in_place_and_survive_service_meanwhile() {
    let size = 1 << 20;
    let payload: Vec<u8> = (0..size).map(|i| (i * 13 % 251) as u8).collect();
    let mut c = server(16 << 20);
    let header = masked_header(size as u64);
    let first = PIECE - header.len();
    let mut head = header.clone();
    head.extend_from_slice(&payload[..first]);
    c.receive(Instant::ZERO, &head).unwrap();
    assert!(c.poll_event().unwrap().is_none());
    let mut at = first;
    let mut addrs = Vec::new();
    while at < size {
        let want = usize::try_from(c.frame_bytes_expected())
            .unwrap()
            .min(PIECE);
        let mut loan = c.lend_recv(want);
        assert!(loan.len() >= want);
        // Served while the read is in flight: nothing to hand out yet,
        // and a send does not touch the loan.
        assert!(c.poll_event().unwrap().is_none());
        c.send_text("meanwhile").unwrap();
        let buf = loan.space();
        addrs.push(buf.as_ptr() as usize);
        let n = want.min(size - at);
        buf[..n].copy_from_slice(&payload[at..at + n]);
        c.commit_loan(Instant::ZERO, loan, n).unwrap();
        at += n;
    }
    for w in addrs.windows(2) {
        assert_eq!(w[1], w[0] + PIECE, "a loan did not rejoin in place");
    }
    match c.poll_event().unwrap() {
        Some(Event::Binary(b)) => assert!(b == payload, "payload differs"),
        other => panic!("{other:?}"),
    }
}

/// A loan committed with fewer bytes than lent leaves the rest lent: the
/// next loan starts right after what was filled. Committing more than was
/// lent is refused.
#[test]
fn short_and_oversized_loan_commits() {
    let mut c = server(1 << 20);
    let mut head = masked_header(100_000);
    head.extend_from_slice(&[5u8; 1000]);
    c.receive(Instant::ZERO, &head).unwrap();
    assert!(c.poll_event().unwrap().is_none());
    let mut loan = c.lend_recv(PIECE);
    let p = loan.space().as_ptr() as usize;
    loan.space()[..10].fill(5);
    c.commit_loan(Instant::ZERO, loan, 10).unwrap();
    let mut loan = c.lend_recv(PIECE - 10);
    assert_eq!(loan.space().as_ptr() as usize, p + 10);
    let len = loan.len();
    assert!(c.commit_loan(Instant::ZERO, loan, len + 1).is_err());
}

/// The owned form of the output (`for_each_transmit_part`): a header is
/// inline, a payload is the very `Bytes` that was sent (cloning it holds
/// the memory without a copy), nothing is consumed, and after a partial
/// `advance_transmit` the parts start where the write stopped.
#[test]
fn transmit_parts_share_payloads_and_consume_nothing() {
    use ws_proto::{Bytes, TransmitPart};
    let mut c = server(1 << 20);
    let big = Bytes::from(vec![0x5a; 20_000]);
    c.send_binary(big.clone()).unwrap();
    c.send_text("hi").unwrap();
    let parts = |c: &Connection| {
        let mut v = Vec::new();
        c.for_each_transmit_part(|p| {
            v.push(match p {
                TransmitPart::Inline(s) => (false, s.as_ptr() as usize, s.to_vec()),
                TransmitPart::Shared(b) => (true, b.as_ptr() as usize, b.to_vec()),
                TransmitPart::Slice(..) => panic!("no fragment was sent"),
            });
            true
        });
        v
    };
    let before = parts(&c);
    assert_eq!(before.len(), 3, "header, payload, the small frame");
    assert_eq!(before[0].2, [0x82, 126, 0x4e, 0x20]);
    assert!(before[1].0, "the payload is shared");
    assert_eq!(before[1].1, big.as_ptr() as usize, "the same memory");
    let small: Vec<u8> = before[2].2.clone();
    assert!(small.ends_with(b"hi") && small[0] == 0x81);
    let total: usize = before.iter().map(|p| p.2.len()).sum();
    assert_eq!(total, c.pending_transmit(), "nothing consumed");
    assert_eq!(parts(&c), before);
    // Stopping early: `f` sees a prefix.
    let mut seen = 0;
    c.for_each_transmit_part(|_| {
        seen += 1;
        false
    });
    assert_eq!(seen, 1);
    // A partial write: the parts resume 100 bytes into the payload.
    c.advance_transmit(4 + 100);
    let after = parts(&c);
    assert_eq!(after[0].1, big.as_ptr() as usize + 100);
    assert_eq!(after[0].2.len(), 20_000 - 100);
    assert_eq!(after[1].2, small);
}

/// A server's message sent in fragments: every fragment's payload is a
/// range of the message's own `Bytes` (held once for all of them), the
/// wire is the reference framing, and writing everything queued at once
/// (mixed with a small frame and a queued pong) leaves the queue empty and
/// ready for more.
#[test]
fn fragments_share_the_message_and_a_whole_write_empties_the_queue() {
    use ws_proto::{Bytes, Config, TransmitPart};
    let config = Config::default().with_fragment_size(Some(4096));
    let mut c = Connection::server(config, Instant::ZERO).unwrap();
    let big = Bytes::from((0..11_000u32).map(|i| i as u8).collect::<Vec<u8>>());
    c.send_binary(big.clone()).unwrap();
    c.send_pong(Bytes::from_static(b"p")).unwrap();
    c.send_text("hi").unwrap();
    let mut shared = Vec::new();
    c.for_each_transmit_part(|p| {
        match p {
            TransmitPart::Slice(b, start, len) => {
                shared.push((b.as_ptr() as usize, b.len(), start, len));
            }
            TransmitPart::Shared(_) => panic!("a fragment with a reference of its own"),
            TransmitPart::Inline(_) => {}
        }
        true
    });
    let base = big.as_ptr() as usize;
    assert_eq!(
        shared,
        [
            (base, 11_000, 0, 4096),
            (base, 11_000, 4096, 4096),
            (base, 11_000, 8192, 2808)
        ],
        "each fragment is a view of the message"
    );
    let mut want = Vec::new();
    for (i, piece) in big.chunks(4096).enumerate() {
        let op = if i == 0 { 0x02 } else { 0x00 };
        let fin = if i == 2 { 0x80 } else { 0 };
        want.push(fin | op);
        if piece.len() < 126 {
            want.push(piece.len() as u8);
        } else {
            want.push(126);
            want.extend_from_slice(&(piece.len() as u16).to_be_bytes());
        }
        want.extend_from_slice(piece);
    }
    want.extend_from_slice(&[0x8a, 1, b'p', 0x81, 2, b'h', b'i']);
    let mut out = Vec::new();
    assert_eq!(c.poll_transmit(&mut out), want.len());
    assert_eq!(out, want);
    assert_eq!(c.pending_transmit(), 0);
    // The queue is reusable: the next output is exactly the next frames.
    c.send_binary(big.slice(..3000)).unwrap();
    c.send_text("ok").unwrap();
    let mut out = Vec::new();
    c.poll_transmit(&mut out);
    assert_eq!(&out[..4], &[0x82, 126, 0x0b, 0xb8]);
    assert_eq!(&out[4..3004], &big[..3000]);
    assert_eq!(&out[3004..], &[0x81, 2, b'o', b'k']);
}

/// Reads `wire[*at..]` into uninitialized room as a transport reading
/// with `rustix::io::read` does: a prefix of the room, at most `max`.
fn fill<'a>(
    room: &'a mut [std::mem::MaybeUninit<u8>],
    wire: &[u8],
    at: &mut usize,
    max: usize,
) -> Result<&'a mut [u8], std::convert::Infallible> {
    let n = room.len().min(wire.len() - *at).min(max);
    let room = &mut room[..n];
    for (d, s) in room.iter_mut().zip(&wire[*at..*at + n]) {
        d.write(*s);
    }
    *at += n;
    // SAFETY: every byte of `room` was written just above
    // (`write_copy_of_slice` does this safely, but needs Rust 1.93).
    #[allow(unsafe_code)]
    let filled = unsafe { &mut *(std::ptr::from_mut(room) as *mut [u8]) };
    Ok(filled)
}

/// A busy connection receiving 16 KiB messages: once the buffer kept from
/// the last messages offers a read's worth of room, each message is read
/// whole into it (`recv_into`, no zero-fill, no copy from a scratch
/// buffer) and handed out from the spot it was read to, and the same
/// allocation serves message after message.
#[test]
fn a_busy_connection_reads_large_messages_in_place() {
    const SIZE: usize = 16 << 10;
    let mut c = server(1 << 20);
    let mut t = Instant::ZERO;
    let mut direct = Vec::new();
    for i in 0..20u8 {
        t = t + core::time::Duration::from_micros(100);
        // A real mask: the payload is unmasked where it was read.
        let payload = vec![i; SIZE];
        let mut wire = vec![0x82, 0x80 | 126];
        wire.extend_from_slice(&(SIZE as u16).to_be_bytes());
        let key = [0x37, 0xfa, 0x21, i];
        wire.extend_from_slice(&key);
        wire.extend(payload.iter().enumerate().map(|(j, b)| b ^ key[j % 4]));
        let room = c.recv_room();
        let mut at = 0;
        let mut read_to = None;
        if room >= SIZE {
            let n = c
                .recv_into(t, room, |r| {
                    read_to = Some(r.as_ptr() as usize);
                    fill(r, &wire, &mut at, usize::MAX)
                })
                .unwrap();
            assert_eq!(n, wire.len(), "message {i}: one read takes it whole");
        } else {
            c.receive(t, &wire).unwrap();
        }
        let Some(Event::Binary(b)) = c.poll_event().unwrap() else {
            panic!("message {i}: no message")
        };
        assert!(b == payload, "message {i}: payload differs");
        if let Some(start) = read_to {
            assert_eq!(b.as_ptr() as usize, start + 8, "message {i}: not in place");
            direct.push(start);
        }
        assert!(c.poll_event().unwrap().is_none());
        drop(b);
    }
    assert!(
        direct.len() >= 15,
        "only {} of 20 read in place",
        direct.len()
    );
    assert!(
        direct.windows(2).all(|w| w[0] == w[1]),
        "the kept buffer is reused: {direct:x?}"
    );
}

/// `recv_into` reserves as `recv_buf` does (bounded by what arrived), takes
/// short and empty reads (an empty read is not the end of the stream), and
/// drops what arrives after the peer's close frame.
#[test]
fn recv_into_bounds_and_partial_reads() {
    // 16 MiB announced, 1 byte sent, then a read of 64 KiB lent.
    let mut c = server(64 << 20);
    let mut head = masked_header(16 << 20);
    head.push(b'x');
    c.receive(Instant::ZERO, &head).unwrap();
    assert!(c.poll_event().unwrap().is_none());
    let wire = vec![b'y'; 100];
    let mut at = 0;
    let n = c
        .recv_into(Instant::ZERO, PIECE, |r| {
            assert_eq!(r.len(), PIECE);
            fill(r, &wire, &mut at, 10)
        })
        .unwrap();
    assert_eq!(n, 10);
    let cap = c.buffer_capacity();
    assert!(cap <= 2 * FRAME_RESERVE + 2 * PIECE, "{cap}");
    assert_eq!(c.frame_bytes_expected(), (16 << 20) - 11);
    // An empty read changes nothing.
    let n = c
        .recv_into(Instant::ZERO, PIECE, |_| {
            Ok::<_, std::convert::Infallible>(Default::default())
        })
        .unwrap();
    assert_eq!(n, 0);
    assert!(c.poll_event().unwrap().is_none());
    assert_eq!(c.frame_bytes_expected(), (16 << 20) - 11);
    // The reader's error is returned as it is; nothing is received.
    let e = c.recv_into(Instant::ZERO, PIECE, |_| Err("boom"));
    assert_eq!(e, Err("boom"));
    assert_eq!(c.frame_bytes_expected(), (16 << 20) - 11);

    // After the peer's close frame, what a read brings is dropped.
    let mut c = server(1 << 20);
    c.receive(Instant::ZERO, &[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8])
        .unwrap();
    assert!(matches!(c.poll_event().unwrap(), Some(Event::Close { .. })));
    let wire = [0x82, 0x81, 0, 0, 0, 0, b'z'];
    let mut at = 0;
    let n = c
        .recv_into(Instant::ZERO, 64, |r| fill(r, &wire, &mut at, usize::MAX))
        .unwrap();
    assert_eq!(n, wire.len());
    assert!(
        c.poll_event().unwrap().is_none(),
        "data after the close frame"
    );
}

/// A reader that returns a slice of some other memory is a bug in the
/// reader: refused loudly, never taken as received bytes.
#[test]
#[should_panic(expected = "not a prefix of the room")]
fn recv_into_refuses_a_foreign_slice() {
    let mut c = server(1 << 20);
    // The reader needs a `'static` slice: leaked, and kept reachable from a
    // static so the leak checker (scripts/sanitize.sh) does not count it.
    static KEPT: std::sync::atomic::AtomicPtr<u8> =
        std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
    let other: &'static mut [u8] = Box::leak(vec![1u8; 8].into_boxed_slice());
    KEPT.store(other.as_mut_ptr(), std::sync::atomic::Ordering::Relaxed);
    let _ = c.recv_into(Instant::ZERO, 64, |_| {
        Ok::<_, std::convert::Infallible>(other)
    });
}

/// Frames back to back read with `recv_into` in reads that end anywhere
/// (an upload: 16 KiB frames in reads of up to 64 KiB in all, as the
/// adapters read while input streams in). When a read leaves part of a
/// frame at the end of the buffer, the next read's room is made in an
/// allocation of exactly what is held plus the room asked for, not a
/// doubled one: each 16 KiB message is then a quarter of its allocation at
/// most and handed out zero copy, ending in the room the last read filled.
/// (`BytesMut::reserve` doubled it to 128 KiB, and every message was
/// copied out for pinning more than four times its size.)
#[test]
#[allow(clippy::incompatible_msrv)] // the tests run on the current stable
fn a_stream_of_frames_read_into_place_is_handed_out_zero_copy() {
    const FRAMES: usize = 64;
    const LEN: usize = 16 * 1024;
    let mut wire = Vec::new();
    for i in 0..FRAMES {
        wire.extend_from_slice(&masked_header(LEN as u64));
        wire.extend(std::iter::repeat_n(i as u8, LEN));
    }
    let mut c = server(1 << 20);
    let mut at = 0;
    let mut got = 0;
    while at < wire.len() {
        let room = PIECE.saturating_sub(c.buffered_receive()).max(16 * 1024);
        let mut last = (0, 0);
        let n = c
            .recv_into(Instant::ZERO, room, |b| {
                let n = b.len().min(wire.len() - at);
                let filled = b[..n].write_copy_of_slice(&wire[at..at + n]);
                last = (filled.as_ptr() as usize, n);
                Ok::<_, ws_proto::Error>(filled)
            })
            .unwrap();
        at += n;
        while let Some(ev) = c.poll_event().unwrap() {
            let Event::Binary(p) = ev else {
                panic!("unexpected {ev:?}")
            };
            assert_eq!(p.len(), LEN);
            assert!(p.iter().all(|&b| b == got as u8), "message {got}");
            let end = p.as_ptr() as usize + LEN;
            assert!(
                end > last.0 && end <= last.0 + last.1,
                "message {got} was copied out of the buffer it was read into"
            );
            got += 1;
        }
    }
    assert_eq!(got, FRAMES);
}

/// `last_frame_len` is the wire size (header and payload) of the last data
/// frame whose header was parsed: a small frame taken whole, then a large
/// one as soon as its header is in, before its payload; control frames do
/// not count.
#[test]
fn last_frame_len_is_the_wire_size_of_the_last_data_frame() {
    let mut c = server(1 << 20);
    assert_eq!(c.last_frame_len(), 0);
    let mut small = masked_header(20);
    small.extend_from_slice(&[7; 20]);
    c.receive(Instant::ZERO, &small).unwrap();
    assert!(matches!(c.poll_event().unwrap(), Some(Event::Binary(_))));
    assert_eq!(c.last_frame_len(), 2 + 4 + 20);
    // A ping between: unchanged.
    c.receive(Instant::ZERO, &[0x89, 0x80, 0, 0, 0, 0]).unwrap();
    assert!(matches!(c.poll_event().unwrap(), Some(Event::Ping(_))));
    assert_eq!(c.last_frame_len(), 26);
    // A large frame: known from its header alone.
    let mut big = masked_header(70_000);
    big.extend_from_slice(&[1; 100]);
    c.receive(Instant::ZERO, &big).unwrap();
    assert!(c.poll_event().unwrap().is_none());
    assert_eq!(c.last_frame_len(), 2 + 8 + 4 + 70_000);
}

/// A server's messages sent in fragments that view the message held once,
/// written a few bytes to a few KiB at a time while more messages (whole,
/// fragmented, small) and the pongs a peer's pings ask for are queued
/// behind them: a client receives every message intact and in order
/// (RFC 6455 §5.4), and pongs (the client would fail on a pong inside a
/// fragment's bytes).
#[test]
fn fragment_views_survive_partial_writes_and_frames_queued_behind() {
    use http_upgrade::testing::SplitMix;
    use ws_proto::Bytes;
    let config = Config::default().with_fragment_size(Some(3000));
    let mut server = Connection::server(config, Instant::ZERO).unwrap();
    let mut client =
        Connection::client(Config::default(), Box::new(SplitMix::new(5)), Instant::ZERO).unwrap();
    let mut rng = SplitMix::new(11);
    let mut sent: Vec<Bytes> = Vec::new();
    let mut got: Vec<Bytes> = Vec::new();
    let mut pongs = 0;
    let mut pings = 0;
    let take = |client: &mut Connection, got: &mut Vec<Bytes>, pongs: &mut usize| {
        while let Some(ev) = client.poll_event().unwrap() {
            match ev {
                Event::Binary(b) => got.push(b),
                Event::Pong(_) => *pongs += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    for round in 0..400 {
        for _ in 0..rng.below(3) {
            let len = match rng.below(4) {
                0 => rng.below(100),
                1 => 3000 + rng.below(3),
                _ => rng.below(20_000),
            };
            let msg = Bytes::from(rng.bytes(len));
            server.send_binary(msg.clone()).unwrap();
            sent.push(msg);
        }
        if rng.below(4) == 0 {
            // A ping from the client: the server answers it with a pong
            // queued behind what it has.
            client.send_ping(Bytes::from_static(b"p")).unwrap();
            let mut wire = Vec::new();
            client.poll_transmit(&mut wire);
            server.receive(Instant::ZERO, &wire).unwrap();
            assert!(
                server
                    .poll_event()
                    .unwrap()
                    .is_some_and(|e| matches!(e, Event::Ping(_)))
            );
            pings += 1;
        }
        // A partial write: at most `n` bytes of the parts, in order.
        let n = 1 + rng.below(if round % 2 == 0 { 50 } else { 7000 });
        let mut wire = Vec::new();
        server.for_each_transmit_part(|p| {
            let s = p.as_slice();
            let k = s.len().min(n - wire.len());
            wire.extend_from_slice(&s[..k]);
            wire.len() < n
        });
        server.advance_transmit(wire.len());
        client.receive(Instant::ZERO, &wire).unwrap();
        take(&mut client, &mut got, &mut pongs);
    }
    let mut wire = Vec::new();
    server.poll_transmit(&mut wire);
    client.receive(Instant::ZERO, &wire).unwrap();
    take(&mut client, &mut got, &mut pongs);
    assert_eq!(server.pending_transmit(), 0);
    assert!(sent.len() > 300, "{} messages", sent.len());
    assert_eq!(got.len(), sent.len(), "every message arrived");
    assert!(got == sent, "every message intact and in order");
    // With a backlog a pong replaces the one queued and not yet started
    // (§5.5.3), so there are fewer.
    assert!(
        pongs >= 1 && pongs <= pings,
        "{pongs} pongs for {pings} pings"
    );
}
