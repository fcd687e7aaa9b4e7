//! Patched candidate lists equal lists recomputed from scratch, bit for bit, over random
//! sequences of additions, removals and changed vectors (duplicates included, so ties by
//! position are exercised), and against `Exact::all_pairs`.

use closest_index::{patch, scan_lists, Exact, ListSize, Neighbours, VectorIndex};
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

fn fresh(rows: &[Row], need: usize, margin: usize) -> Vec<Neighbours> {
    let all: Vec<usize> = (0..rows.len()).collect();
    scan_lists(&positions(rows), &all, &sizes(rows.len(), need, margin))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn patched_lists_equal_fresh_lists((dim, start, steps, need, margin) in scenario()) {
        let _ = dim;
        let mut rows: Vec<Row> = start
            .into_iter()
            .enumerate()
            .map(|(index, v)| (index as u32 * 0x0100_0000, v))
            .collect();
        let mut lists = fresh(&rows, need, margin);
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
            patch(&positions(&new_rows), &mut patched, &changed, &size);
            rows = new_rows;
            let want = fresh(&rows, need, margin);
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
    let scanned = scan_lists(&vectors, &all, &sizes(rows.len(), 7, 0));
    for ((id, list), scanned) in pairs.iter().zip(&scanned) {
        assert_eq!(list, scanned, "row {id}");
    }
}
