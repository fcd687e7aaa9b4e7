//! `closest serve` over HTTP on 127.0.0.1 and `closest mcp` over stdio, end to end.

use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::child::{http, serve, Running};
use crate::fixture::{closest, ok, test_data, Scratch};

fn osx_notes(scratch: &Scratch) -> PathBuf {
    let root = scratch.copy_notes(&test_data().join("tldr-pages/notes/osx"), "osx", |_| true);
    ok(closest(
        &["update", root.to_str().expect("path")],
        None,
        None,
    ));
    root
}

fn ids(answer: &Value) -> Vec<String> {
    answer["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| hit["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Every endpoint answers; bad JSON, oversized bodies, unknown ids, unknown paths and methods
/// get a 4xx JSON error with a message, and the server goes on serving; a note added and
/// updated while it runs is answered without a restart; Ctrl-C stops it with exit 0.
#[test]
fn serve_answers_every_endpoint_and_keeps_serving() {
    let scratch = Scratch::new();
    let root = osx_notes(&scratch);
    let root_arg = root.to_str().expect("path");
    let (mut server, port) = serve(&[root_arg, "--max-body", "20000"]);

    let health = http(port, "GET", "/health", None);
    assert_eq!(
        (health.status, health.json()),
        (200, json!({ "status": "ok" }))
    );

    let by_id = http(port, "GET", "/similar?note=gyes&k=3", None);
    assert_eq!(by_id.status, 200, "{}", by_id.body);
    let hits = ids(&by_id.json());
    assert_eq!(hits.len(), 3);
    assert!(
        !hits.contains(&"gyes".to_owned()),
        "a note is not its own neighbour"
    );
    // The same answer as the command line.
    let cli = ok(closest(
        &["similar", "--note", "gyes", "-k", "3", "--notes", root_arg],
        None,
        None,
    ));
    let cli_ids: Vec<&str> = cli
        .lines()
        .map(|line| line.split('\t').nth(1).expect("id"))
        .collect();
    assert_eq!(hits, cli_ids);
    let first = &by_id.json()["hits"][0];
    assert!(first["path"].as_str().expect("path").ends_with(".md"));
    assert!(first["title"].is_string() && first["score"].is_number());

    let text = http(
        port,
        "POST",
        "/similar",
        Some((
            "application/json",
            br#"{"text": "print the contents of a file", "k": 4}"#,
        )),
    );
    assert_eq!(text.status, 200, "{}", text.body);
    assert_eq!(ids(&text.json()).len(), 4);

    let explain = http(port, "GET", "/explain?a=gyes&b=gtrue", None);
    assert_eq!(explain.status, 200, "{}", explain.body);
    let explain = explain.json();
    assert_eq!(explain["a"]["id"], "gyes");
    assert_eq!(explain["b"]["id"], "gtrue");
    assert!(explain["cosine"].as_f64().expect("cosine") > 0.0);
    assert!(explain["rank"].as_u64().expect("rank") >= 1);
    assert!(explain["listed"].is_boolean());

    let lines = http(
        port,
        "POST",
        "/embed",
        Some((
            "application/x-ndjson",
            b"{\"id\": 7, \"text\": \"hello\"}\n{\"text\": \"world\"}\n",
        )),
    );
    assert_eq!(lines.status, 200, "{}", lines.body);
    let objects: Vec<Value> = lines
        .body
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[0]["id"], 7);
    assert_eq!(
        objects[0]["embedding"].as_array().expect("vector").len(),
        384
    );
    // The same vectors as `closest embed`.
    let cli = ok(closest(
        &["embed"],
        None,
        Some("{\"id\": 7, \"text\": \"hello\"}\n"),
    ));
    let cli: Value = serde_json::from_str(cli.trim()).expect("json");
    assert_eq!(cli, objects[0]);
    let array = http(
        port,
        "POST",
        "/embed",
        Some(("application/json", br#"[{"text": "hello"}]"#)),
    );
    assert_eq!(array.status, 200, "{}", array.body);
    assert_eq!(array.json().as_array().expect("array").len(), 1);

    let status = http(port, "GET", "/status", None);
    assert_eq!(status.status, 200, "{}", status.body);
    let status = status.json();
    assert_eq!(status["notes"], 264);
    assert_eq!(status["plan"]["stale"], 0);

    // Refusals: each a JSON object with the status and a message.
    let big = vec![b'a'; 50_000];
    for (method, target, body, expected) in [
        (
            "POST",
            "/similar",
            Some(("application/json", &b"{\"text\": "[..])),
            400,
        ),
        (
            "POST",
            "/similar",
            Some(("application/json", &b"{\"k\": 3}"[..])),
            400,
        ),
        (
            "POST",
            "/similar",
            Some(("text/plain", &b"{\"text\": \"x\"}"[..])),
            415,
        ),
        ("POST", "/embed", Some(("application/json", &big[..])), 413),
        (
            "POST",
            "/embed",
            Some(("application/json", &b"{\"id\": 1}"[..])),
            400,
        ),
        ("GET", "/similar?note=no-such-note", None, 404),
        ("GET", "/similar?note=gyes&k=0", None, 400),
        ("GET", "/similar?note=gyes&k=many", None, 400),
        ("GET", "/explain?a=gyes", None, 400),
        ("GET", "/explain?a=gyes&b=nope", None, 404),
        ("GET", "/nowhere", None, 404),
        ("DELETE", "/health", None, 405),
    ] {
        let answer = http(port, method, target, body);
        assert_eq!(
            answer.status, expected,
            "{method} {target}: {}",
            answer.body
        );
        let error = answer.json();
        assert_eq!(error["status"], expected);
        assert!(
            !error["error"].as_str().expect("message").is_empty(),
            "{method} {target}"
        );
    }
    assert_eq!(
        http(port, "GET", "/health", None).status,
        200,
        "still serving"
    );

    // A note added and updated while the server runs is answered without a restart.
    std::fs::write(
        root.join("zz-new-note.md"),
        "# zz-new-note\n\n> Print a line of text over and over, like yes.\n",
    )
    .expect("write");
    ok(closest(&["update", root_arg], None, None));
    let fresh = http(port, "GET", "/similar?note=zz-new-note&k=2", None);
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(http(port, "GET", "/status", None).json()["notes"], 265);

    let status = server.interrupt(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "Ctrl-C stops the server cleanly");
}

/// 200 concurrent `similar` requests on the til notes: every one answered 200 with a list.
#[test]
fn serve_handles_200_concurrent_requests_on_the_til_notes() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("til/notes"), "til", |_| true);
    std::fs::write(
        root.join(".closest.toml"),
        "id-scheme = \"relative-path\"\n",
    )
    .expect("config");
    ok(closest(
        &["update", root.to_str().expect("path")],
        None,
        None,
    ));
    let (_server, port) = serve(&[root.to_str().expect("path")]);
    let report = load(port, &note_ids(&root), 200, 2, Duration::from_secs(120));
    assert_eq!(report.errors, Vec::<String>::new());
    assert_eq!(report.latencies.len(), 400);
    eprintln!("{}", report.summary());
}

/// The ids of the notes under `root` (relative-path scheme).
pub(crate) fn note_ids(root: &std::path::Path) -> Vec<String> {
    crate::fixture::snapshot(root)
        .into_iter()
        .map(|(path, _)| path.with_extension("").display().to_string())
        .collect()
}

/// What a load run measured.
pub(crate) struct Load {
    pub latencies: Vec<Duration>,
    pub errors: Vec<String>,
    pub seconds: f64,
}

impl Load {
    pub(crate) fn percentile(&self, share: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted[((sorted.len() as f64 * share) as usize).min(sorted.len() - 1)]
    }

    pub(crate) fn summary(&self) -> String {
        format!(
            "{} requests in {:.2} s: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            self.latencies.len(),
            self.seconds,
            self.latencies.len() as f64 / self.seconds,
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
            self.errors.len()
        )
    }
}

/// `clients` threads start together and each sends `rounds` `GET /similar?note=` requests, one
/// connection each; the run stops by itself after `limit`.
pub(crate) fn load(
    port: u16,
    ids: &[String],
    clients: usize,
    rounds: usize,
    limit: Duration,
) -> Load {
    let ids = Arc::new(ids.to_vec());
    let barrier = Arc::new(Barrier::new(clients));
    let deadline = Instant::now() + limit;
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let (ids, barrier) = (ids.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut latencies = Vec::new();
                let mut errors = Vec::new();
                for round in 0..rounds {
                    if Instant::now() > deadline {
                        errors.push("out of time".to_owned());
                        break;
                    }
                    let id = &ids[(client * 7919 + round * 104_729) % ids.len()];
                    let target = format!("/similar?note={}&k=10", encode(id));
                    let sent = Instant::now();
                    let answer = http(port, "GET", &target, None);
                    latencies.push(sent.elapsed());
                    let hits = serde_json::from_str::<Value>(&answer.body)
                        .ok()
                        .and_then(|body| body["hits"].as_array().map(Vec::len));
                    if answer.status != 200 || hits != Some(10) {
                        errors.push(format!("{target}: {} {}", answer.status, answer.body));
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut report = Load {
        latencies: Vec::new(),
        errors: Vec::new(),
        seconds: 0.0,
    };
    for thread in threads {
        let (latencies, errors) = thread.join().expect("client");
        report.latencies.extend(latencies);
        report.errors.extend(errors);
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// Percent-encodes a query value.
pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// A scripted MCP client: `initialize`, `tools/list`, every tool, a tool error, and protocol
/// errors, over one stdio session.
#[test]
fn mcp_answers_a_scripted_client() {
    let scratch = Scratch::new();
    let root = osx_notes(&scratch);
    let mut session = Running::start(&["mcp", root.to_str().expect("path")]);
    let mut ask = |message: Value| -> Value {
        send(&mut session, &message.to_string());
        serde_json::from_str(&session.next_stdout(Duration::from_secs(120))).expect("JSON reply")
    };
    let init = ask(json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "test", "version": "1" } },
    }));
    assert_eq!(init["id"], 1);
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(init["result"]["serverInfo"]["name"], "closest");
    assert!(init["result"]["capabilities"]["tools"].is_object());

    // A notification gets no answer: a batch of one with a request answers the request only.
    let notified = ask(json!([
        { "jsonrpc": "2.0", "method": "notifications/initialized" },
        { "jsonrpc": "2.0", "id": 12, "method": "ping" },
    ]));
    assert_eq!(
        notified,
        json!([{ "jsonrpc": "2.0", "id": 12, "result": {} }])
    );
    let list = ask(json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }));
    assert_eq!(list["id"], 2);
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|tool| tool["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["similar", "search", "explain", "note"]);

    let call = |id: u64, name: &str, arguments: Value| json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": { "name": name, "arguments": arguments } });
    let similar = ask(call(3, "similar", json!({ "note": "gyes", "k": 3 })));
    assert_eq!(similar["result"]["isError"], false, "{similar}");
    assert_eq!(
        similar["result"]["structuredContent"]["hits"]
            .as_array()
            .expect("hits")
            .len(),
        3
    );
    let text = similar["result"]["content"][0]["text"]
        .as_str()
        .expect("text");
    assert!(text.contains("\"hits\""), "{text}");

    let search = ask(call(
        4,
        "search",
        json!({ "text": "compare two files line by line" }),
    ));
    assert_eq!(search["result"]["isError"], false, "{search}");
    assert_eq!(
        search["result"]["structuredContent"]["hits"]
            .as_array()
            .expect("hits")
            .len(),
        10
    );

    let explain = ask(call(5, "explain", json!({ "a": "gyes", "b": "gtrue" })));
    assert_eq!(
        explain["result"]["structuredContent"]["b"]["id"], "gtrue",
        "{explain}"
    );

    let note = ask(call(6, "note", json!({ "id": "gyes" })));
    let on_disk = std::fs::read_to_string(root.join("gyes.md")).expect("read");
    assert_eq!(note["result"]["content"][0]["text"], on_disk.as_str());
    assert_eq!(note["result"]["structuredContent"]["path"], "gyes.md");

    let unknown = ask(call(7, "note", json!({ "id": "no-such-note" })));
    assert_eq!(
        unknown["result"]["isError"], true,
        "a tool error is a result"
    );
    assert!(unknown["result"]["content"][0]["text"]
        .as_str()
        .expect("text")
        .contains("no-such-note"));

    let missing = ask(call(8, "similar", json!({})));
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    let no_tool = ask(call(9, "nothing", json!({})));
    assert_eq!(no_tool["error"]["code"], -32602, "{no_tool}");
    let no_method = ask(json!({ "jsonrpc": "2.0", "id": 10, "method": "resources/list" }));
    assert_eq!(no_method["error"]["code"], -32601, "{no_method}");
    let ping = ask(json!({ "jsonrpc": "2.0", "id": 11, "method": "ping" }));
    assert_eq!(ping["result"], json!({}), "still answering");
    send(&mut session, "this is not json");
    let garbage: Value =
        serde_json::from_str(&session.next_stdout(Duration::from_secs(30))).expect("reply");
    assert_eq!(garbage["error"]["code"], -32700);

    assert_eq!(session.finish(Duration::from_secs(20)).code(), Some(0));
}

fn send(session: &mut Running, line: &str) {
    use std::io::Write;
    let stdin = session.stdin.as_mut().expect("stdin");
    writeln!(stdin, "{line}").expect("send");
    stdin.flush().expect("flush");
}
