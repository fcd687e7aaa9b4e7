//! The k-nearest graph of a large corpus: every row's k nearest other rows, for the cold
//! `update` of a big folder, without the n² cost of the exact product.
//!
//! A stream of queries (HNSW) pays for a navigable structure nobody navigates afterwards; the
//! graph is built directly instead. 2-means trees cut the rows into leaves that are joined
//! exactly with matrix products (`forest`); how well the first few trees did, measured on a
//! sample, picks the rest of the build: data they cut well (clean clusters) descends from
//! narrow lists with sampled joins, data they cut badly (sentence embeddings) gets more trees
//! and wide lists joined whole. NN-descent rounds then improve every list from its
//! neighbours' lists (`descent`), widening the lists while a sampled recall check falls short
//! of `target_recall`, then every kept candidate is re-scored with the crate's one `dot` and
//! ordered score first, id second (`finish`), so the lists read exactly like
//! Exact's, differing only where the graph missed a neighbour (recall is measured in tests and
//! `BENCHMARKS.md`). Everything is seeded by position, never by thread timing, so the same rows
//! and parameters give the same bytes on any number of threads.
//!
//! Where the method cannot be trusted it falls back to Exact: small corpora (Exact is faster
//! there anyway), k close to the row count, and rows whose kept candidates all tie at the k-th
//! score (duplicates beyond the list width: the approximate lists cannot tell which ids win the
//! tie), which are recomputed exactly; if that is more than a quarter of the rows, the whole
//! corpus is (all-identical vectors). Every build also checks a sample of rows against Exact;
//! if its recall falls below `min_recall` (0.9 by default), the whole corpus is answered by
//! Exact, at Exact's cost.

mod descent;
mod finish;
mod forest;
mod index;
mod lists;
mod packed;
mod params;
mod sets;

use std::ops::Range;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Subject};
use crate::exact::{top_k_of_rows, top_k_of_rows_passing};
use crate::recall::sample_rows;
use crate::rows::{validate, Fetch, RowsView, MAX_ROWS};
use crate::Neighbours;
use finish::{estimate_recall, finish};
pub use index::KnnGraph;
use lists::Lists;
use packed::{Packed, RowSource, Sketch};
pub use params::KnnParams;
use params::MAX_SAMPLE;

/// What a build did, for benchmarks and logs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KnnReport {
    /// Whether the whole corpus was answered by Exact (small corpus, large k, ties).
    pub exact: bool,
    /// List entries changed by each NN-descent round.
    pub rounds: Vec<usize>,
    /// Recall@k of the first `n_trees` trees alone on the sampled rows.
    pub forest_recall: Option<f64>,
    /// Trees whose leaves seeded the lists (`n_trees`, or `max_trees` for data the first trees
    /// cut badly).
    pub trees: usize,
    /// List width of each descent stage (the lists widen while the sampled recall is short).
    pub widths: Vec<usize>,
    /// Rows recomputed exactly because their candidates tied beyond the list width.
    pub exact_rows: usize,
    /// Recall@k of the graph on `check_rows` sampled rows after the last stage, before the
    /// fallback decision.
    pub estimated_recall: Option<f64>,
    pub forest_seconds: f64,
    pub descent_seconds: f64,
    pub finish_seconds: f64,
}

/// Every row's k nearest other rows (itself excluded; fewer when there are fewer other rows),
/// in input row order. `rows` is row-major, `dim` wide, unit length; `ids` names the rows and
/// breaks ties. Scores are exact cosines from the crate's `dot`, ordered like Exact's.
pub fn knn_graph(
    rows: &[f32],
    dim: usize,
    ids: &[u64],
    k: usize,
    params: &KnnParams,
) -> Result<Vec<Neighbours>, Error> {
    knn_graph_report(rows, dim, ids, k, params).map(|(lists, _)| lists)
}

/// `knn_graph`, with what the build did.
pub fn knn_graph_report(
    rows: &[f32],
    dim: usize,
    ids: &[u64],
    k: usize,
    params: &KnnParams,
) -> Result<(Vec<Neighbours>, KnnReport), Error> {
    knn_graph_of(
        GraphRows {
            data: rows,
            dim,
            slots: None,
            release: &|_| {},
            fetch: None,
        },
        ids,
        k,
        params,
    )
}

/// The rows a graph build reads in place. Row i is `data`'s row `slots[i]` (rows that share a
/// vector, or a file holding rows nobody uses, need no gathered copy), or `data`'s row i
/// without `slots`. `release` is called with ranges of `data`'s rows the build has passed (a
/// caller whose rows are a memory-mapped file drops their pages there): the build reads the
/// rows front to back, block by block, until its packed copy exists, and the final pass lets
/// them go as it goes, so at most a few blocks of them are held beside the copy. `fetch`, when
/// given, reads the rows of the passes that jump about them (the rescorings that end a build),
/// where a map would bring all of a large file in.
pub struct GraphRows<'a> {
    pub data: &'a [f32],
    pub dim: usize,
    pub slots: Option<&'a [u32]>,
    pub release: &'a (dyn Fn(Range<usize>) + Sync),
    pub fetch: Option<&'a Fetch<'a>>,
}

/// `knn_graph_report` on rows where they lie (`GraphRows`); the lists are the same bits
/// whatever the slots, releases and fetch.
pub fn knn_graph_of(
    rows: GraphRows<'_>,
    ids: &[u64],
    k: usize,
    params: &KnnParams,
) -> Result<(Vec<Neighbours>, KnnReport), Error> {
    let GraphRows {
        data,
        dim,
        slots,
        release,
        fetch,
    } = rows;
    params.validate()?;
    let rows = RowsView {
        dim,
        data,
        ids,
        slots,
        fetch,
    };
    let released = Released { rows, release };
    check_rows_passing(rows, &released)?;
    Ok(build(rows, k, params, &released))
}

/// Lets go of the rows a build has passed, as ranges of the caller's rows.
pub(crate) struct Released<'r> {
    rows: RowsView<'r>,
    release: &'r (dyn Fn(Range<usize>) + Sync),
}

impl<'r> Released<'r> {
    /// Rows nobody lets go of.
    pub(crate) fn never(rows: RowsView<'r>) -> Self {
        Released {
            rows,
            release: &|_| {},
        }
    }
}

impl Released<'_> {
    /// Rows `range` (the build's row numbers) were passed.
    fn passed(&self, range: Range<usize>) {
        match self.rows.slots {
            None => (self.release)(range),
            Some(slots) => {
                let slots = &slots[range];
                if let (Some(low), Some(high)) = (slots.iter().min(), slots.iter().max()) {
                    (self.release)(*low as usize..*high as usize + 1);
                }
            }
        }
    }

    /// Every row was read again.
    fn all(&self) {
        (self.release)(0..self.rows.data.len() / self.rows.dim.max(1));
    }
}

/// The exact k nearest other rows of each of `query_rows` (row numbers into `rows`), in that
/// order: Exact's blocked product on a caller's slice, without copying it into an index. The
/// reference for sampled recall, and the m × N step of an incremental update.
pub fn exact_neighbours_of_rows(
    rows: &[f32],
    dim: usize,
    ids: &[u64],
    query_rows: &[usize],
    k: usize,
) -> Result<Vec<Neighbours>, Error> {
    check_rows(rows, dim, ids)?;
    if let Some(&row) = query_rows.iter().find(|&&row| row >= ids.len()) {
        return Err(Error::RowOutOfRange {
            row,
            n_rows: ids.len(),
        });
    }
    Ok(top_k_of_rows(
        RowsView {
            dim,
            data: rows,
            ids,
            slots: None,
            fetch: None,
        },
        query_rows,
        k,
    ))
}

/// Checks shape, values and unique ids before any work, as `add` does for an index.
fn check_rows(rows: &[f32], dim: usize, ids: &[u64]) -> Result<(), Error> {
    let rows = RowsView {
        dim,
        data: rows,
        ids,
        slots: None,
        fetch: None,
    };
    check_rows_passing(rows, &Released::never(rows))
}

/// `check_rows` for a view, block by block, each block let go once checked.
fn check_rows_passing(rows: RowsView<'_>, released: &Released<'_>) -> Result<(), Error> {
    let (dim, ids) = (rows.dim, rows.ids);
    if dim == 0 {
        return Err(Error::InvalidDimension { dim });
    }
    let stored = rows.data.len() / dim;
    let fits = match rows.slots {
        None => rows.data.len() == ids.len() * dim,
        Some(slots) => {
            rows.data.len().is_multiple_of(dim)
                && slots.len() == ids.len()
                && slots.iter().all(|&slot| (slot as usize) < stored)
        }
    };
    if !fits {
        return Err(Error::RowCount {
            values: rows.data.len(),
            ids: ids.len(),
            dim,
        });
    }
    if ids.len() > MAX_ROWS {
        return Err(Error::TooManyRows {
            n_rows: ids.len(),
            max: MAX_ROWS,
        });
    }
    let starts: Vec<usize> = (0..ids.len()).step_by(CHECK_ROWS).collect();
    starts.par_iter().try_for_each(|&first| {
        let end = (first + CHECK_ROWS).min(ids.len());
        for (row, &id) in (first..end).zip(&ids[first..end]) {
            validate(rows.row(row), dim, Subject::Row { id })?;
        }
        released.passed(first..end);
        Ok::<(), Error>(())
    })?;
    let mut sorted = ids.to_vec();
    sorted.par_sort_unstable();
    if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(Error::DuplicateId { id: pair[0] });
    }
    Ok(())
}

/// Rows checked per task before they are let go.
const CHECK_ROWS: usize = 16_384;

/// Most list entries of all rows together: the lists, their join sets and proposals grow with
/// it. At 1,000,000 rows it caps the lists at 32, the width measured at a 3.8 GiB peak there
/// (BENCHMARKS.md); the default `max_list_size` (24) stays below it up to 1,333,333 rows.
const LIST_ENTRIES_BUDGET: usize = 32_000_000;

/// Most entries (rows × width) joined whole, unsampled, when the build starts wide: measured
/// at 100,000 rows × 36 (BENCHMARKS.md), so about 166,000 rows at the default width of 24;
/// larger corpora start wide with the sample scaled instead.
const FULL_JOIN_BUDGET: usize = 4_000_000;

/// The build on checked rows.
pub(crate) fn build(
    rows: RowsView<'_>,
    k: usize,
    params: &KnnParams,
    released: &Released<'_>,
) -> (Vec<Neighbours>, KnnReport) {
    let n_rows = rows.n_rows();
    let k = k.min(n_rows.saturating_sub(1));
    let width = params.list_size.max(k + 2);
    let mut report = KnnReport::default();
    if n_rows <= params.exact_max_rows || width + 1 >= n_rows || k == 0 {
        report.exact = true;
        return (exact_all(rows, k), report);
    }
    let leaf_size = params.leaf_size.max(2 * (width + 1));
    let started = Instant::now();
    // The exact lists of the rows the recall checks sample, in one pass over the rows that
    // lets each tile go; then the packed copy, block by block. The rows are read again only
    // by the recall checks (a sample) and by `finish`.
    let checked = sample_rows(n_rows, params.check_rows, params.seed);
    let checked_exact = top_k_of_rows_passing(rows, &checked, k, &|range| released.passed(range));
    // Its last step read scattered rows (and the kernel maps the pages around each).
    released.all();
    let packed = Packed::of(rows, &|range| released.passed(range));
    // The build runs in the first tree's leaf order (see `Packed::ordered`): position p is row
    // order[p], and every list holds positions until `finish` maps them back. The first tree
    // splits the packed copy (f16: a split only has to put near rows on the same side).
    let (order, first_leaves) = forest::first_partition(&packed, n_rows, leaf_size, params.seed);
    let packed = packed.ordered(&order);
    let ordered_ids: Vec<u64> = order.iter().map(|&row| rows.ids[row as usize]).collect();
    // The trees seed lists as wide as the build may start: data they cut badly then descends
    // at that width keeping everything the leaves found (widening narrow lists loses it).
    // Memory bounds the widest lists on a large corpus (`LIST_ENTRIES_BUDGET`).
    let widest = params
        .max_list_size
        .min(LIST_ENTRIES_BUDGET / n_rows)
        .max(width);
    let mut lists = Lists::new(n_rows, widest);
    let n_trees = params.n_trees.max(1);
    forest::seed_lists(
        &packed,
        &packed,
        &ordered_ids,
        &mut lists,
        &first_leaves,
        0..n_trees,
        leaf_size,
        params.seed,
    );
    report.trees = n_trees;

    // How well the first trees cut the data decides the rest of the build. Data they cut well
    // (clean clusters) descends from narrow lists with sampled joins and converges in a few
    // rounds; data they cut badly (sentence embeddings: no clean clusters) gets more trees and
    // descends at the widest width with every entry joined from the first round: there the
    // lonely rows' neighbours are scattered, and a sampled join reaches them only after rounds
    // that cost more.
    let mut sample = params.sample;
    let forest_recall = (!checked.is_empty())
        .then(|| estimate_recall(rows, &order, &lists, &checked, &checked_exact, k));
    report.forest_recall = forest_recall;
    released.all();
    if forest_recall.is_some_and(|recall| recall < params.wide_below) && widest > width {
        // The further trees split a sketch of the rows (a third of the bytes per level): on
        // such data the leaves of sketch splits serve the descent as well as those of full
        // ones (BENCHMARKS.md), while on clustered data full splits cut markedly better.
        let max_trees = params.max_trees.max(n_trees);
        let sketch = Sketch::of(rows, params.seed, &|range| released.passed(range))
            .map(|sketch| sketch.ordered(&order));
        let split_rows: &dyn RowSource = match &sketch {
            Some(sketch) => sketch,
            None => &packed,
        };
        forest::seed_lists(
            &packed,
            split_rows,
            &ordered_ids,
            &mut lists,
            &first_leaves,
            n_trees..max_trees,
            leaf_size,
            params.seed,
        );
        report.trees = max_trees;
        sample = if widest * n_rows <= FULL_JOIN_BUDGET {
            widest.min(MAX_SAMPLE)
        } else {
            (sample * widest).div_ceil(width).min(MAX_SAMPLE)
        };
    } else {
        lists = lists.resized(width);
    }
    report.forest_seconds = started.elapsed().as_secs_f64();

    // NN-descent at the starting width; while the sampled recall is short of the target, widen
    // the lists (half as wide again, the sample with them) and descend again from where it
    // stopped. (Doubling overshot: on 200,000 synthetic rows lists of 12 widened to 24 cost
    // 11.9 s, to 18 9.3 s, both well past the target.)
    let started = Instant::now();
    loop {
        let stop_updates = (params.delta * (n_rows * lists.width) as f64) as usize;
        let rounds = descent::descend(
            &packed,
            &ordered_ids,
            &mut lists,
            sample,
            params.max_rounds,
            stop_updates,
            &|| released.all(),
        );
        report.rounds.extend(rounds);
        report.widths.push(lists.width);
        let recall = estimate_recall(rows, &order, &lists, &checked, &checked_exact, k);
        report.estimated_recall = Some(recall);
        released.all();
        let wider = (lists.width + lists.width.div_ceil(2)).min(widest);
        if recall >= params.target_recall || checked.is_empty() || wider <= lists.width {
            break;
        }
        sample = (sample * wider).div_ceil(lists.width).min(MAX_SAMPLE);
        lists = lists.resized(wider);
    }
    report.descent_seconds = started.elapsed().as_secs_f64();
    drop(packed);

    let started = Instant::now();
    let (mut finished, tied) = finish(rows, &order, &lists, k, &|| released.all());
    report.exact_rows = tied.len();
    for (&row, exact) in checked.iter().zip(checked_exact) {
        finished[row] = exact;
    }
    // A graph far short of the target is answered exactly whatever the size; one just short
    // of it, where Exact is cheap (data the graph serves badly at a size `auto` gives Exact
    // anyway, as 10,000 noisy synthetic rows: 0.964), too.
    let poor = report.estimated_recall.is_some_and(|recall| {
        recall < params.min_recall
            || (recall < params.target_recall && n_rows < params.exact_when_short_below)
    });
    if poor || tied.len() * 4 > n_rows {
        report.exact = true;
        finished = exact_all(rows, k);
    } else if !tied.is_empty() {
        let exact = top_k_of_rows_passing(rows, &tied, k, &|range| released.passed(range));
        for (row, list) in tied.iter().zip(exact) {
            finished[*row] = list;
        }
    }
    // The exact lists of tied rows (or of all) read every row again.
    released.all();
    report.finish_seconds = started.elapsed().as_secs_f64();
    (finished, report)
}

fn exact_all(rows: RowsView<'_>, k: usize) -> Vec<Neighbours> {
    let all: Vec<usize> = (0..rows.n_rows()).collect();
    top_k_of_rows(rows, &all, k)
}
