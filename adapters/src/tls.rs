//! TLS with rustls (ring provider) for `wss://` and `https://`, both roles.
//!
//! rustls is itself sans-IO, so it runs inside the [`Driver`](crate::Driver)
//! as a layer between the socket and the session: every adapter (std, mio,
//! smol, tokio) gets TLS, split halves included, from this one place.
//!
//! Trust is the caller's: a client names its roots
//! ([`ClientTls::with_roots`]), takes a well-known set of them
//! ([`ClientTls::webpki_roots`], feature `webpki-roots`: Mozilla's roots
//! compiled in; [`ClientTls::native_roots`], feature `native-roots`: the
//! operating system's store), brings its own verifier
//! ([`ClientTls::with_verifier`]) or, for tests only, opts in explicitly to
//! [`ClientTls::dangerous_accept_any_certificate`]. Nothing is trusted by
//! default: `ClientOptions::tls` is `None` until one of these is chosen.

use std::fmt;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::{Error, ErrorKind};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn setup(e: impl fmt::Display) -> Error {
    ErrorKind::TlsConfig(e.to_string()).into()
}

/// A client's TLS settings (cheap to clone).
#[derive(Clone, Debug)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    verifier: Option<Arc<dyn ServerCertVerifier>>,
}

impl ClientTls {
    /// Verifies servers against `roots` (webpki), no client certificate.
    pub fn with_roots(roots: RootCertStore) -> Result<Self, Error> {
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(setup)?;
        Self::with_verifier(verifier)
    }

    /// Verifies servers against these DER certificates as roots.
    pub fn trusting(certs: &[CertificateDer<'static>]) -> Result<Self, Error> {
        let mut roots = RootCertStore::empty();
        for c in certs {
            roots.add(c.clone()).map_err(setup)?;
        }
        Self::with_roots(roots)
    }

    /// Verifies servers against Mozilla's root certificates as compiled
    /// into the `webpki-roots` crate (the same everywhere; updated with
    /// that crate, not with the system).
    #[cfg(feature = "webpki-roots")]
    pub fn webpki_roots() -> Result<Self, Error> {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Self::with_roots(roots)
    }

    /// Verifies servers against the operating system's trust store (read
    /// once, now, by `rustls-native-certs`). Certificates the store holds
    /// but webpki cannot parse are skipped; an empty or unreadable store
    /// is an error.
    #[cfg(feature = "native-roots")]
    pub fn native_roots() -> Result<Self, Error> {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _skipped) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found
                .errors
                .first()
                .map_or_else(|| "the store is empty".to_owned(), ToString::to_string);
            return Err(setup(format!("no usable system root certificate: {why}")));
        }
        Self::with_roots(roots)
    }

    /// Verifies servers with the caller's own verifier.
    pub fn with_verifier(verifier: Arc<dyn ServerCertVerifier>) -> Result<Self, Error> {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        Ok(ClientTls {
            config: Arc::new(config),
            verifier: Some(verifier),
        })
    }

    /// **Test mode**: accepts any server certificate (signatures on the
    /// handshake are still checked). Never the default; never in production.
    pub fn dangerous_accept_any_certificate() -> Result<Self, Error> {
        Self::with_verifier(Arc::new(AcceptAny(provider())))
    }

    /// Any rustls client configuration (ALPN, session cache, ...).
    pub fn from_config(config: ClientConfig) -> Self {
        ClientTls {
            config: Arc::new(config),
            verifier: None,
        }
    }

    /// Presents `chain` (leaf first) with `key` when the server asks for a
    /// client certificate; trust is as configured before (not available
    /// after [`from_config`](Self::from_config): configure rustls directly).
    pub fn with_client_cert(
        self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, Error> {
        let verifier = self
            .verifier
            .ok_or_else(|| setup("with_client_cert needs a ClientTls built here"))?;
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_client_auth_cert(chain, key)?;
        Ok(ClientTls {
            config: Arc::new(config),
            verifier: Some(verifier),
        })
    }

    /// The rustls configuration (the `h2` client clones it to offer ALPN).
    pub fn rustls_config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// A TLS client connection to `host` (the SNI name and the name the
    /// certificate must carry).
    pub fn connection(&self, host: &str) -> Result<rustls::Connection, Error> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned()).map_err(setup)?;
        let conn = rustls::ClientConnection::new(self.config.clone(), name)?;
        Ok(conn.into())
    }
}

/// A server's TLS settings (cheap to clone).
#[derive(Clone, Debug)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
}

impl ServerTls {
    /// Serves `chain` (leaf first) with `key`; no client certificates.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, Error> {
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        Ok(Self::from_config(config))
    }

    /// Like [`new`](Self::new), and requires a client certificate issued by
    /// one of `client_roots` (libwebsockets' client certificate checking).
    pub fn with_client_auth(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        client_roots: &[CertificateDer<'static>],
    ) -> Result<Self, Error> {
        let mut roots = RootCertStore::empty();
        for c in client_roots {
            roots.add(c.clone()).map_err(setup)?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(setup)?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        Ok(Self::from_config(config))
    }

    /// Any rustls server configuration.
    pub fn from_config(config: ServerConfig) -> Self {
        ServerTls {
            config: Arc::new(config),
        }
    }

    /// The rustls configuration (the `h2` server clones it to offer ALPN).
    pub fn rustls_config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// A TLS server connection for one accepted socket.
    pub fn connection(&self) -> Result<rustls::Connection, Error> {
        Ok(rustls::ServerConnection::new(self.config.clone())?.into())
    }
}

/// The explicit test-mode verifier: any certificate, valid signatures.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
