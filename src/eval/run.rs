//! Running a model over labelled data, and the benchmark suites.

use super::{evaluate, EntityOutcome, EvalInput, IntentOutcome, Report, SignalOutcome, Span};
use crate::data::TrainingData;
use crate::error::Result;
use crate::intent::Decision;
use crate::nlu::{Nlu, ProgressFn};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Parses every example of `data` with `nlu` and compares with the labels.
pub fn evaluate_model(nlu: &Nlu, data: &TrainingData, progress: ProgressFn) -> Result<Report> {
    let input = outcomes(nlu, data, progress)?;
    Ok(evaluate(&input))
}

/// The model's outcomes on `data`, ready for [`evaluate`].
pub fn outcomes(nlu: &Nlu, data: &TrainingData, progress: ProgressFn) -> Result<EvalInput> {
    Ok(outcomes_and_mistakes(nlu, data, progress)?.0)
}

/// Like [`evaluate_model`], plus every example the model got wrong in some way ([`Mistake`]),
/// in the data's order: what to read to improve the training data.
pub fn evaluate_model_with_mistakes(
    nlu: &Nlu,
    data: &TrainingData,
    progress: ProgressFn,
) -> Result<(Report, Vec<Mistake>)> {
    let (input, mistakes) = outcomes_and_mistakes(nlu, data, progress)?;
    Ok((evaluate(&input), mistakes))
}

fn outcomes_and_mistakes(nlu: &Nlu, data: &TrainingData, progress: ProgressFn) -> Result<(EvalInput, Vec<Mistake>)> {
    let mut intents = Vec::with_capacity(data.examples.len());
    let mut signals = Vec::new();
    let mut entities = Vec::new();
    let mut mistakes = Vec::new();
    // Only entity types the data annotates can be judged: a built-in `number` in a data set
    // that never annotates numbers is neither right nor wrong.
    let annotated: std::collections::BTreeSet<&str> =
        data.examples.iter().flat_map(|e| e.entities.iter().map(|a| a.entity.as_str())).collect();
    let total = data.examples.len();
    progress("evaluating", 0, total);
    for (i, chunk) in data.examples.chunks(256).enumerate() {
        let texts: Vec<&str> = chunk.iter().map(|e| e.text.as_str()).collect();
        let parses = nlu.parse_batch(&texts)?;
        for (example, parse) in chunk.iter().zip(parses) {
            let intent = IntentOutcome {
                gold: example.intent.clone(),
                // An ambiguous decision counts as its first candidate: the bot offers it first,
                // and accuracy stays the top-1 accuracy peers report.
                predicted: match &parse.decision {
                    Decision::Ambiguous { candidates } => candidates.first().map(|c| c.name.clone()),
                    other => other.intent().map(str::to_string),
                },
                ranking: parse.ranking.iter().map(|s| (s.name.clone(), s.confidence)).collect(),
                language: example.language.clone(),
            };
            let entity = EntityOutcome {
                gold: example
                    .entities
                    .iter()
                    .map(|a| Span { entity: a.entity.clone(), start: a.start, end: a.end })
                    .collect(),
                predicted: parse
                    .entities
                    .iter()
                    .filter(|e| annotated.contains(e.entity.as_str()))
                    .map(|e| Span { entity: e.entity.clone(), start: e.start, end: e.end })
                    .collect(),
            };
            let signal = SignalOutcome {
                gold: example.signals.clone(),
                predicted: parse.signals.iter().filter(|s| s.active).map(|s| s.name.clone()).collect(),
            };
            if let Some(mistake) = Mistake::of(example, &parse.decision, &intent, &entity, &signal) {
                mistakes.push(mistake);
            }
            intents.push(intent);
            if !annotated.is_empty() {
                entities.push(entity);
            }
            if !parse.signals.is_empty() || !example.signals.is_empty() {
                signals.push(signal);
            }
        }
        progress("evaluating", ((i + 1) * 256).min(total), total);
    }
    let input = EvalInput { intents, entities, signals, model_threshold: Some(nlu.thresholds().confidence) };
    Ok((input, mistakes))
}

/// An example the model got wrong: its intent, an entity (exact span and type) or a signal.
/// `entendu eval --errors FILE` writes one per line, as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mistake {
    /// `file:line` of the example, when it came from a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The utterance.
    pub text: String,
    /// The gold intent (`None`: out of scope).
    pub intent: Option<String>,
    /// What the model decided: its intent, `"ambiguous: a | b"`, `"out_of_scope"` or `"empty"`.
    pub decided: String,
    /// The confidence of the top-ranked intent.
    pub confidence: f32,
    /// Gold entities the model did not find exactly (`type: text`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missed_entities: Vec<String>,
    /// Entities the model found that are not gold (`type: text`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spurious_entities: Vec<String>,
    /// Gold signals the model did not raise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missed_signals: Vec<String>,
    /// Signals the model raised that are not gold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spurious_signals: Vec<String>,
}

impl Mistake {
    /// The mistake on `example`, or `None` when every judged part is right.
    fn of(
        example: &crate::data::Example,
        decision: &Decision,
        intent: &IntentOutcome,
        entities: &EntityOutcome,
        signals: &SignalOutcome,
    ) -> Option<Self> {
        let text_of = |s: &Span| format!("{}: {}", s.entity, example.text.get(s.start..s.end).unwrap_or_default());
        let missing = |a: &[Span], b: &[Span]| a.iter().filter(|s| !b.contains(s)).map(text_of).collect::<Vec<_>>();
        let missing_names =
            |a: &[String], b: &[String]| a.iter().filter(|s| !b.contains(s)).cloned().collect::<Vec<_>>();
        let mistake = Self {
            source: example.source.as_ref().map(|s| format!("{}:{}", s.path.display(), s.line)),
            text: example.text.clone(),
            intent: intent.gold.clone(),
            decided: match decision {
                Decision::Intent { name, .. } => name.clone(),
                Decision::Ambiguous { candidates } => {
                    let names: Vec<&str> = candidates.iter().map(|c| c.name.as_str()).collect();
                    format!("ambiguous: {}", names.join(" | "))
                }
                Decision::OutOfScope { .. } => "out_of_scope".into(),
                Decision::Empty => "empty".into(),
            },
            confidence: intent.ranking.first().map_or(0.0, |r| r.1),
            missed_entities: missing(&entities.gold, &entities.predicted),
            spurious_entities: missing(&entities.predicted, &entities.gold),
            missed_signals: missing_names(&signals.gold, &signals.predicted),
            spurious_signals: missing_names(&signals.predicted, &signals.gold),
        };
        let wrong = intent.gold != intent.predicted
            || !mistake.missed_entities.is_empty()
            || !mistake.spurious_entities.is_empty()
            || !mistake.missed_signals.is_empty()
            || !mistake.spurious_signals.is_empty();
        wrong.then_some(mistake)
    }
}

/// Where the benchmark suites find their data.
#[derive(Debug, Clone)]
pub struct BenchmarkOptions {
    /// Folder holding `clinc150/`, `banking77/`, `snips/`, `xsid/` (default `../shared/datasets`).
    pub datasets: PathBuf,
    /// For xSID: the folder whose `<lang>.*.conll` files are evaluated (default: the xSID folder).
    pub eval_dir: Option<PathBuf>,
    /// Where to save the trained model, if anywhere.
    pub save: Option<PathBuf>,
}

impl Default for BenchmarkOptions {
    fn default() -> Self {
        Self { datasets: PathBuf::from("../shared/datasets"), eval_dir: None, save: None }
    }
}

/// The test sets of a suite: `(language or "", data)`. xSID evaluates every
/// `<lang>.*.conll` file of `eval_dir`.
pub(crate) fn xsid_test_sets(dir: &Path) -> Result<Vec<(String, TrainingData)>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| crate::Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conll"))
        .collect();
    files.sort();
    let mut sets: Vec<(String, TrainingData)> = Vec::new();
    for path in files {
        let Some(lang) =
            path.file_name().and_then(|n| n.to_str()).and_then(|n| n.split('.').next()).map(str::to_string)
        else {
            continue;
        };
        let data = crate::data::benchmarks::read_conll_file(&path, &lang)?;
        match sets.iter_mut().find(|(l, _)| *l == lang) {
            Some((_, existing)) => existing.merge(data),
            None => sets.push((lang, data)),
        }
    }
    Ok(sets)
}

/// Trains on a suite's train split (thresholds from its validation split), evaluates on its
/// test split(s), and returns the benchmark JSON: `suite`, `encoder`, `train_seconds`,
/// `intent.*` (see [`Report`]), `entities.*` when the suite has slots, and for xSID
/// `per_language.<lang>.intent_accuracy` for every `<lang>.*.conll` of the eval folder, and
/// `validation.*`: the headline measures on the validation split, the one to choose settings on.
pub fn run_benchmark(
    suite: &str,
    encoder: std::sync::Arc<crate::Encoder>,
    config: &crate::TrainConfig,
    options: &BenchmarkOptions,
    progress: ProgressFn,
) -> Result<serde_json::Value> {
    let suite = suite.to_ascii_lowercase();
    let dir = options.datasets.join(&suite);
    let splits = crate::data::benchmarks::load(&suite, &dir)?;
    let started = std::time::Instant::now();
    let nlu = Nlu::train_with_encoder(encoder, &splits.train, splits.valid.as_ref(), config, progress)?;
    let train_seconds = started.elapsed().as_secs_f64();
    if let Some(dir) = &options.save {
        nlu.save(dir)?;
    }
    let report = evaluate_model(&nlu, &splits.test, progress)?;
    // The same measures on the validation split, so that settings (layers, learning rate,
    // loss weights) are chosen on it and never on the test figures.
    let validation = match &splits.valid {
        Some(valid) => {
            let r = evaluate_model(&nlu, valid, progress)?;
            serde_json::json!({
                "examples": valid.examples.len(),
                "intent_accuracy": r.intent.accuracy,
                "in_scope_accuracy": r.intent.in_scope_accuracy,
                "oos_recall": r.intent.oos_recall,
                "slot_f1": r.entities.as_ref().map(|e| e.exact.micro_f1),
            })
        }
        None => serde_json::Value::Null,
    };
    let mut json = serde_json::json!({
        "suite": suite,
        "encoder": nlu.encoder().info().name,
        "encoder_sha256": nlu.encoder().info().weights_sha256,
        "train_examples": splits.train.examples.len(),
        "test_examples": splits.test.examples.len(),
        "train_seconds": train_seconds,
        "threshold": nlu.thresholds(),
        "intent": report.intent,
        "entities": report.entities,
        "signals": report.signals,
        // With --adapt: the adaptation's curve (held-out accuracy after each epoch, seconds).
        "adapter": nlu.manifest().adapter,
        "validation": validation,
    });
    if suite == "xsid" {
        let eval_dir = options.eval_dir.clone().unwrap_or(dir);
        let mut per_language = serde_json::Map::new();
        for (lang, data) in xsid_test_sets(&eval_dir)? {
            let report = evaluate_model(&nlu, &data, progress)?;
            per_language.insert(
                lang,
                serde_json::json!({
                    "examples": data.examples.len(),
                    "intent_accuracy": report.intent.accuracy,
                    // The top-ranked intent against the gold one, whatever its confidence: how
                    // much of the gap to English is understanding and how much is caution.
                    "intent_top1_accuracy": report.intent.threshold_curve.first().and_then(|p| p.in_scope_accuracy),
                    "slot_f1": report.entities.as_ref().map(|e| e.exact.micro_f1),
                }),
            );
        }
        if let Some(object) = json.as_object_mut() {
            object.insert("per_language".into(), serde_json::Value::Object(per_language));
        }
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{EntityAnnotation, Example, Source};

    #[test]
    fn a_mistake_says_what_was_wrong_and_where() {
        let text = "rappelez-moi pour la commande 48213";
        let example = Example {
            text: text.into(),
            intent: Some("track_order".into()),
            entities: vec![EntityAnnotation {
                entity: "order_id".into(),
                start: 30,
                end: 35,
                text: "48213".into(),
                value: None,
            }],
            language: None,
            signals: vec!["wants_human".into()],
            source: Some(Source { path: "test.yml".into(), line: 7 }),
        };
        let span = |entity: &str, start, end| Span { entity: entity.into(), start, end };
        let intent = |predicted: &str| IntentOutcome {
            gold: Some("track_order".into()),
            predicted: Some(predicted.into()),
            ranking: vec![(predicted.into(), 0.8)],
            language: None,
        };
        let entities =
            EntityOutcome { gold: vec![span("order_id", 30, 35)], predicted: vec![span("order_id", 30, 35)] };
        let signals = SignalOutcome { gold: vec!["wants_human".into()], predicted: vec!["wants_human".into()] };
        let right = Decision::Intent { name: "track_order".into(), confidence: 0.8 };
        assert_eq!(Mistake::of(&example, &right, &intent("track_order"), &entities, &signals), None);

        let wrong = Decision::Intent { name: "refund".into(), confidence: 0.8 };
        let entities =
            EntityOutcome { gold: entities.gold, predicted: vec![span("order_id", 30, 34), span("date", 0, 4)] };
        let signals = SignalOutcome { gold: signals.gold, predicted: vec!["frustrated".into()] };
        let mistake = Mistake::of(&example, &wrong, &intent("refund"), &entities, &signals).unwrap();
        assert_eq!(mistake.source.as_deref(), Some("test.yml:7"));
        assert_eq!((mistake.intent.as_deref(), mistake.decided.as_str()), (Some("track_order"), "refund"));
        assert_eq!(mistake.missed_entities, ["order_id: 48213"]);
        assert_eq!(mistake.spurious_entities, ["order_id: 4821", "date: rapp"]);
        assert_eq!(
            (mistake.missed_signals.as_slice(), mistake.spurious_signals.as_slice()),
            (&["wants_human".to_string()][..], &["frustrated".to_string()][..])
        );
    }
}
