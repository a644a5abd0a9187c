//! fastwebsockets echo server for the load harness: one current-thread
//! tokio runtime; hyper 1 serves the HTTP/1.1 upgrade
//! (`fastwebsockets::upgrade`) and the WebSocket runs in its own task,
//! behind a `FragmentCollector` so fragmented messages come back whole.
//! Text comes back as text, binary as binary; pings and closes are
//! answered by the library (auto pong, auto close). No permessage-deflate
//! (fastwebsockets has none). Binds 127.0.0.1 and prints
//! `listening on ws://127.0.0.1:PORT/`.
//!
//! ```text
//! echo-fastwebsockets [--port 0]
//! ```

use fastwebsockets::{FragmentCollector, OpCode, WebSocketError, upgrade};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use ws_benches::{Args, announce, loopback};

async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(fut.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

async fn upgrade(mut req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::spawn(async move {
        let _ = echo(fut).await;
    });
    Ok(response)
}

fn main() -> std::io::Result<()> {
    let mut a = Args::from_env("echo-fastwebsockets [--port P]");
    let addr = loopback(a.value("--port", 0));
    a.finish();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(addr).await?;
        announce(listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let conn = http1::Builder::new()
                    .serve_connection(io, service_fn(upgrade))
                    .with_upgrades();
                let _ = conn.await;
            });
        }
    })
}
