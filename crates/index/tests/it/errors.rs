//! Mistakes a caller can make come back as errors that carry the numbers, and change nothing.

use closest_index::{
    new_index, ConcreteKind, Error, Exact, Hnsw, HnswParams, IndexKind, Subject, VectorIndex,
};

fn both(dim: usize) -> Vec<closest_index::Index> {
    [ConcreteKind::Exact, ConcreteKind::Graph, ConcreteKind::Hnsw]
        .into_iter()
        .map(|kind| new_index(kind, dim, HnswParams::default()).expect("valid"))
        .collect()
}

#[test]
fn dimension_mismatch_names_the_id_and_both_dimensions() {
    for mut index in both(4) {
        let error = index.add(&[(7, &[1.0, 0.0, 0.0][..])]).expect_err("3 != 4");
        assert!(matches!(
            error,
            Error::DimensionMismatch {
                subject: Subject::Row { id: 7 },
                got: 3,
                expected: 4
            }
        ));
        assert_eq!(
            error.to_string(),
            "dimension mismatch for vector for id 7: got 3, expected 4"
        );
        let error = index.search(&[1.0, 0.0], 3).expect_err("2 != 4");
        assert_eq!(
            error.to_string(),
            "dimension mismatch for query vector: got 2, expected 4"
        );
    }
}

#[test]
fn nan_zero_queries_and_unnormalised_vectors_are_rejected() {
    for mut index in both(2) {
        let error = index.add(&[(1, &[f32::NAN, 1.0][..])]).expect_err("NaN");
        assert!(
            matches!(error, Error::NonFinite { position: 0, .. }),
            "{error}"
        );
        let error = index
            .add(&[(1, &[1.0, f32::INFINITY][..])])
            .expect_err("inf");
        assert!(
            matches!(error, Error::NonFinite { position: 1, .. }),
            "{error}"
        );
        let error = index.search(&[0.0, 0.0], 1).expect_err("zero query");
        assert!(
            matches!(
                error,
                Error::ZeroVector {
                    subject: Subject::Query
                }
            ),
            "{error}"
        );
        let error = index.add(&[(3, &[3.0, 4.0][..])]).expect_err("norm 5");
        assert!(
            error.to_string().contains("not unit length: norm 5"),
            "{error}"
        );
        let error = index.search(&[f32::NAN, 0.0], 1).expect_err("NaN query");
        assert!(matches!(
            error,
            Error::NonFinite {
                subject: Subject::Query,
                ..
            }
        ));
        // Within the tolerance is fine.
        index.add(&[(4, &[1.0005, 0.0][..])]).expect("norm 1.0005");
    }
}

#[test]
fn duplicate_ids_are_rejected_and_a_failed_batch_adds_nothing() {
    for mut index in both(2) {
        index.add(&[(1, &[1.0, 0.0][..])]).expect("first");
        let error = index
            .add(&[(2, &[0.0, 1.0][..]), (1, &[0.0, 1.0][..])])
            .expect_err("1 again");
        assert!(matches!(error, Error::DuplicateId { id: 1 }));
        let error = index
            .add(&[(5, &[0.0, 1.0][..]), (5, &[1.0, 0.0][..])])
            .expect_err("5 twice");
        assert!(matches!(error, Error::DuplicateId { id: 5 }));
        assert_eq!(index.len(), 1);
        assert_eq!(index.ids(), vec![1]);
        assert!(matches!(
            index.remove(&[1, 9]).expect_err("9 unknown"),
            Error::UnknownId { id: 9 }
        ));
        assert_eq!(index.len(), 1, "a failed remove removes nothing");
        assert!(matches!(
            index.neighbours_of(9, 1).expect_err("9"),
            Error::UnknownId { id: 9 }
        ));
    }
}

#[test]
fn bad_hnsw_parameters_are_errors_not_exits() {
    let cases = [
        (
            HnswParams {
                m: 0,
                ..HnswParams::default()
            },
            "m",
        ),
        (
            HnswParams {
                m: 1,
                ..HnswParams::default()
            },
            "m",
        ),
        (
            HnswParams {
                m: 256,
                ..HnswParams::default()
            },
            "m",
        ),
        (
            HnswParams {
                m: 10_000,
                ..HnswParams::default()
            },
            "m",
        ),
        (
            HnswParams {
                ef_construction: 0,
                ..HnswParams::default()
            },
            "ef_construction",
        ),
        (
            HnswParams {
                ef_search: 0,
                ..HnswParams::default()
            },
            "ef_search",
        ),
        (
            HnswParams {
                ef_search: usize::MAX,
                ..HnswParams::default()
            },
            "ef_search",
        ),
    ];
    for (params, field) in cases {
        match Hnsw::new(8, params) {
            Err(Error::InvalidParameter { name, .. }) => assert_eq!(name, field),
            other => panic!("{params:?} gave {other:?}"),
        }
    }
    let error = Hnsw::new(
        8,
        HnswParams {
            m: 300,
            ..HnswParams::default()
        },
    )
    .expect_err("m");
    assert_eq!(
        error.to_string(),
        "invalid HNSW parameter m = 300: it must be between 2 and 255"
    );
    Hnsw::new(
        8,
        HnswParams {
            m: 255,
            ..HnswParams::default()
        },
    )
    .expect("m = 255 is fine");
}

#[test]
fn zero_dimension_and_unknown_kind() {
    assert!(matches!(
        Exact::new(0).expect_err("dim 0"),
        Error::InvalidDimension { dim: 0 }
    ));
    assert!(matches!(
        Hnsw::new(0, HnswParams::default()).expect_err("dim 0"),
        Error::InvalidDimension { dim: 0 }
    ));
    assert_eq!("hnsw".parse::<IndexKind>().expect("hnsw"), IndexKind::Hnsw);
    let error = "flat".parse::<IndexKind>().expect_err("flat");
    assert_eq!(
        error.to_string(),
        "unknown index kind `flat`: expected auto, exact, graph or hnsw"
    );
    // Every kind reads back what it prints; `nndescent` is another name for the graph.
    for kind in [
        IndexKind::Auto,
        IndexKind::Exact,
        IndexKind::Graph,
        IndexKind::Hnsw,
    ] {
        assert_eq!(
            kind.to_string().parse::<IndexKind>().expect("round trip"),
            kind
        );
    }
    assert_eq!(
        "nndescent".parse::<IndexKind>().expect("alias"),
        IndexKind::Graph
    );
}

#[test]
fn auto_switches_to_the_graph_at_the_crossover_and_never_to_hnsw() {
    use closest_index::{choose, AUTO_CROSSOVER_ROWS};
    assert_eq!(choose(IndexKind::Auto, 0), ConcreteKind::Exact);
    assert_eq!(
        choose(IndexKind::Auto, AUTO_CROSSOVER_ROWS - 1),
        ConcreteKind::Exact
    );
    assert_eq!(
        choose(IndexKind::Auto, AUTO_CROSSOVER_ROWS),
        ConcreteKind::Graph
    );
    assert_eq!(choose(IndexKind::Auto, 100_000_000), ConcreteKind::Graph);
    assert_eq!(choose(IndexKind::Exact, 10_000_000), ConcreteKind::Exact);
    assert_eq!(choose(IndexKind::Graph, 1), ConcreteKind::Graph);
    assert_eq!(choose(IndexKind::Hnsw, 1), ConcreteKind::Hnsw);
}

/// A zero row (a note with too little text to place) is near nothing: it scores 0 with every
/// query, in both indexes.
#[test]
fn a_zero_row_scores_zero() {
    for mut index in both(2) {
        index
            .add(&[(1, &[1.0, 0.0][..]), (2, &[0.0, 0.0][..])])
            .expect("a zero row is accepted");
        let found = index.search(&[0.6, 0.8], 2).expect("search");
        let scores: Vec<(u64, f32)> = found.iter().map(|n| (n.id, n.score)).collect();
        assert_eq!(scores.len(), 2, "{scores:?}");
        assert_eq!(scores[0].0, 1);
        assert!((scores[0].1 - 0.6).abs() < 1e-6, "{scores:?}");
        assert_eq!(scores[1], (2, 0.0));
    }
}
