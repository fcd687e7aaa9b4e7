//! Patched candidate lists equal lists recomputed from scratch, bit for bit, over random
//! sequences of additions, removals and changed vectors (duplicates included, so ties by
//! position are exercised), and against `Exact::all_pairs`.

use closest_index::{
    patch, scan_lists, Exact, Lexical, ListSize, MatchPass, Neighbours, Scorer, Terms, VectorIndex,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// One row of the evolving corpus: a stable key (its "note id") and its vector.
type Row = (u32, Vec<f32>);

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

/// A step: remove the rows at these indexes (mod len), replace vectors at these, add these.
#[derive(Debug, Clone)]
struct Step {
    remove: Vec<usize>,
    edit: Vec<(usize, Vec<f32>)>,
    add: Vec<(u32, Vec<f32>)>,
}

fn vectors(dim: usize, n: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Vec<f32>>> {
    vec(
        prop_oneof![
            3 => vec(-1.0f32..1.0, dim).prop_map(unit),
            // A small palette of repeated vectors, so exact ties are common.
            1 => (0usize..3).prop_map(move |which| {
                let mut v = vec![0.0; dim];
                v[which % dim] = 1.0;
                v
            }),
        ],
        n,
    )
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Vec<f32>>, Vec<Step>, usize, usize)> {
    (2usize..6).prop_flat_map(|dim| {
        let step = (
            vec(0usize..64, 0..4),
            vec((0usize..64, vec(-1.0f32..1.0, dim).prop_map(unit)), 0..3),
            vec((any::<u32>(), vectors(dim, 1..2)), 0..4),
        )
            .prop_map(|(remove, edit, add)| Step {
                remove,
                edit,
                add: add
                    .into_iter()
                    .map(|(key, mut v)| (key, v.remove(0)))
                    .collect(),
            });
        (
            Just(dim),
            vectors(dim, 0..30),
            vec(step, 1..5),
            1usize..6,
            0usize..4,
        )
    })
}

/// Positions are the rows sorted by key, as notes are sorted by id.
fn positions(rows: &[Row]) -> Vec<&[f32]> {
    rows.iter().map(|(_, v)| v.as_slice()).collect()
}

fn sizes(n: usize, need: usize, margin: usize) -> Vec<ListSize> {
    vec![
        ListSize {
            need,
            keep: need + margin,
        };
        n
    ]
}

/// A row's lexical vector, made from its vector so that an edit changes both: a term for each
/// clearly positive component (few terms, so rows share some and not others).
fn terms(vector: &[f32]) -> Terms {
    let mut terms: Terms = vector
        .iter()
        .enumerate()
        .filter(|(_, x)| **x > 0.2)
        .map(|(i, x)| (i as u32 * 7 + 3, *x))
        .collect();
    let norm = terms.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
    terms.iter_mut().for_each(|(_, w)| *w /= norm);
    terms
}

/// The lexical side of `rows` with weight `weight`, or none for cosine alone.
fn lexical(rows: &[Row], weight: Option<f32>) -> Option<Lexical> {
    weight.map(|weight| Lexical::new(rows.iter().map(|(_, v)| terms(v)).collect(), weight))
}

fn fresh(rows: &[Row], need: usize, margin: usize, weight: Option<f32>) -> Vec<Neighbours> {
    let all: Vec<usize> = (0..rows.len()).collect();
    let vectors = positions(rows);
    let lexical = lexical(rows, weight);
    let scorer = Scorer {
        rows: &vectors,
        lexical: lexical.as_ref(),
    };
    scan_lists(scorer, &all, &sizes(rows.len(), need, margin))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn patched_lists_equal_fresh_lists(
        (dim, start, steps, need, margin) in scenario(),
        weight in prop_oneof![Just(None), Just(Some(0.3f32)), Just(Some(0.8f32))],
    ) {
        let _ = dim;
        let mut rows: Vec<Row> = start
            .into_iter()
            .enumerate()
            .map(|(index, v)| (index as u32 * 0x0100_0000, v))
            .collect();
        let mut lists = fresh(&rows, need, margin, weight);
        for step in steps {
            // Departures: removed rows and rows whose vector changes leave every list.
            let mut departed_keys = Vec::new();
            if !rows.is_empty() {
                for index in &step.remove {
                    departed_keys.push(rows[index % rows.len()].0);
                }
            }
            let mut changed_keys = Vec::new();
            let mut new_rows: Vec<Row> = rows
                .iter()
                .filter(|(key, _)| !departed_keys.contains(key))
                .cloned()
                .collect();
            if !new_rows.is_empty() {
                for (index, vector) in &step.edit {
                    let at = index % new_rows.len();
                    new_rows[at].1 = vector.clone();
                    changed_keys.push(new_rows[at].0);
                }
            }
            for (key, vector) in step.add {
                // Random keys land between old ones, so positions shift as note ids would.
                if new_rows.iter().any(|(k, _)| *k == key) || rows.iter().any(|(k, _)| *k == key) {
                    continue;
                }
                new_rows.push((key, vector));
                changed_keys.push(key);
            }
            new_rows.sort_by_key(|(key, _)| *key);
            // Translate the old lists into the new positions, dropping departed entries.
            let old_keys: Vec<u32> = rows.iter().map(|(key, _)| *key).collect();
            let position_of = |key: u32| new_rows.iter().position(|(k, _)| *k == key);
            let mut patched: Vec<Neighbours> = vec![Vec::new(); new_rows.len()];
            for (old_position, list) in lists.iter().enumerate() {
                let key = old_keys[old_position];
                let Some(position) = position_of(key) else { continue };
                if changed_keys.contains(&key) {
                    continue;
                }
                patched[position] = list
                    .iter()
                    .filter_map(|entry| {
                        let other = old_keys[entry.id as usize];
                        if changed_keys.contains(&other) {
                            return None;
                        }
                        position_of(other).map(|p| closest_index::Neighbour {
                            id: p as u64,
                            score: entry.score,
                        })
                    })
                    .collect();
            }
            let mut changed: Vec<usize> = changed_keys
                .iter()
                .filter_map(|key| position_of(*key))
                .collect();
            changed.sort_unstable();
            changed.dedup();
            let size = sizes(new_rows.len(), need, margin);
            let vectors = positions(&new_rows);
            let lexical = lexical(&new_rows, weight);
            let scorer = Scorer { rows: &vectors, lexical: lexical.as_ref() };
            let before = patched.clone();
            patch(scorer, &mut patched, &changed, &size);
            if let Some(weight) = weight {
                // A partial lexical side, matched by one pass over the rows in another order
                // for the changed rows and those whose lists may come out short, patches
                // the same lists bit for bit.
                let n_others = new_rows.len().saturating_sub(1);
                let queries: Vec<(usize, Terms)> = (0..new_rows.len())
                    .filter(|&row| changed.contains(&row) || before[row].len() < need.min(n_others))
                    .map(|row| (row, terms(&new_rows[row].1)))
                    .collect();
                let mut pass = MatchPass::new(&queries);
                for (row, (_, vector)) in new_rows.iter().enumerate().rev() {
                    pass.visit(row, &terms(vector));
                }
                let partial = Lexical::partial(new_rows.len(), weight, pass.finish());
                let mut again = before.clone();
                patch(Scorer { rows: &vectors, lexical: Some(&partial) }, &mut again, &changed, &size);
                prop_assert_eq!(&again, &patched);
                // Passes over the two halves of the rows, one absorbing the other, match the
                // same.
                let middle = new_rows.len() / 2;
                let (mut first, mut second) = (MatchPass::new(&queries), MatchPass::new(&queries));
                for (row, (_, vector)) in new_rows.iter().enumerate() {
                    let pass = if row < middle { &mut first } else { &mut second };
                    pass.visit(row, &terms(vector));
                }
                second.absorb(first);
                let halves = Lexical::partial(new_rows.len(), weight, second.finish());
                let mut split = before;
                patch(Scorer { rows: &vectors, lexical: Some(&halves) }, &mut split, &changed, &size);
                prop_assert_eq!(&split, &patched);
            }
            rows = new_rows;
            let want = fresh(&rows, need, margin, weight);
            for (position, (got, expected)) in patched.iter().zip(&want).enumerate() {
                // A patched list may be shorter than a fresh one (it keeps at least `need`),
                // but it is always an exact prefix of it.
                let n_others = rows.len() - 1;
                prop_assert!(got.len() >= need.min(n_others), "row {position} too short");
                prop_assert_eq!(got.as_slice(), &expected[..got.len()], "row {}", position);
            }
            lists = patched;
        }
    }
}

/// The scan and `Exact::all_pairs` agree (same canonical scores, same order).
#[test]
fn scanned_lists_match_exact_all_pairs() {
    let rows = crate::clustered(500, 16, 3, 0);
    let exact = crate::filled(Exact::new(16).expect("dim"), &rows);
    let pairs = exact.all_pairs(7).expect("all pairs");
    let vectors: Vec<&[f32]> = rows.iter().map(|(_, v)| v.as_slice()).collect();
    let all: Vec<usize> = (0..rows.len()).collect();
    let scanned = scan_lists(Scorer::cosine(&vectors), &all, &sizes(rows.len(), 7, 0));
    for ((id, list), scanned) in pairs.iter().zip(&scanned) {
        assert_eq!(list, scanned, "row {id}");
    }
}

/// A full ranking with the fused score (exact cosine lists widened by lexical matches) equals a
/// fused scan of every row.
#[test]
fn fused_lists_from_cosine_lists_equal_a_fused_scan() {
    let rows = crate::clustered(400, 8, 3, 0);
    let exact = crate::filled(Exact::new(8).expect("dim"), &rows);
    let keep = 9;
    let vectors: Vec<&[f32]> = rows.iter().map(|(_, v)| v.as_slice()).collect();
    let mut dense = vec![Vec::new(); rows.len()];
    for (id, list) in exact.all_pairs(keep).expect("all pairs") {
        dense[id as usize] = list;
    }
    for weight in [0.2f32, 0.5] {
        let lexical = Lexical::new(vectors.iter().map(|v| terms(v)).collect(), weight);
        let fused = lexical.fuse_lists(&vectors, dense.clone(), &vec![keep; rows.len()], None);
        let scorer = Scorer {
            rows: &vectors,
            lexical: Some(&lexical),
        };
        let all: Vec<usize> = (0..rows.len()).collect();
        let scanned = scan_lists(scorer, &all, &sizes(rows.len(), keep, 0));
        assert_eq!(fused, scanned, "weight {weight}");
        // Bounded to every match (all words are rare here), it is the same.
        let bounded = lexical.fuse_lists(
            &vectors,
            dense.clone(),
            &vec![keep; rows.len()],
            Some(rows.len()),
        );
        assert_eq!(bounded, scanned, "bounded, weight {weight}");
        // Rows read through a fetch (by position) give the same bits, bounded or not.
        let fetched = std::sync::atomic::AtomicUsize::new(0);
        let fetch = |position: usize, out: &mut [f32]| {
            fetched.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            out.copy_from_slice(vectors[position]);
            true
        };
        for widest in [None, Some(rows.len())] {
            let through = lexical.fuse_lists_reading(
                &vectors,
                Some(&fetch),
                dense.clone(),
                &vec![keep; rows.len()],
                widest,
            );
            assert_eq!(through, scanned, "fetched, weight {weight}, {widest:?}");
        }
        assert!(fetched.into_inner() >= 2 * rows.len());
    }
}
