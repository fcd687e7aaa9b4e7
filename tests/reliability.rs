//! Killed at random points, an update never leaves a half-written note or a broken store, and
//! the next run converges to what an uninterrupted run gives.

use std::time::Duration;

use crate::fixture::{closest, each_old_or_new, killed_after, ok, snapshot, test_data, Scratch};

/// A folder big enough that an update spends a few seconds embedding and writing.
fn folder(scratch: &Scratch, name: &str) -> std::path::PathBuf {
    let root = scratch.copy_notes(&test_data().join("tldr-pages/notes/osx"), name, |_| true);
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/notes");
    for entry in std::fs::read_dir(examples).expect("examples") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|ext| ext == "md") {
            std::fs::copy(&path, root.join(path.file_name().expect("name"))).expect("copy");
        }
    }
    root
}

#[test]
fn sigkill_at_random_points_never_corrupts_and_converges() {
    let scratch = Scratch::new();
    let reference = folder(&scratch, "reference");
    let original = snapshot(&reference);
    ok(closest(
        &["update", reference.to_str().expect("path")],
        None,
        None,
    ));
    let expected = snapshot(&reference);

    let root = folder(&scratch, "killed");
    // A fixed pseudo-random sequence of kill delays between 0 and 3 s, so failures reproduce.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..50 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let delay = Duration::from_millis((state >> 33) % 3000);
        killed_after(&["update", root.to_str().expect("path"), "-q"], delay);
        let context = format!("round {round} (kill after {delay:?})");
        each_old_or_new(&snapshot(&root), &original, &expected, &context);
        // Now and then the store must open for a reader, killed writer or not.
        if round % 10 == 5 {
            let status = closest(
                &["status", root.to_str().expect("path"), "--format", "json"],
                None,
                None,
            );
            assert!(status.status.success(), "the store opens after a kill");
        }
    }
    ok(closest(
        &["update", root.to_str().expect("path")],
        None,
        None,
    ));
    assert_eq!(
        snapshot(&root),
        expected,
        "after the kills, one full run gives what an uninterrupted run gave"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&root)
        .expect("read")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(closest_notes_temp_prefix())
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files were swept: {leftovers:?}"
    );
}

fn closest_notes_temp_prefix() -> &'static str {
    ".closest-tmp-"
}

/// Incremental runs killed at random points: after each edit (made to this folder and to a
/// reference the same way), every note is either as it was before the run or as an
/// uninterrupted run leaves it, and once the kills stop one run converges to the reference.
#[test]
fn killed_incremental_runs_leave_notes_whole_and_converge() {
    let scratch = Scratch::new();
    let root = folder(&scratch, "killed-incremental");
    ok(closest(
        &["update", root.to_str().expect("path"), "-q"],
        None,
        None,
    ));
    let names: Vec<std::path::PathBuf> = snapshot(&root).into_iter().map(|(p, _)| p).collect();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..12 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let pick = &names[(state >> 40) as usize % names.len()];
        let path = root.join(pick);
        let text = std::fs::read_to_string(&path).expect("read");
        let line = format!("\nA line about battery and sleep settings, round {round}.\n");
        std::fs::write(&path, text.replacen('\n', &line, 1)).expect("edit");
        let before = snapshot(&root);
        // What an uninterrupted run makes of the folder as it is now (its state included).
        let reference = scratch.path().join(format!("reference-{round}"));
        copy_whole(&root, &reference);
        ok(closest(
            &["update", reference.to_str().expect("path"), "-q"],
            None,
            None,
        ));
        let after = snapshot(&reference);
        let delay = Duration::from_millis((state >> 33) % 900);
        killed_after(&["update", root.to_str().expect("path"), "-q"], delay);
        let context = format!("round {round} (kill after {delay:?})");
        each_old_or_new(&snapshot(&root), &before, &after, &context);
    }
    let reference = scratch.path().join("reference-last");
    copy_whole(&root, &reference);
    for dir in [&root, &reference] {
        ok(closest(
            &["update", dir.to_str().expect("path"), "-q"],
            None,
            None,
        ));
    }
    assert_eq!(
        snapshot(&root),
        snapshot(&reference),
        "killed incremental runs converge"
    );
}

/// A copy of a folder with everything in it: notes, lock file, state folder.
fn copy_whole(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_whole(&entry.path(), &target);
        } else if entry.file_name() != "lock" {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// `update` in a loop beside a person editing notes, half the edits in place and half by an
/// editor's write-then-rename: each edit puts a new marker in a note, and before the next edit
/// of that note the editor checks its last marker is still there. Returns the edits lost
/// (RELIABILITY.md gives the count of a run of 10,000).
fn edits_lost_beside_updates(edits: usize) -> usize {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("tldr-pages/notes/osx"), "race", |path| {
        path.to_string_lossy().len().is_multiple_of(8)
    });
    let notes: Vec<std::path::PathBuf> = snapshot(&root)
        .into_iter()
        .map(|(path, _)| root.join(path))
        .take(20)
        .collect();
    for note in &notes {
        let text = std::fs::read_to_string(note).expect("read");
        std::fs::write(note, format!("marker: none\n{text}")).expect("mark");
    }
    ok(closest(
        &["update", root.to_str().expect("utf-8")],
        None,
        None,
    ));
    let done = std::sync::atomic::AtomicBool::new(false);
    let mut lost = 0;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = closest(&["update", root.to_str().expect("utf-8"), "-q"], None, None);
            }
        });
        let mut last: Vec<String> = vec!["none".to_owned(); notes.len()];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for edit in 0..edits {
            let index = edit % notes.len();
            let note = &notes[index];
            let text = std::fs::read_to_string(note).expect("read");
            let marker = format!("marker: {}\n", last[index]);
            if !text.starts_with(&marker) {
                lost += 1;
            }
            let body = text.split_once('\n').map_or("", |(_, body)| body);
            let new = format!("marker: {edit}\n{body}");
            if edit % 2 == 0 {
                std::fs::write(note, &new).expect("edit in place");
            } else {
                let temp = note.with_extension("md.edit");
                std::fs::write(&temp, &new).expect("write the editor's copy");
                std::fs::rename(&temp, note).expect("rename over the note");
            }
            last[index] = edit.to_string();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            std::thread::sleep(Duration::from_micros(seed % 40_000));
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    ok(closest(
        &["update", root.to_str().expect("utf-8")],
        None,
        None,
    ));
    for (index, note) in notes.iter().enumerate() {
        let text = std::fs::read_to_string(note).expect("read");
        let _ = index;
        assert!(text.starts_with("marker: "), "{text}");
    }
    lost
}

/// The edit race, long (about 4 minutes): 0 of 10,000 concurrent edits lost.
#[test]
#[ignore = "long: cargo test --release --test integration edit_race -- --ignored"]
fn edit_race_loses_no_edit_of_ten_thousand() {
    let lost = edits_lost_beside_updates(10_000);
    eprintln!("10000 edits beside updates: {lost} lost");
    assert_eq!(lost, 0);
}

/// The edit race, short, in the default suite.
#[test]
fn edits_beside_updates_are_never_lost() {
    assert_eq!(edits_lost_beside_updates(300), 0);
}
