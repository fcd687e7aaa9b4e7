//! The k-nearest graph builder behind `VectorIndex`, so `new_index` and `all_pairs` callers get
//! it by asking for `ConcreteKind::Graph` and change nothing else.
//!
//! It holds its rows exactly like Exact (single queries are answered by Exact's scan: a
//! k-nearest graph is built for all-pairs, not for navigation; `Hnsw` is the index for repeated
//! queries on a saved large folder), and only `all_pairs` differs: it builds the graph.

use super::{build, KnnParams, KnnReport, Released};
use crate::{ConcreteKind, Error, Exact, Neighbours, VectorIndex};

/// Exact storage and queries, approximate all-pairs by the k-nearest graph builder.
#[derive(Debug, Clone)]
pub struct KnnGraph {
    exact: Exact,
    params: KnnParams,
}

impl KnnGraph {
    /// An empty index for vectors of `dim` dimensions; `params` are checked here.
    pub fn new(dim: usize, params: KnnParams) -> Result<Self, Error> {
        params.validate()?;
        Ok(KnnGraph {
            exact: Exact::new(dim)?,
            params,
        })
    }

    /// The rows, as the Exact index that holds them (what `persist::save` writes).
    pub fn exact(&self) -> &Exact {
        &self.exact
    }

    pub fn params(&self) -> KnnParams {
        self.params
    }

    /// `all_pairs`, with what the build did.
    pub fn all_pairs_report(&self, k: usize) -> (Vec<(u64, Neighbours)>, KnnReport) {
        let rows = self.exact.rows().view();
        let (lists, report) = build(rows, k, &self.params, &Released::never(rows));
        let mut pairs: Vec<(u64, Neighbours)> = rows.ids.iter().copied().zip(lists).collect();
        pairs.sort_unstable_by_key(|(id, _)| *id);
        (pairs, report)
    }
}

impl VectorIndex for KnnGraph {
    fn kind(&self) -> ConcreteKind {
        ConcreteKind::Graph
    }

    fn dim(&self) -> usize {
        self.exact.dim()
    }

    fn len(&self) -> usize {
        self.exact.len()
    }

    fn ids(&self) -> Vec<u64> {
        self.exact.ids()
    }

    fn vector(&self, id: u64) -> Option<&[f32]> {
        self.exact.vector(id)
    }

    fn add(&mut self, rows: &[(u64, &[f32])]) -> Result<(), Error> {
        self.exact.add(rows)
    }

    fn remove(&mut self, ids: &[u64]) -> Result<(), Error> {
        self.exact.remove(ids)
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Neighbours, Error> {
        self.exact.search(query, k)
    }

    fn all_pairs(&self, k: usize) -> Result<Vec<(u64, Neighbours)>, Error> {
        Ok(self.all_pairs_report(k).0)
    }
}
