//! The command line as clap sees it. The options a notes folder can also set in `.closest.toml`
//! are one type each (`FolderOptions`, `ModelOptions`) used for both, so a new setting is one
//! field; `settings.rs` merges them (the flag wins) and validates the result, so commands
//! never see clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use closest_embed::{DType, DeviceChoice, LongPolicy};
use closest_index::{IndexKind, Similarity};
use closest_notes::{IdScheme, LinkStyle};
use serde::Deserialize;

/// The default threshold, chosen on the shared til + tldr notes (BENCHMARKS.md, "dupes"):
/// above it are copies and pages that differ by a name; below it, notes on one topic.
pub(crate) const DEFAULT_THRESHOLD: f32 = 0.95;

#[derive(Debug, Parser)]
#[command(
    name = "closest",
    version,
    about = "Keep a \"## Closest\" section of the nearest notes in every markdown note"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    #[command(flatten)]
    pub model: ModelOptions,
    /// Worker threads (default: all cores).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Never draw progress bars.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// When to use colour.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// The model and where it runs: flags of every command, and keys of `.closest.toml`.
#[derive(Debug, Args, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct ModelOptions {
    /// Model: a folder, a known name (all-MiniLM-L6-v2) or a Hugging Face repo id.
    #[arg(long, global = true, env = "CLOSEST_MODEL")]
    pub model: Option<String>,
    /// Where the model runs: auto, cpu, cuda or cuda:N.
    #[arg(long, global = true)]
    #[serde(default, deserialize_with = "from_str")]
    pub device: Option<DeviceChoice>,
    /// Model precision: f32 (default on the CPU), f16 or bf16. bf16 on a CPU with AVX512_BF16
    /// is our opt-in fast path (about 1.5x f32, cosine >= 0.9999 to it); vectors of each
    /// precision are stored apart.
    #[arg(long, global = true, value_parser = closest_embed::parse_dtype)]
    #[serde(default, deserialize_with = "dtype")]
    pub dtype: Option<DType>,
    /// Tokens per embedding batch.
    #[arg(long, global = true)]
    pub batch_tokens: Option<usize>,
}

/// What shapes a folder's sections and what is compared: flags of the folder commands, and
/// keys of `.closest.toml`.
#[derive(Debug, Args, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct FolderOptions {
    /// Links per note.
    #[arg(short = 'k', long = "k")]
    pub k: Option<usize>,
    /// How the lists are computed: auto (exact below 50,000 notes, the k-nearest graph above),
    /// exact, graph or hnsw.
    #[arg(long, value_enum)]
    pub index: Option<IndexKind>,
    /// Leave out neighbours scoring below this, instead of below the folder's floor (half the
    /// median best score, learned into `.closest.lock`); `--min-score=-1` shows every one.
    #[arg(long, allow_negative_numbers = true)]
    pub min_score: Option<f32>,
    /// What similarity is made of: hybrid (the embedding's cosine fused with a TF-IDF score)
    /// or semantic (cosine alone).
    #[arg(long, value_enum)]
    pub similarity: Option<Similarity>,
    /// The lexical score's share of a hybrid similarity, 0 to 1 [default: 0.35].
    #[arg(long)]
    pub lexical_weight: Option<f32>,
    /// Leave out notes the note already links to.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub exclude_linked: Option<bool>,
    /// Heading text of the managed section.
    #[arg(long)]
    pub heading: Option<String>,
    /// Heading level of the managed section (1-6).
    #[arg(long)]
    pub level: Option<u8>,
    /// Link line: bullet, wiki, title-path, front-matter, or a line with {id} {title} {path}
    /// {link} {score}.
    #[arg(long)]
    pub template: Option<String>,
    /// Note ids.
    #[arg(long, value_enum)]
    pub id_scheme: Option<IdScheme>,
    /// Only notes matching these globs (relative to the notes root).
    #[arg(long)]
    pub include: Option<Vec<String>>,
    /// Skip notes matching these globs.
    #[arg(long)]
    pub exclude: Option<Vec<String>>,
    /// Long notes.
    #[arg(long, value_enum)]
    pub long: Option<LongPolicy>,
    /// Follow symbolic links to notes.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub follow_symlinks: Option<bool>,
    /// Markdown links to notes end in `.md` or not (auto: the folder's convention).
    #[arg(long, value_enum)]
    pub link_style: Option<LinkStyle>,
    /// Leave out the note-template folder Obsidian or Templater is configured with (default
    /// true).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub exclude_template_folders: Option<bool>,
    /// Take over another tool's section under this heading (same level), once, on purpose.
    #[arg(long)]
    pub migrate_from_heading: Option<String>,
    /// Where the store, vectors and lock live (default: `<notes>/.closest`).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Bring every note's Closest section up to date.
    Update(UpdateArgs),
    /// Take every Closest section (and front-matter list) out again, then the lock file and the
    /// state folder: notes nobody edited get back the bytes they had before.
    Clean(CleanArgs),
    /// Show the notes nearest to a note, a text, or standard input.
    Similar(SimilarArgs),
    /// Why note B is (or is not) in note A's list: scores, shared words, rank, sentences.
    Explain(ExplainArgs),
    /// Embed JSON Lines `{"id", "text"}` from stdin to `{"id", "embedding"}` on stdout.
    Embed(EmbedArgs),
    /// Summarise a notes folder and its store, and what the next update would do.
    Status(StatusArgs),
    /// Report managed links that lead to no note, with the note and the line (exit 1 if any).
    CheckLinks(StatusArgs),
    /// Keep every section current while notes are edited (Ctrl-C stops; exit 0).
    Watch(WatchArgs),
    /// Answer similar/explain/embed over HTTP on 127.0.0.1, or MCP over stdio with `--mcp`.
    Serve(ServeArgs),
    /// Speak the Model Context Protocol over stdio (same as `serve --mcp`).
    Mcp(McpArgs),
    /// Write every note's neighbours as a data file for a static-site generator (stdout).
    Export(ExportArgs),
    /// List pairs of notes at least this similar (near-copies).
    Dupes(DupesArgs),
    /// Measure embedding, index or update speed.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Fetch, list and describe models.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Print a shell completion script (e.g. `closest completions bash > ~/.local/share/bash-completion/completions/closest`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff: `closest man | man -l -`), or write one page per command.
    Man {
        /// Write `closest.1` and `closest-<command>.1` for every command into this folder.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print what a bug report needs: versions, CPU features and kernels, device, model and
    /// checksums, store health.
    Doctor(StatusArgs),
}

#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    /// Notes root (default: the current folder).
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub folder: FolderOptions,
    /// Change nothing; exit 1 and name the notes whose section is stale.
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,
    /// Change nothing; list the notes that would change.
    #[arg(long)]
    pub dry_run: bool,
    /// Read every note and recompute every list, whatever the store says.
    #[arg(long)]
    pub full: bool,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct CleanArgs {
    /// Notes root (default: the current folder).
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub folder: FolderOptions,
    /// Change nothing; list the notes that would change.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct SimilarArgs {
    /// A note: its id, its path (from the notes folder, from here, or absolute) or its file
    /// name.
    #[arg(long, group = "query")]
    pub note: Option<String>,
    /// A text to search for.
    #[arg(long, group = "query")]
    pub text: Option<String>,
    /// Read the query text from standard input (`-`).
    #[arg(value_name = "-", group = "query")]
    pub stdin: Option<String>,
    /// Notes root (default: the current folder).
    #[arg(long)]
    pub notes: Option<PathBuf>,
    #[command(flatten)]
    pub folder: FolderOptions,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The note whose list is explained: its id, path or file name.
    pub a: String,
    /// The note that is, or is not, in A's list: its id, path or file name.
    pub b: String,
    /// Notes root (default: the current folder).
    #[arg(long)]
    pub notes: Option<PathBuf>,
    #[command(flatten)]
    pub folder: FolderOptions,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct EmbedArgs {
    /// Long texts.
    #[arg(long, value_enum, default_value_t)]
    pub long: LongPolicy,
    /// Embed as queries (with the model's query prompt, if it has one).
    #[arg(long)]
    pub query: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Notes root (default: the current folder).
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub folder: FolderOptions,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Notes root (default: the current folder).
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub folder: FolderOptions,
    /// Seconds a note must be left alone before its own section is rewritten.
    #[arg(long, default_value_t = 3.0, value_name = "SECONDS")]
    pub hold: f64,
    /// Milliseconds without events before a run starts.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub debounce: u64,
    /// Output format: text for people; json, one update report per run on stdout (JSON Lines).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Notes root (default: the current folder).
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub folder: FolderOptions,
    /// Port on 127.0.0.1 (0: any free port, printed on stderr).
    #[arg(long, default_value_t = 7457)]
    pub port: u16,
    /// Speak the Model Context Protocol over stdio instead of HTTP.
    #[arg(long)]
    pub mcp: bool,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub max_body: usize,
    /// Requests embedding text at once (default: the number of cores); more wait in a queue.
    #[arg(long, value_name = "N")]
    pub embed_jobs: Option<usize>,
}

#[derive(Debug, Args)]
pub(crate) struct McpArgs {
    /// Notes root (default: the current folder).
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub folder: FolderOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DataFormat {
    Json,
    Yaml,
    Toml,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Notes root (default: the current folder).
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub folder: FolderOptions,
    /// The data file's format.
    #[arg(long, value_enum)]
    pub format: DataFormat,
}

#[derive(Debug, Args)]
pub(crate) struct DupesArgs {
    /// Notes root (default: the current folder).
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub folder: FolderOptions,
    /// Least cosine similarity of a pair (the cosine of the two notes' vectors, whatever
    /// `similarity` ranks the lists by).
    #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
    pub threshold: f32,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Embedding throughput on a notes folder.
    Embed(BenchEmbedArgs),
    /// Index build, all-pairs, query latency and HNSW recall.
    Index(BenchIndexArgs),
    /// A cold `update` of a copy of a notes folder, then the runs that follow edits: nothing
    /// changed, `--check`, notes added, notes edited and deleted.
    Update(BenchUpdateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BenchEmbedArgs {
    /// Notes folder to embed (every .md file under it, sorted by path).
    #[arg(long)]
    pub notes: PathBuf,
    /// Take every Nth note (as the Python anchor's --stride).
    #[arg(long, default_value_t = 1)]
    pub stride: usize,
    /// At most this many notes.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Timed repetitions after a warm-up; the best is reported.
    #[arg(long, default_value_t = 2)]
    pub repeat: usize,
    #[arg(long, value_enum, default_value_t)]
    pub long: LongPolicy,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct BenchIndexArgs {
    /// Notes folders whose stored vectors to use (run `closest update` on them first).
    #[arg(long)]
    pub notes: Vec<PathBuf>,
    /// Or N synthetic clustered unit vectors.
    #[arg(long)]
    pub synthetic: Option<usize>,
    #[arg(long, default_value_t = 384)]
    pub dim: usize,
    #[arg(long, default_value_t = 16)]
    pub m: usize,
    #[arg(long, default_value_t = 200)]
    pub ef_construction: usize,
    #[arg(long, default_value_t = 64)]
    pub ef_search: usize,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct BenchUpdateArgs {
    /// Notes folders to copy into one scratch folder (the originals are never touched).
    #[arg(long, required = true)]
    pub notes: Vec<PathBuf>,
    /// Notes held back from the cold run and added before an incremental one.
    #[arg(long, default_value_t = 10)]
    pub add: usize,
    /// Notes edited before the last incremental run.
    #[arg(long, default_value_t = 10)]
    pub edit: usize,
    /// Notes deleted before the last incremental run.
    #[arg(long, default_value_t = 10)]
    pub delete: usize,
    /// Run on the one `--notes` folder itself instead of a copy (for generated corpora too
    /// large to copy); the benchmark adds, edits and deletes notes in it.
    #[arg(long)]
    pub in_place: bool,
    /// Fill the store with synthetic vectors before the cold run instead of embedding every
    /// note (the timed runs still embed what they add with the model).
    #[arg(long)]
    pub synthetic_vectors: bool,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {
    /// Fetch a model (default: all-MiniLM-L6-v2) and check its files.
    Fetch { model: Option<String> },
    /// List known models and where each is on disk.
    List,
    /// Describe a model: source, folder, dimensions, pooling, maximum length, prompts.
    Info {
        model: Option<String>,
        /// Output format: text for people, json for programs.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// Reads a `.closest.toml` value through the type's own parser (the one its flag uses).
fn from_str<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = Option::<String>::deserialize(deserializer)?;
    text.map(|text| text.parse().map_err(serde::de::Error::custom))
        .transpose()
}

fn dtype<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<DType>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    text.map(|text| closest_embed::parse_dtype(&text).map_err(serde::de::Error::custom))
        .transpose()
}
