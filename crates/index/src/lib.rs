//! `closest-index` finds the nearest stored vectors to a vector, for one query or for every row
//! at once, behind one trait with three implementations: `Exact` (blocked matrix products, the
//! reference), `KnnGraph` (exact queries, but all-pairs by the k-nearest graph builder of
//! `knn_graph`, for the cold run of a large folder) and `Hnsw` (an hnsw_rs graph with exact
//! rescoring, for repeated queries against a saved large folder).
//!
//! The crate knows nothing of models or notes: rows are unit-length `&[f32]` with caller ids, and
//! answers are cosine similarities sorted by score, ties by id, so the same rows give the same
//! lists whatever the thread count. `persist` saves an index beside the notes and reloads it only
//! when it provably matches; `recall` and `bench` measure rather than assume.

pub mod bench;
mod error;
mod exact;
mod hnsw;
mod knn;
pub mod lexical;
pub mod lists;
pub mod persist;
pub mod recall;
pub mod rerank;
mod rows;
mod storage;
mod topk;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use error::{Error, Subject};
pub use exact::Exact;
pub use hnsw::{Hnsw, HnswParams};
pub use knn::{
    exact_neighbours_of_rows, knn_graph, knn_graph_of, knn_graph_report, GraphRows, KnnGraph,
    KnnParams, KnnReport,
};
pub use lexical::{Lexical, MatchPass, Matches, Scorer, Terms};
pub use lists::{
    patch, patch_taking, patch_with, scan_lists, scan_query, ListEnd, ListSize, PatchStats,
};
pub use persist::{load, save, LoadOutcome};
pub use recall::{recall_at_k, sample_rows, synthetic_clustered};
pub use rows::{Fetch, MAX_ROWS, UNIT_TOLERANCE};
pub use topk::dot;

/// One neighbour of a row or query: the caller's id and the cosine similarity (for unit rows,
/// the dot product), never an hnsw_rs distance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    pub id: u64,
    pub score: f32,
}

/// Neighbours sorted by score descending, ties by id ascending.
pub type Neighbours = Vec<Neighbour>;

/// What `closest` needs from an index. Rows are unit length (within `UNIT_TOLERANCE`), finite,
/// of the index's dimension and with unique ids; anything else is an `Error` and changes nothing.
pub trait VectorIndex: Send + Sync {
    /// Which implementation this is, so callers can tell whether a loaded index matches the
    /// kind they want.
    fn kind(&self) -> ConcreteKind;
    fn dim(&self) -> usize;
    /// Live rows (rows added and not removed).
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Live ids in ascending order.
    fn ids(&self) -> Vec<u64>;
    fn contains(&self, id: u64) -> bool {
        self.vector(id).is_some()
    }
    /// The stored vector of a live id.
    fn vector(&self, id: u64) -> Option<&[f32]>;
    /// Adds rows; the whole batch is checked first, so on error nothing was added.
    fn add(&mut self, rows: &[(u64, &[f32])]) -> Result<(), Error>;
    /// Removes rows by id (every id must be present); their ids may be added again, which is
    /// how a changed note gets its new vector. Hnsw keeps removed rows in the graph as routing
    /// points that never appear in results.
    fn remove(&mut self, ids: &[u64]) -> Result<(), Error>;
    /// The k rows nearest to a unit-length query.
    fn search(&self, query: &[f32], k: usize) -> Result<Neighbours, Error>;
    /// The k rows nearest to a stored row, that row excluded.
    fn neighbours_of(&self, id: u64, k: usize) -> Result<Neighbours, Error> {
        let query = self.vector(id).ok_or(Error::UnknownId { id })?;
        let mut found = self.search(query, k.saturating_add(1))?;
        found.retain(|neighbour| neighbour.id != id);
        found.truncate(k);
        Ok(found)
    }
    /// Every live row's k nearest other rows (itself excluded), sorted by row id.
    fn all_pairs(&self, k: usize) -> Result<Vec<(u64, Neighbours)>, Error>;
}

/// An index of either kind, owned: what `new_index` builds and `persist::load` returns, and
/// what `persist::save` takes apart without downcasting.
#[derive(Debug)]
pub enum Index {
    Exact(Exact),
    Graph(Box<KnnGraph>),
    Hnsw(Box<Hnsw>),
}

impl Index {
    fn inner(&self) -> &dyn VectorIndex {
        match self {
            Index::Exact(exact) => exact,
            Index::Graph(graph) => graph.as_ref(),
            Index::Hnsw(hnsw) => hnsw.as_ref(),
        }
    }

    fn inner_mut(&mut self) -> &mut dyn VectorIndex {
        match self {
            Index::Exact(exact) => exact,
            Index::Graph(graph) => graph.as_mut(),
            Index::Hnsw(hnsw) => hnsw.as_mut(),
        }
    }
}

impl VectorIndex for Index {
    fn kind(&self) -> ConcreteKind {
        self.inner().kind()
    }
    fn dim(&self) -> usize {
        self.inner().dim()
    }
    fn len(&self) -> usize {
        self.inner().len()
    }
    fn ids(&self) -> Vec<u64> {
        self.inner().ids()
    }
    fn vector(&self, id: u64) -> Option<&[f32]> {
        self.inner().vector(id)
    }
    fn add(&mut self, rows: &[(u64, &[f32])]) -> Result<(), Error> {
        self.inner_mut().add(rows)
    }
    fn remove(&mut self, ids: &[u64]) -> Result<(), Error> {
        self.inner_mut().remove(ids)
    }
    fn search(&self, query: &[f32], k: usize) -> Result<Neighbours, Error> {
        self.inner().search(query, k)
    }
    fn all_pairs(&self, k: usize) -> Result<Vec<(u64, Neighbours)>, Error> {
        self.inner().all_pairs(k)
    }
}

/// What two notes' similarity is made of (`similarity` in `.closest.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Similarity {
    /// The embedding's cosine fused with a lexical (TF-IDF) score of the words notes share.
    #[default]
    Hybrid,
    /// The embedding's cosine alone, as sentence-transformers ranks.
    Semantic,
}

impl std::fmt::Display for Similarity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Similarity::Hybrid => "hybrid",
            Similarity::Semantic => "semantic",
        })
    }
}

/// The kind a user asks for (`--index auto|exact|graph|hnsw`; `nndescent` is read as `graph`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum IndexKind {
    #[default]
    Auto,
    Exact,
    #[cfg_attr(feature = "clap", value(alias = "nndescent"))]
    Graph,
    Hnsw,
}

/// The kind actually built, once `Auto` has been resolved by `choose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConcreteKind {
    Exact,
    /// `KnnGraph`: exact storage and queries, all-pairs by the k-nearest graph builder.
    Graph,
    Hnsw,
}

/// Corpus size from which `Auto` builds the k-nearest graph (`KnnGraph`) instead of Exact.
///
/// Measured on the 2-vCPU build machine (AMD EPYC, AVX-512), 2 threads, k = 10, 384-dim rows,
/// 2026-11-29, `examples/knn_bench.rs` (BENCHMARKS.md, "k-nearest graph"). Exact all-pairs
/// against the graph builder with its defaults:
///
/// | rows | synthetic: exact / graph (recall@10) | real sentence embeddings: exact / graph |
/// | --- | --- | --- |
/// | 5,000 | 0.12 s / 0.23 s (0.989) | 0.14 s / 0.41 s (0.986) |
/// | 10,000 | 0.46 s / 1.18 s (short of 0.99, so Exact's lists) | 0.48 s / 0.64 s (0.995) |
/// | 20,000 | 1.73 s / 0.44 s (0.997) | 1.76 s / 1.27 s (0.992) |
/// | 50,000 | 10.5 s / 1.13 s (0.998) | 10.6 s / 3.42 s (0.990) |
///
/// The graph wins from between 10,000 and 20,000 rows on both; the constant sits above that,
/// where the graph is at least twice as fast on real data (3.1× at 50,000), because below it
/// Exact is exact for nearly the same time (and small synthetic sets, a few rows per cluster,
/// are the graph's worst recall). HNSW is never the answer for all-pairs: its build alone
/// (hnswlib 31–34 s at 100,000 rows, hnsw_rs 119 s) costs more than the whole graph
/// (2.5–8.0 s).
pub const AUTO_CROSSOVER_ROWS: usize = 50_000;

/// Resolves a requested kind for a corpus of `n_rows` rows: Exact below
/// `AUTO_CROSSOVER_ROWS`, the k-nearest graph from there on. `Auto` never picks HNSW: building
/// it costs more than the graph at every size measured, so it is built only when asked for
/// (`--index hnsw`), for repeated queries against a saved index.
pub fn choose(kind: IndexKind, n_rows: usize) -> ConcreteKind {
    match kind {
        IndexKind::Exact => ConcreteKind::Exact,
        IndexKind::Graph => ConcreteKind::Graph,
        IndexKind::Hnsw => ConcreteKind::Hnsw,
        IndexKind::Auto if n_rows >= AUTO_CROSSOVER_ROWS => ConcreteKind::Graph,
        IndexKind::Auto => ConcreteKind::Exact,
    }
}

/// An empty index of the given kind.
pub fn new_index(kind: ConcreteKind, dim: usize, params: HnswParams) -> Result<Index, Error> {
    Ok(match kind {
        ConcreteKind::Exact => Index::Exact(Exact::new(dim)?),
        ConcreteKind::Graph => Index::Graph(Box::new(KnnGraph::new(dim, KnnParams::default())?)),
        ConcreteKind::Hnsw => Index::Hnsw(Box::new(Hnsw::new(dim, params)?)),
    })
}

impl FromStr for IndexKind {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Error> {
        match value {
            "auto" => Ok(IndexKind::Auto),
            "exact" => Ok(IndexKind::Exact),
            "graph" | "nndescent" => Ok(IndexKind::Graph),
            "hnsw" => Ok(IndexKind::Hnsw),
            _ => Err(Error::UnknownKind {
                value: value.to_owned(),
            }),
        }
    }
}

impl fmt::Display for IndexKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IndexKind::Auto => "auto",
            IndexKind::Exact => "exact",
            IndexKind::Graph => "graph",
            IndexKind::Hnsw => "hnsw",
        })
    }
}

impl fmt::Display for ConcreteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConcreteKind::Exact => "exact",
            ConcreteKind::Graph => "graph",
            ConcreteKind::Hnsw => "hnsw",
        })
    }
}

impl From<ConcreteKind> for IndexKind {
    fn from(kind: ConcreteKind) -> Self {
        match kind {
            ConcreteKind::Exact => IndexKind::Exact,
            ConcreteKind::Graph => IndexKind::Graph,
            ConcreteKind::Hnsw => IndexKind::Hnsw,
        }
    }
}
