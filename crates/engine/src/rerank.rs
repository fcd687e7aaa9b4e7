//! The final order of a note's list: its candidates re-ranked by augmented vectors
//! (`closest_index::rerank`), with the lexical score when it takes part. `update` renders
//! sections through it, and `export` and `explain` read lists back through it, so all three
//! agree.

use std::convert::Infallible;
use std::fs::File;
use std::path::Path;

use closest_index::rerank::{augment, rerank, Candidate, AUGMENT_NEIGHBOURS};
use closest_index::{Lexical, Neighbour, Neighbours};
use rayon::prelude::*;

use crate::vectors::{read_floats_at, write_floats_at, VectorFile};

/// Lists whose final order is made at once, on every core, with the augmented vectors they
/// need (some sixteen per list, 1.5 KB each, let go after the block: a full ranking that kept
/// them would end holding one per note, 1.4 GiB at a million notes).
const BLOCK: usize = 2_048;

/// Lists to order from which on the augmented vectors are made once, into a scratch file, from
/// rows read one at a time (`spilling`): each block reads back the ones it needs. Made a block
/// at a time from the mapped rows instead, every note's vector is made again for each list it
/// is a candidate of, and the scattered reads bring the whole vector file into memory (1.44 GiB
/// at a million notes, beside everything else the run holds). Spilled, the writing of a
/// million notes took 199–222 s against 251 s, and of 300,000 about as long as mapped (50–58 s
/// against 57 s).
const SPILL_FROM: usize = 262_144;

/// Augmented vectors made per task when they are spilled.
const SPILL_TASK: usize = 1_024;

/// Re-ranks lists by position.
pub(crate) struct Reranker<'a> {
    rows: &'a [&'a [f32]],
    lists: &'a [Option<Neighbours>],
    lexical: Option<&'a Lexical>,
    spill: Option<SpillSource<'a>>,
}

/// Where a reranker reads rows and puts augmented vectors when it spills them.
struct SpillSource<'a> {
    vectors: &'a VectorFile,
    /// Each position's row in `vectors`.
    slots: &'a [u32],
    dir: &'a Path,
    from: usize,
}

/// The augmented vectors of `positions` (sorted), the i-th at row i of an unnamed scratch file.
struct Spilled {
    file: File,
    dim: usize,
    positions: Vec<usize>,
}

impl<'a> Reranker<'a> {
    /// `rows` and `lists` by position; every position's candidate list is needed for the
    /// augmented vectors of the candidates of the lists asked for.
    pub(crate) fn new(
        rows: &'a [&'a [f32]],
        lists: &'a [Option<Neighbours>],
        lexical: Option<&'a Lexical>,
    ) -> Self {
        Reranker {
            rows,
            lists,
            lexical,
            spill: None,
        }
    }

    /// Orders many lists (`SPILL_FROM`) through augmented vectors spilled into a scratch file
    /// in `dir`, made from rows of `vectors` read one at a time (each position's in `slots`).
    /// The orders are the same bits either way; a scratch file that cannot be made or read (a
    /// full disk) only means the mapped rows are used.
    pub(crate) fn spilling(
        mut self,
        vectors: &'a VectorFile,
        slots: &'a [u32],
        dir: &'a Path,
    ) -> Self {
        self.spill = Some(SpillSource {
            vectors,
            slots,
            dir,
            from: SPILL_FROM,
        });
        self
    }

    /// The final list of the note at `position`: its candidates in their final order, each
    /// with the score that ordered it. Empty when it has no candidates.
    pub(crate) fn list(&self, position: usize) -> Neighbours {
        self.lists_of(&[position]).pop().unwrap_or_default()
    }

    /// The final lists of `positions` with their positions, in that order, made a block at a
    /// time (`BLOCK`) as the iterator is read.
    pub(crate) fn final_lists<'s>(
        &'s self,
        positions: &'s [usize],
    ) -> impl Iterator<Item = (usize, Neighbours)> + 's {
        let spilled = self
            .spill
            .as_ref()
            .filter(|source| positions.len() >= source.from)
            .and_then(|source| self.spill(source, positions).ok());
        positions.chunks(BLOCK).flat_map(move |block| {
            let lists = spilled
                .as_ref()
                .and_then(|spilled| self.lists_spilled(block, spilled).ok())
                .unwrap_or_else(|| self.lists_of(block));
            block.iter().copied().zip(lists)
        })
    }

    /// The final lists of `positions`, in that order, on every core.
    fn lists_of(&self, positions: &[usize]) -> Vec<Neighbours> {
        let made = self.lists_with(positions, |position| {
            Ok::<_, Infallible>(self.augmented_of(position))
        });
        match made {
            Ok(lists) => lists,
            Err(never) => match never {},
        }
    }

    /// `lists_of` with the augmented vectors read back from `spilled`.
    fn lists_spilled(
        &self,
        positions: &[usize],
        spilled: &Spilled,
    ) -> std::io::Result<Vec<Neighbours>> {
        self.lists_with(positions, |position| {
            let at = spilled
                .positions
                .binary_search(&position)
                .map_err(|_| std::io::Error::other("a position the scratch file lacks"))?;
            let mut out = vec![0.0; spilled.dim];
            read_floats_at(&spilled.file, &mut out, (at * spilled.dim * 4) as u64)?;
            Ok(out.into())
        })
    }

    /// The final lists of `positions` with the augmented vectors `make` gives.
    fn lists_with<E: Send>(
        &self,
        positions: &[usize],
        make: impl Fn(usize) -> Result<Box<[f32]>, E> + Sync,
    ) -> Result<Vec<Neighbours>, E> {
        let needed = self.needed(positions);
        let made: Vec<Box<[f32]>> = needed
            .par_iter()
            .map(|&position| make(position))
            .collect::<Result<_, E>>()?;
        let augmented = |position: usize| -> &[f32] {
            needed.binary_search(&position).map_or(&[], |at| &made[at])
        };
        Ok(positions
            .par_iter()
            .map(|&position| match &self.lists[position] {
                Some(_) => self.order(position, augmented),
                None => Vec::new(),
            })
            .collect())
    }

    /// The positions whose augmented vectors the lists of `positions` compare: theirs and
    /// their candidates', sorted.
    fn needed(&self, positions: &[usize]) -> Vec<usize> {
        let mut needed: Vec<usize> = positions
            .iter()
            .flat_map(|&position| {
                let candidates = self.lists[position].iter().flatten();
                std::iter::once(position).chain(candidates.map(|neighbour| neighbour.id as usize))
            })
            .collect();
        needed.sort_unstable();
        needed.dedup();
        needed
    }

    /// Makes the augmented vector of every position the lists of `positions` need, once,
    /// into a scratch file, reading the rows they add up one at a time.
    fn spill(&self, source: &SpillSource<'_>, positions: &[usize]) -> std::io::Result<Spilled> {
        let dim = self.rows.first().map_or(0, |row| row.len());
        let reader = source
            .vectors
            .reader()
            .ok_or_else(|| std::io::Error::other("no vector file to read"))?;
        let file = tempfile::tempfile_in(source.dir)?;
        let positions = self.needed(positions);
        positions.par_chunks(SPILL_TASK).enumerate().try_for_each(
            |(task, chunk)| -> std::io::Result<()> {
                let mut out = Vec::with_capacity(chunk.len() * dim);
                let mut rows = vec![0.0; (1 + AUGMENT_NEIGHBOURS) * dim];
                for &position in chunk {
                    let neighbours: Vec<(u32, f32)> = self
                        .added(position)
                        .map(|neighbour| (source.slots[neighbour.id as usize], neighbour.score))
                        .collect();
                    let slots = std::iter::once(source.slots[position])
                        .chain(neighbours.iter().map(|&(slot, _)| slot));
                    for (slot, row) in slots.zip(rows.chunks_exact_mut(dim)) {
                        reader.read(slot, row)?;
                    }
                    let mut read = rows.chunks_exact(dim);
                    let own = read.next().unwrap_or(&[]);
                    let added: Vec<(&[f32], f32)> = read
                        .zip(&neighbours)
                        .map(|(row, &(_, score))| (row, score))
                        .collect();
                    out.extend(augment(own, &added));
                }
                write_floats_at(&file, &out, (task * SPILL_TASK * dim * 4) as u64)
            },
        )?;
        Ok(Spilled {
            file,
            dim,
            positions,
        })
    }

    /// The candidates whose vectors the augmented vector at `position` adds up.
    fn added(&self, position: usize) -> impl Iterator<Item = &Neighbour> {
        self.lists[position]
            .iter()
            .flatten()
            .take(AUGMENT_NEIGHBOURS)
    }

    fn augmented_of(&self, position: usize) -> Box<[f32]> {
        let neighbours: Vec<(&[f32], f32)> = self
            .added(position)
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

    /// Lists ordered through augmented vectors spilled into a scratch file, from rows read one
    /// at a time through each position's slot (stored in another order, two positions sharing
    /// one), are the same bits as lists ordered from the mapped rows.
    #[test]
    fn spilled_final_orders_equal_mapped_ones() {
        let (n, dim) = (BLOCK + 300, 16);
        let data = closest_index::synthetic_clustered(n, dim, 5, 0.4, 3);
        let mut rows: Vec<&[f32]> = data.chunks_exact(dim).collect();
        rows[9] = rows[4];
        let lists: Vec<Option<Neighbours>> = (0..n)
            .map(|row| {
                let mut list: Neighbours = (0..n)
                    .filter(|&other| other != row && (other * 7 + row) % 5 != 0)
                    .map(|other| Neighbour {
                        id: other as u64,
                        score: closest_index::dot(rows[row], rows[other]),
                    })
                    .collect();
                list.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
                list.truncate(12);
                (row % 23 != 0).then_some(list)
            })
            .collect();
        // The file holds the rows backwards; position 9 reads position 4's row.
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut file, _) = crate::vectors::VectorFile::open(
            dir.path(),
            crate::vectors::VectorMeta::default(),
            "m",
            dim,
        );
        let stored: Vec<Vec<f32>> = (0..n).rev().map(|row| rows[row].to_vec()).collect();
        file.append(&stored).expect("append");
        let mut slots: Vec<u32> = (0..n).map(|row| (n - 1 - row) as u32).collect();
        slots[9] = slots[4];
        let mapped = Reranker::new(&rows, &lists, None);
        let mut spilling = Reranker::new(&rows, &lists, None).spilling(&file, &slots, dir.path());
        if let Some(source) = spilling.spill.as_mut() {
            source.from = 1;
        }
        let positions: Vec<usize> = (0..n).rev().collect();
        let source = spilling.spill.as_ref().expect("spilling");
        let spilled = spilling.spill(source, &positions).expect("spilled");
        assert_eq!(spilled.positions.len(), n);
        let expected: Vec<(usize, Neighbours)> = mapped.final_lists(&positions).collect();
        let got: Vec<(usize, Neighbours)> = spilling.final_lists(&positions).collect();
        assert_eq!(got, expected);
        for block in positions.chunks(BLOCK) {
            assert_eq!(
                spilling.lists_spilled(block, &spilled).expect("read back"),
                mapped.lists_of(block)
            );
        }
        assert!(expected.iter().any(|(_, list)| list.len() == 12));
    }
}
