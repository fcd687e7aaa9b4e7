//! Step four: every note's raw candidate list, the exact best k + margin other notes.
//!
//! Rows are the run's notes in id order, so an index's ties by row are ties by note id. A list
//! is recomputed only where it must be: all of them on the first run, after a change of the
//! ranking settings or the vectors, or when the changes are so many that one all-pairs pass is
//! cheaper than patching (measured costs, below); otherwise the stored lists are patched with
//! `closest_index::patch`, which costs (changed notes) × N and gives the same lists bit for bit.
//!
//! `--index hnsw` keeps an HNSW graph of the folder in `<state>/index/` for `similar`: it is
//! patched every run (rows of departed and changed notes retired, new ones inserted), and its
//! all-pairs walk makes the lists of a full ranking.

use std::path::Path;

use closest_index::{
    choose, new_index, patch_taking, persist, ConcreteKind, HnswParams, Lexical, ListEnd, ListSize,
    Neighbours, PatchStats, VectorIndex,
};

use crate::error::{Result, Warning};
use crate::progress::Reporter;
use crate::run::stored_lists::StoredLists;

/// Candidates kept beyond what a note shows, so that a few departures do not force a rescan.
pub(crate) const MARGIN: usize = 8;

/// Measured costs on the 2-vCPU build machine at 384 dimensions (BENCHMARKS.md): patching
/// scans (changed + rescanned) × N pairs with the canonical dot; Exact's all-pairs computes
/// N² / 2 pairs in matrix products plus rescoring; the k-nearest graph costs about this much
/// per row on real note vectors (9.7 s at 100,000 rows). `rank` patches when that is cheaper
/// than computing every list again with the method `auto` would use.
const PATCH_SECONDS_PER_PAIR: f64 = 60e-9;
const ALL_PAIRS_SECONDS_PER_PAIR: f64 = 8.5e-9;
const GRAPH_SECONDS_PER_ROW: f64 = 100e-6;

/// Lexical matches rescored per row when the cosine lists come from the k-nearest graph or
/// HNSW (approximate already); an exact ranking rescores every match that could enter.
const LEXICAL_MATCHES_APPROXIMATE: usize = 64;

/// How the lists of this run were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// Every list computed afresh by the index.
    Full(ConcreteKind),
    /// Stored lists patched.
    Patched,
}

/// The lists of the run, by position: every one after a full ranking; after a patch, those
/// that changed (the rest stay in `stored` until the writing asks for them).
#[derive(Debug)]
pub(crate) struct Ranked {
    pub lists: Vec<Option<Neighbours>>,
    /// The stored lists a patch left where they are.
    pub stored: Option<StoredLists>,
    /// Lists that differ from the stored ones (all of them after a full ranking).
    pub touched: Vec<bool>,
    pub method: Method,
    /// Rows the saved HNSW index gained and lost (`None`: built afresh, or no HNSW).
    pub index_added: Option<usize>,
    pub index_removed: Option<usize>,
    /// The lexical side, when `rank` made it (a deferred one).
    pub lexical: Option<Lexical>,
    pub warnings: Vec<Warning>,
}

/// What the ranking step needs to know about the run.
pub(crate) struct RankInput<'a> {
    /// Unit vectors by position.
    pub rows: Vec<&'a [f32]>,
    /// The same vectors where they lie (the vector file), for the graph builder to read in
    /// place.
    pub matrix: Option<Matrix<'a>>,
    pub sizes: Vec<ListSize>,
    /// Stored lists translated to positions (a note without one needs a fresh list).
    pub stored: StoredLists,
    /// Positions whose vector or id is new to the stored lists.
    pub changed: Vec<usize>,
    /// The lexical side of a hybrid similarity.
    pub lexical: LexicalSide<'a>,
    /// Whether the stored lists are patched (`Run::decide`), or every list computed.
    pub patch: bool,
    pub index: closest_index::IndexKind,
    /// For the saved HNSW index: each position's content key, the folder and the key of
    /// what its vectors were made with, and whether to save it.
    pub saved: Option<SavedIndex<'a>>,
    /// Called with each block of positions a patch has read through (`patch_with`).
    pub passed: &'a (dyn Fn(std::ops::Range<usize>) + Sync),
}

/// Every vector of a run in one row-major buffer.
#[derive(Clone, Copy)]
pub(crate) struct Matrix<'a> {
    pub data: &'a [f32],
    /// Each position's row of `data`; `None` when position p is row p.
    pub slots: Option<&'a [u32]>,
    /// Lets rows of `data` leave memory once the graph builder has passed them (all of them
    /// between its stages, when the caller also hands back what the stage before freed).
    pub release: &'a (dyn Fn(std::ops::Range<usize>) + Sync),
    /// Reads a row of `data` by its number, for the passes that read rows at random (the
    /// graph's rescoring, the fusion): through the map they would bring all of a large file
    /// into memory (`closest_index::Fetch`).
    pub fetch: Option<&'a closest_index::Fetch<'a>>,
}

/// The lexical side of a hybrid similarity, for `rank`.
pub(crate) enum LexicalSide<'a> {
    /// Cosine alone.
    None,
    /// Made already (a patch's partial side).
    Made(&'a Lexical),
    /// Made when it is needed: a full ranking makes the cosine lists first, so that the graph
    /// builder and the inverted index of a large folder are never in memory together.
    Deferred(Box<dyn FnOnce() -> Result<Lexical> + 'a>),
}

impl<'a> LexicalSide<'a> {
    /// The side, made now if it was deferred (into `made`).
    fn get<'s>(self, made: &'s mut Option<Lexical>) -> Result<Option<&'s Lexical>>
    where
        'a: 's,
    {
        Ok(match self {
            LexicalSide::None => None,
            LexicalSide::Made(lexical) => Some(lexical),
            LexicalSide::Deferred(make) => Some(&*made.insert(make()?)),
        })
    }
}

pub(crate) struct SavedIndex<'a> {
    pub dir: &'a Path,
    pub fingerprint: &'a str,
    pub keys: Vec<u64>,
    pub save: bool,
}

/// Ranks the run's notes.
pub(crate) fn rank(input: RankInput<'_>, reporter: &dyn Reporter) -> Result<Ranked> {
    let n = input.rows.len();
    let kind = choose(input.index, n);
    let mut warnings = Vec::new();
    let (hnsw, index_added, index_removed) = match (&input.saved, kind) {
        (Some(saved), ConcreteKind::Hnsw) if n > 0 => {
            let synced = persist::sync_hnsw(
                saved.dir,
                saved.fingerprint,
                &saved.keys,
                &input.rows,
                HnswParams::default(),
                saved.save,
            )?;
            warnings.extend(synced.warnings.into_iter().map(|reason| match reason {
                persist::SyncWarning::Rebuilt(reason) => Warning::IndexRebuilt { reason },
                persist::SyncWarning::NotSaved(reason) => Warning::IndexNotSaved { reason },
            }));
            (Some(synced.index), synced.added, synced.removed)
        }
        _ => (None, None, None),
    };

    let bar = reporter.bar("ranking", 1);
    let mut made = None;
    let fresh = fresh_lists(&input.stored, &input.changed);
    let ranked = if input.patch {
        let lexical = input.lexical.get(&mut made)?;
        let mut stored = input.stored;
        let changed = fresh;
        // One pass over every row knowing only where each stored list ends; the lists
        // offered something, and those left too short, are then taken out and patched. Those
        // that lost entries to departures are out already and changed anyway.
        let mut is_changed = vec![false; n];
        for &position in &changed {
            is_changed[position] = true;
        }
        let ends: Vec<ListEnd> = (0..n)
            .map(|position| {
                if is_changed[position] {
                    ListEnd::default()
                } else {
                    stored.end(position)
                }
            })
            .collect();
        let mut lists: Vec<Option<Neighbours>> = vec![None; n];
        let mut shrunk = vec![false; n];
        for (position, list) in lists.iter_mut().enumerate() {
            if !is_changed[position] && stored.is_shrunk(position) {
                *list = stored.take(position);
                shrunk[position] = true;
            }
        }
        let PatchStats { touched, .. } = patch_taking(
            closest_index::Scorer {
                rows: &input.rows,
                lexical,
            },
            &ends,
            &mut lists,
            &changed,
            &input.sizes,
            input.passed,
            |position| stored.take(position).unwrap_or_default(),
        );
        let touched = touched
            .into_iter()
            .zip(shrunk)
            .map(|(touched, shrunk)| touched || shrunk)
            .collect();
        Ranked {
            lists,
            stored: Some(stored),
            touched,
            method: Method::Patched,
            index_added,
            index_removed,
            lexical: None,
            warnings,
        }
    } else {
        let keep = input.sizes.iter().map(|size| size.keep).max().unwrap_or(0);
        let lists = match (hnsw, kind) {
            (Some(index), _) => all_pairs(&index, keep, n)?,
            (None, ConcreteKind::Graph) => graph(&input.rows, input.matrix, keep)?,
            (None, kind) => all_pairs(&build(kind, &input.rows)?, keep, n)?,
        };
        // What the graph builder freed is handed back before the lexical side is made.
        crate::trim::give_back_freed();
        let lists: Vec<Neighbours> = lists
            .into_iter()
            .zip(&input.sizes)
            .map(|(mut list, size)| {
                list.truncate(size.keep);
                list
            })
            .collect();
        // The best by cosine, widened by the rows sharing a word and rescored (exact when the
        // cosine lists are: `closest_index::lexical`).
        let lists = match input.lexical.get(&mut made)? {
            Some(lexical) => {
                let keeps: Vec<usize> = input.sizes.iter().map(|size| size.keep).collect();
                // The graph's lists are approximate: its rows take their best lexical matches
                // only (`LEXICAL_MATCHES_APPROXIMATE`), Exact's every one that could enter.
                let widest = (kind != ConcreteKind::Exact).then_some(LEXICAL_MATCHES_APPROXIMATE);
                let fetch = input.matrix.and_then(|matrix| {
                    let fetch = matrix.fetch?;
                    Some(move |position: usize, out: &mut [f32]| {
                        let slot = matrix
                            .slots
                            .map_or(position, |slots| slots[position] as usize);
                        fetch(slot, out)
                    })
                });
                let fused = lexical.fuse_lists_reading(
                    &input.rows,
                    fetch
                        .as_ref()
                        .map(|fetch| fetch as &closest_index::Fetch<'_>),
                    lists,
                    &keeps,
                    widest,
                );
                // Every row was read again for the fused scores; the writing reads them as it
                // goes.
                (input.passed)(0..n);
                fused
            }
            None => lists,
        };
        Ranked {
            lists: lists.into_iter().map(Some).collect(),
            stored: None,
            touched: vec![true; n],
            method: Method::Full(kind),
            index_added,
            index_removed,
            lexical: None,
            warnings,
        }
    };
    bar.finish();
    Ok(Ranked {
        lexical: made,
        ..ranked
    })
}

/// The positions whose lists a patch makes from nothing, sorted: the changed notes' and
/// those with no usable stored list.
pub(crate) fn fresh_lists(stored: &StoredLists, changed: &[usize]) -> Vec<usize> {
    let mut fresh: Vec<usize> = (0..stored.positions())
        .filter(|&position| !stored.has(position))
        .chain(changed.iter().copied())
        .collect();
    fresh.sort_unstable();
    fresh.dedup();
    fresh
}

/// Whether `rank` patches the stored lists (they can be used, and patching the `fresh` lists
/// made from nothing costs less than computing all `n` lists again with `kind`), or computes
/// them all.
pub(crate) fn patches(patchable: bool, n: usize, fresh: usize, kind: ConcreteKind) -> bool {
    let patch_seconds = fresh as f64 * n as f64 * PATCH_SECONDS_PER_PAIR;
    let full_seconds = match kind {
        ConcreteKind::Graph => n as f64 * GRAPH_SECONDS_PER_ROW,
        _ => n as f64 * n as f64 / 2.0 * ALL_PAIRS_SECONDS_PER_PAIR,
    };
    patchable && patch_seconds < full_seconds
}

/// Every row's `keep` nearest by the k-nearest graph builder, on the vector file in place
/// (through the notes' slots) when there is one, its `release` letting the rows' pages go as
/// the builder passes them; else on a gathered copy.
fn graph(rows: &[&[f32]], matrix: Option<Matrix<'_>>, keep: usize) -> Result<Vec<Neighbours>> {
    let n = rows.len();
    if n < 2 {
        return Ok(vec![Vec::new(); n]);
    }
    let dim = rows[0].len();
    let gathered;
    let matrix = match matrix {
        Some(matrix) => matrix,
        None => {
            gathered = rows.concat();
            Matrix {
                data: &gathered,
                slots: None,
                release: &|_| {},
                fetch: None,
            }
        }
    };
    let ids: Vec<u64> = (0..n as u64).collect();
    let (lists, _) = closest_index::knn_graph_of(
        closest_index::GraphRows {
            data: matrix.data,
            dim,
            slots: matrix.slots,
            release: matrix.release,
            fetch: matrix.fetch,
        },
        &ids,
        keep.min(n - 1),
        &closest_index::KnnParams::default(),
    )?;
    Ok(lists)
}

fn build(kind: ConcreteKind, rows: &[&[f32]]) -> Result<closest_index::Index> {
    let dim = rows.first().map_or(1, |row| row.len());
    let mut index = new_index(kind, dim, HnswParams::default())?;
    let batch: Vec<(u64, &[f32])> = rows
        .iter()
        .enumerate()
        .map(|(position, row)| (position as u64, *row))
        .collect();
    index.add(&batch)?;
    Ok(index)
}

/// Every row's `keep` nearest others, by position; rows are keyed by position.
fn all_pairs(index: &dyn VectorIndex, keep: usize, n: usize) -> Result<Vec<Neighbours>> {
    let mut lists: Vec<Neighbours> = vec![Vec::new(); n];
    if n < 2 {
        return Ok(lists);
    }
    for (position, list) in index.all_pairs(keep.min(n - 1))? {
        lists[position as usize] = list;
    }
    Ok(lists)
}
