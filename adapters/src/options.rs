//! Endpoint settings shared by every adapter: what a server accepts and
//! refuses, and how a client reaches its server.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use http_upgrade::{ClientRequest, ServerConfig};
use ws_proto::Config;
use ws_proto::session::{Session, SessionConfig};

use crate::proxy::ProxySetting;
use crate::{Clock, Driver, Error, ErrorKind, MemoryBudget, Policy, Recording, mask_rng};

use crate::forwarded::{FilterFn, Forwarded, TrustFn};

/// Server settings, the same for every adapter.
///
/// | setting | default |
/// |---|---|
/// | `http` | `ServerConfig::default()` (every dialect, 5 s handshake timeout) |
/// | `session` | no extensions, ws-proto's limits |
/// | `max_connections` | the file-descriptor limit less 64 ([`fd_limit`]) |
/// | `filter` | none: every peer address is served |
/// | `trusted_proxies` | none: `X-Forwarded-For` is ignored |
/// | `tls` | none (plain `ws://`) |
/// | `budget` | [`MemoryBudget::for_machine`]: soft ¼, hard ½ of the usable memory |
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Handshake settings (dialects, subprotocols, origins, limits,
    /// `handshake_timeout`).
    pub http: Arc<ServerConfig>,
    /// Session settings (negotiators, connection limits, `idle_timeout`).
    pub session: Arc<SessionConfig>,
    /// Answers to upgrades and plain HTTP requests.
    pub policy: Arc<Policy>,
    /// Connections served at once; more are refused with `503`.
    pub max_connections: usize,
    /// Called with each peer's address before any byte is read; `false`
    /// closes the connection at once (libwebsockets' network filter).
    pub filter: Option<Arc<FilterFn>>,
    /// Peers whose `X-Forwarded-For` names the client
    /// ([`with_trusted_proxies`](Self::with_trusted_proxies)).
    pub trusted_proxies: Option<Arc<TrustFn>>,
    /// TLS for `wss://` / `https://`.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::ServerTls>,
    /// The memory budget every connection counts against (`None`: no
    /// server-wide bound, only the per-connection limits).
    pub budget: Option<Arc<MemoryBudget>>,
    /// Which connections to record, and where their transcripts go
    /// ([`crate::recording`]); `None` records nothing.
    pub recording: Option<Recording>,
}

impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("session", &self.session)
            .field("max_connections", &self.max_connections)
            .field("filter", &self.filter.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            http: Arc::new(ServerConfig::default()),
            session: Arc::new(SessionConfig::default()),
            policy: Arc::default(),
            max_connections: fd_limit().saturating_sub(64).max(1),
            filter: None,
            trusted_proxies: None,
            #[cfg(feature = "tls")]
            tls: None,
            budget: Some(Arc::new(MemoryBudget::for_machine())),
            recording: None,
        }
    }
}

impl ServerOptions {
    /// Settings with `session` (negotiators, limits) and the other defaults.
    pub fn new(session: SessionConfig) -> Self {
        ServerOptions {
            session: Arc::new(session),
            ..ServerOptions::default()
        }
    }

    /// Session settings (negotiators, connection limits, `idle_timeout`).
    pub fn with_session(mut self, session: SessionConfig) -> Self {
        self.session = Arc::new(session);
        self
    }

    /// Handshake settings. With TLS on ([`with_tls`](Self::with_tls), in
    /// either order) the handshake is marked secure
    /// ([`ServerConfig::secure`]), whatever `http` says.
    pub fn with_http(mut self, http: ServerConfig) -> Self {
        self.http = Arc::new(http);
        self.mark_secure();
        self
    }

    /// Refuse connections over `n` with `503`.
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Serves only peers for which `f` returns true; it runs before any
    /// byte is read.
    pub fn with_filter(mut self, f: impl Fn(SocketAddr) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Arc::new(f));
        self
    }

    /// Serves only peers for which `f(address, name)` returns true, where
    /// `name` is the peer's reverse name from the system resolver
    /// (`getnameinfo`: `/etc/hosts`, then DNS), `None` if it has none
    /// (libwebsockets passes its filter both). Like
    /// [`with_filter`](Self::with_filter) it runs before any byte is read,
    /// and replaces a filter set before.
    ///
    /// The lookup blocks the accepting thread for as long as the resolver
    /// takes (its own timeouts bound it): the loop on mio, the accepting
    /// task on tokio and smol, the accept loop on std. Use it with a
    /// local or caching resolver, or filter by address alone.
    ///
    /// ```
    /// use ws_adapters::ServerOptions;
    ///
    /// // Loopback clients that resolve to "localhost" only.
    /// let options = ServerOptions::default()
    ///     .with_named_filter(|addr, name| addr.ip().is_loopback() && name == Some("localhost"));
    /// ```
    pub fn with_named_filter(
        self,
        f: impl Fn(SocketAddr, Option<&str>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.with_filter(move |peer| {
            let name = reverse_name(peer.ip());
            log::debug!("{peer}: reverse name {name:?}");
            f(peer, name.as_deref())
        })
    }

    /// Trusts the reverse proxies for which `f` returns true (nginx,
    /// HAProxy on this host: `|ip| ip.is_loopback()`): a connection from
    /// one skips the [filter](Self::with_filter) at accept; each request
    /// it carries is filtered instead by the client its
    /// `X-Forwarded-For` names (`403` if refused, `400` for a list that
    /// is not addresses), and that client becomes the connection's
    /// [`peer`](crate::Driver::peer) for the application and the logs.
    /// See [`forwarded`](crate::forwarded) for which entry is believed.
    ///
    /// ```
    /// use ws_adapters::ServerOptions;
    ///
    /// // Behind nginx on this host; serve only clients of 192.0.2.0/24.
    /// let options = ServerOptions::default()
    ///     .with_trusted_proxies(|ip| ip.is_loopback())
    ///     .with_filter(|client| matches!(client.ip(), std::net::IpAddr::V4(v4) if v4.octets()[..3] == [192, 0, 2]));
    /// ```
    pub fn with_trusted_proxies(
        mut self,
        f: impl Fn(std::net::IpAddr) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.trusted_proxies = Some(Arc::new(f));
        self
    }

    /// True if `peer` is a trusted proxy.
    fn trusts(&self, peer: SocketAddr) -> bool {
        self.trusted_proxies.as_ref().is_some_and(|t| t(peer.ip()))
    }

    /// Upgrade and plain-HTTP answers.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// Handshake timeout (from accept to the `101`).
    pub fn with_handshake_timeout(mut self, t: Duration) -> Self {
        let http = (*self.http).clone().with_timeout(t);
        self.http = Arc::new(http);
        self
    }

    /// Serves `wss://` with this TLS setting, and marks the handshake
    /// secure ([`ServerConfig::secure`]): hixie-76's
    /// `Sec-WebSocket-Location` then says `wss://` (draft-hixie-76 §5.2
    /// /secure flag/).
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: crate::tls::ServerTls) -> Self {
        self.tls = Some(tls);
        self.mark_secure();
        self
    }

    /// Counts every connection against `budget` (shared with other servers
    /// by cloning the `Arc`), or none with `None`.
    pub fn with_budget(mut self, budget: Option<Arc<MemoryBudget>>) -> Self {
        self.budget = budget;
        self
    }

    /// Records connections with `recording` ([`crate::recording`]).
    pub fn with_recording(mut self, recording: Recording) -> Self {
        self.recording = Some(recording);
        self
    }

    /// True if connections are served over TLS.
    fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            self.tls.is_some()
        }
        #[cfg(not(feature = "tls"))]
        {
            false
        }
    }

    /// Sets [`ServerConfig::secure`] when TLS is on (never clears it: a
    /// plain listener behind a TLS-terminating proxy may set it itself).
    fn mark_secure(&mut self) {
        if self.is_tls() && !self.http.secure {
            self.http = Arc::new((*self.http).clone().with_secure(true));
        }
    }

    /// The handshake settings a connection gets: [`Self::http`], marked
    /// secure when TLS is on. The builders keep `http` marked already; the
    /// copy here covers fields assigned directly (they are public).
    fn http_for_connection(&self) -> Arc<ServerConfig> {
        if self.is_tls() && !self.http.secure {
            return Arc::new((*self.http).clone().with_secure(true));
        }
        self.http.clone()
    }

    /// True if `peer` passes the filter (a trusted proxy passes: its
    /// requests' clients are filtered instead).
    pub fn admits(&self, peer: SocketAddr) -> bool {
        self.trusts(peer) || self.filter.as_ref().is_none_or(|f| f(peer))
    }

    /// A server-side driver for a connection just accepted from `peer`.
    /// Every adapter's server builds its connections here, so with TLS on
    /// each handshake is marked secure ([`ServerConfig::secure`]).
    pub fn driver(&self, clock: Clock, peer: SocketAddr) -> Result<Driver, Error> {
        self.driver_for(clock, Some(peer))
    }

    /// [`driver`](Self::driver) for a stream whose peer address may be
    /// unknown (an in-memory pipe, a stream a host server hands over).
    pub fn driver_for(&self, clock: Clock, peer: Option<SocketAddr>) -> Result<Driver, Error> {
        let http = self.http_for_connection();
        let mut session = Session::server(http, self.session.clone(), clock.now());
        let recorded = self.recording.as_ref().and_then(|r| {
            let label = peer.map(|p| p.to_string()).unwrap_or_default();
            let (options, id) = r.begin(peer, label)?;
            session.record(options).ok()?;
            Some((r.clone(), id))
        });
        let mut driver = Driver::new(session, clock, peer).with_policy(self.policy.clone());
        if let Some((r, id)) = recorded {
            driver = driver.with_recording(r, id);
        }
        if let Some(b) = &self.budget {
            driver = driver.with_budget(b.ticket());
        }
        if let (Some(trust), Some(p)) = (&self.trusted_proxies, peer)
            && trust(p.ip())
        {
            driver.set_forwarded(Forwarded {
                proxy: p,
                trust: trust.clone(),
                filter: self.filter.clone(),
            });
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return Ok(driver.with_tls(tls.connection()?));
        }
        Ok(driver)
    }
}

/// The reverse name of `ip` from the system resolver; `None` if it has
/// none (the resolver answering with the address itself counts as none).
pub fn reverse_name(ip: std::net::IpAddr) -> Option<String> {
    let name = dns_lookup::lookup_addr(&ip).ok()?;
    (name.parse::<std::net::IpAddr>().is_err() && !name.is_empty()).then_some(name)
}

/// The process's soft limit on open file descriptors (1024 if unknown,
/// and on targets without `getrlimit`).
pub fn fd_limit() -> usize {
    #[cfg(unix)]
    {
        let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        lim.current
            .and_then(|c| usize::try_from(c).ok())
            .unwrap_or(1024)
    }
    #[cfg(not(unix))]
    {
        1024
    }
}

/// Raises the soft file-descriptor limit towards `want` (at most the hard
/// limit); returns the limit now in force. Does nothing but report
/// [`fd_limit`] on targets without `setrlimit`.
#[cfg(not(unix))]
pub fn raise_fd_limit(want: usize) -> usize {
    let _ = want;
    fd_limit()
}

/// Raises the soft file-descriptor limit towards `want` (at most the hard
/// limit); returns the limit now in force.
#[cfg(unix)]
pub fn raise_fd_limit(want: usize) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    let want = want as u64;
    let hard = lim.maximum.unwrap_or(u64::MAX);
    if lim.current.is_some_and(|c| c < want) {
        lim.current = Some(want.min(hard));
        let _ = setrlimit(Resource::Nofile, lim);
    }
    fd_limit()
}

/// Client settings, the same for every adapter.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Session settings (negotiators, limits).
    pub session: Arc<SessionConfig>,
    /// Which HTTP proxy to tunnel through (default: the environment's
    /// `http_proxy` / `https_proxy` / `no_proxy`).
    pub proxy: ProxySetting,
    /// TLS for `wss://` (required for it: there is no implicit trust store).
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::ClientTls>,
    /// Bound on the TCP connect, and (blocking client) on the handshake.
    pub timeout: Duration,
    /// Records the connection ([`crate::recording`]; the label is the URL).
    pub recording: Option<Recording>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            session: Arc::new(SessionConfig::default()),
            proxy: ProxySetting::FromEnv,
            #[cfg(feature = "tls")]
            tls: None,
            timeout: Duration::from_secs(30),
            recording: None,
        }
    }
}

impl From<Arc<SessionConfig>> for ClientOptions {
    fn from(session: Arc<SessionConfig>) -> Self {
        ClientOptions {
            session,
            ..ClientOptions::default()
        }
    }
}

impl ClientOptions {
    /// Settings with `session` and the other defaults.
    pub fn new(session: SessionConfig) -> Self {
        Arc::new(session).into()
    }

    /// Which proxy to use.
    pub fn with_proxy(mut self, proxy: ProxySetting) -> Self {
        self.proxy = proxy;
        self
    }

    /// TLS for `wss://`.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: crate::tls::ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Records connections with `recording` ([`crate::recording`]).
    pub fn with_recording(mut self, recording: Recording) -> Self {
        self.recording = Some(recording);
        self
    }

    /// A client driver for `request` over a stream the caller opened
    /// (its request queued): no proxy and no TLS layer, the stream is
    /// taken to reach the server as it is (a TLS stream of the caller's
    /// own for `wss://`).
    pub fn driver_on_stream(&self, request: ClientRequest) -> Result<Driver, Error> {
        let clock = Clock::new();
        let recorded = self
            .recording
            .as_ref()
            .and_then(|r| Some((r.clone(), r.begin(None, request.url.to_string())?)));
        let Some((r, (options, id))) = recorded else {
            let session = Session::client(request, self.session.clone(), mask_rng(), clock.now())?;
            return Ok(Driver::new(session, clock, None));
        };
        let session = Session::client_recorded(
            request,
            self.session.clone(),
            mask_rng(),
            clock.now(),
            options,
        )?;
        Ok(Driver::new(session, clock, None).with_recording(r, id))
    }

    /// Where to open the TCP connection for `request` (the proxy or the
    /// server, per [`proxy`](Self::proxy)), and the driver to run over it
    /// (with the proxy tunnel and, for `wss://`, TLS layered in).
    pub fn plan(&self, request: ClientRequest) -> Result<(String, u16, Driver), Error> {
        let url = request.url.clone();
        let proxy = self.proxy.for_url(&url)?;
        let mut driver = self.driver_on_stream(request)?;
        let (host, port) = match proxy {
            Some(p) => {
                driver = driver.with_proxy(p.connect_to(&url)?);
                (p.host, p.port)
            }
            None => (url.host().to_owned(), url.port()),
        };
        if url.is_secure() {
            #[cfg(feature = "tls")]
            {
                let tls = self.tls.as_ref().ok_or_else(|| {
                    ErrorKind::TlsConfig("wss:// needs ClientOptions::tls (trust roots)".into())
                })?;
                driver = driver.with_tls(tls.connection(url.host())?);
            }
            #[cfg(not(feature = "tls"))]
            return Err(ErrorKind::TlsConfig("built without the tls feature".into()).into());
        }
        Ok((host, port, driver))
    }
}

/// What a client's `connect` takes as its request: a URL (`&str`,
/// `String`, [`WsUrl`](http_upgrade::WsUrl)) or a full [`ClientRequest`]
/// (subprotocols, origin, dialect, extension offers, headers).
pub trait IntoClientRequest {
    /// The request.
    fn into_client_request(self) -> Result<ClientRequest, Error>;
}

impl IntoClientRequest for ClientRequest {
    fn into_client_request(self) -> Result<ClientRequest, Error> {
        Ok(self)
    }
}

impl IntoClientRequest for &str {
    fn into_client_request(self) -> Result<ClientRequest, Error> {
        Ok(ClientRequest::new(self)?)
    }
}

impl IntoClientRequest for String {
    fn into_client_request(self) -> Result<ClientRequest, Error> {
        self.as_str().into_client_request()
    }
}

impl IntoClientRequest for &String {
    fn into_client_request(self) -> Result<ClientRequest, Error> {
        self.as_str().into_client_request()
    }
}

/// A request built with the `http` crate (feature `http`): the URI, and
/// the `Sec-WebSocket-Protocol`, `Origin`, `Sec-WebSocket-Extensions`,
/// `Sec-WebSocket-Version` and other headers (see `http_upgrade`'s
/// conversion).
#[cfg(feature = "http")]
impl IntoClientRequest for http::Request<()> {
    fn into_client_request(self) -> Result<ClientRequest, Error> {
        Ok(ClientRequest::try_from(self)?)
    }
}

/// A `ws://` or `wss://` URI (feature `http`).
#[cfg(feature = "http")]
impl IntoClientRequest for &http::Uri {
    fn into_client_request(self) -> Result<ClientRequest, Error> {
        let url = http_upgrade::WsUrl::try_from(self)
            .map_err(|e| http_upgrade::Error::from(http_upgrade::MisuseError::Url(e)))?;
        Ok(ClientRequest::from_url(url))
    }
}

impl IntoClientRequest for http_upgrade::WsUrl {
    fn into_client_request(self) -> Result<ClientRequest, Error> {
        Ok(ClientRequest::from_url(self))
    }
}

/// Session settings with `connection` limits and timers, negotiating
/// permessage-deflate, deflate-frame and deflate-stream if `compression`.
pub fn session_config(connection: Config, compression: bool) -> SessionConfig {
    let mut session = SessionConfig::new(connection);
    if compression {
        session.negotiators = deflate_ext::default_negotiators();
    }
    session
}

/// Resolves `host:port` without blocking the calling task: a literal IP
/// address at once, a name on a short-lived thread of its own (the system
/// resolver blocks), waking the task when it is done. Runtime-agnostic, for
/// the async-io adapter (tokio has its own `lookup_host`).
#[cfg(feature = "smol")]
pub(crate) async fn resolve_async(host: String, port: u16) -> Result<SocketAddr, Error> {
    use std::sync::Mutex;
    use std::task::{Poll, Waker};

    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    type Slot = (Option<Result<SocketAddr, Error>>, Option<Waker>);
    let slot: Arc<Mutex<Slot>> = Arc::default();
    let done = slot.clone();
    std::thread::Builder::new()
        .name("ws-resolve".into())
        .spawn(move || {
            let r = resolve(&host, port);
            let mut g = done
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            g.0 = Some(r);
            if let Some(w) = g.1.take() {
                w.wake();
            }
        })?;
    std::future::poll_fn(|cx| {
        let mut g = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match g.0.take() {
            Some(r) => Poll::Ready(r),
            None => {
                g.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}

/// Resolves `host:port` to its first address.
pub(crate) fn resolve(host: &str, port: u16) -> Result<SocketAddr, Error> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| ErrorKind::Resolve(host.to_owned()).into())
}

#[cfg(all(test, feature = "smol"))]
mod resolve_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_resolve_off_the_task_and_addresses_at_once() {
        let ip = async_io::block_on(resolve_async("127.0.0.1".into(), 80)).unwrap();
        assert_eq!(ip, SocketAddr::from(([127, 0, 0, 1], 80)));
        let name = async_io::block_on(resolve_async("localhost".into(), 81)).unwrap();
        assert!(name.ip().is_loopback(), "{name}");
        assert_eq!(name.port(), 81);
        let bad = async_io::block_on(resolve_async("no-such-host.invalid".into(), 1));
        assert!(bad.is_err());
    }
}
