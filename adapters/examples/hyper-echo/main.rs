//! An echo server on hyper alone (no framework): hyper parses HTTP, a
//! `service_fn` hands upgrades to `ws_adapters::hosted::upgrade_http`, and
//! the session runs on the upgraded stream. Plain requests get a line of
//! text.
//!
//! ```text
//! cargo run -p ws-adapters --features tokio,http --example hyper-echo -- --port 9002
//! ```

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use ws_adapters::{ServerOptions, hosted, session_config};

/// A WebSocket echo server on hyper.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Port on 127.0.0.1 (0: any; the line printed on start-up tells).
    #[arg(short, long, default_value_t = 9002)]
    port: u16,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    env_logger::init();
    let args = Args::parse();
    let options = Arc::new(ServerOptions::new(session_config(Default::default(), true)));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    println!("listening on ws://{}/", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        let options = options.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| serve(req, peer, options.clone()));
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                log::info!("{peer}: {e}");
            }
        });
    }
}

async fn serve(
    mut req: Request<Incoming>,
    peer: std::net::SocketAddr,
    options: Arc<ServerOptions>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if !req.headers().contains_key(hyper::header::UPGRADE) {
        return Ok(Response::new(Full::new(Bytes::from_static(
            b"a WebSocket echo server: connect with ws:// to this address\n",
        ))));
    }
    Ok(match hosted::upgrade_http(&req, Some(peer), &options) {
        Ok((response, upgrading)) => {
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let Ok(upgraded) = on_upgrade.await else {
                    return;
                };
                let mut ws = upgrading.tokio(TokioIo::new(upgraded));
                while let Ok(Some(event)) = ws.recv().await {
                    if let Some(msg) = event.into_message() {
                        let _ = ws.send(msg).await;
                    }
                }
            });
            response.map(Full::new)
        }
        Err(refused) => refused.http_response().map(Full::new),
    })
}
