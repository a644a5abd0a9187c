//! A chat room behind axum: `/` serves a page, `/ws` is the room (every
//! text message goes to every member), `/health` is an ordinary route.
//! Axum and hyper do HTTP; `ws_adapters::hosted::upgrade_http` does the
//! WebSocket handshake (subprotocol, permessage-deflate) and the session
//! runs on hyper's upgraded stream (`Upgrading::tokio`).
//!
//! ```text
//! cargo run -p ws-adapters --features tokio,http --example axum-chat -- --port 3000
//! ```
//!
//! Then open <http://127.0.0.1:3000/> in two windows.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{Html, Response};
use axum::routing::{any, get};
use clap::Parser;
use tokio::sync::broadcast;
use ws_adapters::{Event, ServerOptions, Utf8Bytes, hosted, session_config};

/// A WebSocket chat room behind axum.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Port on 127.0.0.1 (0: any; the line printed on start-up tells).
    #[arg(short, long, default_value_t = 3000)]
    port: u16,
}

/// What every connection shares: the settings and the room.
struct Chat {
    options: ServerOptions,
    room: broadcast::Sender<Utf8Bytes>,
}

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>chat</title>
<input id="say" placeholder="say something" autofocus><pre id="log"></pre>
<script>
const ws = new WebSocket(`ws://${location.host}/ws`);
const log = (t) => { document.getElementById('log').textContent += t + '\n'; };
ws.onmessage = (e) => log(e.data);
ws.onclose = (e) => log(`closed ${e.code}`);
document.getElementById('say').onkeydown = (e) => {
  if (e.key === 'Enter' && e.target.value) { ws.send(e.target.value); e.target.value = ''; }
};
</script>"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    env_logger::init();
    let args = Args::parse();
    let chat = Arc::new(Chat {
        options: ServerOptions::new(session_config(Default::default(), true)),
        room: broadcast::channel(256).0,
    });
    let app = axum::Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/health", get(|| async { "ok" }))
        .route("/ws", any(join))
        .with_state(chat);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    println!("listening on http://{}/", listener.local_addr()?);
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await
}

/// `/ws`: the upgrade, answered by us; the member then runs on its own task.
async fn join(
    State(chat): State<Arc<Chat>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
) -> Response {
    match hosted::upgrade_http(&req, Some(peer), &chat.options) {
        Ok((response, upgrading)) => {
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                match on_upgrade.await {
                    Ok(upgraded) => {
                        let ws = upgrading.tokio(hyper_util::rt::TokioIo::new(upgraded));
                        member(chat, ws, peer).await;
                    }
                    Err(e) => log::info!("{peer}: upgrade failed: {e}"),
                }
            });
            response.map(Body::from)
        }
        Err(refused) => {
            log::info!("{peer}: refused: {}", refused.error);
            refused.http_response().map(Body::from)
        }
    }
}

/// One member: what it says goes to the room, what the room says goes to
/// it (a slow member skips what it missed rather than holding the room).
async fn member(
    chat: Arc<Chat>,
    ws: ws_adapters::tokio::WebSocket<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>,
    peer: SocketAddr,
) {
    let (mut read, write) = ws.split();
    let mut heard = chat.room.subscribe();
    let _ = chat.room.send(format!("{peer} joined").into());
    let relay = tokio::spawn(async move {
        loop {
            match heard.recv().await {
                Ok(text) => {
                    if write.send_text(text).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    log::warn!("{peer}: {n} messages skipped");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    while let Ok(Some(event)) = read.recv().await {
        if let Event::Text(text) = event {
            let _ = chat.room.send(format!("{peer}: {text}").into());
        }
    }
    relay.abort();
    let _ = chat.room.send(format!("{peer} left").into());
}
