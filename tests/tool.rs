//! `closest` as a tool people install: one binary that works from any folder, shell
//! completions and manual pages from the clap definitions, `doctor`, the pre-commit hooks this
//! repository defines, a state folder that stays out of git and backups, and quiet runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixture::{closest, ok, snapshot, stderr, stdout, Scratch};

fn examples(scratch: &Scratch) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/notes");
    scratch.copy_notes(&source, "notes", |_| true)
}

fn json(output: std::process::Output) -> serde_json::Value {
    serde_json::from_str(ok(output).trim()).expect("one JSON object")
}

/// Whether `program` can be started (for the shells and groff, which a machine may lack).
fn exists(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// `cargo install` copies the binary elsewhere; the copy, run from a folder that has nothing
/// of the repository, finds its model and does the work (the model list is compiled in).
#[test]
fn an_installed_copy_works_from_any_folder() {
    let scratch = Scratch::new();
    let notes = examples(&scratch);
    let bin = scratch.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let installed = bin.join("closest");
    std::fs::copy(env!("CARGO_BIN_EXE_closest"), &installed).expect("install");
    let elsewhere = scratch.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let run = |args: &[&str]| {
        Command::new(&installed)
            .args(args)
            .current_dir(&elsewhere)
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .expect("runs")
    };
    let version = ok(run(&["--version"]));
    assert_eq!(
        version.trim(),
        format!("closest {}", env!("CARGO_PKG_VERSION"))
    );
    let check = run(&["update", notes.to_str().expect("utf-8"), "--check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    let update = json(run(&["update", "../notes", "--format", "json"]));
    assert_eq!(
        update["written"], 0,
        "the examples are up to date: {update}"
    );
    ok(run(&[
        "similar",
        "--notes",
        "../notes",
        "--text",
        "bread dough",
        "-k",
        "2",
    ]));
}

/// A shell that parses a script without running it, and its flags; `None` for PowerShell.
type Checker = Option<(&'static str, &'static [&'static str])>;

#[test]
fn completions_parse_in_their_shells() {
    let scratch = Scratch::new();
    // Shells that are not installed are skipped, and say so.
    let checks: [(&str, Checker); 4] = [
        ("bash", Some(("bash", &["-n"]))),
        ("zsh", Some(("zsh", &["-n"]))),
        ("fish", Some(("fish", &["--no-execute"]))),
        ("powershell", None),
    ];
    for (shell, checker) in checks {
        let script = ok(closest(&["completions", shell], None, None));
        assert!(
            script.contains("closest") && script.contains("update") && script.contains("state-dir"),
            "{shell}: {script}"
        );
        let path = scratch.write(&format!("closest.{shell}"), &script);
        match checker {
            Some((program, flags)) if exists(program) => {
                let output = Command::new(program)
                    .args(flags)
                    .arg(&path)
                    .output()
                    .expect("shell runs");
                assert!(
                    output.status.success(),
                    "{shell} rejects the script: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            Some((program, _)) => eprintln!("{program} is not installed: its script is not parsed"),
            None => assert!(script.contains("Register-ArgumentCompleter"), "{script}"),
        }
    }
    let bad = closest(&["completions", "tcsh"], None, None);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn the_manual_page_is_valid_roff() {
    let page = ok(closest(&["man"], None, None));
    assert!(page.contains(".TH closest 1"), "{page}");
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "SUBCOMMANDS",
        "VERSION",
    ] {
        assert!(
            page.contains(&format!(".SH {section}")),
            "no {section}: {page}"
        );
    }
    for command in ["update", "similar", "doctor", "completions"] {
        assert!(
            page.contains(&format!("closest\\-{command}(1)")),
            "{command}: {page}"
        );
    }
    if exists("groff") {
        let scratch = Scratch::new();
        let path = scratch.write("closest.1", &page);
        let output = Command::new("groff")
            .args(["-man", "-T", "utf8", "-ww", "-z"])
            .arg(&path)
            .output()
            .expect("groff runs");
        assert!(
            output.status.success() && output.stderr.is_empty(),
            "groff warns: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    } else {
        eprintln!("groff is not installed: the page is checked for its sections only");
    }
    let scratch = Scratch::new();
    let dir = scratch.path().join("man1");
    ok(closest(
        &["man", "--dir", dir.to_str().expect("utf-8")],
        None,
        None,
    ));
    let update = std::fs::read_to_string(dir.join("closest-update.1")).expect("page");
    assert!(
        update.contains(".TH closest-update 1") && update.contains("\\-\\-check"),
        "{update}"
    );
    assert!(dir.join("closest-model-fetch.1").is_file());
}

#[test]
fn doctor_says_what_a_bug_report_needs_and_changes_nothing() {
    let scratch = Scratch::new();
    let notes = examples(&scratch);
    let notes_arg = notes.to_str().expect("utf-8");
    let before = ok(closest(&["doctor", notes_arg], None, None));
    for key in [
        "closest:",
        "cpu:",
        "cpu features:",
        "device:",
        "model:",
        "checksums:",
        "fingerprint:",
        "f32 pass:",
        "bf16 pass:",
        "store:",
    ] {
        assert!(
            before.contains(&format!("\n{key}")) || before.starts_with(key),
            "no `{key}`:\n{before}"
        );
    }
    assert!(before.contains(env!("CARGO_PKG_VERSION")), "{before}");
    assert!(before.contains("pinned files match"), "{before}");
    assert!(before.contains("none yet"), "{before}");
    assert!(
        !notes.join(".closest").exists(),
        "doctor created the state folder"
    );

    ok(closest(&["update", notes_arg], None, None));
    let report = json(closest(
        &["doctor", notes_arg, "--format", "json"],
        None,
        None,
    ));
    let store = report["store"].as_str().expect("store");
    assert!(store.contains(": ok; 33 notes"), "{report}");
    assert!(
        report["f32_pass"].as_str().expect("pass").contains("f32"),
        "{report}"
    );

    let database = notes.join(".closest/store.sqlite");
    std::fs::write(&database, b"not a database at all, not at all, not at all").expect("damage");
    let damaged = std::fs::read(&database).expect("read");
    let report = ok(closest(&["doctor", notes_arg], None, None));
    assert!(report.contains("unusable"), "{report}");
    assert_eq!(
        std::fs::read(&database).expect("read"),
        damaged,
        "doctor repaired the store"
    );
}

/// A CPU-only build runs on the CPU by design: no GPU note unless `-v`, and asking for a GPU
/// it does not have is an error that says how to get one.
#[test]
fn a_cpu_build_is_quiet_about_gpus_unless_asked() {
    if cfg!(feature = "cuda") {
        eprintln!("a CUDA build: its notes are its own");
        return;
    }
    let scratch = Scratch::new();
    let notes = examples(&scratch);
    let notes_arg = notes.to_str().expect("utf-8");
    let output = closest(&["update", notes_arg], None, None);
    assert!(!stderr(&output).contains("GPU"), "{}", stderr(&output));
    ok(output);
    std::fs::remove_dir_all(notes.join(".closest")).expect("clear");
    let output = closest(&["update", notes_arg, "-v"], None, None);
    assert!(
        stderr(&output).contains("no usable GPU"),
        "{}",
        stderr(&output)
    );
    let output = closest(
        &["embed", "--device", "cuda"],
        None,
        Some("{\"text\": \"a\"}\n"),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--features cuda"),
        "{}",
        stderr(&output)
    );
}

fn git(repo: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=closest",
            "-c",
            "user.email=closest@example.invalid",
        ])
        .args(args)
        .current_dir(repo)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {}", stderr(&output));
    stdout(&output)
}

/// The state folder carries its own `.gitignore` and `CACHEDIR.TAG`; `--state-dir` and
/// `state-dir` in `.closest.toml` (relative to the notes root) put it elsewhere, and the next
/// run finds it there.
#[test]
fn the_state_folder_stays_out_of_git_and_backups_and_can_live_elsewhere() {
    let scratch = Scratch::new();
    let notes = examples(&scratch);
    let notes_arg = notes.to_str().expect("utf-8");
    git(&notes, &["init", "-q"]);
    ok(closest(&["update", notes_arg], None, None));
    let state = notes.join(".closest");
    let tag = std::fs::read_to_string(state.join("CACHEDIR.TAG")).expect("tag");
    assert!(
        tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55"),
        "{tag}"
    );
    let ignore = std::fs::read_to_string(state.join(".gitignore")).expect("ignore");
    assert!(ignore.lines().any(|line| line.trim() == "*"), "{ignore}");
    let status = git(&notes, &["status", "--porcelain", "--untracked-files=all"]);
    assert!(!status.contains(".closest/"), "{status}");
    // The lock file is the folder's, to commit with the notes.
    assert!(status.contains(".closest.lock"), "{status}");
    assert!(status.contains("git-bisect.md"), "{status}");
    std::fs::remove_dir_all(&state).expect("clear");

    // The flag: nothing in the notes folder, everything in the named one.
    let elsewhere = scratch.path().join("cache/closest-state");
    let elsewhere_arg = elsewhere.to_str().expect("utf-8");
    let first = json(closest(
        &[
            "update",
            notes_arg,
            "--state-dir",
            elsewhere_arg,
            "--format",
            "json",
        ],
        None,
        None,
    ));
    assert_eq!(first["embedded"], 33, "{first}");
    assert!(!state.exists(), "the notes folder got a state folder");
    for file in ["store.sqlite", ".gitignore", "CACHEDIR.TAG"] {
        assert!(
            elsewhere.join(file).is_file(),
            "no {file} in {elsewhere_arg}"
        );
    }
    let again = json(closest(
        &[
            "update",
            notes_arg,
            "--state-dir",
            elsewhere_arg,
            "--format",
            "json",
        ],
        None,
        None,
    ));
    assert_eq!(
        (again["embedded"].as_u64(), again["written"].as_u64()),
        (Some(0), Some(0))
    );

    // The file may not put it outside the notes folder (a cloned folder's file could make
    // closest write anywhere)...
    std::fs::write(
        notes.join(".closest.toml"),
        "state-dir = \"../state-from-file\"\n",
    )
    .expect("config");
    let refused = closest(&["update", ".", "--format", "json"], Some(&notes), None);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("outside the notes folder"),
        "{}",
        stderr(&refused)
    );
    assert!(!scratch.path().join("state-from-file").exists());
    // ...and inside it, it is relative to the notes root, whatever the current folder.
    std::fs::write(
        notes.join(".closest.toml"),
        "state-dir = \"cache/closest\"\n",
    )
    .expect("config");
    let from_file = notes.join("cache/closest");
    let first = json(closest(
        &["update", ".", "--format", "json"],
        Some(&notes),
        None,
    ));
    assert_eq!(first["embedded"], 33, "{first}");
    assert!(from_file.join("store.sqlite").is_file() && from_file.join("CACHEDIR.TAG").is_file());
    let again = json(closest(
        &["update", notes_arg, "--format", "json"],
        Some(scratch.path()),
        None,
    ));
    assert_eq!(again["embedded"], 0, "{again}");
    assert!(!state.exists(), "the notes folder got a state folder");
    // The flag still wins over the file.
    let flagged = json(closest(
        &[
            "update",
            notes_arg,
            "--state-dir",
            elsewhere_arg,
            "--format",
            "json",
        ],
        None,
        None,
    ));
    assert_eq!(
        flagged["embedded"], 0,
        "the flag's store was used: {flagged}"
    );
}

/// One hook of `.pre-commit-hooks.yaml`: the fields a test needs.
#[derive(Debug, Default)]
struct Hook {
    id: String,
    entry: String,
    language: String,
    files: String,
    pass_filenames: bool,
}

/// Reads the hooks file: a YAML list of flat maps of scalars, which is all it uses.
fn hooks() -> Vec<Hook> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml");
    let text = std::fs::read_to_string(path).expect("hooks file");
    let mut hooks: Vec<Hook> = Vec::new();
    for line in text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
    {
        let Some((key, value)) = line.trim_start_matches("- ").trim().split_once(':') else {
            continue;
        };
        if line.starts_with("- ") {
            hooks.push(Hook {
                pass_filenames: true,
                ..Hook::default()
            });
        }
        let hook = hooks.last_mut().expect("a key inside a list item");
        let value = value.trim().to_owned();
        match key {
            "id" => hook.id = value,
            "entry" => hook.entry = value,
            "language" => hook.language = value,
            "files" => hook.files = value,
            "pass_filenames" => hook.pass_filenames = value == "true",
            _ => {}
        }
    }
    hooks
}

/// Runs a hook as pre-commit does: its entry, split on spaces, in the repository root, without
/// file names; the hook's `closest` is the built binary.
fn run_hook(hook: &Hook, repo: &Path) -> std::process::Output {
    let mut words = hook.entry.split_whitespace();
    assert_eq!(words.next(), Some("closest"), "{hook:?}");
    let args: Vec<&str> = words.collect();
    closest(&args, Some(repo), None)
}

#[test]
fn the_pre_commit_hooks_check_and_fix_a_notes_repository() {
    let hooks = hooks();
    let ids: Vec<&str> = hooks.iter().map(|hook| hook.id.as_str()).collect();
    assert_eq!(ids, ["closest-check", "closest-update"]);
    for hook in &hooks {
        assert_eq!(hook.language, "rust", "{hook:?}");
        assert!(
            !hook.pass_filenames,
            "the hooks take the folder, not files: {hook:?}"
        );
        assert!(hook.files.contains("md"), "{hook:?}");
    }
    let (check, update) = (&hooks[0], &hooks[1]);

    let scratch = Scratch::new();
    let repo = examples(&scratch);
    git(&repo, &["init", "-q"]);
    assert_eq!(
        run_hook(check, &repo).status.code(),
        Some(0),
        "examples are up to date"
    );
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "notes"]);

    // A new note makes every section that should list it stale.
    std::fs::write(
        repo.join("rye-bread.md"),
        "# Rye bread\n\nRye flour, a sourdough starter and a long, warm proof.\n",
    )
    .expect("new note");
    git(&repo, &["add", "rye-bread.md"]);
    let before = snapshot(&repo);
    let output = run_hook(check, &repo);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("stale: rye-bread"),
        "{}",
        stdout(&output)
    );
    assert_eq!(snapshot(&repo), before, "the check hook wrote nothing");

    let output = run_hook(update, &repo);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(run_hook(check, &repo).status.code(), Some(0));
    let changed = git(&repo, &["status", "--porcelain", "--untracked-files=all"]);
    assert!(changed.contains("rye-bread.md"), "{changed}");
    assert!(
        !changed.contains(".closest/"),
        "the state folder shows in git: {changed}"
    );
}
