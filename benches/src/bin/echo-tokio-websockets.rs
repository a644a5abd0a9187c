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
use tokio::net::{TcpListener, TcpStream};
use tokio_websockets::{Error, ServerBuilder};
use ws_benches::{Args, announce, loopback};

async fn serve(stream: TcpStream) -> Result<(), Error> {
    stream.set_nodelay(true)?;
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
    let mut a = Args::from_env("echo-tokio-websockets [--port P]");
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
            tokio::spawn(serve(stream));
        }
    })
}
