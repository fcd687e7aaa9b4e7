//! Incremental runs cost what changed and give what a from-scratch run gives, byte for byte.

use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::fixture::{closest, ok, snapshot, test_data, Scratch};

fn json(output: std::process::Output) -> serde_json::Value {
    serde_json::from_str(ok(output).trim()).expect("one JSON object")
}

fn update(root: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["update", root.to_str().expect("utf-8"), "--format", "json"];
    args.extend_from_slice(extra);
    json(closest(&args, None, None))
}

/// A fixed pseudo-random sequence, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n.max(1) as u64) as usize
    }
}

fn md_files(root: &Path) -> Vec<PathBuf> {
    snapshot(root)
        .into_iter()
        .map(|(path, _)| root.join(path))
        .collect()
}

/// A copy of a folder's notes (not its store) into a fresh folder.
fn fresh_copy(scratch: &Scratch, root: &Path, name: &str) -> PathBuf {
    let copy = scratch.path().join(name);
    let _ = std::fs::remove_dir_all(&copy);
    for (path, bytes) in snapshot(root) {
        let target = copy.join(path);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::write(target, bytes).expect("write");
    }
    // Every file of the folder but the state folder: the settings and the lock file too.
    for file in [".closest.toml", ".closest.lock"] {
        if root.join(file).is_file() {
            std::fs::copy(root.join(file), copy.join(file)).expect("copy");
        }
    }
    copy
}

/// Random sequences of adds, edits, deletes, renames, hand edits of a section, touched files
/// and setting changes: after every round the incrementally updated folder equals a copy of
/// its notes updated from scratch, and a second run changes nothing.
#[test]
fn incremental_runs_equal_from_scratch_runs() {
    let scratch = Scratch::new();
    let source = test_data().join("til/notes/jbranchaud");
    // About 55 notes in the folder, and some others held back to be added later.
    let keep = |path: &Path| path.to_string_lossy().len().is_multiple_of(2);
    let root = scratch.copy_notes(&source, "live", keep);
    let mut pool: Vec<PathBuf> = md_files(&source)
        .into_iter()
        .filter(|path| !keep(path) && path.to_string_lossy().len().is_multiple_of(3))
        .collect();
    std::fs::write(
        root.join(".closest.toml"),
        "id-scheme = \"relative-path\"\nk = 5\n",
    )
    .expect("config");
    assert!(md_files(&root).len() > 40, "{}", md_files(&root).len());
    update(&root, &[]);
    let mut rng = Rng(0x5eed);
    for round in 0..10 {
        let files = md_files(&root);
        for _ in 0..1 + rng.below(4) {
            let files = md_files(&root);
            let pick = &files[rng.below(files.len())];
            match rng.below(8) {
                0 if !pool.is_empty() => {
                    let from = pool.remove(rng.below(pool.len()));
                    let name = format!(
                        "added/{}",
                        from.file_name().expect("name").to_string_lossy()
                    );
                    let target = root.join(name);
                    std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
                    std::fs::write(&target, std::fs::read(&from).expect("read")).expect("add");
                }
                1 => {
                    let other = &files[rng.below(files.len())];
                    let line = std::fs::read_to_string(other)
                        .expect("read")
                        .lines()
                        .nth(2)
                        .unwrap_or("A line about nothing in particular.")
                        .to_owned();
                    let text = std::fs::read_to_string(pick).expect("read");
                    std::fs::write(pick, text.replacen('\n', &format!("\n{line}\n"), 1))
                        .expect("edit");
                }
                2 if files.len() > 30 => std::fs::remove_file(pick).expect("delete"),
                3 => {
                    let renamed = pick.with_file_name(format!(
                        "renamed-{round}-{}",
                        pick.file_name().expect("name").to_string_lossy()
                    ));
                    std::fs::rename(pick, renamed).expect("rename");
                }
                4 => {
                    // A hand edit inside the managed section: the next run restores it.
                    let text = std::fs::read_to_string(pick).expect("read");
                    std::fs::write(pick, text.replace("\n* [", "\n* [x")).expect("edit section");
                }
                5 => {
                    // Same bytes, new modification time.
                    let bytes = std::fs::read(pick).expect("read");
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    std::fs::write(pick, bytes).expect("touch");
                }
                6 => {
                    let k = 3 + rng.below(5);
                    let template = ["bullet", "wiki", "title-path"][rng.below(3)];
                    std::fs::write(
                        root.join(".closest.toml"),
                        format!(
                            "id-scheme = \"relative-path\"\nk = {k}\ntemplate = \"{template}\"\n"
                        ),
                    )
                    .expect("config");
                }
                _ => {}
            }
        }
        let _ = files;
        update(&root, &[]);
        let again = update(&root, &[]);
        assert_eq!(
            (
                again["written"].as_u64(),
                again["embedded"].as_u64(),
                again["read"].as_u64()
            ),
            (Some(0), Some(0), Some(0)),
            "round {round}: a run after a run changes and reads nothing: {again}"
        );
        let reference = fresh_copy(&scratch, &root, "reference");
        update(&reference, &[]);
        let (got, want) = (snapshot(&root), snapshot(&reference));
        assert_eq!(got.len(), want.len(), "round {round}");
        for ((path, a), (_, b)) in got.iter().zip(&want) {
            assert!(
                a == b,
                "round {round}: `{}` differs from a from-scratch run:\n--- incremental\n{}\n--- from scratch\n{}",
                path.display(),
                String::from_utf8_lossy(a),
                String::from_utf8_lossy(b)
            );
        }
    }
}

/// Renaming a note re-embeds nothing; status says what the next run does before it runs.
#[test]
fn renames_reuse_vectors_and_status_plans_the_next_run() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("tldr-pages/notes/osx"), "notes", |path| {
        path.to_string_lossy().len().is_multiple_of(3)
    });
    let first = update(&root, &[]);
    assert!(first["embedded"].as_u64() > Some(20), "{first}");
    let files = md_files(&root);
    std::fs::rename(&files[0], root.join("renamed-note.md")).expect("rename");
    let edited = &files[1];
    let text = std::fs::read_to_string(edited).expect("read");
    std::fs::write(
        edited,
        text.replacen('\n', "\nA new line about networks.\n", 1),
    )
    .expect("edit");
    std::fs::write(
        root.join("brand-new.md"),
        "# brand-new\n\n> List open files.\n",
    )
    .expect("add");

    let plan: serde_json::Value = serde_json::from_str(
        ok(closest(
            &["status", root.to_str().expect("utf-8"), "--format", "json"],
            None,
            None,
        ))
        .trim(),
    )
    .expect("json");
    assert_eq!(plan["to_read"], 3, "{plan}");
    assert_eq!(
        plan["to_embed"], 2,
        "the renamed note's text is stored: {plan}"
    );
    assert_eq!(plan["departed"], 1, "{plan}");
    assert_eq!(plan["full_ranking"], false, "{plan}");
    assert_eq!(plan["ranking"], "patched", "{plan}");
    assert_eq!(plan["relearn"], false, "{plan}");
    // The lists of the new, edited and renamed notes are made anew; others are patched.
    assert!(plan["lists_to_update"].as_u64() >= Some(2), "{plan}");

    let report = update(&root, &[]);
    assert_eq!(report["embedded"], 2, "{report}");
    assert_eq!(report["read"], 3, "{report}");
    assert_eq!(report["ranking"], "patched", "{report}");
    let quiet = update(&root, &["--check"]);
    assert_eq!(quiet["stale"].as_array().map(Vec::len), Some(0), "{quiet}");
    // `--full` learns the folder's statistics again, so it equals a run from nothing.
    let full = update(&root, &["--full"]);
    assert_eq!(full["ranking"], "full", "{full}");
    let reference = fresh_copy(&scratch, &root, "reference");
    update(&reference, &[]);
    assert_eq!(
        snapshot(&root),
        snapshot(&reference),
        "--full equals a run from nothing"
    );
}

/// A store written by version 1 is migrated: its vectors are kept, nothing is embedded again.
#[test]
fn a_version_one_store_is_migrated_keeping_vectors() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/notes"),
        "notes",
        |_| true,
    );
    let report = update(&root, &[]);
    assert_eq!(report["embedded"], 33);
    let texts = texts_of(&root);
    let input: String = texts
        .iter()
        .map(|text| serde_json::json!({ "text": text }).to_string() + "\n")
        .collect();
    let embedded = ok(closest(&["embed"], None, Some(&input)));
    let info: serde_json::Value = serde_json::from_str(&ok(closest(
        &["model", "info", "--format", "json"],
        None,
        None,
    )))
    .expect("json");
    let fingerprint = info["fingerprint"].as_str().expect("fingerprint");

    // The store as version 1 kept it: vectors as blobs keyed by model, preparation and the
    // sha256 hex of each text.
    let store = root.join(".closest");
    std::fs::remove_dir_all(&store).expect("clear");
    std::fs::create_dir_all(&store).expect("mkdir");
    let conn = rusqlite::Connection::open(store.join("store.sqlite")).expect("open");
    conn.execute_batch(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO meta VALUES ('schema_version', '1');
         CREATE TABLE vectors (model TEXT NOT NULL, prep TEXT NOT NULL, hash TEXT NOT NULL,
             dim INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model, prep, hash)) WITHOUT ROWID;
         CREATE TABLE notes (id TEXT PRIMARY KEY, path TEXT NOT NULL, hash TEXT NOT NULL);
         CREATE TABLE neighbours (note TEXT NOT NULL, rank INTEGER NOT NULL, neighbour TEXT NOT NULL,
             score REAL NOT NULL, PRIMARY KEY (note, rank)) WITHOUT ROWID;",
    )
    .expect("v1 schema");
    for (text, line) in texts.iter().zip(embedded.lines()) {
        let value: serde_json::Value = serde_json::from_str(line).expect("json");
        let blob: Vec<u8> = value["embedding"]
            .as_array()
            .expect("array")
            .iter()
            .flat_map(|x| (x.as_f64().expect("number") as f32).to_le_bytes())
            .collect();
        let hash = format!("{:x}", sha2::Sha256::digest(text.as_bytes()));
        conn.execute(
            "INSERT INTO vectors VALUES (?1, 'text-v2|truncate|', ?2, 384, ?3)",
            rusqlite::params![fingerprint, hash, blob],
        )
        .expect("insert");
    }
    drop(conn);
    let report = update(&root, &[]);
    assert_eq!(report["embedded"], 0, "vectors kept: {report}");
    assert_eq!(report["written"], 0, "{report}");
}

/// Each note's text to embed (the examples have no links or front matter: the note before its
/// section, trimmed).
fn texts_of(root: &Path) -> Vec<String> {
    snapshot(root)
        .into_iter()
        .map(|(_, bytes)| {
            let text = String::from_utf8(bytes).expect("utf-8");
            text.split("\n## Closest")
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .collect()
}
