//! The small commands: `embed`, `similar`, `status` and `model`. Each takes validated settings,
//! writes its data to stdout and everything else through `Ui`.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use anyhow::{bail, Context, Result};
use closest_embed::{known_models, LongPolicy};
use closest_index::{choose, persist, ConcreteKind, LoadOutcome, VectorIndex};
use serde::Deserialize;
use serde_json::json;

use crate::args::{EmbedArgs, Format, ModelCommand, SimilarArgs};
use crate::model::ModelHandle;
use crate::pipeline::{fresh_index, row_key};
use crate::settings::{ModelSettings, NotesSettings};
use crate::store::{NoteRow, Store};
use crate::ui::Ui;

#[derive(Deserialize)]
struct EmbedLine {
    #[serde(default)]
    id: Option<serde_json::Value>,
    text: String,
}

/// Texts embedded per round: large enough for full batches, small enough to stream.
const EMBED_CHUNK: usize = 1024;

/// `closest embed`: JSON Lines in, JSON Lines out, in input order, ids carried through.
pub fn embed(args: &EmbedArgs, settings: &ModelSettings, ui: &Ui) -> Result<()> {
    let long = args.long.parse::<LongPolicy>()?;
    let model = ModelHandle::resolve(settings, ui)?;
    let embedder = model.embedder(ui)?;
    let prompt = if args.query {
        model.config.query_prompt()
    } else {
        model.config.document_prompt()
    };
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut pending: Vec<EmbedLine> = Vec::new();
    let flush = |pending: &mut Vec<EmbedLine>, out: &mut dyn Write| -> Result<()> {
        let texts: Vec<&str> = pending.iter().map(|line| line.text.as_str()).collect();
        let (vectors, _) = embedder.embed(&texts, prompt, model.options(long), &mut |_, _| {})?;
        for (line, vector) in pending.iter().zip(vectors) {
            let object = match &line.id {
                Some(id) => json!({ "id": id, "embedding": vector }),
                None => json!({ "embedding": vector }),
            };
            serde_json::to_writer(&mut *out, &object)?;
            out.write_all(b"\n")?;
        }
        pending.clear();
        Ok(())
    };
    for (number, line) in stdin.lines().enumerate() {
        let line = line.context("cannot read standard input")?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: EmbedLine = serde_json::from_str(&line)
            .with_context(|| format!("line {} of standard input is not a JSON object with a \"text\" string; expected {{\"id\": ..., \"text\": \"...\"}}", number + 1))?;
        pending.push(parsed);
        if pending.len() >= EMBED_CHUNK {
            flush(&mut pending, &mut stdout)?;
        }
    }
    if !pending.is_empty() {
        flush(&mut pending, &mut stdout)?;
    }
    stdout.flush()?;
    Ok(())
}

/// The last update's notes with their stored vectors, for `similar` and `bench index`.
pub(crate) struct Stored {
    pub model: ModelHandle,
    pub notes: Vec<NoteRow>,
    /// (index into `notes`, unit-length vector) for every note with a vector.
    pub rows: Vec<(usize, Vec<f32>)>,
}

/// The last update's notes with their stored vectors (unit length) for the current model and
/// preparation; an error when nothing is stored yet.
pub(crate) fn stored_rows(settings: &NotesSettings, ui: &Ui) -> Result<Stored> {
    let model = ModelHandle::resolve(&settings.model, ui)?;
    let prep = model.prep_fingerprint(settings.long);
    let store = Store::open_reporting(&settings.state_dir(), ui)?;
    let notes = store.notes()?;
    let hashes: Vec<&str> = notes.iter().map(|note| note.hash.as_str()).collect();
    let vectors = store.vectors(&model.fingerprint, &prep, &hashes)?;
    let rows: Vec<(usize, Vec<f32>)> = notes
        .iter()
        .enumerate()
        .filter_map(|(index, note)| {
            vectors
                .get(&note.hash)
                .map(|vector| (index, normalized(vector)))
        })
        .collect();
    if rows.is_empty() {
        bail!(
            "no embedded notes in `{}`; run `closest update {}` first",
            settings.root.display(),
            settings.root.display()
        );
    }
    Ok(Stored { model, notes, rows })
}

/// `closest similar`: the nearest notes to a note, a text or stdin, from the folder's store.
pub fn similar(args: &SimilarArgs, settings: &NotesSettings, ui: &Ui) -> Result<()> {
    let Stored { model, notes, rows } = stored_rows(settings, ui)?;
    let (query, exclude) = match (&args.note, &args.text, &args.stdin) {
        (Some(id), _, _) => {
            let index = notes.iter().position(|note| &note.id == id).with_context(|| format!("no note with id `{id}` in the store; check the id with `closest status`, or run `closest update` first"))?;
            let vector = rows
                .iter()
                .find(|(row, _)| *row == index)
                .map(|(_, vector)| vector.clone())
                .context("that note has no vector yet; run `closest update`")?;
            (vector, Some(index))
        }
        (None, Some(text), _) => (query_vector(&model, text, settings.long, ui)?, None),
        (None, None, Some(dash)) if dash == "-" => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("cannot read standard input")?;
            (query_vector(&model, &text, settings.long, ui)?, None)
        }
        _ => bail!(
            "say what to search for: `--note ID`, `--text TEXT`, or `-` to read standard input"
        ),
    };
    let (index, keys) = similar_index(&model, &notes, &rows, settings, ui)?;
    let note_of: HashMap<u64, usize> = keys
        .iter()
        .zip(&rows)
        .map(|(key, (note, _))| (*key, *note))
        .collect();
    let mut found: Vec<(usize, f32)> = index
        .search(&query, settings.k + 1)?
        .into_iter()
        .map(|neighbour| (note_of[&neighbour.id], neighbour.score))
        .filter(|(note, _)| Some(*note) != exclude)
        .collect();
    found.truncate(settings.k);
    let mut stdout = std::io::stdout().lock();
    for (note, score) in found {
        let note = &notes[note];
        match args.format {
            Format::Text => writeln!(stdout, "{score:.4}\t{}\t{}", note.id, note.path)?,
            Format::Json => writeln!(
                stdout,
                "{}",
                json!({ "id": note.id, "path": note.path, "score": score })
            )?,
        }
    }
    Ok(())
}

/// The index `similar` searches, with each row's key: for HNSW, the one the last `update` saved
/// when it holds exactly the stored notes (so a query need not build a graph); otherwise one
/// built for this query and not saved (`similar` never writes).
fn similar_index(
    model: &ModelHandle,
    notes: &[NoteRow],
    rows: &[(usize, Vec<f32>)],
    settings: &NotesSettings,
    ui: &Ui,
) -> Result<(Box<dyn VectorIndex>, Vec<u64>)> {
    let dim = rows[0].1.len();
    let kind = choose(settings.index, rows.len());
    if kind == ConcreteKind::Hnsw {
        let keys: Vec<u64> = rows
            .iter()
            .map(|(note, _)| row_key(&notes[*note].id, &notes[*note].hash))
            .collect();
        let index_key = model.index_key(settings.long);
        match persist::load(&settings.state_dir().join("index"), &index_key, dim) {
            Ok(LoadOutcome::Loaded(index)) => {
                let mut wanted = keys.clone();
                wanted.sort_unstable();
                if index.ids() == wanted {
                    return Ok((index, keys));
                }
                ui.debug("the saved HNSW index is behind the store; building one for this query");
            }
            Ok(outcome) => ui.debug(format!("no saved HNSW index to reuse: {outcome:?}")),
            Err(err) => ui.debug(format!("no saved HNSW index to reuse: {err}")),
        }
    }
    let vectors: Vec<&[f32]> = rows.iter().map(|(_, vector)| vector.as_slice()).collect();
    fresh_index(kind, &vectors)
}

fn normalized(vector: &[f32]) -> Vec<f32> {
    let mut vector = vector.to_vec();
    closest_embed::normalize(&mut vector);
    vector
}

fn query_vector(model: &ModelHandle, text: &str, long: LongPolicy, ui: &Ui) -> Result<Vec<f32>> {
    let embedder = model.embedder(ui)?;
    let (mut vectors, _) = embedder.embed(
        &[text],
        model.config.query_prompt(),
        model.options(long),
        &mut |_, _| {},
    )?;
    Ok(normalized(&vectors.remove(0)))
}

/// `closest status`: notes, embedded, stale, orphaned rows, model and store size.
pub fn status(settings: &NotesSettings, format: Format, ui: &Ui) -> Result<()> {
    let walked = closest_notes::walk(&settings.root, &settings.walk_options())?;
    let model = ModelHandle::resolve(&settings.model, ui)?;
    let prep = model.prep_fingerprint(settings.long);
    let store = Store::open_reporting(&settings.state_dir(), ui)?;
    let stored = store.notes()?;
    let stored_hash: std::collections::HashMap<&str, &str> = stored
        .iter()
        .map(|row| (row.id.as_str(), row.hash.as_str()))
        .collect();
    let mut unreadable = 0;
    let mut stale = Vec::new();
    let mut hashes = Vec::new();
    for file in &walked.notes {
        match closest_notes::read_note(file).and_then(|note| {
            note.parse(&settings.section)
                .map(|parsed| closest_notes::embed_text(&parsed))
        }) {
            Ok(text) => {
                let hash = crate::pipeline::text_hash(&text);
                if stored_hash.get(file.id.as_str()) != Some(&hash.as_str()) {
                    stale.push(file.id.clone());
                }
                hashes.push(hash);
            }
            Err(_) => unreadable += 1,
        }
    }
    let unique: Vec<&str> = hashes
        .iter()
        .map(String::as_str)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let found = store.vectors(&model.fingerprint, &prep, &unique)?;
    let embedded = hashes
        .iter()
        .filter(|hash| found.contains_key(hash.as_str()))
        .count();
    let (total_rows, _) = store.vector_counts(&model.fingerprint, &prep)?;
    let orphaned = total_rows - found.len();
    let store_bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", store.path().display())).ok())
        .map(|meta| meta.len())
        .sum();
    let report = json!({
        "root": settings.root.display().to_string(),
        "notes": walked.notes.len(),
        "unreadable": unreadable,
        "embedded": embedded,
        "stale": stale.len(),
        "orphaned_rows": orphaned,
        "model": model.resolved.name,
        "model_fingerprint": model.fingerprint,
        "store_bytes": store_bytes,
    });
    let mut stdout = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(stdout, "{report}")?,
        Format::Text => {
            writeln!(
                stdout,
                "notes:     {} ({} unreadable)",
                walked.notes.len(),
                unreadable
            )?;
            writeln!(stdout, "embedded:  {embedded}")?;
            writeln!(
                stdout,
                "stale:     {} (changed or new since the last update)",
                stale.len()
            )?;
            writeln!(stdout, "orphaned:  {orphaned} stored vectors no note uses")?;
            writeln!(
                stdout,
                "model:     {} ({})",
                model.resolved.name, model.fingerprint
            )?;
            writeln!(
                stdout,
                "store:     `{}`, {} KiB",
                store.path().display(),
                store_bytes / 1024
            )?;
        }
    }
    Ok(())
}

/// `closest model fetch|list|info`.
pub fn model(command: &ModelCommand, settings: &ModelSettings, ui: &Ui) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match command {
        ModelCommand::Fetch { model } => {
            let settings = ModelSettings {
                model: model.clone().or_else(|| settings.model.clone()),
                ..settings.clone()
            };
            let handle = ModelHandle::resolve(&settings, ui)?;
            writeln!(
                stdout,
                "{} ready in `{}` (from {}; every pinned file checked)",
                handle.resolved.name,
                handle.resolved.dir.display(),
                handle.resolved.source
            )?;
        }
        ModelCommand::List => {
            for known in known_models() {
                let cached = closest_embed::cache_dir().join(&known.name);
                let local = std::path::Path::new("models").join(&known.name);
                let place = if local.join("model.safetensors").is_file() {
                    format!("`{}`", local.display())
                } else if cached.join("model.safetensors").is_file() {
                    format!("`{}`", cached.display())
                } else {
                    "not fetched (`closest model fetch`)".to_owned()
                };
                let default = if known.default { " (default)" } else { "" };
                writeln!(
                    stdout,
                    "{}{default}\t{}\t{} dims\t{}\t{}",
                    known.name, known.repo, known.dims, known.pooling, place
                )?;
            }
        }
        ModelCommand::Info { model } => {
            let settings = ModelSettings {
                model: model.clone().or_else(|| settings.model.clone()),
                ..settings.clone()
            };
            let handle = ModelHandle::resolve(&settings, ui)?;
            let config = &handle.config;
            let info = json!({
                "name": handle.resolved.name,
                "source": handle.resolved.source.to_string(),
                "folder": handle.resolved.dir.display().to_string(),
                "dims": config.dim(),
                "pooling": config.pooling.describe(),
                "normalize": config.normalize,
                "max_seq_length": config.max_seq_length,
                "do_lower_case": config.do_lower_case,
                "layers": config.bert.num_hidden_layers,
                "query_prompt": config.query_prompt(),
                "document_prompt": config.document_prompt(),
                "fingerprint": handle.fingerprint,
            });
            writeln!(stdout, "{}", serde_json::to_string_pretty(&info)?)?;
        }
    }
    Ok(())
}
