//! [`Nlu`]: the engine a bot talks to. Text → encoder → heads → [`Parse`].

use crate::data::TrainingData;
use crate::encoder::adapt::{AdaptConfig, Adapter, HeldOutSplit};
use crate::encoder::cache::{CacheStats, EncodingCache, DEFAULT_CACHE_BYTES};
use crate::encoder::{Encoder, UpperLayers};
use crate::entity::declared::DeclaredExtractor;
use crate::entity::learned::{TaggedText, Tagger, TaggerConfig};
use crate::error::{Error, Result};
use crate::intent::{Decision, IntentClassifier, IntentConfig, LabelledEmbeddings, Thresholds};
use crate::model::{self, Manifest};
use crate::normalize::{is_blank, Nfc};
use crate::parse::{Entity, Parse, ParseOptions};
use crate::signal::{SignalClassifier, SignalConfig};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// Tensor-name prefix of the intent's companion head (see [`crate::intent`]).
const COMPANION_PREFIX: &str = "intent_companion";

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
    /// Entity tagger options (trained when the data has entity annotations).
    pub entities: TaggerConfig,
    /// Encoder adaptation (fine-tuning its top layers on the training utterances); off by default.
    pub adapt: AdaptConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            encoder: crate::encoder::DEFAULT_ENCODER.to_string(),
            seed: 42,
            intent: IntentConfig::default(),
            signals: SignalConfig::default(),
            entities: TaggerConfig::default(),
            adapt: AdaptConfig::default(),
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
    /// The learned entity tagger, when the training data had entity annotations.
    tagger: Option<Tagger>,
    /// The encoder's adapted top layers, when trained with adaptation.
    adapter: Option<Adapter>,
    manifest: Manifest,
    /// Recent encodings: a repeated message skips the encoder.
    cache: EncodingCache,
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
        Self::train_parts(encoder, data, validation, config, None, progress)
    }

    /// Trains new heads (intent, signals, entity tagger) over the adapted encoder layers of
    /// `model` instead of adapting the encoder again: minutes instead of the better part of an
    /// hour, to try head options or rebuild a model after a change that leaves the adapter's
    /// training alone. `config.adapt` is replaced by the settings `model` was adapted with (its
    /// manifest's `train_config`): they and the seed decide which rows the heads calibrate on,
    /// and those must be rows the adapter never trained on. Trained on the same data, the
    /// result is the model that `train_with_encoder` with adaptation gives. On data that has
    /// grown since (examples added or corrected), the heads learn the new examples and still
    /// calibrate on utterances the adapter never saw, as adapters hold out utterances one by one
    /// ([`HeldOutSplit::PerUtterance`]); the adapted layers themselves have not learned from
    /// the new examples until the next `--adapt`.
    ///
    /// Fails when `model` has no adapted layers, or its manifest no readable adaptation settings.
    pub fn train_reusing_adapter(
        model: &Nlu,
        data: &TrainingData,
        validation: Option<&TrainingData>,
        config: &TrainConfig,
        progress: ProgressFn,
    ) -> Result<Self> {
        let Some(adapter) = &model.adapter else {
            return Err(Error::InvalidArgument(
                "this model has no adapted encoder layers to reuse: train it with `--adapt`".into(),
            ));
        };
        let adapted_with = serde_json::from_value::<TrainConfig>(model.manifest.train_config.clone()).map_err(|e| {
            Error::InvalidArgument(format!(
                "the model's manifest has no readable training configuration ({e}), so the adapter's \
                 held-out rows are unknown: train it again with `--adapt`"
            ))
        })?;
        // Utterances held out one by one stay held out however the data grows; a stratified
        // split is reshuffled by any change to the data.
        let own: std::collections::BTreeSet<_> = model.manifest.training_files.iter().map(|f| &f.sha256).collect();
        let given = training_files(data)?;
        let files_differ = given.iter().any(|f| !own.contains(&f.sha256)) || given.len() != own.len();
        if files_differ && adapted_with.adapt.held_out_by == HeldOutSplit::Stratified {
            tracing::warn!(
                "the reused adapter was trained on other files than these, with a split that any change \
                 to the data reshuffles: some rows the heads calibrate on may be rows it trained on, which \
                 makes the thresholds optimistic; adapt again (`--adapt`) for honest thresholds"
            );
        }
        let config = TrainConfig { adapt: adapted_with.adapt, ..config.clone() };
        let adapter = Adapter::from_tensors(&model.encoder, &adapter.to_tensors(), adapter.meta().clone())?;
        Self::train_parts(model.encoder.clone(), data, validation, &config, Some(adapter), progress)
    }

    /// Training, adapting the encoder when `config.adapt` says so unless `reused` gives the
    /// adapted layers already.
    fn train_parts(
        encoder: Arc<Encoder>,
        data: &TrainingData,
        validation: Option<&TrainingData>,
        config: &TrainConfig,
        reused: Option<Adapter>,
        progress: ProgressFn,
    ) -> Result<Self> {
        let _span = tracing::info_span!("train", examples = data.examples.len()).entered();
        let started = std::time::Instant::now();
        let declared = DeclaredExtractor::new(&data.entities)?;
        if data.examples.is_empty() {
            return Err(Error::Data("no examples: the training data is empty".into()));
        }
        // With annotations, one forward pass gives both the sentence embeddings (intent and
        // signal heads) and the token embeddings (tagger): the encoder is the expensive part.
        let with_tokens = config.entities.enabled && data.examples.iter().any(|e| !e.entities.is_empty());
        let (adapter, adapted, adapter_split) = match (reused, config.adapt.enabled) {
            (Some(adapter), _) => {
                let texts: Vec<&str> = data.examples.iter().map(|e| e.text.as_str()).collect();
                let split =
                    crate::encoder::adapt::held_out_split(&texts, &adapt_labels(data).0, &config.adapt, config.seed);
                (Some(adapter), None, Some(split))
            }
            (None, true) => {
                let (adapter, embeddings, split) = adapt_encoder(&encoder, data, with_tokens, config, progress)?;
                (Some(adapter), Some(embeddings), Some(split))
            }
            (None, false) => (None, None, None),
        };
        let upper = adapter.as_ref().map(Adapter::layers);
        // Only the intent head reads the adapted layers. Fitted to the intents, they lose what
        // the signals and the tagger read: on the support data's held-out tenth, every head on
        // them took intent accuracy from 85.1 to 88.5 but signal macro-F1 from 0.85 to 0.66 and
        // entity micro-F1 from 0.99 to 0.84. So the signals and the tagger keep the encoder's
        // own embeddings, which one more pass gives (adaptation already computed the adapted
        // ones); so does the intent's companion head. The pass is spared when none of them is
        // trained.
        // An adapter trained to tag entities too is what the tagger reads: then one pass
        // through it gives the encoder's own sentences, the adapted ones and the adapted tokens.
        let tokens_adapted = adapter.as_ref().is_some_and(|a| a.meta().tokens_adapted);
        let tokens_from = if tokens_adapted { upper } else { None };
        let tagger_input = match (with_tokens, tokens_adapted) {
            (false, _) => TaggerInput::None,
            (true, false) => TaggerInput::Encoder,
            (true, true) => TaggerInput::Adapted,
        };
        let has_signals = data.examples.iter().any(|e| !e.signals.is_empty());
        let (x, x_intent, tokens) = match adapted {
            // Nothing else reads the encoder's own embeddings: spare the pass.
            Some(adapted) if !with_tokens && !has_signals && config.intent.companion_weight == Some(0.0) => {
                (adapted, None, Vec::new())
            }
            Some(adapted) => {
                let stage = "embedding training examples";
                // Adaptation gave the adapted sentences already: this pass is for the others.
                let encoded = encode_examples(&encoder, tokens_from, tagger_input, data, stage, progress)?;
                (encoded.sentences, Some(adapted), encoded.encodings)
            }
            None => {
                // No adaptation, or a reused adapter: one pass gives everything.
                let encoded =
                    encode_examples(&encoder, upper, tagger_input, data, "embedding training examples", progress)?;
                (encoded.sentences, encoded.adapted, encoded.encodings)
            }
        };
        let labels: Vec<Option<String>> = data.examples.iter().map(|e| e.intent.clone()).collect();
        let val = match validation {
            Some(v) if !v.examples.is_empty() => {
                let stage = "embedding validation examples";
                let encoded = encode_examples(&encoder, upper, tagger_input, v, stage, progress)?;
                let vl: Vec<Option<String>> = v.examples.iter().map(|e| e.intent.clone()).collect();
                // Only the intent heads read the validation sentences: the adapted ones if any
                // (and the encoder's own ones, for the companion head).
                let (vx, own) = match encoded.adapted {
                    Some(adapted) => (adapted, Some(encoded.sentences)),
                    None => (encoded.sentences, None),
                };
                Some((vx, own, vl, encoded.encodings))
            }
            _ => None,
        };
        progress("training the intent head", 0, 1);
        let intent = IntentClassifier::train_holding_out(
            LabelledEmbeddings {
                x: x_intent.as_ref().unwrap_or(&x),
                labels: &labels,
                own: x_intent.as_ref().map(|_| &x),
            },
            val.as_ref().map(|(vx, own, vl, _)| LabelledEmbeddings { x: vx, labels: vl, own: own.as_ref() }),
            adapter_split.clone(),
            &config.intent,
            config.seed,
        )?;
        progress("training the intent head", 1, 1);
        progress("training the signal heads", 0, 1);
        let texts: Vec<&str> = data.examples.iter().map(|e| e.text.as_str()).collect();
        let example_signals: Vec<Vec<String>> = data.examples.iter().map(|e| e.signals.clone()).collect();
        let signals = SignalClassifier::train(&x, &texts, &example_signals, &config.signals, config.seed)?;
        progress("training the signal heads", 1, 1);
        let tagger = if with_tokens {
            progress("training the entity tagger", 0, 1);
            let mut train_items = tagged(data, &tokens);
            let held_items = match (validation, &val, &adapter_split) {
                (Some(v), Some((_, _, _, vt)), _) if v.examples.iter().any(|e| !e.entities.is_empty()) => tagged(v, vt),
                // The adapter learned the tags of the rows it trained on: the tagger chooses its
                // epochs and threshold on the rows it held out, which it never saw.
                (_, _, Some((fit, held))) if tokens_adapted => {
                    let pick = |rows: &[usize]| rows.iter().filter_map(|&r| train_items.get(r).copied()).collect();
                    let (fit_items, held_items): (Vec<_>, Vec<_>) = (pick(fit), pick(held));
                    train_items = fit_items;
                    held_items
                }
                _ => Vec::new(),
            };
            let tagger = Tagger::train(&train_items, &held_items, &config.entities, config.seed)?;
            progress("training the entity tagger", 1, 1);
            tagger
        } else {
            None
        };
        let manifest = Manifest {
            format_version: model::FORMAT_VERSION,
            entendu_version: env!("CARGO_PKG_VERSION").to_string(),
            encoder: encoder.info().clone(),
            intent: intent.meta().clone(),
            signals: signals.as_ref().map(|s| s.meta().to_vec()).unwrap_or_default(),
            tagger: tagger.as_ref().map(|t| t.meta().clone()),
            adapter: adapter.as_ref().map(|a| a.meta().clone()),
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
        Ok(Self::from_parts(encoder, intent, signals, declared, tagger, adapter, manifest))
    }

    /// Loads a model directory and the encoder it was trained with (found as
    /// [`Encoder::load`] finds it). Fails clearly if the encoder's weights differ.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let manifest = model::read_manifest(dir)?;
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
                trained: format!(
                    "{} (weights sha256 {}…)",
                    trained.name,
                    trained.weights_sha256.get(..12).unwrap_or("")
                ),
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
        let companion = crate::intent::head::Head::from_tensors(&tensors, COMPANION_PREFIX)?;
        let intent = IntentClassifier::from_parts(head, companion, manifest.intent.clone())
            .map_err(|e| Error::Artifact { path: dir.to_path_buf(), message: e.to_string() })?;
        let signals = SignalClassifier::from_parts(&tensors, manifest.signals.clone())
            .map_err(|e| Error::Artifact { path: dir.join(model::WEIGHTS_FILE), message: e.to_string() })?;
        let declared = DeclaredExtractor::new(&manifest.entities)
            .map_err(|e| Error::Artifact { path: dir.join(model::MANIFEST_FILE), message: e.to_string() })?;
        let tagger = match &manifest.tagger {
            Some(meta) => {
                let damaged = |message: String| Error::Artifact { path: dir.join(model::WEIGHTS_FILE), message };
                let tagger = Tagger::from_tensors(&tensors, meta.clone()).map_err(|e| damaged(e.to_string()))?;
                let missing = || damaged("the manifest has an entity tagger, the weights none; train again".into());
                Some(tagger.ok_or_else(missing)?)
            }
            None => None,
        };
        let adapter = match &manifest.adapter {
            Some(meta) if !meta.intent_only => {
                return Err(Error::Artifact {
                    path: dir.join(model::MANIFEST_FILE),
                    message: "this model's adapted encoder layers feed every head, as in earlier versions of \
                              entendu; this version feeds them to the intent head only: train it again \
                              (`entendu train --adapt …`)"
                        .into(),
                })
            }
            Some(meta) => Some(
                Adapter::from_tensors(&encoder, &tensors, meta.clone())
                    .map_err(|e| Error::Artifact { path: dir.join(model::WEIGHTS_FILE), message: e.to_string() })?,
            ),
            None => None,
        };
        Ok(Self::from_parts(encoder, intent, signals, declared, tagger, adapter, manifest))
    }

    /// Loads the model at `dir` if it was trained with `encoder`'s weights; otherwise retrains
    /// it for `encoder` from the training files recorded in its manifest (they must still be
    /// there, unchanged) with the same configuration except encoder adaptation, and keeps the
    /// result beside it (`<dir>.<encoder sha256 prefix>`) so the retraining happens once. The
    /// second value says whether it retrained.
    ///
    /// This is what lets a model shipped with an application run on either copy of its
    /// encoder (the hub's f32 weights, or the offline 4-bit-derived ones); retraining the
    /// support model takes about five minutes on two cores. Adaptation would make that half an
    /// hour on first use, so the retrained model is the frozen-encoder one (a warning says so
    /// through `tracing`); train with `--adapt` for the adapted one.
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
        let manifest = model::read_manifest(dir)?;
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
        if config.adapt.enabled {
            tracing::warn!(
                "retraining {} for another copy of its encoder without adaptation (minutes, not half an hour); \
                 `entendu train --adapt` gives the adapted model",
                dir.display()
            );
            config.adapt.enabled = false;
        }
        let nlu = Self::train_with_encoder(encoder, &data, None, &config, progress)?;
        nlu.save(&cached)?;
        Ok((nlu, true))
    }

    /// Saves the model to `dir` atomically (the previous model there stays intact until the
    /// new one is complete).
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let mut tensors = self.intent.head().to_tensors("intent")?;
        if let Some(companion) = self.intent.companion() {
            tensors.extend(companion.to_tensors(COMPANION_PREFIX)?);
        }
        if let Some(signals) = &self.signals {
            tensors.extend(signals.to_tensors()?);
        }
        if let Some(tagger) = &self.tagger {
            tensors.extend(tagger.to_tensors()?);
        }
        if let Some(adapter) = &self.adapter {
            tensors.extend(adapter.to_tensors());
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

    /// How the cache of recent encodings has done: a repeated utterance (after Unicode
    /// normalisation) skips the encoder and parses in microseconds, with the same result.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Sets the memory budget of the cache of recent encodings (default
    /// [`DEFAULT_CACHE_BYTES`], 16 MiB); 0 turns it off.
    pub fn set_cache_budget(&self, bytes: usize) {
        self.cache.set_budget(bytes);
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
        // With a tagger, the token embeddings come from the same forward pass as the sentence
        // ones; with an adapter, so do the intent head's adapted sentence embeddings.
        let upper = self.adapter.as_ref().map(Adapter::layers);
        let encoded = if non_empty.is_empty() {
            Vec::new()
        } else {
            let tokens_adapted = self.adapter.as_ref().is_some_and(|a| a.meta().tokens_adapted);
            self.cache.get_or_encode(&non_empty, |texts| match (&self.tagger, upper) {
                (Some(_), Some(upper)) if tokens_adapted => self.encoder.encode_batch_adapted_tokens(texts, upper),
                (Some(_), _) => self.encoder.encode_batch_with(texts, upper),
                (None, _) => self.encoder.encode_sentences_with(texts, upper),
            })?
        };
        let embeddings = sentence_matrix(encoded.iter().map(|e| &e.sentence), self.encoder.dim())?;
        let mut adapted = encoded.iter().map(|e| e.adapted.as_ref());
        let mut encoded = encoded.iter();
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
            let intent_row = adapted.next().flatten().map(|a| a.view()).unwrap_or(row);
            let (ranking, oos_wins) = self.intent.rank(intent_row, row, top_k, options.allowed_intents.as_deref());
            let decision = IntentClassifier::decide(&ranking, oos_wins, &thresholds);
            let entities = {
                let _span = tracing::trace_span!("entities").entered();
                let mut candidates = self.declared.extract(text);
                let mut builtin = crate::entity::builtin_entities(text, &builtin_options);
                if let (Some(tagger), Some(encoded)) = (&self.tagger, encoded.next()) {
                    let reading = tagger.read(text, encoded);
                    builtin.retain(|b| reading.confirms(b));
                    builtin = builtin.into_iter().map(|b| reading.trim_unsupported_lead(b)).collect();
                    candidates.retain(|d| d.extractor != "lookup" || reading.confirms(d));
                    candidates.extend(self.valued_like_declared(reading.entities));
                }
                candidates.extend(builtin);
                crate::entity::merge(nfc.entities_in(given, candidates))
            };
            let mut signals = self.signals.as_ref().map(|s| s.score(row, text)).unwrap_or_default();
            self.imply_intent_signals(&decision, &mut signals);
            out.push(Parse { text: given.to_string(), decision, ranking, entities, signals });
        }
        Ok(out)
    }
}

impl Nlu {
    /// A model from its trained or loaded parts, with an empty cache of the default budget.
    fn from_parts(
        encoder: Arc<Encoder>,
        intent: IntentClassifier,
        signals: Option<SignalClassifier>,
        declared: DeclaredExtractor,
        tagger: Option<Tagger>,
        adapter: Option<Adapter>,
        manifest: Manifest,
    ) -> Self {
        let cache = EncodingCache::new(DEFAULT_CACHE_BYTES);
        Self { encoder, intent, signals, declared, tagger, adapter, manifest, cache }
    }

    /// An intent that declares signals (`talk_to_human` carries `wants_human`) activates them
    /// when it is the decision: the head scores each message on its own and may miss one
    /// ("DONNEZ MOI UN HUMAIN"), but the data says the intent always carries it. The score
    /// becomes at least the intent's confidence.
    fn imply_intent_signals(&self, decision: &Decision, signals: &mut [crate::parse::Signal]) {
        let Decision::Intent { name, confidence } = decision else {
            return;
        };
        let Some(spec) = self.manifest.intents.get(name) else {
            return;
        };
        for signal in signals.iter_mut().filter(|s| spec.signals.contains(&s.name)) {
            signal.score = signal.score.max(*confidence);
            signal.active = true;
        }
    }

    /// The tagger's entities, valued like declared ones where a declared lookup or synonym
    /// matches their text (the canonical value), else by their text.
    fn valued_like_declared(&self, mut found: Vec<Entity>) -> Vec<Entity> {
        for entity in &mut found {
            if let Some(value) = self.declared.canonical(&entity.entity, &entity.text) {
                entity.value = serde_json::Value::String(value.to_string());
            }
        }
        found
    }
}

/// The examples of `data` beside their encodings, as the tagger takes them.
fn tagged<'a>(data: &'a TrainingData, encoded: &'a [crate::encoder::EncodedText]) -> Vec<TaggedText<'a>> {
    data.examples
        .iter()
        .zip(encoded)
        .map(|(e, encoded)| TaggedText { text: &e.text, encoded, entities: &e.entities })
        .collect()
}

/// Sentence embeddings, one row each.
fn sentence_matrix<'a>(sentences: impl ExactSizeIterator<Item = &'a Array1<f32>>, dim: usize) -> Result<Array2<f32>> {
    let mut out = Array2::<f32>::zeros((sentences.len(), dim));
    for (mut row, sentence) in out.rows_mut().into_iter().zip(sentences) {
        if sentence.len() != dim {
            return Err(Error::InvalidArgument("internal: sentence embedding of the wrong width".into()));
        }
        row.assign(sentence);
    }
    Ok(out)
}

/// Fine-tunes the encoder's top layers on the examples' intents (out-of-scope examples as one
/// more class, as the intent head sees them). Also returns the adapted sentence embeddings and
/// the rows the adapter trained on and held out.
#[allow(clippy::type_complexity)]
fn adapt_encoder(
    encoder: &Encoder,
    data: &TrainingData,
    with_tokens: bool,
    config: &TrainConfig,
    progress: ProgressFn,
) -> Result<(Adapter, Array2<f32>, (Vec<usize>, Vec<usize>))> {
    let (labels, oos) = adapt_labels(data);
    let has_oos = data.examples.iter().any(|e| e.intent.is_none());
    let texts: Vec<&str> = data.examples.iter().map(|e| e.text.as_str()).collect();
    // The entity tags, as the tagger will learn them, when the layers are to learn them too.
    let types = crate::entity::learned::entity_types(data.examples.iter().flat_map(|e| e.entities.iter()));
    let tags = |row: usize, offsets: &[(usize, usize)]| match data.examples.get(row) {
        Some(example) => crate::entity::learned::tag_indices(offsets, &example.entities, &types),
        None => vec![0; offsets.len()],
    };
    let targets = crate::encoder::adapt::TokenTargets { classes: 1 + 2 * types.len(), tags: &tags };
    let token_targets = (with_tokens && !types.is_empty()).then_some(&targets);
    let (adapter, embeddings) = crate::encoder::adapt::adapt(
        encoder,
        &texts,
        &labels,
        oos + usize::from(has_oos),
        token_targets,
        &config.adapt,
        config.seed,
        progress,
    )?;
    Ok((adapter, embeddings, crate::encoder::adapt::held_out_split(&texts, &labels, &config.adapt, config.seed)))
}

/// The adaptation's class index of each example (intents sorted by name, out-of-scope examples
/// last) and the out-of-scope index.
fn adapt_labels(data: &TrainingData) -> (Vec<usize>, usize) {
    let mut classes: Vec<&str> = data.examples.iter().filter_map(|e| e.intent.as_deref()).collect();
    classes.sort_unstable();
    classes.dedup();
    let oos = classes.len();
    let labels = data
        .examples
        .iter()
        .map(|e| e.intent.as_deref().and_then(|i| classes.binary_search(&i).ok()).unwrap_or(oos))
        .collect();
    (labels, oos)
}

/// Which token states [`encode_examples`] keeps, for the entity tagger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaggerInput {
    /// None: no tagger to train.
    None,
    /// The encoder's own token states.
    Encoder,
    /// The adapted layers' token states (an adapter trained with the tagging loss).
    Adapted,
}

/// The examples through the encoder, one pass for everything the heads read.
struct EncodedExamples {
    /// The encoder's own sentence embeddings, one row per example.
    sentences: Array2<f32>,
    /// The sentence embeddings through the adapted layers, when encoded with them.
    adapted: Option<Array2<f32>>,
    /// Per example, the token states the tagger reads (empty with [`TaggerInput::None`]).
    encodings: Vec<crate::encoder::EncodedText>,
}

/// Encodes the examples in chunks of 256, reporting progress: the encoder's own sentence
/// embeddings, the adapted ones too when `upper` is given, and the token states `tagger` asks
/// for. Callers pick what each head reads.
fn encode_examples(
    encoder: &Encoder,
    upper: Option<&UpperLayers>,
    tagger: TaggerInput,
    data: &TrainingData,
    stage: &str,
    progress: ProgressFn,
) -> Result<EncodedExamples> {
    let texts: Vec<&str> = data.examples.iter().map(|e| e.text.as_str()).collect();
    let mut encoded = Vec::with_capacity(texts.len());
    progress(stage, 0, texts.len());
    for chunk in texts.chunks(256) {
        encoded.extend(match (tagger, upper) {
            (TaggerInput::None, _) => encoder.encode_sentences_with(chunk, upper)?,
            (TaggerInput::Adapted, Some(layers)) => encoder.encode_batch_adapted_tokens(chunk, layers)?,
            // With no adapted layers, the only token states are the encoder's own.
            (TaggerInput::Encoder | TaggerInput::Adapted, _) => encoder.encode_batch_with(chunk, upper)?,
        });
        progress(stage, encoded.len(), texts.len());
    }
    let dim = encoder.dim();
    let sentences = sentence_matrix(encoded.iter().map(|e| &e.sentence), dim)?;
    let adapted = match upper {
        Some(_) => Some(sentence_matrix(encoded.iter().map(|e| e.adapted.as_ref().unwrap_or(&e.sentence)), dim)?),
        None => None,
    };
    if tagger == TaggerInput::None {
        encoded.clear();
    }
    Ok(EncodedExamples { sentences, adapted, encodings: encoded })
}

/// The distinct files the examples were read from, with their SHA-256.
fn training_files(data: &TrainingData) -> Result<Vec<model::TrainingFile>> {
    let mut paths: Vec<&Path> =
        data.examples.iter().filter_map(|e| e.source.as_ref()).map(|s| s.path.as_path()).collect();
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
