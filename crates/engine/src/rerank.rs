//! The final order of a note's list: its candidates re-ranked by augmented vectors
//! (`closest_index::rerank`), with the lexical score when it takes part. `update` renders
//! sections through it, and `export` and `explain` read lists back through it, so all three
//! agree.

use closest_index::rerank::{augment, rerank, Candidate};
use closest_index::{Lexical, Neighbours};

/// Re-ranks lists by position, computing each augmented vector once.
pub(crate) struct Reranker<'a> {
    rows: &'a [&'a [f32]],
    lists: &'a [Option<Neighbours>],
    lexical: Option<&'a Lexical>,
    augmented: Vec<Option<Box<[f32]>>>,
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
        }
    }

    fn ensure(&mut self, position: usize) {
        if self.augmented[position].is_some() {
            return;
        }
        let neighbours: Vec<(&[f32], f32)> = self.lists[position]
            .iter()
            .flatten()
            .take(closest_index::rerank::AUGMENT_NEIGHBOURS)
            .map(|neighbour| (self.rows[neighbour.id as usize], neighbour.score))
            .collect();
        self.augmented[position] = Some(augment(self.rows[position], &neighbours).into());
    }

    /// The final list of the note at `position`: its candidates in their final order, each
    /// with the score that ordered it. Empty when it has no candidates.
    pub fn list(&mut self, position: usize) -> Neighbours {
        let Some(candidates) = &self.lists[position] else {
            return Vec::new();
        };
        self.ensure(position);
        for neighbour in candidates {
            self.ensure(neighbour.id as usize);
        }
        let augmented = |p: usize| self.augmented[p].as_deref().unwrap_or(&[]);
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
