//! The handlers of the console's JSON API. Bad input (a malformed body, an
//! unknown parameter, an unknown route) is answered with a status and
//! `{"error": "..."}` naming the problem; nothing here can stop the node.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value as Json_};
use zerodb_query::value::codec;

use super::ask::Ask;
use super::values::to_json;
use super::views::{NamespacesView, NodeFigures, PlacementView, RingView};
use super::{ApiError, Console};
use crate::api::{QueryAnswer, QueryErrorKind, QueryRequest};
use crate::core::metadata::Caller;
use crate::core::PlacementError;

/// The routes, for the answer to an unknown one.
const ROUTES: &str = "GET /, GET /metrics, GET /api/ring, GET /api/placement, \
                      GET /api/namespaces, GET /api/metrics, POST /api/query";

/// Longest zeroql text the console sends, bytes (the page is for people).
pub(super) const QUERY_TEXT_BYTES_MAX: usize = 64 * 1024;

pub(super) async fn ring(State(console): State<Console>) -> Result<Json<RingView>, ApiError> {
    console.ask(Ask::Ring).await.map(Json)
}

/// The parts of a key; namespace and database default to `default`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyParams {
    namespace: Option<String>,
    database: Option<String>,
    table: Option<String>,
    id: Option<String>,
}

pub(super) async fn placement(
    State(console): State<Console>,
    params: Result<Query<KeyParams>, QueryRejection>,
) -> Result<Json<PlacementView>, ApiError> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{}; the parameters are namespace, database, table and id",
                rejection.body_text()
            ),
        )
    })?;
    let or_default = |part: Option<String>| part.unwrap_or_else(|| "default".to_string());
    let parts = [
        or_default(params.namespace),
        or_default(params.database),
        params.table.unwrap_or_default(),
        params.id.unwrap_or_default(),
    ];
    console
        .ask(|reply| Ask::Placement(parts, reply))
        .await?
        .map(Json)
        .map_err(|error| {
            let status = match error {
                PlacementError::NotLoaded => StatusCode::SERVICE_UNAVAILABLE,
                PlacementError::Unknown(_) => StatusCode::NOT_FOUND,
                PlacementError::Unplaceable { .. } => StatusCode::CONFLICT,
            };
            ApiError::new(status, error.to_string())
        })
}

pub(super) async fn namespaces(
    State(console): State<Console>,
) -> Result<Json<NamespacesView>, ApiError> {
    console.ask(Ask::Namespaces).await.map(Json)
}

pub(super) async fn figures(
    State(console): State<Console>,
) -> Result<Json<Vec<NodeFigures>>, ApiError> {
    console.ask(Ask::Figures).await.map(Json)
}

/// The body of `POST /api/query`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueryBody {
    text: String,
    namespace: Option<String>,
    database: Option<String>,
}

pub(super) async fn query(
    State(console): State<Console>,
    body: Result<Json<QueryBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            format!(
                "{}; send {{\"text\": \"SELECT ...\", \"namespace\": \"default\", \"database\": \"default\"}} as application/json",
                rejection.body_text()
            ),
        )
    })?;
    if body.text.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the query text is empty: write one or more zeroql statements",
        ));
    }
    if body.text.len() > QUERY_TEXT_BYTES_MAX {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the query text is {} bytes; the console takes at most {QUERY_TEXT_BYTES_MAX} (use `zerodb sql` for more)",
                body.text.len()
            ),
        ));
    }
    let request = QueryRequest {
        namespace: body.namespace.unwrap_or_else(|| "default".into()),
        database: body.database.unwrap_or_else(|| "default".into()),
        text: body.text,
        params: Vec::new(),
    };
    let caller = Caller::User(console.user.to_string());
    let answer = console
        .ask(|reply| Ask::Query {
            caller,
            request,
            reply,
        })
        .await?;
    let (status, json) = answer_json(&answer);
    Ok((status, Json(json)).into_response())
}

/// A query's answer as JSON: `{"results": [...], "text": [...], "error":
/// null | {"kind", "message"}}` (`text`: each result as zeroql prints
/// it), with a status that says how it ended.
pub(super) fn answer_json(answer: &QueryAnswer) -> (StatusCode, Json_) {
    let mut results = Vec::with_capacity(answer.results.len());
    let mut texts = Vec::with_capacity(answer.results.len());
    for encoded in &answer.results {
        match codec::decode(encoded) {
            Ok(value) => {
                results.push(to_json(&value));
                texts.push(Json_::String(value.to_string()));
            }
            Err(error) => {
                let message = format!("a result did not decode: {error}");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"results": results, "text": texts, "error": {"kind": "internal", "message": message}}),
                );
            }
        }
    }
    let Some(error) = &answer.error else {
        return (
            StatusCode::OK,
            json!({"results": results, "text": texts, "error": null}),
        );
    };
    let (status, kind) = match error.kind {
        QueryErrorKind::Invalid => (StatusCode::BAD_REQUEST, "invalid"),
        QueryErrorKind::Violation => (StatusCode::CONFLICT, "violation"),
        QueryErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
        QueryErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        QueryErrorKind::OutcomeUnknown => (StatusCode::GATEWAY_TIMEOUT, "outcome_unknown"),
        QueryErrorKind::Refused => (StatusCode::FORBIDDEN, "refused"),
        QueryErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        QueryErrorKind::UnknownStatement => {
            (StatusCode::INTERNAL_SERVER_ERROR, "unknown_statement")
        }
    };
    (
        status,
        json!({"results": results, "text": texts, "error": {"kind": kind, "message": error.message}}),
    )
}

pub(super) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route {method} {}; the routes are {ROUTES}", uri.path()),
    )
}

pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not allowed on {}; the routes are {ROUTES}",
            uri.path()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::QueryError;
    use zerodb_query::value::Value;

    #[test]
    fn a_failed_statement_keeps_the_results_before_it_and_names_its_kind() {
        let answer = QueryAnswer {
            results: vec![codec::encode(&Value::Int(2)).unwrap()],
            error: Some(QueryError {
                kind: QueryErrorKind::Refused,
                message: "user \"vera\" lacks the write permission".into(),
            }),
        };
        let (status, body) = answer_json(&answer);
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["results"], json!([2]));
        assert_eq!(body["text"], json!(["2"]));
        assert_eq!(body["error"]["kind"], "refused");
        let garbled = QueryAnswer {
            results: vec![vec![0xff, 0xff]],
            error: None,
        };
        let (status, body) = answer_json(&garbled);
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not decode"));
    }
}
