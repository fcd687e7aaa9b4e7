//! Float noise never flips a list: a folder written on a CPU of one kernel family (forced with
//! `CLOSEST_KERNEL`) is current for a clone on a CPU of another family.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixture::{snapshot, stderr, test_data, Scratch};

/// The two widest kernel families this CPU runs (`avx512` and `avx2`, or `avx2` and
/// `portable`).
fn two_families() -> [&'static str; 2] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return ["avx512", "avx2"];
    }
    ["avx2", "portable"]
}

/// `closest ARGS` with a kernel family forced; its JSON report.
fn update_with(family: &str, root: &Path, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_closest"))
        .args(["update", root.to_str().expect("utf-8"), "--format", "json"])
        .args(extra)
        .env("CLOSEST_KERNEL", family)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("closest runs");
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("a JSON report: {}", stderr(&output)));
    (output.status.code(), report)
}

fn copy_folder(from: &Path, to: &Path, with_state: bool) {
    for (path, bytes) in snapshot(from) {
        let target = to.join(path);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::write(target, bytes).expect("write");
    }
    for file in [".closest.toml", ".closest.lock"] {
        if from.join(file).is_file() {
            std::fs::copy(from.join(file), to.join(file)).expect("copy");
        }
    }
    if with_state {
        let state = to.join(".closest");
        std::fs::create_dir_all(&state).expect("state");
        for entry in std::fs::read_dir(from.join(".closest")).expect("state") {
            let entry = entry.expect("entry");
            if entry.file_type().expect("type").is_file() {
                std::fs::copy(entry.path(), state.join(entry.file_name())).expect("copy");
            }
        }
    }
}

/// Writes `folder` from scratch with one family and, apart, with another; counts the notes
/// whose lists differ (what a clone on the other CPU rewrote before the written order was
/// kept); then checks a clone of the first, run with the second family, finds nothing stale
/// and writes nothing. Returns the count.
pub(crate) fn clone_on_another_cpu_writes_nothing(folder: &Path) -> usize {
    let [first, second] = two_families();
    let scratch = Scratch::new();
    let author = scratch.path().join("author");
    copy_folder(folder, &author, false);
    let (code, report) = update_with(first, &author, &[]);
    assert_eq!(code, Some(0), "{report}");
    let other = scratch.path().join("other-cpu");
    copy_folder(folder, &other, false);
    let (code, report) = update_with(second, &other, &[]);
    assert_eq!(code, Some(0), "{report}");
    let flips = snapshot(&author)
        .iter()
        .zip(snapshot(&other))
        .filter(|((_, a), (_, b))| a != b)
        .count();
    eprintln!(
        "{} notes: {flips} lists differ between {first} and {second} written from scratch",
        snapshot(&author).len()
    );
    // A clone of the author's notes on the other CPU (its vectors: the cache of the other
    // run, which embedded the same texts with that family).
    let clone = scratch.path().join("clone");
    copy_folder(&author, &clone, false);
    std::fs::create_dir_all(clone.join(".closest")).expect("state");
    copy_state(&other.join(".closest"), &clone.join(".closest"));
    let (code, report) = update_with(second, &clone, &["--check"]);
    assert_eq!(
        code,
        Some(0),
        "{second} finds the {first} folder stale: {report}"
    );
    let (_, report) = update_with(second, &clone, &[]);
    assert_eq!(report["written"], 0, "{report}");
    assert_eq!(snapshot(&clone), snapshot(&author));
    flips
}

fn copy_state(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("state") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() && entry.file_name() != "lock" {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

/// The fixtures' notes (427): a clone on a CPU of another family writes nothing.
#[test]
fn a_clone_on_another_cpu_family_writes_nothing() {
    let scratch = Scratch::new();
    let folder = scratch.path().join("notes");
    copy_folder(&test_data().join("til/notes"), &folder.join("til"), false);
    copy_folder(
        &test_data().join("tldr-pages/notes"),
        &folder.join("tldr"),
        false,
    );
    clone_on_another_cpu_writes_nothing(&folder);
}

/// The shared notes the kernel families are compared on: 10,000 where both families are fast
/// (AVX-512 against AVX2); on a CPU without AVX-512 the second family is the portable one,
/// some ten times slower and embedding twice, so a fifth of the til notes (about 340), which
/// keeps the shared suite inside CI's time.
pub(crate) fn shared_notes_for_families(shared: &Path, into: &Path) -> PathBuf {
    if two_families()[1] == "portable" {
        let folder = into.join("til");
        for (path, bytes) in snapshot(&shared.join("til/notes")) {
            if path.to_string_lossy().len() % 5 == 0 {
                let target = folder.join(path);
                std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
                std::fs::write(target, bytes).expect("write");
            }
        }
        return folder;
    }
    ten_thousand_notes(shared, into)
}

/// 10,000 notes from the shared corpora: tldr pages, til notes, arXiv abstracts, and STS-B
/// sentences to make up the count.
fn ten_thousand_notes(shared: &Path, into: &Path) -> PathBuf {
    let folder = into.join("ten-thousand");
    copy_folder(
        &shared.join("tldr-pages/notes"),
        &folder.join("tldr"),
        false,
    );
    copy_folder(&shared.join("til/notes"), &folder.join("til"), false);
    let abstracts = std::fs::read_to_string(shared.join("arxiv-2007/abstracts.tsv")).expect("tsv");
    let arxiv = folder.join("arxiv");
    std::fs::create_dir_all(&arxiv).expect("mkdir");
    for line in abstracts.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (id, title, text) = (fields[0], fields[5], fields[6]);
        std::fs::write(
            arxiv.join(format!("{id}.md")),
            format!("# {title}\n\n{text}\n"),
        )
        .expect("write");
    }
    let have = snapshot(&folder).len();
    let stsb = std::fs::read_to_string(shared.join("stsb/sts-dev.csv")).expect("stsb");
    let sentences = folder.join("stsb");
    std::fs::create_dir_all(&sentences).expect("mkdir");
    let mut written = 0;
    for (line_number, line) in stsb.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        for (column, sentence) in fields.iter().skip(5).take(2).enumerate() {
            if have + written < 10_000 {
                let name = format!("s{line_number:04}-{column}.md");
                std::fs::write(sentences.join(name), format!("{sentence}\n")).expect("write");
                written += 1;
            }
        }
    }
    assert_eq!(snapshot(&folder).len(), 10_000);
    folder
}
