//! Evaluation of an NLU model's decisions against gold annotations.
//!
//! The caller runs the model over a test set and hands over what it decided ([`EvalInput`]);
//! [`evaluate`] turns that into a [`Report`] that serialises to JSON (for CI and comparisons
//! between runs), renders to Markdown ([`Report::to_markdown`]) and, with the `plots` module,
//! to PNG charts. Evaluation never runs the model itself, so it is cheap, deterministic and
//! testable on hand-made outcomes.
//!
//! Conventions, chosen so that JSON never holds `NaN`:
//! - Rates whose denominator is a number of examples (accuracy, OOS recall, ECE, ...) are
//!   `Option<f64>`: `null` when there is nothing to measure, rather than a made-up 0 or 1.
//! - Per-label precision, recall and F1 follow scikit-learn's `zero_division=0`: a ratio with
//!   an empty denominator is 0. The counts beside them (`support`, `predictions`,
//!   `true_positives`) tell a reader when that happened.
//! - Macro F1 averages over labels with gold support only, so a label the model predicts but
//!   the test set never contains shows up in the per-label table (precision 0) without
//!   dragging the macro average down a second time for the same errors.
//! - Maps are `BTreeMap`s so reports of the same run are byte-identical and diff well.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod metrics;
// The only user of plotters: the crate can gate it, e.g. `#[cfg(feature = "plots")]`, so
// library users who only want numbers do not compile an image encoder.
#[cfg(feature = "plots")]
pub mod plots;
pub mod report;
pub mod run;

/// Label standing for "no intent" in the confusion matrix and the confused pairs: an
/// out-of-scope gold example, or a prediction that fell back. Sharing one label on both axes
/// keeps the matrix square, so its diagonal is exactly "correct" (OOS rejected included).
pub const FALLBACK_LABEL: &str = "(fallback)";

/// How many off-diagonal confusion cells [`IntentReport::confused_pairs`] keeps: enough to
/// act on, few enough to read.
pub const CONFUSED_PAIRS_SHOWN: usize = 20;

/// Number of equal-width confidence bins for ECE and the reliability diagram (the common
/// choice since Guo et al. 2017, so numbers compare with published ones).
pub const CALIBRATION_BINS: usize = 15;

/// Thresholds of the threshold sweep are `0..=THRESHOLD_STEPS` divided by this, i.e.
/// 0.00, 0.01, ..., 1.00.
pub const THRESHOLD_STEPS: u32 = 100;

/// What the model decided for one intent test example, and what it should have decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentOutcome {
    /// The gold intent; `None` means the example is out of scope.
    pub gold: Option<String>,
    /// The model's decision at its own threshold/policy; `None` means it fell back (out of
    /// scope or ambiguous).
    pub predicted: Option<String>,
    /// Calibrated probabilities, best first (top-k, at least top-1). Only the first entry is
    /// used: for calibration and for the threshold sweep.
    pub ranking: Vec<(String, f32)>,
    /// Language of the example (e.g. `"en"`), for the per-language breakdown.
    pub language: Option<String>,
}

/// One entity mention: a half-open range `start..end` (the unit, bytes or chars, is the
/// caller's, as long as gold and predictions agree) labelled with an entity type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    /// Entity type, e.g. `"order_id"`.
    pub entity: String,
    /// First position of the mention.
    pub start: usize,
    /// One past the last position of the mention.
    pub end: usize,
}

/// Gold and predicted entity spans of one example.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityOutcome {
    /// Annotated spans.
    pub gold: Vec<Span>,
    /// Spans the model extracted.
    pub predicted: Vec<Span>,
}

/// Gold and predicted multi-label signals (e.g. `frustrated`, `wants_human`) of one example.
/// Duplicates within one list count once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignalOutcome {
    /// Signals annotated on the example.
    pub gold: Vec<String>,
    /// Signals the model raised.
    pub predicted: Vec<String>,
}

/// Everything [`evaluate`] needs. Any of the lists may be empty.
///
/// Alignment: when `entities.len() == intents.len()`, `entities[i]` is taken to be the same
/// example as `intents[i]`, which lets the report give a slot F1 per language. With other
/// lengths the entity lists are evaluated on their own and `slot_f1` stays `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalInput {
    /// Intent outcomes, one per test example.
    pub intents: Vec<IntentOutcome>,
    /// Entity outcomes, one per test example.
    pub entities: Vec<EntityOutcome>,
    /// Signal outcomes, one per test example.
    pub signals: Vec<SignalOutcome>,
    /// The confidence threshold the model used for `predicted`, marked on the threshold plot.
    pub model_threshold: Option<f32>,
}

/// The full evaluation result. Serialises to the JSON documented field by field below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Intent classification and out-of-scope detection.
    pub intent: IntentReport,
    /// Entity extraction; `null` when no entity outcomes were given.
    pub entities: Option<EntityReport>,
    /// Multi-label signals; `null` when no signal outcomes were given.
    pub signals: Option<SignalReport>,
    /// Breakdown by [`IntentOutcome::language`]; examples without a language are left out.
    pub per_language: BTreeMap<String, LanguageReport>,
    /// The model's threshold, copied from the input (`null` if absent or not finite) so plots
    /// drawn from a saved report can mark it.
    pub model_threshold: Option<f32>,
}

/// Precision, recall and F1 of one label (intent, entity type or signal).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// `true_positives / predictions`, 0 when never predicted.
    pub precision: f64,
    /// `true_positives / support`, 0 when the label has no gold occurrence.
    pub recall: f64,
    /// Harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
    /// Gold occurrences.
    pub support: usize,
    /// Predicted occurrences.
    pub predictions: usize,
    /// Predicted occurrences that matched a gold one.
    pub true_positives: usize,
}

/// One cell of the intent confusion matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusedPair {
    /// Gold intent, or [`FALLBACK_LABEL`] for out of scope.
    pub gold: String,
    /// Predicted intent, or [`FALLBACK_LABEL`] for a fallback.
    pub predicted: String,
    /// Number of examples in the cell.
    pub count: usize,
}

/// One bin of the reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge of the bin (inclusive).
    pub lower: f64,
    /// Upper edge of the bin (exclusive, except 1.0 for the last bin).
    pub upper: f64,
    /// In-scope examples whose top-1 probability falls in the bin.
    pub count: usize,
    /// Mean top-1 probability in the bin; `null` when the bin is empty.
    pub mean_confidence: Option<f64>,
    /// Fraction of the bin whose top-1 intent is the gold one; `null` when empty.
    pub accuracy: Option<f64>,
}

/// Metrics of the simple policy "top-1 if its probability >= threshold, else fall back".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdPoint {
    /// The threshold, 0.00 to 1.00.
    pub threshold: f64,
    /// Accuracy on in-scope gold examples (a fallback counts as wrong).
    pub in_scope_accuracy: Option<f64>,
    /// Fraction of in-scope gold examples that did not fall back (coverage).
    pub in_scope_retention: Option<f64>,
    /// Fraction of out-of-scope examples that fell back; `null` without OOS examples.
    pub oos_recall: Option<f64>,
    /// Accuracy over all examples, a fallback being right for out-of-scope ones.
    pub accuracy: Option<f64>,
}

/// Intent classification and out-of-scope detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentReport {
    /// Number of intent examples.
    pub count: usize,
    /// Number of out-of-scope gold examples.
    pub oos_count: usize,
    /// `predicted == gold` over all examples (a fallback on an OOS example is correct).
    pub accuracy: Option<f64>,
    /// `predicted == gold` over in-scope gold examples.
    pub in_scope_accuracy: Option<f64>,
    /// Out-of-scope examples that fell back / out-of-scope examples; `null` without OOS gold.
    pub oos_recall: Option<f64>,
    /// Fallbacks on out-of-scope examples / all fallbacks; `null` without OOS gold or
    /// without any fallback.
    pub oos_precision: Option<f64>,
    /// Mean F1 over in-scope intents with gold support.
    pub macro_f1: Option<f64>,
    /// Metrics per in-scope intent (gold or predicted).
    pub per_intent: BTreeMap<String, ClassMetrics>,
    /// The [`CONFUSED_PAIRS_SHOWN`] largest off-diagonal cells, largest first.
    pub confused_pairs: Vec<ConfusedPair>,
    /// Every non-empty confusion cell, diagonal included: a sparse confusion matrix (dense
    /// would be 151 x 151 for CLINC150), sorted by gold then predicted.
    pub confusion: Vec<ConfusedPair>,
    /// Expected calibration error of the top-1 probability on in-scope gold examples,
    /// [`CALIBRATION_BINS`] equal-width bins.
    pub ece: Option<f64>,
    /// The bins behind `ece`, lowest confidence first.
    pub reliability: Vec<ReliabilityBin>,
    /// Sweep of the threshold from 0.00 to 1.00 in steps of 0.01 (empty without examples).
    /// It replays a plain threshold on `ranking`, so at the model's threshold it can differ
    /// from `accuracy` when the model's own policy does more (e.g. a margin rule).
    pub threshold_curve: Vec<ThresholdPoint>,
}

/// Exact or partial span metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanMetrics {
    /// Precision over all spans of all types.
    pub micro_precision: f64,
    /// Recall over all spans of all types.
    pub micro_recall: f64,
    /// F1 of `micro_precision` and `micro_recall`.
    pub micro_f1: f64,
    /// Mean F1 over entity types with gold support.
    pub macro_f1: Option<f64>,
    /// Metrics per entity type (gold or predicted).
    pub per_type: BTreeMap<String, ClassMetrics>,
}

/// Spans whose boundaries agree (or overlap) but whose types differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeConfusion {
    /// Gold entity type.
    pub gold: String,
    /// Predicted entity type.
    pub predicted: String,
    /// Number of such span pairs.
    pub count: usize,
}

/// Entity extraction.
///
/// - Exact (the top-level metrics): a predicted span is correct when a gold span of the
///   same example has the same type, start and end; matching is one-to-one.
/// - `partial`: first the exact pairs are matched, then the remaining spans of the same type
///   that overlap (share at least one position) are paired greedily, largest overlap first
///   (ties: earlier gold, then earlier prediction), one-to-one. So partial scores are never
///   below exact ones, and one long prediction cannot claim two gold spans.
/// - `type_confusion`: among spans still unmatched after the partial matching, gold and
///   predicted spans of different types with identical or overlapping boundaries are paired
///   the same greedy way (identical boundaries first) and counted by (gold, predicted) type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityReport {
    /// Number of entity examples.
    pub count: usize,
    /// Gold spans over all examples.
    pub gold_spans: usize,
    /// Predicted spans over all examples.
    pub predicted_spans: usize,
    /// Exact span+type metrics (flattened into this object in JSON).
    #[serde(flatten)]
    pub exact: SpanMetrics,
    /// Overlap-tolerant metrics, see the type's doc.
    pub partial: SpanMetrics,
    /// Type confusions, most frequent first.
    pub type_confusion: Vec<TypeConfusion>,
}

/// Multi-label signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalReport {
    /// Number of signal examples.
    pub count: usize,
    /// Mean F1 over signals with gold support.
    pub macro_f1: Option<f64>,
    /// Metrics per signal (gold or predicted), counted per example.
    pub per_signal: BTreeMap<String, ClassMetrics>,
}

/// Metrics of the examples of one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageReport {
    /// Intent examples in the language.
    pub count: usize,
    /// Intent accuracy (as [`IntentReport::accuracy`]).
    pub intent_accuracy: Option<f64>,
    /// In-scope intent accuracy (as [`IntentReport::in_scope_accuracy`]).
    pub in_scope_accuracy: Option<f64>,
    /// Exact micro F1 of the entities of these examples; `null` unless entities are aligned
    /// with intents (see [`EvalInput`]) and the language has at least one gold or predicted
    /// span.
    pub slot_f1: Option<f64>,
}

/// Computes every metric of the report. Never panics, whatever the input: empty lists give
/// zero counts and `null` rates.
pub fn evaluate(input: &EvalInput) -> Report {
    Report {
        intent: metrics::intent_report(&input.intents),
        entities: (!input.entities.is_empty()).then(|| metrics::entity_report(&input.entities)),
        signals: (!input.signals.is_empty()).then(|| metrics::signal_report(&input.signals)),
        per_language: metrics::per_language(&input.intents, aligned_entities(input)),
        model_threshold: input.model_threshold.filter(|t| t.is_finite()),
    }
}

/// The entity outcomes when they line up one-to-one with the intent outcomes.
fn aligned_entities(input: &EvalInput) -> Option<&[EntityOutcome]> {
    (!input.entities.is_empty() && input.entities.len() == input.intents.len()).then_some(input.entities.as_slice())
}

#[cfg(test)]
mod tests;
