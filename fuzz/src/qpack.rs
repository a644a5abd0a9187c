//! `qpack_decode`: `http_upgrade::qpack`, the field-section decoder of
//! the HTTP/3 handshake (RFC 9204, static table and literals, Huffman
//! strings), on any bytes.
//!
//! Asserts: no panic; names and values of a decoded section total at
//! most the limit; a decoded section encoded again decodes to the same
//! fields in the same order; a section that refers to the dynamic table
//! is refused as such.

use http_upgrade::qpack::{QpackError, decode, encode};

const LIMIT: usize = 4096;

/// The fuzz target.
pub fn run(data: &[u8]) {
    match decode(data, LIMIT) {
        Ok(fields) => {
            let total: usize = fields.iter().map(|(n, v)| n.len() + v.len()).sum();
            assert!(total <= LIMIT, "{total} bytes of fields");
            let again = encode(fields.iter());
            let round = decode(&again, LIMIT).expect("our own encoding decodes");
            assert!(round.iter().eq(fields.iter()), "{fields:?} -> {round:?}");
        }
        Err(QpackError::Dynamic) => {
            // Required Insert Count != 0, or a dynamic or post-base line.
        }
        Err(_) => {}
    }
}
