//! Hybrid similarity: the embedding's cosine fused with a lexical score.
//!
//! Each row may carry a sparse unit vector of (term, weight) pairs sorted by term (TF-IDF, made
//! by the caller). The fused score of two rows is `(1 - w) · dot + w · lexical`, where
//! `lexical` is the sparse dot product. An inverted index (term → rows) finds every row sharing
//! a term with a given one, so a row's lexical scores cost the postings of its terms, not N.
//!
//! Every lexical score is summed in ascending term order from zero, whether by merging two
//! rows' terms or by accumulating a row's postings, so a pair's score is the same bits whichever
//! row asks and whatever the thread count: the lists stay deterministic and a patched list still
//! equals a recomputed one.
//!
//! Exactness of a full ranking with the fused score: a row `j` that shares no term with row `i`
//! scores `(1 - w) · dot(i, j)`, so among those rows the best by the fused score are the best by
//! cosine. The fused best `keep` of row `i` are therefore among its best `keep` by cosine plus
//! every row sharing a term with it, which is what [`Lexical::fuse_lists`] rescores.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::rows::{fetched_or, Fetch};
use crate::topk::{candidate, dot, into_list, TopK};
use crate::Neighbours;

/// A row's sparse lexical vector: (term, weight), sorted by term, unit length (or empty).
pub type Terms = Vec<(u32, f32)>;

/// Rows' lexical vectors with their inverted index, and the weight of the lexical score.
#[derive(Debug, Clone)]
pub struct Lexical {
    weight: f32,
    rows: Vec<Terms>,
    postings: HashMap<u32, Vec<(u32, f32)>>,
    /// A partial side ([`Lexical::partial`]): the matches of the rows that may be scanned,
    /// found by one pass over every row's terms, and no inverted index.
    known: Option<HashMap<usize, Matches>>,
}

impl Lexical {
    /// The lexical side of rows `0..rows.len()`, fused with weight `weight` (0 = cosine only,
    /// 1 = lexical only).
    pub fn new(rows: Vec<Terms>, weight: f32) -> Lexical {
        let mut postings: HashMap<u32, Vec<(u32, f32)>> = HashMap::new();
        for (row, terms) in rows.iter().enumerate() {
            debug_assert!(terms.windows(2).all(|pair| pair[0].0 < pair[1].0));
            for &(term, w) in terms {
                postings.entry(term).or_default().push((row as u32, w));
            }
        }
        Lexical {
            weight,
            rows,
            postings,
            known: None,
        }
    }

    /// The lexical side of `n` rows when only a few of them are asked about (a patch): the
    /// terms of some rows (the others read as empty until [`Lexical::set_terms`]) and the
    /// matches of every row a scan may start from, made by a [`MatchPass`] over all rows.
    /// Building the inverted index of a million rows to patch ten lists costs more than the
    /// patch; this costs one pass over the stored terms.
    pub fn partial(n: usize, weight: f32, matches: Vec<(usize, Matches)>) -> Lexical {
        Lexical {
            weight,
            rows: vec![Vec::new(); n],
            postings: HashMap::new(),
            known: Some(matches.into_iter().collect()),
        }
    }

    /// Whether this side is partial: only some rows' terms and matches are known.
    pub fn is_partial(&self) -> bool {
        self.known.is_some()
    }

    /// Sets a row's lexical vector (a partial side: for the rows re-ranked or compared).
    pub fn set_terms(&mut self, row: usize, terms: Terms) {
        self.rows[row] = terms;
    }

    /// Row `row`'s matches: from the inverted index, or as the pass found them. In a partial
    /// side a row the pass was not asked about has none (the caller asks about every row a
    /// patch may scan: the changed rows and those whose lists may come out short).
    pub fn matches_of(&self, row: usize) -> Matches {
        match &self.known {
            Some(known) => {
                debug_assert!(known.contains_key(&row), "row {row} was not in the pass");
                known.get(&row).cloned().unwrap_or_default()
            }
            None => self.matches(&self.rows[row], Some(row)),
        }
    }

    pub fn weight(&self) -> f32 {
        self.weight
    }

    /// Row `row`'s lexical vector.
    pub fn terms(&self, row: usize) -> &[(u32, f32)] {
        &self.rows[row]
    }

    /// Takes row `row`'s lexical vector out (for a caller done with this side), leaving it
    /// empty.
    pub fn take_terms(&mut self, row: usize) -> Terms {
        std::mem::take(&mut self.rows[row])
    }

    /// The fused score from a cosine and a lexical score.
    #[inline]
    pub fn fuse(&self, dot: f32, lexical: f32) -> f32 {
        (1.0 - self.weight) * dot + self.weight * lexical
    }

    /// The lexical score of two sparse vectors.
    pub fn pair(a: &[(u32, f32)], b: &[(u32, f32)]) -> f32 {
        let (mut i, mut j, mut sum) = (0, 0, 0f32);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += a[i].1 * b[j].1;
                    i += 1;
                    j += 1;
                }
            }
        }
        sum
    }

    /// Every row sharing a term with `query` (but `exclude`), with its lexical score, sorted by
    /// row.
    pub fn matches(&self, query: &[(u32, f32)], exclude: Option<usize>) -> Matches {
        let mut scratch = Scratch::default();
        self.matches_with(query, exclude, &mut scratch)
    }

    fn matches_with(
        &self,
        query: &[(u32, f32)],
        exclude: Option<usize>,
        scratch: &mut Scratch,
    ) -> Matches {
        self.accumulate(query, usize::MAX, scratch);
        scratch.hit.sort_unstable();
        let mut entries = Vec::with_capacity(scratch.hit.len());
        for &row in &scratch.hit {
            if Some(row as usize) != exclude {
                entries.push((row, scratch.sums[row as usize]));
            }
        }
        scratch.clear();
        Matches { entries }
    }

    /// Sums `query`'s lexical score with every row sharing a word into `scratch` (term order,
    /// so each sum is the same bits as [`Lexical::pair`]); `scratch.hit` lists those rows.
    /// Words with more than `max_postings` rows are skipped.
    fn accumulate(&self, query: &[(u32, f32)], max_postings: usize, scratch: &mut Scratch) {
        if scratch.sums.len() < self.rows.len() {
            scratch.sums.resize(self.rows.len(), 0.0);
            scratch.seen.resize(self.rows.len(), false);
        }
        for &(term, weight) in query {
            let Some(posting) = self.postings.get(&term).filter(|p| p.len() <= max_postings) else {
                continue;
            };
            for &(row, w) in posting {
                let slot = row as usize;
                if !scratch.seen[slot] {
                    scratch.seen[slot] = true;
                    scratch.hit.push(row);
                }
                scratch.sums[slot] += weight * w;
            }
        }
    }

    /// Every row's best `keep[row]` by the fused score, from its best `keep[row]` by cosine
    /// (`dense`, exact or from a graph) and the rows sharing a word with it (module doc).
    ///
    /// With `widest` (for cosine lists that are approximate anyway, from a k-nearest graph),
    /// a row's lexical candidates are the `widest` rows that share its rarer words (those in at
    /// most [`RARE_POSTINGS`] notes) most; every score is still the exact fused one. Without
    /// it every row sharing a word that could enter is rescored, which on a large folder of
    /// common words costs a dot product per note pair sharing a word.
    pub fn fuse_lists(
        &self,
        rows: &[&[f32]],
        dense: Vec<Neighbours>,
        keep: &[usize],
        widest: Option<usize>,
    ) -> Vec<Neighbours> {
        self.fuse_lists_reading(rows, None, dense, keep, widest)
    }

    /// `fuse_lists`, reading the rows through `fetch` (by position) when given: the rows it
    /// rescores lie anywhere, and through a map such reads bring a large file into memory
    /// (`Fetch`). The lists are the same bits.
    pub fn fuse_lists_reading(
        &self,
        rows: &[&[f32]],
        fetch: Option<&Fetch<'_>>,
        dense: Vec<Neighbours>,
        keep: &[usize],
        widest: Option<usize>,
    ) -> Vec<Neighbours> {
        let rows = FuseRows { rows, fetch };
        dense
            .into_par_iter()
            .enumerate()
            .map_init(Scratch::default, |scratch, (row, list)| match widest {
                None => self.fuse_exact(&rows, row, &list, keep[row], scratch),
                Some(widest) => self.fuse_bounded(&rows, row, &list, keep[row], widest, scratch),
            })
            .collect()
    }

    fn fuse_exact(
        &self,
        rows: &FuseRows<'_>,
        row: usize,
        list: &Neighbours,
        keep: usize,
        scratch: &mut Scratch,
    ) -> Neighbours {
        // The lexical scores of every row sharing a word, left in the scratch arrays
        // (unsorted: the order rows are offered in does not change the result).
        self.accumulate(&self.rows[row], usize::MAX, scratch);
        let own_row = rows.row(row, &mut scratch.own);
        let mut top = TopK::new(keep, 0.0);
        // The cosine list first, each with its lexical score.
        let mut fused: Vec<f32> = Vec::with_capacity(list.len());
        for neighbour in list {
            let other = neighbour.id as usize;
            let score = self.fuse(
                dot(own_row, rows.row(other, &mut scratch.other)),
                scratch.sums[other],
            );
            fused.push(score);
            top.push(candidate(other, score));
        }
        // A row outside the cosine list has a cosine no higher than its last entry's, so it
        // can enter only if that cosine with its lexical score reaches the list's keep-th
        // fused score: most lexical matches are ruled out without a dot product.
        let (last_cosine, floor) = match list.last() {
            Some(last) if list.len() >= keep && keep > 0 => {
                fused.sort_unstable_by(|a, b| b.total_cmp(a));
                (last.score, fused[keep - 1])
            }
            _ => (f32::INFINITY, f32::NEG_INFINITY),
        };
        for &other in &scratch.hit {
            let other = other as usize;
            let lexical = scratch.sums[other];
            // The floor rises as better rows enter (`TopK::floor` bounds the final keep-th).
            let floor = floor.max(top.floor());
            if other == row || self.fuse(last_cosine, lexical) < floor || in_list(list, other) {
                continue;
            }
            top.push(candidate(
                other,
                self.fuse(dot(own_row, rows.row(other, &mut scratch.other)), lexical),
            ));
        }
        scratch.clear();
        into_list(top.into_sorted())
    }

    fn fuse_bounded(
        &self,
        rows: &FuseRows<'_>,
        row: usize,
        list: &Neighbours,
        keep: usize,
        widest: usize,
        scratch: &mut Scratch,
    ) -> Neighbours {
        let terms = &self.rows[row];
        self.accumulate(terms, RARE_POSTINGS, scratch);
        if scratch.hit.len() > widest {
            // The `widest` sharing most, ties by row: the same rows every time.
            let sums = &scratch.sums;
            let order = |a: &u32, b: &u32| {
                sums[*b as usize]
                    .total_cmp(&sums[*a as usize])
                    .then(a.cmp(b))
            };
            scratch.hit.select_nth_unstable_by(widest - 1, order);
        }
        let mut candidates: Vec<usize> = list.iter().map(|n| n.id as usize).collect();
        candidates.extend(scratch.hit.iter().take(widest).map(|&r| r as usize));
        scratch.clear();
        candidates.sort_unstable();
        candidates.dedup();
        let mut top = TopK::new(keep, 0.0);
        let own_row = rows.row(row, &mut scratch.own);
        for other in candidates.into_iter().filter(|&other| other != row) {
            let lexical = Lexical::pair(terms, &self.rows[other]);
            top.push(candidate(
                other,
                self.fuse(dot(own_row, rows.row(other, &mut scratch.other)), lexical),
            ));
        }
        into_list(top.into_sorted())
    }
}

/// The rows `fuse_lists` rescores with, by position.
struct FuseRows<'a> {
    rows: &'a [&'a [f32]],
    fetch: Option<&'a Fetch<'a>>,
}

impl<'a> FuseRows<'a> {
    /// The row at `position`: read into `buffer` through `fetch`, else borrowed.
    fn row<'b>(&self, position: usize, buffer: &'b mut Vec<f32>) -> &'b [f32]
    where
        'a: 'b,
    {
        fetched_or(self.fetch, position, self.rows[position], buffer)
    }
}

fn in_list(list: &Neighbours, row: usize) -> bool {
    list.iter().any(|neighbour| neighbour.id as usize == row)
}

/// Words in more notes than this do not propose lexical candidates in a bounded fusion (they
/// still count in every score).
pub const RARE_POSTINGS: usize = 1_000;

#[derive(Default)]
struct Scratch {
    sums: Vec<f32>,
    seen: Vec<bool>,
    hit: Vec<u32>,
    /// Rows read through a `Fetch`: the row's own, and the other's.
    own: Vec<f32>,
    other: Vec<f32>,
}

impl Scratch {
    /// Back to all zeros, touching only what was hit.
    fn clear(&mut self) {
        for &row in &self.hit {
            self.sums[row as usize] = 0.0;
            self.seen[row as usize] = false;
        }
        self.hit.clear();
    }
}

/// Matches of a few query rows against every row, by one pass over all rows' terms in any
/// order: each visited row's scores are summed over its terms in ascending order from zero,
/// the same bits as [`Lexical::pair`] and the inverted index give.
pub struct MatchPass {
    queries: Vec<usize>,
    /// Query terms: (term, query index, weight), sorted by term.
    by_term: Vec<(u32, u32, f32)>,
    /// A filter on the low bits of the query terms: most terms of most rows miss it.
    filter: Vec<u64>,
    found: Vec<Vec<(u32, f32)>>,
    sums: Vec<f32>,
    seen: Vec<bool>,
    hit: Vec<u32>,
}

const FILTER_BITS: u32 = 20;

impl MatchPass {
    /// A pass for these rows and their terms.
    pub fn new(queries: &[(usize, Terms)]) -> MatchPass {
        let mut by_term = Vec::new();
        let mut filter = vec![0u64; 1 << (FILTER_BITS - 6)];
        for (index, (_, terms)) in queries.iter().enumerate() {
            for &(term, weight) in terms {
                by_term.push((term, index as u32, weight));
                let bit = term & ((1 << FILTER_BITS) - 1);
                filter[(bit >> 6) as usize] |= 1 << (bit & 63);
            }
        }
        by_term.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        MatchPass {
            found: vec![Vec::new(); queries.len()],
            sums: vec![0.0; queries.len()],
            seen: vec![false; queries.len()],
            hit: Vec::new(),
            queries: queries.iter().map(|&(row, _)| row).collect(),
            by_term,
            filter,
        }
    }

    /// Scores one row against every query (each row once; a query row skips itself).
    pub fn visit(&mut self, row: usize, terms: &[(u32, f32)]) {
        for &(term, weight) in terms {
            let bit = term & ((1 << FILTER_BITS) - 1);
            if self.filter[(bit >> 6) as usize] & (1 << (bit & 63)) == 0 {
                continue;
            }
            let from = self.by_term.partition_point(|entry| entry.0 < term);
            for &(_, index, query_weight) in self.by_term[from..]
                .iter()
                .take_while(|entry| entry.0 == term)
            {
                let slot = index as usize;
                if !self.seen[slot] {
                    self.seen[slot] = true;
                    self.hit.push(index);
                }
                self.sums[slot] += query_weight * weight;
            }
        }
        for index in self.hit.drain(..) {
            let slot = index as usize;
            if self.queries[slot] != row {
                self.found[slot].push((row as u32, self.sums[slot]));
            }
            self.sums[slot] = 0.0;
            self.seen[slot] = false;
        }
    }

    /// Takes in the matches of another pass for the same queries over other rows, so that
    /// passes over parts of the rows can run at once.
    pub fn absorb(&mut self, other: MatchPass) {
        assert_eq!(self.queries, other.queries, "a pass for the same queries");
        for (found, more) in self.found.iter_mut().zip(other.found) {
            found.extend(more);
        }
    }

    /// Each query row's matches.
    pub fn finish(self) -> Vec<(usize, Matches)> {
        self.queries
            .into_iter()
            .zip(self.found)
            .map(|(row, mut entries)| {
                entries.sort_unstable_by_key(|entry| entry.0);
                (row, Matches { entries })
            })
            .collect()
    }
}

/// A row's lexical scores against the rows sharing a term with it, sorted by row.
#[derive(Debug, Clone, Default)]
pub struct Matches {
    entries: Vec<(u32, f32)>,
}

impl Matches {
    /// A reader for rows visited in ascending order.
    pub fn cursor(&self) -> Cursor<'_> {
        Cursor {
            entries: &self.entries,
            next: 0,
        }
    }

    /// A reader starting at the first entry not below `row`.
    pub fn cursor_from(&self, row: usize) -> Cursor<'_> {
        Cursor {
            entries: &self.entries,
            next: self.entries.partition_point(|&(r, _)| (r as usize) < row),
        }
    }

    pub fn entries(&self) -> &[(u32, f32)] {
        &self.entries
    }
}

/// Reads a row's lexical score against rows asked in ascending order.
pub struct Cursor<'a> {
    entries: &'a [(u32, f32)],
    next: usize,
}

impl Cursor<'_> {
    /// The lexical score against `row` (0 when they share no term); rows must not go down.
    #[inline]
    pub fn at(&mut self, row: usize) -> f32 {
        while self.next < self.entries.len() && (self.entries[self.next].0 as usize) < row {
            self.next += 1;
        }
        match self.entries.get(self.next) {
            Some(&(r, score)) if r as usize == row => score,
            _ => 0.0,
        }
    }
}

/// A score source for scans and patches: cosine alone, or fused with the lexical score.
#[derive(Clone, Copy)]
pub struct Scorer<'a> {
    pub rows: &'a [&'a [f32]],
    pub lexical: Option<&'a Lexical>,
}

impl<'a> Scorer<'a> {
    pub fn cosine(rows: &'a [&'a [f32]]) -> Scorer<'a> {
        Scorer {
            rows,
            lexical: None,
        }
    }

    /// Row `row`'s lexical matches (empty for cosine only).
    pub fn matches_of(&self, row: usize) -> Matches {
        match self.lexical {
            Some(lexical) => lexical.matches_of(row),
            None => Matches::default(),
        }
    }

    #[inline]
    pub fn score(&self, dot: f32, cursor: &mut Cursor<'_>, row: usize) -> f32 {
        match self.lexical {
            Some(lexical) => lexical.fuse(dot, cursor.at(row)),
            None => dot,
        }
    }
}
