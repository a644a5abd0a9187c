//! tokio-websockets echo server for the load harness: one current-thread
//! tokio runtime, a task per connection. Text comes back as text, binary
//! as binary; the library answers pings and closes. No permessage-deflate
//! (tokio-websockets 0.13 has none). Binds 127.0.0.1 and prints
//! `listening on ws://127.0.0.1:PORT/`.
//!
//! ```text
//! echo-tokio-websockets [--port 0]
//! ```

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_websockets::{Error, ServerBuilder};
use ws_benches::run_tokio_echo;

async fn serve(stream: TcpStream) -> Result<(), Error> {
    let (_request, mut ws) = ServerBuilder::new().accept(stream).await?;
    while let Some(msg) = ws.next().await {
        let msg = msg?;
        if msg.is_text() || msg.is_binary() {
            ws.send(msg).await?;
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    run_tokio_echo("echo-tokio-websockets [--port P]", |stream| async move {
        let _ = serve(stream).await;
    })
}
