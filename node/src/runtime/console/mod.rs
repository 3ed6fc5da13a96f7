//! The HTTP server on `metrics.address`: Prometheus text on `/metrics`, and
//! the console, a page served from the binary, with its JSON API.
//!
//! | route | what |
//! |---|---|
//! | `GET /metrics` | Prometheus text (see [`super::metrics::render`]) |
//! | `GET /` (and `/console.css`, `/console.js`) | the page |
//! | `GET /api/ring` | members, tokens, health ([`views::RingView`]) |
//! | `GET /api/placement?namespace=&database=&table=&id=` | a key's partition token and replica ring |
//! | `GET /api/namespaces` | policies and roles |
//! | `GET /api/metrics` | every member's counters, for rates |
//! | `POST /api/query` `{"text", "namespace", "database"}` | run zeroql |
//!
//! **Security.** The console runs zeroql with the roles of one user,
//! `metrics.console_user` (default the cluster admin, [`BOOTSTRAP_ADMIN`]):
//! whoever reaches it may do what that user may, and a viewer there makes
//! a read-only console (every statement passes the same gate as a client's
//! request of that user). So it
//! is served only when the address is a loopback one (the default, and what
//! `zerodb dev` binds), where reaching it already means being on the
//! machine that holds the node's keys. On any other address `/metrics`
//! still answers (for a scraper) and every console route is refused with a
//! 403 that says why: per-user log-in tokens, which a remote console needs,
//! do not exist yet. On loopback, a request whose `Host` is not a loopback
//! name is refused too, so that a web page of another site cannot reach the
//! API by pointing its own name at 127.0.0.1 (DNS rebinding); the query
//! endpoint takes only `application/json`, which a cross-site form cannot
//! send without the browser asking first (and this server never allows it).

mod api;
pub(crate) mod ask;
pub mod values;
pub mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use super::event_loop::ask_info;
use super::Control;
use ask::Ask;

/// The user whose roles the console's statements run with by default.
pub use crate::core::catalog::BOOTSTRAP_ADMIN;

/// The page and its assets, built into the binary: nothing is fetched from
/// anywhere at run time.
const INDEX_HTML: &str = include_str!("assets/index.html");
const CONSOLE_CSS: &str = include_str!("assets/console.css");
const CONSOLE_JS: &str = include_str!("assets/console.js");

/// Scripts, styles and fetches from this server only; no inline script.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

/// What every handler reaches.
#[derive(Clone)]
struct Console {
    control: mpsc::Sender<Control>,
    addr: SocketAddr,
    /// Whose roles statements run with (`metrics.console_user`).
    user: Arc<str>,
}

/// An answer of the API that is not the thing asked for: a status and a
/// message for a person, as `{"error": "..."}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn stopped() -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the node is stopping")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        (self.status, Json(body)).into_response()
    }
}

impl Console {
    /// Asks the event loop; `make` wraps the reply channel in the question.
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Ask) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.control
            .send(Control::Console(make(reply)))
            .await
            .map_err(|_| ApiError::stopped())?;
        answer.await.map_err(|_| ApiError::stopped())
    }
}

/// Binds `addr` and serves until the node stops. Returns the bound address.
pub(crate) async fn serve(
    addr: SocketAddr,
    user: Option<String>,
    control: mpsc::Sender<Control>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let state = Console {
        control: control.clone(),
        addr: bound,
        user: Arc::from(user.as_deref().unwrap_or(BOOTSTRAP_ADMIN)),
    };
    let app = router(state);
    tokio::spawn(async move {
        let stopped = async move { control.closed().await };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!(%error, "the console and metrics server stopped");
        }
    });
    Ok(bound)
}

fn router(state: Console) -> Router {
    let console = Router::new()
        .route("/", get(|| asset("text/html; charset=utf-8", INDEX_HTML)))
        .route(
            "/console.css",
            get(|| asset("text/css; charset=utf-8", CONSOLE_CSS)),
        )
        .route(
            "/console.js",
            get(|| asset("text/javascript; charset=utf-8", CONSOLE_JS)),
        )
        .route("/api/ring", get(api::ring))
        .route("/api/placement", get(api::placement))
        .route("/api/namespaces", get(api::namespaces))
        .route("/api/metrics", get(api::figures))
        .route("/api/query", post(api::query))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), guard));
    Router::new()
        .route("/metrics", get(prometheus))
        .merge(console)
        .with_state(state)
}

/// `/metrics`: the Prometheus text, exactly as before the console.
async fn prometheus(State(console): State<Console>) -> Response {
    match ask_info(&console.control).await {
        Some(info) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            super::metrics::render(&info),
        )
            .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "node stopped\n").into_response(),
    }
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// Lets a console request through only on a loopback address, and only
/// when it names a loopback host (see the module documentation).
async fn guard(State(console): State<Console>, request: Request, next: Next) -> Response {
    if let Err(error) = admit(console.addr, request.headers()) {
        return error.into_response();
    }
    next.run(request).await
}

/// Why a console request must be refused, if it must.
fn admit(addr: SocketAddr, headers: &HeaderMap) -> Result<(), ApiError> {
    if !addr.ip().is_loopback() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "the console is served on loopback addresses only, and metrics.address is {addr}: \
                 a console reachable from other machines needs per-user log-in tokens, which are \
                 not built yet; /metrics still answers here. Reach the console through a tunnel \
                 to a node whose metrics.address is 127.0.0.1:PORT (ssh -L PORT:127.0.0.1:PORT host)"
            ),
        ));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if !is_loopback_host(host) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "Host {host:?} is not a loopback name: open the console as http://{addr}/ \
                 (a foreign name pointing at this machine is refused)"
            ),
        ));
    }
    Ok(())
}

/// Whether a `Host` header names this machine's loopback: `localhost`,
/// `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn loopback_hosts_pass_and_other_names_do_not() {
        for good in [
            "127.0.0.1:9401",
            "localhost:9401",
            "[::1]:9401",
            "127.0.0.2",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(good), "{good}");
        }
        for bad in [
            "evil.example:9401",
            "10.0.0.1:9401",
            "",
            "[::2]:1",
            "localhost.evil:1",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn a_console_on_another_address_is_refused_with_the_reason() {
        let public: SocketAddr = "10.0.0.1:9401".parse().unwrap();
        let error = admit(public, &host("10.0.0.1:9401")).unwrap_err();
        assert_eq!(error.status, StatusCode::FORBIDDEN);
        assert!(
            error.message.contains("loopback addresses only"),
            "{}",
            error.message
        );
        assert!(error.message.contains("10.0.0.1:9401"), "{}", error.message);
        let local: SocketAddr = "127.0.0.1:9401".parse().unwrap();
        assert!(admit(local, &host("127.0.0.1:9401")).is_ok());
        let rebound = admit(local, &host("attacker.example:9401")).unwrap_err();
        assert!(
            rebound.message.contains("not a loopback name"),
            "{}",
            rebound.message
        );
    }
}
