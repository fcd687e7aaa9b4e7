//! `closest update`: the one place where notes, the model, the store and the index meet.
//!
//! walk → read and parse (in parallel) → text to embed and its hash → stored vector, or embed the
//! missing ones (saved batch by batch, so an interrupted run keeps its work) → index → each
//! note's k nearest → render → write only the notes whose bytes change, atomically. The store
//! then records the run. Every step is deterministic: notes are sorted by id, vectors do not
//! depend on batching, and ties break by id, so the same folder always gives the same bytes.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use closest_index::{
    choose, new_index, persist, ConcreteKind, Hnsw, HnswParams, Neighbour, VectorIndex,
};
use closest_notes::{
    embed_text, linked_ids, read_note, render_links, splice, splice_front_matter, walk, LinkTarget,
    Note, NoteFile, Parsed, WriteOutcome,
};
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::lock::FolderLock;
use crate::model::ModelHandle;
use crate::settings::{NotesSettings, Output};
use crate::store::{NoteRow, Store, StoredNeighbour};
use crate::ui::Ui;

/// What `update` may do to the notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Write,
    Check,
    DryRun,
}

/// The summary of a run (`--format json` prints it as one object).
#[derive(Debug, Default, Serialize)]
pub struct UpdateReport {
    pub notes: usize,
    pub embedded: usize,
    pub unchanged: usize,
    pub written: usize,
    pub pruned: usize,
    pub skipped: usize,
    /// Notes whose section is (or, in write mode, was) out of date, by id.
    pub stale: Vec<String>,
    pub index: String,
    /// For a saved HNSW index: rows added to it and removed from it this run (`None` when it
    /// was built from scratch or the index is exact).
    pub index_added: Option<usize>,
    pub index_removed: Option<usize>,
    pub model: String,
    pub seconds: f64,
}

/// A note read and parsed, ready to be embedded and rewritten.
struct Prepared {
    note: Note,
    parsed: Parsed,
    /// The text to embed, kept so that a note needing a vector is not prepared twice.
    text: String,
    hash: String,
}

/// Extra candidates asked of the index beyond k, so that ties at the cut can be broken by note
/// id whatever order the index returned them in.
const TIE_MARGIN: usize = 8;

pub fn update(settings: &NotesSettings, mode: Mode, ui: &Ui) -> Result<UpdateReport> {
    let started = Instant::now();
    let state_dir = settings.state_dir();
    let _lock = FolderLock::acquire(&state_dir, ui)?;

    let walked = walk(&settings.root, &settings.walk_options())?;
    for warning in &walked.warnings {
        ui.warn(warning);
    }
    sweep_temp_files(&walked.notes, ui);
    let prepared = prepare_notes(&walked.notes, settings, ui);
    let mut report = UpdateReport {
        skipped: walked.notes.len() - prepared.len(),
        notes: prepared.len(),
        ..UpdateReport::default()
    };

    let model = ModelHandle::resolve(&settings.model, ui)?;
    report.model = model.resolved.name.clone();
    let prep = model.prep_fingerprint(settings.long);
    let mut store = Store::open_reporting(&state_dir, ui)?;
    let vectors = vectors_for(
        &prepared,
        &model,
        &prep,
        settings,
        &mut store,
        ui,
        &mut report,
    )?;

    let kind = choose(settings.index, prepared.len());
    report.index = format!("{kind:?}").to_lowercase();
    let index_key = model.index_key(settings.long);
    let search = Search {
        kind,
        index_key: &index_key,
        index_dir: &state_dir.join("index"),
        save: mode == Mode::Write,
    };
    let neighbours = nearest(&prepared, &vectors, &search, settings, ui, &mut report)?;

    let bar = ui.bar("writing", prepared.len() as u64);
    let targets: Vec<LinkTarget> = prepared.iter().map(link_target).collect();
    let index_of: HashMap<&str, usize> = prepared
        .iter()
        .enumerate()
        .map(|(index, p)| (p.note.id(), index))
        .collect();
    let mut rows = Vec::with_capacity(prepared.len());
    let mut lists = Vec::with_capacity(prepared.len());
    for (prepared_note, list) in prepared.iter().zip(&neighbours) {
        let chosen: Vec<LinkTarget> = list
            .iter()
            .map(|n| targets[index_of[n.id.as_str()]].clone())
            .collect();
        let new_text = render(prepared_note, &chosen, settings);
        if new_text == prepared_note.note.text() {
            report.unchanged += 1;
        } else {
            report.stale.push(prepared_note.note.id().to_owned());
            if mode == Mode::Write {
                match closest_notes::write_atomic(&prepared_note.note, &new_text) {
                    Err(err) => ui.warn(format!("not written: {err}")),
                    Ok(WriteOutcome::Written) => report.written += 1,
                    Ok(WriteOutcome::Unchanged) => report.unchanged += 1,
                    Ok(WriteOutcome::ChangedDuringRun) => ui.warn(format!(
                        "`{}` changed while closest ran; left it alone, run again to update it",
                        prepared_note.note.path().display()
                    )),
                    Ok(WriteOutcome::Deleted) => ui.warn(format!(
                        "`{}` was deleted while closest ran",
                        prepared_note.note.path().display()
                    )),
                    Ok(WriteOutcome::ReadOnly) => ui.warn(format!(
                        "`{}` is read-only; left it alone (make it writable to update its section)",
                        prepared_note.note.path().display()
                    )),
                }
            }
        }
        rows.push(NoteRow {
            id: prepared_note.note.id().to_owned(),
            path: prepared_note.note.file().rel_path.display().to_string(),
            hash: prepared_note.hash.clone(),
        });
        lists.push((prepared_note.note.id().to_owned(), list.clone()));
        bar.inc(1);
    }
    bar.finish_and_clear();
    if mode == Mode::Write {
        let (pruned, _) = store.save_run(&model.fingerprint, &prep, &rows, &lists)?;
        report.pruned = pruned;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Removes temporary files a killed run left beside notes. Holding the folder lock, no other
/// run can be writing them.
fn sweep_temp_files(files: &[NoteFile], ui: &Ui) {
    let folders: BTreeSet<&std::path::Path> =
        files.iter().filter_map(|file| file.path.parent()).collect();
    for folder in folders {
        let Ok(entries) = std::fs::read_dir(folder) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(closest_notes::TEMP_FILE_PREFIX)
            {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => ui.debug(format!(
                        "removed `{}` left by an interrupted run",
                        entry.path().display()
                    )),
                    Err(err) => ui.warn(format!(
                        "cannot remove `{}` left by an interrupted run: {err}",
                        entry.path().display()
                    )),
                }
            }
        }
    }
}

/// Reads and parses every note in parallel; a note that cannot be read or parsed is a warning
/// and is left out (and left alone).
fn prepare_notes(files: &[NoteFile], settings: &NotesSettings, ui: &Ui) -> Vec<Prepared> {
    let bar = ui.bar("reading", files.len() as u64);
    let results: Vec<_> = files
        .par_iter()
        .map(|file| {
            let prepared = read_note(file).and_then(|note| {
                let parsed = note.parse(&settings.section)?;
                let text = embed_text(&parsed);
                let hash = text_hash(&text);
                Ok(Prepared {
                    note,
                    parsed,
                    text,
                    hash,
                })
            });
            bar.inc(1);
            prepared
        })
        .collect();
    bar.finish_and_clear();
    results
        .into_iter()
        .filter_map(|result| match result {
            Ok(prepared) => Some(prepared),
            Err(err) => {
                ui.warn(format!("skipped: {err}"));
                None
            }
        })
        .collect()
}

pub(crate) fn text_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Every note's vector: from the store when its text was embedded before with this model and
/// preparation, else embedded now and saved batch by batch.
fn vectors_for(
    prepared: &[Prepared],
    model: &ModelHandle,
    prep: &str,
    settings: &NotesSettings,
    store: &mut Store,
    ui: &Ui,
    report: &mut UpdateReport,
) -> Result<Vec<Vec<f32>>> {
    let hashes: Vec<&str> = prepared.iter().map(|p| p.hash.as_str()).collect();
    let mut known = store.vectors(&model.fingerprint, prep, &hashes)?;
    let mut missing: Vec<&Prepared> = Vec::new();
    let mut seen = BTreeSet::new();
    for p in prepared {
        if !known.contains_key(&p.hash) && seen.insert(p.hash.as_str()) {
            missing.push(p);
        }
    }
    if !missing.is_empty() {
        if store.has_other_model(&model.fingerprint)? && known.is_empty() {
            ui.note(format!(
                "model or settings changed (now {}): embedding every note again",
                model.resolved.name
            ));
        }
        let embedder = model.embedder(ui)?;
        let bar = ui.bar("embedding", missing.len() as u64);
        let prompt = model.config.document_prompt().map(str::to_owned);
        // Chunks are saved as they finish: a run that is stopped keeps what it embedded.
        for chunk in missing.chunks(256) {
            let refs: Vec<&str> = chunk.iter().map(|p| p.text.as_str()).collect();
            let (vectors, _) = embedder.embed(
                &refs,
                prompt.as_deref(),
                model.options(settings.long),
                &mut |_, _| {},
            )?;
            let items: Vec<(String, Vec<f32>)> =
                chunk.iter().map(|p| p.hash.clone()).zip(vectors).collect();
            store.insert_vectors(&model.fingerprint, prep, &items)?;
            report.embedded += items.len();
            known.extend(items);
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
    }
    prepared
        .iter()
        .map(|p| {
            let mut vector = known
                .get(&p.hash)
                .cloned()
                .context("a vector went missing from the store during the run")?;
            // Unit length is the index's contract; models without a Normalize module still
            // compare by cosine.
            closest_embed::normalize(&mut vector);
            Ok(vector)
        })
        .collect()
}

/// How `update` finds neighbours.
struct Search<'a> {
    kind: ConcreteKind,
    /// Model and text-preparation fingerprints: what a saved index's vectors were made with.
    index_key: &'a str,
    /// Where the HNSW index is kept between runs (`.closest/index/`).
    index_dir: &'a Path,
    /// Whether to save it (not for `--check` or `--dry-run`).
    save: bool,
}

/// A saved HNSW index is rebuilt rather than patched once retired rows outnumber live ones:
/// they still route searches, so they cost time and crowd results.
const MAX_RETIRED_SHARE: f64 = 0.5;

/// Each note's neighbours after filtering, sorted by score and then note id, at most k.
fn nearest(
    prepared: &[Prepared],
    vectors: &[Vec<f32>],
    search: &Search,
    settings: &NotesSettings,
    ui: &Ui,
    report: &mut UpdateReport,
) -> Result<Vec<Vec<StoredNeighbour>>> {
    let n = prepared.len();
    let mut lists = vec![Vec::new(); n];
    if n < 2 {
        return Ok(lists);
    }
    let linked: Vec<BTreeSet<String>> = if settings.exclude_linked {
        prepared
            .iter()
            .map(|p| linked_ids(&p.parsed, p.note.file(), settings.id_scheme))
            .collect()
    } else {
        vec![BTreeSet::new(); n]
    };
    let max_linked = linked.iter().map(BTreeSet::len).max().unwrap_or(0);
    let bar = ui.bar("searching", 1);
    let (index, keys) = match search.kind {
        ConcreteKind::Hnsw => saved_hnsw(prepared, vectors, search, ui, report)?,
        // Exact is just the vectors: rebuilding costs less than reading it back.
        ConcreteKind::Exact => fresh_index(ConcreteKind::Exact, vectors)?,
    };
    let position_of: HashMap<u64, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let wanted = (settings.k + max_linked + TIE_MARGIN).min(n - 1);
    let pairs = index.all_pairs(wanted)?;
    bar.finish_and_clear();
    for (key, found) in pairs {
        let row = position_of[&key];
        let mut list: Vec<(usize, f32)> = found
            .into_iter()
            .map(|neighbour: Neighbour| (position_of[&neighbour.id], neighbour.score))
            .filter(|&(other, score)| {
                score >= settings.min_score && !linked[row].contains(prepared[other].note.id())
            })
            .collect();
        // Notes are sorted by id, so position order is note-id order: ties break by note id
        // whatever row keys the index used.
        list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        list.truncate(settings.k);
        lists[row] = list
            .into_iter()
            .map(|(other, score)| StoredNeighbour {
                id: prepared[other].note.id().to_owned(),
                score,
            })
            .collect();
    }
    Ok(lists)
}

/// An index of `kind` built now over `vectors`, keyed by position (not saved).
pub(crate) fn fresh_index<V: AsRef<[f32]>>(
    kind: ConcreteKind,
    vectors: &[V],
) -> Result<(Box<dyn VectorIndex>, Vec<u64>)> {
    let keys: Vec<u64> = (0..vectors.len() as u64).collect();
    let dim = vectors.first().map_or(0, |vector| vector.as_ref().len());
    let mut index = new_index(kind, dim, HnswParams::default())?;
    index.add(&rows_of(&keys, vectors))?;
    Ok((index, keys))
}

fn rows_of<'a, V: AsRef<[f32]>>(keys: &[u64], vectors: &'a [V]) -> Vec<(u64, &'a [f32])> {
    keys.iter()
        .zip(vectors)
        .map(|(key, vector)| (*key, vector.as_ref()))
        .collect()
}

/// The row key of a note in a saved index: its id and the hash of its text, so an edited note
/// is a new row (its vector changed) and the same text in two notes is two rows.
pub(crate) fn row_key(note_id: &str, text_hash: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(note_id.as_bytes())
        .chain_update([0])
        .chain_update(text_hash.as_bytes())
        .finalize();
    u64::from_le_bytes(
        digest[..8]
            .try_into()
            .expect("a sha256 digest has 32 bytes"),
    )
}

/// The HNSW index saved by the last run, brought up to date by retiring the rows of deleted or
/// edited notes and inserting the new ones; built afresh when there is none, it does not fit
/// (another model, damage: with a warning), or too many of its rows are retired. Saved again
/// when it changed. Returns it with each note's row key.
fn saved_hnsw(
    prepared: &[Prepared],
    vectors: &[Vec<f32>],
    search: &Search,
    ui: &Ui,
    report: &mut UpdateReport,
) -> Result<(Box<dyn VectorIndex>, Vec<u64>)> {
    let dim = vectors[0].len();
    let keys: Vec<u64> = prepared
        .iter()
        .map(|p| row_key(p.note.id(), &p.hash))
        .collect();
    if keys.iter().collect::<HashSet<_>>().len() != keys.len() {
        // Two notes' keys collided (a 1 in 2^64 event per pair): positions are unique, so build
        // this run's index on them and leave the saved one alone.
        ui.debug("row keys collided; building the HNSW index without saving it");
        return fresh_index(ConcreteKind::Hnsw, vectors);
    }
    let loaded = match persist::load(search.index_dir, search.index_key, dim) {
        Ok(persist::LoadOutcome::Loaded(index)) => Some(index),
        Ok(persist::LoadOutcome::Missing) => None,
        Ok(persist::LoadOutcome::Rebuild { reason }) => {
            ui.warn(format!("rebuilding the HNSW index: {reason}"));
            None
        }
        Err(err) => {
            ui.warn(format!("rebuilding the HNSW index: {err}"));
            None
        }
    };
    let patched = loaded.and_then(|index| patch_hnsw(index, &keys, vectors, ui));
    let (index, changed) = match patched {
        Some((index, added, removed)) => {
            report.index_added = Some(added);
            report.index_removed = Some(removed);
            (index, added + removed > 0)
        }
        None => {
            let mut index = new_index(ConcreteKind::Hnsw, dim, HnswParams::default())?;
            index.add(&rows_of(&keys, vectors))?;
            (index, true)
        }
    };
    if search.save && changed {
        if let Err(err) = persist::save(index.as_ref(), search.index_dir, search.index_key) {
            ui.warn(format!(
                "the HNSW index was not saved, the next run builds it again: {err}"
            ));
        }
    }
    Ok((index, keys))
}

/// Brings a saved HNSW index up to `keys`: retires the rows no note has any more, inserts the
/// new ones. `None` (rebuild) when it was built with other parameters, when retired rows would
/// outnumber live ones, or when patching fails. Returns it with the rows added and removed.
fn patch_hnsw(
    mut index: Box<dyn VectorIndex>,
    keys: &[u64],
    vectors: &[Vec<f32>],
    ui: &Ui,
) -> Option<(Box<dyn VectorIndex>, usize, usize)> {
    let hnsw = index.as_any().downcast_ref::<Hnsw>()?;
    if hnsw.params() != HnswParams::default() {
        return None;
    }
    let current: HashSet<u64> = keys.iter().copied().collect();
    let saved = index.ids();
    let removed: Vec<u64> = saved
        .iter()
        .copied()
        .filter(|key| !current.contains(key))
        .collect();
    let saved: HashSet<u64> = saved.into_iter().collect();
    let added: Vec<(u64, &[f32])> = rows_of(keys, vectors)
        .into_iter()
        .filter(|(key, _)| !saved.contains(key))
        .collect();
    let retired = hnsw.n_rows() - hnsw.len() + removed.len();
    let rows = hnsw.n_rows() + added.len();
    if retired as f64 > MAX_RETIRED_SHARE * rows as f64 {
        ui.debug("most of the saved HNSW index's rows are retired; rebuilding it");
        return None;
    }
    match index.remove(&removed).and_then(|()| index.add(&added)) {
        Ok(()) => Some((index, added.len(), removed.len())),
        Err(err) => {
            ui.warn(format!("rebuilding the HNSW index: {err}"));
            None
        }
    }
}

fn link_target(prepared: &Prepared) -> LinkTarget {
    LinkTarget {
        id: prepared.note.id().to_owned(),
        title: prepared
            .parsed
            .title()
            .map_or_else(|| prepared.note.id().to_owned(), str::to_owned),
        rel_path: prepared.note.file().rel_path.clone(),
    }
}

fn render(prepared: &Prepared, targets: &[LinkTarget], settings: &NotesSettings) -> String {
    match &settings.output {
        Output::Section(template) => {
            let links = render_links(template, prepared.note.file(), targets);
            splice(
                prepared.note.text(),
                &prepared.parsed,
                &settings.section,
                &links,
            )
        }
        Output::FrontMatter { key } => {
            let ids: Vec<String> = targets.iter().map(|target| target.id.clone()).collect();
            splice_front_matter(prepared.note.text(), key, &ids)
        }
    }
}
