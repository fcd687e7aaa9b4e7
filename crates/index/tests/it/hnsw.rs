//! HNSW against Exact: recall on clustered synthetic data, exact agreement where the graph is
//! bypassed, reproducible builds, and retired rows that never come back.

use std::time::Instant;

use closest_index::{recall_at_k, Exact, Hnsw, HnswParams, VectorIndex};

use crate::{assert_ordered, batch, clustered, filled};

#[test]
fn recall_at_10_reaches_0_99_on_20k_clustered_vectors() {
    // The anchor recipe (1,000 Gaussian clusters, noise 0.6, dim 384) at a size that runs in
    // seconds; the 100,000-row check is part of `cargo bench --bench index`.
    let (n, dim) = (20_000, 384);
    let data = closest_index::synthetic_clustered(n, dim, 1_000, 0.6, 7);
    let rows: Vec<(u64, &[f32])> = data
        .chunks_exact(dim)
        .enumerate()
        .map(|(r, v)| (r as u64, v))
        .collect();
    let mut exact = Exact::new(dim).expect("dim");
    exact.add(&rows).expect("rows");
    let mut hnsw = Hnsw::new(dim, HnswParams::default()).expect("params");
    let started = Instant::now();
    hnsw.add(&rows).expect("rows");
    let built = started.elapsed();
    let truth = exact.all_pairs(10).expect("exact");
    let found = hnsw.all_pairs(10).expect("hnsw");
    let recall = recall_at_k(&truth, &found, 10);
    eprintln!("hnsw 20k x 384: build {built:?}, recall@10 {recall:.4}");
    assert!(recall >= 0.99, "recall@10 {recall}");
    for (id, list) in &found {
        assert_eq!(list.len(), 10, "row {id}");
        assert_ordered(list);
        assert!(list.iter().all(|n| n.id != *id), "row {id} lists itself");
    }
    // Scores are exact cosines, identical to Exact's for the same pair.
    let exact_score = |a: u64, b: u64| {
        truth[a as usize]
            .1
            .iter()
            .find(|n| n.id == b)
            .map(|n| n.score)
    };
    let mut compared = 0;
    for (id, list) in found.iter().take(500) {
        for neighbour in list {
            if let Some(score) = exact_score(*id, neighbour.id) {
                assert_eq!(score, neighbour.score);
                compared += 1;
            }
        }
    }
    assert!(compared > 4_000);
}

#[test]
fn small_indexes_answer_exactly_like_exact() {
    // Below ef rows the graph is bypassed by a scan, so answers are identical, ties included.
    let mut rows = clustered(50, 16, 3, 100);
    rows.push((1, rows[0].1.clone()));
    rows.push((2, rows[0].1.clone()));
    let exact = filled(Exact::new(16).expect("dim"), &rows);
    let hnsw = filled(Hnsw::new(16, HnswParams::default()).expect("params"), &rows);
    for k in [0, 1, 5, 51, 100] {
        assert_eq!(
            exact.all_pairs(k).expect("exact"),
            hnsw.all_pairs(k).expect("hnsw"),
            "k = {k}"
        );
        let query = &rows[7].1;
        assert_eq!(
            exact.search(query, k).expect("exact"),
            hnsw.search(query, k).expect("hnsw")
        );
    }
}

#[test]
fn empty_and_single_row_graphs() {
    let mut hnsw = Hnsw::new(3, HnswParams::default()).expect("params");
    assert!(hnsw.all_pairs(10).expect("empty").is_empty());
    assert!(hnsw.search(&[1.0, 0.0, 0.0], 10).expect("empty").is_empty());
    hnsw.add(&[(9, &[0.0, 1.0, 0.0][..])]).expect("row");
    assert_eq!(hnsw.all_pairs(10).expect("one"), vec![(9, vec![])]);
    assert_eq!(hnsw.search(&[0.0, 1.0, 0.0], 10).expect("one")[0].id, 9);
}

#[test]
fn deterministic_builds_give_identical_results() {
    let rows = clustered(3_000, 32, 11, 0);
    let params = HnswParams {
        deterministic: true,
        ef_search: 16,
        ..HnswParams::default()
    };
    let first = filled(Hnsw::new(32, params).expect("params"), &rows);
    let second = filled(Hnsw::new(32, params).expect("params"), &rows);
    assert_eq!(
        first.all_pairs(10).expect("first"),
        second.all_pairs(10).expect("second")
    );
}

#[test]
fn retired_rows_never_come_back_and_their_ids_can_return() {
    let rows = clustered(2_000, 24, 5, 0);
    let mut hnsw = filled(Hnsw::new(24, HnswParams::default()).expect("params"), &rows);
    let retired: Vec<u64> = (0..2_000).step_by(3).collect();
    hnsw.remove(&retired).expect("remove");
    assert_eq!(hnsw.len(), 2_000 - retired.len());
    assert_eq!(hnsw.n_rows(), 2_000);
    let found = hnsw.all_pairs(10).expect("all_pairs");
    for (id, list) in &found {
        assert!(id % 3 != 0);
        assert_eq!(list.len(), 10);
        assert!(
            list.iter().all(|n| n.id % 3 != 0),
            "row {id} lists a retired row"
        );
    }
    // The walk from each row goes through retired rows (they still route) and still finds
    // the live neighbours Exact finds.
    let live: Vec<(u64, Vec<f32>)> = rows.iter().filter(|(id, _)| id % 3 != 0).cloned().collect();
    let exact = filled(Exact::new(24).expect("dim"), &live);
    let recall = recall_at_k(&exact.all_pairs(10).expect("exact"), &found, 10);
    assert!(recall >= 0.99, "recall@10 with retired rows {recall}");
    // Re-adding id 0 with row 1's vector makes them each other's nearest neighbour.
    hnsw.add(&batch(&[(0, rows[1].1.clone())])).expect("re-add");
    let found = hnsw.neighbours_of(1, 1).expect("of 1");
    assert_eq!(found[0].id, 0);
    assert!((found[0].score - 1.0).abs() < 1e-6);
}

#[test]
fn ef_search_can_change_after_building() {
    let mut hnsw = filled(
        Hnsw::new(8, HnswParams::default()).expect("params"),
        &clustered(300, 8, 1, 0),
    );
    hnsw.set_ef_search(200).expect("valid");
    assert_eq!(hnsw.params().ef_search, 200);
    assert!(hnsw.set_ef_search(0).is_err());
    assert_eq!(hnsw.params().ef_search, 200);
}
