//! Prepared zeroql statements: [`Client::prepare`] has the node parse a
//! text once; [`Client::execute`] runs it with parameters.
//!
//! Each node keeps its own bounded cache of prepared statements, and the
//! client may be connected to another node by the next call (a node
//! stopped, the connection was replaced), so a node may not hold the
//! handle an execution names. It then answers
//! [`QueryErrorKind::UnknownStatement`] and runs nothing; the client, which
//! keeps the text, prepares it on that node and executes again. Callers
//! never see that error.

use zerodb_proto::api::{
    ClientRequest, ClientResponse, ExecuteRequest, PrepareRequest, QueryErrorKind,
};
use zerodb_query::value::Value;

use crate::client::{
    decode_answer, encode_params, unexpected, Client, QueryOutput, QUERY_DATABASE_DEFAULT,
    QUERY_NAMESPACE_DEFAULT,
};
use crate::error::Error;

/// Most times one execution prepares its text again because the node did
/// not hold it. Once is enough unless the connection moves to yet another
/// node between the prepare and the execution.
pub const REPREPARES_MAX: u32 = 3;

/// A zeroql text prepared by [`Client::prepare`]: its handle and the text,
/// kept so that a node which does not hold the handle is given the text
/// again. Not tied to one connection or one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedQuery {
    text: String,
    handle: u64,
}

impl PreparedQuery {
    /// The zeroql text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The handle nodes know it by (the xxh3-64 hash of the text).
    pub fn handle(&self) -> u64 {
        self.handle
    }
}

impl Client {
    /// Has the node parse `text` (one or more statements) and keep it for
    /// [`Client::execute`]. A text that does not parse gives
    /// [`Error::Query`] with the rendered error.
    pub async fn prepare(&self, text: &str) -> Result<PreparedQuery, Error> {
        let handle = self.prepare_handle(text).await?;
        Ok(PreparedQuery {
            text: text.to_string(),
            handle,
        })
    }

    /// Runs `prepared` with `params` in the namespace and database
    /// [`QUERY_NAMESPACE_DEFAULT`] / [`QUERY_DATABASE_DEFAULT`]; returns
    /// one value per statement, as [`Client::query`] does.
    pub async fn execute(
        &self,
        prepared: &PreparedQuery,
        params: &[(&str, Value)],
    ) -> Result<Vec<Value>, Error> {
        self.execute_in(
            QUERY_NAMESPACE_DEFAULT,
            QUERY_DATABASE_DEFAULT,
            prepared,
            params,
        )
        .await
    }

    /// [`Client::execute`] starting in `namespace` and `database`.
    pub async fn execute_in(
        &self,
        namespace: &str,
        database: &str,
        prepared: &PreparedQuery,
        params: &[(&str, Value)],
    ) -> Result<Vec<Value>, Error> {
        let output = self
            .execute_answer(namespace, database, prepared, params)
            .await?;
        match output.error {
            None => Ok(output.results),
            Some(error) => Err(Error::Query {
                kind: error.kind,
                message: error.message,
            }),
        }
    }

    /// Runs `prepared` and returns the results of the statements that ran
    /// with the error that stopped the rest, as [`Client::query_answer`]
    /// does. Prepares the text again, at most [`REPREPARES_MAX`] times,
    /// when the node does not hold it.
    pub async fn execute_answer(
        &self,
        namespace: &str,
        database: &str,
        prepared: &PreparedQuery,
        params: &[(&str, Value)],
    ) -> Result<QueryOutput, Error> {
        let mut request = ExecuteRequest {
            handle: prepared.handle,
            namespace: namespace.to_string(),
            database: database.to_string(),
            params: encode_params(params)?,
        };
        let mut prepares = 0;
        loop {
            let answer = match self
                .call(&ClientRequest::Execute(request.clone()), false)
                .await?
            {
                ClientResponse::Query(answer) => answer,
                other => return Err(unexpected(other)),
            };
            let unknown = answer
                .error
                .as_ref()
                .is_some_and(|error| error.kind == QueryErrorKind::UnknownStatement);
            if !unknown || prepares == REPREPARES_MAX {
                return decode_answer(answer);
            }
            prepares += 1;
            tracing::debug!(
                handle = prepared.handle,
                "the node does not hold the prepared statement; preparing it again"
            );
            request.handle = self.prepare_handle(&prepared.text).await?;
        }
    }

    /// Sends a prepare of `text`; the handle.
    async fn prepare_handle(&self, text: &str) -> Result<u64, Error> {
        let request = ClientRequest::Prepare(PrepareRequest {
            namespace: QUERY_NAMESPACE_DEFAULT.to_string(),
            database: QUERY_DATABASE_DEFAULT.to_string(),
            text: text.to_string(),
        });
        match self.call(&request, true).await? {
            ClientResponse::Prepared(statement) => Ok(statement.handle),
            ClientResponse::Query(answer) => Err(match answer.error {
                Some(error) => Error::Query {
                    kind: error.kind,
                    message: error.message,
                },
                None => Error::Internal("a prepare was answered with results".into()),
            }),
            other => Err(unexpected(other)),
        }
    }
}
