//! The shared suite: the full corpora in `../shared` (or `CLOSEST_SHARED_DIR`), which the
//! repository does not carry. Ignored by default; `.ci/run` runs it with
//! `cargo test --release --workspace -- --ignored shared_corpus::`.

use crate::fixture::shared_data;

/// The same on all 1,714 shared til notes, where the links must be as good as
/// sentence-transformers' exact neighbours.
#[test]
#[ignore = "shared suite: needs ../shared; cargo test --release --workspace -- --ignored shared_corpus::"]
fn all_shared_til_notes_end_to_end() {
    crate::update::til_end_to_end(&shared_data().join("til"), crate::update::QUALITY_FLOOR);
}

/// The same on a fifth of the full til corpus (about 340 notes in 169 topic folders).
#[test]
#[ignore = "shared suite: needs ../shared; cargo test --release --workspace -- --ignored shared_corpus::"]
fn every_written_link_resolves_in_nested_folders_of_the_shared_til_notes() {
    crate::links::links_resolve_in_nested_folders(&shared_data().join("til/notes"), |path| {
        path.to_string_lossy().len() % 5 == 0 || path.ends_with("github-pages.md")
    });
}

/// 10,000 notes of the shared corpora written on a CPU of one kernel family are current for a
/// clone on a CPU of another: no list flips for float noise (the count of lists that differ
/// between the two families written from scratch is printed, for BENCHMARKS.md). Without
/// AVX-512 the families are AVX2 and portable, and the notes a fifth of the til notes.
#[test]
#[ignore = "shared suite: needs ../shared; cargo test --release --workspace -- --ignored shared_corpus::"]
fn ten_thousand_notes_on_another_cpu_family_flip_no_list() {
    let scratch = crate::fixture::Scratch::new();
    let shared = shared_data();
    let folder = crate::kernels::shared_notes_for_families(&shared, scratch.path());
    crate::kernels::clone_on_another_cpu_writes_nothing(&folder);
}

/// The same-label share of every shared labelled set (`benches/quality.py`: til topics, tldr
/// families, arXiv archives, the til notes in the seed format) through `closest update` and
/// `export`, at or above the figures before issue 30 (BENCHMARKS.md), and a clone of each set
/// (its notes and `.closest.lock`, no state folder) current for `update --check`.
#[test]
#[ignore = "shared suite: needs ../shared; cargo test --release --workspace -- --ignored shared_corpus::"]
fn the_shared_labelled_sets_keep_their_quality_in_a_clone() {
    const FLOORS: [(&str, f64); 4] = [
        ("til", 0.5309),
        ("tldr", 0.6127),
        ("arxiv", 0.6814),
        ("seed", 0.5330),
    ];
    let scratch = crate::fixture::Scratch::new();
    let out = scratch.path().join("quality");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/quality.py");
    let python = |args: &[&str]| {
        let output = std::process::Command::new("python3")
            .arg(&script)
            .args(args)
            .env("CLOSEST_SHARED_DATA", shared_data())
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "quality.py {args:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let out_arg = out.to_str().expect("utf-8");
    python(&["build", out_arg]);
    let measured = python(&[
        "measure",
        out_arg,
        "--closest",
        env!("CARGO_BIN_EXE_closest"),
        "--no-snapshot",
        "--lock",
        "",
    ]);
    eprintln!("{measured}");
    for (set, floor) in FLOORS {
        let share = measured
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|result| result["set"] == set)
            .and_then(|result| result["share"].as_f64())
            .unwrap_or_else(|| panic!("no share for {set}:\n{measured}"));
        assert!(share >= floor, "{set}: {share} is below {floor}");
        let notes = out.join(set).join("notes");
        let clone = scratch.path().join("clones").join(set);
        std::fs::create_dir_all(&clone).expect("mkdir");
        crate::fixture::copy_folder(&notes, &clone);
        let check = crate::fixture::closest(
            &["update", clone.to_str().expect("utf-8"), "--check"],
            None,
            None,
        );
        assert!(
            check.status.success(),
            "{set}: a clone is not current: {}",
            crate::fixture::stderr(&check)
        );
    }
}
