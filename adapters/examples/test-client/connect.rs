//! How the client tools (test-client, ping, fraggle) reach a server: URL,
//! dialect, TLS and compression settings. Shared by path (`#[path]`), since
//! each example is its own crate.

use std::net::TcpStream;

use http_upgrade::{ClientRequest, Dialect};
use ws_adapters::blocking::{self, WebSocket};
use ws_adapters::tls::ClientTls;
use ws_adapters::{ClientOptions, Error, session_config};
use ws_proto::Config;

/// Parses a `--version` value: a `Sec-WebSocket-Version` (13, 8, 7, 6, 5,
/// 4) or 76 for hixie-76 (draft-00).
pub(crate) fn parse_dialect(s: &str) -> Result<Dialect, String> {
    let v: u8 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    match v {
        76 | 0 => Ok(Dialect::Hixie76),
        v => Dialect::from_version(v)
            .ok_or_else(|| format!("version {v} is not one we speak: use 13, 8, 7, 6, 5, 4 or 76")),
    }
}

/// The name of a dialect as the `--version` flag spells it.
pub(crate) fn dialect_name(d: Dialect) -> String {
    match d.version() {
        Some(v) => v.to_string(),
        None => "76 (hixie-76)".to_owned(),
    }
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) ssl: bool,
    pub(crate) dialect: Dialect,
    pub(crate) compression: bool,
    /// Largest message accepted (fraggle's reassembled messages are large).
    pub(crate) max_message: u64,
}

impl Target {
    /// `ws://host:port/` or `wss://...` (IPv6 literals in brackets).
    pub(crate) fn url(&self) -> String {
        let scheme = if self.ssl { "wss" } else { "ws" };
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("{scheme}://[{}]:{}/", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}/", self.host, self.port)
        }
    }

    /// The client settings: the environment's proxy (`http_proxy`,
    /// `https_proxy`, `no_proxy`), compression, and for `--ssl` a verifier
    /// that accepts the test server's self-signed certificate.
    pub(crate) fn options(&self) -> Result<ClientOptions, Error> {
        let connection = Config::default()
            .with_max_message_size(self.max_message)
            .with_max_frame_size(self.max_message);
        let options = ClientOptions::new(session_config(connection, self.compression));
        if self.ssl {
            // The test server makes a new self-signed certificate at every
            // start: there is no root to trust, so this is test mode.
            return Ok(options.with_tls(ClientTls::dangerous_accept_any_certificate()?));
        }
        Ok(options)
    }

    /// Opens a connection speaking `protocol`.
    pub(crate) fn connect(&self, protocol: &str) -> Result<WebSocket<TcpStream>, Error> {
        let request = ClientRequest::new(&self.url())?
            .dialect(self.dialect)
            .protocol(protocol);
        blocking::connect_with(request, &self.options()?)
    }
}
