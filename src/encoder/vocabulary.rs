//! The tokenizer: Hugging Face `tokenizers` for the whole pipeline (normaliser, pre-tokeniser,
//! added tokens, post-processor, offsets), with a compact Unigram model in place of the crate's.
//!
//! Why: the crate's `Unigram` keeps its 250,002 pieces (multilingual-e5-small) in a byte trie
//! with one hash map per node, which costs about 280 MB of resident memory, more than the
//! whole int8 encoder. [`CompactUnigram`] keeps the pieces in one hash map (about 20 MB) and
//! runs the same Viterbi search as the crate's `encode_optimized` (same scores, same unknown
//! penalty, same tie-breaking: shorter pieces first, a later candidate only wins when strictly
//! better, unknown characters fused), so the token ids are identical; a test checks them
//! against the crate's on many inputs. Other models (WordPiece, BPE) use the crate's own.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokenizers::models::{ModelWrapper, TrainerWrapper};
use tokenizers::{
    AddedToken, DecoderWrapper, Model, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper, Token,
    TokenizerImpl,
};

/// The tokenizer type an [`Encoder`](super::Encoder) runs.
pub(crate) type EncoderTokenizer =
    TokenizerImpl<Vocabulary, NormalizerWrapper, PreTokenizerWrapper, PostProcessorWrapper, DecoderWrapper>;

/// The model step of the tokenizer: ours for Unigram, the crate's for everything else.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // one per encoder: size does not matter
pub(crate) enum Vocabulary {
    Compact(CompactUnigram),
    Standard(ModelWrapper),
}

/// A Unigram (SentencePiece) model in one hash map: see the module documentation.
#[derive(Clone)]
pub(crate) struct CompactUnigram {
    ids: HashMap<Box<str>, u32>,
    pieces: Vec<Box<str>>,
    scores: Vec<f64>,
    unk_id: Option<u32>,
    /// Longest piece, in bytes: no candidate is longer.
    longest: usize,
    unknown_score: f64,
}

/// The crate's penalty below the lowest piece score for an unknown character.
const UNKNOWN_PENALTY: f64 = 10.0;

impl CompactUnigram {
    fn new(vocab: Vec<(String, f64)>, unk_id: Option<usize>) -> Self {
        let mut ids = HashMap::with_capacity(vocab.len());
        let mut pieces = Vec::with_capacity(vocab.len());
        let mut scores = Vec::with_capacity(vocab.len());
        let mut min_score = f64::INFINITY;
        let mut longest = 0;
        for (id, (piece, score)) in vocab.into_iter().enumerate() {
            let piece: Box<str> = piece.into_boxed_str();
            longest = longest.max(piece.len());
            min_score = min_score.min(score);
            // As in the crate: a duplicated piece maps to its last id.
            ids.insert(piece.clone(), id as u32);
            pieces.push(piece);
            scores.push(score);
        }
        Self {
            ids,
            pieces,
            scores,
            unk_id: unk_id.map(|u| u as u32),
            longest,
            unknown_score: min_score - UNKNOWN_PENALTY,
        }
    }

    /// The best segmentation of `sentence` as byte ranges with their ids (Viterbi).
    fn segment(&self, sentence: &str) -> Result<Vec<(usize, usize, u32)>> {
        #[derive(Clone, Copy)]
        struct Best {
            score: f64,
            start: Option<usize>,
            id: u32,
        }
        let size = sentence.len();
        let mut best = vec![Best { score: 0.0, start: None, id: 0 }; size + 1];
        for (start, first) in sentence.char_indices() {
            let here = best.get(start).map_or(0.0, |b| b.score);
            let char_len = first.len_utf8();
            let mut has_single_char_piece = false;
            // Every piece starting here, shortest first (the crate's trie order).
            let limit = (start + self.longest).min(size);
            for (offset, c) in sentence[start..].char_indices() {
                let end = start + offset + c.len_utf8();
                if end > limit {
                    break;
                }
                let Some(&id) = sentence.get(start..end).and_then(|piece| self.ids.get(piece)) else { continue };
                let candidate = here + self.scores.get(id as usize).copied().unwrap_or(0.0);
                if let Some(target) = best.get_mut(end) {
                    if target.start.is_none() || candidate > target.score {
                        *target = Best { score: candidate, start: Some(start), id };
                    }
                }
                if end - start == char_len {
                    has_single_char_piece = true;
                }
            }
            if !has_single_char_piece {
                let unk = self.unk_id.ok_or_else(|| {
                    Error::Tokenizer("the vocabulary has no unknown piece for a character it lacks".into())
                })?;
                let candidate = here + self.unknown_score;
                if let Some(target) = best.get_mut(start + char_len) {
                    if target.start.is_none() || candidate > target.score {
                        *target = Best { score: candidate, start: Some(start), id: unk };
                    }
                }
            }
        }
        // Walk back from the end; consecutive unknowns fuse into one token.
        let mut spans = Vec::new();
        let mut end = size;
        while end > 0 {
            let node = best.get(end).copied().ok_or_else(|| Error::Tokenizer("internal: broken lattice".into()))?;
            let start = node.start.ok_or_else(|| Error::Tokenizer("internal: broken lattice".into()))?;
            let is_unknown = Some(node.id) == self.unk_id;
            match spans.last_mut() {
                Some((s, _, id)) if is_unknown && Some(*id) == self.unk_id => *s = start,
                _ => spans.push((start, end, node.id)),
            }
            end = start;
        }
        spans.reverse();
        Ok(spans)
    }
}

impl Model for Vocabulary {
    type Trainer = TrainerWrapper;

    fn tokenize(&self, sequence: &str) -> tokenizers::Result<Vec<Token>> {
        match self {
            Vocabulary::Standard(model) => model.tokenize(sequence),
            Vocabulary::Compact(model) => {
                if sequence.is_empty() {
                    return Ok(Vec::new());
                }
                let spans =
                    model.segment(sequence).map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
                Ok(spans
                    .into_iter()
                    .map(|(start, end, id)| {
                        let text = &sequence[start..end];
                        // A fused run of unknowns is looked up again, as the crate does.
                        let id = model.ids.get(text).copied().unwrap_or(id);
                        Token::new(id, text.to_string(), (start, end))
                    })
                    .collect())
            }
        }
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        match self {
            Vocabulary::Standard(model) => model.token_to_id(token),
            Vocabulary::Compact(model) => model.ids.get(token).copied(),
        }
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        match self {
            Vocabulary::Standard(model) => model.id_to_token(id),
            Vocabulary::Compact(model) => model.pieces.get(id as usize).map(|p| p.to_string()),
        }
    }

    fn get_vocab(&self) -> std::collections::HashMap<String, u32> {
        match self {
            Vocabulary::Standard(model) => model.get_vocab(),
            Vocabulary::Compact(model) => model.ids.iter().map(|(p, &id)| (p.to_string(), id)).collect(),
        }
    }

    fn get_vocab_size(&self) -> usize {
        match self {
            Vocabulary::Standard(model) => model.get_vocab_size(),
            Vocabulary::Compact(model) => model.pieces.len(),
        }
    }

    fn save(&self, folder: &Path, prefix: Option<&str>) -> tokenizers::Result<Vec<PathBuf>> {
        match self {
            Vocabulary::Standard(model) => model.save(folder, prefix),
            Vocabulary::Compact(_) => {
                Err("entendu's compact Unigram is not saved; keep the original tokenizer.json".into())
            }
        }
    }

    fn get_trainer(&self) -> TrainerWrapper {
        match self {
            Vocabulary::Standard(model) => model.get_trainer(),
            Vocabulary::Compact(_) => TrainerWrapper::UnigramTrainer(Default::default()),
        }
    }
}

/// The parts of `tokenizer.json` we read ourselves.
#[derive(Deserialize)]
struct TokenizerFile {
    #[serde(default)]
    added_tokens: Vec<AddedTokenSpec>,
    normalizer: Option<NormalizerWrapper>,
    pre_tokenizer: Option<PreTokenizerWrapper>,
    post_processor: Option<PostProcessorWrapper>,
    decoder: Option<DecoderWrapper>,
    model: UnigramSection,
}

#[derive(Deserialize)]
struct AddedTokenSpec {
    id: u32,
    content: String,
    #[serde(default)]
    single_word: bool,
    #[serde(default)]
    lstrip: bool,
    #[serde(default)]
    rstrip: bool,
    #[serde(default)]
    normalized: bool,
    #[serde(default)]
    special: bool,
}

#[derive(Deserialize)]
struct UnigramSection {
    #[serde(rename = "type")]
    kind: String,
    unk_id: Option<usize>,
    vocab: Vec<(String, f64)>,
    #[serde(default)]
    byte_fallback: bool,
}

/// Loads `tokenizer.json`: Unigram models (without byte fallback) get [`CompactUnigram`],
/// anything else the crate's own model.
pub(crate) fn load(path: &Path) -> Result<EncoderTokenizer> {
    let invalid = |e: String| Error::InvalidEncoder {
        path: path.to_path_buf(),
        message: format!("not a Hugging Face tokenizer.json ({e}); fetch the encoder again"),
    };
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    if let Ok(file) = serde_json::from_str::<TokenizerFile>(&text) {
        if file.model.kind == "Unigram" && !file.model.byte_fallback {
            drop(text);
            let mut tokenizer =
                TokenizerImpl::new(Vocabulary::Compact(CompactUnigram::new(file.model.vocab, file.model.unk_id)));
            tokenizer.with_normalizer(file.normalizer).map_err(|e| invalid(e.to_string()))?;
            tokenizer.with_pre_tokenizer(file.pre_tokenizer);
            tokenizer.with_post_processor(file.post_processor);
            tokenizer.with_decoder(file.decoder);
            let added = file.added_tokens.into_iter().map(|spec| {
                let token = AddedToken {
                    content: spec.content,
                    single_word: spec.single_word,
                    lstrip: spec.lstrip,
                    rstrip: spec.rstrip,
                    normalized: spec.normalized,
                    special: spec.special,
                };
                (spec.id, token)
            });
            add_in_id_order(&mut tokenizer, added.collect()).map_err(invalid)?;
            return Ok(tokenizer);
        }
    }
    let standard = <tokenizers::Tokenizer as std::str::FromStr>::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let standard: TokenizerImpl<_, _, _, _, _> = standard.into_inner();
    let mut tokenizer = TokenizerImpl::new(Vocabulary::Standard(standard.get_model().clone()));
    tokenizer.with_normalizer(standard.get_normalizer().cloned()).map_err(|e| invalid(e.to_string()))?;
    tokenizer.with_pre_tokenizer(standard.get_pre_tokenizer().cloned());
    tokenizer.with_post_processor(standard.get_post_processor().cloned());
    tokenizer.with_decoder(standard.get_decoder().cloned());
    add_in_id_order(&mut tokenizer, standard.get_added_tokens_decoder().into_iter().collect()).map_err(invalid)?;
    Ok(tokenizer)
}

/// Adds the file's added tokens in the order of their ids, so that each gets the id it had
/// (special ones as special: they are then masked as such in every encoding).
fn add_in_id_order(
    tokenizer: &mut EncoderTokenizer,
    mut added: Vec<(u32, AddedToken)>,
) -> std::result::Result<(), String> {
    added.sort_by_key(|(id, _)| *id);
    for (_, token) in added {
        let result = if token.special { tokenizer.add_special_tokens([token]) } else { tokenizer.add_tokens([token]) };
        result.map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INPUTS: &[&str] = &[
        "query: où est ma commande 48213 ?",
        "query: Bonjour, j'ai passé commande il y a dix jours et je n'ai toujours rien reçu !!!",
        "query: ¿Dónde está mi pedido? Ich möchte mit einem Menschen sprechen.",
        "query: 🙂🙂 emoji ☃ and 漢字かな交じり文 and ελληνικά and العربية",
        "query: \u{200b}\u{feff}zero width, \u{1F3F3}\u{FE0F}\u{200D}\u{1F308} flags, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
        "query: ",
        "query: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "query: \u{E000}\u{10FFFD} private use, \u{0301}\u{0301} lone accents, tabs\tand\nnewlines",
        "query: <mask> <s> special </s> tokens inside text",
        "query: SMS stl: jvx 1 remb stp, c nul!!! mdr",
    ];

    #[test]
    fn compact_unigram_gives_the_crates_ids_and_offsets() {
        let path = Path::new("models/multilingual-e5-small/tokenizer.json");
        if !path.is_file() {
            eprintln!("note: models/multilingual-e5-small not fetched: skipped (tests/encoder.rs fetches it)");
            return;
        }
        let ours = load(path).unwrap();
        assert!(matches!(ours.get_model(), Vocabulary::Compact(_)));
        let theirs = tokenizers::Tokenizer::from_file(path).unwrap();
        let mut inputs: Vec<String> = INPUTS.iter().map(|s| s.to_string()).collect();
        // Plus every script block's first characters, glued in words.
        for block in (0x20u32..0x3000).step_by(0x40) {
            let word: String = (block..block + 24).filter_map(char::from_u32).collect();
            inputs.push(format!("query: {word} {word}"));
        }
        for input in &inputs {
            let a = ours.encode(input.as_str(), true).unwrap();
            let b = theirs.encode(input.as_str(), true).unwrap();
            assert_eq!(a.get_ids(), b.get_ids(), "ids of {input:?}");
            assert_eq!(a.get_offsets(), b.get_offsets(), "offsets of {input:?}");
            assert_eq!(a.get_special_tokens_mask(), b.get_special_tokens_mask(), "special mask of {input:?}");
        }
        assert_eq!(ours.get_vocab_size(true), theirs.get_vocab_size(true));
    }
}
