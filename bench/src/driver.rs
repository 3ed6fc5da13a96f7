//! One client connection to the system under test, with the three
//! operations the load loop needs: a linearizable read, a write, and a
//! 2-key read-modify-write (read both keys, then write both only if
//! neither changed since: etcd `txn` comparing `mod_revision`, ZeroDB a
//! transaction asserting each key's version).

use std::path::Path;

use etcd_client::{Client, Compare, CompareOp, Txn, TxnOp, TxnOpResponse};
use zerodb_cli::connect::{ConnectArgs, Session};
use zerodb_client::{ClientRequest, ClientResponse};
use zerodb_txn::{ClientError, Condition, Key, Level, Op, OpResult, Request, Response, Ver};

use crate::System;

/// What one operation came to.
pub enum Outcome {
    /// Done (a read, a write, or a committed transaction).
    Ok,
    /// A transaction aborted: a key changed between read and write, or a
    /// lock conflict.
    Aborted,
    /// A failure, with its message.
    Error(String),
}

/// A connection to etcd or ZeroDB.
pub enum Driver {
    /// An etcd gRPC channel.
    Etcd(Box<Client>),
    /// A ZeroDB session; `level` is the eventual-namespace level.
    Zerodb(Box<Session>, Level),
}

fn key_name(index: u64) -> String {
    format!("user{index:010}")
}

fn zkey(index: u64) -> Key {
    Key::new("default", "default", "kv", key_name(index).as_bytes())
}

impl Driver {
    /// Connects client number `n` (etcd: endpoints rotated by `n`, so
    /// clients spread over the members; ZeroDB: a random node).
    pub async fn connect(
        system: System,
        etcd: &[String],
        dir: &Path,
        n: u32,
    ) -> Result<Driver, String> {
        match system {
            System::Etcd => {
                let mut endpoints = etcd.to_vec();
                endpoints.rotate_left(n as usize % etcd.len().max(1));
                // One endpoint per client: one gRPC connection each, as
                // ZeroDB's sessions hold one QUIC connection each.
                endpoints.truncate(1);
                let client = Client::connect(endpoints, None)
                    .await
                    .map_err(|e| format!("etcd connect: {e}"))?;
                Ok(Driver::Etcd(Box::new(client)))
            }
            System::Zerodb | System::ZerodbEventual => {
                let args = ConnectArgs {
                    dir: dir.to_path_buf(),
                    timeout: 10,
                    ..ConnectArgs::default()
                };
                let session = Session::new(&args).map_err(|e| format!("zerodb session: {e}"))?;
                Ok(Driver::Zerodb(Box::new(session), Level::One))
            }
        }
    }

    async fn zcall(session: &mut Session, request: Request) -> Result<Response, String> {
        match session.call(&ClientRequest::Data(request)).await {
            Ok(ClientResponse::Data(response)) => Ok(response),
            Ok(other) => Err(format!("unexpected answer {other:?}")),
            Err(error) => Err(error.to_string()),
        }
    }

    fn zoutcome(result: Result<Response, String>) -> Outcome {
        match result {
            Ok(Response::Error(
                ClientError::Conflict { .. } | ClientError::ConditionFailed { .. },
            )) => Outcome::Aborted,
            Ok(Response::Error(error)) => Outcome::Error(error.to_string()),
            Ok(_) => Outcome::Ok,
            Err(error) => Outcome::Error(error),
        }
    }

    /// Linearizable single-key read (R=1 in the eventual namespace).
    pub async fn get(&mut self, index: u64) -> Outcome {
        match self {
            Driver::Etcd(client) => match client.get(key_name(index), None).await {
                Ok(_) => Outcome::Ok,
                Err(error) => Outcome::Error(error.to_string()),
            },
            Driver::Zerodb(session, level) => {
                let request = Request::Get {
                    key: zkey(index),
                    level: *level,
                };
                Self::zoutcome(Self::zcall(session, request).await)
            }
        }
    }

    /// Single-key write (W=1 in the eventual namespace).
    pub async fn put(&mut self, index: u64, value: &[u8]) -> Outcome {
        match self {
            Driver::Etcd(client) => match client.put(key_name(index), value.to_vec(), None).await {
                Ok(_) => Outcome::Ok,
                Err(error) => Outcome::Error(error.to_string()),
            },
            Driver::Zerodb(session, level) => {
                let request = Request::Put {
                    key: zkey(index),
                    value: value.to_vec(),
                    level: *level,
                    ttl_ms: None,
                };
                Self::zoutcome(Self::zcall(session, request).await)
            }
        }
    }

    /// Reads keys `a` and `b` in one request, then writes both in one
    /// request conditioned on neither having changed.
    pub async fn rmw(&mut self, a: u64, b: u64, value: &[u8]) -> Outcome {
        match self {
            Driver::Etcd(client) => {
                let read = Txn::new().and_then(vec![
                    TxnOp::get(key_name(a), None),
                    TxnOp::get(key_name(b), None),
                ]);
                let response = match client.txn(read).await {
                    Ok(response) => response,
                    Err(error) => return Outcome::Error(error.to_string()),
                };
                let mut revisions = Vec::new();
                for op in response.op_responses() {
                    if let TxnOpResponse::Get(get) = op {
                        revisions.push(get.kvs().first().map_or(0, |kv| kv.mod_revision()));
                    }
                }
                if revisions.len() != 2 {
                    return Outcome::Error(format!("read txn answered {} gets", revisions.len()));
                }
                let write = Txn::new()
                    .when(vec![
                        Compare::mod_revision(key_name(a), CompareOp::Equal, revisions[0]),
                        Compare::mod_revision(key_name(b), CompareOp::Equal, revisions[1]),
                    ])
                    .and_then(vec![
                        TxnOp::put(key_name(a), value.to_vec(), None),
                        TxnOp::put(key_name(b), value.to_vec(), None),
                    ]);
                match client.txn(write).await {
                    Ok(response) if response.succeeded() => Outcome::Ok,
                    Ok(_) => Outcome::Aborted,
                    Err(error) => Outcome::Error(error.to_string()),
                }
            }
            Driver::Zerodb(session, _) => {
                let read = Request::Txn {
                    ops: vec![Op::Get(zkey(a)), Op::Get(zkey(b))],
                };
                let versions: Vec<Ver> = match Self::zcall(session, read).await {
                    Ok(Response::Committed { results, .. }) => results
                        .iter()
                        .map(|result| match result {
                            OpResult::Value(Some(versioned)) => versioned.version,
                            _ => Ver::ZERO,
                        })
                        .collect(),
                    other => return Self::zoutcome(other),
                };
                if versions.len() != 2 {
                    return Outcome::Error(format!("read txn answered {} results", versions.len()));
                }
                let write = Request::Txn {
                    ops: vec![
                        Op::Assert(zkey(a), Condition::VersionEquals(versions[0])),
                        Op::Assert(zkey(b), Condition::VersionEquals(versions[1])),
                        Op::Put(zkey(a), value.to_vec()),
                        Op::Put(zkey(b), value.to_vec()),
                    ],
                };
                Self::zoutcome(Self::zcall(session, write).await)
            }
        }
    }

    /// Closes the connection.
    pub async fn close(self) {
        if let Driver::Zerodb(session, _) = self {
            session.close().await;
        }
    }
}
