//! The BERT encoder forward pass, written against candle tensors.
//!
//! It reproduces `transformers.models.bert.modeling_bert.BertModel` in eval mode. We own it,
//! rather than calling candle-transformers' `BertModel`, because that model pads every batch and
//! builds its attention mask as `(1 - mask) * f32::MIN` cast to the model dtype, which is −inf in
//! f16/bf16 and turns every output into NaN. Ours packs sequences without padding (so it needs no
//! mask at all), fuses the three attention projections into one product, and uses candle's
//! last-dimension softmax. Stock candle stays the reference in tests.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};

use crate::config::BertConfig;
use crate::error::Result;

#[derive(Debug, Clone, Copy)]
enum Activation {
    GeluErf,
    GeluTanh,
    Relu,
}

impl Activation {
    fn from_name(name: &str) -> Self {
        match name {
            "gelu_new" | "gelu_pytorch_tanh" => Self::GeluTanh,
            "relu" => Self::Relu,
            _ => Self::GeluErf,
        }
    }

    fn apply(self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::GeluErf => crate::kernels::gelu_erf(xs),
            Self::GeluTanh => xs.gelu(),
            Self::Relu => xs.relu(),
        }
    }
}

/// A linear layer over (tokens, in): all tokens of a batch in one 2-D product.
#[derive(Debug, Clone)]
struct Dense {
    inner: Linear,
}

impl Dense {
    fn load(vb: VarBuilder, in_dim: usize, out_dim: usize) -> candle_core::Result<Self> {
        Ok(Self {
            inner: candle_nn::linear(in_dim, out_dim, vb)?,
        })
    }

    fn fused(parts: &[VarBuilder], in_dim: usize, out_dim: usize) -> candle_core::Result<Self> {
        let weights = parts
            .iter()
            .map(|vb| vb.get((out_dim, in_dim), "weight"))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let biases = parts
            .iter()
            .map(|vb| vb.get(out_dim, "bias"))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            inner: Linear::new(Tensor::cat(&weights, 0)?, Some(Tensor::cat(&biases, 0)?)),
        })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.inner.forward(xs)
    }
}

/// Layer norm, always in f32: the residual stream stays in f32 whatever the model dtype, because
/// rounding it to bf16 after every layer cost more accuracy than the matrix products in bf16 do.
#[derive(Debug, Clone)]
struct Norm {
    inner: LayerNorm,
}

impl Norm {
    fn load(vb: VarBuilder, dim: usize, eps: f64) -> candle_core::Result<Self> {
        let weight = vb.get(dim, "weight")?.to_dtype(DType::F32)?;
        let bias = vb.get(dim, "bias")?.to_dtype(DType::F32)?;
        Ok(Self {
            inner: LayerNorm::new(weight, bias, eps),
        })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.inner.forward(xs)
    }
}

#[derive(Debug, Clone)]
struct Layer {
    qkv: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    intermediate: Dense,
    output: Dense,
    output_norm: Norm,
}

/// A loaded BERT encoder on one device and dtype.
#[derive(Debug, Clone)]
pub struct Bert {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    embeddings_norm: Norm,
    layers: Vec<Layer>,
    n_heads: usize,
    head_dim: usize,
    activation: Activation,
    dtype: DType,
    device: Device,
}

impl Bert {
    /// Loads weights named as in Hugging Face checkpoints, with or without the `bert.` prefix.
    pub fn load(vb: VarBuilder, config: &BertConfig) -> Result<Self> {
        let vb = model_root(vb);
        let hidden = config.hidden_size;
        let embeddings = vb.pp("embeddings");
        let word_embeddings =
            candle_nn::embedding(config.vocab_size, hidden, embeddings.pp("word_embeddings"))?;
        let position_embeddings = candle_nn::embedding(
            config.max_position_embeddings,
            hidden,
            embeddings.pp("position_embeddings"),
        )?;
        let token_type_embeddings = candle_nn::embedding(
            config.type_vocab_size,
            hidden,
            embeddings.pp("token_type_embeddings"),
        )?;
        let embeddings_norm =
            Norm::load(embeddings.pp("LayerNorm"), hidden, config.layer_norm_eps)?;
        let layers = (0..config.num_hidden_layers)
            .map(|index| Layer::load(vb.pp(format!("encoder.layer.{index}")), config))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            word_embeddings,
            position_embeddings,
            token_type_embeddings,
            embeddings_norm,
            layers,
            n_heads: config.num_attention_heads,
            head_dim: hidden / config.num_attention_heads,
            activation: Activation::from_name(&config.hidden_act),
            dtype: vb.dtype(),
            device: vb.device().clone(),
        })
    }

    /// Runs the encoder on packed sequences: `input_ids` holds every sequence's tokens one after
    /// another, `lengths` their lengths, and sequences of equal length must be adjacent. Returns
    /// the last hidden state (total tokens, hidden) in f32.
    ///
    /// Nothing is padded: the linear layers see all tokens as one matrix, and attention runs per
    /// group of equal-length sequences. So no work is wasted on padding, no mask is needed, and a
    /// sequence's vector does not depend, even in its last bit, on which other sequences shared
    /// its batch (measured: padding changed it).
    pub fn forward(&self, input_ids: &[u32], lengths: &[usize]) -> Result<Tensor> {
        let total: usize = lengths.iter().sum();
        let positions: Vec<u32> = lengths.iter().flat_map(|len| 0..*len as u32).collect();
        let ids = Tensor::from_slice(input_ids, total, &self.device)?;
        let positions = Tensor::from_vec(positions, total, &self.device)?;
        let token_types = Tensor::zeros(total, DType::U32, &self.device)?;
        let f32_of = |xs: Tensor| xs.to_dtype(DType::F32);
        let embedded = (f32_of(self.word_embeddings.forward(&ids)?)?
            + f32_of(self.position_embeddings.forward(&positions)?)?
            + f32_of(self.token_type_embeddings.forward(&token_types)?)?)?;
        let mut hidden = self.embeddings_norm.forward(&embedded)?;
        let groups = equal_length_groups(lengths);
        let attention = Attention {
            groups: &groups,
            n_heads: self.n_heads,
            head_dim: self.head_dim,
            dtype: self.dtype,
        };
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &attention, self.activation)?;
        }
        Ok(hidden)
    }
}

/// The weights' root: checkpoints name them with or without a `bert.` prefix.
pub(crate) fn model_root(vb: VarBuilder) -> VarBuilder {
    if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
        vb.pp("bert")
    } else {
        vb
    }
}

/// A run of `count` adjacent sequences of `len` tokens starting at token `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Group {
    start: usize,
    count: usize,
    len: usize,
}

fn equal_length_groups(lengths: &[usize]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut start = 0;
    for &len in lengths {
        match groups.last_mut() {
            Some(group) if group.len == len => group.count += 1,
            _ => groups.push(Group {
                start,
                count: 1,
                len,
            }),
        }
        start += len;
    }
    groups
}

/// Self-attention over packed sequences, one batched product per group of equal length.
struct Attention<'a> {
    groups: &'a [Group],
    n_heads: usize,
    head_dim: usize,
    dtype: DType,
}

impl Attention<'_> {
    /// `qkv` is (tokens, 3 × hidden) in the model dtype; returns the context (tokens, hidden).
    fn forward(&self, qkv: &Tensor) -> candle_core::Result<Tensor> {
        let hidden = self.n_heads * self.head_dim;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut contexts = Vec::with_capacity(self.groups.len());
        for group in self.groups {
            let rows = qkv.narrow(0, group.start, group.count * group.len)?;
            let qkv = rows
                .reshape((group.count, group.len, 3, self.n_heads, self.head_dim))?
                .permute((2, 0, 3, 1, 4))?;
            let query = (qkv.get(0)?.contiguous()? * scale)?;
            let key = qkv.get(1)?.contiguous()?;
            let value = qkv.get(2)?.contiguous()?;
            // Softmax in f32: in bf16 its rounding alone cost more than the products did.
            let scores = query.matmul(&key.t()?)?.to_dtype(DType::F32)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(self.dtype)?;
            let context = probs
                .matmul(&value)?
                .transpose(1, 2)?
                .reshape((group.count * group.len, hidden))?;
            contexts.push(context);
        }
        Tensor::cat(&contexts, 0)
    }
}

impl Layer {
    fn load(vb: VarBuilder, config: &BertConfig) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let attention = vb.pp("attention");
        let projections = ["query", "key", "value"].map(|name| attention.pp("self").pp(name));
        Ok(Self {
            qkv: Dense::fused(&projections, hidden, hidden)?,
            attention_out: Dense::load(attention.pp("output.dense"), hidden, hidden)?,
            attention_norm: Norm::load(
                attention.pp("output.LayerNorm"),
                hidden,
                config.layer_norm_eps,
            )?,
            intermediate: Dense::load(
                vb.pp("intermediate.dense"),
                hidden,
                config.intermediate_size,
            )?,
            output: Dense::load(vb.pp("output.dense"), config.intermediate_size, hidden)?,
            output_norm: Norm::load(vb.pp("output.LayerNorm"), hidden, config.layer_norm_eps)?,
        })
    }

    /// `xs` is the f32 residual stream (tokens, hidden); products and attention run in the
    /// model dtype.
    fn forward(
        &self,
        xs: &Tensor,
        attention: &Attention,
        activation: Activation,
    ) -> candle_core::Result<Tensor> {
        let dtype = attention.dtype;
        let qkv = self.qkv.forward(&xs.to_dtype(dtype)?)?;
        let context = attention.forward(&qkv)?;
        let attended = self
            .attention_norm
            .forward(&(self.attention_out.forward(&context)?.to_dtype(DType::F32)? + xs)?)?;
        let intermediate =
            activation.apply(&self.intermediate.forward(&attended.to_dtype(dtype)?)?)?;
        self.output_norm
            .forward(&(self.output.forward(&intermediate)?.to_dtype(DType::F32)? + attended)?)
    }
}
