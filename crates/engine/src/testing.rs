//! The engine's test harness, in the manner of ripgrep's `SearcherTester`: a notes folder in a
//! temporary directory, the fake model (`Model::fake`: vectors from a text's words), and runs of
//! `update` and `status` that take milliseconds, so that what a run decides (read, embed,
//! learn again, keep, patch or compute the lists, move them, hold notes) is tested without the
//! model, and `status` is held to foretelling every run.

use std::path::{Path, PathBuf};

use crate::progress::Silent;
use crate::run::{Mode, Ranking, UpdateOptions, UpdateReport};
use crate::{Engine, FolderSettings, Plan};

/// A notes folder and the settings its runs use.
pub(crate) struct Folder {
    dir: tempfile::TempDir,
    pub(crate) settings: FolderSettings,
}

/// Notes about a few topics, a word or two apart, for folders of any size.
pub(crate) fn topic_note(index: usize) -> String {
    const TOPICS: [&str; 4] = [
        "git branch commit rebase merge history",
        "bread flour yeast dough oven crust",
        "rust borrow lifetime trait compiler crate",
        "garden soil compost seed water sun",
    ];
    let topic = TOPICS[index % TOPICS.len()];
    let words: Vec<&str> = topic.split(' ').collect();
    format!(
        "# Note {index}\n\nAbout {} and {}, with {} in the {} {index}.\n",
        words[index % words.len()],
        words[(index / 4 + 1) % words.len()],
        words[(index / 3 + 2) % words.len()],
        words[(index / 2 + 3) % words.len()],
    )
}

impl Folder {
    /// A folder of `count` topic notes, `note-0.md` and up.
    pub(crate) fn of(count: usize) -> Folder {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = FolderSettings::new(dir.path().to_path_buf());
        settings.k = 3;
        let folder = Folder { dir, settings };
        for index in 0..count {
            folder.write(&format!("note-{index}.md"), &topic_note(index));
        }
        folder
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub(crate) fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read")
    }

    pub(crate) fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path(rel)).expect("remove");
    }

    pub(crate) fn rename(&self, from: &str, to: &str) {
        std::fs::rename(self.path(from), self.path(to)).expect("rename");
    }

    fn engine(&self) -> Engine {
        Engine::with_fake_model(self.settings.clone())
    }

    pub(crate) fn run(&self, mode: Mode) -> UpdateReport {
        let options = UpdateOptions {
            mode,
            full: false,
            hold_recent: None,
        };
        self.engine().update(options, &Silent).expect("update")
    }

    pub(crate) fn status(&self) -> Plan {
        self.engine().plan(&Silent).expect("status")
    }

    /// `status`, then `update`: the update does what the status said, which is returned with
    /// the report.
    pub(crate) fn update(&self) -> (Plan, UpdateReport) {
        let plan = self.status();
        let report = self.run(Mode::Write);
        let foretold = (
            plan.to_read,
            plan.to_embed,
            plan.relearn,
            plan.ranking,
            plan.departed,
        );
        let done = (
            report.read,
            report.embedded,
            report.relearned,
            report.ranking,
            plan.departed,
        );
        assert_eq!(
            foretold, done,
            "status foretold {plan:?}, update did {report:?}"
        );
        if !plan.moves_lists {
            assert!(report.moved.is_empty(), "moves not foretold: {report:?}");
        }
        assert_eq!(plan.lock_file, report.lock_file, "the lock file");
        (plan, report)
    }

    /// Every note's bytes, by path.
    pub(crate) fn notes(&self) -> Vec<(String, String)> {
        let mut notes: Vec<(String, String)> = walkdir(self.root())
            .into_iter()
            .map(|path| {
                let rel = path
                    .strip_prefix(self.root())
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned();
                let text = std::fs::read_to_string(&path).expect("read");
                (rel, text)
            })
            .collect();
        notes.sort();
        notes
    }

    /// A copy of the folder without its state folder: what a clone holds.
    pub(crate) fn clone_without_state(&self) -> Folder {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = self.settings.clone();
        settings.root = dir.path().to_path_buf();
        settings.state_dir = dir.path().join(crate::state_dir::DEFAULT_NAME);
        let copy = Folder { dir, settings };
        for (rel, text) in self.notes() {
            copy.write(&rel, &text);
        }
        let lock = self.path(crate::lockfile::LOCK_FILE);
        if lock.is_file() {
            std::fs::copy(lock, copy.path(crate::lockfile::LOCK_FILE)).expect("copy the lock");
        }
        copy
    }
}

fn walkdir(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).expect("read dir") {
            let path = entry.expect("entry").path();
            let hidden = path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with('.'));
            if path.is_dir() && !hidden {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                found.push(path);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_run_computes_every_list_and_the_next_keeps_them() {
        let folder = Folder::of(12);
        let (plan, report) = folder.update();
        assert_eq!((plan.to_read, plan.to_embed), (12, 12));
        assert!(plan.relearn);
        assert_eq!(report.ranking, Ranking::Full);
        assert_eq!(report.written, 12);
        let (_, again) = folder.update();
        assert_eq!(
            (again.read, again.embedded, again.written, again.ranking),
            (0, 0, 0, Ranking::Kept)
        );
    }

    #[test]
    fn new_edited_renamed_and_deleted_notes_patch_the_lists() {
        let folder = Folder::of(16);
        folder.update();
        folder.write("new.md", &topic_note(20));
        let (_, added) = folder.update();
        assert_eq!(
            (added.read, added.embedded, added.ranking),
            (1, 1, Ranking::Patched)
        );
        folder.rename("note-3.md", "renamed.md");
        let (_, renamed) = folder.update();
        assert_eq!(
            (renamed.read, renamed.embedded),
            (1, 0),
            "a rename embeds nothing"
        );
        folder.write(
            "note-5.md",
            "# Note 5\n\nAbout crust and yeast now, baked in the hot oven.\n",
        );
        folder.remove("note-6.md");
        let (plan, edited) = folder.update();
        assert_eq!(plan.departed, 1);
        assert_eq!(
            (edited.read, edited.embedded, edited.ranking),
            (1, 1, Ranking::Patched)
        );
        // The same bytes as a folder updated from nothing.
        let clone = folder.clone_without_state();
        let (_, fresh) = clone.update();
        assert_eq!(fresh.written, 0, "a clone writes nothing");
        assert_eq!(clone.notes(), folder.notes());
    }

    /// A note left with too little text of its own loses its section (its bytes are what
    /// they were), is listed nowhere, a clone agrees, and the section comes back with text.
    #[test]
    fn a_note_with_too_little_text_is_left_out_and_comes_back() {
        let folder = Folder::of(12);
        folder.update();
        assert!(folder.read("note-4.md").contains("## Closest"));
        let stub = "# Note 4\n\nTasks\n";
        folder.write("note-4.md", stub);
        folder.update();
        assert_eq!(folder.read("note-4.md"), stub);
        for (rel, text) in folder.notes() {
            assert!(!text.contains("[note-4]"), "{rel} lists the stub:\n{text}");
        }
        let clone = folder.clone_without_state();
        let (_, fresh) = clone.update();
        assert_eq!(fresh.written, 0, "a clone writes nothing");
        assert_eq!(clone.notes(), folder.notes());
        folder.write("note-4.md", &topic_note(4));
        folder.update();
        assert!(folder.read("note-4.md").contains("## Closest"));
    }

    /// The floor is learned into the lock file on the first run and kept; another similarity
    /// learns it again; a lone note gets no list under it, and `min-score` replaces it.
    #[test]
    fn the_floor_is_learned_kept_and_replaced_by_min_score() {
        let mut folder = Folder::of(12);
        folder.update();
        let floor = |folder: &Folder| {
            crate::lockfile::LockFile::load(folder.root())
                .expect("reads")
                .expect("a lock file")
                .floor
                .expect("a floor")
        };
        let first = floor(&folder);
        assert!(first.score > 0.0, "{first:?}");
        let (_, again) = folder.update();
        assert_eq!((again.lock_file, floor(&folder)), (None, first.clone()));
        folder.settings.similarity = closest_index::Similarity::Semantic;
        let (_, report) = folder.update();
        assert_eq!(report.ranking, Ranking::Full);
        assert_ne!(floor(&folder).key, first.key);
        let lone = "# Lone\n\nTelescope eyepiece planets moons rings orbit.\n";
        folder.write("lone.md", lone);
        folder.update();
        assert_eq!(folder.read("lone.md"), lone, "nothing near enough to list");
        folder.settings.min_score = -1.0;
        folder.update();
        assert!(folder.read("lone.md").contains("## Closest"));
        let clone = folder.clone_without_state();
        let (_, fresh) = clone.update();
        assert_eq!(fresh.written, 0, "a clone writes nothing");
    }

    #[test]
    fn a_folder_that_drifted_is_learned_again() {
        let folder = Folder::of(12);
        folder.update();
        for index in 0..4 {
            folder.write(
                &format!("note-{index}.md"),
                &format!("# Other {index}\n\nNew words {index}.\n"),
            );
        }
        let (plan, report) = folder.update();
        assert!(plan.relearn && report.relearned, "{plan:?}");
        assert_eq!(report.read, 12, "learning again reads every note");
        let (_, again) = folder.update();
        assert!(!again.relearned);
    }

    #[test]
    fn settings_that_move_or_reorder_the_lists_are_foretold() {
        let mut folder = Folder::of(10);
        folder.update();
        folder.settings.section = closest_notes::SectionSpec::new("Related", 3).expect("spec");
        let (plan, report) = folder.update();
        assert!(plan.moves_lists, "{plan:?}");
        assert_eq!(report.moved.len(), 10);
        assert!(folder.read("note-1.md").contains("### Related\n"));
        assert!(!folder.read("note-1.md").contains("## Closest"));
        folder.settings.k = 5;
        let (_, report) = folder.update();
        assert_eq!(
            report.ranking,
            Ranking::Full,
            "another k computes the lists again"
        );
        let (_, report) = folder.update();
        assert_eq!((report.ranking, report.written), (Ranking::Kept, 0));
    }

    #[test]
    fn a_note_changed_within_the_hold_waits() {
        let folder = Folder::of(8);
        folder.update();
        folder.write(
            "note-2.md",
            "# Note 2\n\nAbout merge and rebase, typed in the terminal window.\n",
        );
        let options = UpdateOptions {
            mode: Mode::Write,
            full: false,
            hold_recent: Some(std::time::Duration::from_secs(60)),
        };
        let report = folder.engine().update(options, &Silent).expect("update");
        assert_eq!(report.held, ["note-2"]);
        assert!(!folder.read("note-2.md").contains("## Closest"));
        let (_, later) = folder.update();
        assert!(later.written >= 1);
        assert!(folder.read("note-2.md").contains("## Closest"));
    }

    /// Random adds, edits, renames, deletes, typed lines and settings changes: after every
    /// round `status` foretold the update, a clone of the folder (no state) writes nothing,
    /// and the run after a run does nothing.
    #[test]
    fn every_run_is_foretold_and_equals_a_clone() {
        let mut folder = Folder::of(40);
        folder.update();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        let mut added = 100;
        for round in 0..30 {
            let notes: Vec<String> = folder.notes().into_iter().map(|(rel, _)| rel).collect();
            let pick = notes[next(notes.len())].clone();
            match next(7) {
                0 => {
                    added += 1;
                    folder.write(&format!("sub/added-{added}.md"), &topic_note(added));
                }
                1 => folder.write(&pick, &topic_note(next(50))),
                2 if notes.len() > 20 => folder.remove(&pick),
                3 => folder.rename(&pick, &format!("renamed-{round}.md")),
                4 => {
                    let text = folder.read(&pick);
                    folder.write(
                        &pick,
                        &format!("{text}\nA line I typed below, round {round}.\n"),
                    );
                }
                5 => folder.settings.k = 2 + next(4),
                _ => {}
            }
            folder.update();
            let (_, again) = folder.update();
            assert_eq!(
                (again.read, again.written),
                (0, 0),
                "round {round}: {again:?}"
            );
            let clone = folder.clone_without_state();
            let (_, fresh) = clone.update();
            assert_eq!(fresh.written, 0, "round {round}: a clone rewrites notes");
            assert_eq!(clone.notes(), folder.notes(), "round {round}");
        }
    }
}
