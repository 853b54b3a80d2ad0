//! A BERT encoder as plain structs: a config mirroring `config.json`, and one struct per layer
//! with `load` and `forward`, readable top to bottom.
//!
//! Why our own instead of `candle_transformers::models::bert`: its LayerNorm is candle's fused
//! kernel, which has no backward pass, so nothing in it can be fine-tuned. Here every LayerNorm
//! can run either fused (inference, the default) or as plain tensor ops (training), chosen at
//! load time with [`Precision::differentiable`].

use candle_core::{DType, Module, Tensor, D};
use candle_nn::{Embedding, Linear, VarBuilder};
use serde::Deserialize;
use std::collections::HashMap;

/// The fields of a Hugging Face BERT `config.json` that the forward pass needs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct BertConfig {
    /// Rows of the word-embedding table.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward inner layer.
    pub intermediate_size: usize,
    /// Activation of the feed-forward layer; `gelu` (exact, erf) for every model we ship.
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    /// Longest sequence the position embeddings cover.
    pub max_position_embeddings: usize,
    /// Rows of the token-type embedding table.
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    /// Epsilon of every LayerNorm.
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Position ids start after the padding index for XLM-R style models (`pad_token_id + 1`);
    /// plain BERT, including multilingual-e5-small, starts at 0.
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_hidden_act() -> String {
    "gelu".to_string()
}
fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}

impl BertConfig {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }
}

/// How the layers compute, chosen at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Precision {
    /// Use only ops with a backward pass (slower; needed to fine-tune).
    pub differentiable: bool,
}

#[derive(Debug, Clone)]
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
    differentiable: bool,
}

impl LayerNorm {
    fn load(vb: VarBuilder, size: usize, eps: f64, precision: Precision) -> candle_core::Result<Self> {
        // Older checkpoints name the parameters gamma/beta.
        let (weight, bias) = if vb.contains_tensor("weight") {
            (vb.get(size, "weight")?, vb.get(size, "bias")?)
        } else {
            (vb.get(size, "gamma")?, vb.get(size, "beta")?)
        };
        Ok(Self { weight, bias, eps: eps as f32, differentiable: precision.differentiable })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        if self.differentiable {
            candle_nn::ops::layer_norm_slow(xs, &self.weight, &self.bias, self.eps)
        } else {
            candle_nn::ops::layer_norm(&xs.contiguous()?, &self.weight, &self.bias, self.eps)
        }
    }
}

fn linear(vb: VarBuilder, input: usize, output: usize) -> candle_core::Result<Linear> {
    let weight = vb.get((output, input), "weight")?;
    let bias = vb.get(output, "bias")?;
    Ok(Linear::new(weight, Some(bias)))
}

struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    layer_norm: LayerNorm,
    span: tracing::Span,
}

impl Embeddings {
    fn load(vb: VarBuilder, config: &BertConfig, precision: Precision) -> candle_core::Result<Self> {
        let h = config.hidden_size;
        Ok(Self {
            word: Embedding::new(vb.get((config.vocab_size, h), "word_embeddings.weight")?, h),
            position: Embedding::new(vb.get((config.max_position_embeddings, h), "position_embeddings.weight")?, h),
            token_type: Embedding::new(vb.get((config.type_vocab_size, h), "token_type_embeddings.weight")?, h),
            layer_norm: LayerNorm::load(vb.pp("LayerNorm"), h, config.layer_norm_eps, precision)?,
            span: tracing::span!(tracing::Level::TRACE, "embeddings"),
        })
    }

    fn forward(&self, input_ids: &Tensor, token_type_ids: &Tensor) -> candle_core::Result<Tensor> {
        let _enter = self.span.enter();
        let (_batch, len) = input_ids.dims2()?;
        let positions = Tensor::arange(0u32, len as u32, input_ids.device())?;
        let words = self.word.forward(input_ids)?;
        let types = self.token_type.forward(token_type_ids)?;
        let positions = self.position.forward(&positions)?;
        let xs = (words + types)?.broadcast_add(&positions)?;
        self.layer_norm.forward(&xs)
    }
}

struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    layer_norm: LayerNorm,
    heads: usize,
    head_dim: usize,
    differentiable: bool,
    span: tracing::Span,
}

impl SelfAttention {
    fn load(vb: VarBuilder, config: &BertConfig, precision: Precision) -> candle_core::Result<Self> {
        let h = config.hidden_size;
        Ok(Self {
            query: linear(vb.pp("self.query"), h, h)?,
            key: linear(vb.pp("self.key"), h, h)?,
            value: linear(vb.pp("self.value"), h, h)?,
            output: linear(vb.pp("output.dense"), h, h)?,
            layer_norm: LayerNorm::load(vb.pp("output.LayerNorm"), h, config.layer_norm_eps, precision)?,
            heads: config.num_attention_heads,
            head_dim: config.head_dim(),
            differentiable: precision.differentiable,
            span: tracing::span!(tracing::Level::TRACE, "attention"),
        })
    }

    /// `mask_bias` is `[batch, 1, 1, len]`: 0 where attending is allowed, a large negative number on padding.
    fn forward(&self, xs: &Tensor, mask_bias: &Tensor) -> candle_core::Result<Tensor> {
        let _enter = self.span.enter();
        let (batch, len, hidden) = xs.dims3()?;
        let split_heads = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((batch, len, self.heads, self.head_dim))?.transpose(1, 2)?.contiguous()
        };
        let q = split_heads(self.query.forward(xs)?)?;
        let k = split_heads(self.key.forward(xs)?)?;
        let v = split_heads(self.value.forward(xs)?)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask_bias)?;
        let probs = if self.differentiable {
            candle_nn::ops::softmax(&scores, D::Minus1)?
        } else {
            candle_nn::ops::softmax_last_dim(&scores)?
        };
        let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((batch, len, hidden))?;
        let projected = self.output.forward(&context)?;
        self.layer_norm.forward(&(projected + xs)?)
    }
}

struct FeedForward {
    inner: Linear,
    outer: Linear,
    layer_norm: LayerNorm,
    exact_gelu: bool,
    span: tracing::Span,
}

impl FeedForward {
    fn load(vb: VarBuilder, config: &BertConfig, precision: Precision) -> candle_core::Result<Self> {
        let (h, f) = (config.hidden_size, config.intermediate_size);
        Ok(Self {
            inner: linear(vb.pp("intermediate.dense"), h, f)?,
            outer: linear(vb.pp("output.dense"), f, h)?,
            layer_norm: LayerNorm::load(vb.pp("output.LayerNorm"), h, config.layer_norm_eps, precision)?,
            exact_gelu: config.hidden_act != "gelu_new" && config.hidden_act != "gelu_pytorch_tanh",
            span: tracing::span!(tracing::Level::TRACE, "feed_forward"),
        })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let _enter = self.span.enter();
        let inner = self.inner.forward(xs)?;
        let activated = if self.exact_gelu { inner.gelu_erf()? } else { inner.gelu()? };
        let outer = self.outer.forward(&activated)?;
        self.layer_norm.forward(&(outer + xs)?)
    }
}

/// One transformer layer: self-attention then feed-forward, each with residual and LayerNorm.
pub(crate) struct Layer {
    attention: SelfAttention,
    feed_forward: FeedForward,
}

impl Layer {
    pub(crate) fn load(vb: VarBuilder, config: &BertConfig, precision: Precision) -> candle_core::Result<Self> {
        Ok(Self {
            attention: SelfAttention::load(vb.pp("attention"), config, precision)?,
            feed_forward: FeedForward::load(vb.clone(), config, precision)?,
        })
    }

    /// The layer's parameters, named as in a checkpoint under `prefix` (`encoder.layer.{i}`).
    pub(crate) fn named_tensors(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let linear = |name: &str, l: &Linear| {
            let mut out = vec![(format!("{prefix}.{name}.weight"), l.weight().clone())];
            out.extend(l.bias().map(|b| (format!("{prefix}.{name}.bias"), b.clone())));
            out
        };
        let norm = |name: &str, n: &LayerNorm| {
            vec![
                (format!("{prefix}.{name}.weight"), n.weight.clone()),
                (format!("{prefix}.{name}.bias"), n.bias.clone()),
            ]
        };
        let (a, f) = (&self.attention, &self.feed_forward);
        [
            linear("attention.self.query", &a.query),
            linear("attention.self.key", &a.key),
            linear("attention.self.value", &a.value),
            linear("attention.output.dense", &a.output),
            norm("attention.output.LayerNorm", &a.layer_norm),
            linear("intermediate.dense", &f.inner),
            linear("output.dense", &f.outer),
            norm("output.LayerNorm", &f.layer_norm),
        ]
        .concat()
    }

    pub(crate) fn forward(&self, xs: &Tensor, mask_bias: &Tensor) -> candle_core::Result<Tensor> {
        let xs = self.attention.forward(xs, mask_bias)?;
        self.feed_forward.forward(&xs)
    }
}

/// The BERT encoder: embeddings then `num_hidden_layers` transformer layers.
pub struct BertModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    config: BertConfig,
    span: tracing::Span,
}

impl BertModel {
    /// Loads the weights under `vb`, with or without a leading `bert.` prefix
    /// (sentence-transformers checkpoints have none, `BertForX` checkpoints have one).
    pub fn load(vb: VarBuilder, config: &BertConfig, precision: Precision) -> candle_core::Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") { vb.pp("bert") } else { vb };
        let embeddings = Embeddings::load(vb.pp("embeddings"), config, precision)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), config, precision))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { embeddings, layers, config: config.clone(), span: tracing::span!(tracing::Level::TRACE, "bert") })
    }

    /// The configuration the model was loaded with.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Last hidden states `[batch, len, hidden]` for `input_ids` `[batch, len]` (u32) and
    /// `attention_mask` `[batch, len]` (1 for real tokens, 0 for padding; any numeric dtype).
    pub fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_with(input_ids, attention_mask, None)
    }

    /// [`forward`](Self::forward) with the top layers replaced by `upper` (an adapted copy
    /// of them, see [`UpperLayers`]) when given.
    pub fn forward_with(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        upper: Option<&UpperLayers>,
    ) -> candle_core::Result<Tensor> {
        let _enter = self.span.enter();
        let base_layers = upper.map_or(self.layers.len(), |u| u.from.min(self.layers.len()));
        let (xs, mask_bias) = self.lower(input_ids, attention_mask, base_layers)?;
        match upper {
            Some(upper) => upper.forward(&xs, &mask_bias),
            None => Ok(xs),
        }
    }

    /// The parameters of layers `from..`, named `encoder.layer.{i}.…` (no `bert.` prefix): the
    /// starting point of an adaptation.
    pub(crate) fn upper_tensors(&self, from: usize) -> HashMap<String, Tensor> {
        self.layers
            .iter()
            .enumerate()
            .skip(from)
            .flat_map(|(i, layer)| layer.named_tensors(&format!("encoder.layer.{i}")))
            .collect()
    }

    /// Embeddings then the first `layers` layers: the hidden states `[batch, len, hidden]` and
    /// the attention bias the remaining layers need.
    pub(crate) fn lower(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        layers: usize,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let token_type_ids = input_ids.zeros_like()?;
        let mut xs = self.embeddings.forward(input_ids, &token_type_ids)?;
        let mask_bias = attention_bias(attention_mask, xs.dtype())?;
        for layer in self.layers.iter().take(layers) {
            xs = layer.forward(&xs, &mask_bias)?;
        }
        Ok((xs, mask_bias))
    }
}

/// A replacement for the top layers of a [`BertModel`], from layer `from` to the last: what
/// encoder adaptation trains and a model stores, so that many models share one base encoder.
pub struct UpperLayers {
    pub(crate) from: usize,
    pub(crate) layers: Vec<Layer>,
    /// The same layers compiled for the inference engine, once they are final (a loaded or
    /// trained model): they then run at the engine's speed instead of candle's.
    pub(crate) compiled: Option<super::engine::EngineLayers>,
}

impl UpperLayers {
    /// Loads layers `from..config.num_hidden_layers` from tensors named like the base model's
    /// (`encoder.layer.{i}.…`, no `bert.` prefix) under `vb`.
    pub fn load(vb: VarBuilder, config: &BertConfig, from: usize, precision: Precision) -> candle_core::Result<Self> {
        let layers = (from..config.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), config, precision))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { from, layers, compiled: None })
    }

    /// The first layer replaced.
    pub fn from_layer(&self) -> usize {
        self.from
    }

    /// Runs the layers on hidden states `[batch, len, hidden]` of layer `from`.
    pub fn forward(&self, xs: &Tensor, mask_bias: &Tensor) -> candle_core::Result<Tensor> {
        let mut xs = xs.clone();
        for layer in &self.layers {
            xs = layer.forward(&xs, mask_bias)?;
        }
        Ok(xs)
    }
}

/// `[batch, len]` 1/0 mask → `[batch, 1, 1, len]` additive bias: 0 to attend, -1e4·… to ignore.
pub(crate) fn attention_bias(mask: &Tensor, dtype: DType) -> candle_core::Result<Tensor> {
    let (batch, len) = mask.dims2()?;
    let mask = mask.to_dtype(dtype)?;
    // (1 - mask) * large negative: padding gets ~-inf after softmax without producing NaN.
    let bias = ((mask.ones_like()? - mask)? * -1e9f64)?;
    bias.reshape((batch, 1, 1, len))
}
