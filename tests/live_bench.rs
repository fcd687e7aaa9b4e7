//! Measurements for BENCHMARKS.md ("Live"), on a folder the caller prepared and updated:
//!
//! ```sh
//! CLOSEST_BENCH_NOTES=/tmp/bench/all cargo test --release --test integration live_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! The folder is a writable copy of the til + tldr notes with `id-scheme = "relative-path"`,
//! updated once. `watch_latency` edits notes in it (appending a line) and leaves them edited.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::child::{http, serve, Running};
use crate::serve::{encode, load, note_ids};

fn bench_notes() -> PathBuf {
    let dir = std::env::var_os("CLOSEST_BENCH_NOTES")
        .map(PathBuf::from)
        .expect("set CLOSEST_BENCH_NOTES to an updated notes folder");
    assert!(
        dir.join(".closest").is_dir(),
        "run `closest update` on it first"
    );
    dir
}

fn percentile(latencies: &mut [Duration], share: f64) -> f64 {
    latencies.sort();
    latencies[((latencies.len() as f64 * share) as usize).min(latencies.len() - 1)].as_secs_f64()
        * 1e3
}

/// `similar` by id and by text, one request at a time, then 200 concurrent clients.
#[test]
#[ignore = "a measurement: needs CLOSEST_BENCH_NOTES"]
fn serve_latency() {
    let root = bench_notes();
    let ids = note_ids(&root);
    let (_server, port) = serve(&[root.to_str().expect("path")]);
    let mut by_id = Vec::new();
    for round in 0..400 {
        let id = &ids[(round * 104_729) % ids.len()];
        let sent = Instant::now();
        let answer = http(port, "GET", &format!("/similar?note={}", encode(id)), None);
        by_id.push(sent.elapsed());
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let texts = [
        "how to undo the last git commit",
        "compress a folder into a tar archive",
        "python virtual environments and dependencies",
        "list the processes listening on a port",
        "write a SQL query with a window function",
    ];
    let mut by_text = Vec::new();
    for round in 0..100 {
        let body = json!({ "text": format!("{} ({round})", texts[round % texts.len()]) });
        let body = body.to_string();
        let sent = Instant::now();
        let answer = http(
            port,
            "POST",
            "/similar",
            Some(("application/json", body.as_bytes())),
        );
        by_text.push(sent.elapsed());
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    eprintln!(
        "{} notes: similar by id p50 {:.2} ms p99 {:.2} ms (400 sequential); by text p50 {:.2} ms p99 {:.2} ms (100 sequential)",
        ids.len(),
        percentile(&mut by_id, 0.5),
        percentile(&mut by_id, 0.99),
        percentile(&mut by_text, 0.5),
        percentile(&mut by_text, 0.99),
    );
    for rounds in [1, 10] {
        let report = load(port, &ids, 200, rounds, Duration::from_secs(300));
        assert_eq!(report.errors, Vec::<String>::new());
        eprintln!("200 concurrent clients x {rounds}: {}", report.summary());
    }
}

/// From a saved edit to the sections rewritten: the notes the edited note enters (first run
/// after the debounce) and its own (once the hold has passed).
#[test]
#[ignore = "a measurement: needs CLOSEST_BENCH_NOTES"]
fn watch_latency() {
    let root = bench_notes();
    let hold = 3.0;
    let mut watch = Running::start(&[
        "watch",
        root.to_str().expect("path"),
        "--format",
        "json",
        "--hold",
        "3",
    ]);
    let first: Value =
        serde_json::from_str(&watch.next_stdout(Duration::from_secs(600))).expect("json");
    eprintln!(
        "first run: {} notes in {:.2} s",
        first["notes"], first["seconds"]
    );
    let ids = note_ids(&root);
    let topics = [
        "This also covers rebasing a branch onto main with git.",
        "See also: docker containers and images.",
        "Related: sorting lines of a file and removing duplicates.",
        "A note on SQLite full-text search and indexes.",
        "Kubernetes pods, deployments and services.",
    ];
    for (round, topic) in topics.iter().enumerate() {
        let id = &ids[(round * 7_919 + 11) % ids.len()];
        let path = root.join(format!("{id}.md"));
        let mut text = std::fs::read_to_string(&path).expect("read");
        let cut = text.find("\n## Closest").unwrap_or(text.len());
        text.insert_str(cut, &format!("\n\n{topic}\n"));
        std::fs::write(&path, &text).expect("save");
        let saved = Instant::now();
        let mut entered = None;
        let own = loop {
            let line = watch.next_stdout(Duration::from_secs(60));
            let report: Value = serde_json::from_str(&line).expect("json");
            let at = saved.elapsed().as_secs_f64();
            if entered.is_none() {
                entered = Some((at, report.clone()));
            }
            // Its own section is current once no run holds it (written, or already right).
            if report["held"].as_array().is_some_and(Vec::is_empty) {
                break (at, report);
            }
        };
        let (entered_at, entered) = entered.expect("a run");
        eprintln!(
            "`{id}`: first run {:.2} s after the save ({:.3} s run, {} lists updated, {} written, held {}); own section {:.2} s after the save = {:.2} s after the hold ({:.3} s run)",
            entered_at,
            entered["seconds"].as_f64().unwrap_or(0.0),
            entered["lists_updated"],
            entered["written"],
            entered["held"],
            own.0,
            own.0 - hold,
            own.1["seconds"].as_f64().unwrap_or(0.0),
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_eq!(watch.interrupt(Duration::from_secs(60)).code(), Some(0));
}
