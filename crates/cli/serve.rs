//! `closest serve`: the engine over HTTP on 127.0.0.1, with the model and the store warm.
//!
//! axum on a current-thread tokio runtime accepts and parses; every engine call runs on tokio's
//! blocking pool, so a slow embedding never stalls the other connections. Two bounds keep the
//! server responsive under load: a body limit (`--max-body`, 413 beyond it) and a semaphore on
//! work that embeds text (`--embed-jobs` at once, `EMBED_QUEUE` more waiting, 503 past that).
//! Lookups by note id are cheap scans of the kept snapshot and only wait for a free core.
//!
//! The engine keeps the store's snapshot and reloads it when an `update` or `watch` commits
//! (`closest_engine` `snapshot.rs`), so new notes are answered without a restart. Every error
//! is a JSON object `{"error": "...", "status": N}` with the HTTP status: 400 for a bad request,
//! 403 for a request from another site, 404 for an unknown note or path, 405, 413 for a body
//! over the limit, 414 and 431 for a target or headers over their limits, 415 for a body that
//! is not JSON, 421 for a `Host` that is not this server, 422 for JSON of the wrong shape, 500
//! for a failure of the server's own, 503 when nothing is stored yet or the queue is full.
//!
//! Every request is taken to come from any web page the user has open: the server listens on
//! 127.0.0.1 only, answers only a `Host` of 127.0.0.1, localhost or [::1] with its port (a
//! DNS-rebinding page names its own host), refuses requests a browser marks as coming from
//! another site (`Origin`, `Sec-Fetch-Site`), sends no CORS headers, and takes bodies only as
//! JSON, which a page cannot send to another origin without a preflight this server never
//! grants. Connections are bounded ([`MAX_CONNECTIONS`] at once) and closed when their headers
//! do not arrive within [`HEADER_TIMEOUT`], idle ones included.
//!
//! Endpoints: `GET /similar?note=ID&k=N`, `POST /similar {"text": ..., "k": N}` (or
//! `{"note": ...}`), `GET /explain?a=ID&b=ID`, `POST /embed` (JSON Lines or a JSON array of
//! `{"id", "text"}`, answered in the same shape as `closest embed`; `?query=true` embeds as
//! queries), `GET /status`, `GET /health`.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use closest_engine::{Engine, Error as EngineError, Query as Search, Silent};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::args::{ModelOptions, ServeArgs};
use crate::embed_lines::{embed_lines, parse_lines, EmbedShape};
use crate::settings::folder_settings;
use crate::ui::{message_of, Ui};

/// Requests that may wait for an embedding slot before the server answers 503.
const EMBED_QUEUE: usize = 256;
/// Connections served at once; more wait in the system's backlog.
pub(crate) const MAX_CONNECTIONS: usize = 128;
/// How long a connection may take to send a request's headers, or stay idle between requests.
pub(crate) const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The longest request target, and all the headers of a request together, in bytes.
const MAX_TARGET_BYTES: usize = 8 << 10;
const MAX_HEADER_BYTES: usize = 16 << 10;
/// The most neighbours one request may ask for.
const MAX_K: usize = 1000;

struct App {
    engine: Engine,
    ui: Ui,
    /// Engine calls at once (a few per core: they are short and CPU-bound).
    work: Semaphore,
    /// Text embeddings at once.
    embed: Semaphore,
    embed_waiting: AtomicUsize,
    started: Instant,
    served: AtomicU64,
}

type Shared = Arc<App>;

pub(crate) fn serve(args: &ServeArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    let settings = folder_settings(args.dir.as_deref(), &args.folder, model, ui)?;
    if args.mcp {
        return crate::mcp::run(settings, ui);
    }
    let engine = Engine::open(settings, ui.shows_progress(), ui)?;
    // Warm: the weights now, not on the first request; the snapshot if there is one.
    engine.model().embedder(ui)?;
    match engine.stored_count() {
        Ok(n_notes) => ui.say(format_args!("{n_notes} notes stored")),
        Err(err) => ui.warning(err),
    }
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let app = Arc::new(App {
        engine,
        ui: ui.clone(),
        work: Semaphore::new(cores * 2),
        embed: Semaphore::new(args.embed_jobs.unwrap_or(cores).max(1)),
        embed_waiting: AtomicUsize::new(0),
        started: Instant::now(),
        served: AtomicU64::new(0),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(async move {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| {
                format!("cannot listen on {address}; is the port taken? choose another with --port")
            })?;
        let bound = listener.local_addr()?;
        ui.say(format_args!(
            "serving `{}` on http://{bound} (Ctrl-C stops)",
            app.engine.settings().root.display()
        ));
        accept(listener, router(app, args.max_body, bound.port())).await
    })?;
    ui.say("stopped serving");
    Ok(ExitCode::SUCCESS)
}

/// Serves connections until Ctrl-C: at most [`MAX_CONNECTIONS`] at once, each closed when a
/// request's headers take longer than [`HEADER_TIMEOUT`] (waiting for the next one included).
async fn accept(listener: tokio::net::TcpListener, router: Router) -> Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.context("the connection slots closed")?,
            _ = &mut stop => return Ok(()),
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors or a connection reset before it was taken: the next
                // accept may succeed.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => return Ok(()),
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
}

fn router(app: Shared, max_body: usize, port: u16) -> Router {
    Router::new()
        .route("/similar", get(similar_by_id).post(similar_by_body))
        .route("/explain", get(explain))
        .route("/embed", axum::routing::post(embed))
        .route("/status", get(status))
        .route("/health", get(health))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such endpoint; see `closest serve --help`",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this endpoint does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(port, only_this_host))
        .with_state(app)
}

/// Answers only requests for this server from no other site, within the size limits (see the
/// module's documentation); every refusal is a JSON error.
async fn only_this_host(
    State(port): State<u16>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let target = request.uri().to_string().len();
    if target > MAX_TARGET_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("the request target is over {MAX_TARGET_BYTES} bytes"),
        )
        .into_response();
    }
    let headers = request.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the request's headers are over {MAX_HEADER_BYTES} bytes"),
        )
        .into_response();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("");
    if !is_this_server(host, port, false) {
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!("this server answers only http://127.0.0.1:{port}, http://localhost:{port} and http://[::1]:{port}, not `{host}`"),
        )
        .into_response();
    }
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|origin| origin.to_str().ok());
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|site| site.to_str().ok());
    let from_another_site = origin.is_some_and(|origin| !is_this_server(origin, port, true))
        || matches!(fetch_site, Some("cross-site" | "same-site"));
    if from_another_site {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "requests from web pages of other sites are refused",
        )
        .into_response();
    }
    next.run(request).await
}

/// Whether `host` (a `Host` header, or with `scheme` an `Origin`) names this server: 127.0.0.1,
/// localhost or [::1] with its port (a port of 80 may be left out).
fn is_this_server(host: &str, port: u16, scheme: bool) -> bool {
    let host = host.to_ascii_lowercase();
    let host = match scheme {
        true => match host.strip_prefix("http://") {
            Some(rest) => rest.to_owned(),
            None => return false,
        },
        false => host,
    };
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|name| host == format!("{name}:{port}") || (port == 80 && host == *name))
}

/// An error answer: `{"error": message, "status": code}`.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.message, "status": self.status.as_u16() });
        (self.status, Json(body)).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        let status = match &err {
            EngineError::UnknownNote { .. } => StatusCode::NOT_FOUND,
            EngineError::AmbiguousNote { .. } => StatusCode::CONFLICT,
            EngineError::NothingStored { .. } | EngineError::StoreOutdated { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            EngineError::Setting(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, message_of(&err))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

impl App {
    /// Runs an engine call on the blocking pool once a work slot is free.
    async fn call<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&App) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.served.fetch_add(1, Ordering::Relaxed);
        let _permit = self.work.acquire().await.map_err(internal)?;
        let app = self.clone();
        tokio::task::spawn_blocking(move || work(&app))
            .await
            .map_err(internal)?
    }

    /// Like `call`, for work that embeds text: bounded separately, refused when the queue is
    /// full.
    async fn call_embedding<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&App) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        if self.embed_waiting.fetch_add(1, Ordering::SeqCst) >= EMBED_QUEUE {
            self.embed_waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many texts waiting to be embedded; try again shortly",
            ));
        }
        let permit = self.embed.acquire().await;
        self.embed_waiting.fetch_sub(1, Ordering::SeqCst);
        let _permit = permit.map_err(internal)?;
        self.call(work).await
    }
}

fn internal(err: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
}

fn check_k(k: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match k.unwrap_or(default) {
        k @ 1..=MAX_K => Ok(k),
        k => Err(ApiError::bad_request(format!(
            "k = {k} is out of range; ask for 1 to {MAX_K} neighbours"
        ))),
    }
}

#[derive(Deserialize)]
struct SimilarParams {
    note: Option<String>,
    k: Option<usize>,
}

async fn similar_by_id(
    State(app): State<Shared>,
    params: Result<Query<SimilarParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    let Some(note) = params.note else {
        return Err(ApiError::bad_request(
            "say which note: `GET /similar?note=ID`, or `POST /similar` with {\"text\": ...}",
        ));
    };
    let k = check_k(params.k, app.engine.settings().k)?;
    app.call(move |app| {
        let hits = app.engine.similar(Search::Note(&note), k, &Silent)?;
        Ok(Json(json!({ "note": note, "k": k, "hits": hits })))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimilarBody {
    text: Option<String>,
    note: Option<String>,
    k: Option<usize>,
}

async fn similar_by_body(
    State(app): State<Shared>,
    body: Result<Json<SimilarBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let k = check_k(body.k, app.engine.settings().k)?;
    match (body.text, body.note) {
        (Some(text), None) => {
            if text.trim().is_empty() {
                return Err(ApiError::bad_request("\"text\" is empty; give words to search for"));
            }
            app.call_embedding(move |app| {
                let hits = app.engine.similar(Search::Text(&text), k, &app.ui)?;
                Ok(Json(json!({ "k": k, "hits": hits })))
            })
            .await
        }
        (None, Some(note)) => {
            app.call(move |app| {
                let hits = app.engine.similar(Search::Note(&note), k, &Silent)?;
                Ok(Json(json!({ "note": note, "k": k, "hits": hits })))
            })
            .await
        }
        _ => Err(ApiError::bad_request(
            "give exactly one of \"text\" and \"note\", e.g. {\"text\": \"rust closures\", \"k\": 5}",
        )),
    }
}

#[derive(Deserialize)]
struct ExplainParams {
    a: Option<String>,
    b: Option<String>,
}

async fn explain(
    State(app): State<Shared>,
    params: Result<Query<ExplainParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    let (Some(a), Some(b)) = (params.a, params.b) else {
        return Err(ApiError::bad_request(
            "name two notes: `GET /explain?a=ID&b=ID`",
        ));
    };
    // Explaining embeds both notes' sentences: it waits in the embedding queue.
    app.call_embedding(move |app| {
        let explanation = app.engine.explain(&a, &b, &Silent)?;
        Ok(Json(serde_json::to_value(explanation).map_err(internal)?))
    })
    .await
}

#[derive(Deserialize)]
struct EmbedParams {
    #[serde(default)]
    query: bool,
}

async fn embed(
    State(app): State<Shared>,
    params: Result<Query<EmbedParams>, QueryRejection>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params?;
    // JSON only: a web page can send text/plain anywhere without asking, but not JSON.
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|media| media.trim().to_ascii_lowercase());
    if !matches!(
        media.as_deref(),
        Some("application/json" | "application/x-ndjson" | "application/jsonl")
    ) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send `Content-Type: application/json` (an array) or `application/x-ndjson` (JSON Lines)",
        ));
    }
    let body = body?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the body is not UTF-8 text"))?;
    let (lines, shape) =
        parse_lines(text).map_err(|err| ApiError::bad_request(message_of(err.as_ref())))?;
    if lines.is_empty() {
        return Err(ApiError::bad_request(
            "no texts to embed; send JSON Lines {\"id\": ..., \"text\": \"...\"} or an array of them",
        ));
    }
    let objects = app
        .call_embedding(move |app| {
            embed_lines(
                app.engine.model(),
                &lines,
                params.query,
                app.engine.settings().long,
                &app.ui,
            )
            .map_err(|err| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message_of(err.as_ref()))
            })
        })
        .await?;
    Ok(match shape {
        EmbedShape::Array => Json(Value::Array(objects)).into_response(),
        EmbedShape::Lines => {
            let mut text = String::new();
            for object in objects {
                text.push_str(&object.to_string());
                text.push('\n');
            }
            ([(header::CONTENT_TYPE, "application/x-ndjson")], text).into_response()
        }
    })
}

async fn status(State(app): State<Shared>) -> Result<Json<Value>, ApiError> {
    app.call(|app| {
        let settings = app.engine.settings();
        let model = app.engine.model();
        let notes = app.engine.stored_count().ok();
        let plan = app.engine.plan(&Silent)?;
        Ok(Json(json!({
            "root": settings.root.display().to_string(),
            "model": model.name(),
            "model_fingerprint": model.fingerprint,
            "dims": model.dim(),
            "k": settings.k,
            "notes": notes,
            "uptime_seconds": app.started.elapsed().as_secs_f64(),
            "requests": app.served.load(Ordering::Relaxed),
            "plan": plan,
        })))
    })
    .await
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
