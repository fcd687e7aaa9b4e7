//! The lines that close a block able to run to the end of a note: a fence, some HTML blocks.
//!
//! A section appended after such a block would be swallowed by it, so the splice writes the
//! closing line first; the parse notes which line the note's last block needs (`events.rs`), and a
//! custom template line that opens such a block is refused (`render.rs`).

use pulldown_cmark::{CodeBlockKind, Tag};

use crate::lines::{self, strip_break};

/// The line that ends a top-level block that would otherwise run to the end of the file and
/// swallow an appended section: the fence of an unclosed code block, or the terminator of an
/// HTML block of CommonMark's kinds 1 to 5. `block` is the block's source.
pub(crate) fn closer_for(tag: &Tag<'_>, block: &str) -> Option<String> {
    let first_line = strip_break(&block[..lines::line_end(block, 0)]);
    let opener = first_line.trim_start_matches(' ');
    match tag {
        Tag::CodeBlock(CodeBlockKind::Fenced(_)) => {
            let fence = opener.chars().next().filter(|c| *c == '`' || *c == '~')?;
            let count = opener.chars().take_while(|c| *c == fence).count();
            Some(fence.to_string().repeat(count))
        }
        Tag::HtmlBlock => html_closer(opener),
        _ => None,
    }
}

fn html_closer(opener: &str) -> Option<String> {
    let lower = opener.to_ascii_lowercase();
    for name in ["script", "pre", "style", "textarea"] {
        if let Some(after) = lower.strip_prefix('<').and_then(|s| s.strip_prefix(name)) {
            if after.is_empty() || after.starts_with([' ', '\t', '>']) {
                return Some(format!("</{name}>"));
            }
        }
    }
    let closer = if lower.starts_with("<!--") {
        "-->"
    } else if lower.starts_with("<?") {
        "?>"
    } else if lower.starts_with("<![cdata[") {
        "]]>"
    } else if lower.starts_with("<!") && lower[2..].starts_with(|c: char| c.is_ascii_alphabetic()) {
        ">"
    } else {
        return None;
    };
    Some(closer.to_string())
}
