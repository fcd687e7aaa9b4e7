//! A temp copy of a notes folder, and a way to run the binary on it; where the fixtures and
//! the shared corpora are.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use std::io::Write;

/// The fixtures committed with the repository (`tests/data`): real notes, reference vectors.
pub(crate) fn test_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The full shared corpora's `data` folder, for the shared suite (`-- --ignored shared_corpus::`):
/// `$CLOSEST_SHARED_DIR/data`, else `../shared/data` beside the repository. A clear failure
/// when neither is there.
pub(crate) fn shared_data() -> PathBuf {
    let shared = std::env::var_os("CLOSEST_SHARED_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"),
        PathBuf::from,
    );
    let dir = shared.join("data");
    assert!(
        dir.is_dir(),
        "the shared corpora are missing: `{}` is not a folder. This test belongs to the shared \
         suite (`cargo test --release --workspace -- --ignored shared_corpus::`), which needs `../shared` beside \
         the repository or CLOSEST_SHARED_DIR naming it; the default suite needs neither",
        dir.display()
    );
    dir
}

/// A scratch folder that is removed at the end of the test.
pub(crate) struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Copies `from` (a folder of notes) to `<scratch>/<name>`, writable.
    pub(crate) fn copy_notes(
        &self,
        from: &Path,
        name: &str,
        filter: impl Fn(&Path) -> bool,
    ) -> PathBuf {
        let target = self.path().join(name);
        copy_tree(from, &target, &filter);
        target
    }

    pub(crate) fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        path
    }
}

/// Copies a notes folder as a clone has it: the notes and `.closest.lock`, no state folder.
pub(crate) fn copy_folder(from: &Path, to: &Path) {
    copy_tree(from, to, &|_| true);
}

fn copy_tree(from: &Path, to: &Path, filter: &dyn Fn(&Path) -> bool) {
    std::fs::create_dir_all(to).expect("mkdir");
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().expect("name");
        // Hidden entries (a `.closest` store) belong to the original, not to the copy; the
        // folder's lock file is part of the notes.
        if name.to_string_lossy().starts_with('.') && name != ".closest.lock" {
            continue;
        }
        let target = to.join(name);
        if path.is_dir() {
            copy_tree(&path, &target, filter);
        } else if filter(&path) {
            std::fs::copy(&path, &target).expect("copy");
            // The shared data is read-only; the copies must be writable notes.
            let mut permissions = std::fs::metadata(&target).expect("meta").permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            permissions.set_readonly(false);
            std::fs::set_permissions(&target, permissions).expect("chmod");
        }
    }
}

/// Runs `closest` with `args`, never asking the hub, with optional stdin.
pub(crate) fn closest(args: &[&str], cwd: Option<&Path>, stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_closest"));
    command
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let mut child = command.spawn().expect("closest starts");
    if let Some(text) = stdin {
        // A run that fails early stops reading; that is its answer, not the test's failure.
        if let Err(err) = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
        {
            assert_eq!(
                err.kind(),
                std::io::ErrorKind::BrokenPipe,
                "write stdin: {err}"
            );
        }
    }
    child.wait_with_output().expect("closest runs")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub(crate) fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "closest failed ({:?}):\n{}",
        output.status.code(),
        stderr(&output)
    );
    stdout(&output)
}

/// Every `.md` file under `dir` with its bytes, sorted by path.
pub(crate) fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                if !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "md") {
                let bytes = std::fs::read(&path).expect("read");
                files.push((path.strip_prefix(dir).expect("prefix").to_owned(), bytes));
            }
        }
    }
    files.sort();
    files
}

/// The ids listed in a note's `## Closest` section (default bullet template).
pub(crate) fn closest_links(text: &str) -> Vec<String> {
    let Some(start) = text.find("\n## Closest\n") else {
        return Vec::new();
    };
    text[start + 1..]
        .lines()
        .skip(1)
        .take_while(|line| !line.starts_with('#'))
        .filter_map(|line| {
            line.strip_prefix("* [")
                .and_then(|rest| rest.split_once("]("))
                .map(|(id, _)| id.to_owned())
        })
        .collect()
}

/// The default model's folder, as `closest model info` reports it.
pub(crate) fn model_dir() -> PathBuf {
    let info: serde_json::Value = serde_json::from_str(&ok(closest(
        &["model", "info", "--format", "json"],
        None,
        None,
    )))
    .expect("json");
    PathBuf::from(info["folder"].as_str().expect("folder"))
}

/// Runs `closest ARGS` and kills it after `delay` (whether or not it finished).
pub(crate) fn killed_after(args: &[&str], delay: std::time::Duration) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_closest"))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
}

/// Asserts that every note of `now` is its version in `before` or in `after` (same paths).
pub(crate) fn each_old_or_new(
    now: &[(PathBuf, Vec<u8>)],
    before: &[(PathBuf, Vec<u8>)],
    after: &[(PathBuf, Vec<u8>)],
    context: &str,
) {
    for ((path, now), ((_, old), (_, new))) in now.iter().zip(before.iter().zip(after)) {
        assert!(
            now == old || now == new,
            "{context}: `{}` is neither its old nor its new version",
            path.display()
        );
    }
}
