//! fastwebsockets echo server for the load harness: one current-thread
//! tokio runtime; hyper 1 serves the HTTP/1.1 upgrade
//! (`fastwebsockets::upgrade`) and the WebSocket runs in its own task,
//! behind a `FragmentCollector` so fragmented messages come back whole.
//! Text comes back as text, binary as binary; pings and closes are
//! answered by the library (auto pong, auto close). No permessage-deflate
//! (fastwebsockets has none). `--tls`: hyper over tokio-rustls, a
//! self-signed certificate. Binds 127.0.0.1 and prints
//! `listening on ws://127.0.0.1:PORT/` (`wss://` with `--tls`).
//!
//! ```text
//! echo-fastwebsockets [--port 0] [--tls]
//! ```

use fastwebsockets::{FragmentCollector, OpCode, WebSocketError, upgrade};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tokio::io::{AsyncRead, AsyncWrite};
use ws_benches::{Serve, run_tokio_echo};

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

#[derive(Clone, Copy)]
struct Echo;

impl Serve for Echo {
    async fn serve<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = hyper_util::rt::TokioIo::new(stream);
        let conn = http1::Builder::new()
            .serve_connection(io, service_fn(upgrade))
            .with_upgrades();
        let _ = conn.await;
    }
}

fn main() -> std::io::Result<()> {
    run_tokio_echo("echo-fastwebsockets [--port P] [--tls]", Echo)
}
