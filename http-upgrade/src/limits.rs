//! Size limits for message heads and bodies, and the incremental scanner
//! that enforces them before httparse sees (and before we store) anything.

use crate::error::{HttpLimitError, Limit};

/// Limits on what a peer may send during the handshake. The defaults are
/// meant for a server facing the internet.
///
/// A request line over `max_start_line` is answered `414 URI Too Long`
/// (RFC 7231 §6.5.12); header count, header line and total head limits
/// give `431 Request Header Fields Too Large` (RFC 6585 §5); a plain
/// request body over `max_body` gives `413 Payload Too Large`.
///
/// The struct is `#[non_exhaustive]` (a new limit may come): start from
/// [`Limits::default`] and change fields, or chain the `with_*` methods.
///
/// ```
/// let limits = http_upgrade::Limits::default().with_max_headers(16).with_max_body(0);
/// assert_eq!((limits.max_headers, limits.max_body), (16, 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest request line / status line in bytes (default 8192).
    pub max_start_line: usize,
    /// Most header lines (default 64).
    pub max_headers: usize,
    /// Longest single header line in bytes, name and value (default 4096,
    /// like libwebsockets' `LWS_MAX_HEADER_LEN`).
    pub max_header_line: usize,
    /// Largest message head in bytes, start line to blank line (default 16 KiB).
    pub max_head: usize,
    /// Largest body read: a plain request's `Content-Length`, or the part
    /// of a rejection response a client keeps (default 64 KiB).
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_start_line: 8192,
            max_headers: 64,
            max_header_line: 4096,
            max_head: 16 * 1024,
            max_body: 64 * 1024,
        }
    }
}

impl Limits {
    /// With `max_start_line` set to `n`.
    #[must_use]
    pub const fn with_max_start_line(mut self, n: usize) -> Limits {
        self.max_start_line = n;
        self
    }

    /// With `max_headers` set to `n`.
    #[must_use]
    pub const fn with_max_headers(mut self, n: usize) -> Limits {
        self.max_headers = n;
        self
    }

    /// With `max_header_line` set to `n`.
    #[must_use]
    pub const fn with_max_header_line(mut self, n: usize) -> Limits {
        self.max_header_line = n;
        self
    }

    /// With `max_head` set to `n`.
    #[must_use]
    pub const fn with_max_head(mut self, n: usize) -> Limits {
        self.max_head = n;
        self
    }

    /// With `max_body` set to `n`.
    #[must_use]
    pub const fn with_max_body(mut self, n: usize) -> Limits {
        self.max_body = n;
        self
    }
}

/// Finds the end of a message head incrementally, checking line lengths,
/// line count and total size as bytes arrive. The machines run it from
/// `receive` (limits are checked as input is buffered) and again from
/// `poll_event`, which gets the end it found.
#[derive(Clone, Debug, Default)]
pub(crate) struct HeadScanner {
    /// The head's length, once found.
    end: Option<usize>,
    /// Bytes of the buffer already looked at.
    scanned: usize,
    /// Start of the line being scanned.
    line_start: usize,
    /// Complete non-empty lines seen (start line included).
    lines: usize,
}

impl HeadScanner {
    /// Scans new bytes of `buf` (which only ever grows between calls):
    /// `Ok(Some(n))` when the head is the first `n` bytes (from then on,
    /// every call).
    pub(crate) fn scan(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<usize>, HttpLimitError> {
        if self.end.is_some() {
            return Ok(self.end);
        }
        while let Some(&b) = buf.get(self.scanned) {
            self.scanned += 1;
            if b != b'\n' {
                continue;
            }
            self.check_line(limits)?;
            let line = buf.get(self.line_start..self.scanned).unwrap_or_default();
            let blank = matches!(line, b"\n" | b"\r\n");
            self.line_start = self.scanned;
            if blank && self.lines > 0 {
                self.check_total(self.scanned, limits)?;
                self.end = Some(self.scanned);
                return Ok(self.end);
            }
            if !blank {
                self.lines += 1;
                self.check_count(limits)?;
            }
        }
        self.check_line(limits)?;
        self.check_total(buf.len(), limits).map(|()| None)
    }

    fn check_line(&self, limits: &Limits) -> Result<(), HttpLimitError> {
        let size = self.scanned - self.line_start;
        let (limit, max) = if self.lines == 0 {
            (Limit::RequestLine, limits.max_start_line)
        } else {
            (Limit::HeaderLine, limits.max_header_line)
        };
        // +2 for the CRLF not yet seen.
        if size > max.saturating_add(2) {
            return Err(HttpLimitError { limit, size, max });
        }
        Ok(())
    }

    fn check_count(&self, limits: &Limits) -> Result<(), HttpLimitError> {
        let headers = self.lines.saturating_sub(1);
        if headers > limits.max_headers {
            return Err(HttpLimitError {
                limit: Limit::HeaderCount,
                size: headers,
                max: limits.max_headers,
            });
        }
        Ok(())
    }

    fn check_total(&self, size: usize, limits: &Limits) -> Result<(), HttpLimitError> {
        if size > limits.max_head {
            return Err(HttpLimitError {
                limit: Limit::HeadTotal,
                size,
                max: limits.max_head,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(input: &[u8], limits: &Limits) -> Result<Option<usize>, HttpLimitError> {
        HeadScanner::default().scan(input, limits)
    }

    #[test]
    fn finds_head_end() {
        let l = Limits::default();
        assert_eq!(
            scan_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nxx", &l),
            Ok(Some(27))
        );
        assert_eq!(scan_all(b"GET / HTTP/1.1\nHost: a\n\nxx", &l), Ok(Some(24)));
        assert_eq!(scan_all(b"\r\nGET / HTTP/1.1\r\n\r\n", &l), Ok(Some(20)));
        assert_eq!(scan_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r", &l), Ok(None));
    }

    #[test]
    fn incremental_equals_whole() {
        let l = Limits::default();
        let msg = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut s = HeadScanner::default();
        for n in 0..msg.len() {
            assert_eq!(s.scan(&msg[..n], &l), Ok(None));
        }
        assert_eq!(s.scan(msg, &l), Ok(Some(msg.len())));
    }

    #[test]
    fn limits() {
        let l = Limits {
            max_start_line: 10,
            max_headers: 1,
            max_header_line: 8,
            max_head: 40,
            max_body: 0,
        };
        let e = scan_all(b"GET /aaaaaaaaaaaaa", &l).unwrap_err();
        assert_eq!(e.limit, Limit::RequestLine);
        let e = scan_all(b"GET / H\r\nA: 1234567890", &l).unwrap_err();
        assert_eq!(e.limit, Limit::HeaderLine);
        let e = scan_all(b"GET / H\r\nA: 1\r\nB: 2\r\n", &l).unwrap_err();
        assert_eq!((e.limit, e.size, e.max), (Limit::HeaderCount, 2, 1));
        let e = scan_all(b"GET / H\r\nA: 1\r\n\r\n", &Limits { max_head: 5, ..l }).unwrap_err();
        assert_eq!(e.limit, Limit::HeadTotal);
    }
}
