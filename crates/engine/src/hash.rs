//! The one way texts are hashed: a note's text to embed is identified by the first 16 bytes of
//! its sha256 (128 bits: no two texts of a million-note folder collide in practice), which keys
//! its stored vector and tells an edit that changes what is embedded from one that does not.

use sha2::{Digest, Sha256};

/// The hash of a text to embed.
pub type TextHash = [u8; 16];

/// The hash of the empty text: the text of a note with too little of its own
/// (`learned::own_text`), which is neither listed nor given a list.
pub(crate) const EMPTY_TEXT: TextHash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
];

pub fn text_hash(text: &str) -> TextHash {
    let digest = Sha256::digest(text.as_bytes());
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&digest[..16]);
    hash
}

/// The first 16 bytes of the sha256 of a note file's bytes: whether a note about to be written
/// still has the bytes it had when read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct ContentHash(pub(crate) [u8; 16]);

impl ContentHash {
    /// From the lowercase hex `closest_notes::content_hash` gives.
    pub(crate) fn from_hex(hex: &str) -> Option<ContentHash> {
        from_hex(hex).map(ContentHash)
    }
}

/// A hash of the lines rendered for a note, with the render settings folded in: whether its
/// lines changed since they were last written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct RenderedHash(pub(crate) [u8; 16]);

/// Whether a note with this text has enough of its own to be listed and to list others
/// (`learned::own_text`).
pub(crate) fn has_own_text(text_hash: &TextHash) -> bool {
    *text_hash != EMPTY_TEXT
}

/// A hash of several strings, separated so that ("ab", "c") and ("a", "bc") differ.
pub(crate) fn hash_parts<'a>(parts: impl IntoIterator<Item = &'a str>) -> RenderedHash {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&digest[..16]);
    RenderedHash(hash)
}

/// Lowercase hex of a version-1 store's sha256, back to bytes (the first 16).
pub(crate) fn from_hex(hex: &str) -> Option<TextHash> {
    let bytes = hex.as_bytes();
    if bytes.len() < 32 {
        return None;
    }
    let mut hash = [0u8; 16];
    for (index, slot) in hash.iter_mut().enumerate() {
        let pair = std::str::from_utf8(&bytes[2 * index..2 * index + 2]).ok()?;
        *slot = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_texts_hash_is_the_constant() {
        assert_eq!(text_hash(""), EMPTY_TEXT);
    }
}
