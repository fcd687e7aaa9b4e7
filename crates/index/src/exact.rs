//! The exact index: every answer is the true nearest set, found by brute force done well.
//!
//! It is the reference every test and recall figure compares against, and for small and medium
//! folders it is also the fastest way to get every note's neighbours: `all_pairs` multiplies
//! blocks of rows against all rows with gemm (the same arithmetic numpy hands to BLAS) and keeps
//! each row's best few with a partial selection, never sorting a full row of scores.

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use crate::error::{Error, Subject};
use crate::rows::{validate, RowStore, RowsView};
use crate::topk::{Scored, TopK};
use crate::{ConcreteKind, Neighbours, VectorIndex};

/// Query rows per task. Each task owns one block, so both cores stay busy down to a few
/// thousand rows, and gemm runs single-threaded inside a task (no nested parallelism).
const ROW_BLOCK: usize = 256;

/// Rows multiplied per gemm call. Tiling the other side too bounds a task's scratch buffer to
/// ROW_BLOCK × COLUMN_TILE floats (4 MiB) at any corpus size.
const COLUMN_TILE: usize = 4096;

/// Extra candidates kept per row beyond k, and the score window of near-ties kept with them,
/// because gemm may round a product differently from the `dot` that produces the final score.
/// A 384-term f32 product is off by well under 1e-5; the window only matters for exact ties.
const GEMM_SLACK: usize = 4;
const GEMM_TOLERANCE: f32 = 1e-5;

/// Exact nearest neighbours over rows held in one contiguous buffer.
#[derive(Debug, Clone)]
pub struct Exact {
    rows: RowStore,
}

impl Exact {
    /// An empty exact index for vectors of `dim` dimensions.
    pub fn new(dim: usize) -> Result<Self, Error> {
        Ok(Exact {
            rows: RowStore::new(dim)?,
        })
    }

    pub(crate) fn from_rows(rows: RowStore) -> Self {
        let mut exact = Exact { rows };
        exact.rows.compact();
        exact
    }

    pub(crate) fn rows(&self) -> &RowStore {
        &self.rows
    }

    /// The k nearest other rows of each listed id, computed like `all_pairs` but for a subset;
    /// recall measurements use it as the reference for a sample of a large corpus.
    pub fn neighbours_of_ids(
        &self,
        ids: &[u64],
        k: usize,
    ) -> Result<Vec<(u64, Neighbours)>, Error> {
        let query_rows = ids
            .iter()
            .map(|&id| {
                self.rows
                    .row_of
                    .get(&id)
                    .copied()
                    .ok_or(Error::UnknownId { id })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let lists = top_k_of_rows(self.rows.view(), &query_rows, k);
        Ok(ids.iter().copied().zip(lists).collect())
    }
}

impl VectorIndex for Exact {
    fn kind(&self) -> ConcreteKind {
        ConcreteKind::Exact
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
        self.rows.append(rows);
        Ok(())
    }

    fn remove(&mut self, ids: &[u64]) -> Result<(), Error> {
        self.rows.retire(ids)?;
        self.rows.compact();
        Ok(())
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Neighbours, Error> {
        validate(query, self.rows.dim, Subject::Query)?;
        Ok(self.rows.scan(query, k, None))
    }

    fn all_pairs(&self, k: usize) -> Result<Vec<(u64, Neighbours)>, Error> {
        let query_rows: Vec<usize> = (0..self.rows.n_rows()).collect();
        let lists = top_k_of_rows(self.rows.view(), &query_rows, k);
        let mut pairs: Vec<(u64, Neighbours)> = self.rows.ids.iter().copied().zip(lists).collect();
        pairs.sort_unstable_by_key(|(id, _)| *id);
        Ok(pairs)
    }
}

/// Each query row's k nearest other rows (exact), in the order of `query_rows`.
pub(crate) fn top_k_of_rows(rows: RowsView<'_>, query_rows: &[usize], k: usize) -> Vec<Neighbours> {
    let n_rows = rows.n_rows();
    let k = k.min(n_rows.saturating_sub(1));
    if k == 0 {
        return vec![Vec::new(); query_rows.len()];
    }
    query_rows
        .par_chunks(ROW_BLOCK)
        .map_init(
            || (Vec::new(), Vec::new()),
            |(scores, tile), block| {
                let mut top = BlockTop::new(rows, block, k);
                for first in (0..n_rows).step_by(COLUMN_TILE) {
                    top.pass(rows, first, scores, tile);
                }
                top.finish(rows)
            },
        )
        .flatten_iter()
        .collect()
}

/// `top_k_of_rows` for rows the caller lets go of as they are passed: one pass over the rows,
/// tile by tile, every block of queries taking each tile before `passed` is called with the
/// tile's rows (the same lists, bit for bit).
pub(crate) fn top_k_of_rows_passing(
    rows: RowsView<'_>,
    query_rows: &[usize],
    k: usize,
    passed: &(dyn Fn(std::ops::Range<usize>) + Sync),
) -> Vec<Neighbours> {
    let n_rows = rows.n_rows();
    let k = k.min(n_rows.saturating_sub(1));
    if k == 0 {
        return vec![Vec::new(); query_rows.len()];
    }
    let mut blocks: Vec<BlockTop<'_>> = query_rows
        .chunks(ROW_BLOCK)
        .map(|block| BlockTop::new(rows, block, k))
        .collect();
    for first in (0..n_rows).step_by(COLUMN_TILE) {
        blocks.par_iter_mut().for_each_init(
            || (Vec::new(), Vec::new()),
            |(scores, tile), top| top.pass(rows, first, scores, tile),
        );
        passed(first..(first + COLUMN_TILE).min(n_rows));
    }
    blocks
        .into_par_iter()
        .flat_map_iter(|top| top.finish(rows))
        .collect()
}

/// The best candidates so far of one block of query rows.
struct BlockTop<'q> {
    block: &'q [usize],
    queries: Vec<f32>,
    tops: Vec<TopK>,
    k: usize,
}

impl<'q> BlockTop<'q> {
    fn new(rows: RowsView<'_>, block: &'q [usize], k: usize) -> Self {
        let mut queries = Vec::with_capacity(block.len() * rows.dim);
        for &row in block {
            queries.extend_from_slice(rows.row(row));
        }
        BlockTop {
            block,
            queries,
            tops: (0..block.len())
                .map(|_| TopK::new(k + GEMM_SLACK, GEMM_TOLERANCE))
                .collect(),
            k,
        }
    }

    /// Takes the tile of rows starting at `first`.
    fn pass(
        &mut self,
        rows: RowsView<'_>,
        first: usize,
        scores: &mut Vec<f32>,
        tile: &mut Vec<f32>,
    ) {
        let n = COLUMN_TILE.min(rows.n_rows() - first);
        scores.clear();
        scores.resize(self.block.len() * n, 0.0);
        let tile = rows.tile(first, n, tile);
        products(&self.queries, tile, rows.dim, scores);
        for ((top, &own_row), row_scores) in self
            .tops
            .iter_mut()
            .zip(self.block)
            .zip(scores.chunks_exact(n))
        {
            for (offset, &score) in row_scores.iter().enumerate() {
                if score < top.floor() {
                    continue;
                }
                let row = first + offset;
                if row != own_row {
                    top.push(Scored {
                        score,
                        id: rows.ids[row],
                        row: row as u32,
                    });
                }
            }
        }
    }

    fn finish(self, rows: RowsView<'_>) -> Vec<Neighbours> {
        let k = self.k;
        self.tops
            .into_iter()
            .zip(self.block)
            .map(|(top, &own_row)| rows.rescore(top.into_sorted(), rows.row(own_row), k))
            .collect()
    }
}

/// `out[i * n + j] = lhs_i · rhs_j` for `m = lhs.len() / dim` rows of `lhs` and `n` rows of
/// `rhs`, both row-major: one single-threaded gemm call (callers parallelise over blocks, so
/// there is no nested parallelism and a block's result never depends on the thread count).
pub(crate) fn products(lhs: &[f32], rhs: &[f32], dim: usize, out: &mut [f32]) {
    products_strided(lhs, rhs, dim, out, rhs.len() / dim.max(1));
}

/// `products` into a wider matrix: `out[i * stride + j] = lhs_i · rhs_j` (a block of a
/// row-major matrix `stride` columns wide; the other columns are left as they are).
pub(crate) fn products_strided(
    lhs: &[f32],
    rhs: &[f32],
    dim: usize,
    out: &mut [f32],
    stride: usize,
) {
    let m = lhs.len() / dim;
    let n = rhs.len() / dim;
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        stride >= n && out.len() >= (m - 1) * stride + n,
        "products: output of {} for {m} x {n} at stride {stride}",
        out.len()
    );
    // SAFETY: `out` holds the m × n block written row-major (row stride `stride` ≥ n, column
    // stride 1; its last element, (m - 1) × stride + n - 1, is in bounds by the check above);
    // `lhs` holds m × dim row-major; `rhs` holds n rows of dim, read as the dim × n
    // right-hand side (row stride 1, column stride dim). All three outlive the call and the
    // output does not alias the inputs (it is a distinct `&mut`).
    unsafe {
        gemm(
            m,
            n,
            dim,
            out.as_mut_ptr(),
            1,
            stride as isize,
            false,
            lhs.as_ptr(),
            1,
            dim as isize,
            rhs.as_ptr(),
            dim as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One pass over the tiles for every block of queries gives `top_k_of_rows`' lists bit
    /// for bit, passes every row once, and rows read through slots give the lists of the rows
    /// gathered.
    #[test]
    fn a_single_pass_equals_the_blocked_product() {
        let (n, dim) = (COLUMN_TILE * 2 + 900, 8);
        let data = crate::synthetic_clustered(n, dim, 30, 0.3, 5);
        let ids: Vec<u64> = (0..n as u64).map(|row| (row * 7_919) % 100_003).collect();
        let view = RowsView {
            dim,
            data: &data,
            ids: &ids,
            slots: None,
            fetch: None,
        };
        let queries: Vec<usize> = (0..n).step_by(13).collect();
        let want = top_k_of_rows(view, &queries, 10);
        let passed = std::sync::Mutex::new(Vec::new());
        let got = top_k_of_rows_passing(view, &queries, 10, &|range| {
            passed.lock().unwrap().push(range);
        });
        assert_eq!(got, want);
        let passed = passed.into_inner().unwrap();
        assert_eq!(passed.first().map(|range| range.start), Some(0));
        assert!(passed.windows(2).all(|pair| pair[0].end == pair[1].start));
        assert_eq!(passed.last().map(|range| range.end), Some(n));

        // The same rows stored backwards, read through slots.
        let backwards: Vec<f32> = data.chunks_exact(dim).rev().flatten().copied().collect();
        let slots: Vec<u32> = (0..n as u32).map(|row| n as u32 - 1 - row).collect();
        let through_slots = RowsView {
            dim,
            data: &backwards,
            ids: &ids,
            slots: Some(&slots),
            fetch: None,
        };
        assert_eq!(top_k_of_rows(through_slots, &queries, 10), want);
    }
}
