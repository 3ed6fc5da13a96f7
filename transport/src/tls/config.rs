//! rustls and quinn configurations for mutual TLS against the cluster CA.
//!
//! - Server side (nodes only): every client must present a certificate
//!   chaining to the cluster CA (rustls `WebPkiClientVerifier` with the CA as
//!   the only root); the peer's identity is then read from that certificate.
//! - Client side (nodes dialing nodes, and clients): the server must chain to
//!   the cluster CA and carry the DNS name `n<id>.node.zerodb` of the node we
//!   meant to dial (that name is the TLS server name).
//!
//! Only TLS 1.3 is offered (QUIC requires it) and only with the `ring`
//! provider, configured through `builder_with_provider`.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use super::identity::{identity_from_certificate, IdentityError, PeerIdentity};
use crate::certs::{CertError, CertFiles};
use crate::tls::identity::NodeId;

/// The ALPN protocol both sides must offer.
pub const ALPN: &[u8] = b"zerodb/1";

/// Why TLS material could not be loaded or a configuration built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM input does not hold what it should.
    #[error("{what}: {problem}; check the file or regenerate it with `zerodb certs`")]
    Pem {
        /// Which input (CA certificate, certificate, key).
        what: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// Our own certificate does not name a valid identity.
    #[error("own certificate: {0}")]
    Identity(#[from] IdentityError),
    /// A server configuration needs a node certificate.
    #[error("only a node certificate can serve connections, but this certificate names {0}; use the node's certificate from `zerodb certs node`")]
    NotANode(PeerIdentity),
    /// rustls refused the configuration (for example a key that does not
    /// match the certificate).
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client certificate verifier could not be built from the CA.
    #[error("cannot verify clients against the cluster CA: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// quinn refused the rustls configuration.
    #[error("QUIC needs a TLS 1.3 cipher suite: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
    /// Reading the certificate files failed.
    #[error(transparent)]
    Files(#[from] CertError),
}

/// Our TLS credentials: the cluster CA certificate, our certificate chain and
/// private key, and the identity the certificate names.
#[derive(Debug)]
pub struct TlsIdentity {
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    identity: PeerIdentity,
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        TlsIdentity {
            ca: self.ca.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            identity: self.identity.clone(),
        }
    }
}

fn pem_error(what: &'static str) -> impl Fn(rustls::pki_types::pem::Error) -> TlsError {
    move |error| TlsError::Pem {
        what,
        problem: error.to_string(),
    }
}

impl TlsIdentity {
    /// Builds credentials from PEM text: the cluster CA certificate, our
    /// certificate (chain) and our private key.
    pub fn from_pem(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes())
            .map_err(pem_error("CA certificate"))?;
        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem_error("certificate"))?;
        let leaf = chain.first().ok_or(TlsError::Pem {
            what: "certificate",
            problem: "no CERTIFICATE block found".into(),
        })?;
        let identity = identity_from_certificate(leaf)?;
        let key =
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(pem_error("private key"))?;
        Ok(TlsIdentity {
            ca,
            chain,
            key,
            identity,
        })
    }

    /// Loads node `node`'s credentials from a certificates directory.
    pub fn load_node(files: &CertFiles, node: NodeId) -> Result<Self, TlsError> {
        let issued = files.read_node(node)?;
        Self::from_pem(&files.read_ca_cert()?, &issued.cert_pem, &issued.key_pem)
    }

    /// Loads client `user`'s credentials from a certificates directory.
    pub fn load_client(files: &CertFiles, user: &str) -> Result<Self, TlsError> {
        let issued = files.read_client(user)?;
        Self::from_pem(&files.read_ca_cert()?, &issued.cert_pem, &issued.key_pem)
    }

    /// The identity our certificate names.
    pub fn identity(&self) -> &PeerIdentity {
        &self.identity
    }

    fn roots(&self) -> Result<Arc<RootCertStore>, TlsError> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone())?;
        Ok(Arc::new(roots))
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The quinn server configuration of a node: our node certificate, and
/// mandatory client certificates chaining to the cluster CA.
pub fn server_config(identity: &TlsIdentity) -> Result<quinn::ServerConfig, TlsError> {
    if identity.identity.node().is_none() {
        return Err(TlsError::NotANode(identity.identity.clone()));
    }
    let verifier =
        WebPkiClientVerifier::builder_with_provider(identity.roots()?, provider()).build()?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
    Ok(quinn::ServerConfig::with_crypto(Arc::new(quic)))
}

/// The quinn client configuration: presents our certificate and accepts only
/// servers chaining to the cluster CA. The expected node is checked through
/// the server name passed when connecting (see
/// [`node_dns_name`](super::identity::node_dns_name)).
pub fn client_config(identity: &TlsIdentity) -> Result<quinn::ClientConfig, TlsError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(identity.roots()?)
        .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    Ok(quinn::ClientConfig::new(Arc::new(quic)))
}

/// The identity named by the certificate the peer of `connection` presented
/// (already verified against the cluster CA during the handshake).
pub fn connection_identity(connection: &quinn::Connection) -> Result<PeerIdentity, IdentityError> {
    let certificates = connection
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or(IdentityError::Missing)?;
    let leaf = certificates.first().ok_or(IdentityError::Missing)?;
    identity_from_certificate(leaf)
}

/// Verifies a server as "any node of the cluster": the certificate must
/// chain to the cluster CA and name a node (`n<id>.node.zerodb`); the full
/// WebPKI check then runs against that node's name. Used by clients that
/// know a node's address but not its id.
#[derive(Debug)]
struct AnyNodeVerifier {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
}

impl rustls::client::danger::ServerCertVerifier for AnyNodeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let node = match identity_from_certificate(end_entity) {
            Ok(PeerIdentity::Node(node)) => node,
            _ => {
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName,
                ))
            }
        };
        let name = rustls::pki_types::ServerName::try_from(super::identity::node_dns_name(node))
            .map_err(|_| {
                rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
            })?;
        self.webpki
            .verify_server_cert(end_entity, intermediates, &name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Like [`client_config`], but accepts any node of the cluster (a server
/// whose certificate chains to the CA and names some `n<id>.node.zerodb`),
/// whatever server name is dialed. Read which node answered with
/// [`connection_identity`].
pub fn client_config_any_node(identity: &TlsIdentity) -> Result<quinn::ClientConfig, TlsError> {
    let webpki =
        rustls::client::WebPkiServerVerifier::builder_with_provider(identity.roots()?, provider())
            .build()
            .map_err(|error| TlsError::Pem {
                what: "CA certificate",
                problem: error.to_string(),
            })?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyNodeVerifier { webpki }))
        .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    Ok(quinn::ClientConfig::new(Arc::new(quic)))
}
