//! Exact against a naive f64 scan on random data: order, ties (from duplicate vectors), k > n,
//! and the degenerate sizes n = 0, 1, 2.

use closest_index::{Exact, Neighbour, VectorIndex};
use proptest::collection::{hash_set, vec};
use proptest::prelude::*;

use crate::{assert_ordered, batch, filled};

/// Random unit rows with unique random ids; every fourth-or-so row repeats an earlier one, so
/// exact ties are common.
fn corpus() -> impl Strategy<Value = (usize, Vec<(u64, Vec<f32>)>, usize)> {
    (1usize..7, 0usize..36).prop_flat_map(|(dim, n)| {
        (
            Just(dim),
            vec(vec(-1.0f32..1.0, dim), n),
            vec(0usize..4, n),
            hash_set(any::<u64>(), n),
            0usize..n + 4,
        )
            .prop_map(|(dim, raw, copy, ids, k)| {
                let mut rows: Vec<Vec<f32>> = Vec::with_capacity(raw.len());
                for (row, vector) in raw.into_iter().enumerate() {
                    let vector = if copy[row] == 0 && row > 0 {
                        rows[row / 2].clone()
                    } else {
                        unit(vector)
                    };
                    rows.push(vector);
                }
                let corpus = ids.into_iter().zip(rows).collect();
                (dim, corpus, k)
            })
    })
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm < 1e-3 {
        v.fill(0.0);
        v[0] = 1.0;
    } else {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}

/// The k best (id, score) by a plain scan, ties by id.
fn naive(
    corpus: &[(u64, Vec<f32>)],
    query: &[f32],
    k: usize,
    skip: Option<u64>,
) -> Vec<(u64, f64)> {
    let mut all: Vec<(u64, f64)> = corpus
        .iter()
        .filter(|(id, _)| Some(*id) != skip)
        .map(|(id, v)| (*id, dot64(query, v)))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

/// Same length, scores within rounding rank by rank, and identical ids unless two different
/// naive scores are closer than rounding could separate.
fn assert_matches(
    got: &[Neighbour],
    want: &[(u64, f64)],
    corpus: &[(u64, Vec<f32>)],
    query: &[f32],
) {
    assert_eq!(got.len(), want.len(), "length");
    assert_ordered(&got.to_vec());
    for (g, w) in got.iter().zip(want) {
        assert!(
            (f64::from(g.score) - w.1).abs() < 1e-5,
            "score {g:?} vs {w:?}"
        );
        let own = corpus
            .iter()
            .find(|(id, _)| *id == g.id)
            .map(|(_, v)| dot64(query, v));
        assert!(
            (f64::from(g.score) - own.unwrap_or(f64::NAN)).abs() < 1e-5,
            "true score of {g:?}"
        );
    }
    let near_tie = want
        .windows(2)
        .any(|p| p[0].1 != p[1].1 && (p[0].1 - p[1].1).abs() < 1e-6);
    if !near_tie {
        let ids: Vec<u64> = got.iter().map(|n| n.id).collect();
        let want_ids: Vec<u64> = want.iter().map(|w| w.0).collect();
        assert_eq!(ids, want_ids);
    }
}

proptest! {
    #[test]
    fn all_pairs_matches_a_naive_scan((dim, corpus, k) in corpus()) {
        let index = filled(Exact::new(dim).expect("dim"), &corpus);
        let pairs = index.all_pairs(k).expect("all_pairs");
        let mut ids: Vec<u64> = corpus.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        prop_assert_eq!(pairs.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids);
        for (id, got) in &pairs {
            let query = &corpus.iter().find(|(i, _)| i == id).expect("id").1;
            assert_matches(got, &naive(&corpus, query, k, Some(*id)), &corpus, query);
        }
    }

    #[test]
    fn search_matches_a_naive_scan((dim, corpus, k) in corpus(), pick in any::<prop::sample::Index>()) {
        let index = filled(Exact::new(dim).expect("dim"), &corpus);
        let query = if corpus.is_empty() { unit(vec![1.0; dim]) } else { corpus[pick.index(corpus.len())].1.clone() };
        let got = index.search(&query, k).expect("search");
        assert_matches(&got, &naive(&corpus, &query, k, None), &corpus, &query);
    }
}

#[test]
fn empty_single_and_pair_indexes() {
    let mut index = Exact::new(2).expect("dim");
    assert!(index.all_pairs(10).expect("empty").is_empty());
    assert!(index.search(&[1.0, 0.0], 10).expect("empty").is_empty());

    index.add(&[(7, &[1.0, 0.0][..])]).expect("one row");
    assert_eq!(index.all_pairs(10).expect("one"), vec![(7, vec![])]);
    assert_eq!(
        index.search(&[1.0, 0.0], 10).expect("one"),
        vec![Neighbour { id: 7, score: 1.0 }]
    );

    index.add(&[(3, &[0.0, 1.0][..])]).expect("two rows");
    let pairs = index.all_pairs(10).expect("two");
    assert_eq!(pairs[0], (3, vec![Neighbour { id: 7, score: 0.0 }]));
    assert_eq!(pairs[1], (7, vec![Neighbour { id: 3, score: 0.0 }]));
    assert!(index
        .all_pairs(0)
        .expect("k = 0")
        .iter()
        .all(|(_, list)| list.is_empty()));
}

#[test]
fn duplicate_vectors_tie_by_id_across_block_and_tile_boundaries() {
    // 5,000 copies of one vector span two gemm column tiles and many row blocks; every score
    // is 1 and the neighbours must be the smallest other ids, in order.
    let dim = 8;
    let vector = [0.5f32, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0];
    let rows: Vec<(u64, Vec<f32>)> = (0..5_000u64)
        .rev()
        .map(|id| (id * 3, vector.to_vec()))
        .collect();
    let index = filled(Exact::new(dim).expect("dim"), &rows);
    for (id, list) in index.all_pairs(4).expect("all_pairs") {
        let want: Vec<u64> = [0u64, 3, 6, 9, 12]
            .into_iter()
            .filter(|&i| i != id)
            .take(4)
            .collect();
        assert_eq!(
            list.iter().map(|n| n.id).collect::<Vec<_>>(),
            want,
            "row {id}"
        );
        assert!(list.iter().all(|n| n.score == 1.0));
    }
}

#[test]
fn remove_then_add_again_replaces_a_vector() {
    let mut index = filled(
        Exact::new(2).expect("dim"),
        &[(1, vec![1.0, 0.0]), (2, vec![0.0, 1.0])],
    );
    index.remove(&[1]).expect("remove");
    assert_eq!(index.len(), 1);
    assert!(!index.contains(1));
    index.add(&batch(&[(1, vec![0.0, 1.0])])).expect("re-add");
    assert_eq!(
        index.neighbours_of(2, 5).expect("of 2"),
        vec![Neighbour { id: 1, score: 1.0 }]
    );
}
