//! Our echo server for the load harness, on one of our adapters:
//!
//! * `--adapter mio`: every connection on one `mio::Poll`
//!   (`ws_adapters::mio::Server`), one thread; `--loops N`: N such loops
//!   on N threads sharing the port (`ws_adapters::mio::serve_loops`,
//!   `SO_REUSEPORT`).
//! * `--adapter std`: the blocking driver, a thread per connection (pin the
//!   process to one core to compare).
//! * `--adapter smol`: `ws_adapters::smol` on async-io, the acceptor and
//!   every connection futures in one `FuturesUnordered` under
//!   `async_io::block_on` (one thread runs them; async-io may add its
//!   reactor helper thread).
//! * `--adapter tokio`: `ws_adapters::tokio` on a current-thread runtime.
//! * `--adapter uring`: every connection on one io_uring
//!   (`ws_adapters::uring::Server`); `--loops N` as for mio.
//!
//! Text comes back as text, binary as binary, without copying (the received
//! `Bytes` are queued again); pings and closes are answered by the core.
//! Compression (permessage-deflate, deflate-frame, deflate-stream) is
//! negotiated unless `--no-compression`. `--tls`: `wss://` with rustls in
//! the driver, a self-signed certificate (the same configuration as the
//! peers' `--tls`). Binds 127.0.0.1 only and prints
//! `listening on ws://127.0.0.1:PORT/` (`wss://` with `--tls`).
//!
//! ```text
//! echo-ours --adapter mio|std|smol|tokio|uring [--port 0] [--no-compression] [--loops 1] [--tls]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use ws_adapters::{Error, Event, ServerOptions, session_config};
use ws_benches::{Args, loopback};
use ws_proto::{Config, Connection};

const USAGE: &str = "\
echo-ours: our WebSocket echo server for the load harness

  --adapter A        mio | std | smol | tokio | uring (default mio)
  --port P           port on 127.0.0.1 (default 0: any; printed)
  --no-compression   negotiate no extension
  --loops N          mio, uring: N loops on N threads sharing the port (default 1)
  --tls              wss:// with a self-signed certificate";

/// Serving `wss://` (the start-up line says so).
static TLS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn announce(addr: SocketAddr) {
    match TLS.load(std::sync::atomic::Ordering::Relaxed) {
        true => ws_benches::announce_tls(addr),
        false => ws_benches::announce(addr),
    }
}

/// Queues `ev` back if it is a message (zero copy).
fn echo(c: Option<&mut Connection>, ev: Event) {
    let Some(c) = c else { return };
    let r = match ev {
        Event::Text(t) => c.send_text(t),
        Event::Binary(b) => c.send_binary(b),
        _ => Ok(()),
    };
    // A close from the peer may already have been received.
    drop(r);
}

#[derive(Clone)]
struct MioEcho;

impl ws_adapters::mio::Handler for MioEcho {
    type Data = ();
    fn accepted(&mut self, _: SocketAddr) {}
    fn event(&mut self, conn: &mut ws_adapters::mio::Conn, _: &mut (), ev: Event) {
        echo(conn.driver_mut().session_mut().connection_mut(), ev);
    }
}

impl ws_adapters::uring::Handler for MioEcho {
    type Data = ();
    fn accepted(&mut self, _: SocketAddr) {}
    fn event(&mut self, conn: &mut ws_adapters::uring::Conn<'_>, _: &mut (), ev: Event) {
        echo(conn.driver_mut().session_mut().connection_mut(), ev);
    }
}

fn run_uring(addr: SocketAddr, options: ServerOptions, loops: usize) -> Result<(), Error> {
    if loops > 1 {
        let loops = ws_adapters::uring::serve_loops(addr, options, loops, |_| MioEcho)?;
        announce(loops.local_addr());
        loops.join()?;
        return Ok(());
    }
    let mut server = ws_adapters::uring::Server::bind(addr, options, MioEcho)?;
    announce(server.local_addr()?);
    server.run()?;
    Ok(())
}

fn run_mio(addr: SocketAddr, options: ServerOptions, loops: usize) -> Result<(), Error> {
    if loops > 1 {
        let loops = ws_adapters::mio::serve_loops(addr, options, loops, |_| MioEcho)?;
        announce(loops.local_addr());
        loops.join()?;
        return Ok(());
    }
    let mut server = ws_adapters::mio::Server::bind(addr, options, MioEcho)?;
    announce(server.local_addr()?);
    server.run()?;
    Ok(())
}

fn run_std(addr: SocketAddr, options: ServerOptions) -> Result<(), Error> {
    let server = ws_adapters::blocking::Server::bind_with(addr, options)?;
    announce(server.local_addr()?);
    loop {
        let (mut ws, _) = server.accept()?;
        std::thread::spawn(move || -> Result<(), Error> {
            while let Some(ev) = ws.recv()? {
                echo(ws.session_mut().connection_mut(), ev);
                ws.flush()?;
            }
            Ok(())
        });
    }
}

/// One connection on either async adapter (they share `AsyncWebSocket`).
async fn serve_async<S: ws_adapters::AsyncStream>(
    mut ws: ws_adapters::AsyncWebSocket<S>,
) -> Result<(), Error> {
    // The adapter's own send calls, as an application writes them (and as
    // the peers' echo servers send); a close from the peer may already
    // have been received, so a refused send is not an error here.
    while let Some(ev) = ws.recv().await? {
        let _ = match ev {
            Event::Text(t) => ws.send_text(t).await,
            Event::Binary(b) => ws.send_binary(b).await,
            _ => Ok(()),
        };
    }
    Ok(())
}

/// What a future in the smol server's set finishes with.
enum Done {
    /// The acceptor took a connection (a new acceptor replaces it).
    Accepted(Result<ws_adapters::smol::WebSocket, Error>),
    /// A connection ended.
    Closed,
}

type Task<'a> = Pin<Box<dyn Future<Output = Done> + 'a>>;

fn acceptor(server: &ws_adapters::smol::Server) -> Task<'_> {
    Box::pin(async move { Done::Accepted(server.accept().await.map(|(ws, _)| ws)) })
}

fn run_smol(addr: SocketAddr, options: ServerOptions) -> Result<(), Error> {
    let server = ws_adapters::smol::Server::bind(addr, options)?;
    announce(server.local_addr()?);
    // One thread: every connection and the acceptor are futures in one
    // `FuturesUnordered`, each polled only when its own waker fires (what
    // an executor does; no executor crate is a dependency here).
    async_io::block_on(async {
        let mut tasks: FuturesUnordered<Task<'_>> = FuturesUnordered::new();
        tasks.push(acceptor(&server));
        while let Some(done) = tasks.next().await {
            if let Done::Accepted(ws) = done {
                tasks.push(acceptor(&server));
                let ws = ws?;
                tasks.push(Box::pin(async move {
                    let _ = serve_async(ws).await;
                    Done::Closed
                }));
            }
        }
        Ok(())
    })
}

fn run_tokio(addr: SocketAddr, options: ServerOptions) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let server = ws_adapters::tokio::Server::bind(addr, options).await?;
        announce(server.local_addr()?);
        loop {
            let (ws, _) = server.accept().await?;
            tokio::spawn(serve_async(ws));
        }
    })
}

fn main() {
    let mut a = Args::from_env(USAGE);
    let adapter: String = a.value("--adapter", "mio".into());
    let addr = loopback(a.value("--port", 0));
    let compression = !a.flag("--no-compression");
    let loops: usize = a.value("--loops", 1);
    let tls = a.flag("--tls");
    a.finish();
    ws_adapters::raise_fd_limit(1 << 20);
    let mut options = ServerOptions::new(session_config(Config::default(), compression));
    if tls {
        match ws_benches::self_signed_tls() {
            Ok(t) => options = options.with_tls(t),
            Err(e) => {
                eprintln!("echo-ours: {e}");
                std::process::exit(1);
            }
        }
        TLS.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let r = match adapter.as_str() {
        "mio" => run_mio(addr, options, loops),
        "std" => run_std(addr, options),
        "smol" => run_smol(addr, options),
        "tokio" => run_tokio(addr, options),
        "uring" => run_uring(addr, options, loops),
        other => {
            eprintln!("unknown adapter {other}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = r {
        eprintln!("echo-ours: {e}");
        std::process::exit(1);
    }
}
