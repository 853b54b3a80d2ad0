//! The metrics themselves: pure functions from outcomes to numbers, no I/O.
//!
//! Everything here is total: no input makes a function panic or return `NaN`; see the
//! conventions in the [module docs](super).

use std::collections::{BTreeMap, BTreeSet};

use super::{
    ClassMetrics, ConfusedPair, EntityOutcome, EntityReport, IntentOutcome, IntentReport, LanguageReport,
    ReliabilityBin, SignalOutcome, SignalReport, Span, SpanMetrics, ThresholdPoint, TypeConfusion, CALIBRATION_BINS,
    CONFUSED_PAIRS_SHOWN, FALLBACK_LABEL, THRESHOLD_STEPS,
};

/// `numerator / denominator`, or `None` when the denominator is 0 (nothing was measured).
pub fn rate(numerator: usize, denominator: usize) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// `numerator / denominator`, or 0 when the denominator is 0 (scikit-learn's
/// `zero_division=0`, for per-label precision and recall).
pub fn ratio_or_zero(numerator: usize, denominator: usize) -> f64 {
    rate(numerator, denominator).unwrap_or(0.0)
}

/// Harmonic mean of precision and recall; 0 when both are 0.
pub fn f1(precision: f64, recall: f64) -> f64 {
    let sum = precision + recall;
    if sum > 0.0 {
        2.0 * precision * recall / sum
    } else {
        0.0
    }
}

/// Precision, recall and F1 from the three counts that define them.
pub fn class_metrics(true_positives: usize, predictions: usize, support: usize) -> ClassMetrics {
    let precision = ratio_or_zero(true_positives, predictions);
    let recall = ratio_or_zero(true_positives, support);
    ClassMetrics { precision, recall, f1: f1(precision, recall), support, predictions, true_positives }
}

/// Mean F1 over the labels with gold support; `None` when no label has any.
pub fn macro_f1(per_label: &BTreeMap<String, ClassMetrics>) -> Option<f64> {
    let f1s: Vec<f64> = per_label.values().filter(|m| m.support > 0).map(|m| m.f1).collect();
    (!f1s.is_empty()).then(|| f1s.iter().sum::<f64>() / f1s.len() as f64)
}

/// Accumulates true positives, predictions and support per label, then turns them into
/// [`ClassMetrics`]. Shared by intents, entity types and signals.
#[derive(Debug, Default)]
struct LabelCounts {
    /// label -> (true positives, predictions, support)
    counts: BTreeMap<String, (usize, usize, usize)>,
}

impl LabelCounts {
    fn entry(&mut self, label: &str) -> &mut (usize, usize, usize) {
        self.counts.entry(label.to_owned()).or_default()
    }
    fn add_true_positive(&mut self, label: &str) {
        self.entry(label).0 += 1;
    }
    fn add_prediction(&mut self, label: &str) {
        self.entry(label).1 += 1;
    }
    fn add_gold(&mut self, label: &str) {
        self.entry(label).2 += 1;
    }
    fn totals(&self) -> (usize, usize, usize) {
        self.counts.values().fold((0, 0, 0), |(t, p, s), &(dt, dp, ds)| (t + dt, p + dp, s + ds))
    }
    fn per_label(&self) -> BTreeMap<String, ClassMetrics> {
        self.counts
            .iter()
            .map(|(label, &(tp, predictions, support))| (label.clone(), class_metrics(tp, predictions, support)))
            .collect()
    }
}

/// The label of an intent decision in the confusion matrix: `None` becomes [`FALLBACK_LABEL`].
pub fn intent_label(intent: Option<&str>) -> &str {
    intent.unwrap_or(FALLBACK_LABEL)
}

/// Whether the model's decision equals the gold one (`None == None` counts: a rejected OOS
/// example is a correct decision).
fn is_correct(outcome: &IntentOutcome) -> bool {
    outcome.predicted == outcome.gold
}

/// The top-1 intent and its probability, if the ranking has a usable one. A non-finite
/// probability is treated as no ranking at all, so it cannot poison averages with `NaN`.
fn top1(outcome: &IntentOutcome) -> Option<(&str, f64)> {
    outcome
        .ranking
        .first()
        .filter(|(_, p)| p.is_finite())
        .map(|(label, p)| (label.as_str(), f64::from(*p).clamp(0.0, 1.0)))
}

/// Every non-empty cell of the confusion matrix (gold x predicted, fallback included),
/// sorted by gold label then predicted label.
pub fn confusion(intents: &[IntentOutcome]) -> Vec<ConfusedPair> {
    let mut cells: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for outcome in intents {
        let key = (intent_label(outcome.gold.as_deref()), intent_label(outcome.predicted.as_deref()));
        *cells.entry(key).or_default() += 1;
    }
    cells
        .into_iter()
        .map(|((gold, predicted), count)| ConfusedPair {
            gold: gold.to_owned(),
            predicted: predicted.to_owned(),
            count,
        })
        .collect()
}

/// The `limit` largest off-diagonal cells of a confusion matrix, largest first (ties by
/// gold, then predicted label, so the order is stable).
pub fn top_confused(cells: &[ConfusedPair], limit: usize) -> Vec<ConfusedPair> {
    let mut off: Vec<ConfusedPair> = cells.iter().filter(|c| c.gold != c.predicted).cloned().collect();
    off.sort_by(|a, b| {
        b.count.cmp(&a.count).then_with(|| a.gold.cmp(&b.gold)).then_with(|| a.predicted.cmp(&b.predicted))
    });
    off.truncate(limit);
    off
}

/// Per-intent precision/recall/F1 over in-scope labels (fallbacks and OOS gold are handled
/// by the OOS metrics instead).
pub fn per_intent(intents: &[IntentOutcome]) -> BTreeMap<String, ClassMetrics> {
    let mut counts = LabelCounts::default();
    for outcome in intents {
        if let Some(gold) = &outcome.gold {
            counts.add_gold(gold);
        }
        if let Some(predicted) = &outcome.predicted {
            counts.add_prediction(predicted);
            if outcome.gold.as_ref() == Some(predicted) {
                counts.add_true_positive(predicted);
            }
        }
    }
    counts.per_label()
}

/// Expected calibration error and its reliability bins, over in-scope gold examples with a
/// usable top-1 probability: `sum_b n_b / N * |accuracy_b - confidence_b|` over
/// `bins` equal-width bins of `[0, 1]` (a probability of exactly 1 goes in the last bin).
///
/// Out-of-scope examples are left out: their top-1 intent is wrong by definition, so they
/// would measure OOS detection, not calibration. `bins == 0` gives no bins and no ECE.
pub fn calibration(intents: &[IntentOutcome], bins: usize) -> (Option<f64>, Vec<ReliabilityBin>) {
    // per bin: (count, sum of confidence, correct)
    let mut sums = vec![(0usize, 0.0f64, 0usize); bins];
    let mut total = 0usize;
    for outcome in intents {
        let (Some(gold), Some((label, confidence))) = (&outcome.gold, top1(outcome)) else {
            continue;
        };
        // Truncation is the binning: confidence is in [0, 1], so this is 0..=bins.
        let index = ((confidence * bins as f64) as usize).min(bins.saturating_sub(1));
        if let Some(bin) = sums.get_mut(index) {
            bin.0 += 1;
            bin.1 += confidence;
            bin.2 += usize::from(label == gold);
            total += 1;
        }
    }
    let width = 1.0 / bins.max(1) as f64;
    let reliability: Vec<ReliabilityBin> = sums
        .iter()
        .enumerate()
        .map(|(i, &(count, confidence_sum, correct))| ReliabilityBin {
            lower: i as f64 * width,
            upper: (i + 1) as f64 * width,
            count,
            mean_confidence: (count > 0).then(|| confidence_sum / count as f64),
            accuracy: rate(correct, count),
        })
        .collect();
    let ece = (total > 0).then(|| {
        reliability
            .iter()
            .filter_map(|bin| {
                let gap = (bin.accuracy? - bin.mean_confidence?).abs();
                Some(bin.count as f64 / total as f64 * gap)
            })
            .sum()
    });
    (ece, reliability)
}

/// Replays the policy "top-1 if its probability >= t, else fall back" for
/// t = 0.00, 0.01, ..., 1.00. Empty when there are no examples.
///
/// The comparison is done in `f32`, the type of the probabilities, so an example whose
/// probability is written `0.8` is kept at threshold 0.80.
pub fn threshold_curve(intents: &[IntentOutcome]) -> Vec<ThresholdPoint> {
    if intents.is_empty() {
        return Vec::new();
    }
    let in_scope = intents.iter().filter(|o| o.gold.is_some()).count();
    let oos = intents.len() - in_scope;
    (0..=THRESHOLD_STEPS)
        .map(|step| {
            let t = step as f32 / THRESHOLD_STEPS as f32;
            let (mut correct_in, mut kept_in, mut rejected_oos) = (0, 0, 0);
            for outcome in intents {
                let kept =
                    outcome.ranking.first().filter(|(_, p)| p.is_finite() && *p >= t).map(|(label, _)| label.as_str());
                match (outcome.gold.as_deref(), kept) {
                    (Some(gold), Some(label)) => {
                        kept_in += 1;
                        correct_in += usize::from(gold == label);
                    }
                    (None, None) => rejected_oos += 1,
                    _ => {}
                }
            }
            ThresholdPoint {
                threshold: f64::from(step) / f64::from(THRESHOLD_STEPS),
                in_scope_accuracy: rate(correct_in, in_scope),
                in_scope_retention: rate(kept_in, in_scope),
                oos_recall: rate(rejected_oos, oos),
                accuracy: rate(correct_in + rejected_oos, intents.len()),
            }
        })
        .collect()
}

/// All intent metrics.
pub fn intent_report(intents: &[IntentOutcome]) -> IntentReport {
    let count = intents.len();
    let oos_count = intents.iter().filter(|o| o.gold.is_none()).count();
    let correct = intents.iter().filter(|o| is_correct(o)).count();
    let correct_in_scope = intents.iter().filter(|o| o.gold.is_some() && is_correct(o)).count();
    let rejected_oos = intents.iter().filter(|o| o.gold.is_none() && o.predicted.is_none()).count();
    let fallbacks = intents.iter().filter(|o| o.predicted.is_none()).count();
    let per_intent = per_intent(intents);
    let confusion = confusion(intents);
    let (ece, reliability) = calibration(intents, CALIBRATION_BINS);
    IntentReport {
        count,
        oos_count,
        accuracy: rate(correct, count),
        in_scope_accuracy: rate(correct_in_scope, count - oos_count),
        oos_recall: rate(rejected_oos, oos_count),
        oos_precision: if oos_count > 0 { rate(rejected_oos, fallbacks) } else { None },
        macro_f1: macro_f1(&per_intent),
        per_intent,
        confused_pairs: top_confused(&confusion, CONFUSED_PAIRS_SHOWN),
        confusion,
        ece,
        reliability,
        threshold_curve: threshold_curve(intents),
    }
}

/// Length of the overlap of two half-open spans (0 when disjoint or empty).
pub fn overlap(a: &Span, b: &Span) -> usize {
    a.end.min(b.end).saturating_sub(a.start.max(b.start))
}

/// One-to-one matching of identical spans (type, start and end), as `(gold index,
/// predicted index)` pairs. Duplicated predictions beyond the gold copies stay unmatched.
pub fn match_exact(gold: &[Span], predicted: &[Span]) -> Vec<(usize, usize)> {
    let mut gold_used = vec![false; gold.len()];
    let mut pairs = Vec::new();
    for (p, span) in predicted.iter().enumerate() {
        let found = gold.iter().zip(gold_used.iter_mut()).enumerate().find(|(_, (g, used))| !**used && *g == span);
        if let Some((g, (_, used))) = found {
            *used = true;
            pairs.push((g, p));
        }
    }
    pairs
}

/// Greedy one-to-one matching of the spans not in `taken`, among candidate pairs accepted by
/// `eligible`, best `rank` first (higher is better; ties by gold then predicted index).
fn match_greedy(
    gold: &[Span],
    predicted: &[Span],
    taken: &[(usize, usize)],
    eligible: impl Fn(&Span, &Span) -> bool,
    rank: impl Fn(&Span, &Span) -> (usize, usize),
) -> Vec<(usize, usize)> {
    let mut gold_used = vec![false; gold.len()];
    let mut predicted_used = vec![false; predicted.len()];
    for &(g, p) in taken {
        if let Some(used) = gold_used.get_mut(g) {
            *used = true;
        }
        if let Some(used) = predicted_used.get_mut(p) {
            *used = true;
        }
    }
    let mut candidates = Vec::new();
    for (g, gold_span) in gold.iter().enumerate() {
        for (p, predicted_span) in predicted.iter().enumerate() {
            let free = !gold_used.get(g).copied().unwrap_or(true) && !predicted_used.get(p).copied().unwrap_or(true);
            if free && eligible(gold_span, predicted_span) {
                candidates.push((rank(gold_span, predicted_span), g, p));
            }
        }
    }
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut pairs = Vec::new();
    for (_, g, p) in candidates {
        if let (Some(gold_flag), Some(predicted_flag)) = (gold_used.get_mut(g), predicted_used.get_mut(p)) {
            if !*gold_flag && !*predicted_flag {
                *gold_flag = true;
                *predicted_flag = true;
                pairs.push((g, p));
            }
        }
    }
    pairs
}

/// Partial matching: the exact pairs, then same-type overlapping spans paired greedily by
/// largest overlap (see [`super::EntityReport`]).
pub fn match_partial(gold: &[Span], predicted: &[Span]) -> Vec<(usize, usize)> {
    let mut pairs = match_exact(gold, predicted);
    let more = match_greedy(
        gold,
        predicted,
        &pairs,
        |g, p| g.entity == p.entity && overlap(g, p) > 0,
        |g, p| (overlap(g, p), 0),
    );
    pairs.extend(more);
    pairs
}

/// Type confusions left after partial matching: different-type spans with identical or
/// overlapping boundaries, identical boundaries first, then largest overlap. Returns
/// `(gold index, predicted index)` pairs.
pub fn match_type_confusions(gold: &[Span], predicted: &[Span], partial: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let same_bounds = |g: &Span, p: &Span| g.start == p.start && g.end == p.end;
    match_greedy(
        gold,
        predicted,
        partial,
        |g, p| g.entity != p.entity && (same_bounds(g, p) || overlap(g, p) > 0),
        |g, p| (usize::from(same_bounds(g, p)), overlap(g, p)),
    )
}

/// Span metrics over examples, with `matcher` deciding which (gold, predicted) pairs of an
/// example count as true positives (a pair is credited to the gold span's type; matchers
/// here only pair spans of the same type).
pub fn span_metrics(
    outcomes: &[EntityOutcome],
    matcher: impl Fn(&[Span], &[Span]) -> Vec<(usize, usize)>,
) -> SpanMetrics {
    let mut counts = LabelCounts::default();
    for outcome in outcomes {
        outcome.gold.iter().for_each(|s| counts.add_gold(&s.entity));
        outcome.predicted.iter().for_each(|s| counts.add_prediction(&s.entity));
        for (g, _) in matcher(&outcome.gold, &outcome.predicted) {
            if let Some(span) = outcome.gold.get(g) {
                counts.add_true_positive(&span.entity);
            }
        }
    }
    let (tp, predictions, support) = counts.totals();
    let precision = ratio_or_zero(tp, predictions);
    let recall = ratio_or_zero(tp, support);
    let per_type = counts.per_label();
    SpanMetrics {
        micro_precision: precision,
        micro_recall: recall,
        micro_f1: f1(precision, recall),
        macro_f1: macro_f1(&per_type),
        per_type,
    }
}

/// Counts of (gold type, predicted type) confusions over all examples, most frequent first.
pub fn type_confusion(outcomes: &[EntityOutcome]) -> Vec<TypeConfusion> {
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for outcome in outcomes {
        let partial = match_partial(&outcome.gold, &outcome.predicted);
        for (g, p) in match_type_confusions(&outcome.gold, &outcome.predicted, &partial) {
            if let (Some(gs), Some(ps)) = (outcome.gold.get(g), outcome.predicted.get(p)) {
                *counts.entry((&gs.entity, &ps.entity)).or_default() += 1;
            }
        }
    }
    let mut list: Vec<TypeConfusion> = counts
        .into_iter()
        .map(|((gold, predicted), count)| TypeConfusion {
            gold: gold.to_owned(),
            predicted: predicted.to_owned(),
            count,
        })
        .collect();
    // Stable sort: equal counts keep the (gold, predicted) order of the BTreeMap.
    list.sort_by_key(|c| std::cmp::Reverse(c.count));
    list
}

/// All entity metrics.
pub fn entity_report(outcomes: &[EntityOutcome]) -> EntityReport {
    EntityReport {
        count: outcomes.len(),
        gold_spans: outcomes.iter().map(|o| o.gold.len()).sum(),
        predicted_spans: outcomes.iter().map(|o| o.predicted.len()).sum(),
        exact: span_metrics(outcomes, match_exact),
        partial: span_metrics(outcomes, match_partial),
        type_confusion: type_confusion(outcomes),
    }
}

/// Per-signal metrics, counted per example (a signal listed twice in one example counts
/// once).
pub fn signal_report(outcomes: &[SignalOutcome]) -> SignalReport {
    let mut counts = LabelCounts::default();
    for outcome in outcomes {
        let gold: BTreeSet<&str> = outcome.gold.iter().map(String::as_str).collect();
        let predicted: BTreeSet<&str> = outcome.predicted.iter().map(String::as_str).collect();
        gold.iter().for_each(|s| counts.add_gold(s));
        predicted.iter().for_each(|s| counts.add_prediction(s));
        gold.intersection(&predicted).for_each(|s| counts.add_true_positive(s));
    }
    let per_signal = counts.per_label();
    SignalReport { count: outcomes.len(), macro_f1: macro_f1(&per_signal), per_signal }
}

/// Metrics per language. `entities`, when given, must be aligned with `intents` (same
/// length, same order); it provides `slot_f1`.
pub fn per_language(intents: &[IntentOutcome], entities: Option<&[EntityOutcome]>) -> BTreeMap<String, LanguageReport> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, outcome) in intents.iter().enumerate() {
        if let Some(language) = &outcome.language {
            groups.entry(language).or_default().push(i);
        }
    }
    groups
        .into_iter()
        .map(|(language, indices)| {
            let examples: Vec<&IntentOutcome> = indices.iter().filter_map(|&i| intents.get(i)).collect();
            let in_scope: Vec<&&IntentOutcome> = examples.iter().filter(|o| o.gold.is_some()).collect();
            let slot_f1 = entities.and_then(|all| {
                let subset: Vec<EntityOutcome> = indices.iter().filter_map(|&i| all.get(i).cloned()).collect();
                let any_span = subset.iter().any(|o| !o.gold.is_empty() || !o.predicted.is_empty());
                any_span.then(|| span_metrics(&subset, match_exact).micro_f1)
            });
            let report = LanguageReport {
                count: examples.len(),
                intent_accuracy: rate(examples.iter().filter(|o| is_correct(o)).count(), examples.len()),
                in_scope_accuracy: rate(in_scope.iter().filter(|o| is_correct(o)).count(), in_scope.len()),
                slot_f1,
            };
            (language.to_owned(), report)
        })
        .collect()
}
