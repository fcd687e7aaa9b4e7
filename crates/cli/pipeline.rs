//! `closest update`: the one place where notes, the model, the store and the index meet.
//!
//! walk → read and parse (in parallel) → text to embed and its hash → stored vector, or embed the
//! missing ones (saved batch by batch, so an interrupted run keeps its work) → index → each
//! note's k nearest → render → write only the notes whose bytes change, atomically. The store
//! then records the run. Every step is deterministic: notes are sorted by id, vectors do not
//! depend on batching, and ties break by id, so the same folder always gives the same bytes.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use anyhow::{Context, Result};
use closest_index::{choose, new_index, ConcreteKind, HnswParams, Neighbour};
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
    let neighbours = nearest(&prepared, &vectors, kind, settings, ui)?;

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

/// Each note's neighbours after filtering, sorted by score and then note id, at most k.
fn nearest(
    prepared: &[Prepared],
    vectors: &[Vec<f32>],
    kind: ConcreteKind,
    settings: &NotesSettings,
    ui: &Ui,
) -> Result<Vec<Vec<StoredNeighbour>>> {
    let n = prepared.len();
    let mut lists = vec![Vec::new(); n];
    if n < 2 {
        return Ok(lists);
    }
    let dim = vectors[0].len();
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
    let mut index = new_index(kind, dim, HnswParams::default())?;
    // Row ids are positions in the id-sorted note list, so the index's own tie order (by id) is
    // already note-id order.
    let rows: Vec<(u64, &[f32])> = vectors
        .iter()
        .enumerate()
        .map(|(row, vector)| (row as u64, vector.as_slice()))
        .collect();
    index.add(&rows)?;
    let wanted = (settings.k + max_linked + TIE_MARGIN).min(n - 1);
    let pairs = index.all_pairs(wanted)?;
    bar.finish_and_clear();
    for (row, found) in pairs {
        let row = row as usize;
        let mut list: Vec<Neighbour> = found
            .into_iter()
            .filter(|neighbour| {
                neighbour.score >= settings.min_score
                    && !linked[row].contains(prepared[neighbour.id as usize].note.id())
            })
            .collect();
        list.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        list.truncate(settings.k);
        lists[row] = list
            .into_iter()
            .map(|neighbour| StoredNeighbour {
                id: prepared[neighbour.id as usize].note.id().to_owned(),
                score: neighbour.score,
            })
            .collect();
    }
    Ok(lists)
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
