//! The final order of a note's list: its candidates re-ranked by augmented vectors
//! (`closest_index::rerank`), with the lexical score when it takes part. `update` renders
//! sections through it, and `export` and `explain` read lists back through it, so all three
//! agree.

use closest_index::rerank::{augment, rerank, Candidate};
use closest_index::{Lexical, Neighbours};
use rayon::prelude::*;

/// Augmented vectors a `Reranker` keeps at most (1.5 KB each at 384 dimensions): a list needs
/// its note's and its candidates', so a full ranking would otherwise end holding one per note
/// (1.4 GiB at a million notes). Past it the reranker starts again from none.
const AUGMENTED_KEPT: usize = 65_536;

/// Re-ranks lists by position, keeping the augmented vectors it computed (up to
/// `AUGMENTED_KEPT`) for the next lists.
pub(crate) struct Reranker<'a> {
    rows: &'a [&'a [f32]],
    lists: &'a [Option<Neighbours>],
    lexical: Option<&'a Lexical>,
    augmented: Vec<Option<Box<[f32]>>>,
    kept: usize,
    most: usize,
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
            augmented: vec![None; rows.len()],
            kept: 0,
            most: AUGMENTED_KEPT,
        }
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

    fn ensure(&mut self, position: usize) {
        if self.augmented[position].is_some() {
            return;
        }
        self.augmented[position] = Some(self.augmented_of(position));
        self.kept += 1;
    }

    /// The final list of the note at `position`: its candidates in their final order, each
    /// with the score that ordered it. Empty when it has no candidates.
    pub fn list(&mut self, position: usize) -> Neighbours {
        let Some(candidates) = &self.lists[position] else {
            return Vec::new();
        };
        if self.kept + candidates.len() >= self.most {
            self.augmented.iter_mut().for_each(|kept| *kept = None);
            self.kept = 0;
        }
        self.ensure(position);
        for neighbour in candidates {
            self.ensure(neighbour.id as usize);
        }
        let augmented = &self.augmented;
        self.order(position, |p| augmented[p].as_deref().unwrap_or(&[]))
    }

    /// The final lists of `positions`, in that order, on every core: the augmented vectors
    /// they need are made for them and let go after (a block of lists asks for some sixteen
    /// each, a full ranking for one per note: 1.4 GiB at a million notes if kept).
    pub fn lists_of(&self, positions: &[usize]) -> Vec<Neighbours> {
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

    /// Starting again from no augmented vector changes no list, nor does making a block's at
    /// once.
    #[test]
    fn forgetting_augmented_vectors_changes_no_list() {
        let (n, dim) = (40, 8);
        let data = closest_index::synthetic_clustered(n, dim, 4, 0.3, 2);
        let rows: Vec<&[f32]> = data.chunks_exact(dim).collect();
        let lists: Vec<Option<Neighbours>> = (0..n)
            .map(|row| {
                let mut list: Neighbours = (0..n)
                    .filter(|&other| other != row)
                    .map(|other| Neighbour {
                        id: other as u64,
                        score: closest_index::dot(rows[row], rows[other]),
                    })
                    .collect();
                list.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
                list.truncate(6);
                Some(list)
            })
            .collect();
        let mut keeping = Reranker::new(&rows, &lists, None);
        let mut forgetting = Reranker::new(&rows, &lists, None);
        forgetting.most = 8;
        for position in (0..n).chain(0..n) {
            assert_eq!(forgetting.list(position), keeping.list(position));
        }
        assert!(forgetting.kept < 8);
        // A block at once, on every core: the same lists.
        let block: Vec<usize> = (0..n).rev().collect();
        let at_once = keeping.lists_of(&block);
        for (&position, list) in block.iter().zip(at_once) {
            assert_eq!(list, forgetting.list(position));
        }
    }
}
