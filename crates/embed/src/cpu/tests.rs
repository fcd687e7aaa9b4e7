//! The CPU pass against candle's, on a tiny random BERT: the same vectors, and the same bits
//! however sequences are packed and whichever instruction set runs the loops.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::{CpuBert, Precision};
use crate::bert::Bert;
use crate::config::BertConfig;

/// A 2-layer BERT with random weights: hidden 40, 5 heads of 8, intermediate 72.
pub(super) fn tiny(hidden_act: &str) -> (BertConfig, VarBuilder<'static>) {
    let config: BertConfig = serde_json::from_str(&format!(
        r#"{{"vocab_size": 50, "hidden_size": 40, "num_hidden_layers": 2,
            "num_attention_heads": 5, "intermediate_size": 72, "hidden_act": "{hidden_act}",
            "max_position_embeddings": 64, "type_vocab_size": 2, "layer_norm_eps": 1e-12}}"#
    ))
    .expect("config parses");
    let device = Device::Cpu;
    let mut tensors = HashMap::new();
    let mut seed = 0u64;
    let mut put = |name: String, shape: &[usize], scale: f32| {
        let count: usize = shape.iter().product();
        let values: Vec<f32> = (0..count)
            .map(|_| {
                // xorshift: fixed, dependency-free pseudo-random weights.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
                ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
            })
            .collect();
        let tensor = Tensor::from_vec(values, shape, &device).expect("tensor");
        tensors.insert(name, tensor);
    };
    let (h, i) = (40, 72);
    put("embeddings.word_embeddings.weight".into(), &[50, h], 1.0);
    put(
        "embeddings.position_embeddings.weight".into(),
        &[64, h],
        0.5,
    );
    put(
        "embeddings.token_type_embeddings.weight".into(),
        &[2, h],
        0.5,
    );
    for prefix in ["embeddings.LayerNorm".to_owned()]
        .into_iter()
        .chain((0..2).flat_map(|l| {
            [
                format!("encoder.layer.{l}.attention.output.LayerNorm"),
                format!("encoder.layer.{l}.output.LayerNorm"),
            ]
        }))
    {
        put(format!("{prefix}.weight"), &[h], 1.0);
        put(format!("{prefix}.bias"), &[h], 0.2);
    }
    for l in 0..2 {
        let dense = [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", h, i),
            ("output.dense", i, h),
        ];
        for (name, n_in, n_out) in dense {
            put(
                format!("encoder.layer.{l}.{name}.weight"),
                &[n_out, n_in],
                0.3,
            );
            put(format!("encoder.layer.{l}.{name}.bias"), &[n_out], 0.1);
        }
    }
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
    (config, vb)
}

fn packed() -> (Vec<u32>, Vec<usize>) {
    let lengths = vec![17, 17, 9, 3, 2];
    let ids = (0..lengths.iter().sum::<usize>())
        .map(|i| (i * 7 % 50) as u32)
        .collect();
    (ids, lengths)
}

#[test]
fn matches_the_candle_forward_pass() {
    for act in ["gelu", "relu"] {
        let (config, vb) = tiny(act);
        assert!(CpuBert::supports(&config));
        let ours = CpuBert::load(vb.clone(), &config, Precision::F32).expect("loads");
        let reference = Bert::load(vb, &config).expect("candle loads");
        let (ids, lengths) = packed();
        let got = ours.forward(&ids, &lengths).expect("runs");
        let want: Vec<f32> = reference
            .forward(&ids, &lengths)
            .expect("candle runs")
            .flatten_all()
            .expect("flat")
            .to_vec1()
            .expect("vec");
        assert_eq!(got.len(), want.len());
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 2e-4, "{act}: largest difference {worst}");
    }
}

#[test]
fn a_sequence_gives_the_same_bits_alone_and_packed() {
    let (config, vb) = tiny("gelu");
    let ours = CpuBert::load(vb, &config, Precision::F32).expect("loads");
    let (ids, lengths) = packed();
    let all = ours.forward(&ids, &lengths).expect("runs");
    let mut start = 0;
    for len in lengths {
        let alone = ours
            .forward(&ids[start..start + len], &[len])
            .expect("runs");
        assert_eq!(alone, all[start * 40..(start + len) * 40], "length {len}");
        start += len;
    }
}

/// The loops keep a fixed summation order (16 lanes) and no fused multiply-adds, so the
/// portable build and the AVX2 / AVX-512 builds of them give the same bits: a vector does
/// not depend on the CPU it was computed on (gemm's own kernels aside).
#[test]
fn every_instruction_set_gives_the_same_bits() {
    let (config, vb) = tiny("gelu");
    let ours = CpuBert::load(vb, &config, Precision::F32).expect("loads");
    let (ids, lengths) = packed();
    let mut generic = vec![0f32; ids.len() * 40];
    ours.forward_chunk_generic(&ids, &lengths, &mut generic);
    let mut dispatched = vec![0f32; ids.len() * 40];
    ours.forward_chunk(&ids, &lengths, &mut dispatched);
    assert_eq!(generic, dispatched);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        let mut avx2 = vec![0f32; ids.len() * 40];
        // SAFETY: AVX2 is available, checked just above.
        unsafe { ours.forward_chunk_avx2(&ids, &lengths, &mut avx2) };
        assert_eq!(generic, avx2);
    }
}

#[test]
fn ids_and_lengths_the_weights_do_not_cover_are_errors() {
    let (config, vb) = tiny("gelu");
    let ours = CpuBert::load(vb, &config, Precision::F32).expect("loads");
    let err = ours.forward(&[1, 50, 2], &[3]).expect_err("id 50 of 50");
    assert!(err.0.contains("vocabulary of 50"), "{}", err.0);
    let long: Vec<u32> = vec![1; 65];
    let err = ours.forward(&long, &[65]).expect_err("65 positions of 64");
    assert!(err.0.contains("64 positions"), "{}", err.0);
    let err = ours.forward(&[1, 2], &[3]).expect_err("lengths");
    assert!(err.0.contains("add up to 3"), "{}", err.0);
    assert!(
        !CpuBert::supports(&tiny("gelu_new").0),
        "tanh GELU stays on candle"
    );
}
