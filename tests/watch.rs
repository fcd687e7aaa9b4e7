//! `closest watch` end to end: it follows new and deleted notes, leaves alone a note that is
//! being written to, ignores its own writes, and stops cleanly on Ctrl-C.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::child::Running;
use crate::fixture::{closest, closest_links, ok, snapshot, stdout, test_data, Scratch};

fn osx_notes(scratch: &Scratch, name: &str) -> PathBuf {
    let root = scratch.copy_notes(&test_data().join("tldr-pages/notes/osx"), name, |_| true);
    ok(closest(
        &["update", root.to_str().expect("path")],
        None,
        None,
    ));
    root
}

/// Starts `watch --format json` and waits for its first run's report.
fn start_watch(root: &Path, hold: &str) -> Running {
    let mut watch = Running::start(&[
        "watch",
        root.to_str().expect("path"),
        "--format",
        "json",
        "--hold",
        hold,
        "--debounce",
        "200",
    ]);
    let first = report(&mut watch, Duration::from_secs(120));
    assert_eq!(first["written"], 0, "the folder was up to date: {first}");
    watch
}

fn report(watch: &mut Running, limit: Duration) -> Value {
    serde_json::from_str(&watch.next_stdout(limit)).expect("a JSON report per run")
}

/// Reports until one satisfies `done`, up to `limit` in all.
fn report_until(watch: &mut Running, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = report(watch, left);
        if done(&next) {
            return next;
        }
    }
}

fn links(root: &Path, id: &str) -> Vec<String> {
    closest_links(&std::fs::read_to_string(root.join(format!("{id}.md"))).expect("read"))
}

/// A new note enters the sections of its neighbours and gets its own once it has been left
/// alone; a deleted note leaves every section; the result is what `update` gives; the watcher's
/// own writes start no run; Ctrl-C exits 0.
#[test]
fn watch_picks_up_a_new_note_and_a_deletion() {
    let scratch = Scratch::new();
    let root = osx_notes(&scratch, "watched");
    let mut watch = start_watch(&root, "1");

    // A near-copy of `gyes` enters gyes's list at once; its own section waits for the hold.
    let gyes = std::fs::read_to_string(root.join("gyes.md")).expect("read");
    let copy = gyes
        .split("\n## Closest")
        .next()
        .expect("text")
        .replace("gyes", "gyes-copy");
    std::fs::write(root.join("gyes-copy.md"), &copy).expect("write");
    let entered = report_until(&mut watch, Duration::from_secs(60), |report| {
        report["read"].as_u64() > Some(0)
    });
    assert_eq!(entered["embedded"], 1, "{entered}");
    assert!(links(&root, "gyes").contains(&"gyes-copy".to_owned()));
    let own = if entered["held"].as_array().expect("held").is_empty() {
        entered
    } else {
        assert_eq!(entered["held"], serde_json::json!(["gyes-copy"]));
        assert!(links(&root, "gyes-copy").is_empty(), "held: no section yet");
        report_until(&mut watch, Duration::from_secs(30), |report| {
            report["held"].as_array().is_some_and(Vec::is_empty)
        })
    };
    assert!(own["written"].as_u64() >= Some(1), "{own}");
    assert_eq!(links(&root, "gyes-copy").len(), 10);

    // A deletion: every list that named the note is rewritten without it.
    let naming: Vec<String> = snapshot(&root)
        .into_iter()
        .filter(|(_, bytes)| String::from_utf8_lossy(bytes).contains("* [gyes](gyes)"))
        .map(|(path, _)| path.with_extension("").display().to_string())
        .collect();
    assert!(!naming.is_empty());
    std::fs::remove_file(root.join("gyes.md")).expect("delete");
    let deleted = report_until(&mut watch, Duration::from_secs(60), |report| {
        report["written"].as_u64() > Some(0)
    });
    assert!(
        deleted["written"].as_u64() >= Some(naming.len() as u64),
        "{deleted}"
    );
    for id in &naming {
        assert!(
            !links(&root, id).contains(&"gyes".to_owned()),
            "`{id}` still lists gyes"
        );
    }

    // Its own writes started no run: nothing comes within a few debounce periods.
    assert!(
        watch.stdout.recv_timeout(Duration::from_secs(2)).is_err(),
        "a run followed the watcher's own writes"
    );
    let status = watch.interrupt(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "Ctrl-C stops watch cleanly");

    // The folder is as `update` leaves it.
    let check = closest(
        &["update", root.to_str().expect("path"), "--check"],
        None,
        None,
    );
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
}

/// A note written to every few hundred milliseconds keeps its bytes as the writer left them
/// (no section spliced in under the writer) while the sections it enters are updated; once the
/// writer stops, its section follows.
#[test]
fn watch_leaves_a_note_alone_while_it_is_being_written() {
    let scratch = Scratch::new();
    let root = osx_notes(&scratch, "typing");
    let mut watch = start_watch(&root, "2");
    let path = root.join("draft.md");
    let mut text = String::from("# draft\n\n> Print y forever, like gyes.\n");
    let started = Instant::now();
    let mut saves = 0;
    while started.elapsed() < Duration::from_secs(5) {
        text.push_str(&format!(
            "\nline {saves} of someone typing about yes and printing y."
        ));
        std::fs::write(&path, &text).expect("save");
        saves += 1;
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            text,
            "the note changed under its writer after {saves} saves"
        );
    }
    // Runs happened meanwhile (the draft is known), each holding the draft.
    let mut held = 0;
    while let Ok(line) = watch.stdout.try_recv() {
        let report: Value = serde_json::from_str(&line).expect("json");
        if report["held"] == serde_json::json!(["draft"]) {
            held += 1;
        }
    }
    assert!(held >= 1, "no run held the draft");
    // Left alone, its section comes within the hold and a run.
    report_until(&mut watch, Duration::from_secs(30), |report| {
        report["written"].as_u64() >= Some(1)
            && report["held"].as_array().is_some_and(Vec::is_empty)
    });
    let written = std::fs::read_to_string(&path).expect("read");
    assert!(written.starts_with(&text), "the writer's bytes are kept");
    assert!(!closest_links(&written).is_empty(), "{written}");
    assert_eq!(watch.interrupt(Duration::from_secs(30)).code(), Some(0));
}

/// Lines typed below and inside a list while `watch` runs stay where they were typed, through
/// the runs that rewrite the list around them.
#[test]
fn watch_keeps_lines_typed_in_a_section() {
    let scratch = Scratch::new();
    let root = osx_notes(&scratch, "typed");
    let mut watch = start_watch(&root, "0.2");
    let gyes = root.join("gyes.md");
    let text = std::fs::read_to_string(&gyes).expect("read");
    let typed = text.replacen("\n* [", "\n* a bullet I typed\n* [", 1)
        + "\nA paragraph I typed below the list.\n";
    std::fs::write(&gyes, &typed).expect("type");
    // A near-copy of gyes enters its list, so the list is rewritten around the typed lines.
    let copy = text
        .split("\n## Closest")
        .next()
        .expect("text")
        .replace("gyes", "gyes-twin");
    std::fs::write(root.join("gyes-twin.md"), copy).expect("write");
    report_until(&mut watch, Duration::from_secs(60), |report| {
        report["held"].as_array().is_some_and(Vec::is_empty)
            && links(&root, "gyes").contains(&"gyes-twin".to_owned())
    });
    let now = std::fs::read_to_string(&gyes).expect("read");
    assert!(now.contains("\n* a bullet I typed\n"), "{now}");
    assert!(
        now.ends_with("\nA paragraph I typed below the list.\n"),
        "{now}"
    );
    let status = watch.interrupt(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
    let check = closest(
        &["update", root.to_str().expect("path"), "--check"],
        None,
        None,
    );
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
}
