//! Changing the section's settings moves the list: one current list per note after any
//! sequence of template, heading and level changes, equal to a from-scratch run with the final
//! settings; front matter of every kind keeps its bytes; an edited old list survives with a
//! warning; killed runs that move lists still leave every note whole.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fixture::{
    closest, each_old_or_new, killed_after, ok, snapshot, stderr, test_data, Scratch,
};

const YAML_NOTE: &str = "---\n# a comment\ntitle: Sourdough\ntags: [bread, baking]\n---\n# Sourdough\n\nFeed the starter flour and water.\n";
const TOML_NOTE: &str = "+++\r\ntitle = \"Pizza dough\" # the title\r\ndraft = false\r\n[params]\r\nrating = 5\r\n+++\r\n# Pizza dough\r\n\r\nA wet dough rests overnight in the fridge.\r\n";

/// A folder of real notes plus notes with YAML and TOML front matter.
fn folder(scratch: &Scratch, name: &str) -> PathBuf {
    let root = scratch.copy_notes(&test_data().join("til/notes/jbranchaud"), name, |path| {
        path.to_string_lossy().len().is_multiple_of(3)
    });
    std::fs::write(root.join("sourdough.md"), YAML_NOTE).expect("yaml");
    std::fs::write(root.join("pizza.md"), TOML_NOTE).expect("toml");
    root
}

/// `update` with every candidate shown: these tests are about where lists go, not the floor.
fn run(root: &Path, flags: &[&str]) -> std::process::Output {
    let mut args = vec!["update", root.to_str().expect("utf-8"), "--min-score=-1"];
    args.extend_from_slice(flags);
    closest(&args, None, None)
}

/// Managed regions in a note: headings of the section settings used in these tests, and
/// front-matter `closest`/`related` keys.
fn regions(text: &str) -> usize {
    let headings = text
        .lines()
        .filter(|line| {
            ["## Closest", "## Related", "### Closest", "### Related"].contains(&line.trim_end())
        })
        .count();
    let front_matter = text
        .lines()
        .take_while(|line| !line.starts_with("# "))
        .filter(|line| {
            line.starts_with("closest:")
                || line.starts_with("closest =")
                || line.starts_with("related:")
                || line.starts_with("related =")
        })
        .count();
    headings + front_matter
}

#[test]
fn every_sequence_of_setting_changes_ends_with_one_current_list() {
    let sequences: [&[&[&str]]; 3] = [
        &[
            &["--template", "wiki"],
            &["--template", "front-matter"],
            &["--heading", "Related"],
            &["--level", "3"],
        ],
        &[
            &["--heading", "Related", "--level", "3"],
            &["--template", "front-matter", "--heading", "Related"],
            &[],
        ],
        &[
            &["--template", "front-matter"],
            &["--template", "title-path"],
            &["--level", "3", "--template", "wiki"],
        ],
    ];
    for (number, sequence) in sequences.iter().enumerate() {
        let scratch = Scratch::new();
        let live = folder(&scratch, "live");
        for flags in sequence.iter() {
            ok(run(&live, flags));
        }
        let last = sequence.last().expect("a step");
        let reference = folder(&scratch, "reference");
        ok(run(&reference, last));
        let (got, want) = (snapshot(&live), snapshot(&reference));
        for ((path, a), (_, b)) in got.iter().zip(&want) {
            let text = String::from_utf8_lossy(a);
            assert_eq!(
                regions(&text),
                1,
                "sequence {number}: `{}`:\n{text}",
                path.display()
            );
            assert!(
                a == b,
                "sequence {number}: `{}` differs from a from-scratch run:\n{text}\n---\n{}",
                path.display(),
                String::from_utf8_lossy(b)
            );
        }
        // Outside the list, the front matter keeps every byte (comments, keys, CRLF).
        let toml = std::fs::read_to_string(live.join("pizza.md")).expect("read");
        assert!(
            toml.starts_with("+++\r\ntitle = \"Pizza dough\" # the title\r\n"),
            "{toml:?}"
        );
        assert!(toml.contains("[params]\r\nrating = 5\r\n"), "{toml:?}");
        assert!(!toml.contains("\n---"), "no second block: {toml:?}");
        let yaml = std::fs::read_to_string(live.join("sourdough.md")).expect("read");
        assert!(
            yaml.starts_with("---\n# a comment\ntitle: Sourdough\ntags: [bread, baking]\n"),
            "{yaml:?}"
        );
    }
}

#[test]
fn dry_run_and_check_report_moves_and_typed_lines_stay_with_a_warning() {
    let scratch = Scratch::new();
    let root = folder(&scratch, "notes");
    ok(run(&root, &[]));
    let edited = root.join("sourdough.md");
    let text = std::fs::read_to_string(&edited).expect("read");
    std::fs::write(
        &edited,
        text.replacen("\n* [", "\n* my own line among the links\n* [", 1),
    )
    .expect("edit");

    let dry: serde_json::Value = serde_json::from_str(
        ok(run(
            &root,
            &["--heading", "Related", "--dry-run", "--format", "json"],
        ))
        .trim(),
    )
    .expect("json");
    let moved = dry["moved"].as_array().expect("moved").len();
    assert!(
        moved + 1 >= snapshot(&root).len(),
        "every untouched list would move: {dry}"
    );
    let before = snapshot(&root);
    let check = run(&root, &["--heading", "Related", "--check"]);
    assert_eq!(check.status.code(), Some(1));
    assert_eq!(snapshot(&root), before, "check and dry-run change nothing");

    let output = run(&root, &["--heading", "Related"]);
    let warnings = stderr(&output);
    ok(output);
    assert!(
        warnings.contains("sourdough.md") && warnings.contains("line"),
        "{warnings}"
    );
    // The old list's links go; its heading stays over the line typed under it.
    let kept = std::fs::read_to_string(&edited).expect("read");
    assert!(
        kept.contains("## Closest\n\n* my own line among the links\n")
            && kept.contains("## Related"),
        "{kept}"
    );
    let old =
        &kept[kept.find("## Closest").expect("old heading")..kept.find("## Related").expect("new")];
    assert!(!old.contains("* ["), "{kept}");
}

/// Another tool's section is taken over only when asked.
#[test]
fn another_tools_heading_is_migrated_on_request() {
    let scratch = Scratch::new();
    let root = folder(&scratch, "notes");
    let note = root.join("other-tool.md");
    std::fs::write(
        &note,
        "# Other\n\nText about git rebase and merge conflicts.\n\n## See also\n\n* [a](a)\n",
    )
    .expect("write");
    ok(run(&root, &[]));
    let text = std::fs::read_to_string(&note).expect("read");
    assert!(
        text.contains("## See also") && text.contains("## Closest"),
        "{text}"
    );
    ok(run(&root, &["--migrate-from-heading", "See also"]));
    let text = std::fs::read_to_string(&note).expect("read");
    assert!(
        !text.contains("## See also") && text.contains("## Closest"),
        "{text}"
    );
    assert!(
        text.starts_with("# Other\n\nText about git rebase and merge conflicts.\n\n## Closest\n\n"),
        "{text}"
    );
}

/// Runs that move every list, killed at random points: every note is its old or its new
/// version, and the next run converges to what an uninterrupted run gives.
#[test]
fn killed_runs_that_move_lists_leave_notes_whole() {
    let scratch = Scratch::new();
    let reference = folder(&scratch, "reference");
    ok(run(&reference, &[]));
    let root = folder(&scratch, "killed");
    ok(run(&root, &[]));
    let original = snapshot(&root);
    ok(run(&reference, &["--heading", "Related"]));
    let expected = snapshot(&reference);
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..12 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let delay = Duration::from_millis((state >> 33) % 1500);
        let root_arg = root.to_str().expect("path");
        killed_after(
            &[
                "update",
                root_arg,
                "-q",
                "--min-score=-1",
                "--heading",
                "Related",
            ],
            delay,
        );
        each_old_or_new(
            &snapshot(&root),
            &original,
            &expected,
            &format!("round {round}"),
        );
    }
    ok(run(&root, &["--heading", "Related"]));
    assert_eq!(snapshot(&root), expected);
}
