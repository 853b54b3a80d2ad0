//! Encoder adaptation: fine-tune the top layers of the encoder on the bot's own labelled
//! utterances, on the CPU, and keep them as a small adapter beside the shared base encoder.
//!
//! A head on frozen embeddings has a ceiling: the encoder was never told that "où en est mon
//! colis" and "suivi de ma commande" are the same request for this bot, or that "votre météo"
//! is out of its scope. Fine-tuning moves the embeddings so that the bot's intents separate.
//! Only the top [`AdaptConfig::layers`] layers train (the lower layers and the 250k-row
//! embedding table stay frozen and shared), which keeps three things small:
//!
//! - **time**: the frozen lower layers run once per utterance, their outputs are cached, and
//!   each epoch runs only the top layers forward and backward;
//! - **size**: the adapter is the top layers alone, its weight matrices stored in int8 with a
//!   scale per row, the rest in f16 (1.8 MB a layer for multilingual-e5-small);
//! - **memory**: many bots share one base encoder; each model holds only its adapter.
//!
//! The adapted layers feed the intent head only. Fitted to the intents, they lose what the
//! signal heads and the entity tagger read, so those keep the encoder's own embeddings:
//! [`Encoder::encode_batch_with`] computes both in one pass, the adapted layers branching off
//! the encoder's states below its top layers. The exception is an adaptation with a tagging
//! loss ([`AdaptConfig::entity_loss_weight`], [`TokenTargets`]): its layers learn the entity
//! tags too (a linear tagging layer on every token's state, cross-entropy over BIO tags,
//! JointBERT-style), and the tagger reads their token states
//! ([`Encoder::encode_batch_adapted_tokens`]).
//!
//! Training is classification fine-tuning: mean-pooled, L2-normalised embeddings through a
//! cosine-softmax layer initialised at the class centroids (so the first step starts from a
//! nearest-centroid classifier, not from noise), cross-entropy including the out-of-scope
//! class when the data has one, AdamW with linear warm-up and decay, early stopping on a
//! held-out share ([`HeldOutSplit`]). Deterministic for a seed.

use super::bert::{Precision, UpperLayers};
use super::Encoder;
use crate::error::{Error, Result};
use candle_core::{DType, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder};
use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Instant;

/// How to adapt the encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdaptConfig {
    /// Adapt the encoder at all (`entendu train --adapt`).
    pub enabled: bool,
    /// Top layers to fine-tune.
    pub layers: usize,
    /// Most passes over the training utterances.
    pub max_epochs: usize,
    /// AdamW learning rate of the layers (peak, after warm-up).
    pub learning_rate: f64,
    /// AdamW learning rate of the classification layer used for fine-tuning.
    pub head_learning_rate: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Utterances per step.
    pub batch_size: usize,
    /// Scale of the cosine-softmax logits.
    pub logit_scale: f64,
    /// Share of the utterances held out for early stopping (and then for the heads'
    /// calibration: rows the adapted layers never trained on).
    pub held_out_share: f32,
    /// How those utterances are picked. Manifests written before this setting existed read
    /// [`HeldOutSplit::Stratified`], the split their adapters were trained with.
    #[serde(default = "HeldOutSplit::legacy")]
    pub held_out_by: HeldOutSplit,
    /// Stop after this many epochs without a better held-out accuracy.
    pub patience: usize,
    /// Stop after the epoch that crosses this many seconds (none: no limit).
    pub max_seconds: Option<f64>,
    /// Weight of a token-tagging loss (BIO tags of the annotated entities) beside the intent
    /// loss, when the data has entity annotations; 0 adapts to the intents alone. With a
    /// tagging loss the layers learn the entities too, and the entity tagger reads them.
    pub entity_loss_weight: f64,
}

impl Default for AdaptConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            layers: 2,
            max_epochs: 4,
            // Chosen on the support data's held-out tenth (held-out accuracy 0.846 at 1e-4,
            // 0.872 at 3e-4, 0.886 at 1e-3), and the rate of every adapted figure in the README
            // (CLINC150, BANKING77, xSID, the bundled support model).
            learning_rate: 1e-3,
            head_learning_rate: 3e-3,
            weight_decay: 0.01,
            batch_size: 32,
            logit_scale: 20.0,
            held_out_share: 0.1,
            held_out_by: HeldOutSplit::PerUtterance,
            patience: 2,
            max_seconds: None,
            entity_loss_weight: 0.0,
        }
    }
}

/// How the adaptation picks the utterances it holds out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldOutSplit {
    /// Each utterance on its own, from a hash of its text and the seed. Adding, removing or
    /// relabelling other examples moves no utterance from training to held out, so heads
    /// retrained over the adapter on grown data (`entendu train --adapter-from`) still
    /// calibrate on utterances the adapter never trained on. The one exception: a class that
    /// grows to 3 rows with none in the held-out share holds out its row of lowest hash.
    PerUtterance,
    /// A stratified shuffle of all the rows (adapters trained before 2026-12-08): any change to
    /// the data reshuffles it.
    Stratified,
}

impl HeldOutSplit {
    fn legacy() -> Self {
        Self::Stratified
    }
}

/// One point of the accuracy-against-time curve of an adaptation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Epochs done.
    pub epoch: usize,
    /// Seconds since the adaptation started (lower-layer caching included).
    pub seconds: f64,
    /// Accuracy of the fine-tuning classifier on the held-out share.
    pub held_out_accuracy: f32,
    /// Mean training loss over the epoch (none before training).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_loss: Option<f32>,
    /// With a tagging loss: the tagging layer's accuracy on the held-out tokens that are inside
    /// an entity or predicted to be (early stopping uses the mean of both accuracies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out_tag_accuracy: Option<f32>,
}

/// What the artifact records about an adaptation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterMeta {
    /// First adapted layer (the layers from here to the last are the adapter's).
    pub from_layer: usize,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// Seconds the adaptation took.
    pub seconds: f64,
    /// Held-out accuracy before training (epoch 0) and after each epoch.
    pub curve: Vec<CurvePoint>,
    /// Which heads read the adapted layers: only the intent head, the signal heads and the
    /// entity tagger keep the encoder's own embeddings. Absent (false) in models of entendu
    /// versions whose every head read them; those must be trained again.
    #[serde(default)]
    pub intent_only: bool,
    /// The layers were trained to tag entities too ([`AdaptConfig::entity_loss_weight`]), and
    /// the entity tagger reads their token states ([`Encoder::encode_batch_adapted_tokens`]).
    #[serde(default)]
    pub tokens_adapted: bool,
}

/// What the layers learn to tag besides the intents: one tag index per token.
pub struct TokenTargets<'a> {
    /// Number of tags (indices run from 0, which should be "outside any entity").
    pub classes: usize,
    /// The tag of each token of utterance `row` (of the `texts` given to [`adapt`]), given the
    /// tokens' byte spans in the text, as [`EncodedText::offsets`](super::EncodedText) has them.
    pub tags: &'a TagsOf<'a>,
}

/// See [`TokenTargets::tags`]: `(row, token byte spans) -> tag per token`.
pub type TagsOf<'a> = dyn Fn(usize, &[(usize, usize)]) -> Vec<usize> + 'a;

/// Adapted top layers, ready to run, and their stored form.
pub struct Adapter {
    upper: UpperLayers,
    /// The weights as saved (see [`store`]); `upper` holds exactly their values in f32.
    stored: HashMap<String, Tensor>,
    meta: AdapterMeta,
}

/// Prefix of the adapter's tensors in a model's weight file.
const PREFIX: &str = "adapter.";

impl Adapter {
    /// The layers, for [`Encoder::embed_batch_with`] and [`Encoder::encode_batch_with`].
    pub fn layers(&self) -> &UpperLayers {
        &self.upper
    }

    /// What the artifact records.
    pub fn meta(&self) -> &AdapterMeta {
        &self.meta
    }

    /// Named tensors for the artifact (`adapter.encoder.layer.{i}.…`): weight matrices as
    /// offset int8 with their `….scale` rows (one scale per row), the rest f16.
    pub fn to_tensors(&self) -> HashMap<String, Tensor> {
        self.stored.iter().map(|(name, t)| (format!("{PREFIX}{name}"), t.clone())).collect()
    }

    /// Rebuilds an adapter for `encoder` from a model's tensors.
    pub fn from_tensors(encoder: &Encoder, tensors: &HashMap<String, Tensor>, meta: AdapterMeta) -> Result<Self> {
        let stored: HashMap<String, Tensor> = tensors
            .iter()
            .filter_map(|(name, t)| name.strip_prefix(PREFIX).map(|n| (n.to_string(), t.clone())))
            .collect();
        let upper = build_inference_layers(encoder, &stored, meta.from_layer)?;
        Ok(Self { upper, stored, meta })
    }
}

/// Suffix of the per-row scales of a weight matrix stored in int8.
const SCALE_SUFFIX: &str = ".scale";

/// The tensors to store for trained parameter `name`: a weight matrix `[n, k]` as int8 with one
/// scale per output row (`q = round(w / s)`, `s = max |w_row| / 127`), held in a `U8` tensor as
/// `q + 128` because candle has no signed 8-bit type, and its scales under `name.scale`; any
/// other parameter (biases, LayerNorm) in f16.
///
/// Why int8: it halves the adapter (a bot's model is mostly its adapter), and the encoder's
/// int8 engine quantises these matrices per row anyway, so what is lost in storage is about
/// what inference loses already (measured in the commit that introduced it).
fn store(name: &str, t: &Tensor) -> Result<Vec<(String, Tensor)>> {
    if t.rank() != 2 || !name.ends_with("weight") {
        return Ok(vec![(name.to_string(), t.to_dtype(DType::F16)?)]);
    }
    let rows = t.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let (n, k) = (rows.len(), rows.first().map_or(0, Vec::len));
    let mut codes = Vec::with_capacity(n * k);
    let mut scales = Vec::with_capacity(n);
    for row in &rows {
        let (scale, row_codes) = super::kernels::quantize_row(row);
        codes.extend(row_codes.map(|q| (i16::from(q) + 128) as u8));
        scales.push(scale);
    }
    let device = t.device();
    Ok(vec![
        (name.to_string(), Tensor::from_vec(codes, (n, k), device)?),
        (format!("{name}{SCALE_SUFFIX}"), Tensor::from_vec(scales, n, device)?),
    ])
}

/// The f32 parameters back from stored tensors: int8 matrices times their row scales, f16 (or,
/// from models of format 1, f16 matrices too) widened.
fn unstore(stored: &HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>> {
    let mut f32s = HashMap::with_capacity(stored.len());
    for (name, t) in stored {
        if name.ends_with(SCALE_SUFFIX) {
            continue;
        }
        let value = match t.dtype() {
            DType::U8 => {
                let scales = stored.get(&format!("{name}{SCALE_SUFFIX}")).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "the adapter's {name} is int8 without its {SCALE_SUFFIX}: the model is damaged, train it again"
                    ))
                })?;
                let codes = t.to_dtype(DType::F32)?.affine(1.0, -128.0)?;
                codes.broadcast_mul(&scales.to_dtype(DType::F32)?.unsqueeze(1)?)?
            }
            _ => t.to_dtype(DType::F32)?,
        };
        f32s.insert(name.clone(), value);
    }
    Ok(f32s)
}

/// f32 inference layers from stored tensors (see [`store`]).
fn build_inference_layers(encoder: &Encoder, stored: &HashMap<String, Tensor>, from: usize) -> Result<UpperLayers> {
    let f32s = unstore(stored)?;
    let misfit = |e: &dyn std::fmt::Display| {
        Error::InvalidArgument(format!("the adapter does not fit encoder {} ({e})", encoder.info().name))
    };
    let read = |name: &str, len: usize| -> Result<Vec<f32>> {
        let tensor = f32s.get(name).ok_or_else(|| misfit(&format!("{name} is missing")))?;
        let values = tensor.flatten_all()?.to_vec1::<f32>()?;
        match values.len() == len {
            true => Ok(values),
            false => Err(misfit(&format!("{name} has {} values, the encoder {len}", values.len()))),
        }
    };
    let compiled = encoder.engine.compile_layers(from, &read, &|name| f32s.contains_key(name))?;
    let config = encoder.config().clone();
    let vb = VarBuilder::from_tensors(f32s, DType::F32, &encoder.device);
    let mut upper = UpperLayers::load(vb, &config, from, Precision::default()).map_err(|e| misfit(&e))?;
    upper.compiled = Some(compiled);
    Ok(upper)
}

/// A batch of utterances with the frozen lower layers already run.
struct CachedBatch {
    hidden: Tensor,
    mask_bias: Tensor,
    /// `[batch, len, 1]` f32 mask, for mean pooling.
    mask: Tensor,
    labels: Tensor,
    label_list: Vec<usize>,
    /// Row of each utterance in the caller's `texts`.
    rows: Vec<usize>,
    /// With token targets: the tags `[batch · len]` and which positions carry one.
    tags: Option<CachedTags>,
}

/// Token tags of a batch, flattened over `[batch, len]` positions.
struct CachedTags {
    /// `[batch · len]` u32 tag index (0 where there is no tag).
    targets: Tensor,
    /// `[batch · len]` f32: 1 where the position is a tagged token.
    mask: Tensor,
    /// The same two, for scoring.
    target_list: Vec<u32>,
    mask_list: Vec<bool>,
    /// Tagged positions (at least 1, to divide by).
    count: f64,
}

/// Fine-tunes the top layers of `encoder` to tell `labels` (class indices in `0..classes`,
/// one per text) apart, and, with `token_targets` and a positive
/// [`AdaptConfig::entity_loss_weight`], to tag their tokens. Returns the adapter and the
/// adapted sentence embeddings of `texts` (one row each, as [`Encoder::embed_batch_with`]
/// computes them), which come almost free from the cached lower layers. `progress` hears
/// `(stage, done, total)`.
#[allow(clippy::too_many_arguments)]
pub fn adapt(
    encoder: &Encoder,
    texts: &[&str],
    labels: &[usize],
    classes: usize,
    token_targets: Option<&TokenTargets>,
    config: &AdaptConfig,
    seed: u64,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<(Adapter, Array2<f32>)> {
    let _span = tracing::info_span!("adapt", n = texts.len(), layers = config.layers).entered();
    let started = Instant::now();
    let layer_count = encoder.config().num_hidden_layers;
    if config.layers == 0 || config.layers > layer_count {
        return Err(Error::InvalidArgument(format!(
            "adapt.layers must be between 1 and {layer_count} (the encoder's layers), not {}",
            config.layers
        )));
    }
    for (name, rate) in [("learning_rate", config.learning_rate), ("head_learning_rate", config.head_learning_rate)] {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "adapt.{name} must be a positive number (e.g. 1e-4, the default), not {rate}"
            )));
        }
    }
    if texts.len() != labels.len() || texts.is_empty() || classes < 2 {
        return Err(Error::Data("adaptation needs labelled utterances of at least 2 classes".into()));
    }
    if !(config.entity_loss_weight.is_finite() && config.entity_loss_weight >= 0.0) {
        return Err(Error::InvalidArgument(format!(
            "adapt.entity_loss_weight must be 0 (intents only) or a positive number (e.g. 1), not {}",
            config.entity_loss_weight
        )));
    }
    let token_targets = token_targets.filter(|t| config.entity_loss_weight > 0.0 && t.classes >= 2);
    let from = layer_count - config.layers;
    let device = encoder.device.clone();
    let prefix_len = encoder.info().query_prefix.len();

    // Held-out rows for early stopping, then length-sorted batches of each part, so that
    // padding stays small; the frozen lower layers run once per batch, here.
    let (fit_rows, held_rows) = held_out_split(texts, labels, config, seed);
    let cache =
        |rows: &[usize], stage: &str, progress: &mut dyn FnMut(&str, usize, usize)| -> Result<Vec<CachedBatch>> {
            let mut items = Vec::with_capacity(rows.len());
            for &r in rows {
                let text = texts.get(r).copied().unwrap_or("");
                let (encoding, _) = encoder.tokenize(text)?;
                items.push((encoding, labels.get(r).copied().unwrap_or(0), r));
            }
            items.sort_by_key(|(e, _, _)| e.len());
            let mut batches = Vec::new();
            let total = items.len();
            let mut done = 0;
            progress(stage, 0, total);
            for chunk in items.chunks(config.batch_size.max(1)) {
                let encodings: Vec<&tokenizers::Encoding> = chunk.iter().map(|(e, _, _)| e).collect();
                let (hidden, mask_bias, mask) = encoder.lower_padded(&encodings, from)?;
                let label_list: Vec<usize> = chunk.iter().map(|(_, l, _)| *l).collect();
                let rows: Vec<usize> = chunk.iter().map(|(_, _, r)| *r).collect();
                let labels =
                    Tensor::from_vec(label_list.iter().map(|&l| l as u32).collect::<Vec<_>>(), chunk.len(), &device)?;
                let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                let tags = match token_targets {
                    Some(targets) => {
                        let longest = chunk.iter().map(|(e, _, _)| e.len()).max().unwrap_or(0).max(1);
                        Some(cache_tags(chunk, longest, prefix_len, targets, &device)?)
                    }
                    None => None,
                };
                batches.push(CachedBatch { hidden, mask_bias, mask, labels, label_list, rows, tags });
                done += chunk.len();
                progress(stage, done, total);
            }
            Ok(batches)
        };
    let fit = cache(&fit_rows, "adapting: running the frozen layers", progress)?;
    let held = cache(&held_rows, "adapting: running the frozen layers (held out)", progress)?;

    // Trainable copies of the top layers.
    let base = encoder.reference_model()?.upper_tensors(from);
    let mut vars: Vec<(String, Var)> = Vec::with_capacity(base.len());
    let mut names: Vec<&String> = base.keys().collect();
    names.sort(); // HashMap order is random: sort for determinism
    for name in names {
        if let Some(t) = base.get(name) {
            vars.push((name.clone(), Var::from_tensor(&t.to_dtype(DType::F32)?.copy()?)?));
        }
    }
    let config_bert = encoder.config().clone();
    let trainable = |vars: &[(String, Var)]| -> Result<UpperLayers> {
        let map: HashMap<String, Tensor> = vars.iter().map(|(n, v)| (n.clone(), v.as_tensor().clone())).collect();
        let vb = VarBuilder::from_tensors(map, DType::F32, &device);
        Ok(UpperLayers::load(vb, &config_bert, from, Precision { differentiable: true })?)
    };
    let upper = trainable(&vars)?;

    // The classification layer starts at the class centroids of the unadapted embeddings.
    let dim = encoder.info().dim;
    let mut sums = vec![0f32; classes * dim];
    for batch in &fit {
        let pooled = pool(&upper.forward(&batch.hidden, &batch.mask_bias)?, &batch.mask)?.to_vec2::<f32>()?;
        for (row, &label) in pooled.iter().zip(&batch.label_list) {
            if let Some(slot) = sums.get_mut(label * dim..(label + 1) * dim) {
                slot.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            }
        }
    }
    let head = Var::from_tensor(&Tensor::from_vec(sums, (classes, dim), &device)?)?;
    let logits = |pooled: &Tensor, head: &Tensor| -> candle_core::Result<Tensor> {
        let norms = head.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-6, f64::MAX)?;
        let weights = head.broadcast_div(&norms)?;
        pooled.matmul(&weights.t()?)? * config.logit_scale
    };
    // The tagging layer starts at zero: uniform tags, and gradients from the first step.
    let tag_head = match token_targets {
        Some(targets) => Some((
            Var::from_tensor(&Tensor::zeros((targets.classes, dim), DType::F32, &device)?)?,
            Var::from_tensor(&Tensor::zeros(targets.classes, DType::F32, &device)?)?,
        )),
        None => None,
    };
    let tag_logits = |states: &Tensor, (weights, bias): &(Var, Var)| -> candle_core::Result<Tensor> {
        let (batch, len, width) = states.dims3()?;
        states.reshape((batch * len, width))?.matmul(&weights.t()?)?.broadcast_add(bias)
    };
    // Held-out intent accuracy, and tag accuracy over the tokens inside a gold or predicted
    // entity (all-`O` would otherwise score 90%).
    let accuracy = |upper: &UpperLayers, head: &Tensor, tag_head: Option<&(Var, Var)>| -> Result<(f32, Option<f32>)> {
        let (mut right, mut total) = (0usize, 0usize);
        let (mut tags_right, mut tags_total) = (0usize, 0usize);
        for batch in &held {
            let states = upper.forward(&batch.hidden, &batch.mask_bias)?;
            let pooled = pool(&states, &batch.mask)?;
            let predicted = logits(&pooled, head)?.argmax(D::Minus1)?.to_vec1::<u32>()?;
            right += predicted.iter().zip(&batch.label_list).filter(|(p, l)| **p as usize == **l).count();
            total += batch.label_list.len();
            if let (Some(tag_head), Some(tags)) = (tag_head, &batch.tags) {
                let predicted = tag_logits(&states, tag_head)?.argmax(D::Minus1)?.to_vec1::<u32>()?;
                for ((p, g), _) in predicted.iter().zip(&tags.target_list).zip(&tags.mask_list).filter(|(_, m)| **m) {
                    if *p != 0 || *g != 0 {
                        tags_total += 1;
                        tags_right += usize::from(p == g);
                    }
                }
            }
        }
        let ratio = |r: usize, t: usize| if t == 0 { 0.0 } else { r as f32 / t as f32 };
        Ok((ratio(right, total), tag_head.map(|_| ratio(tags_right, tags_total))))
    };
    let score = |(intents, tags): (f32, Option<f32>)| tags.map_or(intents, |t| (intents + t) / 2.0);

    let params = |lr: f64| ParamsAdamW { lr, weight_decay: config.weight_decay, ..Default::default() };
    let mut layer_opt = AdamW::new(vars.iter().map(|(_, v)| v.clone()).collect(), params(config.learning_rate))?;
    let mut head_vars = vec![head.clone()];
    if let Some((w, b)) = &tag_head {
        head_vars.extend([w.clone(), b.clone()]);
    }
    let mut head_opt = AdamW::new(head_vars, params(config.head_learning_rate))?;
    let steps_per_epoch = fit.len();
    let total_steps = (steps_per_epoch * config.max_epochs.max(1)).max(1);
    let warmup = (total_steps / 16).max(1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let first = accuracy(&upper, head.as_tensor(), tag_head.as_ref())?;
    let mut curve = vec![CurvePoint {
        epoch: 0,
        seconds: started.elapsed().as_secs_f64(),
        held_out_accuracy: first.0,
        train_loss: None,
        held_out_tag_accuracy: first.1,
    }];
    let snapshot = |vars: &[(String, Var)]| -> Result<Vec<Tensor>> {
        vars.iter().map(|(_, v)| Ok(v.as_tensor().copy()?)).collect()
    };
    let mut best = (score(first), 0usize, snapshot(&vars)?);
    let mut order: Vec<usize> = (0..steps_per_epoch).collect();
    let mut step = 0usize;
    let stage = format!("adapting the top {} layers", config.layers);
    for epoch in 1..=config.max_epochs.max(1) {
        order.shuffle(&mut rng);
        let mut loss_sum = 0f32;
        for &b in &order {
            let Some(batch) = fit.get(b) else { continue };
            // Linear warm-up, then linear decay to zero at the last planned step.
            let factor = if step < warmup {
                (step + 1) as f64 / warmup as f64
            } else {
                (total_steps - step) as f64 / (total_steps - warmup).max(1) as f64
            };
            layer_opt.set_learning_rate(config.learning_rate * factor);
            head_opt.set_learning_rate(config.head_learning_rate * factor);
            let states = upper.forward(&batch.hidden, &batch.mask_bias)?;
            let pooled = pool(&states, &batch.mask)?;
            let mut loss = candle_nn::loss::cross_entropy(&logits(&pooled, head.as_tensor())?, &batch.labels)?;
            if let (Some(tag_head), Some(tags)) = (&tag_head, &batch.tags) {
                let log_p = candle_nn::ops::log_softmax(&tag_logits(&states, tag_head)?, D::Minus1)?;
                let picked = log_p.gather(&tags.targets.unsqueeze(1)?, 1)?.squeeze(1)?;
                let tag_loss = ((picked * &tags.mask)?.sum_all()? * (-config.entity_loss_weight / tags.count))?;
                loss = (loss + tag_loss)?;
            }
            loss_sum += loss.to_scalar::<f32>()?;
            let grads = loss.backward()?;
            layer_opt.step(&grads)?;
            head_opt.step(&grads)?;
            step += 1;
            progress(&stage, step, total_steps);
        }
        let measured = accuracy(&upper, head.as_tensor(), tag_head.as_ref())?;
        let (held_out_accuracy, held_out_tag_accuracy) = measured;
        let train_loss = Some(loss_sum / steps_per_epoch.max(1) as f32);
        curve.push(CurvePoint {
            epoch,
            seconds: started.elapsed().as_secs_f64(),
            held_out_accuracy,
            train_loss,
            held_out_tag_accuracy,
        });
        tracing::info!(epoch, held_out_accuracy, ?held_out_tag_accuracy, ?train_loss, "adaptation epoch");
        if score(measured) > best.0 {
            best = (score(measured), epoch, snapshot(&vars)?);
        } else if epoch - best.1 >= config.patience.max(1) {
            break;
        }
        if config.max_seconds.is_some_and(|limit| started.elapsed().as_secs_f64() >= limit) {
            break;
        }
    }
    progress(&stage, total_steps, total_steps);

    // Keep the best epoch, rounded as stored, so that what the heads train on is exactly what
    // a loaded model computes.
    let mut stored = HashMap::with_capacity(vars.len());
    for ((name, _), t) in vars.iter().zip(best.2) {
        stored.extend(store(name, &t)?);
    }
    let upper = build_inference_layers(encoder, &stored, from)?;
    let mut embeddings = Array2::<f32>::zeros((texts.len(), dim));
    for batch in fit.iter().chain(&held) {
        let pooled = pool(&upper.forward(&batch.hidden, &batch.mask_bias)?, &batch.mask)?.to_vec2::<f32>()?;
        for (row, values) in batch.rows.iter().zip(pooled) {
            if *row < embeddings.nrows() && values.len() == dim {
                embeddings.row_mut(*row).assign(&ndarray::Array1::from(values));
            }
        }
    }
    let meta = AdapterMeta {
        from_layer: from,
        best_epoch: best.1,
        seconds: started.elapsed().as_secs_f64(),
        curve,
        intent_only: true,
        tokens_adapted: tag_head.is_some(),
    };
    Ok((Adapter { upper, stored, meta }, embeddings))
}

/// The tags of a batch of tokenised utterances (`(encoding, label, row)`), padded to `longest`.
fn cache_tags(
    chunk: &[(tokenizers::Encoding, usize, usize)],
    longest: usize,
    prefix_len: usize,
    targets: &TokenTargets,
    device: &candle_core::Device,
) -> Result<CachedTags> {
    let mut target_list = vec![0u32; chunk.len() * longest];
    let mut mask_list = vec![false; chunk.len() * longest];
    for (i, (encoding, _, row)) in chunk.iter().enumerate() {
        let positions = super::token_positions(encoding, prefix_len);
        let spans: Vec<(usize, usize)> = positions.iter().map(|(_, span)| *span).collect();
        for ((position, _), tag) in positions.iter().zip((targets.tags)(*row, &spans)) {
            let at = i * longest + position;
            if let (Some(slot), Some(mask)) = (target_list.get_mut(at), mask_list.get_mut(at)) {
                if tag < targets.classes {
                    *slot = tag as u32;
                    *mask = true;
                }
            }
        }
    }
    let count = mask_list.iter().filter(|m| **m).count().max(1) as f64;
    let n = target_list.len();
    Ok(CachedTags {
        targets: Tensor::from_vec(target_list.clone(), n, device)?,
        mask: Tensor::from_vec(mask_list.iter().map(|&m| f32::from(u8::from(m))).collect::<Vec<f32>>(), n, device)?,
        target_list,
        mask_list,
        count,
    })
}

/// The rows [`adapt`] trains on and the rows it holds out for early stopping, for `texts`,
/// `labels`, `config` and `seed`. The intent head is calibrated on the same held-out rows: on the rows the
/// adapter trained on, it would be right nearly always and calibrate itself overconfident.
pub(crate) fn held_out_split(
    texts: &[&str],
    labels: &[usize],
    config: &AdaptConfig,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    match config.held_out_by {
        HeldOutSplit::Stratified => crate::intent::stratified_split(labels, config.held_out_share, seed ^ 0xada),
        HeldOutSplit::PerUtterance => per_utterance_split(texts, labels, config.held_out_share, seed ^ 0xada),
    }
}

/// A row is held out when the hash of its text falls in the first `share` of the hash range,
/// whatever the other rows are. A class of 3 or more rows that gets none holds out its row of
/// lowest hash, so that early stopping and calibration see every class.
fn per_utterance_split(texts: &[&str], labels: &[usize], share: f32, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let cut = (f64::from(share.clamp(0.0, 1.0)) * u64::MAX as f64) as u64;
    // Each class's rows with their hashes and sides.
    let mut by_class: HashMap<usize, Vec<(usize, u64, bool)>> = HashMap::new();
    for (row, (text, &label)) in texts.iter().zip(labels).enumerate() {
        let key = text_hash(text, seed);
        by_class.entry(label).or_default().push((row, key, key < cut));
    }
    let (mut fit, mut held) = (Vec::new(), Vec::new());
    for rows in by_class.values_mut() {
        if share > 0.0 && rows.len() >= 3 && !rows.iter().any(|r| r.2) {
            if let Some(lowest) = rows.iter_mut().min_by_key(|r| r.1) {
                lowest.2 = true;
            }
        }
        for &(row, _, is_held) in rows.iter() {
            if is_held {
                held.push(row)
            } else {
                fit.push(row)
            }
        }
    }
    fit.sort_unstable();
    held.sort_unstable();
    (fit, held)
}

/// FNV-1a over the text's bytes, then the splitmix64 finaliser to spread it. Written by hand on
/// purpose: a saved adapter's held-out rows must come out the same on every platform and Rust
/// release, which `std`'s `DefaultHasher` does not promise.
fn text_hash(text: &str, seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64 ^ seed;
    for byte in text.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Mean over real tokens, then L2 normalisation: `[batch, hidden]`.
fn pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let summed = hidden.broadcast_mul(mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
    let mean = summed.broadcast_div(&counts)?;
    let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    mean.broadcast_div(&norms)
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Adapter>();
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn tiny() -> (tempfile::TempDir, Encoder) {
        let dir = tempfile::tempdir().unwrap();
        crate::testing::write_tiny_encoder(dir.path(), 3).unwrap();
        let encoder = Encoder::from_dir(dir.path()).unwrap();
        (dir, encoder)
    }

    #[test]
    fn gradients_reach_every_adapted_parameter() {
        let (_dir, encoder) = tiny();
        let from = encoder.config().num_hidden_layers - 1;
        let base = encoder.reference_model().unwrap().upper_tensors(from);
        let vars: Vec<(String, Var)> =
            base.iter().map(|(n, t)| (n.clone(), Var::from_tensor(&t.copy().unwrap()).unwrap())).collect();
        let map: HashMap<String, Tensor> = vars.iter().map(|(n, v)| (n.clone(), v.as_tensor().clone())).collect();
        let vb = VarBuilder::from_tensors(map, DType::F32, &Device::Cpu);
        let upper = UpperLayers::load(vb, encoder.config(), from, Precision { differentiable: true }).unwrap();
        let (a, _) = encoder.tokenize("où est mon colis").unwrap();
        let (b, _) = encoder.tokenize("bonjour").unwrap();
        let (ids, mask) = encoder.padded(&[&a, &b]).unwrap();
        let (hidden, bias) = encoder.reference_model().unwrap().lower(&ids, &mask, from).unwrap();
        let mask = mask.to_dtype(DType::F32).unwrap().unsqueeze(2).unwrap();
        let pooled = pool(&upper.forward(&hidden, &bias).unwrap(), &mask).unwrap();
        let target = Tensor::from_vec(vec![1f32; pooled.elem_count()], pooled.shape(), &Device::Cpu).unwrap();
        let loss = (pooled - target).unwrap().sqr().unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        assert!(!vars.is_empty());
        for (name, var) in &vars {
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
            let norm: f32 = g.sqr().unwrap().sum_all().unwrap().to_scalar().unwrap();
            assert!(norm > 0.0, "zero gradient for {name}");
        }
    }

    #[test]
    fn unadapted_upper_layers_reproduce_the_encoder() {
        // The differentiable path computes what the fused inference path computes.
        let (_dir, encoder) = tiny();
        let from = encoder.config().num_hidden_layers - 1;
        let base = encoder.reference_model().unwrap().upper_tensors(from);
        let vb = VarBuilder::from_tensors(base, DType::F32, &Device::Cpu);
        let upper = UpperLayers::load(vb, encoder.config(), from, Precision { differentiable: true }).unwrap();
        let texts = ["où est mon colis 48213", "je veux un remboursement", "ok"];
        let plain = encoder.embed_batch(&texts).unwrap();
        let through = encoder.embed_batch_with(&texts, Some(&upper)).unwrap();
        for (a, b) in plain.rows().into_iter().zip(through.rows()) {
            let cos: f32 = a.iter().zip(b.iter()).map(|(x, y)| x * y).sum();
            assert!(cos > 0.9999, "{cos}");
        }
    }

    #[test]
    fn trained_layers_run_on_the_engine_and_give_what_candle_gives() {
        let (_dir, encoder) = tiny();
        let texts = ["où est mon colis 48213", "je veux un remboursement", "ok", "bonjour merci"];
        let config = AdaptConfig { enabled: true, layers: 1, max_epochs: 2, batch_size: 2, ..Default::default() };
        let (adapter, _) = adapt(&encoder, &texts, &[0, 1, 2, 2], 3, None, &config, 5, &mut |_, _, _| {}).unwrap();
        assert!(adapter.layers().compiled.is_some(), "a trained adapter runs on the engine");
        // The same weights on candle alone.
        let f32s = unstore(&adapter.stored).unwrap();
        let vb = VarBuilder::from_tensors(f32s, DType::F32, &Device::Cpu);
        let on_candle =
            UpperLayers::load(vb, encoder.config(), adapter.meta().from_layer, Precision::default()).unwrap();
        assert!(on_candle.compiled.is_none());
        let fast = encoder.encode_batch_adapted_tokens(&texts, adapter.layers()).unwrap();
        let slow = encoder.encode_batch_adapted_tokens(&texts, &on_candle).unwrap();
        let cosine = |a: &[f32], b: &[f32]| {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            dot / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt())
        };
        for (f, s) in fast.iter().zip(&slow) {
            let (fa, sa) = (f.adapted.as_ref().unwrap(), s.adapted.as_ref().unwrap());
            assert!(cosine(fa.as_slice().unwrap(), sa.as_slice().unwrap()) > 0.99);
            assert_eq!(f.tokens.dim(), s.tokens.dim());
            for (a, b) in f.tokens.rows().into_iter().zip(s.tokens.rows()) {
                assert!(cosine(a.as_slice().unwrap(), b.as_slice().unwrap()) > 0.99);
            }
        }
    }

    #[test]
    fn encoding_with_an_adapter_adds_the_adapted_sentence_and_keeps_the_rest() {
        let (_dir, encoder) = tiny();
        let texts = ["où est mon colis 48213", "je veux un remboursement", "ok", "bonjour merci"];
        let labels = [0, 1, 2, 2];
        let config = AdaptConfig { enabled: true, layers: 1, max_epochs: 2, batch_size: 2, ..Default::default() };
        let (adapter, _) = adapt(&encoder, &texts, &labels, 3, None, &config, 5, &mut |_, _, _| {}).unwrap();
        let plain = encoder.encode_batch(&texts).unwrap();
        let with = encoder.encode_batch_with(&texts, Some(adapter.layers())).unwrap();
        let adapted = encoder.embed_batch_with(&texts, Some(adapter.layers())).unwrap();
        for ((p, w), a) in plain.iter().zip(&with).zip(adapted.rows()) {
            assert_eq!((&p.sentence, &p.tokens, &p.offsets), (&w.sentence, &w.tokens, &w.offsets));
            assert!(p.adapted.is_none());
            let through = w.adapted.as_ref().unwrap();
            assert_eq!(through.view(), a);
            assert_ne!(through, &w.sentence, "the adapter changed nothing");
        }
    }

    #[test]
    fn a_tagging_loss_trains_the_tokens_and_the_adapted_tokens_come_from_the_adapter() {
        let (_dir, encoder) = tiny();
        let mut texts = Vec::new();
        let mut labels = Vec::new();
        for i in 0..16 {
            texts.push(format!("où est mon colis {i}"));
            labels.push(0);
            texts.push(format!("bonjour merci {i}"));
            labels.push(1);
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        // Tag 1 on every token of the last word of the track-order texts, 0 elsewhere.
        let seen = std::sync::Mutex::new(0usize);
        let tags = |row: usize, offsets: &[(usize, usize)]| {
            *seen.lock().unwrap() += 1;
            let text = refs[row];
            let last = text.rfind(' ').map_or(0, |i| i + 1);
            offsets.iter().map(|&(start, _)| usize::from(labels[row] == 0 && start >= last)).collect()
        };
        let targets = TokenTargets { classes: 2, tags: &tags };
        let mut config = AdaptConfig { enabled: true, layers: 1, max_epochs: 2, batch_size: 8, ..Default::default() };
        // Without a weight, the targets are ignored.
        let (plain, _) = adapt(&encoder, &refs, &labels, 2, Some(&targets), &config, 5, &mut |_, _, _| {}).unwrap();
        assert!(!plain.meta().tokens_adapted);
        assert_eq!(*seen.lock().unwrap(), 0);
        config.entity_loss_weight = 1.0;
        let (a, _) = adapt(&encoder, &refs, &labels, 2, Some(&targets), &config, 5, &mut |_, _, _| {}).unwrap();
        assert_eq!(*seen.lock().unwrap(), refs.len(), "one call per utterance");
        assert!(a.meta().tokens_adapted);
        assert!(a.meta().curve.iter().all(|c| c.held_out_tag_accuracy.is_some_and(|t| (0.0..=1.0).contains(&t))));
        let (b, _) = adapt(&encoder, &refs, &labels, 2, Some(&targets), &config, 5, &mut |_, _, _| {}).unwrap();
        assert_eq!(
            a.meta().curve.iter().map(|c| c.train_loss).collect::<Vec<_>>(),
            b.meta().curve.iter().map(|c| c.train_loss).collect::<Vec<_>>(),
            "deterministic"
        );
        assert_ne!(
            a.meta().curve.iter().map(|c| c.train_loss).collect::<Vec<_>>(),
            plain.meta().curve.iter().map(|c| c.train_loss).collect::<Vec<_>>(),
            "the tagging loss counts"
        );

        let own = encoder.encode_batch_with(&refs[..4], Some(a.layers())).unwrap();
        let through = encoder.encode_batch_adapted_tokens(&refs[..4], a.layers()).unwrap();
        for (o, t) in own.iter().zip(&through) {
            assert_eq!((&o.sentence, &o.offsets, &o.adapted), (&t.sentence, &t.offsets, &t.adapted));
            assert_eq!(o.tokens.dim(), t.tokens.dim());
            assert_ne!(o.tokens, t.tokens, "the tokens should be the adapted layers'");
        }
        // A negative weight is refused.
        config.entity_loss_weight = -1.0;
        assert!(adapt(&encoder, &refs, &labels, 2, Some(&targets), &config, 5, &mut |_, _, _| {}).is_err());
    }

    #[test]
    fn a_learning_rate_that_is_not_positive_is_refused() {
        let (_dir, encoder) = tiny();
        let (texts, labels) = (["a", "b", "c", "d"], [0, 1, 0, 1]);
        for rate in [0.0, -1e-4, f64::NAN] {
            let config = AdaptConfig { enabled: true, layers: 1, learning_rate: rate, ..Default::default() };
            match adapt(&encoder, &texts, &labels, 2, None, &config, 1, &mut |_, _, _| {}) {
                Err(Error::InvalidArgument(message)) => assert!(message.contains("learning_rate"), "{message}"),
                Err(other) => panic!("{rate}: wrong error {other}"),
                Ok(_) => panic!("{rate}: accepted"),
            }
        }
    }

    #[test]
    fn adaptation_learns_and_is_deterministic() {
        let (_dir, encoder) = tiny();
        let mut texts = Vec::new();
        let mut labels = Vec::new();
        for i in 0..24 {
            texts.push(format!("où est mon colis {i}"));
            labels.push(0);
            texts.push(format!("je veux un remboursement {i}"));
            labels.push(1);
            texts.push(format!("bonjour merci {i}"));
            labels.push(2);
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let config = AdaptConfig { enabled: true, layers: 1, max_epochs: 3, batch_size: 8, ..Default::default() };
        let (a, embedded) = adapt(&encoder, &refs, &labels, 3, None, &config, 5, &mut |_, _, _| {}).unwrap();
        assert_eq!(a.meta().from_layer, encoder.config().num_hidden_layers - 1);
        assert!(a.meta().curve.len() >= 2);
        let (b, _) = adapt(&encoder, &refs, &labels, 3, None, &config, 5, &mut |_, _, _| {}).unwrap();
        assert_eq!(
            a.meta().curve.iter().map(|c| c.held_out_accuracy).collect::<Vec<_>>(),
            b.meta().curve.iter().map(|c| c.held_out_accuracy).collect::<Vec<_>>()
        );
        let ea = encoder.embed_batch_with(&refs, Some(a.layers())).unwrap();
        let eb = encoder.embed_batch_with(&refs, Some(b.layers())).unwrap();
        assert_eq!(ea, eb);
        // The embeddings adapt() returns are those the encoder computes with the adapter.
        for (x, y) in embedded.rows().into_iter().zip(ea.rows()) {
            let cos: f32 = x.iter().zip(y.iter()).map(|(p, q)| p * q).sum();
            assert!(cos > 0.9999, "{cos}");
        }
        // Round trip through the artifact's tensors.
        let again = Adapter::from_tensors(&encoder, &a.to_tensors(), a.meta().clone()).unwrap();
        assert_eq!(encoder.embed_batch_with(&refs, Some(again.layers())).unwrap(), ea);
        // Stored: weight matrices in int8 with their scales, the rest in f16.
        let tensors = a.to_tensors();
        for (name, t) in &tensors {
            let expected = if t.rank() == 2 {
                DType::U8
            } else if name.ends_with(SCALE_SUFFIX) {
                DType::F32
            } else {
                DType::F16
            };
            assert_eq!(t.dtype(), expected, "{name}");
        }
        assert!(tensors.values().any(|t| t.rank() == 2));
    }

    #[test]
    fn weight_matrices_are_stored_in_int8_within_half_a_step_and_f16_ones_still_load() {
        let values: Vec<f32> = (0..6 * 5).map(|i| ((i * 37 % 23) as f32 - 11.0) / 8.0).collect();
        let mut zero_row = values.clone();
        zero_row[..5].fill(0.0);
        let matrix = Tensor::from_vec(zero_row.clone(), (6, 5), &Device::Cpu).unwrap();
        let bias = Tensor::from_vec(vec![0.5f32, -0.25], 2, &Device::Cpu).unwrap();
        let mut stored = HashMap::new();
        stored.extend(store("layer.0.dense.weight", &matrix).unwrap());
        stored.extend(store("layer.0.dense.bias", &bias).unwrap());
        assert_eq!(stored["layer.0.dense.weight"].dtype(), DType::U8);
        assert_eq!(stored["layer.0.dense.bias"].dtype(), DType::F16);
        let back = unstore(&stored).unwrap();
        assert_eq!(back.len(), 2, "the scales are not parameters");
        let rows = back["layer.0.dense.weight"].to_vec2::<f32>().unwrap();
        assert_eq!(rows[0], vec![0.0; 5], "an all-zero row stays zero");
        for (row, original) in rows.iter().zip(zero_row.chunks(5)) {
            let step = original.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
            for (got, want) in row.iter().zip(original) {
                assert!((got - want).abs() <= step / 2.0 + 1e-6, "{got} vs {want}");
            }
        }
        assert_eq!(back["layer.0.dense.bias"].to_vec1::<f32>().unwrap(), vec![0.5, -0.25]);
        // Format 1 stored matrices in f16: read as they are.
        let old = HashMap::from([("w.weight".to_string(), matrix.to_dtype(DType::F16).unwrap())]);
        assert_eq!(unstore(&old).unwrap()["w.weight"].to_vec2::<f32>().unwrap()[1], zero_row[5..10].to_vec());
        // An int8 matrix without its scales is a damaged model, said so.
        stored.remove("layer.0.dense.weight.scale");
        assert!(unstore(&stored).unwrap_err().to_string().contains("damaged"));
    }

    #[test]
    fn utterances_held_out_one_by_one_keep_their_side_when_the_data_grows() {
        let texts: Vec<String> = (0..300).map(|i| format!("utterance number {i}")).collect();
        let labels: Vec<usize> = (0..300).map(|i| i % 3).collect();
        let config = AdaptConfig::default();
        assert_eq!(config.held_out_by, HeldOutSplit::PerUtterance);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (fit, held) = held_out_split(&refs, &labels, &config, 7);
        assert_eq!(fit.len() + held.len(), 300);
        assert!((15..=45).contains(&held.len()), "about a tenth held out, got {}", held.len());

        // New examples interleaved with the old ones, and the old ones relabelled: no old
        // utterance changes side.
        let mut grown: Vec<&str> = Vec::new();
        let mut grown_labels = Vec::new();
        let extra: Vec<String> = (0..100).map(|i| format!("a new example {i}")).collect();
        let mut origin = Vec::new();
        for (i, text) in refs.iter().enumerate() {
            grown.push(text);
            grown_labels.push((labels[i] + 1) % 3);
            origin.push(Some(i));
            if let Some(new) = extra.get(i) {
                grown.push(new);
                grown_labels.push(0);
                origin.push(None);
            }
        }
        let (_, grown_held) = held_out_split(&grown, &grown_labels, &config, 7);
        let old_held: Vec<usize> = grown_held.iter().filter_map(|&r| origin[r]).collect();
        assert_eq!(old_held, held);
        // Another seed, another split.
        assert_ne!(held_out_split(&refs, &labels, &config, 8).1, held);
    }

    #[test]
    fn every_class_of_three_or_more_is_held_out_once_at_least() {
        let texts = ["un", "deux", "trois", "quatre", "cinq"];
        let config = AdaptConfig { held_out_share: 0.01, ..AdaptConfig::default() };
        let (_, held) = held_out_split(&texts, &[0, 0, 0, 1, 1], &config, 1);
        assert_eq!(held.iter().filter(|&&r| r < 3).count(), 1, "{held:?}");
        assert!(held.iter().all(|&r| r < 3), "a class of two keeps both rows for training");
    }

    #[test]
    fn adaptation_settings_saved_before_the_per_utterance_split_read_the_stratified_one() {
        let old: AdaptConfig = serde_json::from_str(r#"{"enabled": true, "layers": 4}"#).unwrap();
        assert_eq!(old.held_out_by, HeldOutSplit::Stratified);
        let now = serde_json::to_string(&AdaptConfig::default()).unwrap();
        assert!(now.contains(r#""held_out_by":"per_utterance""#), "{now}");
    }
}
