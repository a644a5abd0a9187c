//! Serving a directory over plain HTTP on the WebSocket port (the
//! libwebsockets test server's `--resource-path`): [`Files`] answers `GET`
//! and `HEAD` with the file's MIME type, `Content-Length`, `Last-Modified`
//! and `ETag`, `304 Not Modified` for `If-None-Match` / `If-Modified-Since`
//! (RFC 7232 §3.2, §3.3, §6: `If-None-Match` wins), and streams the body as
//! the connection takes it ([`BodySource`]): a file larger than memory
//! never sits in a buffer.
//!
//! Nothing outside the root is served: the path is percent-decoded once,
//! then a NUL, a backslash, a `..` segment (in any encoding) is refused
//! with `403`; the file found is canonicalized and must still be under the
//! (canonical) root, so a symbolic link out of it is refused with `403`
//! too. Missing files are `404`, other methods `405`.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use http_upgrade::{HttpRequest, Response};

use crate::BodySource;

/// A directory served over HTTP.
#[derive(Clone, Debug)]
pub struct Files {
    root: PathBuf,
    index: String,
}

impl Files {
    /// Serves `root` (canonicalized now: it must exist), `index.html` for
    /// a directory.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Self> {
        Ok(Files {
            root: root.as_ref().canonicalize()?,
            index: "index.html".to_owned(),
        })
    }

    /// The file served for a directory (default `index.html`).
    pub fn with_index(mut self, name: impl Into<String>) -> Self {
        self.index = name.into();
        self
    }

    /// The answer to `req`, with the body's source for a `GET` of a file.
    pub fn respond(&self, req: &HttpRequest) -> (Response, Option<Box<dyn BodySource>>) {
        match self.try_respond(req) {
            Ok(r) => r,
            Err(status) => (error(status), None),
        }
    }

    fn try_respond(
        &self,
        req: &HttpRequest,
    ) -> Result<(Response, Option<Box<dyn BodySource>>), u16> {
        let head = match req.method.as_str() {
            "GET" => false,
            "HEAD" => true,
            _ => return Err(405),
        };
        let path = self.resolve(&req.target)?;
        let file = File::open(&path).map_err(|_| 404u16)?;
        let meta = file.metadata().map_err(|_| 404u16)?;
        if !meta.is_file() {
            return Err(404);
        }
        let len = meta.len();
        let modified = meta.modified().ok();
        let secs = modified
            .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let etag = format!("\"{len:x}-{secs:x}\"");
        let mut response = Response::new(200)
            .header("Content-Type", mime(&path))
            .header("ETag", etag.clone());
        if let Some(m) = modified {
            response = response.header("Last-Modified", httpdate::fmt_http_date(m));
        }
        if not_modified(req, &etag, modified) {
            let mut r = Response::new(304).header("ETag", etag);
            if let Some(m) = modified {
                r = r.header("Last-Modified", httpdate::fmt_http_date(m));
            }
            return Ok((r, None));
        }
        let response = response.streamed(len);
        if head || len == 0 {
            return Ok((response, None));
        }
        Ok((response, Some(Box::new(FileBody { file, left: len }))))
    }

    /// The file for a request target, under the root, or the status
    /// refusing it.
    fn resolve(&self, target: &str) -> Result<PathBuf, u16> {
        let path = target.split(['?', '#']).next().unwrap_or("");
        let decoded = percent_decode(path).ok_or(400u16)?;
        if decoded.contains(['\0', '\\']) {
            return Err(403);
        }
        let mut out = self.root.clone();
        for part in Path::new(&decoded).components() {
            match part {
                Component::Normal(p) => out.push(p),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => return Err(403),
            }
        }
        if out.is_dir() {
            out.push(&self.index);
        }
        // A symbolic link (or anything else) that leads out of the root.
        let real = out.canonicalize().map_err(|_| 404u16)?;
        if !real.starts_with(&self.root) {
            return Err(403);
        }
        Ok(real)
    }
}

/// RFC 7232 §6: `If-None-Match` decides when present, else
/// `If-Modified-Since` (to the second).
fn not_modified(req: &HttpRequest, etag: &str, modified: Option<SystemTime>) -> bool {
    if let Some(v) = req.headers.get_str("if-none-match") {
        return v == "*"
            || v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag);
    }
    let (Some(since), Some(m)) = (req.headers.get_str("if-modified-since"), modified) else {
        return false;
    };
    let Ok(since) = httpdate::parse_http_date(since) else {
        return false;
    };
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    secs(m) <= secs(since)
}

fn error(status: u16) -> Response {
    let text = http_upgrade::reason_phrase(status);
    let r = Response::new(status)
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(format!("{status} {text}\n"));
    if status == 405 {
        r.header("Allow", "GET, HEAD")
    } else {
        r
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that
/// is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The MIME type for a file name's extension (the common web types;
/// `application/octet-stream` otherwise).
fn mime(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// A file's bytes, read as the connection takes them.
struct FileBody {
    file: File,
    left: u64,
}

impl BodySource for FileBody {
    fn next_chunk(&mut self, max: usize) -> io::Result<Bytes> {
        let want = usize::try_from(self.left).map_or(max, |l| l.min(max));
        if want == 0 {
            return Ok(Bytes::new());
        }
        let mut buf = vec![0u8; want];
        let mut got = 0;
        while got < want {
            match self.file.read(&mut buf[got..])? {
                // Shorter than when it was announced: the response cannot
                // be completed.
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => got += n,
            }
        }
        self.left -= got as u64;
        Ok(Bytes::from(buf))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("/a%20b").unwrap(), "/a b");
        assert_eq!(percent_decode("/%2e%2E/x").unwrap(), "/../x");
        assert!(percent_decode("/%zz").is_none());
        assert!(percent_decode("/%2").is_none());
        assert!(percent_decode("/%ff").is_none());
    }

    #[test]
    fn mime_types() {
        assert_eq!(mime(Path::new("a/index.HTML")), "text/html; charset=utf-8");
        assert_eq!(mime(Path::new("x.wasm")), "application/wasm");
        assert_eq!(mime(Path::new("noext")), "application/octet-stream");
    }
}
