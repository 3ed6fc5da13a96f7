//! [`Client`]: one connection to a random node of the seed list, replaced
//! by a connection to another node when it fails; safe retries.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tokio::sync::RwLock;
use zerodb_proto::api::{
    ClientRequest, ClientResponse, QueryAnswer, QueryError, QueryRequest, ScanEntry, ScanQuery,
};
use zerodb_proto::{Key, Level, Op, OpResult, Request, Response, Ver, Versioned};
use zerodb_query::value::{codec, Value};
use zerodb_transport::rpc::RpcClient;
use zerodb_transport::tls::TlsIdentity;
use zerodb_transport::{TransportConfig, TransportError};

use crate::error::{from_transport, Error};

/// Most tries of one call (each on a fresh connection to a random node).
pub const ATTEMPTS_MAX_DEFAULT: u32 = 3;

/// How to reach the cluster.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Node addresses; the client connects to a random one.
    pub seeds: Vec<SocketAddr>,
    /// The client certificate, its key and the cluster CA.
    pub tls: TlsIdentity,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// Most tries of a call that is safe to retry.
    pub attempts_max: u32,
}

impl ClientConfig {
    /// Settings from PEM files: the cluster CA, the client certificate and
    /// its key.
    pub fn from_files(
        seeds: Vec<SocketAddr>,
        ca: &Path,
        cert: &Path,
        key: &Path,
    ) -> Result<ClientConfig, Error> {
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))
        };
        let tls = TlsIdentity::from_pem(&read(ca)?, &read(cert)?, &read(key)?)
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(ClientConfig {
            seeds,
            tls,
            request_timeout: Duration::from_secs(10),
            attempts_max: ATTEMPTS_MAX_DEFAULT,
        })
    }

    /// Settings for the cluster of a `zerodb dev` folder (its
    /// `cluster.toml` and its `admin` client certificate).
    pub fn dev(dir: &Path) -> Result<ClientConfig, Error> {
        let text = std::fs::read_to_string(dir.join("cluster.toml")).map_err(|e| {
            Error::Config(format!(
                "{}: {e}; is `zerodb dev` running there?",
                dir.display()
            ))
        })?;
        let seeds = seeds_from_cluster_file(&text)?;
        let certs = dir.join("certs");
        ClientConfig::from_files(
            seeds,
            &certs.join("ca.crt"),
            &certs.join("client.admin.crt"),
            &certs.join("client.admin.key"),
        )
    }
}

/// The member addresses of a cluster file (`cluster.toml`: `[[member]]`
/// tables with an `address`); every other key is the node's business.
pub fn seeds_from_cluster_file(text: &str) -> Result<Vec<SocketAddr>, Error> {
    #[derive(serde::Deserialize)]
    struct Member {
        address: SocketAddr,
    }
    #[derive(serde::Deserialize)]
    struct ClusterFile {
        #[serde(rename = "member", default)]
        members: Vec<Member>,
    }
    let file: ClusterFile =
        toml::from_str(text).map_err(|e| Error::Config(format!("cluster file: {e}")))?;
    if file.members.is_empty() {
        return Err(Error::Config(
            "cluster file: no [[member]] with an address".into(),
        ));
    }
    Ok(file.members.into_iter().map(|m| m.address).collect())
}

/// A ZeroDB client. Cheap to share (`&Client` from many tasks): requests
/// run concurrently on one QUIC connection.
pub struct Client {
    config: ClientConfig,
    connection: RwLock<Option<Arc<RpcClient>>>,
    rng: Mutex<StdRng>,
}

impl Client {
    /// Connects to a random seed (trying the others if it does not answer).
    pub async fn connect(config: ClientConfig) -> Result<Client, Error> {
        let client = Client::new(config)?;
        client.connection().await?;
        Ok(client)
    }

    /// A client that connects on its first request.
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        if config.seeds.is_empty() {
            return Err(Error::Config(
                "no seeds: give at least one node address".into(),
            ));
        }
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
        Ok(Client {
            config,
            connection: RwLock::new(None),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        })
    }

    /// The node currently used as coordinator.
    pub async fn coordinator(&self) -> Option<u32> {
        self.connection.read().await.as_ref().map(|c| c.node().0)
    }

    async fn connection(&self) -> Result<Arc<RpcClient>, Error> {
        if let Some(connection) = self.connection.read().await.as_ref() {
            if !connection.is_closed() {
                return Ok(connection.clone());
            }
        }
        let mut slot = self.connection.write().await;
        // A connection the node has already closed (it shut down, or went
        // idle) would fail the request before it leaves, with an outcome
        // that looks unknown: replace it with one to another node first.
        if slot.as_ref().is_some_and(|c| c.is_closed()) {
            *slot = None;
        }
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let mut seeds = self.config.seeds.clone();
        seeds.shuffle(&mut *self.rng.lock().unwrap_or_else(|e| e.into_inner()));
        let transport = TransportConfig {
            request_timeout: self.config.request_timeout,
            connect_timeout: Duration::from_secs(3),
            ..TransportConfig::default()
        };
        let mut failures = Vec::new();
        for addr in seeds {
            match RpcClient::connect(&self.config.tls, addr, None, transport.clone()).await {
                Ok(connection) => {
                    tracing::debug!(%addr, node = %connection.node(), "connected");
                    let connection = Arc::new(connection);
                    *slot = Some(connection.clone());
                    return Ok(connection);
                }
                // Our certificate or the CA is wrong: every seed would
                // refuse it the same way.
                Err(
                    error @ (TransportError::Tls(_)
                    | TransportError::Identity(_)
                    | TransportError::WrongPeer { .. }),
                ) => return Err(Error::Config(format!("{addr}: {error}"))),
                Err(error) => failures.push(format!("{addr}: {error}")),
            }
        }
        Err(Error::Unavailable(format!(
            "no node answered; is the cluster running? ({})",
            failures.join("; ")
        )))
    }

    async fn drop_connection(&self, broken: &Arc<RpcClient>) {
        let mut slot = self.connection.write().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, broken)) {
            *slot = None;
        }
    }

    /// Sends any request (data, scan, status, admin), retrying on another
    /// node when [`retry_safe`] allows it. Returns the node's answer, which
    /// may be an error answer ([`ClientResponse::Error`], or a data error
    /// inside [`ClientResponse::Data`]); `Err` only when no answer came.
    pub async fn request(&self, request: &ClientRequest) -> Result<ClientResponse, Error> {
        self.exchange(request, retry_safe(request)).await
    }

    /// Sends `request`, retrying on another node when that is safe:
    /// always for reads (`idempotent`), for writes only when the failure
    /// shows the request was not applied. Error answers come back as `Err`.
    pub(crate) async fn call(
        &self,
        request: &ClientRequest,
        idempotent: bool,
    ) -> Result<ClientResponse, Error> {
        let response = self.exchange(request, idempotent).await?;
        match answer_error(&response) {
            Some(error) => Err(error),
            None => Ok(response),
        }
    }

    /// The retry loop: the last answer (error answers included), or the
    /// last failure to get one.
    async fn exchange(
        &self,
        request: &ClientRequest,
        idempotent: bool,
    ) -> Result<ClientResponse, Error> {
        let mut last = None;
        for attempt in 0..self.config.attempts_max.max(1) {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
            }
            let connection = match self.connection().await {
                Ok(connection) => connection,
                Err(error @ Error::Config(_)) => return Err(error),
                Err(error) => {
                    last = Some(Err(error));
                    continue;
                }
            };
            let (outcome, error) = match connection.request::<_, ClientResponse>(request).await {
                Ok(response) => match answer_error(&response) {
                    None => return Ok(response),
                    Some(error) => (Ok(response), error),
                },
                Err(error) => {
                    self.drop_connection(&connection).await;
                    let error = from_transport(error);
                    (Err(error.clone()), error)
                }
            };
            let retry = match &error {
                Error::Unavailable(_) | Error::Timeout { .. } => idempotent || error.not_applied(),
                _ => false,
            };
            if !retry {
                return outcome;
            }
            tracing::debug!(%error, attempt, "retrying on another node");
            self.drop_connection(&connection).await;
            last = Some(outcome);
        }
        last.unwrap_or_else(|| Err(Error::Unavailable("no attempt made".into())))
    }

    /// Reads a key: its live value and version, or `None`.
    pub async fn get(&self, key: &Key) -> Result<Option<Versioned>, Error> {
        let request = ClientRequest::Data(Request::Get {
            key: key.clone(),
            level: Level::One,
        });
        match self.call(&request, true).await? {
            ClientResponse::Data(Response::Value(found)) => Ok(found.filter(|v| v.value.is_some())),
            other => Err(unexpected(other)),
        }
    }

    /// Writes a key; returns the version written.
    pub async fn put(&self, key: &Key, value: impl Into<Vec<u8>>) -> Result<Ver, Error> {
        self.put_request(key, value.into(), None).await
    }

    /// Writes a key that expires `ttl` after the write (1 ms to 100 years):
    /// its record carries `expires_at_ms`, the write's version time plus
    /// the TTL. An eventual namespace reads it as absent from then on; a
    /// strong one until a quorum of its replicas' clocks passed that time
    /// and the node's expiry sweep deleted it (DESIGN.md 6.3).
    pub async fn put_with_ttl(
        &self,
        key: &Key,
        value: impl Into<Vec<u8>>,
        ttl: Duration,
    ) -> Result<Ver, Error> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.put_request(key, value.into(), Some(ttl_ms)).await
    }

    async fn put_request(
        &self,
        key: &Key,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<Ver, Error> {
        let request = ClientRequest::Data(Request::Put {
            key: key.clone(),
            value,
            level: Level::One,
            ttl_ms,
        });
        written(self.call(&request, false).await?)
    }

    /// Deletes a key; returns the version of the tombstone.
    pub async fn delete(&self, key: &Key) -> Result<Ver, Error> {
        let request = ClientRequest::Data(Request::Delete {
            key: key.clone(),
            level: Level::One,
        });
        written(self.call(&request, false).await?)
    }

    /// Lists records of one table (every node is asked; not linearizable).
    pub async fn scan(&self, query: ScanQuery) -> Result<Vec<ScanEntry>, Error> {
        match self.call(&ClientRequest::Scan(query), true).await? {
            ClientResponse::Scan(entries) => Ok(entries),
            other => Err(unexpected(other)),
        }
    }

    /// Runs a transaction (strictly serializable); returns the commit
    /// version and one result per operation.
    pub async fn transaction(&self, ops: Vec<Op>) -> Result<(Ver, Vec<OpResult>), Error> {
        let read_only = !ops.iter().any(Op::writes);
        match self
            .call(&ClientRequest::Data(Request::Txn { ops }), read_only)
            .await?
        {
            ClientResponse::Data(Response::Committed { version, results }) => {
                Ok((version, results))
            }
            other => Err(unexpected(other)),
        }
    }

    /// Runs zeroql statements in the namespace and database
    /// [`QUERY_NAMESPACE_DEFAULT`] / [`QUERY_DATABASE_DEFAULT`] (a `USE` in
    /// `text` changes them); returns one value per statement. A failed
    /// statement gives [`Error::Query`] (statements before it stay
    /// committed); see [`Client::query_answer`] for their results.
    pub async fn query(&self, text: &str, params: &[(&str, Value)]) -> Result<Vec<Value>, Error> {
        self.query_in(
            QUERY_NAMESPACE_DEFAULT,
            QUERY_DATABASE_DEFAULT,
            text,
            params,
        )
        .await
    }

    /// [`Client::query`] starting in `namespace` and `database`.
    pub async fn query_in(
        &self,
        namespace: &str,
        database: &str,
        text: &str,
        params: &[(&str, Value)],
    ) -> Result<Vec<Value>, Error> {
        let output = self.query_answer(namespace, database, text, params).await?;
        match output.error {
            None => Ok(output.results),
            Some(error) => Err(Error::Query {
                kind: error.kind,
                message: error.message,
            }),
        }
    }

    /// Runs zeroql statements and returns the results of those that ran
    /// with the error that stopped the rest, if any. `Err` only when no
    /// answer came or the answer did not decode.
    pub async fn query_answer(
        &self,
        namespace: &str,
        database: &str,
        text: &str,
        params: &[(&str, Value)],
    ) -> Result<QueryOutput, Error> {
        let request = ClientRequest::Query(QueryRequest {
            namespace: namespace.to_string(),
            database: database.to_string(),
            text: text.to_string(),
            params: encode_params(params)?,
        });
        match self.call(&request, false).await? {
            ClientResponse::Query(answer) => decode_answer(answer),
            other => Err(unexpected(other)),
        }
    }

    /// Closes the connection.
    pub async fn close(self) {
        if let Some(connection) = self.connection.write().await.take() {
            if let Ok(connection) = Arc::try_unwrap(connection) {
                connection.close().await;
            }
        }
    }
}

/// Namespace a [`Client::query`] starts in.
pub const QUERY_NAMESPACE_DEFAULT: &str = "default";
/// Database a [`Client::query`] starts in.
pub const QUERY_DATABASE_DEFAULT: &str = "default";

/// What a query produced: one value per statement that ran, and the error
/// that stopped it, if one did.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutput {
    /// The values of the statements that ran, in order.
    pub results: Vec<Value>,
    /// Why the query stopped early, if it did.
    pub error: Option<QueryError>,
}

/// Parameters in the value codec, as a query carries them.
pub(crate) fn encode_params(params: &[(&str, Value)]) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut encoded = Vec::with_capacity(params.len());
    for (name, value) in params {
        let bytes = codec::encode(value)
            .map_err(|error| Error::BadRequest(format!("parameter ${name}: {error}")))?;
        encoded.push((name.to_string(), bytes));
    }
    Ok(encoded)
}

/// A query's answer with its results decoded.
pub(crate) fn decode_answer(answer: QueryAnswer) -> Result<QueryOutput, Error> {
    let mut results = Vec::with_capacity(answer.results.len());
    for bytes in &answer.results {
        let value = codec::decode(bytes)
            .map_err(|error| Error::Internal(format!("a query result does not decode: {error}")))?;
        results.push(value);
    }
    Ok(QueryOutput {
        results,
        error: answer.error,
    })
}

/// Whether `request` may be sent again after a failure whose outcome is
/// unknown: reads, read-only transactions, scans and the operator surface
/// (status, info, checkpoint, validate) may; writes may not (they are
/// retried only when the failure shows they were not applied).
pub fn retry_safe(request: &ClientRequest) -> bool {
    match request {
        ClientRequest::Data(Request::Get { .. }) => true,
        ClientRequest::Data(Request::Txn { ops }) => !ops.iter().any(Op::writes),
        ClientRequest::Data(Request::Put { .. } | Request::Delete { .. }) => false,
        // A query may write; it is sent again only when it was not applied.
        ClientRequest::Query(_) | ClientRequest::Execute(_) => false,
        // Preparing twice keeps one statement.
        ClientRequest::Prepare(_) => true,
        ClientRequest::Scan(_)
        | ClientRequest::LocalScan(_)
        | ClientRequest::Status
        | ClientRequest::NamespaceStatus(_)
        | ClientRequest::Info
        | ClientRequest::Checkpoint
        | ClientRequest::Validate => true,
    }
}

/// The error an answer carries, if it is an error answer.
fn answer_error(response: &ClientResponse) -> Option<Error> {
    match response {
        ClientResponse::Data(Response::Error(error)) => Some(Error::from(error.clone())),
        ClientResponse::Error(error) => Some(Error::from(error.clone())),
        _ => None,
    }
}

fn written(response: ClientResponse) -> Result<Ver, Error> {
    match response {
        ClientResponse::Data(Response::Written { version }) => Ok(version),
        other => Err(unexpected(other)),
    }
}

pub(crate) fn unexpected(response: ClientResponse) -> Error {
    Error::Internal(format!("unexpected answer: {response:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reads_and_the_operator_surface_are_safe_to_retry() {
        let key = Key::new("ns", "db", "t", "k");
        let get = ClientRequest::Data(Request::Get {
            key: key.clone(),
            level: Level::One,
        });
        let put = ClientRequest::Data(Request::Put {
            key: key.clone(),
            value: b"v".to_vec(),
            level: Level::One,
            ttl_ms: None,
        });
        let read_txn = ClientRequest::Data(Request::Txn {
            ops: vec![Op::Get(key.clone())],
        });
        let write_txn = ClientRequest::Data(Request::Txn {
            ops: vec![Op::Get(key.clone()), Op::Incr(key, 1)],
        });
        assert!(retry_safe(&get));
        assert!(retry_safe(&read_txn));
        assert!(retry_safe(&ClientRequest::Status));
        assert!(!retry_safe(&put));
        assert!(!retry_safe(&write_txn));
        // A prepare only parses; an execution may write.
        let prepare = ClientRequest::Prepare(zerodb_proto::api::PrepareRequest {
            namespace: "ns".into(),
            database: "db".into(),
            text: "CREATE t SET a = 1".into(),
        });
        let execute = ClientRequest::Execute(zerodb_proto::api::ExecuteRequest {
            handle: 1,
            namespace: "ns".into(),
            database: "db".into(),
            params: Vec::new(),
        });
        assert!(retry_safe(&prepare));
        assert!(!retry_safe(&execute));
    }

    #[test]
    fn seeds_come_from_the_members_of_a_cluster_file() {
        let text = "tokens_per_node = 8\n\n[[member]]\nid = 1\naddress = \"127.0.0.1:7001\"\n\n[[member]]\nid = 2\naddress = \"127.0.0.1:7002\"\nregion = \"eu\"\n";
        let seeds = seeds_from_cluster_file(text).unwrap();
        assert_eq!(
            seeds,
            vec![
                "127.0.0.1:7001".parse::<SocketAddr>().unwrap(),
                "127.0.0.1:7002".parse().unwrap()
            ]
        );
    }

    #[test]
    fn a_cluster_file_without_members_or_with_a_bad_address_is_refused() {
        assert!(
            matches!(seeds_from_cluster_file("tokens_per_node = 8"), Err(Error::Config(m)) if m.contains("no [[member]]"))
        );
        assert!(
            matches!(seeds_from_cluster_file("[[member]]\naddress = \"nowhere\""), Err(Error::Config(m)) if m.contains("cluster file"))
        );
    }
}
