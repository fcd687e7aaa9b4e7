//! `closest doctor`: what a bug report needs, in one screen. It never downloads, writes or
//! repairs anything: a model that is not on disk, a damaged store or a missing GPU is reported,
//! not fixed, and the command still succeeds so the report is always complete.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use closest_embed::{
    dtype_name, model_fingerprint, resolve, DType, Device, Embedder, FetchOptions, ResolvedModel,
};
use serde_json::{json, Value};

use crate::args::{Format, ModelOptions, StatusArgs};
use crate::settings::folder_settings;
use crate::ui::Ui;

/// CPU features that decide which kernels run (x86-64).
#[cfg(target_arch = "x86_64")]
const X86_FEATURES: [&str; 8] = [
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512bf16",
];

pub(crate) fn doctor(args: &StatusArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    let settings = folder_settings(args.dir.as_deref(), &args.folder, model, ui)?;
    let mut report = vec![
        ("closest", json!(build())),
        ("cpu", json!(cpu())),
        ("cpu features", json!(cpu_features())),
    ];
    let picked = settings.model.device.open();
    let device = match &picked {
        Ok(picked) => match (&picked.device, &picked.note) {
            (Device::Cpu, Some(note)) => format!("cpu; {note}"),
            (Device::Cpu, None) => "cpu".to_owned(),
            (other, _) => format!("{other:?}"),
        },
        Err(err) => format!("error: {err}"),
    };
    report.push(("device", json!(device)));
    let options = FetchOptions {
        no_download: true,
        ..FetchOptions::default()
    };
    match resolve(settings.model.model.as_deref(), &options) {
        Ok(resolved) => {
            report.push((
                "model",
                json!(format!(
                    "{} from {} (`{}`)",
                    resolved.name,
                    resolved.source,
                    resolved.dir.display()
                )),
            ));
            report.push(("checksums", json!(checksums(&resolved))));
            if let Ok((fingerprint, _)) = model_fingerprint(&resolved, settings.model.dtype) {
                report.push(("fingerprint", json!(fingerprint)));
            }
            let device = picked.map_or(Device::Cpu, |picked| picked.device);
            for dtype in [DType::F32, DType::BF16] {
                let pass = match Embedder::load(&resolved, &device, dtype) {
                    Ok(embedder) => embedder.forward_pass(),
                    Err(err) => format!("cannot load: {err}"),
                };
                let key = if dtype == DType::F32 {
                    "f32 pass"
                } else {
                    "bf16 pass"
                };
                report.push((key, json!(pass)));
            }
        }
        Err(err) => report.push(("model", json!(format!("not usable: {err}")))),
    }
    report.push(("dtype", json!(dtype_name(settings.model.dtype))));
    report.push(("notes", json!(settings.root.display().to_string())));
    let health = closest_engine::store_health(&settings.state_dir);
    report.push((
        "store",
        json!(format!(
            "`{}`: {}{}",
            health.state_dir.display(),
            health.verdict,
            if health.exists {
                format!(
                    "; {} notes, {} KiB, schema {}{}",
                    health.notes.unwrap_or(0),
                    health.bytes / 1024,
                    health.schema_version.as_deref().unwrap_or("?"),
                    if health.markers {
                        ""
                    } else {
                        "; no .gitignore/CACHEDIR.TAG"
                    }
                )
            } else {
                String::new()
            }
        )),
    ));

    let mut out = ui.out();
    match args.format {
        Format::Json => {
            let object: serde_json::Map<String, Value> = report
                .into_iter()
                .map(|(key, value)| (key.replace(' ', "_"), value))
                .collect();
            writeln!(out, "{}", Value::Object(object))?;
        }
        Format::Text => {
            for (key, value) in report {
                let text = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                writeln!(out, "{:<13} {text}", format!("{key}:"))?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn build() -> String {
    format!(
        "{} ({} {}, {} build, CUDA {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        if cfg!(feature = "cuda") { "on" } else { "off" }
    )
}

fn cpu() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown model".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!(
        "{model}; {cores} logical cores, {} worker threads",
        rayon::current_num_threads()
    )
}

fn cpu_features() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let detected = |name: &str| match name {
            "avx" => std::arch::is_x86_feature_detected!("avx"),
            "avx2" => std::arch::is_x86_feature_detected!("avx2"),
            "fma" => std::arch::is_x86_feature_detected!("fma"),
            "f16c" => std::arch::is_x86_feature_detected!("f16c"),
            "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
            "avx512bw" => std::arch::is_x86_feature_detected!("avx512bw"),
            "avx512vl" => std::arch::is_x86_feature_detected!("avx512vl"),
            "avx512bf16" => std::arch::is_x86_feature_detected!("avx512bf16"),
            _ => false,
        };
        let (have, lack): (Vec<&str>, Vec<&str>) =
            X86_FEATURES.iter().partition(|name| detected(name));
        format!(
            "{} (missing: {})",
            have.join(" "),
            if lack.is_empty() {
                "none".to_owned()
            } else {
                lack.join(" ")
            }
        )
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        format!("{}: portable kernels", std::env::consts::ARCH)
    }
}

/// Whether every file pinned for a known model matches (resolve already refused a mismatch).
fn checksums(resolved: &ResolvedModel) -> String {
    match &resolved.known {
        Some(known) => match closest_embed::registry::verify_folder(known, &resolved.dir) {
            Ok(()) => format!("all {} pinned files match their sha256", known.files.len()),
            Err(err) => format!("mismatch: {err}"),
        },
        None => "not a known model: nothing pinned to check".to_owned(),
    }
}
