//! `status`: the folder against its store, and what the next `update` would do.
//!
//! It runs the same scan as `update`, reads only the notes that changed on disk (to tell a
//! touched file from a changed text), and looks their texts up among the stored vectors; it
//! never embeds, ranks or writes.

use std::collections::HashSet;

use serde::Serialize;

use crate::error::Result;
use crate::progress::Reporter;
use crate::run::previous_region;
use crate::run::read::{prepare_all, Placement};
use crate::run::scan::scan;
use crate::store::Store;
use crate::vectors::{VectorFile, VectorMeta};
use crate::Engine;

/// The state of a folder and the work its next update would do.
#[derive(Debug, Default, Serialize)]
pub struct Plan {
    pub root: String,
    pub notes: usize,
    pub unreadable: usize,
    /// Notes whose current text has a stored vector.
    pub embedded: usize,
    /// Notes new or changed since the last update (their text to embed differs), and notes
    /// whose last write failed or was held.
    pub stale: usize,
    /// Stored vectors no note uses.
    pub orphaned_rows: usize,
    pub model: String,
    pub model_fingerprint: String,
    pub store_bytes: u64,
    /// The next update: notes it reads, texts it embeds, notes that left.
    pub to_read: usize,
    pub to_embed: usize,
    pub departed: usize,
    /// Lists the next update recomputes or patches at least (changed notes and the notes
    /// that list a departed or changed note); every list when `full_ranking`.
    pub lists_to_update: usize,
    pub full_ranking: bool,
    /// Note-template folders left out (Obsidian's, Templater's).
    pub template_folders: Vec<String>,
}

pub(crate) fn plan(engine: &Engine, reporter: &dyn Reporter) -> Result<Plan> {
    let settings = engine.settings();
    let model = engine.model();
    // Read only: before the first update, a plan against a store of nothing.
    let store = match Store::open_reader(&settings.state_dir)? {
        Some(store) => store,
        None => Store::empty()?,
    };
    let key = model.vector_key(settings.long);
    let meta = VectorMeta::from_entries(|name| store.meta(name).ok().flatten());
    let (vectors, reset) = VectorFile::open(&settings.state_dir, meta, &key, model.dim());
    let text_changed = store.meta(crate::store::Meta::Text)?.as_deref()
        != Some(settings.text_fingerprint().as_str());
    // What the next run prepares with; without kept statistics it learns them and reads all.
    let folder = crate::lockfile::Folder::open(settings, &mut Vec::new());
    let learned = folder.learned.clone();
    let learned_moved = store.meta(crate::store::Meta::Learned)?.as_deref()
        != learned.as_ref().map(|l| l.id.as_str());
    let mut scanned = scan(
        settings,
        || store.notes_without_details(),
        reset.is_some() || text_changed || learned_moved || !folder.old_regions.is_empty(),
    )?;
    let read: Vec<usize> = (0..scanned.entries.len())
        .filter(|&position| scanned.entries[position].read)
        .collect();
    scanned.records.fill(&store, read)?;
    let to_read: Vec<(
        &closest_notes::NoteFile,
        Option<closest_notes::WrittenRegion>,
    )> = scanned
        .entries
        .iter()
        .enumerate()
        .filter(|(_, entry)| entry.read)
        .map(|(position, entry)| (&entry.file, previous_region(scanned.records.get(position))))
        .collect();
    let region = settings.region();
    let migrate_from = settings.migrate_from();
    let placement = Placement {
        section: &folder.section,
        region: &region,
        migrate_from: migrate_from.as_ref(),
        old_regions: &folder.old_regions,
        learned: learned.as_ref(),
    };
    let (prepared, _) = prepare_all(&to_read, placement, reporter);
    let read_hashes: Vec<_> = prepared.iter().flatten().map(|p| p.hash).collect();
    let known = if reset.is_some() {
        Default::default()
    } else {
        store.slots(&read_hashes)?
    };

    let mut plan = Plan {
        root: settings.root.display().to_string(),
        notes: scanned.entries.len(),
        model: model.name().to_owned(),
        model_fingerprint: model.fingerprint.clone(),
        to_read: to_read.len(),
        departed: scanned.departed.len(),
        template_folders: scanned
            .template_folders
            .iter()
            .map(|folder| folder.path.display().to_string())
            .collect(),
        ..Plan::default()
    };
    let mut live = HashSet::new();
    let mut changed_rows: HashSet<i64> = scanned.departed.iter().map(|record| record.row).collect();
    let mut prepared_iter = prepared.iter();
    for (position, entry) in scanned.entries.iter().enumerate() {
        let record = scanned.records.get(position);
        let hash = if entry.read {
            match prepared_iter.next().and_then(Option::as_ref) {
                Some(prepared) => prepared.hash,
                None => {
                    plan.unreadable += 1;
                    continue;
                }
            }
        } else {
            match record {
                Some(record) => record.text_hash,
                None => continue,
            }
        };
        live.insert(hash);
        let changed =
            record.is_none_or(|record| record.text_hash != hash || record.id != entry.file.id);
        // A note whose last write failed (or was held) is stale too, as `--check` says.
        let unwritten = record.is_some_and(|record| record.stale);
        if changed || unwritten {
            plan.stale += 1;
        }
        if changed {
            if let Some(record) = record {
                changed_rows.insert(record.row);
            }
        }
        let has_vector = match record {
            Some(record) if record.text_hash == hash && reset.is_none() => {
                (record.slot as usize) < vectors.rows()
            }
            _ => known.contains_key(&hash),
        };
        if has_vector {
            plan.embedded += 1;
        }
    }
    let unique_unembedded: HashSet<_> = scanned
        .entries
        .iter()
        .filter(|entry| entry.read)
        .zip(&prepared)
        .filter_map(|(_, p)| p.as_ref())
        .filter(|p| !known.contains_key(&p.hash))
        .map(|p| p.hash)
        .collect();
    plan.to_embed = if reset.is_some() {
        live.len()
    } else {
        unique_unembedded.len()
    };
    plan.orphaned_rows = store
        .vector_count()?
        .saturating_sub(live.len().min(store.vector_count()?));
    let ranking = match &learned {
        Some(learned) => crate::run::ranking_fingerprint(settings, learned),
        None => String::new(),
    };
    plan.full_ranking = reset.is_some()
        || store.meta(crate::store::Meta::Ranking)?.as_deref() != Some(ranking.as_str());
    plan.lists_to_update = if plan.full_ranking {
        plan.notes
    } else {
        // Lists holding a changed or departed note, streamed (a million lists are not held)
        // and not read at all when nothing changed.
        let mut listing = 0;
        if !changed_rows.is_empty() {
            store.each_list(|_, entries| {
                for (row, _) in entries {
                    if changed_rows.contains(&row) {
                        listing += 1;
                        break;
                    }
                }
            })?;
        }
        listing + plan.stale
    };
    plan.store_bytes = ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", store.path().display())).ok())
        .map(|meta| meta.len())
        .sum::<u64>()
        + std::fs::metadata(settings.state_dir.join(&vectors.meta().file))
            .map(|meta| meta.len())
            .unwrap_or(0);
    Ok(plan)
}
