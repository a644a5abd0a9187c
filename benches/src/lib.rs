//! Shared helpers for the benchmarks and the echo load harness
//! (`src/bin/`: the `ws-load` generator, the echo servers, `conn-size`):
//! a small command-line parser, the start-up line the scripts wait for,
//! and readers for `/proc` (CPU time, resident memory).

use std::fmt::Display;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;

use http_upgrade::testing::SplitMix;

/// A minimal `--name value` / `--name=value` / `--flag` parser over the
/// process arguments; unknown arguments are an error at
/// [`finish`](Args::finish).
#[derive(Debug)]
pub struct Args {
    rest: Vec<String>,
    usage: &'static str,
}

impl Args {
    /// The process arguments (without the program name); `usage` is printed
    /// on `--help` and on errors.
    pub fn from_env(usage: &'static str) -> Args {
        let rest: Vec<String> = std::env::args().skip(1).collect();
        if rest.iter().any(|a| a == "--help" || a == "-h") {
            println!("{usage}");
            std::process::exit(0);
        }
        Args { rest, usage }
    }

    /// Prints `msg` and the usage, and exits with status 2.
    pub fn fail(&self, msg: impl Display) -> ! {
        eprintln!("error: {msg}\n\n{}", self.usage);
        std::process::exit(2);
    }

    /// True if `--name` is present (removed from the list).
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|a| a != name);
        self.rest.len() != before
    }

    /// The value of `--name value` or `--name=value`, if given.
    pub fn opt<T: FromStr>(&mut self, name: &str) -> Option<T>
    where
        T::Err: Display,
    {
        let prefix = format!("{name}=");
        let i = self
            .rest
            .iter()
            .position(|a| a == name || a.starts_with(&prefix))?;
        let arg = self.rest.remove(i);
        let text = match arg.strip_prefix(&prefix) {
            Some(v) => v.to_owned(),
            None if i < self.rest.len() => self.rest.remove(i),
            None => self.fail(format!("{name} needs a value")),
        };
        match text.parse() {
            Ok(v) => Some(v),
            Err(e) => self.fail(format!("{name} {text}: {e}")),
        }
    }

    /// The value of `--name`, or `default`.
    pub fn value<T: FromStr>(&mut self, name: &str, default: T) -> T
    where
        T::Err: Display,
    {
        self.opt(name).unwrap_or(default)
    }

    /// Fails if arguments are left that nobody asked for.
    pub fn finish(self) {
        if let Some(a) = self.rest.first() {
            self.fail(format!("unknown argument {a}"));
        }
    }
}

/// The loopback address with `port` (the harness binds nothing else).
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Prints the start-up line the scripts wait for (and read the port from):
/// `listening on ws://127.0.0.1:PORT/`.
pub fn announce(addr: SocketAddr) {
    // `println!` flushes at the newline (stdout is line-buffered).
    println!("listening on ws://{addr}/");
}

/// [`announce`] for a TLS server: `listening on wss://127.0.0.1:PORT/`.
pub fn announce_tls(addr: SocketAddr) {
    println!("listening on wss://{addr}/");
}

/// The TLS setting of every echo server in a `wss` run: a fresh
/// self-signed certificate for `127.0.0.1` and `localhost`, ECDSA P-256,
/// rustls with the ring provider and its default suites. The peers' tokio-rustls
/// acceptors take its [`rustls_config`](ws_adapters::tls::ServerTls::rustls_config),
/// so every server offers the same handshake and cipher (and `ws-load
/// --tls` trusts any certificate).
pub fn self_signed_tls() -> io::Result<ws_adapters::tls::ServerTls> {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let cert = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    let key = rustls_pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
    ws_adapters::tls::ServerTls::new(vec![cert.cert.der().clone()], key.into())
        .map_err(io::Error::other)
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`,
/// 100 if that cannot be asked).
pub fn clk_tck() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// User plus system CPU time of process `pid` (all its threads, living and
/// gone), in clock ticks ([`clk_tck`]), from `/proc/<pid>/stat` fields 14
/// and 15.
pub fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces:
    // count the fields after its closing parenthesis (field 3 first).
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| io::Error::other("bad /proc stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> io::Result<u64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("bad /proc stat field"))
    };
    Ok(field(14)? + field(15)?)
}

/// Resident set size of process `pid` in KiB (`VmRSS` of
/// `/proc/<pid>/status`).
pub fn vm_rss_kib(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::other("no VmRSS in /proc status"))
}

/// The median of `values` (the mean of the middle two for an even count);
/// 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The next mask key from `rng`, as our `Connection` derives it from its
/// RNG (`next_u32` in native byte order): benches that mask by hand draw
/// the same keys as the connections they compare with.
///
/// The benches take their randomness from [`SplitMix`], seeded, so every
/// run feeds identical bytes.
pub fn mask_key(rng: &mut SplitMix) -> [u8; 4] {
    rng.next_u32().to_ne_bytes()
}

/// The peers' echo servers: parses `--port` and `--tls`, runs a
/// current-thread tokio runtime (one core), binds 127.0.0.1, announces the
/// address and spawns `serve` for every accepted connection (with
/// `TCP_NODELAY`); with `--tls`, over tokio-rustls with
/// [`self_signed_tls`]'s configuration.
pub fn run_tokio_echo<T: Serve>(usage: &'static str, server: T) -> io::Result<()> {
    let mut a = Args::from_env(usage);
    let addr = loopback(a.value("--port", 0));
    let tls = a.flag("--tls");
    a.finish();
    let acceptor = match tls {
        true => Some(tokio_rustls::TlsAcceptor::from(
            self_signed_tls()?.rustls_config().clone(),
        )),
        false => None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        match tls {
            true => announce_tls(listener.local_addr()?),
            false => announce(listener.local_addr()?),
        }
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            match &acceptor {
                None => drop(tokio::spawn(server.serve(stream))),
                Some(acceptor) => {
                    let accept = acceptor.accept(stream);
                    drop(tokio::spawn(async move {
                        if let Ok(stream) = accept.await {
                            server.serve(stream).await;
                        }
                    }));
                }
            }
        }
    })
}

/// A peer's echo task for one connection, over plain TCP or tokio-rustls
/// (`--tls`), for [`run_tokio_echo`].
pub trait Serve: Copy + Send + 'static {
    /// Serves the WebSocket connection on `stream` until it ends.
    fn serve<S>(self, stream: S) -> impl std::future::Future<Output = ()> + Send + 'static
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_stat_and_status() {
        let me = std::process::id();
        assert!(cpu_ticks(me).is_ok());
        assert!(vm_rss_kib(me).unwrap() > 0);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
