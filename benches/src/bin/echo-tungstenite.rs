//! tokio-tungstenite echo server for the load harness: one current-thread
//! tokio runtime, a task per connection. Text comes back as text, binary
//! as binary; tungstenite answers pings and echoes closes itself. No
//! permessage-deflate (tungstenite 0.30 has none). Binds 127.0.0.1 and
//! prints `listening on ws://127.0.0.1:PORT/`.
//!
//! ```text
//! echo-tungstenite [--port 0]
//! ```

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Error;
use ws_benches::run_tokio_echo;

async fn serve(stream: TcpStream) -> Result<(), Error> {
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

fn main() -> std::io::Result<()> {
    run_tokio_echo("echo-tungstenite [--port P]", |stream| async move {
        let _ = serve(stream).await;
    })
}
