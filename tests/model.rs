//! Model folders that cannot work give an error naming the file and the fix, exit 2.

use std::path::Path;

use crate::fixture::{closest, model_dir, ok, stderr, Scratch};

fn copy_model(from: &Path, to: &Path) {
    for entry in walk(from) {
        let target = to.join(entry.strip_prefix(from).expect("inside"));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&entry, &target).expect("copy");
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn embed_with(model: &Path, cwd: Option<&Path>) -> std::process::Output {
    closest(
        &["embed", "--model", model.to_str().expect("path")],
        cwd,
        Some("{\"text\": \"hello\"}\n"),
    )
}

fn assert_fails(output: std::process::Output, names: &str) {
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(names),
        "the error names {names}:\n{}",
        stderr(&output)
    );
}

#[test]
fn bad_model_folders_are_clear_errors() {
    let good = model_dir();
    let scratch = Scratch::new();

    let missing = scratch.path().join("missing");
    copy_model(&good, &missing);
    std::fs::remove_file(missing.join("tokenizer.json")).expect("remove");
    assert_fails(embed_with(&missing, None), "tokenizer.json");

    let truncated = scratch.path().join("truncated");
    copy_model(&good, &truncated);
    let weights = std::fs::read(truncated.join("model.safetensors")).expect("read");
    std::fs::write(
        truncated.join("model.safetensors"),
        &weights[..weights.len() / 2],
    )
    .expect("truncate");
    assert_fails(embed_with(&truncated, None), "model.safetensors");

    let pooling = scratch.path().join("pooling");
    copy_model(&good, &pooling);
    std::fs::write(
        pooling.join("1_Pooling/config.json"),
        r#"{"word_embedding_dimension": 384, "pooling_mode": "median"}"#,
    )
    .expect("write");
    assert_fails(embed_with(&pooling, None), "unknown pooling mode `median`");

    let dims = scratch.path().join("dims");
    copy_model(&good, &dims);
    std::fs::write(
        dims.join("1_Pooling/config.json"),
        r#"{"word_embedding_dimension": 768, "pooling_mode_mean_tokens": true}"#,
    )
    .expect("write");
    assert_fails(embed_with(&dims, None), "768");

    let architecture = scratch.path().join("architecture");
    copy_model(&good, &architecture);
    let config = std::fs::read_to_string(architecture.join("config.json"))
        .expect("read")
        .replace("\"model_type\": \"bert\"", "\"model_type\": \"llama\"");
    std::fs::write(architecture.join("config.json"), config).expect("write");
    assert_fails(embed_with(&architecture, None), "llama");

    // A known model found under models/<name>/ is checked against its pinned sha256.
    let project = scratch.path().join("project");
    let local = project.join("models/all-MiniLM-L6-v2");
    copy_model(&good, &local);
    let mut vocab = std::fs::read(local.join("vocab.txt")).expect("read");
    vocab[0] ^= 1;
    std::fs::write(local.join("vocab.txt"), vocab).expect("write");
    let output = closest(&["embed"], Some(&project), Some("{\"text\": \"hello\"}\n"));
    assert_fails(output, "sha256");
}

#[test]
fn model_commands_describe_the_default_model() {
    let info: serde_json::Value = serde_json::from_str(&ok(closest(
        &["model", "info", "--format", "json"],
        None,
        None,
    )))
    .expect("json");
    assert_eq!(info["dims"], 384);
    assert_eq!(info["pooling"], "mean");
    assert_eq!(info["max_seq_length"], 256);
    let list = ok(closest(&["model", "list"], None, None));
    assert!(list.contains("all-MiniLM-L6-v2 (default)"), "{list}");
    let fetch = ok(closest(&["model", "fetch"], None, None));
    assert!(fetch.contains("ready"), "{fetch}");
}
