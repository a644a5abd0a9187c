use super::*;

fn compress_msg(c: &mut Compressor, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    c.compress(data, &mut out, Flush::End).unwrap();
    out
}

fn inflate_msg(d: &mut Decompressor, data: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    d.decompress(data, &mut out, limit)?;
    d.decompress(&DEFLATE_TAIL, &mut out, limit)?;
    Ok(out)
}

#[test]
fn window_bits_parse_follows_the_abnf() {
    for ok in 8..=15u8 {
        assert_eq!(WindowBits::parse(&ok.to_string()), WindowBits::new(ok));
    }
    for bad in [
        "", "7", "16", "08", "010", "+9", "9 ", " 9", "1a", "0", "99", "٩", "-9", "15.0",
    ] {
        assert_eq!(WindowBits::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn hello_compresses_like_rfc_7692_7_2_3_1() {
    let mut c = Compressor::new(WindowBits::MAX, Level::DEFAULT);
    assert!(!c.is_allocated());
    assert_eq!(
        compress_msg(&mut c, b"Hello"),
        [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
    assert!(c.is_allocated());
    // Context takeover, RFC 7692 §7.2.3.2.
    assert_eq!(
        compress_msg(&mut c, b"Hello"),
        [0xf2, 0x00, 0x11, 0x00, 0x00]
    );
    c.reset();
    assert_eq!(
        compress_msg(&mut c, b"Hello"),
        [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
    c.release();
    assert!(!c.is_allocated());
    assert_eq!(
        compress_msg(&mut c, b"Hello"),
        [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
}

#[test]
fn rfc_7692_payload_variants_inflate_to_hello() {
    let variants: [&[u8]; 4] = [
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        // §7.2.3.3 stored block
        &[
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ],
        // §7.2.3.4 BFINAL set
        &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
        // §7.2.3.5 two blocks
        &[
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ],
    ];
    for v in variants {
        let mut d = Decompressor::new(WindowBits::MAX);
        assert_eq!(inflate_msg(&mut d, v, 1000).unwrap(), b"Hello", "{v:02x?}");
        // The stream goes on after each variant.
        assert_eq!(
            inflate_msg(&mut d, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 1000).unwrap(),
            b"Hello"
        );
    }
    // §7.2.3.6: an empty message is the single octet 00.
    let mut d = Decompressor::new(WindowBits::MAX);
    assert_eq!(inflate_msg(&mut d, &[0x00], 10).unwrap(), b"");
}

#[test]
fn context_takeover_after_a_bfinal_block_uses_the_message_as_dictionary() {
    let mut d = Decompressor::new(WindowBits::MAX);
    assert_eq!(
        inflate_msg(
            &mut d,
            &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
            100
        )
        .unwrap(),
        b"Hello"
    );
    assert_eq!(
        inflate_msg(&mut d, &[0xf2, 0x00, 0x11, 0x00, 0x00], 100).unwrap(),
        b"Hello"
    );
}

#[test]
fn round_trip_every_window_and_level() {
    let pattern = b"{\"id\":12,\"name\":\"abc\"}";
    let text: Vec<u8> = (0..20_000usize)
        .map(|i| pattern[i % pattern.len()] ^ (i / 997) as u8)
        .collect();
    for bits in 8..=15 {
        for level in [0, 1, 6, 9] {
            let w = WindowBits::new(bits).unwrap();
            let mut c = Compressor::new(w, Level::new(level).unwrap());
            let mut d = Decompressor::new(w);
            for _ in 0..3 {
                let z = compress_msg(&mut c, &text);
                assert_eq!(
                    inflate_msg(&mut d, &z, text.len()).unwrap(),
                    text,
                    "bits {bits} level {level}"
                );
            }
        }
    }
}

#[test]
fn window_bits_8_stays_within_256_bytes() {
    // A pseudo-random block repeated: a compressor may only refer back to the
    // previous copy when the block fits its window.
    let mut x = 0x1234_5678u32;
    let block: Vec<u8> = (0..300)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let size = |bits: u8, period: usize| {
        let data: Vec<u8> = block[..period]
            .iter()
            .cycle()
            .take(period * 8)
            .copied()
            .collect();
        let mut c = Compressor::new(WindowBits::new(bits).unwrap(), Level::BEST);
        let z = compress_msg(&mut c, &data);
        let mut d = Decompressor::new(WindowBits::new(bits).unwrap());
        assert_eq!(inflate_msg(&mut d, &z, data.len()).unwrap(), data);
        z.len()
    };
    // Period 250 fits a 256-byte window: matched. Period 257 does not: a
    // compressor honouring 2^8 must not match it (it would need 2^9).
    assert!(size(8, 250) < 400);
    assert!(size(8, 257) > 257 * 7, "a distance beyond 256 was used");
    // Control: with 2^10 the same period is matched.
    assert!(size(10, 257) < 500);
}

#[test]
fn corrupt_data_is_an_error_not_a_panic() {
    let mut d = Decompressor::new(WindowBits::MAX);
    // BTYPE = 11 is reserved.
    assert_eq!(
        inflate_msg(&mut d, &[0xff, 0xff, 0xff], 100),
        Err(CodecError::Corrupt)
    );
    // Distance too far back at the very start of a stream.
    let mut d = Decompressor::new(WindowBits::MAX);
    assert_eq!(
        inflate_msg(&mut d, &[0x02, 0x1f, 0x00], 100),
        Err(CodecError::Corrupt)
    );
}

#[test]
fn inflate_is_bounded() {
    let zeros = vec![0u8; 1 << 20];
    let mut c = Compressor::new(WindowBits::MAX, Level::BEST);
    let z = compress_msg(&mut c, &zeros);
    assert!(z.len() < 2048);
    let mut d = Decompressor::new(WindowBits::MAX);
    let mut out = Vec::new();
    let err = d.decompress(&z, &mut out, 10_000).unwrap_err();
    assert!(matches!(err, CodecError::TooBig { max: 10_000, size } if size > 10_000));
    assert!(out.capacity() <= 10_001, "capacity {}", out.capacity());
    // Exactly at the limit is fine.
    let mut d = Decompressor::new(WindowBits::MAX);
    assert_eq!(inflate_msg(&mut d, &z, 1 << 20).unwrap().len(), 1 << 20);
}

#[test]
fn streamed_chunks_with_each_flush_mode_round_trip() {
    let text = b"The quick brown fox jumps over the lazy dog. ".repeat(50);
    for mode in [Flush::None, Flush::Sync] {
        let mut c = Compressor::new(WindowBits::MAX, Level::FAST);
        let mut z = Vec::new();
        for chunk in text.chunks(97) {
            c.compress(chunk, &mut z, mode).unwrap();
        }
        c.compress(&[], &mut z, Flush::End).unwrap();
        let mut d = Decompressor::new(WindowBits::MAX);
        // Inflate fed in odd pieces too.
        let mut out = Vec::new();
        for piece in z.chunks(13) {
            d.decompress(piece, &mut out, text.len()).unwrap();
        }
        d.decompress(&DEFLATE_TAIL, &mut out, text.len()).unwrap();
        assert_eq!(out, text);
    }
}

/// Pseudo-random bytes: barely compressible.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn decompress_end_is_decompress_then_the_tail() {
    let json = b"{\"id\":1,\"v\":\"abc\"},".repeat(400);
    let mut messages: Vec<Vec<u8>> = vec![
        vec![0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        // BFINAL set, then more input after it (RFC 7692 §7.2.3.4).
        vec![0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
        vec![0x00],
        vec![0x02, 0x1f, 0x00],
        vec![0xff, 0xff, 0xff],
    ];
    let mut c = Compressor::new(WindowBits::MAX, Level::FAST);
    for len in [0, 100, 2000, 2100, 5000, 70_000] {
        messages.push(compress_msg(&mut c, &json[..len.min(json.len())]));
        messages.push(compress_msg(&mut c, &noise(len, len as u32)));
    }
    // Each limit around the output size, with and without a takeover
    // history before the message.
    for z in &messages {
        for limit in [0, 4, 5, 6, 1000, 2047, 2048, 8000, 69_999, 70_000, 1 << 20] {
            let mut a = Decompressor::new(WindowBits::MAX);
            let mut b = Decompressor::new(WindowBits::MAX);
            let mut out_a = b"before".to_vec();
            let mut out_b = out_a.clone();
            let ra = a
                .decompress(z, &mut out_a, limit + 6)
                .and_then(|()| a.decompress(&DEFLATE_TAIL, &mut out_a, limit + 6));
            let rb = b.decompress_end(z, &mut out_b, limit + 6);
            assert_eq!(ra, rb, "{} bytes, limit {limit}", z.len());
            if ra.is_ok() {
                assert_eq!(out_a, out_b, "{} bytes, limit {limit}", z.len());
            }
        }
    }
}

#[test]
fn output_before_corrupt_data_is_kept() {
    let text = b"Hello, hello, hello!".repeat(20);
    let mut c = Compressor::new(WindowBits::MAX, Level::FAST);
    let mut z = Vec::new();
    c.compress(&text, &mut z, Flush::Sync).unwrap();
    // A block header with the reserved type 3.
    z.extend_from_slice(&[0x07, 0xff, 0xff, 0xff]);
    let mut d = Decompressor::new(WindowBits::MAX);
    let mut out = Vec::new();
    assert_eq!(
        d.decompress(&z, &mut out, 1 << 20),
        Err(CodecError::Corrupt)
    );
    assert_eq!(out, text);
}

#[test]
fn output_fitting_one_piece_is_allocated_at_its_size() {
    // The output `Vec` of a message becomes `Bytes` without a second
    // allocation only when its length is its capacity. The internal buffer
    // grows with the messages: a message whose output outruns the first
    // guess (four times its input) comes in pieces, the next one fits.
    let mut c = Compressor::new(WindowBits::MAX, Level::FAST);
    let mut d = Decompressor::new(WindowBits::MAX);
    for len in [1, 64, 1000, 16 << 10, 30 << 10] {
        let text = b"abcdefgh, ".repeat(len / 10 + 1)[..len].to_vec();
        for round in 0..2 {
            let mut z = Vec::new();
            c.compress(&text, &mut z, Flush::End).unwrap();
            assert_eq!(z.capacity(), z.len(), "compress {len}");
            let mut out = Vec::new();
            d.decompress_end(&z, &mut out, 1 << 20).unwrap();
            assert_eq!(out, text);
            if round == 1 {
                assert_eq!(out.capacity(), out.len(), "inflate {len}");
            }
        }
    }
}

#[test]
fn large_messages_span_several_pieces_within_the_limit() {
    let text = noise(200_000, 7);
    let mut c = Compressor::new(WindowBits::MAX, Level::FAST);
    let z = compress_msg(&mut c, &text);
    assert!(z.len() > 100_000);
    let mut d = Decompressor::new(WindowBits::MAX);
    assert_eq!(inflate_msg(&mut d, &z, text.len()).unwrap(), text);
    let mut d = Decompressor::new(WindowBits::MAX);
    let mut out = Vec::new();
    let err = d.decompress_end(&z, &mut out, text.len() - 1).unwrap_err();
    assert!(
        matches!(err, CodecError::TooBig { size, max } if max == text.len() - 1 && size == text.len())
    );
    assert!(out.capacity() <= text.len(), "capacity {}", out.capacity());
}
