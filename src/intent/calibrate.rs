//! Turning scores into decisions one can trust: temperature scaling and the automatic choice
//! of the confidence threshold and the ambiguity margin, all on held-out data.

use super::head::softmax;
use ndarray::Array1;

/// One held-out example: the head's logits and the gold class (`None`: out of scope).
pub struct Scored {
    /// Raw logits over the head's classes.
    pub logits: Array1<f32>,
    /// Gold class index, `None` for an out-of-scope example.
    pub gold: Option<usize>,
}

/// The temperature minimising the negative log-likelihood of the in-scope held-out examples
/// (a log-spaced grid, then a finer one around the best: one parameter needs no optimiser).
pub fn fit_temperature(held: &[Scored]) -> f32 {
    let nll = |t: f32| -> f64 {
        let mut total = 0.0f64;
        let mut n = 0usize;
        for s in held {
            if let Some(g) = s.gold {
                let p = softmax(&s.logits, t);
                total -= (p.get(g).copied().unwrap_or(0.0).max(1e-12) as f64).ln();
                n += 1;
            }
        }
        if n == 0 {
            f64::INFINITY
        } else {
            total / n as f64
        }
    };
    let mut best = (1.0f32, nll(1.0));
    for i in 0..=60 {
        let t = 10f32.powf(-2.0 + 3.0 * i as f32 / 60.0); // 0.01 … 10
        let v = nll(t);
        if v < best.1 {
            best = (t, v);
        }
    }
    let centre = best.0;
    for i in 0..=40 {
        let t = centre * (0.8 + 0.4 * i as f32 / 40.0);
        let v = nll(t);
        if v < best.1 {
            best = (t, v);
        }
    }
    best.0
}

/// The top in-scope class and its probability, given which class (if any) means out of scope.
pub fn top_in_scope(probs: &Array1<f32>, oos_class: Option<usize>) -> Option<(usize, f32)> {
    probs
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != oos_class)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, &p)| (i, p))
}

/// Whether the head's own out-of-scope class wins outright.
pub fn oos_class_wins(probs: &Array1<f32>, oos_class: Option<usize>) -> bool {
    match oos_class {
        Some(o) => probs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).is_some_and(|(i, _)| i == o),
        None => false,
    }
}

/// Weight of out-of-scope recall against in-scope accuracy when choosing the threshold: the
/// optimum is where one more point of recall costs this many points of in-scope accuracy. 0.25
/// corresponds to traffic with about one message in five out of scope (CLINC150's test set has
/// 18%), and keeps validation sets with few out-of-scope examples from trading away in-scope
/// accuracy for them.
pub const OOS_RECALL_WEIGHT: f32 = 0.25;

/// How the threshold was chosen, for the manifest and the user.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThresholdChoice {
    /// The chosen threshold on the calibrated top-1 probability.
    pub threshold: f32,
    /// `"out_of_scope_examples"` or `"in_scope_retention"`.
    pub method: String,
    /// In-scope accuracy on the held-out data at this threshold.
    pub in_scope_accuracy: f32,
    /// Out-of-scope recall on the held-out data (when it has out-of-scope examples).
    pub oos_recall: Option<f32>,
}

/// Chooses the confidence threshold.
///
/// With out-of-scope examples: the threshold maximising in-scope accuracy +
/// [`OOS_RECALL_WEIGHT`] × out-of-scope recall. Without: the highest threshold that keeps `retention` of the correctly
/// classified in-scope examples.
pub fn choose_threshold(
    held: &[Scored],
    temperature: f32,
    oos_class: Option<usize>,
    retention: f32,
) -> ThresholdChoice {
    let outcomes: Vec<(Option<usize>, usize, f32, bool)> = held
        .iter()
        .filter_map(|s| {
            let probs = softmax(&s.logits, temperature);
            let (top, p) = top_in_scope(&probs, oos_class)?;
            Some((s.gold, top, p, oos_class_wins(&probs, oos_class)))
        })
        .collect();
    let in_scope: Vec<_> = outcomes.iter().filter(|o| o.0.is_some()).collect();
    let oos: Vec<_> = outcomes.iter().filter(|o| o.0.is_none()).collect();
    let rates = |t: f32| -> (f32, Option<f32>) {
        let correct = in_scope.iter().filter(|o| !o.3 && o.2 >= t && o.0 == Some(o.1)).count();
        let ins = correct as f32 / in_scope.len().max(1) as f32;
        let rec = (!oos.is_empty()).then(|| oos.iter().filter(|o| o.3 || o.2 < t).count() as f32 / oos.len() as f32);
        (ins, rec)
    };
    if !oos.is_empty() {
        let mut best = (0.0f32, f32::NEG_INFINITY);
        for i in 0..=200 {
            let t = i as f32 / 200.0;
            let (ins, rec) = rates(t);
            let score = ins + OOS_RECALL_WEIGHT * rec.unwrap_or(0.0);
            if score > best.1 + 1e-6 {
                best = (t, score);
            }
        }
        let (ins, rec) = rates(best.0);
        return ThresholdChoice {
            threshold: best.0,
            method: "out_of_scope_examples".into(),
            in_scope_accuracy: ins,
            oos_recall: rec,
        };
    }
    let mut confidences: Vec<f32> = in_scope.iter().filter(|o| o.0 == Some(o.1)).map(|o| o.2).collect();
    confidences.sort_by(|a, b| a.total_cmp(b));
    let drop = ((1.0 - retention.clamp(0.0, 1.0)) * confidences.len() as f32).floor() as usize;
    let threshold = confidences.get(drop).copied().map(|c| (c - 1e-6).max(0.0)).unwrap_or(0.0);
    let (ins, _) = rates(threshold);
    ThresholdChoice { threshold, method: "in_scope_retention".into(), in_scope_accuracy: ins, oos_recall: None }
}

/// The largest ambiguity margin (top-1 minus top-2 probability) from a small grid whose net
/// cost on held-out in-scope accuracy is at most `max_cost`: ambiguity should trigger a
/// clarifying question where the model really hesitates, not on requests it gets right.
///
/// The cost is counted net: a clarification that delays a correct answer costs one, a
/// clarification that offers the right intent where the top-1 was wrong saves one (the customer
/// picks the right choice instead of getting a wrong answer). So the margin grows while the
/// utterances it catches are coin flips, and stops where it would mostly question right answers.
pub fn choose_margin(
    held: &[Scored],
    temperature: f32,
    oos_class: Option<usize>,
    threshold: f32,
    max_cost: f32,
) -> f32 {
    struct Row {
        gap: f32,
        answered_right: bool,
        rescuable: bool,
    }
    let rows: Vec<Row> = held
        .iter()
        .filter_map(|s| {
            let gold = s.gold?;
            let probs = softmax(&s.logits, temperature);
            let (top, p1) = top_in_scope(&probs, oos_class)?;
            if p1 < threshold || oos_class_wins(&probs, oos_class) {
                return None; // a fallback already, whatever the margin
            }
            let mut others: Vec<(usize, f32)> = probs
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != top && Some(*i) != oos_class)
                .map(|(i, &p)| (i, p))
                .collect();
            others.sort_by(|a, b| b.1.total_cmp(&a.1));
            let p2 = others.first().map_or(0.0, |o| o.1);
            // Clarify offers up to three intents: the top one and the next two.
            let offered = others.iter().take(2).any(|o| o.0 == gold);
            Some(Row { gap: p1 - p2, answered_right: top == gold, rescuable: top != gold && offered })
        })
        .collect();
    let n = held.iter().filter(|s| s.gold.is_some()).count();
    if rows.is_empty() || n == 0 {
        return 0.0;
    }
    let mut chosen = 0.0;
    for step in 1..=15 {
        let margin = step as f32 * 0.02;
        let caught = rows.iter().filter(|r| r.gap < margin);
        let delayed = caught.clone().filter(|r| r.answered_right).count() as f32;
        let rescued = caught.filter(|r| r.rescuable).count() as f32;
        if (delayed - rescued) / n as f32 <= max_cost {
            chosen = margin;
        } else {
            break;
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(l: &[f32], g: Option<usize>) -> Scored {
        Scored { logits: Array1::from(l.to_vec()), gold: g }
    }

    #[test]
    fn temperature_softens_an_overconfident_model() {
        // Confident logits, but the gold class is the top one only half of the time.
        let held: Vec<Scored> = (0..100).map(|i| s(&[5.0, 0.0], Some(i % 2))).collect();
        assert!(fit_temperature(&held) > 2.0);
    }

    #[test]
    fn threshold_separates_out_of_scope_when_examples_exist() {
        let mut held: Vec<Scored> = (0..50).map(|_| s(&[4.0, 0.0, 0.0], Some(0))).collect();
        held.extend((0..50).map(|_| s(&[0.3, 0.0, 0.0], None)));
        let choice = choose_threshold(&held, 1.0, None, 0.95);
        assert_eq!(choice.method, "out_of_scope_examples");
        assert_eq!(choice.in_scope_accuracy, 1.0);
        assert_eq!(choice.oos_recall, Some(1.0));
        assert!(choice.threshold > 0.4 && choice.threshold <= 0.96, "{}", choice.threshold);
    }

    #[test]
    fn threshold_keeps_the_requested_retention_without_oos_examples() {
        let held: Vec<Scored> = (0..100).map(|i| s(&[1.0 + i as f32 * 0.05, 0.0], Some(0))).collect();
        let choice = choose_threshold(&held, 1.0, None, 0.9);
        assert_eq!(choice.method, "in_scope_retention");
        assert!((choice.in_scope_accuracy - 0.9).abs() <= 0.011, "{}", choice.in_scope_accuracy);
    }

    #[test]
    fn the_margin_catches_coin_flips_not_right_answers() {
        // 40 confident right answers, and 10 near-ties between classes 0 and 1 that the model
        // gets right half of the time: clarifying those costs nothing net.
        let mut held: Vec<Scored> = (0..40).map(|_| s(&[5.0, 0.0, 0.0], Some(0))).collect();
        held.extend((0..10).map(|i| s(&[1.0, 0.95, -3.0], Some(i % 2))));
        let margin = choose_margin(&held, 1.0, None, 0.0, 0.0);
        assert!(margin > 0.02, "{margin}");
        // Near-ties the model always gets right are not worth a question.
        let mut held: Vec<Scored> = (0..40).map(|_| s(&[5.0, 0.0, 0.0], Some(0))).collect();
        held.extend((0..10).map(|_| s(&[1.0, 0.95, -3.0], Some(0))));
        let gap = {
            let p = softmax(&Array1::from(vec![1.0, 0.95, -3.0]), 1.0);
            p[0] - p[1]
        };
        assert!(choose_margin(&held, 1.0, None, 0.0, 0.0) <= gap);
    }
}
