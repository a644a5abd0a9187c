//! tokio-websockets echo server for the load harness: one current-thread
//! tokio runtime, a task per connection. Text comes back as text, binary
//! as binary; the library answers pings and closes. No permessage-deflate
//! (tokio-websockets 0.13 has none). `--tls`: over tokio-rustls, a
//! self-signed certificate. Binds 127.0.0.1 and prints
//! `listening on ws://127.0.0.1:PORT/` (`wss://` with `--tls`).
//!
//! ```text
//! echo-tokio-websockets [--port 0] [--tls]
//! ```

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_websockets::{Error, ServerBuilder};
use ws_benches::{Serve, run_tokio_echo};

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> Result<(), Error> {
    let (_request, mut ws) = ServerBuilder::new().accept(stream).await?;
    while let Some(msg) = ws.next().await {
        let msg = msg?;
        if msg.is_text() || msg.is_binary() {
            ws.send(msg).await?;
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct Echo;

impl Serve for Echo {
    async fn serve<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let _ = serve(stream).await;
    }
}

fn main() -> std::io::Result<()> {
    run_tokio_echo("echo-tokio-websockets [--port P] [--tls]", Echo)
}
