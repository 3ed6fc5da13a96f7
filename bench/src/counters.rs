//! Durable-sync counters of the cluster under test, summed over its
//! members, read before and after each cell to report syncs per operation:
//! ZeroDB's `batches_synced` (engine syncs that made writes durable) from each
//! node's INFO answer; etcd's WAL fsync count from each member's
//! `/metrics` (`etcd_disk_wal_fsync_duration_seconds_count`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use zerodb_cli::connect::{ConnectArgs, Session};
use zerodb_client::{ClientRequest, ClientResponse};

use crate::System;

/// Total syncs so far over every member, or `None` when a member did not
/// answer.
pub async fn syncs(system: System, etcd: &[String], dir: &Path) -> Option<u64> {
    match system {
        System::Etcd => {
            let mut total = 0;
            for endpoint in etcd {
                total += etcd_wal_fsyncs(endpoint)?;
            }
            Some(total)
        }
        System::Zerodb | System::ZerodbEventual => {
            let base = ConnectArgs {
                dir: dir.to_path_buf(),
                timeout: 5,
                ..ConnectArgs::default()
            };
            let mut total = 0;
            for seed in base.seed_list().ok()? {
                let args = ConnectArgs {
                    seeds: vec![seed],
                    ..base.clone()
                };
                let mut session = Session::new(&args).ok()?;
                let answer = session.call(&ClientRequest::Info).await;
                session.close().await;
                match answer {
                    Ok(ClientResponse::Info(info)) => total += info.batches_synced,
                    _ => return None,
                }
            }
            Some(total)
        }
    }
}

fn etcd_wal_fsyncs(endpoint: &str) -> Option<u64> {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    body.lines()
        .find_map(|line| line.strip_prefix("etcd_disk_wal_fsync_duration_seconds_count "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|value| value as u64)
}
