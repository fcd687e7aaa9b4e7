//! Embedding throughput on real notes (every other til note of tests/data), reported as tokens/s: the
//! same path `closest bench embed` measures (our CPU kernels), and candle's tensor ops on the
//! same weights for comparison, under criterion.

use std::path::PathBuf;

use closest_embed::{resolve, DType, Device, EmbedOptions, Embedder, FetchOptions, ForwardPass};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn notes() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/til/notes");
    let mut paths = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths
        .iter()
        .step_by(2)
        .map(|path| String::from_utf8_lossy(&std::fs::read(path).expect("read")).into_owned())
        .collect()
}

fn embed(c: &mut Criterion) {
    let model = resolve(None, &FetchOptions::default()).expect("the default model resolves");
    let texts = notes();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut group = c.benchmark_group("embed");
    group.sample_size(10);
    for (engine, name) in [
        (ForwardPass::Auto, "kernels"),
        (ForwardPass::Candle, "candle"),
    ] {
        let embedder =
            Embedder::load_with(&model, &Device::Cpu, DType::F32, engine).expect("loads");
        let (_, stats) = embedder
            .embed(&refs, None, EmbedOptions::default())
            .expect("embeds");
        group.throughput(Throughput::Elements(stats.tokens as u64));
        group.bench_function(
            format!("til_every_20th_{}_notes_f32_{name}", texts.len()),
            |b| {
                b.iter(|| {
                    embedder
                        .embed(&refs, None, EmbedOptions::default())
                        .expect("embeds")
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, embed);
criterion_main!(benches);
