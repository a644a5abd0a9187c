//! Serving files on the WebSocket port (`Protocols::files`): MIME types,
//! `HEAD`, `Content-Length`, conditional requests, no escape from the root,
//! and a 256 MiB file streamed through a slowly reading client on every
//! adapter while the server holds a bounded amount of memory.
#![cfg(all(unix, feature = "tokio", feature = "smol"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Kind, bounded, server_options, start_table};
use ws_adapters::files::Files;
use ws_adapters::{Ctx, Event, Protocol, Protocols};

struct Nothing;

impl Protocol for Nothing {
    type State = ();
    fn established(&self, _: &mut Ctx<'_>) {}
    fn event(&self, _: &mut (), _: &mut Ctx<'_>, _: Event) {}
}

/// A fresh directory under the test target dir.
fn dir(name: &str) -> PathBuf {
    let d =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn start(kind: Kind, root: &Path) -> SocketAddr {
    let table = Protocols::new()
        .protocol("nothing", Nothing)
        .default_protocol("nothing")
        .files(Files::new(root).unwrap());
    start_table(kind, table, server_options(false))
}

/// One request on a fresh connection: (status, head, body).
fn request(addr: SocketAddr, method: &str, target: &str, extra: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&all[..split]).to_string();
    let status = head[9..12].parse().unwrap();
    (status, head, all[split..].to_vec())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn types_head_conditional_and_no_escape() {
    bounded(Duration::from_secs(60), "files", || {
        let root = dir("web");
        std::fs::write(root.join("index.html"), "<h1>hi</h1>").unwrap();
        std::fs::write(root.join("app.js"), "let x = 1;").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a b.txt"), "spaced").unwrap();
        let outside = dir("outside");
        std::fs::write(outside.join("secret"), "do not serve").unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), root.join("link")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("linkdir")).unwrap();
        let addr = start(Kind::Mio, &root);

        let (status, head, body) = request(addr, "GET", "/", "");
        assert_eq!(status, 200, "{head}");
        assert_eq!(body, b"<h1>hi</h1>");
        assert_eq!(
            header(&head, "content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(header(&head, "content-length"), Some("11"));
        let etag = header(&head, "etag").unwrap().to_owned();
        let modified = header(&head, "last-modified").unwrap().to_owned();
        let (_, head, _) = request(addr, "GET", "/app.js", "");
        assert_eq!(
            header(&head, "content-type"),
            Some("text/javascript; charset=utf-8")
        );
        let (status, _, body) = request(addr, "GET", "/sub/a%20b.txt?x=1", "");
        assert_eq!((status, &body[..]), (200, &b"spaced"[..]));

        // HEAD: the headers, no body.
        let (status, head, body) = request(addr, "HEAD", "/index.html", "");
        assert_eq!((status, body.len()), (200, 0));
        assert_eq!(header(&head, "content-length"), Some("11"));
        // Conditional requests (RFC 7232).
        let (status, _, body) = request(addr, "GET", "/", &format!("If-None-Match: {etag}\r\n"));
        assert_eq!((status, body.len()), (304, 0));
        let (status, _, _) = request(addr, "GET", "/", "If-None-Match: \"other\"\r\n");
        assert_eq!(status, 200);
        let (status, _, _) = request(
            addr,
            "GET",
            "/",
            &format!("If-Modified-Since: {modified}\r\n"),
        );
        assert_eq!(status, 304);
        let old = "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
        assert_eq!(request(addr, "GET", "/", old).0, 200);

        // No escape, however spelled.
        for bad in [
            "/../Cargo.toml",
            "/sub/../../x",
            "/%2e%2e/x",
            "/%2E%2E%2Fx",
            "/a%00b",
            "/a%5c..%5cb",
            "/link",
            "/linkdir/secret",
        ] {
            let (status, head, body) = request(addr, "GET", bad, "");
            assert!(status == 403 || status == 404, "{bad}: {head}");
            assert!(
                !String::from_utf8_lossy(&body).contains("do not serve"),
                "{bad}"
            );
        }
        assert_eq!(request(addr, "GET", "/missing.html", "").0, 404);
        let (status, head, _) = request(addr, "POST", "/", "Content-Length: 0\r\n");
        assert_eq!(status, 405, "{head}");
        assert_eq!(header(&head, "allow"), Some("GET, HEAD"));
    });
}

/// This process's resident memory.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A 256 MiB (sparse) file through a client that reads slowly at first:
/// the server reads the file as the socket takes it, so its memory stays
/// far below the file's size; then all of it arrives, in order.
fn big_file(kind: Kind) {
    const SIZE: u64 = 256 << 20;
    let root = dir(&format!("big-{kind:?}"));
    let path = root.join("big.bin");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(SIZE).unwrap();
    // Markers at a few offsets, to check the order of what arrives.
    let marks: Vec<u64> = (0..8).map(|i| i * (SIZE / 8) + 12_345).collect();
    for &m in &marks {
        use std::os::unix::fs::FileExt;
        f.write_at(&m.to_be_bytes(), m).unwrap();
    }
    drop(f);
    let addr = start(kind, &root);
    let before = rss();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    // Slowly: 4 KiB every 2 ms for a while.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    let mut peak = 0;
    for _ in 0..200 {
        let n = s.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
        std::thread::sleep(Duration::from_millis(2));
        peak = peak.max(rss().saturating_sub(before));
    }
    assert!(
        peak < 48 << 20,
        "{kind:?}: the process grew by {} MiB while serving a 256 MiB file slowly",
        peak >> 20
    );
    // Then the rest, fast, checked as it comes (not kept).
    let split = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&got[..split]).to_string();
    assert!(head.contains(&format!("Content-Length: {SIZE}")), "{head}");
    let mut offset = 0u64;
    let mut seen_marks = 0;
    let mut check = |chunk: &[u8], offset: u64| {
        for &m in &marks {
            if m >= offset && m + 8 <= offset + chunk.len() as u64 {
                let at = (m - offset) as usize;
                assert_eq!(chunk[at..at + 8], m.to_be_bytes(), "{kind:?}: marker {m}");
                seen_marks += 1;
            }
        }
    };
    let first = got[split..].to_vec();
    check(&first, 0);
    offset += first.len() as u64;
    let mut big = vec![0u8; 1 << 20];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = s.read(&mut big).unwrap();
        if n == 0 {
            break;
        }
        // Markers may straddle reads: keep the last 7 bytes.
        let mut window = std::mem::take(&mut tail);
        let start = offset - window.len() as u64;
        window.extend_from_slice(&big[..n]);
        check(&window, start);
        offset += n as u64;
        tail = window[window.len().saturating_sub(7)..].to_vec();
        peak = peak.max(rss().saturating_sub(before));
    }
    assert_eq!(offset, SIZE, "{kind:?}: bytes received");
    assert_eq!(seen_marks, marks.len(), "{kind:?}");
    assert!(peak < 64 << 20, "{kind:?}: grew by {} MiB", peak >> 20);
}

#[test]
fn big_file_on_mio() {
    bounded(Duration::from_secs(120), "big mio", || big_file(Kind::Mio));
}

#[test]
fn big_file_on_std() {
    bounded(Duration::from_secs(120), "big std", || big_file(Kind::Std));
}

#[test]
fn big_file_on_tokio() {
    bounded(Duration::from_secs(120), "big tokio", || {
        big_file(Kind::Tokio)
    });
}

#[test]
fn big_file_on_smol() {
    bounded(Duration::from_secs(120), "big smol", || {
        big_file(Kind::Smol)
    });
}
