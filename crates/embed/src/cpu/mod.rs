//! The BERT encoder on the CPU, on plain buffers instead of candle's tensor ops.
//!
//! Profiling the candle version (bert.rs) on the CPU put a large share of the time outside the
//! matrix products: a fresh tensor and a full memory pass for every bias add, residual add,
//! scale, copy for a transpose and softmax, scalar `expf`, and a barrier between every op while
//! the threads waited for each other. This path does the same arithmetic with:
//! - whole forward passes per chunk of sequences, one chunk per thread at a time, so the threads
//!   never wait for each other inside a batch (this file);
//! - gemm called directly with strides, so attention reads Q, K and V where the fused
//!   projection left them and writes each head's context in place: no transposes, no copies
//!   (`matmul.rs`, `attention.rs`);
//! - bias folded into the product (the output starts as the bias, or as bias + residual), and
//!   layer norm, GELU and softmax done in place on rows that are still in cache, with
//!   polynomial `exp`/`erf` compiled for the CPU's widest vectors (AVX-512 or AVX2, checked
//!   at run time) (`rows.rs`).
//!
//! It runs in f32, or with the linear layers in bf16 on CPUs with AVX512_BF16 (`bf16.rs`).
//! A row's result depends only on its own sequence: gemm's blocking along the shared dimension
//! depends on that dimension alone, never on the row count, so vectors stay bit-identical
//! whatever the batch and chunk boundaries or the thread count (tested in `tests/parity.rs`).
//! The candle version stays for GPUs, f16, and bf16 on CPUs without AVX512_BF16, and as the
//! reference this pass is tested against (beside sentence-transformers' vectors).

mod attention;
mod kernel;
mod load;
mod matmul;
mod rows;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

use crate::bf16::PackedBf16;
use crate::config::BertConfig;
pub use kernel::{Vectors, KERNEL_VARIABLE};
use matmul::linear;
use rows::{activate, layer_norm};

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

/// A linear layer's weights, laid out for the product in its precision.
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

/// A layer norm's affine parameters.
#[derive(Debug, Clone)]
struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

/// One encoder layer; `qkv` fuses the query, key and value projections into one product.
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
        load::activation_of(&config.hidden_act).is_some()
            && config.num_attention_heads > 0
            && config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
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
        match Vectors::in_use() {
            // SAFETY: `in_use` found AVX-512F on this CPU.
            #[cfg(target_arch = "x86_64")]
            Vectors::Avx512 => unsafe { self.forward_chunk_avx512(ids, lengths, out) },
            // SAFETY: `in_use` found AVX2 and FMA on this CPU.
            #[cfg(target_arch = "x86_64")]
            Vectors::Avx2 => unsafe { self.forward_chunk_avx2(ids, lengths, out) },
            _ => self.forward_chunk_generic(ids, lengths, out),
        }
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
        self.embed(ids, lengths, out);
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
            activate(&mut intermediate, self.activation);
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

    /// Writes each token's input row into `out`: the layer norm of its word, position and
    /// token-type embeddings, positions counting from 0 in every sequence.
    #[inline(always)]
    fn embed(&self, ids: &[u32], lengths: &[usize], out: &mut [f32]) {
        let h = self.hidden;
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
    }
}
