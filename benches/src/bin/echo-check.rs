//! Pre-flight for the load harness: checks that an echo server on
//! 127.0.0.1 echoes text as text and binary as binary (small, 64 KiB and
//! 1 MiB), answers a ping with its payload, and completes a closing
//! handshake started by the client. With `--deflate` it offers
//! permessage-deflate and reports whether it was accepted. Uses our
//! blocking client; prints one line and exits 0 if all is well.
//!
//! ```text
//! echo-check --port P [--deflate]
//! ```

use std::sync::Arc;
use std::time::Duration;

use ws_adapters::Event;
use ws_benches::Args;
use ws_proto::session::SessionConfig;
use ws_proto::{CloseCode, Config};

fn check(port: u16, deflate: bool) -> Result<String, String> {
    let mut session = SessionConfig::new(Config::default());
    if deflate {
        session = session.with_negotiator(deflate_ext::PerMessageDeflate::negotiator());
    }
    let url = format!("ws://127.0.0.1:{port}/");
    let mut ws =
        ws_adapters::blocking::connect(&url, Arc::new(session)).map_err(|e| e.to_string())?;
    let e = |e: ws_adapters::Error| e.to_string();
    let next = |ws: &mut ws_adapters::blocking::WebSocket<_>| -> Result<Event, String> {
        match ws.recv_timeout(Duration::from_secs(5)).map_err(e)? {
            Some(ev) => Ok(ev),
            None => Err("no answer within 5 s".into()),
        }
    };
    let extensions: Vec<String> = ws
        .session()
        .connection()
        .map(|c| c.extension_names().map(str::to_owned).collect())
        .unwrap_or_default();
    for size in [5usize, 65_536, 1 << 20] {
        let text: String = "héllo ☃ ".chars().cycle().take(size).collect();
        ws.send_text(&text).map_err(e)?;
        match next(&mut ws)? {
            Event::Text(t) if t.as_str() == text => {}
            other => return Err(format!("text of {size} chars: got {}", show(&other))),
        }
        let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        ws.send_binary(data.clone()).map_err(e)?;
        match next(&mut ws)? {
            Event::Binary(b) if b == data => {}
            other => return Err(format!("binary of {size} bytes: got {}", show(&other))),
        }
    }
    ws.send_ping(&b"are you there"[..]).map_err(e)?;
    match next(&mut ws)? {
        Event::Pong(p) if p == b"are you there"[..] => {}
        other => return Err(format!("ping: got {}", show(&other))),
    }
    ws.close(CloseCode::NORMAL, "bye").map_err(e)?;
    match next(&mut ws)? {
        Event::Close { code, .. } if code == Some(CloseCode::NORMAL) => {}
        other => return Err(format!("close: got {}", show(&other))),
    }
    // The server closes TCP after its close frame (RFC 6455 §7.1.1).
    let finished = ws.recv_timeout(Duration::from_secs(5)).map_err(e)?;
    if finished.is_some() || !ws.is_finished() {
        return Err("the server did not close the connection after the closing handshake".into());
    }
    Ok(format!("ok extensions={extensions:?}"))
}

fn show(ev: &Event) -> String {
    match ev {
        Event::Text(t) => format!("text of {} bytes", t.len()),
        Event::Binary(b) => format!("binary of {} bytes", b.len()),
        other => format!("{other:?}"),
    }
}

fn main() {
    let mut a = Args::from_env("echo-check --port P [--deflate]");
    let port: u16 = a
        .opt("--port")
        .unwrap_or_else(|| a.fail("--port is required"));
    let deflate = a.flag("--deflate");
    a.finish();
    match check(port, deflate) {
        Ok(line) => println!("{line}"),
        Err(msg) => {
            println!("FAIL {msg}");
            std::process::exit(1);
        }
    }
}
