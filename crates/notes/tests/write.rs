//! Reading notes faithfully and writing them back atomically.

use std::fs;
use std::path::{Path, PathBuf};

use closest_notes::{
    read_note, splice, write_atomic, NoteError, NoteFile, SectionSpec, WriteOutcome,
};

fn note_file(folder: &Path, name: &str, bytes: &[u8]) -> NoteFile {
    let path = folder.join(name);
    fs::write(&path, bytes).expect("write fixture");
    NoteFile {
        id: name.trim_end_matches(".md").to_string(),
        path,
        rel_path: PathBuf::from(name),
    }
}

fn update(file: &NoteFile, ids: &[&str]) -> Result<WriteOutcome, NoteError> {
    let spec = SectionSpec::default();
    let note = read_note(file)?;
    let parsed = note.parse(&spec)?;
    let links: Vec<String> = ids.iter().map(|id| format!("* [{id}]({id})")).collect();
    write_atomic(&note, &splice(note.text(), &parsed, &spec, &links))
}

fn entries(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(folder)
        .expect("list")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn bom_crlf_and_missing_newline_survive_a_write() {
    let folder = tempfile::tempdir().expect("tempdir");
    let file = note_file(folder.path(), "a.md", b"\xEF\xBB\xBF# A\r\nBody");
    let note = read_note(&file).expect("reads");
    assert!(note.has_bom());
    assert_eq!(note.text(), "# A\r\nBody");
    assert_eq!(
        update(&file, &["b"]).expect("writes"),
        WriteOutcome::Written
    );
    assert_eq!(
        fs::read(&file.path).expect("read back"),
        b"\xEF\xBB\xBF# A\r\nBody\r\n\r\n## Closest\r\n\r\n* [b](b)".to_vec()
    );
    assert_eq!(
        update(&file, &["b"]).expect("second run"),
        WriteOutcome::Unchanged
    );
    assert_eq!(entries(folder.path()), ["a.md"], "no temporary file left");
}

#[test]
fn content_hash_is_of_the_raw_bytes() {
    let folder = tempfile::tempdir().expect("tempdir");
    let file = note_file(folder.path(), "a.md", b"");
    let note = read_note(&file).expect("empty file is a note");
    assert_eq!(note.text(), "");
    assert_eq!(
        note.content_hash(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn invalid_utf8_and_binary_files_are_errors_naming_the_file() {
    let folder = tempfile::tempdir().expect("tempdir");
    let bad = note_file(folder.path(), "bad.md", b"ok \xFF\xFE");
    let error = read_note(&bad).expect_err("invalid UTF-8");
    assert!(
        matches!(error, NoteError::InvalidUtf8 { offset: 3, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("bad.md"), "{error}");
    let binary = note_file(folder.path(), "bin.md", b"PK\x03\x04\x00\x00");
    let error = read_note(&binary).expect_err("binary");
    assert!(
        matches!(error, NoteError::Binary { offset: 4, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("bin.md"), "{error}");
}

#[test]
fn two_sections_error_names_the_file() {
    let folder = tempfile::tempdir().expect("tempdir");
    let file = note_file(folder.path(), "two.md", b"## Closest\n\n## Closest\n");
    let error = update(&file, &["b"]).expect_err("two sections");
    assert_eq!(error.path(), Some(file.path.as_path()));
    assert!(error.to_string().contains("two.md"), "{error}");
}

#[test]
fn changed_or_deleted_during_the_run_is_not_overwritten() {
    let folder = tempfile::tempdir().expect("tempdir");
    let file = note_file(folder.path(), "a.md", b"# A\n");
    let note = read_note(&file).expect("reads");
    fs::write(&file.path, b"# A edited\n").expect("edit");
    assert_eq!(
        write_atomic(&note, "# A\n\n## Closest\n").expect("checks"),
        WriteOutcome::ChangedDuringRun
    );
    assert_eq!(fs::read(&file.path).expect("read"), b"# A edited\n");
    fs::remove_file(&file.path).expect("delete");
    assert_eq!(
        write_atomic(&note, "# A\n\n## Closest\n").expect("checks"),
        WriteOutcome::Deleted
    );
    assert!(!file.path.exists());
}

#[cfg(unix)]
#[test]
fn permissions_are_kept_and_read_only_notes_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let folder = tempfile::tempdir().expect("tempdir");
    let file = note_file(folder.path(), "a.md", b"# A\n");
    fs::set_permissions(&file.path, fs::Permissions::from_mode(0o640)).expect("chmod");
    assert_eq!(
        update(&file, &["b"]).expect("writes"),
        WriteOutcome::Written
    );
    let mode = fs::metadata(&file.path).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o640);

    let locked = note_file(folder.path(), "locked.md", b"# L\n");
    fs::set_permissions(&locked.path, fs::Permissions::from_mode(0o444)).expect("chmod");
    assert_eq!(
        update(&locked, &["b"]).expect("checks"),
        WriteOutcome::ReadOnly
    );
    assert_eq!(fs::read(&locked.path).expect("read"), b"# L\n");
}

#[cfg(unix)]
#[test]
fn symlinked_note_is_written_through_the_link() {
    let folder = tempfile::tempdir().expect("tempdir");
    let real = note_file(folder.path(), "real.md", b"# R\n");
    let link_path = folder.path().join("link.md");
    std::os::unix::fs::symlink(&real.path, &link_path).expect("symlink");
    let link = NoteFile {
        id: "link".to_string(),
        path: link_path.clone(),
        rel_path: PathBuf::from("link.md"),
    };
    assert_eq!(
        update(&link, &["b"]).expect("writes"),
        WriteOutcome::Written
    );
    assert!(fs::symlink_metadata(&link_path)
        .expect("stat")
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_to_string(&real.path).expect("read"),
        "# R\n\n## Closest\n\n* [b](b)\n"
    );
}
