//! Tests of `evaluate` and the report it builds, with expected values computed by hand in
//! the comments next to them.

use super::metrics::{match_exact, match_partial};
use super::*;

const EPS: f64 = 1e-6;

fn close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < EPS, "expected {expected}, got {actual}");
}

fn some_close(actual: Option<f64>, expected: f64) {
    match actual {
        Some(a) => close(a, expected),
        None => panic!("expected {expected}, got None"),
    }
}

fn intent(gold: Option<&str>, predicted: Option<&str>, top: &str, p: f32) -> IntentOutcome {
    IntentOutcome {
        gold: gold.map(str::to_owned),
        predicted: predicted.map(str::to_owned),
        ranking: vec![(top.to_owned(), p)],
        language: None,
    }
}

fn span(entity: &str, start: usize, end: usize) -> Span {
    Span { entity: entity.to_owned(), start, end }
}

/// Six examples, two intents `a` and `b`, two out of scope; the model's threshold is 0.5.
fn six_intents() -> Vec<IntentOutcome> {
    let mut v = vec![
        intent(Some("a"), Some("a"), "a", 0.9), // 1 correct
        intent(Some("a"), Some("b"), "b", 0.6), // 2 a -> b
        intent(Some("b"), Some("b"), "b", 0.8), // 3 correct
        intent(Some("b"), None, "b", 0.4),      // 4 b -> fallback
        intent(None, None, "a", 0.3),           // 5 OOS rejected
        intent(None, Some("b"), "b", 0.7),      // 6 OOS -> b
    ];
    for (i, o) in v.iter_mut().enumerate() {
        o.language = match i {
            0 | 1 => Some("en".to_owned()),
            2 => Some("fr".to_owned()),
            _ => None,
        };
    }
    v
}

#[test]
fn intent_summary_metrics() {
    let r = evaluate(&EvalInput { intents: six_intents(), ..EvalInput::default() });
    let i = &r.intent;
    assert_eq!((i.count, i.oos_count), (6, 2));
    some_close(i.accuracy, 3.0 / 6.0); // 1, 3, 5
    some_close(i.in_scope_accuracy, 2.0 / 4.0); // 1, 3 of 1-4
    some_close(i.oos_recall, 1.0 / 2.0); // 5 of 5, 6
    some_close(i.oos_precision, 1.0 / 2.0); // fallbacks 4, 5; only 5 is OOS
}

#[test]
fn per_intent_and_macro_f1() {
    let i = evaluate(&EvalInput { intents: six_intents(), ..EvalInput::default() }).intent;
    // a: gold {1,2}, predicted {1}: P 1, R 1/2, F1 2/3.
    let a = i.per_intent["a"];
    assert_eq!((a.support, a.predictions, a.true_positives), (2, 1, 1));
    close(a.precision, 1.0);
    close(a.recall, 0.5);
    close(a.f1, 2.0 / 3.0);
    // b: gold {3,4}, predicted {2,3,6}: P 1/3, R 1/2, F1 2*(1/6)/(5/6) = 0.4.
    let b = i.per_intent["b"];
    assert_eq!((b.support, b.predictions, b.true_positives), (2, 3, 1));
    close(b.precision, 1.0 / 3.0);
    close(b.recall, 0.5);
    close(b.f1, 0.4);
    some_close(i.macro_f1, (2.0 / 3.0 + 0.4) / 2.0);
    assert!(!i.per_intent.contains_key(FALLBACK_LABEL));
}

#[test]
fn confusion_and_confused_pairs() {
    let i = evaluate(&EvalInput { intents: six_intents(), ..EvalInput::default() }).intent;
    let cell = |g: &str, p: &str| i.confusion.iter().find(|c| c.gold == g && c.predicted == p).map_or(0, |c| c.count);
    assert_eq!(cell("a", "a"), 1);
    assert_eq!(cell("b", FALLBACK_LABEL), 1);
    assert_eq!(cell(FALLBACK_LABEL, FALLBACK_LABEL), 1);
    assert_eq!(i.confusion.iter().map(|c| c.count).sum::<usize>(), 6);
    // Off-diagonal cells all have count 1: ordered by gold, then predicted ("(" < "a").
    let pairs: Vec<(&str, &str, usize)> =
        i.confused_pairs.iter().map(|c| (c.gold.as_str(), c.predicted.as_str(), c.count)).collect();
    assert_eq!(pairs, vec![(FALLBACK_LABEL, "b", 1), ("a", "b", 1), ("b", FALLBACK_LABEL, 1)]);
}

#[test]
fn confused_pairs_keep_the_largest_twenty() {
    let mut intents = Vec::new();
    for k in 0..25 {
        for _ in 0..=k {
            intents.push(intent(Some(&format!("g{k:02}")), Some("x"), "x", 0.5));
        }
    }
    let i = evaluate(&EvalInput { intents, ..EvalInput::default() }).intent;
    assert_eq!(i.confused_pairs.len(), CONFUSED_PAIRS_SHOWN);
    assert_eq!(i.confused_pairs[0].gold, "g24");
    assert_eq!(i.confused_pairs[0].count, 25);
    assert_eq!(i.confused_pairs[19].count, 6);
}

#[test]
fn ece_and_reliability_by_hand() {
    let i = evaluate(&EvalInput { intents: six_intents(), ..EvalInput::default() }).intent;
    // In-scope examples only; top-1 correctness ignores the fallback decision:
    // 0.9 right (bin 13), 0.6 wrong (bin 9), 0.8 right (bin 12), 0.4 right (bin 6).
    // ECE = (0.1 + 0.6 + 0.2 + 0.6) / 4 = 0.375.
    some_close(i.ece, 0.375);
    assert_eq!(i.reliability.len(), CALIBRATION_BINS);
    let counts: Vec<usize> = i.reliability.iter().map(|b| b.count).collect();
    let mut expected = vec![0; 15];
    for bin in [6, 9, 12, 13] {
        expected[bin] = 1;
    }
    assert_eq!(counts, expected);
    some_close(i.reliability[9].accuracy, 0.0);
    some_close(i.reliability[9].mean_confidence, f64::from(0.6f32));
    assert_eq!(i.reliability[0].accuracy, None);
    close(i.reliability[14].upper, 1.0);
}

#[test]
fn ece_is_zero_when_perfectly_calibrated() {
    // Confidence 0.8 right 8 times in 10, 0.3 right 3 in 10, 0.55 right 11 in 20.
    let mut intents = Vec::new();
    for (p, right, total) in [(0.8f32, 8, 10), (0.3, 3, 10), (0.55, 11, 20)] {
        for k in 0..total {
            let top = if k < right { "a" } else { "b" };
            intents.push(intent(Some("a"), Some(top), top, p));
        }
    }
    let ece = evaluate(&EvalInput { intents, ..EvalInput::default() }).intent.ece.unwrap();
    assert!(ece < 1e-6, "ECE {ece}");
}

#[test]
fn ece_edges_probability_one_and_not_finite() {
    let intents = vec![
        intent(Some("a"), Some("a"), "a", 1.0),
        intent(Some("a"), Some("a"), "a", f32::NAN),
        IntentOutcome { ranking: Vec::new(), ..intent(Some("a"), None, "a", 0.0) },
    ];
    let i = evaluate(&EvalInput { intents, ..EvalInput::default() }).intent;
    // Only the 1.0 example is usable; it lands in the last bin and is perfectly calibrated.
    assert_eq!(i.reliability[14].count, 1);
    assert_eq!(i.reliability.iter().map(|b| b.count).sum::<usize>(), 1);
    some_close(i.ece, 0.0);
    assert!(!serde_json::to_string(&i).unwrap().contains("NaN"));
}

#[test]
fn threshold_curve_by_hand() {
    let curve = evaluate(&EvalInput { intents: six_intents(), ..EvalInput::default() }).intent.threshold_curve;
    assert_eq!(curve.len(), 101);
    let at = |t: usize| curve[t];
    close(at(50).threshold, 0.5);
    // t = 0: everything kept. In-scope top-1 right: 1, 3, 4; OOS never rejected.
    some_close(at(0).in_scope_accuracy, 0.75);
    some_close(at(0).in_scope_retention, 1.0);
    some_close(at(0).oos_recall, 0.0);
    some_close(at(0).accuracy, 3.0 / 6.0);
    // t = 0.5: 4 (0.4) and 5 (0.3) fall back.
    some_close(at(50).in_scope_accuracy, 0.5);
    some_close(at(50).in_scope_retention, 0.75);
    some_close(at(50).oos_recall, 0.5);
    some_close(at(50).accuracy, 3.0 / 6.0);
    // t = 0.8 keeps the example at exactly 0.8 (compared in f32); 0.81 does not.
    some_close(at(80).in_scope_accuracy, 0.5);
    some_close(at(81).in_scope_accuracy, 0.25);
    // t = 1: everything falls back.
    some_close(at(100).in_scope_accuracy, 0.0);
    some_close(at(100).in_scope_retention, 0.0);
    some_close(at(100).oos_recall, 1.0);
    some_close(at(100).accuracy, 2.0 / 6.0);
}

#[test]
fn no_oos_examples_gives_null_oos_metrics() {
    let intents = vec![intent(Some("a"), Some("a"), "a", 0.9), intent(Some("a"), None, "a", 0.2)];
    let i = evaluate(&EvalInput { intents, ..EvalInput::default() }).intent;
    assert_eq!(i.oos_count, 0);
    assert_eq!(i.oos_recall, None);
    assert_eq!(i.oos_precision, None);
    assert!(i.threshold_curve.iter().all(|p| p.oos_recall.is_none()));
    some_close(i.threshold_curve[50].in_scope_retention, 0.5);
    some_close(i.accuracy, 0.5);
}

#[test]
fn oos_precision_is_null_without_fallbacks() {
    let intents = vec![intent(None, Some("a"), "a", 0.9)];
    let i = evaluate(&EvalInput { intents, ..EvalInput::default() }).intent;
    some_close(i.oos_recall, 0.0);
    assert_eq!(i.oos_precision, None);
    assert_eq!(i.in_scope_accuracy, None);
    assert_eq!(i.ece, None);
}

/// Example A: a boundary error on LOC. Example B: a duplicated DATE and a PER read as LOC.
fn entity_examples() -> Vec<EntityOutcome> {
    vec![
        EntityOutcome {
            gold: vec![span("PER", 0, 5), span("LOC", 10, 15)],
            predicted: vec![span("PER", 0, 5), span("LOC", 11, 15)],
        },
        EntityOutcome {
            gold: vec![span("DATE", 0, 4), span("PER", 6, 10)],
            predicted: vec![span("DATE", 0, 4), span("DATE", 0, 4), span("LOC", 6, 10)],
        },
    ]
}

#[test]
fn entities_exact() {
    let e = evaluate(&EvalInput { entities: entity_examples(), ..EvalInput::default() }).entities.unwrap();
    assert_eq!((e.count, e.gold_spans, e.predicted_spans), (2, 4, 5));
    // tp = PER 0..5 + one DATE 0..4 = 2: P 2/5, R 2/4, F1 0.8/1.8.
    close(e.exact.micro_precision, 0.4);
    close(e.exact.micro_recall, 0.5);
    close(e.exact.micro_f1, 0.8 / 1.8);
    let per = &e.exact.per_type;
    close(per["PER"].f1, 2.0 / 3.0); // P 1/1, R 1/2
    close(per["LOC"].f1, 0.0); // 0 of 2 predictions
    close(per["DATE"].precision, 0.5); // the duplicate is a false positive
    close(per["DATE"].f1, 2.0 / 3.0);
    some_close(e.exact.macro_f1, 4.0 / 9.0);
}

#[test]
fn entities_partial_and_type_confusion() {
    let e = evaluate(&EvalInput { entities: entity_examples(), ..EvalInput::default() }).entities.unwrap();
    // LOC 11..15 now matches LOC 10..15: tp 3, P 3/5, R 3/4.
    close(e.partial.micro_precision, 0.6);
    close(e.partial.micro_recall, 0.75);
    close(e.partial.micro_f1, 2.0 * 0.6 * 0.75 / 1.35);
    close(e.partial.per_type["LOC"].f1, 2.0 / 3.0); // P 1/2, R 1
    some_close(e.partial.macro_f1, 2.0 / 3.0);
    // PER 6..10 predicted as LOC 6..10; the duplicate DATE is not a type confusion.
    assert_eq!(e.type_confusion, vec![TypeConfusion { gold: "PER".to_owned(), predicted: "LOC".to_owned(), count: 1 }]);
}

#[test]
fn partial_matching_is_one_to_one_and_prefers_larger_overlap() {
    // Two predictions inside one gold span: only the larger overlap (2..10) matches.
    let gold = [span("X", 0, 10)];
    let predicted = [span("X", 0, 3), span("X", 2, 10)];
    assert_eq!(match_partial(&gold, &predicted), vec![(0, 1)]);
    // One prediction across two gold spans claims only one of them (largest overlap).
    let gold = [span("X", 0, 3), span("X", 5, 9)];
    let predicted = [span("X", 0, 9)];
    assert_eq!(match_partial(&gold, &predicted), vec![(1, 0)]);
    // Touching half-open spans do not overlap; other types never match.
    let gold = [span("X", 0, 3)];
    assert!(match_partial(&gold, &[span("X", 3, 6)]).is_empty());
    assert!(match_partial(&gold, &[span("Y", 0, 3)]).is_empty());
    // Exact pairs are taken first, so partial is never below exact.
    let gold = [span("X", 0, 4), span("X", 2, 8)];
    let predicted = [span("X", 2, 8), span("X", 0, 4)];
    assert_eq!(match_exact(&gold, &predicted), vec![(1, 0), (0, 1)]);
    assert_eq!(match_partial(&gold, &predicted).len(), 2);
}

#[test]
fn signals_per_signal() {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let signals = vec![
        SignalOutcome { gold: s(&["frustrated"]), predicted: s(&["frustrated", "wants_human"]) },
        SignalOutcome { gold: s(&["wants_human"]), predicted: s(&[]) },
        SignalOutcome { gold: s(&[]), predicted: s(&["frustrated"]) },
        SignalOutcome { gold: s(&["frustrated", "frustrated"]), predicted: s(&["frustrated"]) },
    ];
    let r = evaluate(&EvalInput { signals, ..EvalInput::default() }).signals.unwrap();
    assert_eq!(r.count, 4);
    // frustrated: gold in 1, 4; predicted in 1, 3, 4: P 2/3, R 1, F1 0.8.
    let f = r.per_signal["frustrated"];
    assert_eq!((f.support, f.predictions, f.true_positives), (2, 3, 2));
    close(f.f1, 0.8);
    // wants_human: gold in 2, predicted in 1: all zero.
    close(r.per_signal["wants_human"].f1, 0.0);
    some_close(r.macro_f1, 0.4);
}

#[test]
fn per_language_with_aligned_entities() {
    let mut input = EvalInput { intents: six_intents(), ..EvalInput::default() };
    let r = evaluate(&input);
    assert_eq!(r.per_language.len(), 2); // examples without a language are left out
    assert_eq!(r.per_language["en"].count, 2);
    some_close(r.per_language["en"].intent_accuracy, 0.5);
    some_close(r.per_language["fr"].intent_accuracy, 1.0);
    assert_eq!(r.per_language["en"].slot_f1, None);

    // Aligned: entities[0] and [1] are the English examples, [2] the French one.
    input.entities = vec![EntityOutcome::default(); 6];
    input.entities[0].gold = vec![span("PER", 0, 5)];
    input.entities[0].predicted = vec![span("PER", 0, 5)];
    input.entities[1].gold = vec![span("LOC", 0, 3)];
    input.entities[2].gold = vec![span("LOC", 0, 3)];
    let r = evaluate(&input);
    // en: tp 1, 1 prediction, 2 gold: P 1, R 1/2, F1 2/3. fr: nothing found: 0.
    some_close(r.per_language["en"].slot_f1, 2.0 / 3.0);
    some_close(r.per_language["fr"].slot_f1, 0.0);

    // Not aligned (other length): no slot F1.
    input.entities.truncate(2);
    assert_eq!(evaluate(&input).per_language["en"].slot_f1, None);
}

#[test]
fn empty_input_gives_zero_counts_and_nulls() {
    let r = evaluate(&EvalInput::default());
    assert_eq!((r.intent.count, r.intent.oos_count), (0, 0));
    assert_eq!(r.intent.accuracy, None);
    assert_eq!(r.intent.macro_f1, None);
    assert_eq!(r.intent.ece, None);
    assert!(r.intent.threshold_curve.is_empty());
    assert!(r.entities.is_none() && r.signals.is_none());
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(value["intent"]["accuracy"].is_null());
    assert!(value["entities"].is_null());
    assert!(value["signals"].is_null());
    assert_eq!(value["intent"]["count"], 0);
    let markdown = r.to_markdown();
    assert!(markdown.contains("| intent examples | 0 |"));
    assert!(!markdown.contains("NaN"));
}

#[test]
fn empty_entity_lists_are_finite() {
    let r = evaluate(&EvalInput {
        entities: vec![EntityOutcome::default()],
        signals: vec![SignalOutcome::default()],
        ..EvalInput::default()
    });
    let e = r.entities.as_ref().unwrap();
    close(e.exact.micro_f1, 0.0);
    assert_eq!(e.exact.macro_f1, None);
    assert_eq!(r.signals.as_ref().unwrap().macro_f1, None);
    assert!(!serde_json::to_string(&r).unwrap().contains("NaN"));
}

fn full_input() -> EvalInput {
    let mut input = EvalInput {
        intents: six_intents(),
        entities: entity_examples(),
        signals: vec![SignalOutcome { gold: vec!["frustrated".to_owned()], predicted: vec!["frustrated".to_owned()] }],
        model_threshold: Some(0.5),
    };
    input.entities.resize(6, EntityOutcome::default());
    input
}

#[test]
fn json_keys_and_round_trip() {
    let r = evaluate(&full_input());
    let v = serde_json::to_value(&r).unwrap();
    for key in [
        "accuracy",
        "in_scope_accuracy",
        "oos_recall",
        "oos_precision",
        "macro_f1",
        "per_intent",
        "confused_pairs",
        "ece",
        "reliability",
        "threshold_curve",
        "count",
        "oos_count",
    ] {
        assert!(v["intent"].get(key).is_some(), "intent.{key}");
    }
    assert!(v["intent"]["per_intent"]["a"]["f1"].is_number());
    assert_eq!(v["intent"]["threshold_curve"][50]["threshold"], 0.5);
    for key in ["micro_f1", "micro_precision", "micro_recall", "macro_f1", "per_type"] {
        assert!(v["entities"].get(key).is_some(), "entities.{key}");
        assert!(v["entities"]["partial"].get(key).is_some(), "partial.{key}");
    }
    assert!(v["entities"]["type_confusion"].is_array());
    assert!(v["signals"]["per_signal"]["frustrated"]["support"].is_number());
    assert!(v["per_language"]["en"]["intent_accuracy"].is_number());
    assert!(v["per_language"]["en"].get("slot_f1").is_some());
    let back: Report = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
}

#[test]
fn markdown_lists_problems_first() {
    let md = evaluate(&full_input()).to_markdown();
    for heading in [
        "## Summary",
        "## Intents (lowest F1 first)",
        "## Most confused intents",
        "## Calibration",
        "## Threshold sweep",
        "## Entities",
        "## Signals",
        "## Languages",
    ] {
        assert!(md.contains(heading), "missing {heading}\n{md}");
    }
    // b (F1 0.4) before a (F1 0.667).
    let b = md.find("| b | 0.333").unwrap();
    let a = md.find("| a | 1.000").unwrap();
    assert!(b < a, "{md}");
    assert!(md.contains("| 0.50 (model) |"), "{md}");
    assert!(md.contains("| PER | LOC | 1 |"), "{md}");
    assert!(md.contains("| (fallback) | b | 1 |"), "{md}");
}

#[test]
fn markdown_escapes_table_cells() {
    let intents = vec![intent(Some("a|b"), Some("a|b"), "a|b", 0.9)];
    let md = evaluate(&EvalInput { intents, ..EvalInput::default() }).to_markdown();
    assert!(md.contains("| a\\|b |"), "{md}");
}

#[test]
fn non_finite_model_threshold_is_dropped() {
    let r = evaluate(&EvalInput { model_threshold: Some(f32::NAN), ..EvalInput::default() });
    assert_eq!(r.model_threshold, None);
}
