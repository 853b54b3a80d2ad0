//! [`Nlu`]: the engine a bot talks to. Text → encoder → heads → [`Parse`].

use crate::data::TrainingData;
use crate::encoder::Encoder;
use crate::entity::declared::DeclaredExtractor;
use crate::error::{Error, Result};
use crate::intent::{Decision, IntentClassifier, IntentConfig, LabelledEmbeddings, Thresholds};
use crate::model::{self, Manifest};
use crate::normalize::{is_blank, Nfc};
use crate::parse::{Parse, ParseOptions};
use crate::signal::{SignalClassifier, SignalConfig};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// How to train a model. Every field has a default; `TrainConfig::default()` is a good start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Encoder name or directory (see [`Encoder::load`]).
    pub encoder: String,
    /// Seed of every random choice: the same data, config and seed give the same model.
    pub seed: u64,
    /// Intent classifier options.
    pub intent: IntentConfig,
    /// Signal heads (`wants_human`, `frustrated`, …) options.
    pub signals: SignalConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            encoder: crate::encoder::DEFAULT_ENCODER.to_string(),
            seed: 42,
            intent: IntentConfig::default(),
            signals: SignalConfig::default(),
        }
    }
}

/// Progress of long work, for progress bars: `(stage, done, total)`.
pub type ProgressFn<'a> = &'a mut dyn FnMut(&str, usize, usize);

/// A trained natural-language-understanding model: intents (with out-of-scope fallback and
/// ambiguity), entities and signals, on a shared encoder.
///
/// `Nlu` is `Send + Sync`: share one behind an `Arc` across threads.
///
/// ```no_run
/// use entendu::{Nlu, TrainConfig, TrainingData};
/// let data = TrainingData::load("datasets/support/train.fr.yml")?;
/// let nlu = Nlu::train(&data, &TrainConfig::default())?;
/// nlu.save("models/my-bot")?;
/// let parse = nlu.parse("où en est ma commande ?")?;
/// println!("{:?} {:?}", parse.intent(), parse.ranking.first());
/// # Ok::<(), entendu::Error>(())
/// ```
pub struct Nlu {
    encoder: Arc<Encoder>,
    intent: IntentClassifier,
    signals: Option<SignalClassifier>,
    declared: DeclaredExtractor,
    manifest: Manifest,
}

impl Nlu {
    /// Trains on `data` with the encoder named in `config` (loaded for the occasion).
    pub fn train(data: &TrainingData, config: &TrainConfig) -> Result<Self> {
        let encoder = Arc::new(Encoder::load(&config.encoder)?);
        Self::train_with_encoder(encoder, data, None, config, &mut |_, _, _| {})
    }

    /// Trains with an already loaded encoder. `validation` (optional) chooses the calibration
    /// and thresholds; without it a share of `data` is held out. `progress` hears about the
    /// embedding of the examples, the long part.
    pub fn train_with_encoder(
        encoder: Arc<Encoder>,
        data: &TrainingData,
        validation: Option<&TrainingData>,
        config: &TrainConfig,
        progress: ProgressFn,
    ) -> Result<Self> {
        let _span = tracing::info_span!("train", examples = data.examples.len()).entered();
        let started = std::time::Instant::now();
        let declared = DeclaredExtractor::new(&data.entities)?;
        if data.examples.is_empty() {
            return Err(Error::Data("no examples: the training data is empty".into()));
        }
        let x = embed_examples(&encoder, data, "embedding training examples", progress)?;
        let labels: Vec<Option<String>> = data.examples.iter().map(|e| e.intent.clone()).collect();
        let val = match validation {
            Some(v) if !v.examples.is_empty() => {
                let vx = embed_examples(&encoder, v, "embedding validation examples", progress)?;
                let vl: Vec<Option<String>> = v.examples.iter().map(|e| e.intent.clone()).collect();
                Some((vx, vl))
            }
            _ => None,
        };
        progress("training the intent head", 0, 1);
        let intent = IntentClassifier::train(
            LabelledEmbeddings { x: &x, labels: &labels },
            val.as_ref().map(|(vx, vl)| LabelledEmbeddings { x: vx, labels: vl }),
            &config.intent,
            config.seed,
        )?;
        progress("training the intent head", 1, 1);
        progress("training the signal heads", 0, 1);
        let texts: Vec<&str> = data.examples.iter().map(|e| e.text.as_str()).collect();
        let example_signals: Vec<Vec<String>> = data.examples.iter().map(|e| e.signals.clone()).collect();
        let signals = SignalClassifier::train(&x, &texts, &example_signals, &config.signals, config.seed)?;
        progress("training the signal heads", 1, 1);
        let manifest = Manifest {
            format_version: model::FORMAT_VERSION,
            entendu_version: env!("CARGO_PKG_VERSION").to_string(),
            encoder: encoder.info().clone(),
            intent: intent.meta().clone(),
            signals: signals.as_ref().map(|s| s.meta().to_vec()).unwrap_or_default(),
            intents: data.intents.clone(),
            entities: data.entities.clone(),
            train_config: serde_json::to_value(config)?,
            metrics: serde_json::json!({
                "held_out": intent.meta().threshold_choice,
                "train_seconds": started.elapsed().as_secs_f64(),
                "examples": data.examples.len(),
            }),
            files: Default::default(),
            training_files: training_files(data)?,
        };
        Ok(Self { encoder, intent, signals, declared, manifest })
    }

    /// Loads a model directory and the encoder it was trained with (found as
    /// [`Encoder::load`] finds it). Fails clearly if the encoder's weights differ.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let (manifest, _) = model::load(dir)?;
        let encoder = Arc::new(Encoder::load(&manifest.encoder.name)?);
        Self::load_with_encoder(dir, encoder)
    }

    /// Loads a model directory with an encoder already in memory (many bots can share one).
    pub fn load_with_encoder(dir: impl AsRef<Path>, encoder: Arc<Encoder>) -> Result<Self> {
        let dir = dir.as_ref();
        let (mut manifest, tensors) = model::load(dir)?;
        for file in &mut manifest.training_files {
            if file.path.is_relative() {
                file.path = dir.join(&file.path);
            }
        }
        let trained = &manifest.encoder;
        let given = encoder.info();
        if trained.weights_sha256 != given.weights_sha256 || trained.dim != given.dim {
            return Err(Error::EncoderMismatch {
                path: dir.to_path_buf(),
                trained: format!("{} (weights sha256 {}…)", trained.name, trained.weights_sha256.get(..12).unwrap_or("")),
                loaded: format!(
                    "{} (sha256 {}…, from {})",
                    given.name,
                    given.weights_sha256.get(..12).unwrap_or(""),
                    encoder.dir().display()
                ),
            });
        }
        let head = crate::intent::head::Head::from_tensors(&tensors, "intent")?.ok_or_else(|| Error::Artifact {
            path: dir.join(model::WEIGHTS_FILE),
            message: "no intent head in the weights; train the model again".into(),
        })?;
        let intent = IntentClassifier::from_parts(head, manifest.intent.clone())
            .map_err(|e| Error::Artifact { path: dir.to_path_buf(), message: e.to_string() })?;
        let signals = SignalClassifier::from_parts(&tensors, manifest.signals.clone())
            .map_err(|e| Error::Artifact { path: dir.join(model::WEIGHTS_FILE), message: e.to_string() })?;
        let declared = DeclaredExtractor::new(&manifest.entities)
            .map_err(|e| Error::Artifact { path: dir.join(model::MANIFEST_FILE), message: e.to_string() })?;
        Ok(Self { encoder, intent, signals, declared, manifest })
    }

    /// Loads the model at `dir` if it was trained with `encoder`'s weights; otherwise retrains
    /// it for `encoder` from the training files recorded in its manifest (they must still be
    /// there, unchanged) with the same configuration, and keeps the result beside it
    /// (`<dir>.<encoder sha256 prefix>`) so the retraining happens once. The second value says
    /// whether it retrained.
    ///
    /// This is what lets a model shipped with an application run on either copy of its
    /// encoder (the hub's f32 weights, or the offline 4-bit-derived ones); retraining the
    /// support model takes about a minute on two cores.
    ///
    /// ```no_run
    /// use entendu::{Encoder, Nlu};
    /// use std::sync::Arc;
    /// let encoder = Arc::new(Encoder::load("multilingual-e5-small")?);
    /// let (nlu, retrained) = Nlu::load_or_retrain("models/support", encoder, &mut |_, _, _| {})?;
    /// # Ok::<(), entendu::Error>(())
    /// ```
    pub fn load_or_retrain(dir: impl AsRef<Path>, encoder: Arc<Encoder>, progress: ProgressFn) -> Result<(Self, bool)> {
        let dir = dir.as_ref();
        let mismatch = match Self::load_with_encoder(dir, encoder.clone()) {
            Ok(nlu) => return Ok((nlu, false)),
            Err(e @ Error::EncoderMismatch { .. }) => e,
            Err(e) => return Err(e),
        };
        let sha = encoder.info().weights_sha256.get(..12).unwrap_or("other").to_string();
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
        let cached = dir.with_file_name(format!("{name}.{sha}"));
        if let Ok(nlu) = Self::load_with_encoder(&cached, encoder.clone()) {
            return Ok((nlu, true));
        }
        let (manifest, _) = model::load(dir)?;
        if manifest.training_files.is_empty() {
            return Err(mismatch);
        }
        let mut paths = Vec::new();
        for file in &manifest.training_files {
            let path = if file.path.is_absolute() { file.path.clone() } else { dir.join(&file.path) };
            let unchanged = path.is_file() && crate::util::sha256_file(&path)? == file.sha256;
            if !unchanged {
                return Err(Error::Artifact {
                    path: path.clone(),
                    message: format!(
                        "{mismatch}; retraining needs this training file, unchanged since {} was trained, \
                         and it is missing or was modified",
                        dir.display()
                    ),
                });
            }
            paths.push(path);
        }
        let data = TrainingData::load_all(&paths)?;
        let mut config: TrainConfig = serde_json::from_value(manifest.train_config.clone()).unwrap_or_default();
        config.encoder = encoder.info().name.clone();
        let nlu = Self::train_with_encoder(encoder, &data, None, &config, progress)?;
        nlu.save(&cached)?;
        Ok((nlu, true))
    }

    /// Saves the model to `dir` atomically (the previous model there stays intact until the
    /// new one is complete).
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let mut tensors = self.intent.head().to_tensors("intent")?;
        if let Some(signals) = &self.signals {
            tensors.extend(signals.to_tensors()?);
        }
        let dir = dir.as_ref();
        let mut manifest = self.manifest.clone();
        for file in &mut manifest.training_files {
            file.path = crate::util::relative_to(&file.path, dir);
        }
        model::save(dir, &manifest, &tensors)
    }

    /// The manifest: encoder, labels, thresholds, training configuration and metrics.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The encoder, to share with other models.
    pub fn encoder(&self) -> &Arc<Encoder> {
        &self.encoder
    }

    /// The thresholds in force (the trained ones unless changed with [`set_thresholds`](Self::set_thresholds)).
    pub fn thresholds(&self) -> Thresholds {
        self.manifest.intent.thresholds
    }

    /// Overrides the confidence threshold and ambiguity margin for every later call.
    pub fn set_thresholds(&mut self, thresholds: Thresholds) {
        self.manifest.intent.thresholds = thresholds;
    }

    /// The in-scope intents the model knows, sorted.
    pub fn intents(&self) -> Vec<&str> {
        self.intent.intents().collect()
    }

    /// Understands one utterance with the model's thresholds.
    pub fn parse(&self, text: &str) -> Result<Parse> {
        self.parse_with(text, &ParseOptions::default())
    }

    /// Understands one utterance with per-call options.
    pub fn parse_with(&self, text: &str, options: &ParseOptions) -> Result<Parse> {
        let mut parses = self.parse_batch_with(&[text], options)?;
        parses.pop().ok_or_else(|| Error::InvalidArgument("internal: no parse returned".into()))
    }

    /// Understands many utterances at once (faster per utterance than one by one).
    pub fn parse_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Parse>> {
        self.parse_batch_with(texts, &ParseOptions::default())
    }

    /// [`parse_batch`](Self::parse_batch) with per-call options.
    pub fn parse_batch_with<S: AsRef<str>>(&self, texts: &[S], options: &ParseOptions) -> Result<Vec<Parse>> {
        let _span = tracing::debug_span!("parse", n = texts.len()).entered();
        // Both Unicode forms of a text (composed `é`, decomposed `e` + U+0301) parse the same:
        // everything below reads the NFC form, and entities are mapped back to the text as given.
        let normalized: Vec<Nfc> = texts.iter().map(|t| Nfc::new(t.as_ref())).collect();
        let non_empty: Vec<&str> = normalized.iter().map(Nfc::as_str).filter(|t| !is_blank(t)).collect();
        let embeddings = if non_empty.is_empty() {
            Array2::zeros((0, self.encoder.dim()))
        } else {
            self.encoder.embed_batch(&non_empty)?
        };
        let thresholds = options.thresholds.unwrap_or(self.manifest.intent.thresholds);
        let reference = options.reference_time.unwrap_or_else(|| chrono::Local::now().naive_local());
        let builtin_options = crate::entity::builtin::BuiltinOptions::new(reference);
        let top_k = options.top_k.unwrap_or(5);
        let mut rows = embeddings.rows().into_iter();
        let mut out = Vec::with_capacity(texts.len());
        for (given, nfc) in texts.iter().zip(&normalized) {
            let (given, text) = (given.as_ref(), nfc.as_str());
            if is_blank(text) {
                out.push(Parse {
                    text: given.to_string(),
                    decision: Decision::Empty,
                    ranking: Vec::new(),
                    entities: Vec::new(),
                    signals: Vec::new(),
                });
                continue;
            }
            let row = rows.next().ok_or_else(|| Error::InvalidArgument("internal: embedding count mismatch".into()))?;
            let _span = tracing::trace_span!("intent").entered();
            let (ranking, oos_wins) = self.intent.rank(row, top_k, options.allowed_intents.as_deref());
            let decision = IntentClassifier::decide(&ranking, oos_wins, &thresholds);
            let entities = {
                let _span = tracing::trace_span!("entities").entered();
                let mut candidates = self.declared.extract(text);
                candidates.extend(crate::entity::builtin_entities(text, &builtin_options));
                crate::entity::merge(nfc.entities_in(given, candidates))
            };
            let signals = self.signals.as_ref().map(|s| s.score(row, text)).unwrap_or_default();
            out.push(Parse { text: given.to_string(), decision, ranking, entities, signals });
        }
        Ok(out)
    }
}

/// The distinct files the examples were read from, with their SHA-256.
fn training_files(data: &TrainingData) -> Result<Vec<model::TrainingFile>> {
    let mut paths: Vec<&Path> = data.examples.iter().filter_map(|e| e.source.as_ref()).map(|s| s.path.as_path()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let path = std::fs::canonicalize(p).map_err(|e| Error::io(p, e))?;
            Ok(model::TrainingFile { sha256: crate::util::sha256_file(&path)?, path })
        })
        .collect()
}

/// Embeds the examples' texts in chunks, reporting progress.
pub(crate) fn embed_examples(
    encoder: &Encoder,
    data: &TrainingData,
    stage: &str,
    progress: ProgressFn,
) -> Result<Array2<f32>> {
    let texts: Vec<&str> = data.examples.iter().map(|e| e.text.as_str()).collect();
    embed_texts(encoder, &texts, stage, progress)
}

/// Embeds texts in chunks of 256, reporting progress after each.
pub(crate) fn embed_texts(encoder: &Encoder, texts: &[&str], stage: &str, progress: ProgressFn) -> Result<Array2<f32>> {
    let mut out = Array2::<f32>::zeros((texts.len(), encoder.dim()));
    let mut done = 0;
    progress(stage, 0, texts.len());
    for chunk in texts.chunks(256) {
        let e = encoder.embed_batch(chunk)?;
        out.slice_mut(ndarray::s![done..done + chunk.len(), ..]).assign(&e);
        done += chunk.len();
        progress(stage, done, texts.len());
    }
    Ok(out)
}
