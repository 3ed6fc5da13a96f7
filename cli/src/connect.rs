//! How the command line reaches the cluster: a client certificate, a seed
//! list, and a connection to a random seed (the next one when a seed does
//! not answer). Defaults point at a `zerodb dev` folder.
//!
//! Requests go through the `zerodb-client` crate, the same code programs
//! use.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use zerodb_client::{Client, ClientConfig, ClientRequest, ClientResponse};
use zerodb_transport::tls::TlsIdentity;

use super::exit::{self, CliError};

/// Default folder of `zerodb dev`.
pub const DEV_DIR_DEFAULT: &str = "zerodb-dev";
/// User of the client certificate `zerodb dev` makes.
pub const DEV_USER: &str = "admin";

/// Where the cluster is and who we are.
#[derive(Args, Clone, Debug, Default)]
pub struct ConnectArgs {
    /// Folder of a `zerodb dev` cluster: seeds and certificates default to
    /// its files.
    #[arg(long, global = true, env = "ZERODB_DIR", default_value = DEV_DIR_DEFAULT)]
    pub dir: PathBuf,
    /// Node addresses to connect to, comma separated (default: the members
    /// of DIR/cluster.toml).
    #[arg(long, global = true, env = "ZERODB_SEEDS", value_delimiter = ',')]
    pub seeds: Vec<SocketAddr>,
    /// Cluster CA certificate (default: DIR/certs/ca.crt).
    #[arg(long, global = true, env = "ZERODB_CA")]
    pub ca: Option<PathBuf>,
    /// Client certificate (default: DIR/certs/client.admin.crt).
    #[arg(long, global = true, env = "ZERODB_CERT")]
    pub cert: Option<PathBuf>,
    /// Client private key (default: DIR/certs/client.admin.key).
    #[arg(long = "key", id = "key_file", global = true, env = "ZERODB_KEY")]
    pub key_file: Option<PathBuf>,
    /// Seconds a request may take.
    #[arg(long, global = true, default_value_t = 10)]
    pub timeout: u64,
}

fn read(path: &Path, what: &str) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|error| {
        CliError::config(format!(
            "cannot read the {what} {}: {error}; start `zerodb dev` or pass --{}",
            path.display(),
            match what {
                "CA certificate" => "ca",
                "client certificate" => "cert",
                "client key" => "key",
                _ => "seeds",
            }
        ))
    })
}

impl ConnectArgs {
    /// The seed addresses.
    pub fn seed_list(&self) -> Result<Vec<SocketAddr>, CliError> {
        if !self.seeds.is_empty() {
            return Ok(self.seeds.clone());
        }
        let path = self.dir.join("cluster.toml");
        let text = read(&path, "cluster file")?;
        zerodb_client::seeds_from_cluster_file(&text)
            .map_err(|error| CliError::config(format!("{}: {error}", path.display())))
    }

    /// The client's TLS identity.
    pub fn identity(&self) -> Result<TlsIdentity, CliError> {
        let certs = self.dir.join("certs");
        let ca = self.ca.clone().unwrap_or_else(|| certs.join("ca.crt"));
        let cert = self
            .cert
            .clone()
            .unwrap_or_else(|| certs.join(format!("client.{DEV_USER}.crt")));
        let key = self
            .key_file
            .clone()
            .unwrap_or_else(|| certs.join(format!("client.{DEV_USER}.key")));
        TlsIdentity::from_pem(
            &read(&ca, "CA certificate")?,
            &read(&cert, "client certificate")?,
            &read(&key, "client key")?,
        )
        .map_err(CliError::config)
    }
}

/// The command line's way to the cluster: a [`zerodb_client::Client`]
/// (random seed, reconnects, and the client's rule for which requests are
/// safe to retry), connecting on first use.
pub struct Session {
    client: Client,
}

impl Session {
    /// Reads the certificates and seeds (connecting happens on first use).
    pub fn new(args: &ConnectArgs) -> Result<Session, CliError> {
        let config = ClientConfig {
            seeds: args.seed_list()?,
            tls: args.identity()?,
            request_timeout: std::time::Duration::from_secs(args.timeout.max(1)),
            attempts_max: zerodb_client::ATTEMPTS_MAX_DEFAULT,
        };
        let client = Client::new(config).map_err(exit::client_failure)?;
        Ok(Session { client })
    }

    /// The node currently connected, if any.
    pub async fn node(&self) -> Option<u32> {
        self.client.coordinator().await
    }

    /// Sends `request` and returns the node's answer (error answers
    /// included, for the caller to report). Whether a failed request is
    /// sent again is the client's rule ([`zerodb_client::retry_safe`]).
    pub async fn call(&mut self, request: &ClientRequest) -> Result<ClientResponse, CliError> {
        self.client
            .request(request)
            .await
            .map_err(exit::client_failure)
    }

    /// The client, for calls with typed answers (such as queries).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Closes the connection.
    pub async fn close(self) {
        self.client.close().await;
    }
}
