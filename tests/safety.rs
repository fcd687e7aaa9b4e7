//! Safe with a folder you did not write, beside readers, and on a full disk.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::json;

use crate::child::{http, http_with, serve, Running};
use crate::fixture::{closest, ok, snapshot, stderr, stdout, test_data, Scratch};

fn arg(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn osx(scratch: &Scratch, name: &str) -> PathBuf {
    scratch.copy_notes(&test_data().join("tldr-pages/notes/osx"), name, |_| true)
}

/// A cloned folder whose `.closest.toml` asks to follow links and to keep the state beside a
/// victim's files, with a note linking to the victim's file: closest refuses the state folder,
/// skips the link with a warning, never writes or reads the victim's file, and `mcp` does not
/// hand it out.
#[test]
fn a_hostile_folder_cannot_reach_outside_itself() {
    let scratch = Scratch::new();
    let victim = scratch.path().join("victim");
    std::fs::create_dir_all(&victim).expect("mkdir");
    std::fs::write(victim.join("bashrc"), "export SECRET=hunter2\n").expect("write");
    let root = scratch.copy_notes(
        &test_data().join("tldr-pages/notes/osx"),
        "cloned",
        |path| path.to_string_lossy().len().is_multiple_of(3),
    );
    std::os::unix::fs::symlink("../victim/bashrc", root.join("zz-readme.md")).expect("link");
    std::os::unix::fs::symlink("../victim", root.join("zz-folder")).expect("link");
    std::fs::write(
        root.join(".closest.toml"),
        "follow-symlinks = true\nstate-dir = \"../victim/state\"\n",
    )
    .expect("config");
    let refused = closest(&["update", arg(&root)], None, None);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("outside the notes folder")
            && stderr(&refused).contains("--state-dir"),
        "{}",
        stderr(&refused)
    );
    assert!(!victim.join("state").exists());

    std::fs::write(root.join(".closest.toml"), "follow-symlinks = true\n").expect("config");
    let output = closest(&["update", arg(&root)], None, None);
    ok_output(&output);
    let warnings = stderr(&output);
    assert!(
        warnings.contains("zz-readme.md") && warnings.contains("outside the notes folder"),
        "{warnings}"
    );
    assert!(warnings.contains("zz-folder"), "{warnings}");
    assert_eq!(
        std::fs::read_to_string(victim.join("bashrc")).expect("read"),
        "export SECRET=hunter2\n"
    );
    assert_eq!(
        std::fs::read_dir(&victim).expect("dir").count(),
        1,
        "nothing written there"
    );

    // A note swapped for a link out after the update is not read through by `mcp` or `serve`.
    let (swapped, _) = snapshot(&root)
        .into_iter()
        .find(|(path, _)| path.extension().is_some_and(|e| e == "md"))
        .expect("a note");
    let id = swapped.with_extension("").display().to_string();
    std::fs::remove_file(root.join(&swapped)).expect("remove");
    std::os::unix::fs::symlink("../victim/bashrc", root.join(&swapped)).expect("swap");
    let mut session = Running::start(&["mcp", arg(&root)]);
    let mut ask = |line: String| -> Value {
        use std::io::Write;
        let stdin = session.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("send");
        stdin.flush().expect("flush");
        serde_json::from_str(&session.next_stdout(Duration::from_secs(120))).expect("JSON reply")
    };
    ask(r#"{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}"#.to_owned());
    let note = ask(format!(
        r#"{{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {{"name": "note", "arguments": {{"id": "{id}"}}}}}}"#
    ));
    assert_eq!(note["result"]["isError"], true, "{note}");
    assert!(!note.to_string().contains("hunter2"), "{note}");
    let (mut server, port) = serve(&[arg(&root)]);
    let other = snapshot(&root)
        .into_iter()
        .map(|(path, _)| path.with_extension("").display().to_string())
        .find(|other| *other != id)
        .expect("another note");
    let explained = http(port, "GET", &format!("/explain?a={other}&b={id}"), None);
    assert!(!explained.body.contains("hunter2"), "{}", explained.body);
    assert_eq!(server.interrupt(Duration::from_secs(30)).code(), Some(0));
}

fn ok_output(output: &std::process::Output) {
    assert!(output.status.success(), "{}", stderr(output));
}

/// Runs `readers` commands that only read (status, similar, check-links, dupes, export) in
/// loops beside `update ARGS`, bounded in count and time; returns the update's report.
fn update_beside_readers(root: &Path, args: &[&str], readers: usize) -> Value {
    let done = std::sync::atomic::AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(240);
    std::thread::scope(|scope| {
        for reader in 0..readers {
            let done = &done;
            scope.spawn(move || {
                let commands: [&[&str]; 5] = [
                    &["status", arg(root)],
                    &["similar", "--notes", arg(root), "--note", "gyes"],
                    &["check-links", arg(root)],
                    &["dupes", arg(root)],
                    &["export", arg(root), "--format", "json"],
                ];
                let mut runs = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed)
                    && runs < 200
                    && Instant::now() < deadline
                {
                    let _ = closest(commands[(reader + runs) % commands.len()], None, None);
                    runs += 1;
                }
            });
        }
        let mut full = vec!["update", arg(root), "--format", "json"];
        full.extend_from_slice(args);
        let output = closest(&full, None, None);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_str(stdout(&output).trim()).expect("report")
    })
}

/// 25 readers beside a first update (no state folder) and beside one that rebuilds a damaged
/// store: the update succeeds, the store holds every note, and the next run has nothing to do.
#[test]
fn readers_beside_a_first_update_and_a_rebuild_change_nothing() {
    let scratch = Scratch::new();
    let root = osx(&scratch, "readers");
    let first = update_beside_readers(&root, &[], 25);
    // One of the 264 pages has too little text of its own to embed.
    assert_eq!(
        (&first["notes"], &first["embedded"]),
        (&json!(264), &json!(263)),
        "{first}"
    );
    let next = closest(&["update", arg(&root), "--format", "json"], None, None);
    let next: Value = serde_json::from_str(stdout(&next).trim()).expect("report");
    assert_eq!(
        (next["embedded"].as_u64(), next["written"].as_u64()),
        (Some(0), Some(0)),
        "{next}"
    );

    std::fs::write(root.join(".closest/store.sqlite"), b"not a database at all").expect("damage");
    let _ = std::fs::remove_file(root.join(".closest/store.sqlite-wal"));
    let _ = std::fs::remove_file(root.join(".closest/store.sqlite-shm"));
    let rebuilt = update_beside_readers(&root, &[], 25);
    assert_eq!(
        rebuilt["read"], 264,
        "the damaged store was rebuilt: {rebuilt}"
    );
    let next = closest(&["update", arg(&root), "--format", "json"], None, None);
    let next: Value = serde_json::from_str(stdout(&next).trim()).expect("report");
    assert_eq!(
        (next["read"].as_u64(), next["written"].as_u64()),
        (Some(0), Some(0)),
        "{next}"
    );
    let similar = ok(closest(
        &["similar", "--notes", arg(&root), "--note", "gyes"],
        None,
        None,
    ));
    assert!(similar.lines().count() >= 5);
}

/// Readers never create a store: `status`, `similar`, `check-links`, `dupes` on a folder never
/// updated leave it as it was, and those that need one say to run `update`.
#[test]
fn readers_create_nothing() {
    let scratch = Scratch::new();
    let root = osx(&scratch, "fresh");
    let before = snapshot(&root);
    ok(closest(&["status", arg(&root)], None, None));
    let similar = closest(
        &["similar", "--notes", arg(&root), "--note", "gyes"],
        None,
        None,
    );
    assert_eq!(similar.status.code(), Some(2));
    assert!(
        stderr(&similar).contains("closest update"),
        "{}",
        stderr(&similar)
    );
    let _ = closest(&["check-links", arg(&root)], None, None);
    let _ = closest(&["dupes", arg(&root)], None, None);
    assert!(
        !root.join(".closest").exists(),
        "a reader made the state folder"
    );
    assert!(!root.join(".closest.lock").exists());
    assert_eq!(snapshot(&root), before);
}

/// Whether this machine lets a test mount a small file system of its own (a user and mount
/// namespace with `unshare`).
fn can_mount_tmpfs() -> bool {
    Command::new("unshare")
        .args([
            "-rm",
            "sh",
            "-c",
            "mount -t tmpfs -o size=64k tmpfs /mnt && umount /mnt",
        ])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// On a full disk: `status` changes nothing, `update` says the disk is full (naming the file)
/// and exits 2 without shrinking or deleting the store; once there is room, the next update
/// finishes the job.
#[test]
fn a_full_disk_is_a_full_disk() {
    assert!(
        can_mount_tmpfs(),
        "this test needs `unshare -rm` and tmpfs (util-linux; user namespaces)"
    );
    let scratch = Scratch::new();
    let source = osx(&scratch, "source");
    let mount = scratch.path().join("disk");
    std::fs::create_dir_all(&mount).expect("mkdir");
    let script = r#"set -u
mount -t tmpfs -o size=6m tmpfs "$DISK" || exit 90
cp -r "$SOURCE" "$DISK/notes"
"$BIN" update "$DISK/notes" -q || exit 91
size() { stat -c %s "$DISK/notes/.closest/store.sqlite"; }
before=$(size)
dd if=/dev/zero of="$DISK/filler" bs=64k 2>/dev/null
"$BIN" status "$DISK/notes" >/dev/null 2>&1
echo "status-kept=$([ "$(size)" = "$before" ] && echo yes || echo no)"
printf '# new\n\nA new note about the disk being full.\n' > "$DISK/notes/new.md" 2>/dev/null || true
for f in "$DISK"/notes/a*.md; do printf '\nAn edit.\n' >> "$f" 2>/dev/null || true; done
"$BIN" update "$DISK/notes" > /dev/null 2> "$DISK/../err.txt"
echo "update-exit=$?"
echo "store-kept=$([ -s "$DISK/notes/.closest/store.sqlite" ] && [ "$(size)" -ge "$before" ] && echo yes || echo no)"
rm -f "$DISK/filler"
"$BIN" update "$DISK/notes" -q
echo "after-room=$?"
"$BIN" update "$DISK/notes" --check -q > /dev/null
echo "check=$?"
"#;
    let output = Command::new("unshare")
        .args(["-rm", "sh", "-c", script])
        .env("DISK", &mount)
        .env("SOURCE", &source)
        .env("BIN", env!("CARGO_BIN_EXE_closest"))
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("unshare runs");
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    let errors = std::fs::read_to_string(scratch.path().join("err.txt")).unwrap_or_default();
    assert!(
        said.contains("status-kept=yes"),
        "{said}\n{}",
        stderr(&output)
    );
    assert!(said.contains("update-exit=2"), "{said}\n{errors}");
    assert!(
        errors.contains("full") && errors.contains(&mount.display().to_string()),
        "{errors}"
    );
    assert!(!errors.to_lowercase().contains("permission"), "{errors}");
    assert!(said.contains("store-kept=yes"), "{said}\n{errors}");
    assert!(
        said.contains("after-room=0") && said.contains("check=0"),
        "{said}"
    );
}

/// After a run that could not write some notes, `status` counts them stale as `--check` does.
#[test]
fn status_and_check_agree_after_failed_writes() {
    let scratch = Scratch::new();
    let root = osx(&scratch, "failed");
    ok(closest(&["update", arg(&root)], None, None));
    std::fs::write(
        root.join("gyes-twin.md"),
        "# gyes twin\n\n> Print yes over and over: an alias of GNU `yes`.\n",
    )
    .expect("add");
    // Every note that will list the twin is read-only: its new list cannot be written.
    let mut read_only = Vec::new();
    for (path, _) in snapshot(&root) {
        let full = root.join(&path);
        if path.to_string_lossy().starts_with('g') {
            let mut permissions = std::fs::metadata(&full).expect("meta").permissions();
            permissions.set_readonly(true);
            std::fs::set_permissions(&full, permissions).expect("chmod");
            read_only.push(full);
        }
    }
    let _ = closest(&["update", arg(&root)], None, None);
    let check = closest(&["update", arg(&root), "--check"], None, None);
    let listed = stdout(&check)
        .lines()
        .filter(|line| line.starts_with("stale: "))
        .count();
    let status: Value = serde_json::from_str(
        ok(closest(
            &["status", arg(&root), "--format", "json"],
            None,
            None,
        ))
        .trim(),
    )
    .expect("json");
    assert!(listed > 0, "{}", stdout(&check));
    assert_eq!(status["stale"].as_u64(), Some(listed as u64), "{status}");
}

/// Every request is taken to come from any web page the user has open: a rebinding page's
/// `Host`, another site's `Origin`, a body a page may send without a preflight, oversized
/// targets and headers are refused with JSON errors; a connection that never finishes its
/// headers is closed, and idle connections do not starve the others.
#[test]
fn serve_refuses_what_a_web_page_could_send() {
    let scratch = Scratch::new();
    let root = osx(&scratch, "osx");
    ok(closest(&["update", arg(&root)], None, None));
    let (mut server, port) = serve(&[root.to_str().expect("path")]);
    let this = format!("Host: 127.0.0.1:{port}");
    let long_target = format!("/similar?note={}", "a".repeat(10_000));
    let big_header = format!("X-Filler: {}", "b".repeat(20_000));
    // Headers, method, target, body (content type and bytes), the status expected.
    type Case<'a> = (
        Vec<String>,
        &'a str,
        &'a str,
        Option<(&'a str, &'a [u8])>,
        u16,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            vec!["Host: evil.example".into()],
            "GET",
            "/similar?note=gyes",
            None,
            421,
        ),
        (
            vec![format!("Host: evil.example:{port}")],
            "GET",
            "/status",
            None,
            421,
        ),
        (vec!["Host: 127.0.0.1".into()], "GET", "/health", None, 421),
        (vec![], "GET", "/health", None, 421),
        (
            vec![this.clone(), "Origin: http://evil.example".into()],
            "GET",
            "/similar?note=gyes",
            None,
            403,
        ),
        (
            vec![this.clone(), "Sec-Fetch-Site: cross-site".into()],
            "GET",
            "/status",
            None,
            403,
        ),
        (
            vec![this.clone()],
            "POST",
            "/embed",
            Some(("text/plain", &b"{\"text\": \"x\"}\n"[..])),
            415,
        ),
        (vec![this.clone()], "GET", &long_target, None, 414),
        (vec![this.clone(), big_header], "GET", "/health", None, 431),
        (
            vec![this.clone()],
            "POST",
            "/similar",
            Some(("application/json", &b"{\"text\": 3}"[..])),
            422,
        ),
    ];
    for (headers, method, target, body, expected) in cases {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let answer = http_with(port, method, target, &headers, body);
        assert_eq!(
            answer.status, expected,
            "{headers:?} {method}: {}",
            answer.body
        );
        let error = answer.json();
        assert_eq!(error["status"], expected, "{}", answer.body);
        assert!(error["error"].is_string());
        assert!(!answer.head.to_ascii_lowercase().contains("access-control-"));
    }
    // Its own origin and localhost are this server.
    for headers in [
        vec![
            format!("Host: localhost:{port}"),
            format!("Origin: http://localhost:{port}"),
        ],
        vec![
            format!("Host: [::1]:{port}"),
            "Sec-Fetch-Site: same-origin".into(),
        ],
    ] {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        assert_eq!(
            http_with(port, "GET", "/health", &headers, None).status,
            200
        );
    }

    // A connection that never finishes its headers is closed, and others are answered.
    let started = Instant::now();
    let mut slow = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .expect("send");
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut idle: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert_eq!(
        http(port, "GET", "/health", None).status,
        200,
        "served beside idle ones"
    );
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let closed_after = started.elapsed();
    assert!(
        closed_after < Duration::from_secs(25),
        "a slow header was held {closed_after:?}"
    );
    idle.clear();
    assert_eq!(http(port, "GET", "/health", None).status, 200);
    let status = server.interrupt(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
}

/// MCP holds no more of a message than its limit, refuses an empty batch, and answers nothing
/// but `initialize` (and `ping`) before `initialize`.
#[test]
fn mcp_bounds_what_a_client_sends() {
    let scratch = Scratch::new();
    let root = osx(&scratch, "osx");
    ok(closest(&["update", arg(&root)], None, None));
    let mut session = Running::start(&["mcp", root.to_str().expect("path")]);
    let mut ask = |line: &str| -> Value {
        send(&mut session, line);
        serde_json::from_str(&session.next_stdout(Duration::from_secs(120))).expect("JSON reply")
    };
    let early = ask(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}"#);
    assert_eq!(early["error"]["code"], -32002, "{early}");
    let ping = ask(r#"{"jsonrpc": "2.0", "id": 2, "method": "ping"}"#);
    assert_eq!(ping["result"], json!({}));
    let init = ask(
        r#"{"jsonrpc": "2.0", "id": 3, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}}"#,
    );
    assert!(init["result"].is_object(), "{init}");
    let empty = ask("[]");
    assert_eq!(empty["error"]["code"], -32600, "{empty}");
    assert_eq!(empty["id"], Value::Null);
    // A message of 3 MiB: refused without being held, and the session goes on.
    let huge = format!(
        r#"{{"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {{"name": "search", "arguments": {{"text": "{}"}}}}}}"#,
        "x".repeat(3 << 20)
    );
    let refused = ask(&huge);
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    assert!(refused["error"]["message"]
        .as_str()
        .expect("message")
        .contains("1048576"));
    let list = ask(r#"{"jsonrpc": "2.0", "id": 5, "method": "tools/list"}"#);
    assert_eq!(list["id"], 5);
    assert!(list["result"]["tools"].is_array());
}

fn send(session: &mut Running, line: &str) {
    use std::io::Write;
    let stdin = session.stdin.as_mut().expect("stdin");
    writeln!(stdin, "{line}").expect("send");
    stdin.flush().expect("flush");
}
