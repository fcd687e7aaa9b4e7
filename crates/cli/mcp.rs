//! `closest mcp` (or `closest serve --mcp`): the Model Context Protocol over stdio, so an agent
//! can find related notes, and near-copies before it writes a new one.
//!
//! JSON-RPC 2.0, one message a line on stdin and stdout (MCP's stdio transport); stderr carries
//! only diagnostics. The protocol surface is small enough to keep here rather than pull in an
//! SDK: `initialize`, `ping`, `tools/list`, `tools/call`, and notifications (no answer). Tools:
//! `similar` (notes nearest a note id), `search` (notes nearest a free text), `explain` (why B is
//! or is not in A's list), `note` (a note's text by id). A tool that fails (an unknown id) is a
//! tool result with `isError: true` and the message, as the protocol asks, so the agent can
//! read it and try again; malformed requests are JSON-RPC errors. The session ends at the end
//! of stdin.
//!
//! What a client sends is bounded: a message (a line) over [`MAX_LINE_BYTES`] is never held
//! whole; it is skipped to its end and answered with an Invalid Request error. Until
//! `initialize`, only `initialize` and `ping` are answered (others get
//! [`NOT_INITIALIZED`]); an empty batch is an Invalid Request.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::Result;
use closest_engine::{Engine, FolderSettings, Query, Silent};
use serde_json::{json, Value};

use crate::args::{McpArgs, ModelOptions};
use crate::settings::folder_settings;
use crate::ui::message_of;
use crate::ui::Ui;

/// Protocol versions this server speaks, newest first.
const VERSIONS: [&str; 3] = ["2025-06-18", "2025-03-26", "2024-11-05"];
const MAX_K: u64 = 100;

/// The longest message (one line) read: longer ones are skipped and refused.
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;

/// A request before `initialize` (JSON-RPC's server-error range).
const NOT_INITIALIZED: i64 = -32002;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

pub(crate) fn mcp(args: &McpArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    let settings = folder_settings(args.dir.as_deref(), &args.folder, model, ui)?;
    run(settings, ui)
}

/// Serves one MCP session on stdin and stdout.
pub(crate) fn run(settings: FolderSettings, ui: &Ui) -> Result<ExitCode> {
    // pip's progress would go to stdout, which is the protocol's: never draw any.
    let engine = Engine::open(settings, false, ui)?;
    let mut out = ui.out();
    let mut session = Session {
        engine: &engine,
        ui,
        initialized: false,
    };
    let mut input = std::io::stdin().lock();
    while let Some(line) = next_line(&mut input)? {
        let reply = match line {
            Line::TooLong(bytes) => Some(failure(
                Value::Null,
                INVALID_REQUEST,
                &format!(
                    "a message of {bytes} bytes or more is over the limit of {MAX_LINE_BYTES} bytes; send smaller messages"
                ),
            )),
            Line::Text(line) if line.trim().is_empty() => continue,
            Line::Text(line) => session.reply(&line),
        };
        if let Some(reply) = reply {
            writeln!(out, "{reply}")?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of input: its text, or how much of it was skipped for being too long.
enum Line {
    Text(String),
    TooLong(usize),
}

/// The next line of `input` (without its line break), holding at most [`MAX_LINE_BYTES`] of
/// it; `None` at the end of input.
fn next_line(input: &mut impl BufRead) -> std::io::Result<Option<Line>> {
    let mut line = Vec::new();
    let mut skipped = 0;
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            return Ok(match (line.is_empty(), skipped) {
                (true, 0) => None,
                (_, 0) => Some(Line::Text(String::from_utf8_lossy(&line).into_owned())),
                _ => Some(Line::TooLong(skipped)),
            });
        }
        let (part, ended) = match buffer.iter().position(|&byte| byte == b'\n') {
            Some(at) => (&buffer[..at], Some(at + 1)),
            None => (buffer, None),
        };
        if skipped > 0 || line.len() + part.len() > MAX_LINE_BYTES {
            skipped += line.len() + part.len();
            line.clear();
        } else {
            line.extend_from_slice(part);
        }
        let used = ended.unwrap_or(buffer.len());
        input.consume(used);
        if ended.is_some() {
            return Ok(Some(if skipped > 0 {
                Line::TooLong(skipped)
            } else {
                Line::Text(String::from_utf8_lossy(&line).into_owned())
            }));
        }
    }
}

/// One client's session: the engine, and whether it has said `initialize`.
struct Session<'a> {
    engine: &'a Engine,
    ui: &'a Ui,
    initialized: bool,
}

impl Session<'_> {
    /// The reply to one line: a message or a batch.
    fn reply(&mut self, line: &str) -> Option<Value> {
        match serde_json::from_str::<Value>(line) {
            Err(err) => Some(failure(
                Value::Null,
                PARSE_ERROR,
                &format!("not JSON: {err}"),
            )),
            Ok(Value::Array(batch)) if batch.is_empty() => Some(failure(
                Value::Null,
                INVALID_REQUEST,
                "an empty batch; send at least one message",
            )),
            Ok(Value::Array(batch)) => {
                let replies: Vec<Value> = batch
                    .iter()
                    .filter_map(|message| self.answer(message))
                    .collect();
                (!replies.is_empty()).then_some(Value::Array(replies))
            }
            Ok(message) => self.answer(&message),
        }
    }

    fn answer(&mut self, message: &Value) -> Option<Value> {
        let method = message.get("method").and_then(Value::as_str);
        if !self.initialized && !matches!(method, Some("initialize" | "ping") | None) {
            if method.is_some_and(|method| method.starts_with("notifications/")) {
                return None;
            }
            let id = message.get("id").cloned()?;
            return Some(failure(
                id,
                NOT_INITIALIZED,
                "the session is not initialized; send `initialize` first",
            ));
        }
        let reply = answer(self.engine, message, self.ui);
        if method == Some("initialize") && reply.as_ref().is_some_and(|r| r.get("result").is_some())
        {
            self.initialized = true;
        }
        reply
    }
}

/// The answer to one message; `None` for notifications and for the client's own responses.
fn answer(engine: &Engine, message: &Value, ui: &Ui) -> Option<Value> {
    let id = message.get("id").cloned();
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        // A response to something we never asked, or not a request at all.
        let is_response = message.get("result").is_some() || message.get("error").is_some();
        return (!is_response).then(|| {
            failure(
                id.unwrap_or(Value::Null),
                INVALID_REQUEST,
                "a request needs a \"method\"",
            )
        });
    };
    let params = message.get("params").cloned().unwrap_or_else(|| json!({}));
    let outcome = match method {
        "initialize" => Ok(initialize(&params)),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({ "tools": tools() })),
        "tools/call" => call(engine, &params, ui),
        _ if method.starts_with("notifications/") => return None,
        _ => Err((METHOD_NOT_FOUND, format!("no method `{method}`"))),
    };
    // A request without an id is a notification: it gets no answer.
    let id = id?;
    Some(match outcome {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err((code, message)) => failure(id, code, &message),
    })
}

fn failure(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

fn initialize(params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = asked
        .filter(|asked| VERSIONS.contains(asked))
        .unwrap_or(VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": { "name": "closest", "version": env!("CARGO_PKG_VERSION") },
        "instructions": "Search a folder of markdown notes by meaning. Before writing a new note, call `search` with its gist to find related notes and near-copies; `similar` lists the notes nearest an existing one, `note` reads a note, `explain` says why two notes are or are not linked.",
    })
}

fn tools() -> Value {
    let k = json!({ "type": "integer", "minimum": 1, "maximum": MAX_K, "description": "How many notes (default: the folder's k)." });
    json!([
        {
            "name": "similar",
            "description": "The notes nearest in meaning to an existing note, with their scores: in the default hybrid mode, the cosine of the two notes' embeddings fused with a TF-IDF score of the words they share ((1 - w) x cosine + w x lexical, w the folder's lexical-weight, 0.35 by default); the cosine alone when the folder's similarity is semantic.",
            "inputSchema": {
                "type": "object",
                "properties": { "note": { "type": "string", "description": "The note: its id, its path from the notes folder, or its file name." }, "k": k },
                "required": ["note"],
            },
        },
        {
            "name": "search",
            "description": "The notes nearest in meaning to a free text (a question, a topic, or a draft note: scores near 1 mean a near-copy already exists).",
            "inputSchema": {
                "type": "object",
                "properties": { "text": { "type": "string", "description": "What to search for." }, "k": k },
                "required": ["text"],
            },
        },
        {
            "name": "explain",
            "description": "Why note b is or is not in note a's list of closest notes (each named by id, path or file name): the score that ranks them, its cosine and lexical parts, b's rank among all notes for a, whether a's section lists b, the words they share and their nearest sentences.",
            "inputSchema": {
                "type": "object",
                "properties": { "a": { "type": "string" }, "b": { "type": "string" } },
                "required": ["a", "b"],
            },
        },
        {
            "name": "note",
            "description": "A note's markdown text, by its id, path or file name.",
            "inputSchema": {
                "type": "object",
                "properties": { "id": { "type": "string" } },
                "required": ["id"],
            },
        },
    ])
}

type Outcome = std::result::Result<Value, (i64, String)>;

/// Runs a tool. Bad arguments are protocol errors; a failure of the tool itself (an unknown
/// note) is a result with `isError`.
fn call(engine: &Engine, params: &Value, ui: &Ui) -> Outcome {
    let name = params.get("name").and_then(Value::as_str).unwrap_or("");
    let arguments = params
        .get("arguments")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let text = |key: &str| -> std::result::Result<String, (i64, String)> {
        arguments
            .get(key)
            .and_then(Value::as_str)
            .filter(|value| !value.trim().is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                (
                    INVALID_PARAMS,
                    format!("`{name}` needs a string argument `{key}`"),
                )
            })
    };
    let k = match arguments.get("k") {
        None | Some(Value::Null) => engine.settings().k,
        Some(value) => match value.as_u64() {
            Some(k @ 1..=MAX_K) => k as usize,
            _ => {
                return Err((
                    INVALID_PARAMS,
                    format!("`k` must be an integer from 1 to {MAX_K}"),
                ))
            }
        },
    };
    let done = match name {
        "similar" => {
            let note = text("note")?;
            engine
                .similar(Query::Note(&note), k, &Silent)
                .map(|hits| json!({ "note": note, "hits": hits }))
        }
        "search" => {
            let query = text("text")?;
            engine
                .similar(Query::Text(&query), k, ui)
                .map(|hits| json!({ "hits": hits }))
        }
        "explain" => {
            let (a, b) = (text("a")?, text("b")?);
            engine
                .explain(&a, &b, &Silent)
                .map(|explanation| json!(explanation))
        }
        "note" => {
            let id = text("id")?;
            return Ok(match engine.note(&id) {
                // The markdown itself reads better to an agent than the same text escaped.
                Ok(note) => json!({
                    "content": [{ "type": "text", "text": note.text }],
                    "structuredContent": note,
                    "isError": false,
                }),
                Err(err) => tool_error(&err),
            });
        }
        _ => return Err((INVALID_PARAMS, format!("no tool `{name}`; see tools/list"))),
    };
    Ok(match done {
        Ok(value) => json!({
            "content": [{ "type": "text", "text": serde_json::to_string_pretty(&value).unwrap_or_default() }],
            "structuredContent": value,
            "isError": false,
        }),
        Err(err) => tool_error(&err),
    })
}

fn tool_error(err: &closest_engine::Error) -> Value {
    json!({
        "content": [{ "type": "text", "text": message_of(err) }],
        "isError": true,
    })
}
