//! The cluster certificate authority and the certificates it issues
//! (DESIGN.md section 10); the functions behind `zerodb certs init|node|client`.
//!
//! - [`CertificateAuthority::generate`] makes the cluster CA.
//! - [`CertificateAuthority::issue_node`] makes a node certificate naming
//!   `n<id>.node.zerodb` (usable as TLS server and client: nodes dial each other).
//! - [`CertificateAuthority::issue_client`] makes a client certificate naming
//!   `<user>.client.zerodb` with common name `<user>` (TLS client only).
//!
//! All keys are ECDSA P-256 made with the `ring` provider. Files live in one
//! directory with fixed names (see [`CertFiles`]); private keys are written
//! with mode 0600 on Unix, and existing files are never overwritten.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::tls::identity::{client_dns_name, node_dns_name, IdentityError, NodeId};

/// Default lifetime of the cluster CA certificate.
pub const CA_VALIDITY_DAYS_DEFAULT: u32 = 3650;
/// Default lifetime of node and client certificates.
pub const LEAF_VALIDITY_DAYS_DEFAULT: u32 = 365;
/// Certificates start to be valid this long before they are made, so that a
/// peer whose clock is slightly behind still accepts them.
const CLOCK_SKEW_ALLOWANCE_SECONDS: u64 = 3600;
const SECONDS_PER_DAY: u64 = 86_400;

/// Why a certificate could not be made, read or written.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The name to put in a certificate is invalid.
    #[error(transparent)]
    Name(#[from] IdentityError),
    /// rcgen refused to build, sign or parse a certificate or key.
    #[error("certificate {what} failed: {source}")]
    Generate {
        /// What was being done.
        what: &'static str,
        /// The underlying error.
        source: rcgen::Error,
    },
    /// A PEM file does not hold what it should.
    #[error("{path}: {problem}; regenerate it with `zerodb certs`")]
    BadPem {
        /// The file (or a description of the in-memory source).
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A file to write already exists.
    #[error("{0} already exists; remove it first if you mean to replace it")]
    AlreadyExists(PathBuf),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn generate_error(what: &'static str) -> impl FnOnce(rcgen::Error) -> CertError {
    move |source| CertError::Generate { what, source }
}

/// A certificate and its private key, both PEM-encoded.
#[derive(Clone, Debug)]
pub struct IssuedCert {
    /// The certificate, PEM (`CERTIFICATE`).
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8 `PRIVATE KEY`).
    pub key_pem: String,
}

/// The cluster CA: signs node and client certificates.
pub struct CertificateAuthority {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

/// The validity window `[now - skew allowance, now + days]`.
fn validity(params: &mut CertificateParams, days: u32) {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let now = rcgen::date_time_ymd(1970, 1, 1) + since_epoch;
    params.not_before = now - Duration::from_secs(CLOCK_SKEW_ALLOWANCE_SECONDS);
    params.not_after = now + Duration::from_secs(u64::from(days) * SECONDS_PER_DAY);
}

impl CertificateAuthority {
    /// Makes a new self-signed cluster CA named `ZeroDB CA <cluster>`.
    pub fn generate(cluster: &str, validity_days: u32) -> Result<Self, CertError> {
        let key = KeyPair::generate().map_err(generate_error("CA key generation"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "ZeroDB");
        params
            .distinguished_name
            .push(DnType::CommonName, format!("ZeroDB CA {cluster}"));
        // Path length 0: the CA signs leaf certificates only.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, validity_days);
        let cert = params
            .self_signed(&key)
            .map_err(generate_error("CA self-signing"))?;
        let cert_pem = cert.pem();
        let key_pem = key.serialize_pem();
        Ok(CertificateAuthority {
            cert_pem,
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a CA from its PEM certificate and key (as written by
    /// [`CertificateAuthority::cert_pem`] and [`CertificateAuthority::key_pem`]).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CertError> {
        let key = KeyPair::from_pem(key_pem).map_err(|error| CertError::BadPem {
            path: "CA key".into(),
            problem: error.to_string(),
        })?;
        let issuer =
            Issuer::from_ca_cert_pem(cert_pem, key).map_err(|error| CertError::BadPem {
                path: "CA certificate".into(),
                problem: error.to_string(),
            })?;
        Ok(CertificateAuthority {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            issuer,
        })
    }

    /// The CA certificate, PEM. Every node and client needs it.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA private key, PEM. Keep it off the nodes where possible.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Issues a certificate for `node` (DNS name `n<id>.node.zerodb`,
    /// common name `n<id>`), valid for TLS server and client authentication.
    pub fn issue_node(&self, node: NodeId, validity_days: u32) -> Result<IssuedCert, CertError> {
        self.issue(
            node.to_string(),
            vec![node_dns_name(node)],
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            validity_days,
        )
    }

    /// Issues a client certificate for `user` (DNS name `<user>.client.zerodb`,
    /// common name `<user>`), valid for TLS client authentication only.
    pub fn issue_client(&self, user: &str, validity_days: u32) -> Result<IssuedCert, CertError> {
        let dns = client_dns_name(user)?;
        self.issue(
            user.to_string(),
            vec![dns],
            vec![ExtendedKeyUsagePurpose::ClientAuth],
            validity_days,
        )
    }

    /// Issues a leaf certificate with arbitrary names, valid for TLS server
    /// and client authentication. Meant for tests that need malformed
    /// identities; use [`issue_node`](Self::issue_node) or
    /// [`issue_client`](Self::issue_client) otherwise.
    pub fn issue_with_names(
        &self,
        common_name: &str,
        dns_names: &[&str],
        validity_days: u32,
    ) -> Result<IssuedCert, CertError> {
        let dns_names = dns_names.iter().map(|name| name.to_string()).collect();
        self.issue(
            common_name.to_string(),
            dns_names,
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            validity_days,
        )
    }

    fn issue(
        &self,
        common_name: String,
        dns_names: Vec<String>,
        extended_key_usages: Vec<ExtendedKeyUsagePurpose>,
        validity_days: u32,
    ) -> Result<IssuedCert, CertError> {
        let key = KeyPair::generate().map_err(generate_error("leaf key generation"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        for name in dns_names {
            let name = name
                .try_into()
                .map_err(generate_error("subject alternative name"))?;
            params.subject_alt_names.push(SanType::DnsName(name));
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = extended_key_usages;
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, validity_days);
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(generate_error("leaf signing"))?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// File names inside a certificates directory:
///
/// | file | content |
/// |---|---|
/// | `ca.crt`, `ca.key` | the cluster CA |
/// | `node.n<id>.crt`, `node.n<id>.key` | node `<id>` |
/// | `client.<user>.crt`, `client.<user>.key` | client `<user>` |
#[derive(Clone, Debug)]
pub struct CertFiles {
    dir: PathBuf,
}

impl CertFiles {
    /// Files under `dir` (not created until something is written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CertFiles { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `ca.crt`.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// `ca.key`.
    pub fn ca_key_path(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    /// `(node.n<id>.crt, node.n<id>.key)`.
    pub fn node_paths(&self, node: NodeId) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("node.{node}.crt")),
            self.dir.join(format!("node.{node}.key")),
        )
    }

    /// `(client.<user>.crt, client.<user>.key)`.
    pub fn client_paths(&self, user: &str) -> Result<(PathBuf, PathBuf), CertError> {
        crate::tls::identity::validate_user_name(user)?;
        Ok((
            self.dir.join(format!("client.{user}.crt")),
            self.dir.join(format!("client.{user}.key")),
        ))
    }

    /// `zerodb certs init`: writes `ca.crt` and `ca.key`.
    pub fn write_ca(&self, ca: &CertificateAuthority) -> Result<(), CertError> {
        self.write_pair(
            (self.ca_cert_path(), self.ca_key_path()),
            ca.cert_pem(),
            ca.key_pem(),
        )
    }

    /// Reads the CA certificate and key.
    pub fn read_ca(&self) -> Result<CertificateAuthority, CertError> {
        let cert = read_text(&self.ca_cert_path())?;
        let key = read_text(&self.ca_key_path())?;
        CertificateAuthority::from_pem(&cert, &key)
    }

    /// Reads only the CA certificate (PEM), as nodes and clients need it.
    pub fn read_ca_cert(&self) -> Result<String, CertError> {
        read_text(&self.ca_cert_path())
    }

    /// `zerodb certs node <id>`: writes the node's certificate and key.
    pub fn write_node(&self, node: NodeId, issued: &IssuedCert) -> Result<(), CertError> {
        self.write_pair(self.node_paths(node), &issued.cert_pem, &issued.key_pem)
    }

    /// Reads a node's certificate and key.
    pub fn read_node(&self, node: NodeId) -> Result<IssuedCert, CertError> {
        read_pair(self.node_paths(node))
    }

    /// `zerodb certs client <user>`: writes the client's certificate and key.
    pub fn write_client(&self, user: &str, issued: &IssuedCert) -> Result<(), CertError> {
        self.write_pair(self.client_paths(user)?, &issued.cert_pem, &issued.key_pem)
    }

    /// Reads a client's certificate and key.
    pub fn read_client(&self, user: &str) -> Result<IssuedCert, CertError> {
        read_pair(self.client_paths(user)?)
    }

    fn write_pair(
        &self,
        paths: (PathBuf, PathBuf),
        cert: &str,
        key: &str,
    ) -> Result<(), CertError> {
        fs::create_dir_all(&self.dir).map_err(|source| CertError::Io {
            path: self.dir.clone(),
            source,
        })?;
        for path in [&paths.0, &paths.1] {
            if path.exists() {
                return Err(CertError::AlreadyExists(path.clone()));
            }
        }
        write_new_file(&paths.0, cert, false)?;
        write_new_file(&paths.1, key, true)
    }
}

fn read_text(path: &Path) -> Result<String, CertError> {
    fs::read_to_string(path).map_err(|source| CertError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn read_pair(paths: (PathBuf, PathBuf)) -> Result<IssuedCert, CertError> {
    Ok(IssuedCert {
        cert_pem: read_text(&paths.0)?,
        key_pem: read_text(&paths.1)?,
    })
}

/// Creates `path` (failing if it exists) and writes `text`; a private key
/// gets mode 0600 on Unix so that only its owner can read it.
fn write_new_file(path: &Path, text: &str, private: bool) -> Result<(), CertError> {
    let io_error = |source| CertError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(io_error)?;
    file.write_all(text.as_bytes()).map_err(io_error)?;
    file.sync_all().map_err(io_error)
}
