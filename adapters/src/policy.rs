//! How a server answers the handshakes it is not asked about: the
//! [`Policy`] of [`ServerOptions`](crate::ServerOptions), used by every
//! adapter's server and by [`hosted`](crate::hosted).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use http_upgrade::{Accept, HttpRequest, Response, UpgradeRequest};

type UpgradeFn =
    dyn Fn(&UpgradeRequest, Option<SocketAddr>) -> Result<Accept, Response> + Send + Sync;
type RequestFn = dyn Fn(&HttpRequest) -> Response + Send + Sync;
type ConfigFn = dyn Fn(&UpgradeRequest, &Accept) -> Option<ws_proto::Config> + Send + Sync;
type StreamedFn =
    dyn Fn(&HttpRequest) -> (Response, Option<Box<dyn crate::BodySource>>) + Send + Sync;

/// How a server answers handshakes it is not asked about: by default every
/// valid upgrade is accepted (with the negotiators' extensions) and a plain
/// HTTP request gets `404`.
#[derive(Clone, Default)]
pub struct Policy {
    upgrade: Option<Arc<UpgradeFn>>,
    request: Option<Arc<RequestFn>>,
    config: Option<Arc<ConfigFn>>,
    streamed: Option<Arc<StreamedFn>>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("upgrade", &self.upgrade.is_some())
            .field("request", &self.request.is_some())
            .finish()
    }
}

impl Policy {
    /// Decides each upgrade: `Ok(accept)` or `Err(response)` to refuse.
    pub fn on_upgrade(
        mut self,
        f: impl Fn(&UpgradeRequest, Option<SocketAddr>) -> Result<Accept, Response>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.upgrade = Some(Arc::new(f));
        self
    }

    /// Answers plain HTTP requests.
    pub fn on_request(
        mut self,
        f: impl Fn(&HttpRequest) -> Response + Send + Sync + 'static,
    ) -> Self {
        self.request = Some(Arc::new(f));
        self
    }

    /// Answers plain HTTP requests with a body streamed as the connection
    /// takes it (a [`Response::streamed`] announcing the length, and the
    /// source of its bytes; `None` for a full or empty body). Takes the
    /// place of [`on_request`](Self::on_request).
    pub fn on_request_streamed(
        mut self,
        f: impl Fn(&HttpRequest) -> (Response, Option<Box<dyn crate::BodySource>>)
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.streamed = Some(Arc::new(f));
        self
    }

    pub(crate) fn request_streamed(
        &self,
        req: &HttpRequest,
    ) -> (Response, Option<Box<dyn crate::BodySource>>) {
        match &self.streamed {
            Some(f) => f(req),
            None => (self.request(req), None),
        }
    }

    /// Chooses the connection's limits and timers per accepted upgrade
    /// (`None`: the session config's), e.g. per subprotocol.
    pub fn on_connection_config(
        mut self,
        f: impl Fn(&UpgradeRequest, &Accept) -> Option<ws_proto::Config> + Send + Sync + 'static,
    ) -> Self {
        self.config = Some(Arc::new(f));
        self
    }

    pub(crate) fn connection_config(
        &self,
        req: &UpgradeRequest,
        accept: &Accept,
    ) -> Option<ws_proto::Config> {
        self.config.as_ref().and_then(|f| f(req, accept))
    }

    pub(crate) fn upgrade(
        &self,
        req: &UpgradeRequest,
        peer: Option<SocketAddr>,
    ) -> Result<Accept, Response> {
        match &self.upgrade {
            Some(f) => f(req, peer),
            None => Ok(Accept::for_request(req)),
        }
    }

    pub(crate) fn request(&self, req: &HttpRequest) -> Response {
        match &self.request {
            Some(f) => f(req),
            None => Response::new(404).body("Not Found: this is a WebSocket endpoint\n"),
        }
    }
}

/// The policy of a driver given none: every valid upgrade accepted, `404`
/// for plain requests.
pub(crate) static DEFAULT: Policy = Policy {
    upgrade: None,
    request: None,
    config: None,
    streamed: None,
};
