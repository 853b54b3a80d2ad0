//! Intent classification on sentence embeddings, with calibrated confidence and fallback.
//!
//! The classifier is a softmax head ([`head`]) over the encoder's sentence embedding. When the
//! training data has out-of-scope examples they form one more class, so the head learns what
//! "none of these" looks like; on top of that, a confidence threshold and an ambiguity margin,
//! both chosen on held-out data ([`calibrate`]), turn probabilities into a [`Decision`].

pub mod calibrate;
pub mod head;

use crate::error::{Error, Result};
use calibrate::{choose_margin, choose_threshold, fit_temperature, oos_class_wins, Scored, ThresholdChoice};
use head::{Head, HeadConfig};
use ndarray::{Array2, ArrayView1};
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
}

/// A trained intent classifier.
#[derive(Debug, Clone)]
pub struct IntentClassifier {
    head: Head,
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
}

impl Default for IntentConfig {
    fn default() -> Self {
        Self { head: HeadConfig::default(), target_retention: 0.99, ambiguity_cost: 0.02, held_out_share: 0.1 }
    }
}

/// Labelled embeddings: one row per utterance, `None` labels are out of scope.
pub struct LabelledEmbeddings<'a> {
    /// Sentence embeddings.
    pub x: &'a Array2<f32>,
    /// Intent per row.
    pub labels: &'a [Option<String>],
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
        let select = |rows: &[usize]| -> (Array2<f32>, Vec<usize>) {
            (train.x.select(ndarray::Axis(0), rows), rows.iter().filter_map(|&r| y.get(r).copied()).collect())
        };
        let (fit_x, fit_y) = select(&fit_rows);
        let (held_x, held_y) = select(&held_rows);
        let head = head::train(&fit_x, &fit_y, classes.len(), Some((&held_x, &held_y)), &config.head, seed)?;

        // Calibration data: the validation set when given, else the held-out share.
        let scored: Vec<Scored> = match &validation {
            Some(v) => {
                v.x.rows()
                    .into_iter()
                    .zip(v.labels)
                    .filter_map(|(row, label)| {
                        // A validation intent the model never saw cannot be scored: skip it.
                        let gold = match label {
                            Some(name) => Some(classes.iter().position(|c| c == name)?),
                            None => None,
                        };
                        Some(Scored { logits: head.logits(row), gold })
                    })
                    .collect()
            }
            None => held_x
                .rows()
                .into_iter()
                .zip(&held_y)
                .map(|(row, &g)| Scored { logits: head.logits(row), gold: (Some(g) != oos_class).then_some(g) })
                .collect(),
        };
        let temperature = fit_temperature(&scored);
        let threshold_choice = choose_threshold(&scored, temperature, oos_class, config.target_retention);
        let margin = choose_margin(&scored, temperature, oos_class, threshold_choice.threshold, config.ambiguity_cost);
        let meta = IntentMeta {
            classes,
            oos_class,
            temperature,
            thresholds: Thresholds { confidence: threshold_choice.threshold, ambiguity_margin: margin },
            threshold_choice,
        };
        Ok(Self { head, meta })
    }

    /// Rebuilds a classifier from its artifact parts.
    pub fn from_parts(head: Head, meta: IntentMeta) -> Result<Self> {
        if head.classes() != meta.classes.len() {
            return Err(Error::InvalidArgument(format!(
                "the intent head has {} outputs but the manifest lists {} classes",
                head.classes(),
                meta.classes.len()
            )));
        }
        Ok(Self { head, meta })
    }

    /// The head's weights.
    pub fn head(&self) -> &Head {
        &self.head
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
    /// `allowed` restricts the candidates (e.g. to what fits the dialogue state).
    pub fn rank(
        &self,
        embedding: ArrayView1<f32>,
        top_k: usize,
        allowed: Option<&[String]>,
    ) -> (Vec<IntentScore>, bool) {
        let probs = head::softmax(&self.head.logits(embedding), self.meta.temperature);
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
        let data = || LabelledEmbeddings { x: &x, labels: &labels };
        let given = ((6..60).collect(), (0..6).collect());
        let held_wrong = IntentClassifier::train_holding_out(data(), None, Some(given), &config, 3).unwrap();
        assert_eq!(held_wrong.meta().threshold_choice.in_scope_accuracy, 0.0);
        let usual = IntentClassifier::train(data(), None, &config, 3).unwrap();
        assert!(usual.meta().threshold_choice.in_scope_accuracy > 0.5, "{:?}", usual.meta().threshold_choice);
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
