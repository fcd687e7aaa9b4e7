//! Loading a checkpoint into the CPU pass's layout.
//!
//! The forward pass wants plain f32 buffers shaped for its products, not tensors: every linear
//! layer's weight transposed to (in, out) so gemm streams it row by row (or packed for the bf16
//! product), the query, key and value projections fused into one matrix so a layer makes one
//! product for all three, and only the type-0 row of the token-type table, since every token
//! has type 0. Doing this once at load keeps the forward pass free of copies and transposes.

use candle_core::DType;
use candle_nn::VarBuilder;

use super::{CpuActivation, CpuBert, Layer, Linear, Norm, Precision};
use crate::bf16::PackedBf16;
use crate::config::BertConfig;

impl Linear {
    /// Loads one layer, or several that read the same input (`parts`, concatenated along the
    /// output), such as the query, key and value projections.
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

impl Layer {
    /// Loads `encoder.layer.N` from `vb`, which points at it.
    fn load(
        vb: VarBuilder,
        config: &BertConfig,
        precision: Precision,
    ) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let attention = vb.pp("attention");
        let projections = ["query", "key", "value"].map(|name| attention.pp("self").pp(name));
        Ok(Self {
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
            output_norm: Norm::load(vb.pp("output.LayerNorm"), hidden, config.layer_norm_eps)?,
        })
    }
}

impl CpuBert {
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
            .map(|index| Layer::load(vb.pp(format!("encoder.layer.{index}")), config, precision))
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
}

/// The activation this path runs for config.json's `hidden_act`, if it has a kernel for it.
pub(super) fn activation_of(name: &str) -> Option<CpuActivation> {
    match name {
        "gelu" => Some(CpuActivation::GeluErf),
        "relu" => Some(CpuActivation::Relu),
        _ => None,
    }
}
