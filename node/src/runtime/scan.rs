//! Scans: the coordinator asks every node for the records of the range it
//! holds and merges them by version. Complete when enough nodes answered
//! that every partition has at least one member of each write quorum among
//! them (all but `rf - quorum` nodes). Not linearizable: a transaction
//! committed but not yet applied everywhere may be missed.

use zerodb_ring::NodeId;

use super::NodeProtocol;
use crate::api::{ClientRequest, ClientResponse, ScanEntry, ScanQuery, ServiceError};
use crate::core::membership::ClusterSpec;
use crate::core::merge_scans;
use zerodb_transport::{Responder, Transport};

/// Gathers the other nodes' local scans in a task and answers `responder`.
pub(crate) fn spawn_scan(
    transport: Transport<NodeProtocol>,
    cluster: ClusterSpec,
    me: NodeId,
    rf: usize,
    query: ScanQuery,
    local: Result<Vec<ScanEntry>, ServiceError>,
    responder: Responder<ClientResponse>,
) {
    tokio::spawn(async move {
        let response = gather(transport, cluster, me, rf, query, local).await;
        if let Err(error) = responder.respond(response).await {
            tracing::debug!(%error, "could not deliver a scan answer");
        }
    });
}

async fn gather(
    transport: Transport<NodeProtocol>,
    cluster: ClusterSpec,
    me: NodeId,
    rf: usize,
    query: ScanQuery,
    local: Result<Vec<ScanEntry>, ServiceError>,
) -> ClientResponse {
    let members = cluster.members.len();
    let tolerated = rf.min(members).saturating_sub(rf.min(members) / 2 + 1);
    let needed = members - tolerated;
    let mut answers = Vec::new();
    match local {
        Ok(entries) => answers.push(entries),
        Err(error) => tracing::warn!(%error, "local scan failed"),
    }
    let request = ClientRequest::LocalScan(query.clone());
    let tasks: Vec<_> = cluster
        .members
        .iter()
        .filter(|member| member.id != me.0)
        .map(|member| {
            let transport = transport.clone();
            let request = request.clone();
            let node = zerodb_transport::tls::NodeId(member.id);
            tokio::spawn(async move { transport.request(node, &request).await })
        })
        .collect();
    for task in tasks {
        match task.await {
            Ok(Ok(ClientResponse::Scan(entries))) => answers.push(entries),
            Ok(Ok(other)) => tracing::warn!(?other, "unexpected local scan answer"),
            Ok(Err(error)) => tracing::debug!(%error, "a node did not answer a scan"),
            Err(error) => tracing::warn!(%error, "scan task failed"),
        }
    }
    if answers.len() < needed {
        return ClientResponse::Error(ServiceError::ScanIncomplete {
            answered: answers.len() as u32,
            needed: needed as u32,
            members: members as u32,
        });
    }
    ClientResponse::Scan(merge_scans(answers, query.limit as usize))
}
