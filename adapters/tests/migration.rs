//! The "ws-adapters" column of docs/runtimes.md, "Coming from
//! tokio-tungstenite": the echo server and the client as the page shows
//! them, run against each other. The only test in its binary: it clears
//! the proxy variables of the environment (the client honours them, and
//! the page's client uses the default options).
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]

use futures_util::{StreamExt, TryStreamExt};
use ws_adapters::{ClientOptions, Error, Event, Message, ServerOptions};

#[test]
fn the_pages_server_and_client() {
    for name in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] {
        // SAFETY: this binary runs this one test, before any other thread.
        unsafe { std::env::remove_var(name) }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            // server
            let (stream, _) = listener.accept().await?;
            let ws = ws_adapters::tokio::accept(stream, &ServerOptions::default()).await?;
            let (read, write) = ws.split();
            read.try_filter_map(|event| async move { Ok(event.into_message()) })
                .forward(write)
                .await?;
            Ok::<(), Error>(())
        });

        // client
        let options = ClientOptions::default();
        let url = format!("ws://127.0.0.1:{port}/");
        let (mut ws, _answer) = ws_adapters::tokio::connect(url, &options).await.unwrap();
        ws.send(Message::text("hello")).await.unwrap();
        let mut echoed = None;
        if let Some(Event::Text(text)) = ws.next().await.transpose().unwrap() {
            echoed = Some(text);
        }
        assert_eq!(echoed.unwrap(), "hello");

        ws.close(ws_proto::CloseCode::NORMAL, "").await.unwrap();
        while ws.next().await.is_some() {}
        tokio::time::timeout(std::time::Duration::from_secs(10), server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    });
}
