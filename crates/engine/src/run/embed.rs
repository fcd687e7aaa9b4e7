//! Step three: a vector for every note, from the vector file when its text was embedded before
//! with this model and preparation, else embedded now.
//!
//! Texts are deduplicated by hash, embedded in chunks, appended to the vector file and mapped in
//! the store chunk by chunk, so a stopped run keeps what it embedded (the kill test relies on
//! it) and a text shared by many notes is embedded once.

use std::time::Instant;

use super::Run;
use std::collections::HashMap;

use closest_embed::LongPolicy;

use crate::error::Result;
use crate::hash::TextHash;
use crate::model::Model;
use crate::progress::Reporter;
use crate::store::Store;
use crate::vectors::VectorFile;

/// Texts embedded and saved per round.
const CHUNK: usize = 256;

/// Finds or makes the vector of every text: `texts` are the (hash, text) of notes whose stored
/// slot is unknown or stale. Returns the slot of each hash and how many texts were embedded.
pub(crate) fn ensure_vectors(
    texts: &[(TextHash, &str)],
    model: &Model,
    long: LongPolicy,
    store: &mut Store,
    vectors: &mut VectorFile,
    reporter: &dyn Reporter,
) -> Result<(HashMap<TextHash, u32>, usize)> {
    let mut unique: Vec<(TextHash, &str)> = texts.to_vec();
    unique.sort_by_key(|item| item.0);
    unique.dedup_by(|a, b| a.0 == b.0);
    let hashes: Vec<TextHash> = unique.iter().map(|(hash, _)| *hash).collect();
    let mut slots = store.slots(&hashes)?;
    slots.retain(|_, slot| (*slot as usize) < vectors.rows());
    type Texts<'t> = Vec<(TextHash, &'t str)>;
    let (empty, missing): (Texts<'_>, Texts<'_>) = unique
        .into_iter()
        .filter(|(hash, _)| !slots.contains_key(hash))
        .partition(|(_, text)| text.is_empty());
    if let Some(&(hash, _)) = empty.first() {
        // A note with too little text of its own has the zero vector: near nothing.
        let new_slots = vectors.append(&[vec![0.0; vectors.dim()]])?;
        let mapped = [(hash, new_slots[0])];
        store.add_vectors(&mapped, &vectors.meta().entries())?;
        slots.extend(mapped);
    }
    if missing.is_empty() {
        return Ok((slots, 0));
    }
    let bar = reporter.bar("embedding", missing.len() as u64);
    for chunk in missing.chunks(CHUNK) {
        let chunk_texts: Vec<&str> = chunk.iter().map(|(_, text)| *text).collect();
        // The bar moves as each batch of the model finishes, not once per chunk.
        let mut embedded =
            model.embed_documents(&chunk_texts, long, reporter, &|texts| bar.inc(texts as u64))?;
        // Unit length is the index's contract; models without a Normalize module still
        // compare by cosine.
        embedded
            .iter_mut()
            .for_each(|vector| closest_embed::normalize(vector));
        let new_slots = vectors.append(&embedded)?;
        let mapped: Vec<(TextHash, u32)> =
            chunk.iter().map(|(hash, _)| *hash).zip(new_slots).collect();
        store.add_vectors(&mapped, &vectors.meta().entries())?;
        slots.extend(mapped);
    }
    bar.finish();
    Ok((slots, missing.len()))
}

/// Copies the vectors a version-1 store kept into the vector file (once, on the first run
/// after the migration).
pub(crate) fn import_legacy(
    model: &Model,
    long: LongPolicy,
    store: &mut Store,
    vectors: &mut VectorFile,
) -> Result<usize> {
    let legacy = store.legacy_vectors(
        &model.fingerprint,
        &long.to_string(),
        model.config.document_prompt().unwrap_or(""),
    )?;
    let usable: Vec<(TextHash, Vec<f32>)> = legacy
        .into_iter()
        .filter(|(_, vector)| vector.len() == vectors.dim())
        .collect();
    let rows: Vec<Vec<f32>> = usable
        .iter()
        .map(|(_, vector)| {
            let mut vector = vector.clone();
            closest_embed::normalize(&mut vector);
            vector
        })
        .collect();
    let slots = vectors.append(&rows)?;
    let mapped: Vec<(TextHash, u32)> = usable.iter().map(|(hash, _)| *hash).zip(slots).collect();
    store.add_vectors(&mapped, &vectors.meta().entries())?;
    Ok(mapped.len())
}

/// Stores a vector made by `vector_of` for every note's text that has none, without the model:
/// benchmarks fill a large folder this way (embedding a million notes takes hours here) and
/// then time the real incremental runs. Returns how many texts were filled.
pub(crate) fn prefill(
    engine: &crate::Engine,
    vector_of: &(dyn Fn(&str) -> Vec<f32> + Sync),
    reporter: &dyn Reporter,
) -> Result<usize> {
    use rayon::prelude::*;

    let settings = engine.settings();
    let model = engine.model();
    let _lock = crate::lock::FolderLock::acquire(&settings.state_dir, &|_| {})?;
    let (mut store, _) = Store::open(&settings.state_dir)?;
    let key = model.vector_key(settings.long);
    let meta = crate::vectors::VectorMeta::from_entries(|name| store.meta(name).ok().flatten());
    let (mut vectors, _) = VectorFile::open(&settings.state_dir, meta, &key, model.dim());
    let walked = closest_notes::walk(&settings.root, &settings.walk_options())?;
    let files: Vec<(
        &closest_notes::NoteFile,
        Option<closest_notes::WrittenRegion>,
    )> = walked.notes.iter().map(|file| (file, None)).collect();
    let region = settings.region();
    let placement = crate::run::read::Placement {
        section: &settings.section,
        region: &region,
        migrate_from: None,
        old_regions: &[],
        learned: None,
    };
    let (mut prepared, _) = crate::run::read::prepare_all(&files, placement, reporter);
    // Learned here as the first update would, and kept, so that update finds these texts.
    let learned = crate::run::read::learn_from(&mut prepared);
    crate::lockfile::Folder::open(settings, &mut Vec::new())
        .after(&learned, None)
        .save(&settings.root)?;
    let mut texts: Vec<(TextHash, &str)> = prepared
        .iter()
        .flatten()
        .map(|p| (p.hash, p.text.as_str()))
        .collect();
    texts.sort_by_key(|item| item.0);
    texts.dedup_by_key(|item| item.0);
    let hashes: Vec<TextHash> = texts.iter().map(|(hash, _)| *hash).collect();
    let known = store.slots(&hashes)?;
    let missing: Vec<(TextHash, &str)> = texts
        .into_iter()
        .filter(|(hash, _)| !known.contains_key(hash))
        .collect();
    let dim = vectors.dim();
    for chunk in missing.chunks(65_536) {
        let rows: Vec<Vec<f32>> = chunk
            .par_iter()
            .map(|(_, text)| {
                if text.is_empty() {
                    return vec![0.0; dim];
                }
                let mut vector = vector_of(text);
                closest_embed::normalize(&mut vector);
                vector
            })
            .collect();
        let slots = vectors.append(&rows)?;
        let mapped: Vec<(TextHash, u32)> = chunk.iter().map(|(hash, _)| *hash).zip(slots).collect();
        store.add_vectors(&mapped, &vectors.meta().entries())?;
    }
    Ok(missing.len())
}

impl<'a> Run<'a> {
    /// Gives every note a vector slot: stored, or embedded now.
    pub(super) fn ensure_vectors(&mut self) -> Result<()> {
        let started = Instant::now();
        let rows = self.vectors.rows();
        let needs_vector: Vec<(TextHash, &str)> = self
            .notes
            .iter()
            .enumerate()
            .filter(|&(position, _)| self.needs_vector(position, rows))
            .map(|(_, note)| note)
            .filter_map(|note| {
                note.read
                    .as_ref()
                    .map(|read| (note.hash, read.text.as_str()))
            })
            .collect();
        let settings = self.engine.settings();
        let (slots, embedded) = ensure_vectors(
            &needs_vector,
            self.engine.model(),
            settings.long,
            &mut self.store,
            &mut self.vectors,
            self.reporter,
        )?;
        for note in &mut self.notes {
            if let Some(&slot) = slots.get(&note.hash) {
                note.slot = slot;
            }
            // Every text has its vector now; a million of them need not wait for the writes.
            if let Some(read) = &mut note.read {
                read.text = String::new();
            }
        }
        self.report.embedded = embedded;
        self.report.timings.embed = started.elapsed().as_secs_f64();
        Ok(())
    }
}
