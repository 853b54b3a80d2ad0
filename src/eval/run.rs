//! Running a model over labelled data, and the benchmark suites.

use super::{evaluate, EntityOutcome, EvalInput, IntentOutcome, Report, SignalOutcome, Span};
use crate::data::TrainingData;
use crate::error::Result;
use crate::intent::Decision;
use crate::nlu::{Nlu, ProgressFn};
use std::path::{Path, PathBuf};

/// Parses every example of `data` with `nlu` and compares with the labels.
pub fn evaluate_model(nlu: &Nlu, data: &TrainingData, progress: ProgressFn) -> Result<Report> {
    let input = outcomes(nlu, data, progress)?;
    Ok(evaluate(&input))
}

/// The model's outcomes on `data`, ready for [`evaluate`].
pub fn outcomes(nlu: &Nlu, data: &TrainingData, progress: ProgressFn) -> Result<EvalInput> {
    let mut intents = Vec::with_capacity(data.examples.len());
    let mut signals = Vec::new();
    let mut entities = Vec::new();
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
            intents.push(IntentOutcome {
                gold: example.intent.clone(),
                // An ambiguous decision counts as its first candidate: the bot offers it first,
                // and accuracy stays the top-1 accuracy peers report.
                predicted: match &parse.decision {
                    Decision::Ambiguous { candidates } => candidates.first().map(|c| c.name.clone()),
                    other => other.intent().map(str::to_string),
                },
                ranking: parse.ranking.iter().map(|s| (s.name.clone(), s.confidence)).collect(),
                language: example.language.clone(),
            });
            if !annotated.is_empty() {
                entities.push(EntityOutcome {
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
                });
            }
            if !parse.signals.is_empty() || !example.signals.is_empty() {
                signals.push(SignalOutcome {
                    gold: example.signals.clone(),
                    predicted: parse.signals.iter().filter(|s| s.active).map(|s| s.name.clone()).collect(),
                });
            }
        }
        progress("evaluating", ((i + 1) * 256).min(total), total);
    }
    Ok(EvalInput { intents, entities, signals, model_threshold: Some(nlu.thresholds().confidence) })
}

/// Where the benchmark suites find their data.
#[derive(Debug, Clone)]
pub struct BenchmarkOptions {
    /// Folder holding `clinc150/`, `banking77/`, `snips/`, `xsid/` (default `../shared/datasets`).
    pub datasets: PathBuf,
    /// For xSID: the folder whose `<lang>.*.conll` files are evaluated (default: the xSID folder).
    pub eval_dir: Option<PathBuf>,
}

impl Default for BenchmarkOptions {
    fn default() -> Self {
        Self { datasets: PathBuf::from("../shared/datasets"), eval_dir: None }
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
