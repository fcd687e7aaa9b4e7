//! A note's title from its front matter: the `title` key static-site generators and vaults
//! write (`title: ...` in YAML, `title = "..."` in TOML, `"title": "..."` in JSON).
//!
//! The block is read by each syntax's own parser; a block that does not parse, or whose
//! `title` is missing, empty or not a string, gives no title, and the note's first heading
//! names it as before.

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::{Block, FrontMatterFormat};

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    title: Option<Title>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Title {
    Text(String),
    Other(IgnoredAny),
}

/// The `title` of the front matter `block` of `source`, trimmed, when it is a non-empty string.
pub(crate) fn title(source: &str, block: &Block) -> Option<String> {
    let text = &source[block.range.clone()];
    let meta: Meta = match block.format {
        FrontMatterFormat::Yaml => serde_norway::from_str(inner(text)).ok()?,
        FrontMatterFormat::Toml => toml::from_str(inner(text)).ok()?,
        FrontMatterFormat::Json => serde_json::from_str(text).ok()?,
    };
    match meta.title? {
        Title::Text(title) => {
            let title = title.trim();
            (!title.is_empty()).then(|| title.to_owned())
        }
        Title::Other(_) => None,
    }
}

/// The lines between a YAML or TOML block's delimiter lines.
fn inner(block: &str) -> &str {
    let start = block.find('\n').map_or(block.len(), |at| at + 1);
    let body = block[start..].trim_end_matches(['\n', '\r']);
    let end = body.rfind('\n').map_or(0, |at| at + 1);
    &body[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn title_of(source: &str) -> Option<String> {
        super::super::detect(source).and_then(|block| title(source, &block))
    }

    #[test]
    fn each_syntax_names_its_title() {
        assert_eq!(
            title_of("---\ntitle: \"Raised beds\"\ntags: [garden]\n---\n# Beds\n"),
            Some("Raised beds".into())
        );
        assert_eq!(
            title_of("+++\r\ntitle = \"Cast iron\"\r\n[params]\r\nx = 1\r\n+++\r\nbody\r\n"),
            Some("Cast iron".into())
        );
        assert_eq!(
            title_of("{\n  \"title\": \" Sourdough \",\n  \"draft\": false\n}\nbody\n"),
            Some("Sourdough".into())
        );
    }

    #[test]
    fn no_usable_title_gives_none() {
        assert_eq!(title_of("---\ntags: [a]\n---\n"), None);
        assert_eq!(title_of("---\ntitle: \"\"\n---\n"), None);
        assert_eq!(title_of("---\ntitle: [a, b]\n---\n"), None);
        assert_eq!(title_of("---\ntitle: [unclosed\n---\n"), None);
        assert_eq!(title_of("+++\ntitle = 3\n+++\n"), None);
        assert_eq!(title_of("---\n---\n"), None);
    }
}
