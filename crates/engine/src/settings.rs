//! Validated settings: what the binary hands the engine once flags and `.closest.toml` are
//! merged and checked. Plain data, no parsing here; the fingerprints say which stored state a
//! change of settings invalidates.

use std::path::PathBuf;

use closest_embed::{dtype_name, BatchLimits, DType, DeviceChoice, LongPolicy};
use closest_index::{IndexKind, Similarity};
use closest_notes::{IdScheme, LinkForm, LinkStyle, Region, SectionSpec, Template, WalkOptions};

/// Where and how the model runs.
#[derive(Debug, Clone)]
pub struct ModelSettings {
    /// A folder, a known name or a Hugging Face repo id; `None` is the default model.
    pub model: Option<String>,
    pub device: DeviceChoice,
    pub dtype: DType,
    pub limits: BatchLimits,
}

impl Default for ModelSettings {
    fn default() -> Self {
        ModelSettings {
            model: None,
            device: DeviceChoice::Auto,
            dtype: DType::F32,
            limits: BatchLimits::default(),
        }
    }
}

/// How the links are written: as a section of lines, or as a list in the front matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Section(Template),
    FrontMatter { key: String },
}

/// The lexical score's share of a hybrid score, chosen on the shared labelled sets
/// (BENCHMARKS.md, issue 14).
pub(crate) const DEFAULT_LEXICAL_WEIGHT: f32 = 0.35;

/// Everything the engine needs to know about a notes folder.
#[derive(Debug, Clone)]
pub struct FolderSettings {
    pub root: PathBuf,
    /// The store, vectors, saved index and lock (`<root>/.closest` unless moved).
    pub state_dir: PathBuf,
    pub k: usize,
    pub section: SectionSpec,
    pub output: Output,
    pub id_scheme: IdScheme,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub follow_symlinks: bool,
    pub long: LongPolicy,
    pub index: IndexKind,
    /// The least score a shown link has, instead of the folder's floor (`floor.rs`); not
    /// finite (the default) when unset.
    pub min_score: f32,
    pub exclude_linked: bool,
    /// Cosine alone, or fused with a lexical score.
    pub similarity: Similarity,
    /// The lexical score's share of a hybrid score (0 to 1).
    pub lexical_weight: f32,
    /// Whether markdown links end in `.md` (`auto`: the folder's convention).
    pub link_style: LinkStyle,
    /// Leave out the note templates folder Obsidian (or Templater) is configured with.
    pub exclude_template_folders: bool,
    /// Another tool's section heading to take over once, at the configured level.
    pub migrate_from_heading: Option<String>,
    pub model: ModelSettings,
}

impl FolderSettings {
    /// Defaults for a folder: ten links under `## Closest`, bullet lines, exact-or-auto index.
    pub fn new(root: PathBuf) -> Self {
        FolderSettings {
            state_dir: root.join(crate::state_dir::DEFAULT_NAME),
            root,
            k: 10,
            section: SectionSpec::default(),
            output: Output::Section(Template::Bullet),
            id_scheme: IdScheme::default(),
            include: Vec::new(),
            exclude: Vec::new(),
            follow_symlinks: false,
            long: LongPolicy::default(),
            index: IndexKind::Auto,
            min_score: f32::NEG_INFINITY,
            exclude_linked: false,
            similarity: Similarity::default(),
            lexical_weight: DEFAULT_LEXICAL_WEIGHT,
            link_style: LinkStyle::default(),
            exclude_template_folders: true,
            migrate_from_heading: None,
            model: ModelSettings::default(),
        }
    }

    pub fn walk_options(&self) -> WalkOptions {
        WalkOptions {
            include: self.include.clone(),
            exclude: self.exclude.clone(),
            follow_symlinks: self.follow_symlinks,
            id_scheme: self.id_scheme,
            exclude_template_folders: self.exclude_template_folders,
        }
    }

    /// Where the list goes in each note.
    pub fn region(&self) -> Region {
        match &self.output {
            Output::Section(_) => Region::from(&self.section),
            Output::FrontMatter { key } => Region::front_matter(key.clone()),
        }
    }

    /// The section of another tool to take over, when asked.
    pub fn migrate_from(&self) -> Option<SectionSpec> {
        self.migrate_from_heading
            .as_ref()
            .and_then(|heading| SectionSpec::new(heading.clone(), self.section.level).ok())
    }

    /// What the text to embed of a note depends on besides the note: which section is the
    /// managed one (it is left out), how the links are written, and the preparation's version.
    /// A change reads every note again.
    pub fn text_fingerprint(&self) -> String {
        let output = match &self.output {
            Output::Section(_) => "section",
            Output::FrontMatter { .. } => "front-matter",
        };
        format!(
            "text-v{}|boilerplate-v2|terms-v{}|{}|{}|{output}|{:?}",
            closest_notes::EMBED_TEXT_VERSION,
            closest_notes::TERMS_VERSION,
            self.section.level,
            self.section.heading.trim(),
            self.section.custom_lines,
        )
    }

    /// What stored candidate lists depend on besides the vectors: their length and the method
    /// that made them. A change recomputes every list.
    pub fn ranking_fingerprint(&self) -> String {
        format!(
            "lists-v1|k={}|exclude-linked={}|index={}|similarity={}",
            self.k,
            self.exclude_linked,
            self.index,
            match self.lexical_weight() {
                Some(weight) => format!("hybrid {weight}"),
                None => "semantic".to_owned(),
            }
        )
    }

    /// The lexical score's weight when it takes part (`hybrid`, weight above 0).
    pub fn lexical_weight(&self) -> Option<f32> {
        (self.similarity == Similarity::Hybrid && self.lexical_weight > 0.0)
            .then_some(self.lexical_weight)
    }

    /// What the written lines depend on besides the lists: a change rewrites every note whose
    /// lines differ (each note is read again to see). The version counts changes to what the
    /// renderer writes for the same settings; v3: `wiki` links a name with `#`, `|`, `^` or
    /// brackets by path, so that links written before it reach their notes again; v4: lists are
    /// in their re-ranked order (`rerank.rs`).
    /// `least` is the least score a shown link has (`floor::least_score`).
    pub fn render_fingerprint(&self, form: LinkForm, least: f32) -> String {
        let output = match &self.output {
            Output::Section(template) => format!("section {template:?}"),
            Output::FrontMatter { key } => format!("front-matter {key}"),
        };
        format!(
            "render-v4|{output}|{}|{}|{:?}|{}|{form:?}",
            self.section.level,
            self.section.heading.trim(),
            self.id_scheme,
            least
        )
    }
}

impl ModelSettings {
    pub fn dtype_name(&self) -> &'static str {
        dtype_name(self.dtype)
    }
}
