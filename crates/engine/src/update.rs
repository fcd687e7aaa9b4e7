//! `update`: the steps of a run put together, and what the run records.
//!
//! lock → open the store and the vector file → scan (stat against the store) → read the notes
//! that changed → vectors (stored, or embedded now) → rank (patch the stored lists, or compute
//! them all) → write the notes whose lines changed → commit what changed in one transaction.
//! Every step returns its results; nothing here prints.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use closest_index::{ListSize, Neighbours};
use closest_notes::{links_to_ids, LinkTarget};
use serde::Serialize;
use sha2::Digest;

use crate::embedding::{ensure_vectors, import_legacy};
use crate::error::{Result, Warning};
use crate::hash::TextHash;
use crate::lock::FolderLock;
use crate::prepare::{prepare_all, Prepared};
use crate::progress::Reporter;
use crate::rank::{rank, translate, Method, RankInput, SavedIndex, MARGIN};
use crate::scan::{scan, sweep, Entry};
use crate::stamp;
use crate::store::{Commit, NoteRecord, Stat, Store};
use crate::vectors::{Reset, VectorFile, VectorMeta};
use crate::write::{write_all, Done, Job, Mode};
use crate::Engine;

/// What `update` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateOptions {
    pub mode: Mode,
    /// Read every note and recompute every list, whatever the store says.
    pub full: bool,
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
    /// Notes read this run (the others were unchanged on disk).
    pub read: usize,
    /// Lists that changed; `full` when every list was recomputed.
    pub lists_updated: usize,
    pub ranking: &'static str,
    /// Notes whose section could not be written (the run exits 2).
    pub failed: usize,
    /// Seconds per step.
    pub timings: Timings,
    #[serde(skip)]
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Default, Serialize)]
pub struct Timings {
    pub scan: f64,
    pub embed: f64,
    pub rank: f64,
    pub write: f64,
}

/// One note of the run, in id order.
struct RunNote<'a> {
    entry: &'a Entry,
    prepared: Option<&'a Prepared>,
    hash: TextHash,
    row: i64,
    title: String,
    links: Vec<(String, bool)>,
}

pub(crate) fn update(
    engine: &Engine,
    options: UpdateOptions,
    reporter: &dyn Reporter,
) -> Result<UpdateReport> {
    let started = Instant::now();
    let settings = &engine.settings;
    let model = &engine.model;
    let mut report = UpdateReport {
        model: model.name().to_owned(),
        ..UpdateReport::default()
    };
    let warn = |warning: Warning, report: &mut UpdateReport| {
        reporter.warn(&warning);
        report.warnings.push(warning);
    };
    let _lock = FolderLock::acquire(&settings.state_dir, &|path| {
        reporter.note(&format!(
            "waiting for another closest run on this folder (lock `{}`)",
            path.display()
        ))
    })?;
    let (mut store, rebuilt) = Store::open(&settings.state_dir)?;
    if let Some(reason) = rebuilt {
        warn(
            Warning::StoreRebuilt {
                path: store.path().to_owned(),
                reason,
            },
            &mut report,
        );
    }

    // The vector file: a new model or preparation means embedding every note again.
    let key = model.vector_key(settings.long);
    let meta = VectorMeta::from_entries(|name| store.meta(name).ok().flatten());
    let had_vectors = !meta.key.is_empty();
    let (mut vectors, reset) = VectorFile::open(&settings.state_dir, meta, &key, model.dim());
    match &reset {
        Some(Reset::KeyChanged) if had_vectors => reporter.note(&format!(
            "model or settings changed (now {}): embedding every note again",
            model.name()
        )),
        Some(Reset::Damaged(reason)) => warn(
            Warning::Store(format!("{reason}; embedding every note again")),
            &mut report,
        ),
        _ => {}
    }
    if reset.is_some() {
        import_legacy(model, settings.long, &mut store, &mut vectors)?;
    }

    // Scan: what is on disk against what the store recorded.
    let scan_started = Instant::now();
    let stamp_before = if options.mode == Mode::Write {
        stamp::now(&settings.root)
    } else {
        None
    };
    let records = store.notes()?;
    let text_fingerprint = settings.text_fingerprint();
    let text_changed = store.meta("text")?.as_deref() != Some(text_fingerprint.as_str());
    let scanned = scan(
        settings,
        records,
        options.full || reset.is_some() || text_changed,
    )?;
    for warning in scanned.warnings {
        warn(warning, &mut report);
    }
    for warning in sweep(&scanned.temp_files) {
        warn(warning, &mut report);
    }
    let to_read: Vec<&closest_notes::NoteFile> = scanned
        .entries
        .iter()
        .filter(|entry| entry.read)
        .map(|entry| &entry.file)
        .collect();
    let (prepared, read_warnings) = prepare_all(&to_read, &settings.section, reporter);
    report.read = to_read.len();
    report.skipped = read_warnings.len();
    for warning in read_warnings {
        warn(warning, &mut report);
    }
    report.timings.scan = scan_started.elapsed().as_secs_f64();

    // The run's notes, in id order; a note that could not be read leaves the run.
    let mut next_row = store.next_row()?;
    let mut departed: Vec<NoteRecord> = scanned.departed.clone();
    let mut notes: Vec<RunNote<'_>> = Vec::with_capacity(scanned.entries.len());
    let mut prepared_iter = prepared.iter();
    for entry in &scanned.entries {
        let prepared = if entry.read {
            match prepared_iter.next().and_then(Option::as_ref) {
                Some(prepared) => Some(prepared),
                None => {
                    departed.extend(entry.record.clone());
                    continue;
                }
            }
        } else {
            None
        };
        let (hash, title, links) = match (prepared, &entry.record) {
            (Some(p), _) => (p.hash, p.title.clone(), p.links.clone()),
            (None, Some(record)) => (record.text_hash, record.title.clone(), record.links.clone()),
            (None, None) => unreachable!("a note without a record is always read"),
        };
        let row = match &entry.record {
            Some(record) => record.row,
            None => {
                next_row += 1;
                next_row - 1
            }
        };
        notes.push(RunNote {
            entry,
            prepared,
            hash,
            row,
            title,
            links,
        });
    }
    report.notes = notes.len();

    // Vectors: stored, or embedded now.
    let embed_started = Instant::now();
    let needs_vector: Vec<(TextHash, &str)> = notes
        .iter()
        .filter(|note| {
            note.entry.record.as_ref().is_none_or(|record| {
                record.text_hash != note.hash
                    || record.slot as usize >= vectors.rows()
                    || reset.is_some()
            })
        })
        .filter_map(|note| note.prepared.map(|p| (note.hash, p.text.as_str())))
        .collect();
    let (found_slots, embedded) = ensure_vectors(
        &needs_vector,
        model,
        settings.long,
        &mut store,
        &mut vectors,
        reporter,
    )?;
    report.embedded = embedded;
    let slots: Vec<u32> = notes
        .iter()
        .map(|note| match found_slots.get(&note.hash) {
            Some(slot) => *slot,
            None => note.entry.record.as_ref().map_or(0, |record| record.slot),
        })
        .collect();
    report.timings.embed = embed_started.elapsed().as_secs_f64();

    // Rank: patch the stored lists, or compute them all.
    let rank_started = Instant::now();
    let ranking_fingerprint = settings.ranking_fingerprint();
    let patchable = reset.is_none()
        && !options.full
        && store.meta("ranking")?.as_deref() == Some(ranking_fingerprint.as_str());
    let position_of_row: HashMap<i64, usize> = notes
        .iter()
        .enumerate()
        .map(|(position, note)| (note.row, position))
        .collect();
    let mut dropped_rows: HashSet<i64> = departed.iter().map(|record| record.row).collect();
    let mut changed = Vec::new();
    for (position, note) in notes.iter().enumerate() {
        let is_changed = match &note.entry.record {
            None => true,
            Some(record) => record.text_hash != note.hash || record.id != note.entry.file.id,
        };
        if is_changed {
            changed.push(position);
            dropped_rows.insert(note.row);
        }
    }
    let stored_lists = if patchable {
        store.lists()?
    } else {
        HashMap::new()
    };
    let stored: Vec<Option<Neighbours>> = notes
        .iter()
        .map(|note| {
            if dropped_rows.contains(&note.row) {
                return None;
            }
            stored_lists
                .get(&note.row)
                .and_then(|list| translate(list, &position_of_row, &dropped_rows))
        })
        .collect();
    drop(stored_lists);
    let sizes: Vec<ListSize> = notes
        .iter()
        .map(|note| {
            let need = settings.k
                + if settings.exclude_linked {
                    note.links.len()
                } else {
                    0
                };
            ListSize {
                need,
                keep: need + MARGIN,
            }
        })
        .collect();
    let rows: Vec<&[f32]> = slots.iter().map(|&slot| vectors.row(slot)).collect();
    let content_keys: Vec<u64> = notes
        .iter()
        .map(|note| content_key(&note.entry.file.id, &note.hash))
        .collect();
    let index_dir = settings.state_dir.join("index");
    let ranked = rank(
        RankInput {
            rows,
            sizes,
            stored,
            changed,
            patchable,
            index: settings.index,
            saved: Some(SavedIndex {
                dir: &index_dir,
                fingerprint: &key,
                keys: content_keys,
                save: options.mode == Mode::Write,
            }),
        },
        reporter,
    )?;
    for warning in ranked.warnings {
        warn(warning, &mut report);
    }
    report.index = match ranked.method {
        Method::Full(kind) => kind.to_string(),
        Method::Patched => closest_index::choose(settings.index, notes.len()).to_string(),
    };
    report.ranking = match ranked.method {
        Method::Full(_) => "full",
        Method::Patched => "patched",
    };
    report.index_added = ranked.index_added;
    report.index_removed = ranked.index_removed;
    report.lists_updated = ranked.touched.iter().filter(|&&touched| touched).count();
    report.timings.rank = rank_started.elapsed().as_secs_f64();

    // Write: render the final lists and rewrite the notes whose lines changed.
    let write_started = Instant::now();
    let render_fingerprint = settings.render_fingerprint();
    let targets: Vec<LinkTarget> = notes
        .iter()
        .map(|note| LinkTarget {
            id: note.entry.file.id.clone(),
            title: note.title.clone(),
            rel_path: note.entry.file.rel_path.clone(),
        })
        .collect();
    let ids: Vec<&str> = notes
        .iter()
        .map(|note| note.entry.file.id.as_str())
        .collect();
    let mut jobs = Vec::new();
    let mut rendered_now: Vec<Option<TextHash>> = vec![None; notes.len()];
    for (position, note) in notes.iter().enumerate() {
        let linked = if settings.exclude_linked {
            links_to_ids(&note.links, &note.entry.file, settings.id_scheme)
        } else {
            Default::default()
        };
        let chosen: Vec<LinkTarget> = ranked.lists[position]
            .iter()
            .filter(|neighbour| {
                neighbour.score >= settings.min_score
                    && !linked.contains(ids[neighbour.id as usize])
            })
            .take(settings.k)
            .map(|neighbour| targets[neighbour.id as usize].clone())
            .collect();
        let (_, rendered) =
            crate::write::render(settings, &render_fingerprint, &note.entry.file, &chosen);
        rendered_now[position] = Some(rendered);
        let record = note.entry.record.as_ref();
        let unchanged_since_written = note.prepared.is_none()
            && record.is_some_and(|record| record.rendered == Some(rendered) && !record.stale);
        if unchanged_since_written {
            continue;
        }
        jobs.push(Job {
            position,
            file: &note.entry.file,
            prepared: note.prepared,
            expected_hash: record.map(|record| record.text_hash),
            targets: chosen,
        });
    }
    let outcomes = write_all(jobs, settings, &render_fingerprint, options.mode, reporter);
    report.timings.write = write_started.elapsed().as_secs_f64();

    // What each note now is, for the store.
    let mut written_stat: HashMap<usize, Stat> = HashMap::new();
    let mut stale_now: HashSet<usize> = HashSet::new();
    let mut late: HashMap<usize, Prepared> = HashMap::new();
    let mut looked_at: HashSet<usize> = HashSet::new();
    for outcome in outcomes {
        looked_at.insert(outcome.position);
        let id = ids[outcome.position].to_owned();
        match outcome.done {
            Done::Current => {}
            Done::Written(stat, _) => {
                report.written += 1;
                report.stale.push(id);
                written_stat.insert(outcome.position, stat);
            }
            Done::Stale => report.stale.push(id),
            Done::Left(warning) => {
                if warning.is_write_failure() {
                    report.failed += 1;
                }
                report.stale.push(id);
                stale_now.insert(outcome.position);
                warn(warning, &mut report);
            }
        }
        if let Some(prepared) = outcome.late {
            late.insert(outcome.position, prepared);
        }
    }
    report.stale.sort();
    report.unchanged = notes.len() - report.written - stale_now.len();
    if options.mode != Mode::Write {
        report.unchanged = notes.len() - report.stale.len();
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }

    // Racy stats: a stat taken in the same timestamp tick as a later change proves nothing.
    let settled = stamp::settle(&settings.root, &written_stat, |position| {
        notes[position].entry.file.path.clone()
    });
    let mut commit = Commit::default();
    for (position, note) in notes.iter().enumerate() {
        let record = note.entry.record.as_ref();
        let prepared = note.prepared.or(late.get(&position));
        let stat = written_stat
            .get(&position)
            .copied()
            .or(note.entry.stat)
            .unwrap_or_default();
        let racy = match written_stat.get(&position) {
            Some(_) => !settled.contains(&position),
            None if prepared.is_some() || record.is_none_or(|r| r.racy) => {
                stamp_before.is_none_or(|stamp| stat.mtime_ns >= stamp)
            }
            None => false,
        };
        let rendered = if looked_at.contains(&position) && !stale_now.contains(&position) {
            rendered_now[position]
        } else if stale_now.contains(&position) {
            None
        } else {
            record.and_then(|record| record.rendered)
        };
        let updated = NoteRecord {
            row: note.row,
            path: crate::scan::rel_text(&note.entry.file.rel_path),
            id: note.entry.file.id.clone(),
            stat,
            racy,
            text_hash: note.hash,
            slot: slots[position],
            title: note.title.clone(),
            links: note.links.clone(),
            region: record.and_then(|record| record.region.clone()),
            rendered,
            stale: stale_now.contains(&position),
        };
        if record != Some(&updated) {
            commit.upserts.push(updated);
        }
    }
    commit.deletes = departed.iter().map(|record| record.row).collect();
    commit.clear_lists = !patchable;
    commit.lists = ranked
        .touched
        .iter()
        .enumerate()
        .filter(|(_, &touched)| touched)
        .map(|(position, _)| {
            let list = ranked.lists[position]
                .iter()
                .map(|neighbour| (notes[neighbour.id as usize].row, neighbour.score))
                .collect();
            (notes[position].row, list)
        })
        .collect();
    // Vectors no note uses any more: the old texts of departed and edited notes.
    let live: HashSet<TextHash> = notes.iter().map(|note| note.hash).collect();
    let mut pruned: Vec<TextHash> = departed
        .iter()
        .map(|record| record.text_hash)
        .chain(
            notes
                .iter()
                .filter_map(|note| note.entry.record.as_ref().map(|record| record.text_hash)),
        )
        .filter(|hash| !live.contains(hash))
        .collect();
    pruned.sort_unstable();
    pruned.dedup();
    report.pruned = pruned.len();
    commit.pruned = pruned;
    commit.meta = vec![
        ("text", text_fingerprint),
        ("ranking", ranking_fingerprint),
        ("next_row", next_row.to_string()),
    ];
    store.commit(&commit)?;
    crate::compact::maybe_compact(&mut store, &mut vectors, &slots)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The key a saved index knows a note by: its id and the hash of its text, so an edited note
/// is a new row and a saved index can be matched to any later run.
pub(crate) fn content_key(id: &str, hash: &TextHash) -> u64 {
    let digest = sha2::Sha256::new()
        .chain_update(id.as_bytes())
        .chain_update([0])
        .chain_update(hash)
        .finalize();
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(key)
}
