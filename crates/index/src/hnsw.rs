//! The approximate index: an hnsw_rs graph for corpora where the exact all-pairs product costs
//! too much, made to answer in the crate's terms.
//!
//! hnsw_rs speaks distances and its own point numbers; this wrapper asks the graph for a few more
//! candidates than wanted, drops retired rows, recomputes every candidate's cosine exactly from
//! the stored rows and orders them like Exact, so the two indexes differ only in which neighbours
//! the graph failed to find, never in scores or tie order. Parameters are validated here because
//! hnsw_rs exits the process on some bad values.

use hnsw_rs::anndists::dist::Distance;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Subject};
use crate::rows::{validate, RowStore};
use crate::topk::{dot, into_neighbours, rank_order, Scored};
use crate::{ConcreteKind, Neighbours, VectorIndex};

/// The graph type: rows as f32 slices, `UnitDot` as the distance. `'static` because a graph
/// reloaded from disk borrows its `HnswIo` loader, which `persist` leaks for that reason.
pub(crate) type Graph = hnsw_rs::hnsw::Hnsw<'static, f32, UnitDot>;

/// hnsw_rs refuses to dump a graph whose layer count differs from its maximum, 16.
pub(crate) const GRAPH_LAYERS: usize = 16;

/// Distance `1 - a·b` for unit rows, clamped at zero.
///
/// anndists' `DistDot` asserts `a·b <= 1`, which rounding breaks for unit vectors, and its
/// `DistL2` sums serially (one add per element, latency-bound). This shares `dot` with the rest
/// of the crate, is vectorised, and cannot assert. The type name is written into every graph
/// file and checked on reload, so renaming it invalidates saved graphs (they are rebuilt).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct UnitDot;

impl Distance<f32> for UnitDot {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

/// HNSW construction and search parameters.
///
/// The defaults match the hnswlib anchor (M = 16, ef_construction = 200, ef = 64) and reach
/// recall@10 ≥ 0.99 on the synthetic clustered data of the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HnswParams {
    /// Links per node in upper layers (twice that in the bottom layer): 2 to 255.
    pub m: usize,
    /// Scored list width while inserting: 1 to 65,536; higher builds slower and better.
    pub ef_construction: usize,
    /// Scored list width while searching: 1 to 65,536; raised to k when k is larger.
    /// `all_pairs` walks from each row with half this width (at least k).
    pub ef_search: usize,
    /// Insert rows one at a time so that the same rows always give the same graph, at the cost
    /// of one core. Parallel insertion (the default) lets thread timing shape the graph, so two
    /// builds of one corpus can differ in the rare neighbour the graph misses.
    pub deterministic: bool,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            deterministic: false,
        }
    }
}

/// The largest ef accepted: beyond it a search reserves more memory than any corpus needs.
const MAX_EF: usize = 1 << 16;

impl HnswParams {
    /// Checks every parameter, so that hnsw_rs never sees a value it would exit or panic on.
    pub fn validate(&self) -> Result<(), Error> {
        // hnsw_rs exits above 256 and stores m as a u8, so 256 itself would wrap to 0.
        if !(2..=255).contains(&self.m) {
            return Err(Error::InvalidParameter {
                name: "m",
                value: self.m,
                expected: "between 2 and 255",
            });
        }
        for (name, value) in [
            ("ef_construction", self.ef_construction),
            ("ef_search", self.ef_search),
        ] {
            if !(1..=MAX_EF).contains(&value) {
                return Err(Error::InvalidParameter {
                    name,
                    value,
                    expected: "between 1 and 65536",
                });
            }
        }
        Ok(())
    }
}

/// Batches smaller than this are inserted serially: rayon's split costs more than it saves.
const PARALLEL_INSERT_MIN: usize = 64;

/// Approximate nearest neighbours over an hnsw_rs graph, with exact rescoring.
pub struct Hnsw {
    params: HnswParams,
    rows: RowStore,
    graph: Graph,
}

impl std::fmt::Debug for Hnsw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hnsw")
            .field("params", &self.params)
            .field("dim", &self.rows.dim)
            .field("n_rows", &self.rows.n_rows())
            .field("n_live", &self.rows.n_live())
            .finish()
    }
}

impl Hnsw {
    /// An empty HNSW index for vectors of `dim` dimensions.
    pub fn new(dim: usize, params: HnswParams) -> Result<Self, Error> {
        params.validate()?;
        let rows = RowStore::new(dim)?;
        let graph = Graph::new(params.m, 0, GRAPH_LAYERS, params.ef_construction, UnitDot);
        Ok(Hnsw {
            params,
            rows,
            graph,
        })
    }

    /// Joins a graph loaded from disk with the rows and liveness saved beside it.
    pub(crate) fn from_parts(params: HnswParams, rows: RowStore, mut graph: Graph) -> Self {
        // A reloaded hnsw_rs graph turns candidate extension on; new rows should be linked the
        // same way as in a fresh build.
        graph.set_extend_candidates(false);
        Hnsw {
            params,
            rows,
            graph,
        }
    }

    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Changes the search width; the graph itself is unaffected.
    pub fn set_ef_search(&mut self, ef_search: usize) -> Result<(), Error> {
        let params = HnswParams {
            ef_search,
            ..self.params
        };
        params.validate()?;
        self.params = params;
        Ok(())
    }

    /// Rows in the graph, retired ones included (they still route searches).
    pub fn n_rows(&self) -> usize {
        self.rows.n_rows()
    }

    pub(crate) fn rows(&self) -> &RowStore {
        &self.rows
    }

    pub(crate) fn rows_mut(&mut self) -> &mut RowStore {
        &mut self.rows
    }

    pub(crate) fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The k best live rows for `query`, excluding `exclude_row`, with exact scores.
    fn nearest(&self, query: &[f32], k: usize, exclude_row: Option<usize>) -> Neighbours {
        let n_rows = self.rows.n_rows();
        let available = self.rows.n_live() - usize::from(exclude_row.is_some());
        let k = k.min(available);
        if k == 0 {
            return Vec::new();
        }
        // Asking the graph for ef results costs nothing extra (it explores ef anyway) and gives
        // rescoring room to fix the graph's order.
        let mut asked = (k + usize::from(exclude_row.is_some())).max(self.params.ef_search);
        loop {
            if asked >= n_rows {
                // The graph would have to return everything: scanning is exact and no slower.
                return self.rows.scan(query, k, exclude_row);
            }
            let candidates: Vec<Scored> = self
                .graph
                .search(query, asked, asked)
                .into_iter()
                .filter(|found| {
                    let row = found.d_id;
                    row < n_rows && self.rows.live[row] && Some(row) != exclude_row
                })
                .map(|found| Scored {
                    score: 0.0,
                    id: self.rows.ids[found.d_id],
                    row: found.d_id as u32,
                })
                .collect();
            // Retired rows crowd out live ones; widen the search until k live rows come back.
            if candidates.len() >= k {
                return self.rows.rescore(candidates, query, k);
            }
            asked = asked.saturating_mul(2);
        }
    }

    /// Every row's bottom-layer links, as row numbers.
    fn bottom_links(&self) -> Vec<Vec<u32>> {
        let n_rows = self.rows.n_rows();
        let mut links: Vec<Vec<u32>> = vec![Vec::new(); n_rows];
        if self.graph.get_nb_point() == 0 {
            // hnsw_rs's point iterator panics on an empty graph.
            return links;
        }
        for point in self.graph.get_point_indexation() {
            let from = point.get_origin_id();
            if from >= n_rows {
                continue;
            }
            if let Some(bottom) = point.get_neighborhood_id().first() {
                for neighbour in bottom {
                    let to = neighbour.d_id;
                    // Forward links only: adding the reverses made hubs' lists long and the walk
                    // slower (100k rows: 29.8 s against 20.2 s) for no recall.
                    if to < n_rows && to != from {
                        links[from].push(to as u32);
                    }
                }
            }
        }
        for list in &mut links {
            list.sort_unstable();
            list.dedup();
        }
        links
    }

    /// All-pairs for one row without a search from the top layer: start from the row itself
    /// in the bottom layer, score every row within two hops, then keep expanding the current
    /// best (max(k, ef_search / 2) of them) until each of them has been expanded. HNSW's bottom
    /// layer links each row to its near neighbours, so the walk starts where a search would
    /// end, at a few hundred dot products a row (recall is measured, in BENCHMARKS.md and the
    /// tests). Scores are the exact dot products. `None` when `nearest` would scan every row
    /// anyway (a small index, answered exactly) or fewer than k live rows were reached: the
    /// caller falls back to `nearest`.
    fn local_walk(
        &self,
        row: usize,
        k: usize,
        links: &[Vec<u32>],
        walk: &mut Walk,
    ) -> Option<Neighbours> {
        if (k + 1).max(self.params.ef_search) >= self.rows.n_rows() {
            return None;
        }
        let query = self.rows.row(row);
        walk.seen.next_round();
        walk.expanded.next_round();
        walk.seen.insert(row);
        walk.scored.clear();
        let mut frontier = vec![row];
        for hop in 0.. {
            for &from in &frontier {
                walk.expanded.insert(from);
                for &next in &links[from] {
                    let next = next as usize;
                    if walk.seen.insert(next) && self.rows.live[next] {
                        walk.scored.push(Scored {
                            score: dot(query, self.rows.row(next)),
                            id: self.rows.ids[next],
                            row: next as u32,
                        });
                    }
                }
            }
            frontier = if hop == 0 {
                // The second hop: every direct link, live or retired (retired rows still route).
                links[row].iter().map(|&r| r as usize).collect()
            } else {
                let best = k.max(self.params.ef_search / 2).min(walk.scored.len());
                if best > 0 && best < walk.scored.len() {
                    walk.scored.select_nth_unstable_by(best - 1, rank_order);
                }
                walk.scored[..best]
                    .iter()
                    .map(|c| c.row as usize)
                    .filter(|&r| !walk.expanded.contains(r))
                    .collect()
            };
            if frontier.is_empty() {
                break;
            }
        }
        if walk.scored.len() < k {
            return None;
        }
        if k > 0 {
            walk.scored.select_nth_unstable_by(k - 1, rank_order);
        }
        // A fresh vector of k: the scratch's capacity (hundreds of candidates) must not travel
        // with every row's result.
        Some(into_neighbours(walk.scored[..k].to_vec(), k))
    }
}

/// Per-thread scratch for `local_walk`.
struct Walk {
    seen: Visited,
    expanded: Visited,
    scored: Vec<Scored>,
}

/// Rows marked in the current walk (or join): a stamp per row, so starting one costs nothing.
pub(crate) struct Visited {
    stamps: Vec<u32>,
    round: u32,
}

impl Visited {
    pub(crate) fn new(n_rows: usize) -> Self {
        Visited {
            stamps: vec![0; n_rows],
            round: 0,
        }
    }

    pub(crate) fn next_round(&mut self) {
        self.round = self.round.wrapping_add(1);
        if self.round == 0 {
            self.stamps.fill(0);
            self.round = 1;
        }
    }

    pub(crate) fn contains(&self, row: usize) -> bool {
        self.stamps[row] == self.round
    }

    /// Marks `row`; false if it was already marked this round.
    pub(crate) fn insert(&mut self, row: usize) -> bool {
        let fresh = self.stamps[row] != self.round;
        self.stamps[row] = self.round;
        fresh
    }
}

impl VectorIndex for Hnsw {
    fn kind(&self) -> ConcreteKind {
        ConcreteKind::Hnsw
    }

    fn dim(&self) -> usize {
        self.rows.dim
    }

    fn len(&self) -> usize {
        self.rows.n_live()
    }

    fn ids(&self) -> Vec<u64> {
        self.rows.sorted_ids()
    }

    fn vector(&self, id: u64) -> Option<&[f32]> {
        self.rows.vector(id)
    }

    fn add(&mut self, rows: &[(u64, &[f32])]) -> Result<(), Error> {
        self.rows.check_batch(rows)?;
        let first = self.rows.append(rows);
        let dim = self.rows.dim;
        let items: Vec<(&[f32], usize)> = self.rows.data[first * dim..]
            .chunks_exact(dim)
            .enumerate()
            .map(|(offset, vector)| (vector, first + offset))
            .collect();
        if self.params.deterministic || items.len() < PARALLEL_INSERT_MIN {
            for &item in &items {
                self.graph.insert_slice(item);
            }
        } else {
            self.graph.parallel_insert_slice(&items);
        }
        Ok(())
    }

    fn remove(&mut self, ids: &[u64]) -> Result<(), Error> {
        self.rows.retire(ids)
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Neighbours, Error> {
        validate(query, self.rows.dim, Subject::Query)?;
        Ok(self.nearest(query, k, None))
    }

    fn all_pairs(&self, k: usize) -> Result<Vec<(u64, Neighbours)>, Error> {
        let mut live_rows: Vec<usize> = self.rows.row_of.values().copied().collect();
        live_rows.sort_unstable_by_key(|&row| self.rows.ids[row]);
        let links = self.bottom_links();
        Ok(live_rows
            .par_iter()
            // Each job allocates its scratch (two stamps per row of the index): few, long jobs.
            .with_min_len(1024)
            .map_init(
                || Walk {
                    seen: Visited::new(self.rows.n_rows()),
                    expanded: Visited::new(self.rows.n_rows()),
                    scored: Vec::new(),
                },
                |walk, &row| {
                    let neighbours = self
                        .local_walk(row, k, &links, walk)
                        .unwrap_or_else(|| self.nearest(self.rows.row(row), k, Some(row)));
                    (self.rows.ids[row], neighbours)
                },
            )
            .collect())
    }
}
