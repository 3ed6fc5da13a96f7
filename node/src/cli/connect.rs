//! How the command line reaches the cluster: a client certificate, a seed
//! list, and a connection to a random seed (the next one when a seed does
//! not answer). Defaults point at a `zerodb dev` folder.
//!
//! (The `zerodb-client` crate offers the same with retries for programs;
//! it depends on this crate, so the binary cannot depend on it.)

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::exit::{self, CliError};
use crate::api::{ClientRequest, ClientResponse};
use crate::core::membership::ClusterSpec;
use zerodb_transport::rpc::RpcClient;
use zerodb_transport::tls::TlsIdentity;
use zerodb_transport::{TransportConfig, TransportError};

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
        let spec = ClusterSpec::from_toml_str(&text).map_err(CliError::config)?;
        Ok(spec.members.iter().map(|member| member.address).collect())
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

    /// Transport settings for the command line.
    pub fn transport_config(&self) -> TransportConfig {
        TransportConfig {
            request_timeout: std::time::Duration::from_secs(self.timeout.max(1)),
            connect_timeout: std::time::Duration::from_secs(3),
            ..TransportConfig::default()
        }
    }
}

/// A connection to one node of the cluster, re-established on another
/// seed when it breaks.
pub struct Session {
    args: ConnectArgs,
    identity: TlsIdentity,
    seeds: Vec<SocketAddr>,
    client: Option<RpcClient>,
    rng: StdRng,
}

impl Session {
    /// Reads the certificates and seeds (connecting happens on first use).
    pub fn new(args: &ConnectArgs) -> Result<Session, CliError> {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
        Ok(Session {
            identity: args.identity()?,
            seeds: args.seed_list()?,
            args: args.clone(),
            client: None,
            rng: StdRng::seed_from_u64(seed),
        })
    }

    /// The node currently connected, if any.
    pub fn node(&self) -> Option<u32> {
        self.client.as_ref().map(|client| client.node().0)
    }

    async fn connect(&mut self) -> Result<&RpcClient, CliError> {
        if self.client.is_none() {
            let mut seeds = self.seeds.clone();
            seeds.shuffle(&mut self.rng);
            let mut failures = Vec::new();
            for addr in seeds {
                let config = self.args.transport_config();
                match RpcClient::connect(&self.identity, addr, None, config).await {
                    Ok(client) => {
                        tracing::debug!(%addr, node = %client.node(), "connected");
                        self.client = Some(client);
                        break;
                    }
                    Err(error @ (TransportError::Tls(_) | TransportError::WrongPeer { .. })) => {
                        return Err(CliError::config(error));
                    }
                    Err(error) => failures.push(format!("{addr}: {error}")),
                }
            }
            if self.client.is_none() {
                return Err(CliError::new(
                    exit::UNAVAILABLE,
                    format!(
                        "no node answered; is the cluster running? ({})",
                        failures.join("; ")
                    ),
                ));
            }
        }
        Ok(self.client.as_ref().expect("connected above"))
    }

    /// Sends `request`. `idempotent` requests (reads, status) are retried
    /// once on another node when the connection broke; others are not,
    /// since they may have been applied.
    pub async fn call(
        &mut self,
        request: &ClientRequest,
        idempotent: bool,
    ) -> Result<ClientResponse, CliError> {
        let attempts = if idempotent { 2 } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            let client = self.connect().await?;
            match client.request::<_, ClientResponse>(request).await {
                Ok(response) => return Ok(response),
                Err(error) => {
                    tracing::debug!(%error, "request failed; dropping the connection");
                    if let Some(client) = self.client.take() {
                        client.close().await;
                    }
                    last = Some(error);
                }
            }
        }
        Err(exit::transport_error(last.expect("at least one attempt")))
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            client.close().await;
        }
    }
}
