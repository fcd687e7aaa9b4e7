//! Markdown notes for `closest`: finding them, reading them, and rewriting one region.
//!
//! This crate is everything `closest` knows about notes as files and as markdown, and nothing
//! about vectors or models: the binary asks it for the notes of a folder and their ids
//! ([`walk`], which leaves out editor template folders), the text each should be embedded from
//! ([`read_note`], [`parse`], [`embed_text`]), and, once it knows each note's neighbours, for
//! the new text of the note ([`render_links_with`], [`splice`], [`splice_front_matter`], or
//! [`write_region`], which also says which bytes it wrote so that [`remove_region`] can move
//! them when the settings change) and a safe way to write it ([`write_atomic`]). It also checks
//! links the way renderers follow them ([`managed_links`], [`Resolver`]). Its rule is the one
//! users care about most: every byte outside the managed region stays as it was, and running
//! twice changes nothing, the text to embed included.
//!
//! One note's round trip, as the binary drives it:
//!
//! ```
//! use closest_notes::{
//!     embed_text, read_note, render_links, splice, walk, write_atomic, LinkTarget,
//!     SectionSpec, Template, WalkOptions, WriteOutcome,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let root = tempfile::tempdir()?;
//! std::fs::write(root.path().join("a.md"), "# A\n\nApples [and](x) pears.\n")?;
//! std::fs::write(root.path().join("b.md"), "# B\n\nPears.\n")?;
//!
//! let spec = SectionSpec::default();
//! let notes = walk(root.path(), &WalkOptions::default())?.notes;
//! let note = read_note(&notes[0])?;
//! let parsed = note.parse(&spec)?;
//! assert_eq!(embed_text(&parsed), "# A\n\nApples and pears.");
//!
//! let target = LinkTarget {
//!     id: "b".into(),
//!     title: "B".into(),
//!     rel_path: "b.md".into(),
//!     score: 0.83,
//! };
//! let links = render_links(&Template::Bullet, note.file(), &[target]);
//! let new_text = splice(note.text(), &parsed, &spec, &links);
//! assert_eq!(new_text, "# A\n\nApples [and](x) pears.\n\n## Closest\n\n* [b](b)\n");
//! assert_eq!(write_atomic(&note, &new_text)?, WriteOutcome::Written);
//! # Ok(())
//! # }
//! ```

mod append;
mod blocks;
mod boilerplate;
mod error;
mod events;
mod frontmatter;
mod ids;
mod inside;
mod lines;
mod links;
mod note;
mod parse;
mod region;
mod render;
mod resolve;
mod shape;
mod spec;
mod splice;
mod templates;
mod terms;
mod text;
mod walk;
mod write;

pub use boilerplate::{Boilerplate, BOILERPLATE_MIN_NOTES, BOILERPLATE_SHARE};
pub use error::{Error, NoteError, Warning};
pub use frontmatter::{splice_front_matter, FrontMatterFormat};
pub use ids::{ids_for, note_id, IdScheme};
pub use lines::{line_number as line_of, LineEnding};
pub use links::{all_in_one_folder, linked_ids, LinkEvidence, LinkForm, LinkStyle};
pub use note::{content_hash, read_note, Note, NoteFile};
pub use parse::{parse, Parsed, Section, SectionSpec};
pub use region::{
    remove_region, take_out_section, write_region, Region, RemoveOutcome, WrittenRegion,
};
pub use render::{render_links, render_links_with, LinkTarget, Template};
pub use resolve::{managed_links, LinkKind, ManagedLink, Resolved, Resolver};
pub use splice::{section_is_current, splice, try_splice};
pub use templates::{template_folders, TemplateFolder, TemplateSource};
pub use terms::{
    term_counts, term_id, too_little, words, Idf, MAX_DF_SHARE, MIN_WORDS, TERMS_PER_NOTE,
    TERMS_VERSION,
};
pub use text::{embed_text, EMBED_TEXT_VERSION};
pub use walk::{stat_path, walk, walk_with_stats, FileStat, Walk, WalkOptions, IGNORE_FILE_NAME};
pub use write::{
    sync_folder, write_atomic, write_atomic_deferred, WriteOutcome, Written, TEMP_FILE_PREFIX,
};
