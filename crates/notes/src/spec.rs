//! Which heading marks the managed section, and which custom link lines are `closest`'s.

use serde::{Deserialize, Serialize};

/// Which heading marks the managed section.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SectionSpec {
    /// The heading's text, compared after trimming.
    pub heading: String,
    /// The heading's level, 1 to 6.
    pub level: u8,
    /// Custom link lines (templates with placeholders) whose filled lines are `closest`'s, as
    /// well as the built-in templates' lines (`shape.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_lines: Vec<String>,
}

impl Default for SectionSpec {
    fn default() -> Self {
        SectionSpec {
            heading: "Closest".to_string(),
            level: 2,
            custom_lines: Vec::new(),
        }
    }
}

impl SectionSpec {
    /// The same section, whose link lines may also have these custom lines' shape.
    pub fn with_custom_lines(mut self, lines: impl IntoIterator<Item = String>) -> SectionSpec {
        self.custom_lines = lines.into_iter().collect();
        self
    }

    /// The ATX heading line written for a new section, without its line break: `## Closest`.
    pub fn heading_line(&self) -> String {
        format!(
            "{} {}",
            "#".repeat(usize::from(self.level.clamp(1, 6))),
            self.heading.trim()
        )
    }
}
