//! The vectors an index holds, in one contiguous buffer, and the checks every row passes first.
//!
//! Both indexes keep their rows here: Exact multiplies the buffer directly and HNSW rescores its
//! graph's candidates from it, so that both report the same exact cosine for the same pair.
//! Validation lives here too, so a bad vector is rejected with the same error whichever index
//! the caller chose, before anything is modified.

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Subject};
use crate::topk::{dot, into_neighbours, Scored, TopK};
use crate::Neighbours;

/// How far a row's L2 norm may stray from 1. Embeddings normalised in f32 land within about
/// 1e-6; 1e-3 accepts anything that went through an f16 round trip and still rejects vectors
/// nobody normalised.
pub const UNIT_TOLERANCE: f32 = 1e-3;

/// Rows are addressed with `u32` in candidates, and hnsw_rs numbers the points of a layer with
/// `i32`, so an index holds at most this many rows.
pub const MAX_ROWS: usize = i32::MAX as usize;

/// Checks one vector: right dimension, finite, unit length; or, for a row, all zeros: a row
/// near nothing (the engine's note with too little text of its own), scoring 0 with every
/// vector. A zero query is refused: it asks for nothing.
pub(crate) fn validate(vector: &[f32], dim: usize, subject: Subject) -> Result<(), Error> {
    if vector.len() != dim {
        return Err(Error::DimensionMismatch {
            subject,
            got: vector.len(),
            expected: dim,
        });
    }
    if let Some((position, &value)) = vector.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFinite {
            subject,
            position,
            value,
        });
    }
    // Summed in f64 so the check itself adds no rounding worth mentioning at any dimension.
    let norm = vector
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 {
        return match subject {
            Subject::Row { .. } => Ok(()),
            Subject::Query => Err(Error::ZeroVector { subject }),
        };
    }
    if (norm - 1.0).abs() > f64::from(UNIT_TOLERANCE) {
        return Err(Error::NotUnitLength {
            subject,
            norm: norm as f32,
            tolerance: UNIT_TOLERANCE,
        });
    }
    Ok(())
}

/// Row-major vectors with their ids. A row can be retired (HNSW cannot unlink a graph node), in
/// which case it keeps its slot but leaves `row_of`, so its id can be added again later.
#[derive(Debug, Clone)]
pub(crate) struct RowStore {
    pub(crate) dim: usize,
    pub(crate) ids: Vec<u64>,
    pub(crate) data: Vec<f32>,
    pub(crate) live: Vec<bool>,
    pub(crate) row_of: HashMap<u64, usize>,
}

impl RowStore {
    pub(crate) fn new(dim: usize) -> Result<Self, Error> {
        if dim == 0 {
            return Err(Error::InvalidDimension { dim });
        }
        Ok(RowStore {
            dim,
            ids: Vec::new(),
            data: Vec::new(),
            live: Vec::new(),
            row_of: HashMap::new(),
        })
    }

    /// Rebuilds a store from saved parts; the caller has checked sizes and checksums.
    pub(crate) fn from_parts(
        dim: usize,
        ids: Vec<u64>,
        data: Vec<f32>,
        live: Vec<bool>,
    ) -> Result<Self, Error> {
        let mut store = RowStore::new(dim)?;
        for (row, (&id, &is_live)) in ids.iter().zip(&live).enumerate() {
            validate(&data[row * dim..(row + 1) * dim], dim, Subject::Row { id })?;
            if is_live && store.row_of.insert(id, row).is_some() {
                return Err(Error::DuplicateId { id });
            }
        }
        store.ids = ids;
        store.data = data;
        store.live = live;
        Ok(store)
    }

    pub(crate) fn n_rows(&self) -> usize {
        self.ids.len()
    }

    /// Renames every live row's id through `map` (retired rows keep theirs: they are never
    /// returned). The caller guarantees the new ids are unique.
    pub(crate) fn rekey(&mut self, map: impl Fn(u64) -> u64) {
        self.row_of.clear();
        for row in 0..self.ids.len() {
            if self.live[row] {
                let id = map(self.ids[row]);
                self.ids[row] = id;
                self.row_of.insert(id, row);
            }
        }
    }

    pub(crate) fn n_live(&self) -> usize {
        self.row_of.len()
    }

    #[inline]
    pub(crate) fn row(&self, row: usize) -> &[f32] {
        &self.data[row * self.dim..(row + 1) * self.dim]
    }

    /// Validates a whole batch before anything is stored, so a failed `add` changes nothing.
    pub(crate) fn check_batch(&self, rows: &[(u64, &[f32])]) -> Result<(), Error> {
        let n_rows = self.n_rows() + rows.len();
        if n_rows > MAX_ROWS {
            return Err(Error::TooManyRows {
                n_rows,
                max: MAX_ROWS,
            });
        }
        let mut seen = HashSet::with_capacity(rows.len());
        for &(id, vector) in rows {
            validate(vector, self.dim, Subject::Row { id })?;
            if self.row_of.contains_key(&id) || !seen.insert(id) {
                return Err(Error::DuplicateId { id });
            }
        }
        Ok(())
    }

    /// Appends a checked batch; returns the first new row.
    pub(crate) fn append(&mut self, rows: &[(u64, &[f32])]) -> usize {
        let first = self.n_rows();
        self.data.reserve(rows.len() * self.dim);
        for (offset, &(id, vector)) in rows.iter().enumerate() {
            self.ids.push(id);
            self.data.extend_from_slice(vector);
            self.live.push(true);
            self.row_of.insert(id, first + offset);
        }
        first
    }

    /// Checks every id is present (and listed once) before retiring any of them.
    pub(crate) fn retire(&mut self, ids: &[u64]) -> Result<(), Error> {
        let mut seen = HashSet::with_capacity(ids.len());
        for &id in ids {
            if !self.row_of.contains_key(&id) || !seen.insert(id) {
                return Err(Error::UnknownId { id });
            }
        }
        for id in ids {
            if let Some(row) = self.row_of.remove(id) {
                self.live[row] = false;
            }
        }
        Ok(())
    }

    /// Drops retired rows from the buffer (Exact has no graph pointing at row numbers).
    pub(crate) fn compact(&mut self) {
        if self.n_live() == self.n_rows() {
            return;
        }
        let dim = self.dim;
        let mut next = 0;
        for row in 0..self.n_rows() {
            if self.live[row] {
                self.ids[next] = self.ids[row];
                self.data
                    .copy_within(row * dim..(row + 1) * dim, next * dim);
                next += 1;
            }
        }
        self.ids.truncate(next);
        self.data.truncate(next * dim);
        self.live = vec![true; next];
        self.row_of = self
            .ids
            .iter()
            .enumerate()
            .map(|(r, &id)| (id, r))
            .collect();
    }

    /// Live ids in ascending order.
    pub(crate) fn sorted_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.row_of.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    pub(crate) fn vector(&self, id: u64) -> Option<&[f32]> {
        self.row_of.get(&id).map(|&row| self.row(row))
    }

    /// The rows as a borrowed view, for the code that also runs on a caller's slice.
    pub(crate) fn view(&self) -> RowsView<'_> {
        RowsView {
            dim: self.dim,
            data: &self.data,
            ids: &self.ids,
            slots: None,
            fetch: None,
        }
    }

    /// Recomputes candidates' scores with `dot`, orders them and keeps `k`.
    pub(crate) fn rescore(&self, candidates: Vec<Scored>, query: &[f32], k: usize) -> Neighbours {
        self.view().rescore(candidates, query, k)
    }

    /// Exact top-k of `query` over live rows, skipping `exclude_row`; parallel over row chunks.
    pub(crate) fn scan(&self, query: &[f32], k: usize, exclude_row: Option<usize>) -> Neighbours {
        use rayon::prelude::*;
        const CHUNK_ROWS: usize = 4096;
        let k = k.min(self.n_live());
        let chunk_len = CHUNK_ROWS * self.dim;
        let partial = self
            .data
            .par_chunks(chunk_len)
            .enumerate()
            .map(|(chunk, block)| {
                let mut top = TopK::new(k, 0.0);
                for (offset, vector) in block.chunks_exact(self.dim).enumerate() {
                    let row = chunk * CHUNK_ROWS + offset;
                    if !self.live[row] || Some(row) == exclude_row {
                        continue;
                    }
                    let score = dot(query, vector);
                    if score >= top.floor() {
                        top.push(Scored {
                            score,
                            id: self.ids[row],
                            row: row as u32,
                        });
                    }
                }
                top
            })
            .reduce(
                || TopK::new(k, 0.0),
                |mut left, right| {
                    left.absorb(right);
                    left
                },
            );
        into_neighbours(partial.into_sorted(), k)
    }
}

/// Rows borrowed from wherever they live (an index's `RowStore` or a caller's slice), all
/// live: what Exact's blocked all-pairs and the k-nearest graph builder work on, so a million
/// caller rows are never copied.
#[derive(Clone, Copy)]
pub(crate) struct RowsView<'a> {
    pub(crate) dim: usize,
    pub(crate) data: &'a [f32],
    pub(crate) ids: &'a [u64],
    /// Row i is `data`'s row `slots[i]` when given (rows that share a vector, or a file with
    /// rows no one uses), else `data`'s row i.
    pub(crate) slots: Option<&'a [u32]>,
    /// Reads `data`'s row at a slot into a buffer, for the reads that jump about (`Fetch`).
    pub(crate) fetch: Option<&'a Fetch<'a>>,
}

/// Reads the row at a slot of the caller's rows into the buffer (`dim` long), or says `false`
/// and the row is read from the slice. For rows in a mapped file, read at random over a large
/// file (`pread`): through the map each read brings the pages around it into the process (the
/// kernel maps a fault's neighbours too), so a pass reading rows at random soon holds all of
/// them.
pub type Fetch<'f> = dyn Fn(usize, &mut [f32]) -> bool + Sync + 'f;

/// Row `at` read through `fetch` into `buffer` when there is a fetch and it reads, else
/// `borrowed` (the same row in the caller's slice).
pub(crate) fn fetched_or<'b>(
    fetch: Option<&Fetch<'_>>,
    at: usize,
    borrowed: &'b [f32],
    buffer: &'b mut Vec<f32>,
) -> &'b [f32] {
    if let Some(fetch) = fetch {
        buffer.resize(borrowed.len(), 0.0);
        if fetch(at, buffer) {
            return buffer;
        }
    }
    borrowed
}

impl<'a> RowsView<'a> {
    pub(crate) fn n_rows(&self) -> usize {
        self.ids.len()
    }

    /// Where row `row` lies in `data`.
    #[inline]
    fn slot(&self, row: usize) -> usize {
        match self.slots {
            Some(slots) => slots[row] as usize,
            None => row,
        }
    }

    #[inline]
    pub(crate) fn row(&self, row: usize) -> &'a [f32] {
        let at = self.slot(row);
        &self.data[at * self.dim..(at + 1) * self.dim]
    }

    /// Row `row`, read through `fetch` into `buffer` when there is one (for reads at random),
    /// else borrowed.
    pub(crate) fn scattered<'b>(&self, row: usize, buffer: &'b mut Vec<f32>) -> &'b [f32]
    where
        'a: 'b,
    {
        fetched_or(self.fetch, self.slot(row), self.row(row), buffer)
    }

    /// Rows `first..first + n` side by side: borrowed when they lie so in `data`, else
    /// gathered into `buffer`.
    pub(crate) fn tile<'b>(&self, first: usize, n: usize, buffer: &'b mut Vec<f32>) -> &'b [f32]
    where
        'a: 'b,
    {
        match self.slots {
            None => &self.data[first * self.dim..(first + n) * self.dim],
            Some(_) => {
                buffer.clear();
                for row in first..first + n {
                    buffer.extend_from_slice(self.row(row));
                }
                buffer
            }
        }
    }

    /// Recomputes candidates' scores with `dot`, orders them and keeps `k`.
    pub(crate) fn rescore(
        &self,
        mut candidates: Vec<Scored>,
        query: &[f32],
        k: usize,
    ) -> Neighbours {
        let mut buffer = Vec::new();
        for candidate in &mut candidates {
            candidate.score = dot(query, self.scattered(candidate.row as usize, &mut buffer));
        }
        into_neighbours(candidates, k)
    }
}
