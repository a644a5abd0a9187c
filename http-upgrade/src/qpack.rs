//! The part of QPACK (RFC 9204) a WebSocket over HTTP/3 needs: field
//! sections decoded with the static table and literals (Huffman-coded or
//! not), and encoded as literals. We announce a dynamic table of capacity
//! 0 (`SETTINGS_QPACK_MAX_TABLE_CAPACITY` = 0, §3.2.3), so a peer may not
//! refer to a dynamic table: a field section that does is an error
//! (`QPACK_DECOMPRESSION_FAILED`, §2.2.3), and the encoder and decoder
//! streams carry nothing we need.
//!
//! ```
//! use http_upgrade::qpack;
//! let block = qpack::encode([(":method", &b"CONNECT"[..]), (":protocol", b"websocket")]);
//! let fields = qpack::decode(&block, 64 * 1024)?;
//! assert_eq!(fields.get_str(":protocol"), Some("websocket"));
//! # Ok::<(), qpack::QpackError>(())
//! ```

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::Headers;

/// RFC 9204 Appendix A: the static table.
const STATIC: [(&str, &str); 99] = [
    (":authority", ""),                                    // 0
    (":path", "/"),                                        // 1
    ("age", "0"),                                          // 2
    ("content-disposition", ""),                           // 3
    ("content-length", "0"),                               // 4
    ("cookie", ""),                                        // 5
    ("date", ""),                                          // 6
    ("etag", ""),                                          // 7
    ("if-modified-since", ""),                             // 8
    ("if-none-match", ""),                                 // 9
    ("last-modified", ""),                                 // 10
    ("link", ""),                                          // 11
    ("location", ""),                                      // 12
    ("referer", ""),                                       // 13
    ("set-cookie", ""),                                    // 14
    (":method", "CONNECT"),                                // 15
    (":method", "DELETE"),                                 // 16
    (":method", "GET"),                                    // 17
    (":method", "HEAD"),                                   // 18
    (":method", "OPTIONS"),                                // 19
    (":method", "POST"),                                   // 20
    (":method", "PUT"),                                    // 21
    (":scheme", "http"),                                   // 22
    (":scheme", "https"),                                  // 23
    (":status", "103"),                                    // 24
    (":status", "200"),                                    // 25
    (":status", "304"),                                    // 26
    (":status", "404"),                                    // 27
    (":status", "503"),                                    // 28
    ("accept", "*/*"),                                     // 29
    ("accept", "application/dns-message"),                 // 30
    ("accept-encoding", "gzip, deflate, br"),              // 31
    ("accept-ranges", "bytes"),                            // 32
    ("access-control-allow-headers", "cache-control"),     // 33
    ("access-control-allow-headers", "content-type"),      // 34
    ("access-control-allow-origin", "*"),                  // 35
    ("cache-control", "max-age=0"),                        // 36
    ("cache-control", "max-age=2592000"),                  // 37
    ("cache-control", "max-age=604800"),                   // 38
    ("cache-control", "no-cache"),                         // 39
    ("cache-control", "no-store"),                         // 40
    ("cache-control", "public, max-age=31536000"),         // 41
    ("content-encoding", "br"),                            // 42
    ("content-encoding", "gzip"),                          // 43
    ("content-type", "application/dns-message"),           // 44
    ("content-type", "application/javascript"),            // 45
    ("content-type", "application/json"),                  // 46
    ("content-type", "application/x-www-form-urlencoded"), // 47
    ("content-type", "image/gif"),                         // 48
    ("content-type", "image/jpeg"),                        // 49
    ("content-type", "image/png"),                         // 50
    ("content-type", "text/css"),                          // 51
    ("content-type", "text/html; charset=utf-8"),          // 52
    ("content-type", "text/plain"),                        // 53
    ("content-type", "text/plain;charset=utf-8"),          // 54
    ("range", "bytes=0-"),                                 // 55
    ("strict-transport-security", "max-age=31536000"),     // 56
    (
        "strict-transport-security",
        "max-age=31536000; includesubdomains",
    ), // 57
    (
        "strict-transport-security",
        "max-age=31536000; includesubdomains; preload",
    ), // 58
    ("vary", "accept-encoding"),                           // 59
    ("vary", "origin"),                                    // 60
    ("x-content-type-options", "nosniff"),                 // 61
    ("x-xss-protection", "1; mode=block"),                 // 62
    (":status", "100"),                                    // 63
    (":status", "204"),                                    // 64
    (":status", "206"),                                    // 65
    (":status", "302"),                                    // 66
    (":status", "400"),                                    // 67
    (":status", "403"),                                    // 68
    (":status", "421"),                                    // 69
    (":status", "425"),                                    // 70
    (":status", "500"),                                    // 71
    ("accept-language", ""),                               // 72
    ("access-control-allow-credentials", "FALSE"),         // 73
    ("access-control-allow-credentials", "TRUE"),          // 74
    ("access-control-allow-headers", "*"),                 // 75
    ("access-control-allow-methods", "get"),               // 76
    ("access-control-allow-methods", "get, post, options"), // 77
    ("access-control-allow-methods", "options"),           // 78
    ("access-control-expose-headers", "content-length"),   // 79
    ("access-control-request-headers", "content-type"),    // 80
    ("access-control-request-method", "get"),              // 81
    ("access-control-request-method", "post"),             // 82
    ("alt-svc", "clear"),                                  // 83
    ("authorization", ""),                                 // 84
    (
        "content-security-policy",
        "script-src 'none'; object-src 'none'; base-uri 'none'",
    ), // 85
    ("early-data", "1"),                                   // 86
    ("expect-ct", ""),                                     // 87
    ("forwarded", ""),                                     // 88
    ("if-range", ""),                                      // 89
    ("origin", ""),                                        // 90
    ("purpose", "prefetch"),                               // 91
    ("server", ""),                                        // 92
    ("timing-allow-origin", "*"),                          // 93
    ("upgrade-insecure-requests", "1"),                    // 94
    ("user-agent", ""),                                    // 95
    ("x-forwarded-for", ""),                               // 96
    ("x-frame-options", "deny"),                           // 97
    ("x-frame-options", "sameorigin"),                     // 98
];

/// Why a field section could not be decoded (HTTP/3 treats each as
/// `QPACK_DECOMPRESSION_FAILED`, RFC 9204 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QpackError {
    /// Truncated, an integer too large, or a bad Huffman string.
    #[error("malformed field section: {0}")]
    Malformed(&'static str),
    /// A reference to the dynamic table, which we set to capacity 0.
    #[error("a reference to the dynamic table, announced with capacity 0")]
    Dynamic,
    /// More than the allowed bytes of names and values.
    #[error("field section over the size limit")]
    TooLarge,
}

/// A prefixed integer (RFC 7541 §5.1, RFC 9204 §4.1.1): the low
/// `prefix` bits of `buf[*at]`, continued in 7-bit groups.
fn int(buf: &[u8], at: &mut usize, prefix: u8) -> Result<u64, QpackError> {
    let first = *buf.get(*at).ok_or(QpackError::Malformed("truncated"))?;
    *at += 1;
    let max = (1u64 << prefix) - 1;
    let mut v = u64::from(first) & max;
    if v < max {
        return Ok(v);
    }
    let mut shift = 0u32;
    loop {
        let b = *buf.get(*at).ok_or(QpackError::Malformed("truncated"))?;
        *at += 1;
        if shift > 56 {
            return Err(QpackError::Malformed("integer too large"));
        }
        v += u64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
}

/// A string literal whose length has a `prefix`-bit prefix and whose
/// Huffman flag is the bit just above it (RFC 9204 §4.1.2).
fn string(buf: &[u8], at: &mut usize, prefix: u8, limit: usize) -> Result<Vec<u8>, QpackError> {
    let huffman = buf.get(*at).ok_or(QpackError::Malformed("truncated"))? & (1 << prefix) != 0;
    let len = int(buf, at, prefix)?;
    let len = usize::try_from(len).map_err(|_| QpackError::TooLarge)?;
    if len > limit {
        return Err(QpackError::TooLarge);
    }
    let end = at.checked_add(len).ok_or(QpackError::TooLarge)?;
    let raw = buf
        .get(*at..end)
        .ok_or(QpackError::Malformed("truncated"))?;
    *at = end;
    if !huffman {
        return Ok(raw.to_vec());
    }
    let mut out = Vec::with_capacity(len * 8 / 5 + 1);
    httlib_huffman::decode(raw, &mut out, httlib_huffman::DecoderSpeed::FourBits)
        .map_err(|_| QpackError::Malformed("bad Huffman string"))?;
    if out.len() > limit {
        return Err(QpackError::TooLarge);
    }
    Ok(out)
}

fn static_entry(index: u64) -> Result<(&'static str, &'static str), QpackError> {
    usize::try_from(index)
        .ok()
        .and_then(|i| STATIC.get(i).copied())
        .ok_or(QpackError::Malformed("static index out of range"))
}

/// Decodes a field section (the payload of a HEADERS frame), at most
/// `limit` bytes of names and values in all.
pub fn decode(buf: &[u8], limit: usize) -> Result<Headers, QpackError> {
    let mut at = 0;
    // §4.5.1: Required Insert Count (8-bit prefix), then the base.
    if int(buf, &mut at, 8)? != 0 {
        return Err(QpackError::Dynamic);
    }
    let _delta_base = int(buf, &mut at, 7)?;
    let mut fields = Headers::new();
    let mut total = 0usize;
    while at < buf.len() {
        let b = buf[at];
        let (name, value): (String, Vec<u8>) = if b & 0x80 != 0 {
            // §4.5.2 Indexed Field Line: 1 T index(6).
            if b & 0x40 == 0 {
                return Err(QpackError::Dynamic);
            }
            let (n, v) = static_entry(int(buf, &mut at, 6)?)?;
            (n.to_owned(), v.as_bytes().to_vec())
        } else if b & 0x40 != 0 {
            // §4.5.4 Literal Field Line with Name Reference: 01 N T index(4).
            if b & 0x10 == 0 {
                return Err(QpackError::Dynamic);
            }
            let (n, _) = static_entry(int(buf, &mut at, 4)?)?;
            let v = string(buf, &mut at, 7, limit)?;
            (n.to_owned(), v)
        } else if b & 0x20 != 0 {
            // §4.5.6 Literal Field Line with Literal Name: 001 N H len(3).
            let n = string(buf, &mut at, 3, limit)?;
            let v = string(buf, &mut at, 7, limit)?;
            let n = String::from_utf8(n).map_err(|_| QpackError::Malformed("field name"))?;
            (n, v)
        } else {
            // §4.5.3 / §4.5.5: post-base references, dynamic only.
            return Err(QpackError::Dynamic);
        };
        total = total.saturating_add(name.len() + value.len());
        if total > limit {
            return Err(QpackError::TooLarge);
        }
        fields.push(name, value);
    }
    Ok(fields)
}

fn put_int(out: &mut Vec<u8>, first: u8, prefix: u8, mut v: u64) {
    let max = (1u64 << prefix) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Encodes `fields` as a field section: every line a literal with a
/// literal name, no Huffman (§4.5.6), so the peer needs no table of ours.
pub fn encode<'a>(fields: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let mut out = vec![0, 0];
    for (name, value) in fields {
        put_int(&mut out, 0x20, 3, name.len() as u64);
        out.extend_from_slice(name.as_bytes());
        put_int(&mut out, 0x00, 7, value.len() as u64);
        out.extend_from_slice(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_static_references() {
        let f = [
            (":method", &b"CONNECT"[..]),
            (":protocol", b"websocket"),
            ("x", &[b'y'; 300][..]),
        ];
        let enc = encode(f);
        let dec = decode(&enc, 4096).unwrap();
        let got: Vec<(&str, &[u8])> = dec.iter().collect();
        assert_eq!(got, f);
        // Indexed static line 17 (:method GET) and 25 (:status 200),
        // a name reference to 1 (:path) with the value "/chat".
        let wire = [
            0,
            0,
            0xc0 | 17,
            0xc0 | 25,
            0x50 | 1,
            5,
            b'/',
            b'c',
            b'h',
            b'a',
            b't',
        ];
        let dec = decode(&wire, 4096).unwrap();
        assert_eq!(dec.get_str(":method"), Some("GET"));
        assert_eq!(dec.get_str(":status"), Some("200"));
        assert_eq!(dec.get_str(":path"), Some("/chat"));
        // RFC 7541 C.4.1: "www.example.com" Huffman-coded.
        let huff = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        let mut wire = vec![0, 0, 0x50, 0x80 | huff.len() as u8];
        wire.extend_from_slice(&huff);
        assert_eq!(
            decode(&wire, 4096).unwrap().get_str(":authority"),
            Some("www.example.com")
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(decode(&[1, 0], 100), Err(QpackError::Dynamic));
        assert_eq!(decode(&[0, 0, 0x80], 100), Err(QpackError::Dynamic));
        assert_eq!(decode(&[0, 0, 0x10], 100), Err(QpackError::Dynamic));
        assert!(matches!(
            decode(&[0, 0, 0xc0 | 63, 0x7f], 100),
            Err(QpackError::Malformed(_))
        ));
        assert!(decode(&[0, 0, 0x27, 0xff, 0xff, 0xff], 100).is_err());
        let big = encode([("n", &[b'v'; 200][..])]);
        assert_eq!(decode(&big, 100), Err(QpackError::TooLarge));
        for cut in 0..big.len() {
            let _ = decode(&big[..cut], 1000);
        }
    }
}
