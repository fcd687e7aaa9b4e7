//! The BERT encoder on the CPU in f32, on plain buffers instead of candle's tensor ops.
//!
//! Profiling the candle version (bert.rs) on 2 cores put about 40% of the time outside the
//! matrix products: a fresh tensor and a full memory pass for every bias add, residual add,
//! scale, copy for a transpose and softmax, scalar `expf`, and a barrier between every op while
//! the two threads waited for each other. This path does the same arithmetic with:
//! - whole forward passes per chunk of sequences, one chunk per thread at a time, so the threads
//!   never wait for each other inside a batch;
//! - gemm called directly with strides, so attention reads Q, K and V where the fused
//!   projection left them and writes each head's context in place: no transposes, no copies;
//! - bias folded into the product (the output starts as the bias, or as bias + residual), and
//!   layer norm, GELU and softmax done in place on rows that are still in cache, with
//!   polynomial `exp`/`erf` compiled for the CPU's widest vectors (AVX-512 or AVX2, checked
//!   at run time).
//!
//! A row's result depends only on its own sequence: gemm's blocking along the shared dimension
//! depends on that dimension alone, never on the row count, so vectors stay bit-identical
//! whatever the batch and chunk boundaries or the thread count (tested in `tests/parity.rs`).
//! The candle version stays for GPUs and reduced precision, and stock candle stays the
//! reference in tests.

use candle_core::DType;
use candle_nn::VarBuilder;
use rayon::prelude::*;

use crate::bf16::PackedBf16;
use crate::config::BertConfig;
use crate::kernels::{exp_nonpositive, gelu};

/// Tokens a thread takes at a time: large enough for gemm to run near its peak on one core,
/// small enough that a batch splits into several chunks per thread (whole sequences only).
const CHUNK_TOKENS: usize = 1024;

/// Precision of the CPU pass's linear layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// f32 throughout: the default, at parity with sentence-transformers.
    F32,
    /// Linear layers multiply bf16-rounded weights and activations with f32 sums (AVX512_BF16
    /// only, opt-in with `--dtype bf16`); attention, norms and the residual stream stay f32.
    Bf16,
}

#[derive(Debug, Clone)]
struct Linear {
    /// The weight transposed to (in, out), row-major, so gemm reads it contiguously. Empty when
    /// the layer runs in bf16.
    weight_t: Vec<f32>,
    /// The weight packed for the bf16 product, in `Precision::Bf16`.
    packed: Option<PackedBf16>,
    bias: Vec<f32>,
    n_in: usize,
    n_out: usize,
}

impl Linear {
    fn load(
        parts: &[VarBuilder],
        n_in: usize,
        n_out: usize,
        precision: Precision,
    ) -> candle_core::Result<Self> {
        let mut weights = Vec::with_capacity(parts.len());
        let mut bias = Vec::with_capacity(parts.len() * n_out);
        for vb in parts {
            weights.push(vb.get((n_out, n_in), "weight")?.to_dtype(DType::F32)?);
            bias.extend(
                vb.get(n_out, "bias")?
                    .to_dtype(DType::F32)?
                    .to_vec1::<f32>()?,
            );
        }
        let mut weight_t = candle_core::Tensor::cat(&weights, 0)?
            .t()?
            .contiguous()?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let n_out = n_out * parts.len();
        let packed = match precision {
            Precision::F32 => None,
            Precision::Bf16 => {
                let packed = PackedBf16::pack(&weight_t, n_in, n_out);
                weight_t = Vec::new();
                Some(packed)
            }
        };
        Ok(Self {
            weight_t,
            packed,
            bias,
            n_in,
            n_out,
        })
    }
}

#[derive(Debug, Clone)]
struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn load(vb: VarBuilder, dim: usize, eps: f64) -> candle_core::Result<Self> {
        let get = |name| -> candle_core::Result<Vec<f32>> {
            vb.get(dim, name)?.to_dtype(DType::F32)?.to_vec1::<f32>()
        };
        Ok(Self {
            weight: get("weight")?,
            bias: get("bias")?,
            eps: eps as f32,
        })
    }
}

#[derive(Debug, Clone)]
struct Layer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    output: Linear,
    output_norm: Norm,
}

/// What the feed-forward block applies between its two products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CpuActivation {
    GeluErf,
    Relu,
}

/// BERT weights in f32 host memory, laid out for gemm.
#[derive(Debug, Clone)]
pub struct CpuBert {
    word_embeddings: Vec<f32>,
    position_embeddings: Vec<f32>,
    /// Every token has type 0, as in sentence-transformers' single-text encoding.
    token_type_0: Vec<f32>,
    embeddings_norm: Norm,
    layers: Vec<Layer>,
    hidden: usize,
    intermediate: usize,
    n_heads: usize,
    head_dim: usize,
    vocab_size: usize,
    max_positions: usize,
    activation: CpuActivation,
}

/// Why a batch could not run: token ids or lengths the weights do not cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfRange(pub String);

impl CpuBert {
    /// Whether this path runs `hidden_act` exactly; others (the tanh approximation) use candle.
    pub fn supports(config: &BertConfig) -> bool {
        activation_of(&config.hidden_act).is_some()
            && config.num_attention_heads > 0
            && config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
    }

    /// Loads weights named as in Hugging Face checkpoints, with or without the `bert.` prefix.
    /// `Precision::Bf16` needs `bf16::supported()`.
    pub fn load(
        vb: VarBuilder,
        config: &BertConfig,
        precision: Precision,
    ) -> candle_core::Result<Self> {
        if precision == Precision::Bf16 && !crate::bf16::supported() {
            return Err(candle_core::Error::Msg(
                "the bf16 CPU pass needs a CPU with AVX512_BF16".to_owned(),
            ));
        }
        let vb = crate::bert::model_root(vb);
        let activation = activation_of(&config.hidden_act).ok_or_else(|| {
            candle_core::Error::Msg(format!(
                "activation {} has no CPU kernel",
                config.hidden_act
            ))
        })?;
        let hidden = config.hidden_size;
        let embeddings = vb.pp("embeddings");
        let table = |name: &str, rows: usize| -> candle_core::Result<Vec<f32>> {
            embeddings
                .pp(name)
                .get((rows, hidden), "weight")?
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()
        };
        let word_embeddings = table("word_embeddings", config.vocab_size)?;
        let position_embeddings = table("position_embeddings", config.max_position_embeddings)?;
        let token_types = table("token_type_embeddings", config.type_vocab_size)?;
        let token_type_0 = token_types
            .get(..hidden)
            .ok_or_else(|| candle_core::Error::Msg("no token type embeddings".to_owned()))?
            .to_vec();
        let embeddings_norm =
            Norm::load(embeddings.pp("LayerNorm"), hidden, config.layer_norm_eps)?;
        let layers = (0..config.num_hidden_layers)
            .map(|index| {
                let vb = vb.pp(format!("encoder.layer.{index}"));
                let attention = vb.pp("attention");
                let projections =
                    ["query", "key", "value"].map(|name| attention.pp("self").pp(name));
                Ok(Layer {
                    qkv: Linear::load(&projections, hidden, hidden, precision)?,
                    attention_out: Linear::load(
                        &[attention.pp("output.dense")],
                        hidden,
                        hidden,
                        precision,
                    )?,
                    attention_norm: Norm::load(
                        attention.pp("output.LayerNorm"),
                        hidden,
                        config.layer_norm_eps,
                    )?,
                    intermediate: Linear::load(
                        &[vb.pp("intermediate.dense")],
                        hidden,
                        config.intermediate_size,
                        precision,
                    )?,
                    output: Linear::load(
                        &[vb.pp("output.dense")],
                        config.intermediate_size,
                        hidden,
                        precision,
                    )?,
                    output_norm: Norm::load(
                        vb.pp("output.LayerNorm"),
                        hidden,
                        config.layer_norm_eps,
                    )?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            word_embeddings,
            position_embeddings,
            token_type_0,
            embeddings_norm,
            layers,
            hidden,
            intermediate: config.intermediate_size,
            n_heads: config.num_attention_heads,
            head_dim: hidden / config.num_attention_heads,
            vocab_size: config.vocab_size,
            max_positions: config.max_position_embeddings,
            activation,
        })
    }

    /// Runs the encoder on packed sequences (`input_ids` holds every sequence's tokens one after
    /// another, `lengths` their lengths) and returns the last hidden state, (tokens, hidden)
    /// row-major.
    pub fn forward(&self, input_ids: &[u32], lengths: &[usize]) -> Result<Vec<f32>, OutOfRange> {
        let total: usize = lengths.iter().sum();
        if total != input_ids.len() {
            return Err(OutOfRange(format!(
                "{} token ids for lengths that add up to {total}",
                input_ids.len()
            )));
        }
        if let Some(id) = input_ids.iter().find(|id| **id as usize >= self.vocab_size) {
            return Err(OutOfRange(format!(
                "token id {id} is outside the model's vocabulary of {}",
                self.vocab_size
            )));
        }
        if let Some(len) = lengths.iter().find(|len| **len > self.max_positions) {
            return Err(OutOfRange(format!(
                "a sequence of {len} tokens is longer than the model's {} positions",
                self.max_positions
            )));
        }
        let mut output = vec![0f32; total * self.hidden];
        // Split into chunks of whole sequences, then hand the chunks to the pool.
        let mut chunks: Vec<(&[u32], &[usize], &mut [f32])> = Vec::new();
        let (mut ids_rest, mut out_rest) = (input_ids, output.as_mut_slice());
        let mut first = 0;
        while first < lengths.len() {
            let mut last = first;
            let mut tokens = 0;
            while last < lengths.len() && (last == first || tokens + lengths[last] <= CHUNK_TOKENS)
            {
                tokens += lengths[last];
                last += 1;
            }
            let (ids, ids_tail) = ids_rest.split_at(tokens);
            let (out, out_tail) = std::mem::take(&mut out_rest).split_at_mut(tokens * self.hidden);
            chunks.push((ids, &lengths[first..last], out));
            ids_rest = ids_tail;
            out_rest = out_tail;
            first = last;
        }
        chunks
            .into_par_iter()
            .for_each(|(ids, lengths, out)| self.forward_chunk(ids, lengths, out));
        Ok(output)
    }

    fn forward_chunk(&self, ids: &[u32], lengths: &[usize], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F, checked just above.
                return unsafe { self.forward_chunk_avx512(ids, lengths, out) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked just above.
                return unsafe { self.forward_chunk_avx2(ids, lengths, out) };
            }
        }
        self.forward_chunk_generic(ids, lengths, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn forward_chunk_avx512(&self, ids: &[u32], lengths: &[usize], out: &mut [f32]) {
        self.forward_chunk_generic(ids, lengths, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn forward_chunk_avx2(&self, ids: &[u32], lengths: &[usize], out: &mut [f32]) {
        self.forward_chunk_generic(ids, lengths, out);
    }

    /// One chunk's whole forward pass on the calling thread. Everything it calls on rows is
    /// `inline(always)`, so the `target_feature` wrappers above compile it for wide vectors.
    #[inline(always)]
    fn forward_chunk_generic(&self, ids: &[u32], lengths: &[usize], out: &mut [f32]) {
        let n = ids.len();
        let h = self.hidden;
        // The residual stream lives in `out` between layers.
        let mut position = 0;
        let mut lengths_left = lengths.iter();
        let mut remaining = 0;
        for (row, id) in out.chunks_exact_mut(h).zip(ids) {
            if remaining == 0 {
                remaining = *lengths_left.next().unwrap_or(&0);
                position = 0;
            }
            let word = &self.word_embeddings[*id as usize * h..][..h];
            let pos = &self.position_embeddings[position * h..][..h];
            for (((o, w), p), t) in row.iter_mut().zip(word).zip(pos).zip(&self.token_type_0) {
                *o = w + p + t;
            }
            layer_norm(row, &self.embeddings_norm);
            position += 1;
            remaining -= 1;
        }
        let mut qkv = vec![0f32; n * 3 * h];
        let mut context = vec![0f32; n * h];
        let mut attended = vec![0f32; n * h];
        let mut intermediate = vec![0f32; n * self.intermediate];
        let longest = lengths.iter().copied().max().unwrap_or(0);
        let mut scores = vec![0f32; longest * longest];
        let mut rounded = Vec::new();
        for layer in &self.layers {
            linear(out, &layer.qkv, None, &mut qkv, &mut rounded);
            self.attention(&qkv, lengths, &mut scores, &mut context);
            linear(
                &context,
                &layer.attention_out,
                Some(out),
                &mut attended,
                &mut rounded,
            );
            for row in attended.chunks_exact_mut(h) {
                layer_norm(row, &layer.attention_norm);
            }
            linear(
                &attended,
                &layer.intermediate,
                None,
                &mut intermediate,
                &mut rounded,
            );
            match self.activation {
                CpuActivation::GeluErf => {
                    for x in intermediate.iter_mut() {
                        *x = gelu(*x);
                    }
                }
                CpuActivation::Relu => {
                    for x in intermediate.iter_mut() {
                        *x = x.max(0.0);
                    }
                }
            }
            // `out` becomes attended + output(intermediate): the next residual stream.
            let residual = std::mem::take(&mut attended);
            linear(
                &intermediate,
                &layer.output,
                Some(&residual),
                out,
                &mut rounded,
            );
            attended = residual;
            for row in out.chunks_exact_mut(h) {
                layer_norm(row, &layer.output_norm);
            }
        }
    }

    /// Self-attention of every sequence and head: scores = Q·Kᵀ/√d, softmax per row, context =
    /// probabilities·V, with Q, K and V read in place from `qkv` (tokens, 3 × hidden) and each
    /// head's context written in place into `context` (tokens, hidden).
    #[inline(always)]
    fn attention(&self, qkv: &[f32], lengths: &[usize], scores: &mut [f32], context: &mut [f32]) {
        let h = self.hidden;
        let d = self.head_dim;
        let scale = 1.0 / (d as f32).sqrt();
        let mut start = 0;
        for &len in lengths {
            for head in 0..self.n_heads {
                let q = qkv[start * 3 * h + head * d..].as_ptr();
                let k = qkv[start * 3 * h + h + head * d..].as_ptr();
                let v = qkv[start * 3 * h + 2 * h + head * d..].as_ptr();
                let s = &mut scores[..len * len];
                // SAFETY: every pointer with its strides and extents stays inside its buffer:
                // rows start..start+len of `qkv` (stride 3h) at columns offset..offset+d, all of
                // `s` (len × len), and rows start..start+len of `context` (stride h) at columns
                // head·d..head·d+d. `qkv` and `s` and `context` do not overlap.
                unsafe {
                    gemm::gemm(
                        len,
                        len,
                        d,
                        s.as_mut_ptr(),
                        1,
                        len as isize,
                        false,
                        q,
                        1,
                        (3 * h) as isize,
                        k,
                        (3 * h) as isize,
                        1,
                        0.0,
                        scale,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                for row in s.chunks_exact_mut(len) {
                    softmax(row);
                }
                let c = context[start * h + head * d..].as_mut_ptr();
                // SAFETY: as above.
                unsafe {
                    gemm::gemm(
                        len,
                        d,
                        len,
                        c,
                        1,
                        h as isize,
                        false,
                        s.as_ptr(),
                        1,
                        len as isize,
                        v,
                        1,
                        (3 * h) as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
            start += len;
        }
    }
}

fn activation_of(name: &str) -> Option<CpuActivation> {
    match name {
        "gelu" => Some(CpuActivation::GeluErf),
        "relu" => Some(CpuActivation::Relu),
        _ => None,
    }
}

/// `out = start + xs · W + b`, where `start` is zero or a residual of the same shape as `out`.
/// `rounded` is scratch space for the bf16 product.
#[inline(always)]
fn linear(
    xs: &[f32],
    layer: &Linear,
    residual: Option<&[f32]>,
    out: &mut [f32],
    rounded: &mut Vec<u32>,
) {
    let rows = xs.len() / layer.n_in;
    debug_assert_eq!(out.len(), rows * layer.n_out);
    match residual {
        Some(residual) => {
            for (row, res) in out
                .chunks_exact_mut(layer.n_out)
                .zip(residual.chunks_exact(layer.n_out))
            {
                for ((o, r), b) in row.iter_mut().zip(res).zip(&layer.bias) {
                    *o = r + b;
                }
            }
        }
        None => {
            for row in out.chunks_exact_mut(layer.n_out) {
                row.copy_from_slice(&layer.bias);
            }
        }
    }
    if let Some(packed) = &layer.packed {
        packed.matmul_add(xs, out, rounded);
        return;
    }
    // SAFETY: `xs` is rows × n_in, `weight_t` n_in × n_out and `out` rows × n_out, all
    // row-major and distinct.
    unsafe {
        gemm::gemm(
            rows,
            layer.n_out,
            layer.n_in,
            out.as_mut_ptr(),
            1,
            layer.n_out as isize,
            true,
            xs.as_ptr(),
            1,
            layer.n_in as isize,
            layer.weight_t.as_ptr(),
            1,
            layer.n_out as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Lanes of the partial sums below: wide enough for the compiler to keep them in vector
/// registers, fixed so results do not depend on the CPU's vector width.
const LANES: usize = 16;

#[inline(always)]
fn sum(xs: &[f32]) -> f32 {
    let (chunks, tail) = xs.as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for chunk in chunks {
        for lane in 0..LANES {
            acc[lane] += chunk[lane];
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

#[inline(always)]
fn max(xs: &[f32]) -> f32 {
    let (chunks, tail) = xs.as_chunks::<LANES>();
    let mut acc = [f32::NEG_INFINITY; LANES];
    for chunk in chunks {
        for lane in 0..LANES {
            acc[lane] = acc[lane].max(chunk[lane]);
        }
    }
    acc.iter()
        .chain(tail)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// `torch.nn.LayerNorm` over one row: biased variance, two passes.
#[inline(always)]
fn layer_norm(row: &mut [f32], norm: &Norm) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    for x in row.iter_mut() {
        *x -= mean;
    }
    let (chunks, tail) = row.as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for chunk in chunks {
        for lane in 0..LANES {
            acc[lane] += chunk[lane] * chunk[lane];
        }
    }
    let squares = acc.iter().sum::<f32>() + tail.iter().map(|x| x * x).sum::<f32>();
    let inv = 1.0 / (squares / n + norm.eps).sqrt();
    for ((x, w), b) in row.iter_mut().zip(&norm.weight).zip(&norm.bias) {
        *x = *x * inv * w + b;
    }
}

/// Softmax of one row of scores, in place.
#[inline(always)]
fn softmax(row: &mut [f32]) {
    let top = max(row);
    for x in row.iter_mut() {
        *x = exp_nonpositive(*x - top);
    }
    let inv = 1.0 / sum(row);
    for x in row.iter_mut() {
        *x *= inv;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use candle_core::{Device, Tensor};

    use super::*;
    use crate::bert::Bert;

    /// A 2-layer BERT with random weights: hidden 40, 5 heads of 8, intermediate 72.
    fn tiny(hidden_act: &str) -> (BertConfig, VarBuilder<'static>) {
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
}
