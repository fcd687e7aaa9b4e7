//! The final order of a note's list: its candidates re-ranked by augmented vectors
//! (`closest_index::rerank`), with the lexical score when it takes part. `update` renders
//! sections through it, and `export` and `explain` read lists back through it, so all three
//! agree.

use closest_index::rerank::{augment, rerank, Candidate};
use closest_index::{Lexical, Neighbours};
use rayon::prelude::*;

/// Lists whose final order is made at once, on every core, with the augmented vectors they
/// need (some sixteen per list, 1.5 KB each, let go after the block: a full ranking that kept
/// them would end holding one per note, 1.4 GiB at a million notes).
const BLOCK: usize = 2_048;

/// Re-ranks lists by position.
pub(crate) struct Reranker<'a> {
    rows: &'a [&'a [f32]],
    lists: &'a [Option<Neighbours>],
    lexical: Option<&'a Lexical>,
}

impl<'a> Reranker<'a> {
    /// `rows` and `lists` by position; every position's candidate list is needed for the
    /// augmented vectors of the candidates of the lists asked for.
    pub fn new(
        rows: &'a [&'a [f32]],
        lists: &'a [Option<Neighbours>],
        lexical: Option<&'a Lexical>,
    ) -> Self {
        Reranker {
            rows,
            lists,
            lexical,
        }
    }

    /// The final list of the note at `position`: its candidates in their final order, each
    /// with the score that ordered it. Empty when it has no candidates.
    pub fn list(&self, position: usize) -> Neighbours {
        self.lists_of(&[position]).pop().unwrap_or_default()
    }

    /// The final lists of `positions` with their positions, in that order, made a block at a
    /// time (`BLOCK`) as the iterator is read.
    pub fn final_lists<'s>(
        &'s self,
        positions: &'s [usize],
    ) -> impl Iterator<Item = (usize, Neighbours)> + 's {
        positions
            .chunks(BLOCK)
            .flat_map(|block| block.iter().copied().zip(self.lists_of(block)))
    }

    /// The final lists of `positions`, in that order, on every core.
    fn lists_of(&self, positions: &[usize]) -> Vec<Neighbours> {
        let mut needed: Vec<usize> = positions
            .iter()
            .flat_map(|&position| {
                let candidates = self.lists[position].iter().flatten();
                std::iter::once(position).chain(candidates.map(|neighbour| neighbour.id as usize))
            })
            .collect();
        needed.sort_unstable();
        needed.dedup();
        let made: Vec<Box<[f32]>> = needed
            .par_iter()
            .map(|&position| self.augmented_of(position))
            .collect();
        let augmented = |position: usize| -> &[f32] {
            needed.binary_search(&position).map_or(&[], |at| &made[at])
        };
        positions
            .par_iter()
            .map(|&position| match &self.lists[position] {
                Some(_) => self.order(position, augmented),
                None => Vec::new(),
            })
            .collect()
    }

    fn augmented_of(&self, position: usize) -> Box<[f32]> {
        let neighbours: Vec<(&[f32], f32)> = self.lists[position]
            .iter()
            .flatten()
            .take(closest_index::rerank::AUGMENT_NEIGHBOURS)
            .map(|neighbour| (self.rows[neighbour.id as usize], neighbour.score))
            .collect();
        augment(self.rows[position], &neighbours).into()
    }

    /// The candidates of the list at `position` (which has one) re-ranked, given the
    /// augmented vectors.
    fn order<'s>(&'s self, position: usize, augmented: impl Fn(usize) -> &'s [f32]) -> Neighbours {
        let candidates = self.lists[position].as_deref().unwrap_or(&[]);
        let terms = self.lexical.map(|lexical| lexical.terms(position));
        let candidates: Vec<Candidate<'_>> = candidates
            .iter()
            .map(|neighbour| {
                let other = neighbour.id as usize;
                Candidate {
                    id: neighbour.id,
                    augmented: augmented(other),
                    lexical: match (self.lexical, terms) {
                        (Some(lexical), Some(terms)) => Lexical::pair(terms, lexical.terms(other)),
                        _ => 0.0,
                    },
                }
            })
            .collect();
        rerank(
            augmented(position),
            &candidates,
            self.lexical.map(Lexical::weight),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use closest_index::Neighbour;

    /// A list's final order is the same made alone, in a block of others in any order, or
    /// across blocks (more lists than `BLOCK`).
    #[test]
    fn a_final_order_does_not_depend_on_its_block() {
        let (n, dim) = (BLOCK + 40, 8);
        let data = closest_index::synthetic_clustered(n, dim, 4, 0.3, 2);
        let rows: Vec<&[f32]> = data.chunks_exact(dim).collect();
        let lists: Vec<Option<Neighbours>> = (0..n)
            .map(|row| {
                let mut list: Neighbours = (0..n)
                    .filter(|&other| other != row && other % 3 != row % 3)
                    .map(|other| Neighbour {
                        id: other as u64,
                        score: closest_index::dot(rows[row], rows[other]),
                    })
                    .collect();
                list.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
                list.truncate(6);
                (row % 17 != 0).then_some(list)
            })
            .collect();
        let reranker = Reranker::new(&rows, &lists, None);
        let alone: Vec<Neighbours> = (0..n).map(|position| reranker.list(position)).collect();
        let backwards: Vec<usize> = (0..n).rev().collect();
        for (position, list) in reranker.final_lists(&backwards) {
            assert_eq!(list, alone[position], "{position}");
        }
        assert!(alone[17].is_empty() && !alone[1].is_empty());
    }
}
