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
    let reference = folder(&scratch, "reference-incremental");
    for dir in [&root, &reference] {
        ok(closest(
            &["update", dir.to_str().expect("path"), "-q"],
            None,
            None,
        ));
    }
    let names: Vec<std::path::PathBuf> = snapshot(&root).into_iter().map(|(p, _)| p).collect();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..12 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let pick = &names[(state >> 40) as usize % names.len()];
        for dir in [&root, &reference] {
            let path = dir.join(pick);
            let text = std::fs::read_to_string(&path).expect("read");
            let line = format!("\nA line about battery and sleep settings, round {round}.\n");
            std::fs::write(&path, text.replacen('\n', &line, 1)).expect("edit");
        }
        let before = snapshot(&root);
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
    ok(closest(
        &["update", root.to_str().expect("path"), "-q"],
        None,
        None,
    ));
    assert_eq!(
        snapshot(&root),
        snapshot(&reference),
        "killed incremental runs converge"
    );
}
