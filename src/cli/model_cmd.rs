//! `entendu train`, `parse`, `eval`, `benchmark`.

use crate::context::Context;
use crate::encoder_cmd::load_encoder;
use crate::input::LineBatches;
use entendu::eval::run::{evaluate_model_with_mistakes, run_benchmark, BenchmarkOptions};
use entendu::{Nlu, TrainConfig, TrainingData};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A progress callback drawing one indicatif bar per stage (on stderr, hidden when not a terminal).
pub struct Bars {
    bar: Option<(String, ProgressBar)>,
}

impl Bars {
    pub fn new() -> Self {
        Self { bar: None }
    }

    pub fn update(&mut self, stage: &str, done: usize, total: usize) {
        let same = self.bar.as_ref().is_some_and(|(s, _)| s == stage);
        if !same {
            if let Some((_, bar)) = self.bar.take() {
                bar.finish_and_clear();
            }
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{msg:32} {bar:30} {pos}/{len} [{elapsed_precise} < {eta_precise}]")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(stage.to_string());
            self.bar = Some((stage.to_string(), bar));
        }
        if let Some((_, bar)) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    }

    pub fn finish(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Training options shared by `train` and `benchmark`: a configuration file, and the encoder
/// adaptation flags that override it.
#[derive(clap::Args, Debug, Clone)]
pub struct TrainOptions {
    /// Training options as YAML or JSON: a `TrainConfig` (intent, signals, entities and adapt
    /// sections, each field optional; see the library docs). The flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Fine-tune the encoder's top layers on the training utterances first (minutes on a
    /// CPU; the model then stores those layers, a few MB).
    #[arg(long)]
    pub adapt: bool,
    /// With --adapt: how many top layers to fine-tune.
    #[arg(long, value_name = "N")]
    pub adapt_layers: Option<usize>,
    /// With --adapt: most passes over the training utterances.
    #[arg(long, value_name = "N")]
    pub adapt_epochs: Option<usize>,
    /// With --adapt: learning rate of the adapted layers (default 1e-3).
    #[arg(long, value_name = "LR")]
    pub adapt_lr: Option<f64>,
    /// With --adapt, on data with entity annotations: weight of the entity-tagging loss beside
    /// the intent loss (0: adapt to the intents alone, and the tagger reads the encoder's own
    /// token embeddings).
    #[arg(long, value_name = "W")]
    pub adapt_entity_weight: Option<f64>,
}

impl TrainOptions {
    /// The configuration file's settings, or the defaults without one.
    pub fn base_config(&self) -> Result<TrainConfig, String> {
        let Some(path) = &self.config else {
            return Ok(TrainConfig::default());
        };
        let text = std::fs::read_to_string(path).context(&path.display().to_string())?;
        let shape = "expected a training configuration: keys encoder, seed, intent, signals, entities, adapt";
        // YAML reads JSON too.
        let given: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e} ({shape})", path.display()))?;
        let config: TrainConfig =
            serde_yaml_ng::from_value(given.clone()).map_err(|e| format!("{}: {e} ({shape})", path.display()))?;
        // Every field has a default, so a misspelt key would be ignored silently: compare with
        // the keys the configuration has.
        let known = serde_yaml_ng::to_value(&config).context("configuration")?;
        if let Some(key) = unknown_key(&given, &known, "") {
            return Err(format!("{}: unknown key `{key}` ({shape}; see `TrainConfig` in the docs)", path.display()));
        }
        Ok(config)
    }

    /// `base` with the encoder actually loaded, the seed when given, and these flags.
    pub fn config(&self, base: TrainConfig, encoder: &str, seed: Option<u64>) -> TrainConfig {
        let mut config = TrainConfig { encoder: encoder.to_string(), ..base };
        if let Some(seed) = seed {
            config.seed = seed;
        }
        config.adapt.enabled |= self.adapt;
        if let Some(layers) = self.adapt_layers {
            config.adapt.layers = layers;
        }
        if let Some(epochs) = self.adapt_epochs {
            config.adapt.max_epochs = epochs;
        }
        if let Some(lr) = self.adapt_lr {
            config.adapt.learning_rate = lr;
        }
        if let Some(weight) = self.adapt_entity_weight {
            config.adapt.entity_loss_weight = weight;
        }
        config
    }
}

/// The first key of `given` (a path such as `signals.head.hiden`) that `known` lacks.
fn unknown_key(given: &serde_yaml_ng::Value, known: &serde_yaml_ng::Value, prefix: &str) -> Option<String> {
    let (serde_yaml_ng::Value::Mapping(given), serde_yaml_ng::Value::Mapping(known)) = (given, known) else {
        return None;
    };
    given.iter().find_map(|(key, value)| {
        let name = key.as_str().map_or_else(|| format!("{key:?}"), str::to_string);
        let path = if prefix.is_empty() { name } else { format!("{prefix}.{name}") };
        match known.get(key) {
            None => Some(path),
            Some(inner) => unknown_key(value, inner, &path),
        }
    })
}

fn load_data(paths: &[PathBuf]) -> Result<TrainingData, String> {
    if paths.is_empty() {
        return Err("no training data given: pass one or more files (YAML, Rasa YAML/Markdown, CSV)".into());
    }
    let data = TrainingData::load_all(paths).map_err(|e| e.to_string())?;
    for warning in data.check() {
        eprintln!("warning: {warning}");
    }
    Ok(data)
}

/// `entendu train DATA... --out DIR`.
pub fn train_cmd(
    data: &[PathBuf],
    validation: &[PathBuf],
    out: &Path,
    encoder: Option<&str>,
    seed: Option<u64>,
    options: &TrainOptions,
    adapter_from: Option<&Path>,
) -> Result<(), String> {
    let base = options.base_config()?;
    let data = load_data(data)?;
    let validation = if validation.is_empty() { None } else { Some(load_data(validation)?) };
    let encoder = Arc::new(load_encoder(Some(encoder.unwrap_or(&base.encoder)))?);
    let config = options.config(base, &encoder.info().name, seed);
    let mut bars = Bars::new();
    let started = std::time::Instant::now();
    let nlu = match adapter_from {
        Some(source) => {
            let source = Nlu::load_with_encoder(source, encoder).context(&source.display().to_string())?;
            Nlu::train_reusing_adapter(&source, &data, validation.as_ref(), &config, &mut |s, d, t| {
                bars.update(s, d, t)
            })
        }
        None => {
            Nlu::train_with_encoder(encoder, &data, validation.as_ref(), &config, &mut |s, d, t| bars.update(s, d, t))
        }
    }
    .context("train")?;
    bars.finish();
    nlu.save(out).context("save")?;
    let t = nlu.thresholds();
    let choice = &nlu.manifest().intent.threshold_choice;
    eprintln!(
        "trained {} intents on {} examples in {:.1}s; threshold {:.3} ({}), ambiguity margin {:.2}, temperature {:.3}; held-out in-scope accuracy {:.1}%{}",
        nlu.intents().len(),
        data.examples.len(),
        started.elapsed().as_secs_f64(),
        t.confidence,
        choice.method,
        t.ambiguity_margin,
        nlu.manifest().intent.temperature,
        100.0 * choice.in_scope_accuracy,
        choice.oos_recall.map(|r| format!(", out-of-scope recall {:.1}%", 100.0 * r)).unwrap_or_default()
    );
    println!("{}", out.display());
    Ok(())
}

/// `entendu parse MODEL [TEXT...]`: one JSON line per utterance; stdin lines when no TEXT,
/// each answered (and flushed) as it arrives.
pub fn parse_cmd(model: &Path, texts: &[String], threshold: Option<f32>, cache_mb: usize) -> Result<(), String> {
    let mut nlu = load_model(model)?;
    nlu.set_cache_budget(cache_mb.saturating_mul(1 << 20));
    if let Some(t) = threshold {
        let mut thresholds = nlu.thresholds();
        thresholds.confidence = t;
        nlu.set_thresholds(thresholds);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut emit = |parses: Vec<entendu::Parse>| -> Result<(), String> {
        for parse in parses {
            writeln!(out, "{}", serde_json::to_string(&parse).context("JSON")?).context("stdout")?;
        }
        out.flush().context("stdout")
    };
    if !texts.is_empty() {
        return emit(nlu.parse_batch(texts).context("parse")?);
    }
    let mut batches = LineBatches::stdin(32);
    while let Some(batch) = batches.next_batch() {
        let lines: Vec<&str> = batch.iter().map(|(_, t)| t.as_str()).collect();
        emit(nlu.parse_batch(&lines).context("parse")?)?;
    }
    Ok(())
}

/// Loads a model with the encoder it names; a model trained with another copy of that encoder
/// (the hub's f32 weights vs the offline ones) is retrained once from its recorded training
/// files (see `Nlu::load_or_retrain`), else reported with the fix.
pub fn load_model(model: &Path) -> Result<Nlu, String> {
    let manifest = entendu::model::read_manifest(model).map_err(|e| e.to_string())?;
    let encoder = Arc::new(load_encoder(Some(&manifest.encoder.name))?);
    let mut bars = Bars::new();
    let (nlu, retrained) =
        Nlu::load_or_retrain(model, encoder, &mut |s, d, t| bars.update(s, d, t)).map_err(|e| e.to_string())?;
    bars.finish();
    if retrained {
        eprintln!(
            "note: {} was trained with other weights of encoder {}: using its retrained copy for this encoder",
            model.display(),
            manifest.encoder.name
        );
    }
    Ok(nlu)
}

/// `entendu eval MODEL DATA... [--json FILE] [--report DIR]`.
pub fn eval_cmd(
    model: &Path,
    data: &[PathBuf],
    json: Option<&Path>,
    report_dir: Option<&Path>,
    errors: Option<&Path>,
) -> Result<(), String> {
    let nlu = load_model(model)?;
    let data = load_data(data)?;
    let mut bars = Bars::new();
    let (report, mistakes) =
        evaluate_model_with_mistakes(&nlu, &data, &mut |s, d, t| bars.update(s, d, t)).context("evaluate")?;
    bars.finish();
    if let Some(path) = errors {
        let mut lines = String::new();
        for mistake in &mistakes {
            lines.push_str(&serde_json::to_string(mistake).context("JSON")?);
            lines.push('\n');
        }
        std::fs::write(path, lines).context(&path.display().to_string())?;
        eprintln!("{} examples with a mistake written to {}", mistakes.len(), path.display());
    }
    let markdown = report.to_markdown();
    println!("{markdown}");
    let value = serde_json::to_value(&report).context("JSON")?;
    if let Some(path) = json {
        write_json(path, &value)?;
    }
    if let Some(dir) = report_dir {
        std::fs::create_dir_all(dir).context(&dir.display().to_string())?;
        std::fs::write(dir.join("report.md"), &markdown).context("report.md")?;
        write_json(&dir.join("report.json"), &value)?;
        let files = entendu::eval::plots::write_plots(&report, dir).map_err(|e| format!("plots: {e}"))?;
        eprintln!("report written to {} ({} plots)", dir.display(), files.len());
    }
    Ok(())
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).context("JSON")?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).context(&parent.display().to_string())?;
    }
    std::fs::write(path, text).context(&path.display().to_string())
}

/// `entendu benchmark SUITE`.
/// `entendu benchmark`'s options besides the suite and the adaptation.
pub struct BenchmarkArgs {
    pub encoder: Option<String>,
    pub datasets: Option<PathBuf>,
    pub eval_dir: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub seed: Option<u64>,
    pub save: Option<PathBuf>,
}

pub fn benchmark_cmd(suite: &str, args: &BenchmarkArgs, options: &TrainOptions) -> Result<(), String> {
    let base = options.base_config()?;
    let encoder = Arc::new(load_encoder(Some(args.encoder.as_deref().unwrap_or(&base.encoder)))?);
    let config = options.config(base, &encoder.info().name, args.seed);
    let mut options = BenchmarkOptions::default();
    if let Some(d) = &args.datasets {
        options.datasets = d.clone();
    }
    options.eval_dir = args.eval_dir.clone();
    options.save = args.save.clone();
    let json = args.json.as_deref();
    let mut bars = Bars::new();
    let result =
        run_benchmark(suite, encoder, &config, &options, &mut |s, d, t| bars.update(s, d, t)).context(suite)?;
    bars.finish();
    let get = |path: &str| -> String {
        let mut v = &result;
        for key in path.split('.') {
            v = &v[key];
        }
        match v.as_f64() {
            Some(x) if path.ends_with("seconds") => format!("{x:.1}"),
            Some(x) => format!("{:.2}", 100.0 * x),
            None => "-".into(),
        }
    };
    println!("| suite | encoder | accuracy | in-scope acc | OOS recall | macro-F1 | ECE | slot F1 | train s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {suite} | {} | {} | {} | {} | {} | {} | {} | {} |",
        result["encoder"].as_str().unwrap_or("?"),
        get("intent.accuracy"),
        get("intent.in_scope_accuracy"),
        get("intent.oos_recall"),
        get("intent.macro_f1"),
        get("intent.ece"),
        get("entities.micro_f1"),
        get("train_seconds")
    );
    if let Some(langs) = result["per_language"].as_object() {
        println!("\n| language | intent accuracy | top-1 (no fallback) | slot F1 |\n|---|---|---|---|");
        for (lang, v) in langs {
            let pct = |x: &serde_json::Value| x.as_f64().map(|x| format!("{:.2}", 100.0 * x)).unwrap_or("-".into());
            println!(
                "| {lang} | {} | {} | {} |",
                pct(&v["intent_accuracy"]),
                pct(&v["intent_top1_accuracy"]),
                pct(&v["slot_f1"])
            );
        }
    }
    if let Some(path) = json {
        write_json(path, &result)?;
    }
    Ok(())
}
