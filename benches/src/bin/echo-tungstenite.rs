//! tokio-tungstenite echo server for the load harness: one current-thread
//! tokio runtime, a task per connection. Text comes back as text, binary
//! as binary; tungstenite answers pings and echoes closes itself. No
//! permessage-deflate (tungstenite 0.30 has none). `--tls`: over
//! tokio-rustls, a self-signed certificate. Binds 127.0.0.1 and prints
//! `listening on ws://127.0.0.1:PORT/` (`wss://` with `--tls`).
//!
//! ```text
//! echo-tungstenite [--port 0] [--tls]
//! ```

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Error;
use ws_benches::{Serve, run_tokio_echo};

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> Result<(), Error> {
    let mut ws = tokio_tungstenite::accept_async(stream).await?;
    while let Some(msg) = ws.next().await {
        // Pongs are queued by tungstenite and go out with the next read or
        // write; the close reply too.
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
    run_tokio_echo("echo-tungstenite [--port P] [--tls]", Echo)
}
