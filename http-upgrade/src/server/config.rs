//! Server configuration and the application's answer to an upgrade.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use crate::dialect::DialectSet;
use crate::extensions::ExtensionOffer;
use crate::limits::Limits;

/// How the server picks a subprotocol from its table and the client's offer
/// (RFC 6455 §4.2.2 /subprotocol/: "the server selects one or none").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProtocolPolicy {
    /// The first protocol of the server's table that the client offered
    /// (libwebsockets' behaviour: the server's list is in preference order).
    #[default]
    ServerPreference,
    /// The first protocol of the client's offer that the server supports.
    ClientPreference,
}

/// A boxed origin check: receives the request's origin (`Origin`, or
/// `Sec-WebSocket-Origin` for versions 4-8), `None` if absent.
pub type OriginCheck = Arc<dyn Fn(Option<&str>) -> bool + Send + Sync>;

/// Which origins may open a WebSocket (RFC 6455 §4.2.2 /origin/, §10.2).
/// A refused origin is answered `403 Forbidden`.
#[derive(Clone, Default)]
pub enum OriginPolicy {
    /// Every request, with or without origin (the default).
    #[default]
    Any,
    /// Only these origins (ASCII case-insensitive, e.g.
    /// `http://example.com`); a request without origin is refused.
    AllowList(Vec<String>),
    /// A hook deciding for each request.
    Check(OriginCheck),
}

impl OriginPolicy {
    /// True if `origin` passes the policy.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        match self {
            OriginPolicy::Any => true,
            OriginPolicy::AllowList(list) => {
                origin.is_some_and(|o| list.iter().any(|a| a.eq_ignore_ascii_case(o)))
            }
            OriginPolicy::Check(f) => f(origin),
        }
    }
}

impl fmt::Debug for OriginPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginPolicy::Any => f.write_str("Any"),
            OriginPolicy::AllowList(l) => f.debug_tuple("AllowList").field(l).finish(),
            OriginPolicy::Check(_) => f.write_str("Check(..)"),
        }
    }
}

/// Configuration shared by the server handshakes of a listener (wrap it in
/// an `Arc` once). `ServerConfig::default()` accepts every dialect, any
/// origin, no subprotocol table, with [`Limits::default`] and a 5 s deadline.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Limits on requests.
    pub limits: Limits,
    /// Dialects accepted; a refused one gets `426` (default: all).
    pub dialects: DialectSet,
    /// The server's subprotocols, in preference order (like libwebsockets'
    /// protocol list).
    pub protocols: Vec<String>,
    /// How [`UpgradeRequest::selected_protocol`](crate::UpgradeRequest) is picked.
    pub protocol_policy: ProtocolPolicy,
    /// The origin check.
    pub origin: OriginPolicy,
    /// True if connections are TLS: hixie-76's `Sec-WebSocket-Location` then
    /// says `wss://` (draft-00 §5.2 step 2 /secure flag/).
    pub secure: bool,
    /// Time allowed for each request head (and body) to arrive (default 5 s,
    /// like libwebsockets' `AWAITING_TIMEOUT`).
    pub handshake_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            dialects: DialectSet::ALL,
            protocols: Vec::new(),
            protocol_policy: ProtocolPolicy::default(),
            origin: OriginPolicy::Any,
            secure: false,
            handshake_timeout: Duration::from_secs(5),
        }
    }
}

impl ServerConfig {
    /// Sets the subprotocol table (builder style).
    pub fn with_protocols<S: Into<String>>(
        mut self,
        protocols: impl IntoIterator<Item = S>,
    ) -> Self {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the accepted dialects (builder style).
    pub fn with_dialects(mut self, dialects: DialectSet) -> Self {
        self.dialects = dialects;
        self
    }

    /// Sets the origin policy (builder style).
    pub fn with_origin(mut self, origin: OriginPolicy) -> Self {
        self.origin = origin;
        self
    }

    /// Sets the limits (builder style).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Marks connections as TLS (builder style).
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Sets the handshake deadline (builder style).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Picks the subprotocol for a client's offer per the policy.
    pub fn select_protocol(&self, offered: &[String]) -> Option<String> {
        let found = match self.protocol_policy {
            ProtocolPolicy::ServerPreference => self.protocols.iter().find(|p| offered.contains(p)),
            ProtocolPolicy::ClientPreference => offered.iter().find(|p| self.protocols.contains(p)),
        };
        found.cloned()
    }
}

/// The application's positive answer to an upgrade request (RFC 6455
/// §4.2.2 step 5): subprotocol, `Sec-WebSocket-Extensions` response
/// entries, extra headers such as `Set-Cookie`.
///
/// `#[non_exhaustive]`: build it with [`Accept::for_request`] or
/// `Accept::default()` and the builder methods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Accept {
    /// The subprotocol; must be one the client offered.
    pub protocol: Option<String>,
    /// The accepted extensions; each name must be one the client offered.
    pub extensions: Vec<ExtensionOffer>,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
}

impl Accept {
    /// An answer that takes the protocol the server's policy selected.
    pub fn for_request(req: &crate::UpgradeRequest) -> Self {
        Accept {
            protocol: req.selected_protocol.clone(),
            ..Accept::default()
        }
    }

    /// Sets the subprotocol (builder style).
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Adds an extension response entry (builder style).
    pub fn extension(mut self, ext: ExtensionOffer) -> Self {
        self.extensions.push(ext);
        self
    }

    /// Adds a header (builder style).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}
