//! Keeping the vector file dense and in note order: rows of edited and deleted notes' old texts
//! stay in it until they outnumber the live ones, then one pass rewrites the live rows in note
//! order; a full ranking of a large folder asks for that order too, to read the rows in place.

use crate::error::Result;
use crate::store::Store;
use crate::vectors::VectorFile;

/// Compaction waits for at least this many rows, so small folders never bother.
const MIN_ROWS: usize = 1024;

/// Rewrites the vector file when fewer than half of its rows are still mapped. `note_slots`
/// are the current notes' slots in note order, which becomes the new row order.
pub(crate) fn maybe_compact(
    store: &mut Store,
    vectors: &mut VectorFile,
    note_slots: &[u32],
) -> Result<bool> {
    let mapped = store.vector_count()?;
    if vectors.rows() < MIN_ROWS || mapped * 2 >= vectors.rows() {
        return Ok(false);
    }
    reorder(store, vectors, note_slots)?;
    Ok(true)
}

/// Rewrites the vector file with the notes' rows first, in note order (a shared text at its
/// first note), unless they already are; returns each note's new slot.
pub(crate) fn into_order(
    store: &mut Store,
    vectors: &mut VectorFile,
    note_slots: &[u32],
) -> Result<Option<Vec<u32>>> {
    // In order: each note's slot is the next unused one, or one an earlier note uses (the
    // slots before `next` are exactly the earlier notes').
    let mut next = 0usize;
    let ordered = note_slots.iter().all(|&slot| {
        let slot = slot as usize;
        if slot == next {
            next += 1;
        }
        slot < next
    }) && vectors.rows() == next;
    if ordered {
        return Ok(None);
    }
    reorder(store, vectors, note_slots).map(Some)
}

/// Live rows first in note order, then cached rows no note uses, in slot order; everything
/// else is dropped. Returns each note's new slot.
fn reorder(store: &mut Store, vectors: &mut VectorFile, note_slots: &[u32]) -> Result<Vec<u32>> {
    let mut all = store.all_slots()?;
    let mut order: Vec<u32> = Vec::with_capacity(all.len());
    let mut seen = vec![false; vectors.rows()];
    for &slot in note_slots.iter().chain(all.iter().map(|(_, slot)| slot)) {
        if let Some(flag) = seen.get_mut(slot as usize) {
            if !*flag {
                *flag = true;
                order.push(slot);
            }
        }
    }
    let mut new_slot = vec![u32::MAX; vectors.rows()];
    for (index, &slot) in order.iter().enumerate() {
        new_slot[slot as usize] = index as u32;
    }
    vectors.compact(&order)?;
    for (_, slot) in &mut all {
        *slot = new_slot[*slot as usize];
    }
    all.retain(|(_, slot)| *slot != u32::MAX);
    store.replace_vectors(&all, &vectors.meta().entries())?;
    vectors.sweep();
    Ok(note_slots
        .iter()
        .map(|&slot| new_slot.get(slot as usize).copied().unwrap_or(slot))
        .collect())
}
