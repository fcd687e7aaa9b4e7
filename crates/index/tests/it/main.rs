//! One integration test binary for `closest-index`, one module per concern (as ripgrep's
//! `tests/tests.rs`): exact against a naive scan, HNSW and the k-nearest graph against exact,
//! errors, persistence.

mod errors;
mod exact;
mod hnsw;
mod knn;
mod lists;
mod persist;

use closest_index::{synthetic_clustered, Neighbours, VectorIndex};

/// `n` clustered unit rows with ids `first_id..`, as owned vectors.
pub fn clustered(n: usize, dim: usize, seed: u64, first_id: u64) -> Vec<(u64, Vec<f32>)> {
    let data = synthetic_clustered(n, dim, (n / 20).max(1), 0.6, seed);
    data.chunks_exact(dim)
        .enumerate()
        .map(|(row, v)| (first_id + row as u64, v.to_vec()))
        .collect()
}

/// Borrowed view for `VectorIndex::add`.
pub fn batch(rows: &[(u64, Vec<f32>)]) -> Vec<(u64, &[f32])> {
    rows.iter().map(|(id, v)| (*id, v.as_slice())).collect()
}

/// Fills an index with `rows`, failing the test on error.
pub fn filled<I: VectorIndex>(mut index: I, rows: &[(u64, Vec<f32>)]) -> I {
    index.add(&batch(rows)).expect("valid rows");
    index
}

/// Scores strictly descending, or equal with ids ascending.
pub fn assert_ordered(list: &Neighbours) {
    for pair in list.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert!(
            a.score > b.score || (a.score == b.score && a.id < b.id),
            "out of order: {a:?} before {b:?}"
        );
    }
}
