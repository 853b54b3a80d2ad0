//! Intent classification on sentence embeddings, with calibrated confidence and fallback.
//!
//! The classifier is a softmax head ([`head`]) over the encoder's sentence embedding. When the
//! training data has out-of-scope examples they form one more class, so the head learns what
//! "none of these" looks like; on top of that, a confidence threshold and an ambiguity margin,
//! both chosen on held-out data ([`calibrate`]), turn probabilities into a [`Decision`].
//!
//! With an adapted encoder, the head reads the adapted sentence embedding, and a second head
//! can read the encoder's own one (the *companion*): their logits are mixed with a weight chosen
//! on held-out data. Adaptation sharpens the intents the training data shows; the encoder's own
//! embedding keeps what fine-tuning on a few thousand lines wears away (phrasings, languages
//! the data shows less), so the two err on different utterances.

pub mod calibrate;
pub mod head;

use crate::error::{Error, Result};
use calibrate::{choose_margin, choose_threshold, fit_temperature, oos_class_wins, Scored, ThresholdChoice};
use head::{Head, HeadConfig};
use ndarray::{Array1, Array2, ArrayView1};
use serde::{Deserialize, Serialize};

/// An intent with its calibrated probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentScore {
    /// Intent name.
    pub name: String,
    /// Calibrated probability in 0..=1.
    pub confidence: f32,
}

/// What the model concludes about an utterance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Decision {
    /// The utterance expresses this intent.
    Intent {
        /// Intent name.
        name: String,
        /// Calibrated probability.
        confidence: f32,
    },
    /// None of the intents: the model's out-of-scope class won, or the best intent is below the
    /// confidence threshold. The bot should say what it can do, or hand over.
    OutOfScope {
        /// The best in-scope probability, for logging.
        confidence: f32,
    },
    /// Two or three intents are too close to call: offer them as concrete choices instead of
    /// "please rephrase".
    Ambiguous {
        /// The close intents, best first.
        candidates: Vec<IntentScore>,
    },
    /// Nothing to understand (empty or whitespace-only input).
    Empty,
}

impl Decision {
    /// The intent name when the decision is [`Decision::Intent`].
    pub fn intent(&self) -> Option<&str> {
        match self {
            Decision::Intent { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// Decision thresholds, stored in the model and overridable at load time or per call.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Minimum calibrated probability of the top intent to answer with it.
    pub confidence: f32,
    /// Top-1 minus top-2 probability under which the decision is [`Decision::Ambiguous`]
    /// (0 disables).
    pub ambiguity_margin: f32,
}

/// Everything about the intent classifier that goes into the artifact besides the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentMeta {
    /// Head output classes, in order; includes `out_of_scope` when it was trained as a class.
    pub classes: Vec<String>,
    /// Index of the out-of-scope class in `classes`, if any.
    pub oos_class: Option<usize>,
    /// Softmax temperature fitted on held-out data.
    pub temperature: f32,
    /// The thresholds chosen at training time.
    pub thresholds: Thresholds,
    /// How the confidence threshold was chosen.
    pub threshold_choice: ThresholdChoice,
    /// Weight of the companion head (on the encoder's own sentence embedding) in the mixed
    /// logits, `(1 - w)·adapted + w·own`; 0 when there is none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub companion_weight: f32,
}

fn is_zero(w: &f32) -> bool {
    *w == 0.0
}

/// A trained intent classifier.
#[derive(Debug, Clone)]
pub struct IntentClassifier {
    head: Head,
    /// Reads the encoder's own sentence embedding when `head` reads an adapted one.
    companion: Option<Head>,
    meta: IntentMeta,
}

/// Training options of the intent classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IntentConfig {
    /// The head and its optimiser.
    pub head: HeadConfig,
    /// Without out-of-scope examples, the threshold keeps this share of correctly classified
    /// held-out in-scope utterances.
    pub target_retention: f32,
    /// Most held-out in-scope answers the ambiguity margin may turn into clarifying questions,
    /// net of the wrong answers it turns into questions offering the right intent (a share:
    /// 0.02 = two in a hundred). A clarification is one more turn, not an error, so a couple
    /// of points buy the bot a "did you mean A or B?" where the model hesitates.
    pub ambiguity_cost: f32,
    /// Share of the training set held out (stratified) for early stopping, calibration and
    /// thresholds when no validation set is given.
    pub held_out_share: f32,
    /// With an adapted encoder: weight of the companion head, which reads the encoder's own
    /// sentence embedding, in the mixed logits. `None` chooses it on the held-out data among
    /// 0, 0.1, … 0.5 (best accuracy, then lowest log-loss); `Some(0.0)` trains no companion.
    pub companion_weight: Option<f32>,
}

impl Default for IntentConfig {
    fn default() -> Self {
        Self {
            head: HeadConfig::default(),
            target_retention: 0.99,
            ambiguity_cost: 0.02,
            held_out_share: 0.1,
            companion_weight: None,
        }
    }
}

/// Labelled embeddings: one row per utterance, `None` labels are out of scope.
pub struct LabelledEmbeddings<'a> {
    /// Sentence embeddings.
    pub x: &'a Array2<f32>,
    /// Intent per row.
    pub labels: &'a [Option<String>],
    /// The encoder's own sentence embeddings of the same rows, when `x` holds adapted ones:
    /// what the companion head reads.
    pub own: Option<&'a Array2<f32>>,
}

impl IntentClassifier {
    /// Trains on `train`; `validation` (when given) chooses temperature and thresholds,
    /// otherwise a stratified share of `train` is held out for that.
    pub fn train(
        train: LabelledEmbeddings,
        validation: Option<LabelledEmbeddings>,
        config: &IntentConfig,
        seed: u64,
    ) -> Result<Self> {
        Self::train_holding_out(train, validation, None, config, seed)
    }

    /// [`train`](Self::train), holding out `held_out` (rows of `train`) instead of a
    /// stratified share when given: the rows an adapted encoder did not train on.
    pub(crate) fn train_holding_out(
        train: LabelledEmbeddings,
        validation: Option<LabelledEmbeddings>,
        held_out: Option<(Vec<usize>, Vec<usize>)>,
        config: &IntentConfig,
        seed: u64,
    ) -> Result<Self> {
        let mut classes: Vec<String> = train.labels.iter().flatten().cloned().collect();
        classes.sort();
        classes.dedup();
        if classes.len() < 2 {
            return Err(Error::Data(format!(
                "need at least 2 intents to classify, found {}: add examples of other intents",
                classes.len()
            )));
        }
        let has_oos = train.labels.iter().any(Option::is_none);
        let oos_class = has_oos.then_some(classes.len());
        if has_oos {
            classes.push(crate::data::OUT_OF_SCOPE.to_string());
        }
        let class_of = |label: &Option<String>| -> Option<usize> {
            match label {
                Some(name) => classes.iter().position(|c| c == name),
                None => oos_class,
            }
        };
        let y: Vec<usize> = train.labels.iter().filter_map(class_of).collect();
        if y.len() != train.labels.len() {
            return Err(Error::Data("an example's intent is not among the classes".into()));
        }
        let (fit_rows, held_rows) = match held_out {
            Some((fit, held)) if !held.is_empty() && fit.iter().chain(&held).all(|&r| r < y.len()) => (fit, held),
            _ => stratified_split(&y, config.held_out_share, seed),
        };
        let select = |m: &Array2<f32>, rows: &[usize]| -> (Array2<f32>, Vec<usize>) {
            (m.select(ndarray::Axis(0), rows), rows.iter().filter_map(|&r| y.get(r).copied()).collect())
        };
        let (fit_x, fit_y) = select(train.x, &fit_rows);
        let (held_x, held_y) = select(train.x, &held_rows);
        let head = head::train(&fit_x, &fit_y, classes.len(), Some((&held_x, &held_y)), &config.head, seed)?;
        // The encoder's own embeddings of the held-out rows, when a companion is to read them.
        let own = train.own.filter(|own| config.companion_weight != Some(0.0) && own.nrows() == train.x.nrows());
        let held_own = own.map(|own| select(own, &held_rows).0);
        let companion = match (own, &held_own) {
            (Some(own), Some(held_own)) => {
                let (fit_own, _) = select(own, &fit_rows);
                let seed = seed.wrapping_add(1);
                Some(head::train(&fit_own, &fit_y, classes.len(), Some((held_own, &held_y)), &config.head, seed)?)
            }
            _ => None,
        };

        // Calibration data: the validation set when given, else the held-out share. Each row
        // keeps both heads' logits until the companion's weight is chosen.
        let gold_of = |label: &Option<String>| -> Option<Option<usize>> {
            match label {
                // A validation intent the model never saw cannot be scored: skip it.
                Some(name) => Some(Some(classes.iter().position(|c| c == name)?)),
                None => Some(None),
            }
        };
        let both = |x: ArrayView1<f32>, own: Option<ArrayView1<f32>>| -> (Array1<f32>, Option<Array1<f32>>) {
            (head.logits(x), companion.as_ref().zip(own).map(|(c, o)| c.logits(o)))
        };
        let scored_pairs: Vec<BothScored> = match &validation {
            Some(v) => {
                v.x.rows()
                    .into_iter()
                    .enumerate()
                    .zip(v.labels)
                    .filter_map(|((i, row), label)| {
                        let (logits, own) = both(row, v.own.map(|o| o.row(i)));
                        Some(BothScored { logits, own, gold: gold_of(label)? })
                    })
                    .collect()
            }
            None => held_x
                .rows()
                .into_iter()
                .enumerate()
                .zip(&held_y)
                .map(|((i, row), &g)| {
                    let (logits, own) = both(row, held_own.as_ref().map(|o| o.row(i)));
                    BothScored { logits, own, gold: (Some(g) != oos_class).then_some(g) }
                })
                .collect(),
        };
        let companion_weight = match (&companion, config.companion_weight) {
            (None, _) => 0.0,
            (Some(_), Some(w)) => w.clamp(0.0, 1.0),
            (Some(_), None) => choose_companion_weight(&scored_pairs, oos_class),
        };
        let companion = companion.filter(|_| companion_weight > 0.0);
        let scored = mixed_scores(&scored_pairs, companion_weight);
        let temperature = fit_temperature(&scored);
        let threshold_choice = choose_threshold(&scored, temperature, oos_class, config.target_retention);
        let margin = choose_margin(&scored, temperature, oos_class, threshold_choice.threshold, config.ambiguity_cost);
        let meta = IntentMeta {
            classes,
            oos_class,
            temperature,
            thresholds: Thresholds { confidence: threshold_choice.threshold, ambiguity_margin: margin },
            threshold_choice,
            companion_weight,
        };
        Ok(Self { head, companion, meta })
    }

    /// Rebuilds a classifier from its artifact parts: the head, the companion head when the
    /// manifest gives it a weight, and the manifest's part.
    pub fn from_parts(head: Head, companion: Option<Head>, meta: IntentMeta) -> Result<Self> {
        let classes = meta.classes.len();
        if head.classes() != classes || companion.as_ref().is_some_and(|c| c.classes() != classes) {
            return Err(Error::InvalidArgument(format!(
                "the intent heads have {} and {} outputs but the manifest lists {classes} classes",
                head.classes(),
                companion.as_ref().map_or(head.classes(), Head::classes),
            )));
        }
        if (meta.companion_weight > 0.0) != companion.is_some() {
            return Err(Error::InvalidArgument(format!(
                "the manifest gives the companion intent head weight {}, but the weights {} one",
                meta.companion_weight,
                if companion.is_some() { "have" } else { "lack" }
            )));
        }
        Ok(Self { head, companion, meta })
    }

    /// The head's weights.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The companion head's weights (it reads the encoder's own sentence embedding), if any.
    pub fn companion(&self) -> Option<&Head> {
        self.companion.as_ref()
    }

    /// Labels, temperature and thresholds.
    pub fn meta(&self) -> &IntentMeta {
        &self.meta
    }

    /// The in-scope intents, sorted.
    pub fn intents(&self) -> impl Iterator<Item = &str> {
        let oos = self.meta.oos_class;
        self.meta.classes.iter().enumerate().filter(move |(i, _)| Some(*i) != oos).map(|(_, c)| c.as_str())
    }

    /// Calibrated in-scope ranking (best first, `top_k` long) and whether the out-of-scope class won.
    /// `embedding` is what the head reads (the adapted sentence embedding with an adapter),
    /// `own` the encoder's own one, for the companion head when there is one.
    /// `allowed` restricts the candidates (e.g. to what fits the dialogue state).
    pub fn rank(
        &self,
        embedding: ArrayView1<f32>,
        own: ArrayView1<f32>,
        top_k: usize,
        allowed: Option<&[String]>,
    ) -> (Vec<IntentScore>, bool) {
        let own_logits = self.companion.as_ref().map(|c| c.logits(own));
        let logits = mix(self.head.logits(embedding), own_logits.as_ref(), self.meta.companion_weight);
        let probs = head::softmax(&logits, self.meta.temperature);
        let oos_wins = oos_class_wins(&probs, self.meta.oos_class);
        let mut ranking: Vec<IntentScore> = probs
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != self.meta.oos_class)
            .filter_map(|(i, &p)| {
                self.meta.classes.get(i).map(|name| IntentScore { name: name.clone(), confidence: p })
            })
            .filter(|s| allowed.is_none_or(|a| a.iter().any(|n| n == &s.name)))
            .collect();
        ranking.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        ranking.truncate(top_k.max(1));
        (ranking, oos_wins)
    }

    /// The decision for a ranking, under `thresholds`.
    pub fn decide(ranking: &[IntentScore], oos_wins: bool, thresholds: &Thresholds) -> Decision {
        let Some(top) = ranking.first() else {
            return Decision::OutOfScope { confidence: 0.0 };
        };
        if oos_wins || top.confidence < thresholds.confidence {
            return Decision::OutOfScope { confidence: top.confidence };
        }
        let second = ranking.get(1).map(|s| s.confidence).unwrap_or(0.0);
        if thresholds.ambiguity_margin > 0.0 && top.confidence - second < thresholds.ambiguity_margin {
            let candidates = ranking
                .iter()
                .take(3)
                .filter(|s| top.confidence - s.confidence < thresholds.ambiguity_margin * 2.0)
                .cloned()
                .collect();
            return Decision::Ambiguous { candidates };
        }
        Decision::Intent { name: top.name.clone(), confidence: top.confidence }
    }
}

/// A held-out row scored by both heads, before the companion's weight is chosen.
struct BothScored {
    /// The head's logits.
    logits: Array1<f32>,
    /// The companion's logits, if there is a companion.
    own: Option<Array1<f32>>,
    /// Gold class, `None` out of scope.
    gold: Option<usize>,
}

/// `(1 - weight)·logits + weight·own`: the adapted head's logits mixed with the companion's
/// (the product of their probabilities, each raised to its weight, renormalised).
fn mix(logits: Array1<f32>, own: Option<&Array1<f32>>, weight: f32) -> Array1<f32> {
    match own {
        Some(own) if weight > 0.0 && own.len() == logits.len() => logits * (1.0 - weight) + own * weight,
        _ => logits,
    }
}

/// The rows' mixed logits at `weight`, ready for calibration.
fn mixed_scores(rows: &[BothScored], weight: f32) -> Vec<Scored> {
    rows.iter().map(|b| Scored { logits: mix(b.logits.clone(), b.own.as_ref(), weight), gold: b.gold }).collect()
}

/// The companion weight among 0, 0.1, … 0.5 that classifies the most held-out rows right
/// (out-of-scope rows as their class when there is one), ties going to the lowest log-loss
/// at the temperature fitted for that weight. A grid, not an optimiser: one parameter, and a
/// coarse step keeps the choice from chasing a few rows.
fn choose_companion_weight(rows: &[BothScored], oos_class: Option<usize>) -> f32 {
    let mut best = (0.0f32, 0usize, f64::INFINITY);
    for step in 0..=5 {
        let weight = step as f32 / 10.0;
        let scored = mixed_scores(rows, weight);
        let temperature = fit_temperature(&scored);
        let (mut right, mut loss) = (0usize, 0.0f64);
        for s in &scored {
            let Some(gold) = s.gold.or(oos_class) else { continue };
            let probs = head::softmax(&s.logits, temperature);
            let top = probs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
            right += usize::from(top == Some(gold));
            loss -= f64::from(probs.get(gold).copied().unwrap_or(0.0).max(1e-12)).ln();
        }
        if right > best.1 || (right == best.1 && loss < best.2) {
            best = (weight, right, loss);
        }
    }
    best.0
}

/// Row indices of a stratified split: `share` of each class (at least one row when the class
/// has 3 or more) goes to the second list. Deterministic for a seed.
pub(crate) fn stratified_split(y: &[usize], share: f32, seed: u64) -> (Vec<usize>, Vec<usize>) {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let classes = y.iter().copied().max().map(|m| m + 1).unwrap_or(0);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (row, &c) in y.iter().enumerate() {
        if let Some(rows) = by_class.get_mut(c) {
            rows.push(row);
        }
    }
    let (mut fit, mut held) = (Vec::new(), Vec::new());
    for mut rows in by_class {
        rows.shuffle(&mut rng);
        let n_held = if rows.len() >= 3 { ((rows.len() as f32 * share).round() as usize).max(1) } else { 0 };
        let (held_rows, fit_rows) = rows.split_at(n_held.min(rows.len()));
        held.extend_from_slice(held_rows);
        fit.extend_from_slice(fit_rows);
    }
    fit.sort_unstable();
    held.sort_unstable();
    (fit, held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_follow_thresholds() {
        let r = |a: f32, b: f32| {
            vec![IntentScore { name: "a".into(), confidence: a }, IntentScore { name: "b".into(), confidence: b }]
        };
        let t = Thresholds { confidence: 0.5, ambiguity_margin: 0.1 };
        assert_eq!(IntentClassifier::decide(&r(0.9, 0.05), false, &t).intent(), Some("a"));
        assert!(matches!(IntentClassifier::decide(&r(0.4, 0.3), false, &t), Decision::OutOfScope { .. }));
        assert!(matches!(IntentClassifier::decide(&r(0.9, 0.05), true, &t), Decision::OutOfScope { .. }));
        match IntentClassifier::decide(&r(0.52, 0.46), false, &t) {
            Decision::Ambiguous { candidates } => assert_eq!(candidates.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn calibration_uses_the_held_out_rows_it_is_given() {
        // Three separated classes; rows 0..6 are given the wrong label. Held out on their own,
        // they are what the held-out accuracy measures (none right); a stratified share of all
        // the rows is mostly right.
        let mut x = Array2::<f32>::zeros((60, 3));
        let mut labels = Vec::new();
        for i in 0..60 {
            x[[i, i % 3]] = 1.0 + 0.01 * i as f32;
            let class = if i < 6 { (i + 1) % 3 } else { i % 3 };
            labels.push(Some(["a", "b", "c"][class].to_string()));
        }
        let config = IntentConfig::default();
        let data = || LabelledEmbeddings { x: &x, labels: &labels, own: None };
        let given = ((6..60).collect(), (0..6).collect());
        let held_wrong = IntentClassifier::train_holding_out(data(), None, Some(given), &config, 3).unwrap();
        assert_eq!(held_wrong.meta().threshold_choice.in_scope_accuracy, 0.0);
        let usual = IntentClassifier::train(data(), None, &config, 3).unwrap();
        assert!(usual.meta().threshold_choice.in_scope_accuracy > 0.5, "{:?}", usual.meta().threshold_choice);
    }

    #[test]
    fn the_companion_head_weighs_in_where_the_own_embedding_knows_more() {
        // Classes a and b look alike in the "adapted" embedding and differ in the encoder's own
        // one: the companion gets a weight, and the mixed model tells a from b.
        let (rows, dim) = (90, 4);
        let (mut x, mut own) = (Array2::<f32>::zeros((rows, dim)), Array2::<f32>::zeros((rows, dim)));
        let mut labels = Vec::new();
        for i in 0..rows {
            let class = i % 3;
            let jitter = 0.05 * ((i * 7919) % 13) as f32 / 13.0;
            x[[i, usize::from(class == 2)]] = 1.0 + jitter;
            x[[i, 2]] = jitter;
            own[[i, class]] = 1.0 + jitter;
            own[[i, 3]] = jitter;
            labels.push(Some(["a", "b", "c"][class].to_string()));
        }
        // Enough optimiser steps for a few dozen rows to be learnt.
        let config =
            IntentConfig { head: HeadConfig { min_steps: 1500, ..HeadConfig::default() }, ..Default::default() };
        let mixed =
            IntentClassifier::train(LabelledEmbeddings { x: &x, labels: &labels, own: Some(&own) }, None, &config, 5)
                .unwrap();
        assert!(mixed.meta().companion_weight > 0.0, "{:?}", mixed.meta());
        assert!(mixed.companion().is_some());
        let top = |i: usize| mixed.rank(x.row(i), own.row(i), 1, None).0[0].name.clone();
        assert_eq!((top(0), top(1), top(2)), ("a".to_string(), "b".to_string(), "c".to_string()));
        let alone = IntentClassifier::train(LabelledEmbeddings { x: &x, labels: &labels, own: None }, None, &config, 5)
            .unwrap();
        assert_eq!(alone.meta().companion_weight, 0.0);
        assert!(alone.companion().is_none());
        assert!(alone.meta().threshold_choice.in_scope_accuracy < mixed.meta().threshold_choice.in_scope_accuracy);
        // A companion the manifest does not weigh (or a weight without a companion) is damage.
        let head = mixed.head().clone();
        assert!(IntentClassifier::from_parts(head.clone(), None, mixed.meta().clone()).is_err());
        assert!(IntentClassifier::from_parts(head.clone(), mixed.companion().cloned(), alone.meta().clone()).is_err());
        assert!(IntentClassifier::from_parts(head, mixed.companion().cloned(), mixed.meta().clone()).is_ok());
    }

    #[test]
    fn stratified_split_holds_out_every_class() {
        let y: Vec<usize> = (0..100).map(|i| i % 4).collect();
        let (fit, held) = stratified_split(&y, 0.1, 1);
        assert_eq!(fit.len() + held.len(), 100);
        for c in 0..4 {
            assert!(held.iter().any(|&r| y[r] == c));
        }
        assert_eq!(stratified_split(&y, 0.1, 1), (fit, held));
    }
}
