//! The softmax head: standardise the sentence embedding, then a linear layer (multinomial
//! logistic regression) or a one-hidden-layer MLP, trained with candle-nn's AdamW.
//!
//! Inference runs on `ndarray` (a 384×C product for one utterance: microseconds, no tensor
//! machinery); training runs on candle, where the gradients are.

use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How the head is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeadConfig {
    /// Width of the hidden layer; 0 trains a plain logistic regression.
    pub hidden: usize,
    /// Most passes over the training set.
    pub max_epochs: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW weight decay (decoupled from the loss).
    pub weight_decay: f64,
    /// L2 penalty on the weights (not the biases), added to the mean training loss:
    /// `l2 · Σ w²` over standardised inputs. It is what makes a head trained in one language
    /// hold in the others: the language a sentence is written in moves its embedding along
    /// directions the training sentences barely vary on, and an unpenalised head puts large
    /// weights there. Chosen on validation data only (CLINC150's validation split, a fifth of
    /// BANKING77's training set, xSID's validation files): with `lr_decay`, 1e-3 against none
    /// took CLINC150 from 95.80 to 96.57, BANKING77 from 90.51 to 90.61, and xSID trained in
    /// English from 78.8 to 84.1 on average over de/da/it/nl, English 98.0 → 99.0 (top-1).
    pub l2: f64,
    /// Stop after this many epochs without improvement of the held-out loss (the epoch with
    /// the best held-out loss is the one kept, stopped early or not).
    pub patience: usize,
    /// Lower the learning rate linearly to zero over `max_epochs`, so the weights settle at
    /// the penalised optimum instead of wandering around it (Adam at a constant rate never
    /// converges; with the penalty, stopping short of the optimum costs accuracy).
    pub lr_decay: bool,
    /// With `lr_decay`: at least this many optimiser steps in all, more epochs than
    /// `max_epochs` if need be. A small data set has few minibatches per epoch, and a rate
    /// that falls to zero over a few hundred steps stops before the weights are trained.
    pub min_steps: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// Weight classes by inverse frequency, so rare intents are not drowned by frequent ones.
    pub class_weighting: bool,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            hidden: 0,
            // Measured with l2 = 1e-3 (see `l2`): 15 epochs gave CLINC150 validation 96.40,
            // 30 gave 96.57; stopping at the first 8 epochs without held-out improvement, 96.07.
            max_epochs: 30,
            learning_rate: 3e-3,
            weight_decay: 1e-4,
            l2: 1e-3,
            patience: 30,
            lr_decay: true,
            min_steps: 0,
            batch_size: 64,
            class_weighting: true,
        }
    }
}

/// Trained weights of the head.
#[derive(Debug, Clone)]
pub struct Head {
    mean: Array1<f32>,
    scale: Array1<f32>,
    /// `(weight [out, in], bias [out])` per layer, input to output.
    layers: Vec<(Array2<f32>, Array1<f32>)>,
}

impl Head {
    /// Logits for one embedding.
    pub fn logits(&self, x: ArrayView1<f32>) -> Array1<f32> {
        let mut h = (&x - &self.mean) * &self.scale;
        let last = self.layers.len().saturating_sub(1);
        for (i, (w, b)) in self.layers.iter().enumerate() {
            h = w.dot(&h) + b;
            if i < last {
                h.mapv_inplace(|v| v.max(0.0));
            }
        }
        h
    }

    /// Logits for many inputs at once, one row each: one matrix product per layer, much faster
    /// than [`logits`](Self::logits) row by row (the entity tagger runs it on every token).
    pub fn logits_batch(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut h = (&x - &self.mean) * &self.scale;
        let last = self.layers.len().saturating_sub(1);
        for (i, (w, b)) in self.layers.iter().enumerate() {
            h = h.dot(&w.t()) + b;
            if i < last {
                h.mapv_inplace(|v| v.max(0.0));
            }
        }
        h
    }

    /// Length of the input vector the head expects.
    pub fn input_width(&self) -> usize {
        self.mean.len()
    }

    /// Number of output classes.
    pub fn classes(&self) -> usize {
        self.layers.last().map(|(_, b)| b.len()).unwrap_or(0)
    }

    /// Named tensors for the artifact, under `prefix`.
    pub fn to_tensors(&self, prefix: &str) -> Result<HashMap<String, Tensor>> {
        let dev = Device::Cpu;
        let mut out = HashMap::new();
        out.insert(
            format!("{prefix}.mean"),
            Tensor::from_slice(self.mean.as_slice().unwrap_or(&[]), self.mean.len(), &dev)?,
        );
        out.insert(
            format!("{prefix}.scale"),
            Tensor::from_slice(self.scale.as_slice().unwrap_or(&[]), self.scale.len(), &dev)?,
        );
        for (i, (w, b)) in self.layers.iter().enumerate() {
            out.insert(format!("{prefix}.layer{i}.weight"), matrix_to_tensor(w)?);
            out.insert(
                format!("{prefix}.layer{i}.bias"),
                Tensor::from_slice(b.as_slice().unwrap_or(&[]), b.len(), &dev)?,
            );
        }
        Ok(out)
    }

    /// Reads what [`to_tensors`](Self::to_tensors) wrote; `None` when `prefix` is absent.
    pub fn from_tensors(tensors: &HashMap<String, Tensor>, prefix: &str) -> Result<Option<Self>> {
        let get1 = |name: String| -> Result<Option<Array1<f32>>> {
            match tensors.get(&name) {
                Some(t) => Ok(Some(Array1::from(t.to_dtype(DType::F32)?.to_vec1::<f32>()?))),
                None => Ok(None),
            }
        };
        let (Some(mean), Some(scale)) = (get1(format!("{prefix}.mean"))?, get1(format!("{prefix}.scale"))?) else {
            return Ok(None);
        };
        let mut layers = Vec::new();
        for i in 0.. {
            let Some(w) = tensors.get(&format!("{prefix}.layer{i}.weight")) else {
                break;
            };
            let b = get1(format!("{prefix}.layer{i}.bias"))?
                .ok_or_else(|| Error::InvalidArgument(format!("{prefix}.layer{i}.bias is missing")))?;
            layers.push((matrix_from_tensor(w)?, b));
        }
        // Shapes must chain, or inference would panic inside ndarray.
        let mut width = mean.len();
        if scale.len() != width || layers.is_empty() {
            return Err(Error::InvalidArgument(format!("{prefix}: inconsistent head shapes")));
        }
        for (w, b) in &layers {
            if w.ncols() != width || w.nrows() != b.len() {
                return Err(Error::InvalidArgument(format!("{prefix}: inconsistent head shapes")));
            }
            width = w.nrows();
        }
        Ok(Some(Self { mean, scale, layers }))
    }
}

/// A matrix as an f32 tensor of the same shape, for the model's weight file.
pub(crate) fn matrix_to_tensor(m: &Array2<f32>) -> Result<Tensor> {
    let m = m.as_standard_layout();
    Ok(Tensor::from_slice(m.as_slice().unwrap_or(&[]), m.dim(), &Device::Cpu)?)
}

/// A rank-2 tensor of any float type as an f32 matrix (what [`matrix_to_tensor`] wrote).
pub(crate) fn matrix_from_tensor(t: &Tensor) -> Result<Array2<f32>> {
    let (rows, cols) = t.dims2()?;
    let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    Array2::from_shape_vec((rows, cols), values).map_err(|e| Error::InvalidArgument(e.to_string()))
}

/// Trains a head on embeddings `x` (one row per example) with class indices `y` in
/// `0..classes`, stopping early on `(held_x, held_y)` when given. Deterministic for a seed.
pub fn train(
    x: &Array2<f32>,
    y: &[usize],
    classes: usize,
    held_out: Option<(&Array2<f32>, &[usize])>,
    config: &HeadConfig,
    seed: u64,
) -> Result<Head> {
    let _span = tracing::debug_span!("train_head", n = x.nrows(), classes).entered();
    if x.nrows() == 0 || x.nrows() != y.len() || classes == 0 {
        return Err(Error::Data("no training examples for the intent head".into()));
    }
    let dim = x.ncols();
    let mean = x.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(dim));
    let std = x.std_axis(Axis(0), 0.0).mapv(|s| 1.0 / s.max(1e-4));
    let standardise = |m: &Array2<f32>| -> Array2<f32> { (m - &mean) * &std };
    let dev = Device::Cpu;
    let to_tensor = |m: Array2<f32>| -> Result<Tensor> {
        let shape = m.dim();
        Ok(Tensor::from_vec(m.into_raw_vec_and_offset().0, shape, &dev)?)
    };
    let xs = to_tensor(standardise(x))?;
    let ys = Tensor::from_vec(y.iter().map(|&c| c as u32).collect::<Vec<_>>(), y.len(), &dev)?;
    let held = match held_out {
        Some((hx, hy)) if hx.nrows() > 0 => Some((
            to_tensor(standardise(hx))?,
            Tensor::from_vec(hy.iter().map(|&c| c as u32).collect::<Vec<_>>(), hy.len(), &dev)?,
        )),
        _ => None,
    };

    let mut counts = vec![0f32; classes];
    for &c in y {
        if let Some(n) = counts.get_mut(c) {
            *n += 1.0;
        }
    }
    let n = y.len() as f32;
    let class_weights: Vec<f32> = counts
        .iter()
        .map(|&k| if config.class_weighting && k > 0.0 { n / (classes as f32 * k) } else { 1.0 })
        .collect();
    let class_weights = Tensor::from_vec(class_weights, classes, &dev)?;

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut init = |rows: usize, cols: usize| -> Result<(Var, Var)> {
        let bound = (1.0 / cols as f32).sqrt();
        let w: Vec<f32> = (0..rows * cols).map(|_| (rng.random::<f32>() * 2.0 - 1.0) * bound).collect();
        Ok((
            Var::from_tensor(&Tensor::from_vec(w, (rows, cols), &dev)?)?,
            Var::from_tensor(&Tensor::zeros(rows, DType::F32, &dev)?)?,
        ))
    };
    let mut vars = Vec::new();
    if config.hidden > 0 {
        vars.push(init(config.hidden, dim)?);
        vars.push(init(classes, config.hidden)?);
    } else {
        vars.push(init(classes, dim)?);
    }
    let forward = |input: &Tensor, vars: &[(Var, Var)]| -> candle_core::Result<Tensor> {
        let mut h = input.clone();
        let last = vars.len() - 1;
        for (i, (w, b)) in vars.iter().enumerate() {
            h = h.matmul(&w.as_tensor().t()?)?.broadcast_add(b.as_tensor())?;
            if i < last {
                h = h.relu()?;
            }
        }
        Ok(h)
    };
    let loss_fn = |logits: &Tensor, targets: &Tensor| -> candle_core::Result<Tensor> {
        // Weighted cross-entropy: -w[y] log p[y], averaged by the weights' sum.
        let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
        let picked = log_probs.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?;
        let weights = class_weights.index_select(targets, 0)?;
        (picked * &weights)?.sum_all()?.neg()? / weights.sum_all()?.to_scalar::<f32>()? as f64
    };

    let params: Vec<Var> = vars.iter().flat_map(|(w, b)| [w.clone(), b.clone()]).collect();
    let mut optimizer = AdamW::new(
        params,
        ParamsAdamW { lr: config.learning_rate, weight_decay: config.weight_decay, ..Default::default() },
    )?;
    let mut order: Vec<u32> = (0..y.len() as u32).collect();
    let mut best: Option<(f32, Vec<(Tensor, Tensor)>)> = None;
    let mut since_best = 0;
    let steps_per_epoch = y.len().div_ceil(config.batch_size.max(1)).max(1);
    let epochs_for_min_steps = if config.lr_decay { config.min_steps.div_ceil(steps_per_epoch) } else { 0 };
    let epochs = config.max_epochs.max(epochs_for_min_steps).max(1);
    for epoch in 0..epochs {
        if config.lr_decay {
            optimizer.set_learning_rate(config.learning_rate * (1.0 - epoch as f64 / epochs as f64));
        }
        order.shuffle(&mut rng);
        for chunk in order.chunks(config.batch_size.max(1)) {
            let index = Tensor::from_slice(chunk, chunk.len(), &dev)?;
            let bx = xs.index_select(&index, 0)?;
            let by = ys.index_select(&index, 0)?;
            let mut loss = loss_fn(&forward(&bx, &vars)?, &by)?;
            if config.l2 > 0.0 {
                for (w, _) in &vars {
                    loss = (loss + (w.as_tensor().sqr()?.sum_all()? * config.l2)?)?;
                }
            }
            optimizer.backward_step(&loss)?;
        }
        let Some((hx, hy)) = &held else { continue };
        let held_loss = loss_fn(&forward(hx, &vars)?, hy)?.to_scalar::<f32>()?;
        if best.as_ref().is_none_or(|(b, _)| held_loss < *b - 1e-5) {
            let snapshot = vars
                .iter()
                .map(|(w, b)| Ok((w.as_tensor().copy()?, b.as_tensor().copy()?)))
                .collect::<Result<Vec<_>>>()?;
            best = Some((held_loss, snapshot));
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= config.patience {
                break;
            }
        }
    }
    let final_tensors: Vec<(Tensor, Tensor)> = match best {
        Some((_, snapshot)) => snapshot,
        None => vars.iter().map(|(w, b)| (w.as_tensor().clone(), b.as_tensor().clone())).collect(),
    };
    let mut layers = Vec::new();
    for (w, b) in final_tensors {
        layers.push((matrix_from_tensor(&w)?, Array1::from(b.to_vec1::<f32>()?)));
    }
    Ok(Head { mean, scale: std, layers })
}

/// Softmax of `logits / temperature`.
pub fn softmax(logits: &Array1<f32>, temperature: f32) -> Array1<f32> {
    let t = temperature.max(1e-3);
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp = logits.mapv(|v| ((v - max) / t).exp());
    let sum = exp.sum().max(f32::MIN_POSITIVE);
    exp / sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(seed: u64) -> (Array2<f32>, Vec<usize>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for i in 0..90 {
            let c = i % 3;
            for d in 0..4 {
                let centre = if d == c { 2.0 } else { 0.0 };
                rows.push(centre + rng.random::<f32>() - 0.5);
            }
            y.push(c);
        }
        (Array2::from_shape_vec((90, 4), rows).unwrap(), y)
    }

    #[test]
    fn learns_separable_classes_deterministically() {
        let (x, y) = blobs(1);
        let config = HeadConfig { max_epochs: 60, learning_rate: 0.05, ..Default::default() };
        let a = train(&x, &y, 3, Some((&x, &y)), &config, 9).unwrap();
        let b = train(&x, &y, 3, Some((&x, &y)), &config, 9).unwrap();
        let mut correct = 0;
        for (row, &label) in x.rows().into_iter().zip(&y) {
            let la = a.logits(row);
            assert_eq!(la, b.logits(row), "same seed, same model");
            let best = la.iter().enumerate().max_by(|p, q| p.1.total_cmp(q.1)).unwrap().0;
            correct += usize::from(best == label);
        }
        assert!(correct >= 85, "{correct}/90");
    }

    #[test]
    fn mlp_head_round_trips_through_tensors() {
        let (x, y) = blobs(2);
        let config = HeadConfig { hidden: 8, max_epochs: 5, ..Default::default() };
        let head = train(&x, &y, 3, None, &config, 1).unwrap();
        let restored = Head::from_tensors(&head.to_tensors("intent").unwrap(), "intent").unwrap().unwrap();
        assert_eq!(head.logits(x.row(0)), restored.logits(x.row(0)));
        assert_eq!(restored.classes(), 3);
    }

    #[test]
    fn softmax_sums_to_one_and_temperature_flattens() {
        let l = Array1::from(vec![2.0f32, 1.0, 0.0]);
        let sharp = softmax(&l, 0.5);
        let flat = softmax(&l, 4.0);
        assert!((sharp.sum() - 1.0).abs() < 1e-5);
        assert!(sharp[0] > flat[0]);
    }
}
