//! The learned entity tagger: BIO tags over the encoder's contextual token embeddings.
//!
//! Each token of the input (as the encoder split it: WordPiece or SentencePiece pieces, with
//! their byte offsets) is classified into `O`, `B-type` or `I-type` by a small softmax head
//! (the [`Head`] of the intent classifier, trained the same way with candle-nn's AdamW, run on
//! ndarray). Its input is the token's standardised embedding concatenated with those of its
//! neighbours ([`TaggerConfig::context`] on each side) and two surface flags (the token starts
//! a word; the token is punctuation), so the head sees where words begin, which the embedding
//! of a SentencePiece piece does not say reliably.
//!
//! Decoding is a constrained Viterbi over the tag log-probabilities: `I-x` may only follow
//! `B-x` or `I-x`, so every decoded span is well formed. The path's score may add the
//! log-probabilities of tag bigrams counted in the training data
//! ([`TaggerMeta::transition_weight`], chosen on the held-out share; 0 leaves them out): a
//! per-token head cannot see that `B-x B-x` is rare, so it splits `in | sixteen seconds` where
//! the data writes one span. A span runs from the first byte of its first token to the last
//! byte of its last token, extended to the whole alphanumeric run when a token boundary falls
//! inside a word (a number split into pieces is one entity), with surrounding whitespace
//! trimmed: `&text[start..end]` is always the entity's text.
//!
//! **Confidence** of a span is the mean, over its tokens, of the probability of the tag Viterbi
//! chose (the per-token softmax; there is no CRF, so these are the head's token marginals).
//! The mean rather than the minimum: one uncertain piece in the middle of a long product name
//! should lower the confidence, not decide it alone. Spans under [`TaggerMeta::min_confidence`]
//! (chosen on the held-out share to maximise span F1) are dropped.
//!
//! Training examples are aligned with [`bio_tags`]: a token overlapping an annotated byte span
//! is tagged `B-` (the first such token) or `I-` (the others); every other token is `O`.
//! Examples without annotations teach `O`, which is most of what the tagger must learn.

use crate::data::EntityAnnotation;
use crate::encoder::EncodedText;
use crate::error::{Error, Result};
use crate::intent::head::{self, Head, HeadConfig};
use crate::parse::Entity;
use candle_core::Tensor;
use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// Fewest held-out gold spans for choosing a confidence threshold on them.
const MIN_SPANS_FOR_THRESHOLD: usize = 30;

/// Prefix of the tagger's tensors in the model's weight file.
pub const TENSOR_PREFIX: &str = "tagger";

/// Name of the tag-bigram table in the model's weight file (see [`transition_log_probs`]).
const TRANSITIONS_TENSOR: &str = "tagger.transitions";

/// How the tagger is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaggerConfig {
    /// Train a tagger when the data has entity annotations.
    pub enabled: bool,
    /// Neighbour tokens on each side whose embeddings are concatenated to the token's.
    pub context: usize,
    /// Append the sentence embedding to every token's features: which entity type a span is
    /// often depends on what the whole utterance is about.
    pub sentence: bool,
    /// The token head and its optimiser.
    pub head: HeadConfig,
    /// Share of the annotated training examples held out for early stopping and the
    /// confidence threshold when no validation set is given.
    pub held_out_share: f32,
    /// See [`TaggerMeta::builtin_gate`].
    pub builtin_gate: f32,
    /// Let the decoding add the training data's tag-bigram log-probabilities, with a weight
    /// chosen on the held-out share ([`TaggerMeta::transition_weight`]); false decodes with
    /// the token scores alone.
    pub transitions: bool,
}

impl Default for TaggerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            context: 1,
            // Measured on SNIPS valid: 86.6 → 87.8 exact-span F1 (and on a held-out fifth of
            // the support data, 74.1 → 77.8).
            sentence: true,
            // Token rows outnumber utterances ten to one: large batches keep an epoch short
            // (SNIPS trains in 3 minutes instead of 10, with the same F1). Inverse-frequency
            // class weights make `O` nearly free to get wrong: precision collapses.
            head: HeadConfig {
                hidden: 0,
                max_epochs: 60,
                learning_rate: 3e-3,
                weight_decay: 1e-4,
                // Chosen on xSID's validation files (trained on English): with the decaying
                // rate, 3e-4 took the de/da/it/nl slot F1 average from 66.8 to 70.5 (English
                // 91.9 → 90.8); 1e-3 gave 69.7 (English 89.4). SNIPS test, reported not chosen
                // on: 87.85 → 89.07.
                l2: 3e-4,
                patience: 4,
                lr_decay: true,
                // On the support data (1,450 utterances, 15 minibatches an epoch) the decaying
                // rate alone stopped the tagger half-trained: held-out F1 0.60 against 0.80
                // at a constant rate; 3,000 steps at least gave 0.796, 6,000 gave 0.809.
                min_steps: 6000,
                batch_size: 1024,
                class_weighting: false,
            },
            held_out_share: 0.1,
            builtin_gate: 0.1,
            transitions: true,
        }
    }
}

/// What the manifest records about the tagger (its tensors are under [`TENSOR_PREFIX`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaggerMeta {
    /// Tag names, by index: `O`, then `B-type`, `I-type` for each entity type.
    pub tags: Vec<String>,
    /// Neighbour tokens on each side in the features.
    pub context: usize,
    /// Whether the features end with the sentence embedding.
    #[serde(default)]
    pub sentence: bool,
    /// Width of the encoder's token embeddings.
    pub dim: usize,
    /// Spans whose confidence is below this are dropped.
    #[serde(default)]
    pub min_confidence: f32,
    /// Exact-span micro F1 on the held-out examples, when there were some.
    #[serde(default)]
    pub held_out_f1: Option<f64>,
    /// Built-in and lookup matches of a type the tagger knows are dropped when its support for
    /// them is below this (see [`Reading::confirms`]); 0 keeps them all.
    #[serde(default)]
    pub builtin_gate: f32,
    /// Weight of the tag-bigram log-probabilities in the Viterbi path score (0: none; models
    /// trained before 2026-12-08 have none).
    #[serde(default)]
    pub transition_weight: f32,
}

/// One BIO tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tag {
    /// Outside any entity.
    O,
    /// First token of an entity of type index `.0`.
    B(usize),
    /// Continuation of an entity of type index `.0`.
    I(usize),
}

impl Tag {
    /// Index of the tag among `O, B-0, I-0, B-1, I-1, …`.
    pub fn index(self) -> usize {
        match self {
            Tag::O => 0,
            Tag::B(t) => 1 + 2 * t,
            Tag::I(t) => 2 + 2 * t,
        }
    }

    /// The tag at `index` (see [`index`](Self::index)).
    pub fn from_index(index: usize) -> Self {
        match index {
            0 => Tag::O,
            i if i % 2 == 1 => Tag::B((i - 1) / 2),
            i => Tag::I((i - 2) / 2),
        }
    }

    /// Whether this tag may follow `previous` (`None`: the first token).
    pub fn may_follow(self, previous: Option<Tag>) -> bool {
        match self {
            Tag::I(t) => matches!(previous, Some(Tag::B(p) | Tag::I(p)) if p == t),
            Tag::O | Tag::B(_) => true,
        }
    }
}

/// An annotated (or decoded) span: entity type index and byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypedSpan {
    /// Index of the entity type.
    pub entity: usize,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

/// BIO tags of tokens at byte `offsets` for annotated `spans`: the first token overlapping a
/// span is `B-`, the following ones overlapping it `I-`, all others `O`. Overlapping spans
/// (which no reader produces) keep the earlier one.
pub fn bio_tags(offsets: &[(usize, usize)], spans: &[TypedSpan]) -> Vec<Tag> {
    let mut tags = vec![Tag::O; offsets.len()];
    let mut sorted: Vec<&TypedSpan> = spans.iter().collect();
    sorted.sort_by_key(|s| (s.start, s.end));
    let mut taken = vec![false; offsets.len()];
    for span in sorted {
        let mut first = true;
        for ((tag, taken), &(start, end)) in tags.iter_mut().zip(taken.iter_mut()).zip(offsets) {
            if start < span.end && span.start < end && !*taken {
                *tag = if first { Tag::B(span.entity) } else { Tag::I(span.entity) };
                *taken = true;
                first = false;
            }
        }
    }
    tags
}

/// The most probable tag sequence under the BIO constraint (no `I-x` unless after `B-x` or
/// `I-x`), from per-token log-probabilities `scores` `[tokens, tags]`.
pub fn viterbi(scores: &Array2<f32>) -> Vec<usize> {
    viterbi_with_transitions(scores, None)
}

/// [`viterbi`] with `weight × transitions[(1 + previous, next)]` added to every step of a path
/// (`transitions[(0, first)]` to its first tag): see [`transition_log_probs`].
pub fn viterbi_with_transitions(scores: &Array2<f32>, transitions: Option<(&Array2<f32>, f32)>) -> Vec<usize> {
    let tags: Vec<Tag> = (0..scores.ncols()).map(Tag::from_index).collect();
    let bonus = |from: Option<usize>, to: usize| -> f32 {
        transitions
            .map_or(0.0, |(table, weight)| weight * table.get((from.map_or(0, |f| f + 1), to)).copied().unwrap_or(0.0))
    };
    let mut rows = scores.rows().into_iter();
    let Some(first) = rows.next() else {
        return Vec::new();
    };
    // best[j]: score of the best legal path ending in tag j so far (-inf: none).
    let mut best: Vec<f32> = tags
        .iter()
        .zip(first)
        .enumerate()
        .map(|(j, (tag, &s))| if tag.may_follow(None) { s + bonus(None, j) } else { f32::NEG_INFINITY })
        .collect();
    // back[t - 1][j]: the tag before j on that path, for every later token t.
    let mut back: Vec<Vec<usize>> = Vec::new();
    for row in rows {
        let mut pointers = Vec::with_capacity(tags.len());
        let next: Vec<f32> = tags
            .iter()
            .zip(row)
            .enumerate()
            .map(|(j, (tag, &s))| {
                let (from, score) = tags
                    .iter()
                    .zip(&best)
                    .enumerate()
                    .filter(|(_, (previous, b))| b.is_finite() && tag.may_follow(Some(**previous)))
                    .map(|(i, (_, &b))| (i, b + bonus(Some(i), j)))
                    .fold((0, f32::NEG_INFINITY), |acc, (i, b)| if b > acc.1 { (i, b) } else { acc });
                pointers.push(from);
                score + s
            })
            .collect();
        back.push(pointers);
        best = next;
    }
    let mut last = best.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(j, _)| j);
    let mut path = vec![last];
    for pointers in back.iter().rev() {
        last = pointers.get(last).copied().unwrap_or(0);
        path.push(last);
    }
    path.reverse();
    path
}

/// Log-probabilities of tag bigrams in `sequences` (tag indices among `tags` tags), add-one
/// smoothed over the transitions the BIO constraint allows: row 0 gives the first tag of a
/// sequence, row `1 + i` the tag after tag `i`. Forbidden transitions get 0; Viterbi never
/// takes them anyway.
pub fn transition_log_probs<'a>(sequences: impl Iterator<Item = &'a [usize]>, tags: usize) -> Array2<f32> {
    let mut counts = Array2::<f32>::zeros((tags + 1, tags));
    for sequence in sequences {
        let mut previous: Option<usize> = None;
        for &tag in sequence {
            if let Some(count) = counts.get_mut((previous.map_or(0, |p| p + 1), tag)) {
                *count += 1.0;
            }
            previous = Some(tag);
        }
    }
    let mut table = Array2::<f32>::zeros((tags + 1, tags));
    for (row, (mut out, seen)) in table.rows_mut().into_iter().zip(counts.rows()).enumerate() {
        let previous = row.checked_sub(1).map(Tag::from_index);
        let allowed: Vec<bool> = (0..tags).map(|j| Tag::from_index(j).may_follow(previous)).collect();
        let total: f32 = seen.iter().zip(&allowed).filter(|(_, ok)| **ok).map(|(c, _)| c + 1.0).sum();
        for ((value, &count), ok) in out.iter_mut().zip(seen).zip(allowed) {
            if ok && total > 0.0 {
                *value = ((count + 1.0) / total).ln();
            }
        }
    }
    table
}

/// A decoded span with its confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Type and byte range.
    pub span: TypedSpan,
    /// Mean probability of the chosen tags of its tokens.
    pub confidence: f32,
}

/// Spans of a decoded tag `path` over tokens at `offsets` of `text`; `probs[t]` is the
/// probability of the chosen tag of token `t`.
pub fn spans_of_path(text: &str, offsets: &[(usize, usize)], path: &[usize], probs: &[f32]) -> Vec<Decoded> {
    let mut out = Vec::new();
    // Whether no entity claims the text at byte `at`: a dangling span may only grow over such.
    let unclaimed = |at: usize| {
        offsets.iter().zip(path).all(|(&(s, e), &tag)| !(s <= at && at < e) || Tag::from_index(tag) == Tag::O)
    };
    let mut current: Option<(usize, usize, usize, f32, usize)> = None; // (type, start, end, sum, count)
    let flush = |current: &mut Option<(usize, usize, usize, f32, usize)>, out: &mut Vec<Decoded>| {
        if let Some((entity, start, end, sum, count)) = current.take() {
            if let Some((start, end)) = tidy_span(text, start, end, &unclaimed) {
                out.push(Decoded { span: TypedSpan { entity, start, end }, confidence: sum / count.max(1) as f32 });
            }
        }
    };
    for (t, (&tag, &(start, end))) in path.iter().zip(offsets).enumerate() {
        let p = probs.get(t).copied().unwrap_or(0.0);
        match Tag::from_index(tag) {
            Tag::O => flush(&mut current, &mut out),
            Tag::B(entity) => {
                flush(&mut current, &mut out);
                current = Some((entity, start, end, p, 1));
            }
            Tag::I(entity) => match current.as_mut() {
                Some((e, _, span_end, sum, count)) if *e == entity => {
                    *span_end = end.max(*span_end);
                    *sum += p;
                    *count += 1;
                }
                // Viterbi never yields this; a hand-made path might.
                _ => {
                    flush(&mut current, &mut out);
                    current = Some((entity, start, end, p, 1));
                }
            },
        }
    }
    flush(&mut current, &mut out);
    out
}

/// Extends `start..end` to whole alphanumeric runs at both ends (a token boundary inside a
/// word is not an entity boundary), then trims whitespace. `None` when nothing is left.
///
/// A span that ends on an apostrophe followed by a letter ends inside a word too
/// (`aujourd'` of `aujourd'hui`); one that starts after an apostrophe does not (`l'|iPhone`).
/// Scripts written without spaces (Chinese, Japanese, Thai…) have no word runs to extend to.
fn tidy_span(text: &str, start: usize, end: usize, unclaimed: &dyn Fn(usize) -> bool) -> Option<(usize, usize)> {
    let span = text.get(start..end).filter(|s| !s.is_empty())?;
    let inside = |c: &char| c.is_alphanumeric() && !written_without_spaces(*c);
    let mut start = start;
    let mut end = end;
    if span.chars().next().is_some_and(|c| inside(&c)) {
        start -= text.get(..start)?.chars().rev().take_while(inside).map(char::len_utf8).sum::<usize>();
    }
    let ends_on_elision = span.chars().next_back().is_some_and(crate::entity::builtin::text::is_apostrophe)
        && span.chars().rev().nth(1).is_some_and(|c| inside(&c))
        && text.get(end..)?.chars().next().is_some_and(|c| inside(&c));
    if ends_on_elision || span.chars().next_back().is_some_and(|c| inside(&c)) {
        end += text.get(end..)?.chars().take_while(inside).map(char::len_utf8).sum::<usize>();
    }
    let end = complete_dangling(text, start, end, inside, unclaimed)?;
    let span = text.get(start..end)?;
    let trimmed_start = start + (span.len() - span.trim_start().len());
    // Sentence punctuation after the last word is not the entity's, though a SentencePiece
    // token may carry it (`▁sac,`). A full stop after a digit may be the entity's (German
    // ordinal dates, `Montag, der 10.`); after a built-in match of the entity's type, the
    // merge cuts it (`06 12 34 56 78.`). An abbreviation's own full stop (`Inc.`) is lost,
    // which no annotation convention we know of keeps anyway.
    let trailing = |c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '!' | '?' | '…');
    let mut trimmed_end = end - (span.len() - span.trim_end_matches(trailing).len());
    while let Some(before_stop) = text.get(..trimmed_end).and_then(|s| s.strip_suffix('.')) {
        if before_stop.ends_with(|c: char| c.is_ascii_digit()) || before_stop.len() <= trimmed_start {
            break;
        }
        trimmed_end = before_stop.trim_end_matches(trailing).len();
    }
    (trimmed_start < trimmed_end).then_some((trimmed_start, trimmed_end))
}

/// Prepositions, articles and conjunctions (fr, en, es, de, nl) that introduce a complement
/// and never end a name. A short closed list, written by hand on purpose; words that are
/// also common content words or names in another language (`a`, `die`, `on`, `della`) are
/// left out, since the tagger does not know the language.
const DANGLING_WORDS: &[&str] = &[
    "à", "au", "aux", "avec", "d", "de", "des", "du", "en", "et", "l", "la", "le", "les", "ou", "pour", "sans", "sur",
    "an", "and", "for", "of", "or", "the", "with", "con", "del", "el", "las", "los", "para", "y", "aus", "das", "dem",
    "den", "der", "für", "mit", "und", "von", "zum", "zur", "het", "met", "van", "voor",
];

/// See [`Reading::trim_unsupported_lead`]; `support` gives the tagger's support for the
/// candidate's type over a byte range.
fn trim_lead(mut candidate: Entity, support: impl Fn(usize, usize) -> Option<f32>) -> Entity {
    const GATE: f32 = 0.5;
    let supported = |start, end| support(start, end).is_some_and(|s| s >= GATE);
    loop {
        let Some(space) = candidate.text.find(char::is_whitespace) else {
            return candidate;
        };
        let first_word_end = candidate.start + space;
        let rest = candidate.text[space..].trim_start();
        let rest_start = candidate.end - rest.len();
        let first = candidate.text[..space].to_lowercase();
        if rest.is_empty()
            || !LEADING_WORDS.contains(&first.as_str())
            || supported(candidate.start, first_word_end)
            || !supported(rest_start, candidate.end)
        {
            return candidate;
        }
        candidate.text = rest.to_string();
        candidate.start = rest_start;
    }
}

/// Articles, demonstratives and prepositions (fr, en, es, de, nl) that may open a built-in
/// match but not the data's entity (see [`Reading::trim_unsupported_lead`]). Written by hand on
/// purpose, like [`DANGLING_WORDS`].
const LEADING_WORDS: &[&str] = &[
    "à", "au", "ce", "cet", "cette", "de", "dès", "du", "en", "la", "le", "les", "pour", "a", "at", "by", "for",
    "from", "on", "the", "this", "al", "del", "desde", "el", "este", "esta", "para", "ab", "am", "an", "bis", "das",
    "dem", "den", "der", "diesen", "dieser", "diesem", "für", "im", "um", "vom", "zum", "op", "voor",
];

/// A span that ends on a dangling word stopped short of the complement that word opens
/// (`maillot de| bain`, `canapé d|'angle`, `zapatillas de| deporte`): it takes the next word
/// too, up to three times (`sac à| dos`, `table de| la| cuisine`), or loses the dangling word
/// when no word follows or the next one belongs to another entity (`Umgebung von| [Fairview]`,
/// `unclaimed` says which text no entity claims). Only lowercase words count: a capitalised
/// `Der` or `The` may end a title.
fn complete_dangling(
    text: &str,
    start: usize,
    mut end: usize,
    inside: impl Fn(&char) -> bool,
    unclaimed: &dyn Fn(usize) -> bool,
) -> Option<usize> {
    for _ in 0..3 {
        let span = text.get(start..end)?;
        let last_len: usize = span.chars().rev().take_while(&inside).map(char::len_utf8).sum();
        let last = span.get(span.len() - last_len..)?;
        if last_len == 0 || last_len == span.len() || !DANGLING_WORDS.contains(&last) {
            break;
        }
        let rest = text.get(end..)?;
        let gap: usize = match rest.chars().next() {
            Some(c) if crate::entity::builtin::text::is_apostrophe(c) => c.len_utf8(),
            _ => rest.chars().take_while(|c| *c == ' ').map(char::len_utf8).sum(),
        };
        let next: usize = rest.get(gap..)?.chars().take_while(&inside).map(char::len_utf8).sum();
        if gap == 0 || next == 0 || !unclaimed(end + gap) {
            // Nothing to complete: the name ends before the dangling word.
            return Some(end - last_len);
        }
        end += gap + next;
    }
    Some(end)
}

/// Letters of scripts written without spaces between words, where a run of letters is a
/// phrase, not a word.
fn written_without_spaces(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF // Thai, Lao
        | 0x1000..=0x109F // Myanmar
        | 0x1780..=0x17FF // Khmer
        | 0x3040..=0x30FF // Hiragana, Katakana
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified ideographs
        | 0xF900..=0xFAFF // CJK compatibility ideographs
        | 0x20000..=0x3FFFF) // CJK extensions B and later
}

/// Viterbi over `probs` (per-token tag probabilities) and the weighted tag-bigram
/// log-probabilities, then the spans of the path.
fn decode_probabilities(
    text: &str,
    offsets: &[(usize, usize)],
    probs: &Array2<f32>,
    transitions: Option<(&Array2<f32>, f32)>,
) -> Vec<Decoded> {
    let path = viterbi_with_transitions(&probs.mapv(|v| v.max(1e-12).ln()), transitions);
    let chosen: Vec<f32> = path.iter().enumerate().map(|(t, &j)| probs.get((t, j)).copied().unwrap_or(0.0)).collect();
    spans_of_path(text, offsets, &path, &chosen)
}

/// The tagger's reading of one utterance (see [`Tagger::read`]).
#[derive(Debug)]
pub struct Reading<'a> {
    /// The learned entities, over the confidence threshold.
    pub entities: Vec<Entity>,
    probs: Option<Array2<f32>>,
    offsets: &'a [(usize, usize)],
    tagger: &'a Tagger,
}

impl Reading<'_> {
    /// How strongly the tagger saw an `entity` at bytes `start..end`: the highest probability,
    /// over the tokens there, that the token is inside an entity of that type (`B-` or `I-`).
    /// `None` for a type the tagger was not trained on.
    pub fn support(&self, entity: &str, start: usize, end: usize) -> Option<f32> {
        let index = self.tagger.types.iter().position(|t| t == entity)?;
        let probs = self.probs.as_ref()?;
        let (b, i) = (Tag::B(index).index(), Tag::I(index).index());
        Some(
            self.offsets
                .iter()
                .enumerate()
                .filter(|(_, &(s, e))| s < end && start < e)
                .map(|(t, _)| probs.get((t, b)).copied().unwrap_or(0.0) + probs.get((t, i)).copied().unwrap_or(0.0))
                .fold(0.0, f32::max),
        )
    }

    /// A built-in match without its leading article, demonstrative or preposition when the
    /// tagger reads that word as more likely outside the entity than inside, and a later word
    /// as inside: data that writes `ce [samedi](date)` or `le [3 mars](date)` gets `samedi` and
    /// `3 mars` from the built-in `ce samedi` and `le 3 mars`, value unchanged. Other words
    /// stay, however weakly supported (`nächsten Mittwoch`).
    pub fn trim_unsupported_lead(&self, candidate: Entity) -> Entity {
        let entity = candidate.entity.clone();
        trim_lead(candidate, |start, end| self.support(&entity, start, end))
    }

    /// Whether the tagger confirms a built-in or lookup match. A match of a type the bot's
    /// data annotates goes through the tagger, which learned that data's conventions and reads
    /// the context: `il y a 4 jours` is a date to the built-in parser, not to data that
    /// annotates specific days only; `ça fait 3 fois` is not a way to pay, whatever a lookup
    /// of `3 fois` says. It is kept when the tagger gives it at least
    /// [`TaggerMeta::builtin_gate`] support (a low bar: the tagger is weaker in languages it
    /// was not trained on), and always for types the tagger does not know.
    ///
    /// E-mail addresses, URLs and phone numbers are not vetted: their form is what makes them
    /// (a valid E.164 number, an address with its `@`), not a convention of the data, and a
    /// tagger that saw few of one written form would veto it (`07.52.18.64.33` where the data
    /// writes `07 52 18 64 33`).
    pub fn confirms(&self, candidate: &Entity) -> bool {
        const SELF_EVIDENT: [&str; 3] = ["email", "url", "phone_number"];
        if candidate.extractor == "builtin" && SELF_EVIDENT.contains(&candidate.entity.as_str()) {
            return true;
        }
        self.support(&candidate.entity, candidate.start, candidate.end)
            .is_none_or(|support| support >= self.tagger.meta.builtin_gate)
    }
}

/// Exact-span micro F1 of the `scored` spans (confidence, gold or not) kept at `threshold`,
/// against `gold_total` gold spans.
fn span_f1(scored: &[(f32, bool)], gold_total: usize, threshold: f32) -> f64 {
    let kept: Vec<&(f32, bool)> = scored.iter().filter(|(c, _)| *c >= threshold).collect();
    let tp = kept.iter().filter(|(_, ok)| *ok).count() as f64;
    let (p, r) = (tp / kept.len().max(1) as f64, tp / gold_total.max(1) as f64);
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

/// Number of surface flags appended to the embeddings (see [`features`]).
const FLAGS: usize = 2;

/// Width of the features of `dim`-wide token embeddings (see [`features`]).
pub fn feature_width(dim: usize, context: usize, sentence: bool) -> usize {
    dim * (2 * context + 1) + FLAGS + if sentence { dim } else { 0 }
}

/// The head's input for every token: its embedding, those of `context` neighbours on each side
/// (zeros beyond the ends), the flags "starts a word" and "is punctuation", and with `sentence`
/// the sentence embedding.
pub fn features(text: &str, encoded: &EncodedText, context: usize, sentence: bool) -> Array2<f32> {
    let (n, dim) = encoded.tokens.dim();
    let width = feature_width(dim, context, sentence);
    let flags = dim * (2 * context + 1);
    let mut x = Array2::<f32>::zeros((n, width));
    for t in 0..n {
        let mut row = x.row_mut(t);
        for (slot, offset) in (-(context as isize)..=context as isize).enumerate() {
            let source = t as isize + offset;
            if source < 0 || source >= n as isize {
                continue;
            }
            row.slice_mut(ndarray::s![slot * dim..(slot + 1) * dim]).assign(&encoded.tokens.row(source as usize));
        }
        let (start, end) = encoded.offsets.get(t).copied().unwrap_or((0, 0));
        let starts_word = text.get(..start).and_then(|s| s.chars().next_back()).is_none_or(|c| !c.is_alphanumeric());
        let punctuation =
            text.get(start..end).is_some_and(|s| !s.is_empty() && s.chars().all(|c| !c.is_alphanumeric()));
        for (slot, flag) in row.iter_mut().skip(flags).zip([starts_word, punctuation]) {
            *slot = f32::from(u8::from(flag));
        }
        if sentence && encoded.sentence.len() == dim {
            row.slice_mut(ndarray::s![flags + FLAGS..]).assign(&encoded.sentence);
        }
    }
    x
}

/// One training utterance for the tagger: its text, its encoding and its annotations.
#[derive(Debug, Clone, Copy)]
pub struct TaggedText<'a> {
    /// The utterance.
    pub text: &'a str,
    /// Its encoding (token embeddings and offsets).
    pub encoded: &'a EncodedText,
    /// Annotated entities, byte spans into `text`.
    pub entities: &'a [EntityAnnotation],
}

/// A trained tagger, ready to tag encoded utterances.
#[derive(Debug, Clone)]
pub struct Tagger {
    head: Head,
    meta: TaggerMeta,
    /// Tag-bigram log-probabilities of the training data (see [`transition_log_probs`]).
    transitions: Option<Array2<f32>>,
    /// Entity type of each type index (from the `B-` tags of `meta.tags`).
    types: Vec<String>,
}

impl Tagger {
    /// Trains on `train`, stopping early on `held_out` (when empty, a share of `train` is held
    /// out). `None` when no example is annotated: there is nothing to learn. Deterministic for
    /// a seed.
    pub fn train(
        train: &[TaggedText],
        held_out: &[TaggedText],
        config: &TaggerConfig,
        seed: u64,
    ) -> Result<Option<Self>> {
        let types = entity_types(train.iter().flat_map(|t| t.entities.iter()));
        if types.is_empty() {
            return Ok(None);
        }
        let _span = tracing::info_span!("train_tagger", examples = train.len(), types = types.len()).entered();
        let dim = train.first().map_or(0, |t| t.encoded.tokens.ncols());
        let (train, held): (Vec<TaggedText>, Vec<TaggedText>) = if held_out.is_empty() {
            split_held_out(train, config.held_out_share, seed)
        } else {
            (train.to_vec(), held_out.to_vec())
        };
        let names = types.clone();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
        let (x, y) = token_matrix(&train, &index, config.context, config.sentence, dim)?;
        if x.nrows() == 0 {
            return Ok(None);
        }
        let (hx, hy) = token_matrix(&held, &index, config.context, config.sentence, dim)?;
        let classes = 1 + 2 * types.len();
        let held_rows = (hx.nrows() > 0).then_some((&hx, hy.as_slice()));
        let head = head::train(&x, &y, classes, held_rows, &config.head, seed)?;
        let mut tags = vec!["O".to_string()];
        for t in &types {
            tags.push(format!("B-{t}"));
            tags.push(format!("I-{t}"));
        }
        let meta = TaggerMeta {
            tags,
            context: config.context,
            sentence: config.sentence,
            dim,
            min_confidence: 0.0,
            held_out_f1: None,
            builtin_gate: config.builtin_gate,
            transition_weight: 0.0,
        };
        // `y` holds every training token's tag, utterance after utterance.
        let mut rest = y.as_slice();
        let sequences = train.iter().map(|item| {
            let (sequence, tail) = rest.split_at(item.encoded.offsets.len().min(rest.len()));
            rest = tail;
            sequence
        });
        let transitions = transition_log_probs(sequences, classes);
        let mut tagger = Self { head, meta, transitions: Some(transitions), types };
        if !held.is_empty() {
            if config.transitions {
                tagger.choose_transition_weight(&held, &index);
            }
            tagger.choose_min_confidence(&held, &index);
        }
        Ok(Some(tagger))
    }

    /// The decoded spans of `held` with their confidences and whether each is gold, and the
    /// number of gold spans.
    fn score_held_out(&self, held: &[TaggedText], index: &HashMap<&str, usize>) -> (Vec<(f32, bool)>, usize) {
        let mut gold_total = 0usize;
        let mut scored: Vec<(f32, bool)> = Vec::new();
        for item in held {
            let gold: Vec<TypedSpan> = annotated_spans(item.entities, index);
            gold_total += gold.len();
            for d in self.decode(item.text, item.encoded) {
                scored.push((d.confidence, gold.contains(&d.span)));
            }
        }
        (scored, gold_total)
    }

    /// Chooses the weight of the tag-bigram log-probabilities (0, 0.25, 0.5 or 1) that
    /// maximises exact-span micro F1 on `held`; 0 on fewer than [`MIN_SPANS_FOR_THRESHOLD`]
    /// gold spans.
    fn choose_transition_weight(&mut self, held: &[TaggedText], index: &HashMap<&str, usize>) {
        let f1 = |tagger: &Self| {
            let (scored, gold_total) = tagger.score_held_out(held, index);
            (span_f1(&scored, gold_total, 0.0), gold_total)
        };
        self.meta.transition_weight = 0.0;
        let (mut best_f1, gold_total) = f1(self);
        let mut best_weight = 0.0;
        if gold_total >= MIN_SPANS_FOR_THRESHOLD {
            for weight in [0.25, 0.5, 1.0] {
                self.meta.transition_weight = weight;
                let (value, _) = f1(self);
                // Strictly better only: ties keep the lighter weight.
                if value > best_f1 + 1e-9 {
                    (best_f1, best_weight) = (value, weight);
                }
            }
        }
        self.meta.transition_weight = best_weight;
    }

    /// Chooses the confidence threshold that maximises exact-span micro F1 on `held`.
    fn choose_min_confidence(&mut self, held: &[TaggedText], index: &HashMap<&str, usize>) {
        let (scored, gold_total) = self.score_held_out(held, index);
        let f1_at = |threshold: f32| span_f1(&scored, gold_total, threshold);
        let mut best = (f1_at(0.0), 0.0f32);
        // A threshold chosen on a handful of spans would fit their noise: keep none then.
        let steps = if gold_total >= MIN_SPANS_FOR_THRESHOLD { 18 } else { 0 };
        for step in 1..=steps {
            let threshold = step as f32 * 0.05;
            let f1 = f1_at(threshold);
            // Strictly better only: ties keep the lower threshold, which loses fewer entities
            // on data unlike the held-out share.
            if f1 > best.0 + 1e-9 {
                best = (f1, threshold);
            }
        }
        self.meta.min_confidence = best.1;
        self.meta.held_out_f1 = Some(best.0);
    }

    /// The tag-bigram table and its weight, when the tagger decodes with them.
    fn weighted_transitions(&self) -> Option<(&Array2<f32>, f32)> {
        let weight = self.meta.transition_weight;
        self.transitions.as_ref().filter(|_| weight > 0.0).map(|table| (table, weight))
    }

    /// Per-token tag probabilities (rows: tokens, columns: tags by [`Tag::index`]); `None`
    /// when there is nothing to tag or the encoding does not fit the tagger.
    fn token_probabilities(&self, text: &str, encoded: &EncodedText) -> Option<Array2<f32>> {
        if encoded.offsets.is_empty() || encoded.tokens.ncols() != self.meta.dim {
            return None;
        }
        let x = features(text, encoded, self.meta.context, self.meta.sentence);
        let mut probs = self.head.logits_batch(x.view());
        for mut row in probs.rows_mut() {
            let p = head::softmax(&row.to_owned(), 1.0);
            row.assign(&p);
        }
        Some(probs)
    }

    /// Decodes one encoded utterance into typed spans with confidences (no threshold applied).
    pub fn decode(&self, text: &str, encoded: &EncodedText) -> Vec<Decoded> {
        let _span = tracing::trace_span!("tagger", tokens = encoded.offsets.len()).entered();
        self.token_probabilities(text, encoded)
            .map(|probs| decode_probabilities(text, &encoded.offsets, &probs, self.weighted_transitions()))
            .unwrap_or_default()
    }

    /// The entities of one encoded utterance (extractor `learned`, value = the text; the
    /// caller replaces it by a synonym's canonical value where one is declared).
    pub fn extract(&self, text: &str, encoded: &EncodedText) -> Vec<Entity> {
        self.read(text, encoded).entities
    }

    /// Everything the tagger has to say about one encoded utterance: its entities (as
    /// [`extract`](Self::extract)) and how strongly it saw each type at each token, which
    /// [`Reading::confirms`] uses to vet built-in matches of the types it was trained on.
    pub fn read<'a>(&'a self, text: &str, encoded: &'a EncodedText) -> Reading<'a> {
        let _span = tracing::trace_span!("tagger", tokens = encoded.offsets.len()).entered();
        let probs = self.token_probabilities(text, encoded);
        let entities = probs
            .as_ref()
            .map(|p| decode_probabilities(text, &encoded.offsets, p, self.weighted_transitions()))
            .unwrap_or_default()
            .into_iter()
            .filter(|d| d.confidence >= self.meta.min_confidence)
            .filter_map(|d| {
                let entity = self.types.get(d.span.entity)?;
                let surface = text.get(d.span.start..d.span.end)?;
                Some(Entity {
                    entity: entity.clone(),
                    text: surface.to_string(),
                    value: serde_json::Value::String(surface.to_string()),
                    start: d.span.start,
                    end: d.span.end,
                    confidence: d.confidence,
                    extractor: "learned".to_string(),
                })
            })
            .collect();
        Reading { entities, probs, offsets: &encoded.offsets, tagger: self }
    }

    /// What the manifest records.
    pub fn meta(&self) -> &TaggerMeta {
        &self.meta
    }

    /// The entity types it tags, by type index.
    pub fn types(&self) -> &[String] {
        &self.types
    }

    /// Named tensors for the artifact, under [`TENSOR_PREFIX`].
    pub fn to_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut tensors = self.head.to_tensors(TENSOR_PREFIX)?;
        if let Some((table, _)) = self.weighted_transitions() {
            tensors.insert(TRANSITIONS_TENSOR.to_string(), head::matrix_to_tensor(table)?);
        }
        Ok(tensors)
    }

    /// Rebuilds a tagger from the artifact's tensors and its manifest entry; `Ok(None)` when the
    /// tensors hold no tagger. Inconsistent shapes are an error.
    pub fn from_tensors(tensors: &HashMap<String, Tensor>, meta: TaggerMeta) -> Result<Option<Self>> {
        let Some(head) = Head::from_tensors(tensors, TENSOR_PREFIX)? else {
            return Ok(None);
        };
        let width = feature_width(meta.dim, meta.context, meta.sentence);
        let inputs = tensors.get(&format!("{TENSOR_PREFIX}.mean")).map_or(0, |t| t.elem_count());
        if head.classes() != meta.tags.len() || inputs != width || meta.tags.len() % 2 != 1 {
            return Err(Error::InvalidArgument(format!(
                "tagger: {} tags and {width}-wide features in the manifest, but the weights have {} outputs and {inputs} inputs",
                meta.tags.len(),
                head.classes(),
            )));
        }
        let transitions = tensors.get(TRANSITIONS_TENSOR).map(head::matrix_from_tensor).transpose()?;
        let tags = meta.tags.len();
        let fits = transitions.as_ref().map_or(meta.transition_weight <= 0.0, |t| t.dim() == (tags + 1, tags));
        if !fits {
            return Err(Error::InvalidArgument(format!(
                "tagger: the manifest decodes with tag transitions over {tags} tags, but the weights have {}; train again",
                transitions.as_ref().map_or("none".to_string(), |t| format!("a {:?} table", t.dim())),
            )));
        }
        let types: Vec<String> = meta.tags.iter().filter_map(|t| t.strip_prefix("B-").map(str::to_string)).collect();
        Ok(Some(Self { head, meta, transitions, types }))
    }
}

/// The entity types a tagger trained on `examples` knows, sorted: the `B-`/`I-` tags of type
/// `i` have indices [`Tag::B`]`(i)` and [`Tag::I`]`(i)`.
pub(crate) fn entity_types<'a>(annotations: impl Iterator<Item = &'a EntityAnnotation>) -> Vec<String> {
    annotations
        .map(|a| a.entity.clone())
        .filter(|e| e != crate::data::ANY_ENTITY)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The tag index of each token at byte `offsets` for the annotations `entities` (types indexed
/// as in `types`, from [`entity_types`]).
pub(crate) fn tag_indices(offsets: &[(usize, usize)], entities: &[EntityAnnotation], types: &[String]) -> Vec<usize> {
    let index: HashMap<&str, usize> = types.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
    bio_tags(offsets, &annotated_spans(entities, &index)).into_iter().map(Tag::index).collect()
}

/// Annotations as typed spans, skipping types the tagger does not know.
fn annotated_spans(entities: &[EntityAnnotation], index: &HashMap<&str, usize>) -> Vec<TypedSpan> {
    entities
        .iter()
        .filter_map(|a| index.get(a.entity.as_str()).map(|&entity| TypedSpan { entity, start: a.start, end: a.end }))
        .collect()
}

/// Feature rows and tag indices of every token of `items`.
fn token_matrix(
    items: &[TaggedText],
    index: &HashMap<&str, usize>,
    context: usize,
    sentence: bool,
    dim: usize,
) -> Result<(Array2<f32>, Vec<usize>)> {
    let width = feature_width(dim, context, sentence);
    let rows: usize = items.iter().map(|t| t.encoded.offsets.len()).sum();
    let mut x = Array2::<f32>::zeros((rows, width));
    let mut y = Vec::with_capacity(rows);
    let mut at = 0;
    for item in items {
        if item.encoded.tokens.ncols() != dim || item.encoded.tokens.nrows() != item.encoded.offsets.len() {
            return Err(Error::InvalidArgument("internal: token embeddings of inconsistent width".into()));
        }
        let n = item.encoded.offsets.len();
        x.slice_mut(ndarray::s![at..at + n, ..]).assign(&features(item.text, item.encoded, context, sentence));
        let spans = annotated_spans(item.entities, index);
        y.extend(bio_tags(&item.encoded.offsets, &spans).into_iter().map(Tag::index));
        at += n;
    }
    Ok((x, y))
}

/// A seeded share of `items` held out (at least one when there are ten or more).
fn split_held_out<'a>(items: &[TaggedText<'a>], share: f32, seed: u64) -> (Vec<TaggedText<'a>>, Vec<TaggedText<'a>>) {
    let count = ((items.len() as f32 * share).round() as usize).min(items.len() / 2);
    if items.len() < 10 || count == 0 {
        return (items.to_vec(), Vec::new());
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x7a66));
    let mut held_mask = vec![false; items.len()];
    for &i in order.iter().take(count) {
        if let Some(held) = held_mask.get_mut(i) {
            *held = true;
        }
    }
    let mut train = Vec::with_capacity(items.len() - count);
    let mut held = Vec::with_capacity(count);
    for (item, held_out) in items.iter().zip(held_mask) {
        if held_out {
            held.push(*item);
        } else {
            train.push(*item);
        }
    }
    (train, held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_indices_round_trip() {
        for i in 0..9 {
            assert_eq!(Tag::from_index(i).index(), i);
        }
        assert_eq!(Tag::from_index(3), Tag::B(1));
        assert_eq!(Tag::from_index(4), Tag::I(1));
    }

    /// Every legal tag path of `n` tokens over `k` tags, with its score.
    fn legal_paths(scores: &Array2<f32>) -> Vec<(f32, Vec<usize>)> {
        let (n, k) = scores.dim();
        let mut paths: Vec<(f32, Vec<usize>)> = vec![(0.0, Vec::new())];
        for t in 0..n {
            let mut next = Vec::new();
            for (score, path) in &paths {
                for j in 0..k {
                    let previous = path.last().map(|&p| Tag::from_index(p));
                    if Tag::from_index(j).may_follow(previous) {
                        let mut p = path.clone();
                        p.push(j);
                        next.push((score + scores[[t, j]], p));
                    }
                }
            }
            paths = next;
        }
        paths
    }

    #[test]
    fn viterbi_never_starts_an_entity_with_i() {
        // Tags: O, B-0, I-0, B-1, I-1. Token-wise argmax would be I-0, I-1, I-1: illegal twice.
        let scores = Array2::from_shape_vec(
            (3, 5),
            vec![
                -3.0, -1.0, -0.1, -9.0, -9.0, //
                -5.0, -5.0, -2.0, -5.0, -0.1, //
                -5.0, -5.0, -5.0, -5.0, -0.1,
            ],
        )
        .unwrap();
        let path = viterbi(&scores);
        let tags: Vec<Tag> = path.iter().map(|&j| Tag::from_index(j)).collect();
        for (t, tag) in tags.iter().enumerate() {
            let previous = t.checked_sub(1).map(|p| tags[p]);
            assert!(tag.may_follow(previous), "{tags:?}");
        }
        // The best legal path, by exhaustive search: B-0, then B-1 I-1.
        assert_eq!(tags, [Tag::B(0), Tag::B(1), Tag::I(1)]);
        let best = legal_paths(&scores).into_iter().max_by(|a, b| a.0.total_cmp(&b.0)).unwrap();
        assert_eq!(best.1, path);
    }

    #[test]
    fn viterbi_matches_exhaustive_search_on_random_scores() {
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        for _ in 0..50 {
            let n = rng.random_range(1..6);
            let scores = Array2::from_shape_fn((n, 5), |_| -rng.random::<f32>() * 4.0);
            let path = viterbi(&scores);
            let best = legal_paths(&scores).into_iter().max_by(|a, b| a.0.total_cmp(&b.0)).unwrap();
            let score: f32 = path.iter().enumerate().map(|(t, &j)| scores[[t, j]]).sum();
            assert!((score - best.0).abs() < 1e-5, "{path:?} {best:?}");

            // The same scores with random transitions: the path score counts them too.
            let table = Array2::from_shape_fn((6, 5), |_| -rng.random::<f32>() * 3.0);
            let weight = rng.random::<f32>();
            let path_score = |path: &[usize]| -> f32 {
                let mut previous = 0;
                let mut total = 0.0;
                for (t, &j) in path.iter().enumerate() {
                    total += scores[[t, j]] + weight * table[[previous, j]];
                    previous = j + 1;
                }
                total
            };
            let path = viterbi_with_transitions(&scores, Some((&table, weight)));
            let best = legal_paths(&scores).into_iter().map(|(_, p)| path_score(&p)).fold(f32::NEG_INFINITY, f32::max);
            assert!((path_score(&path) - best).abs() < 1e-5, "{path:?}: {} < {best}", path_score(&path));
        }
    }

    #[test]
    fn transition_table_rows_are_distributions_over_legal_tags() {
        // Tags O, B-0, I-0, B-1, I-1; the data never writes B-0 B-0.
        let sequences: Vec<Vec<usize>> = vec![vec![0, 1, 2, 0], vec![1, 2, 2], vec![0, 3, 4, 0, 1]];
        let table = transition_log_probs(sequences.iter().map(Vec::as_slice), 5);
        assert_eq!(table.dim(), (6, 5));
        for (row, values) in table.rows().into_iter().enumerate() {
            let previous = row.checked_sub(1).map(Tag::from_index);
            let mut total = 0.0;
            for (j, &v) in values.iter().enumerate() {
                if Tag::from_index(j).may_follow(previous) {
                    total += v.exp();
                } else {
                    assert_eq!(v, 0.0, "forbidden transition {row} -> {j} has no score");
                }
            }
            assert!((total - 1.0).abs() < 1e-5, "row {row} sums to {total}");
        }
        // After B-0: I-0 (seen twice) beats B-0 (never seen, smoothed).
        assert!(table[(2, 2)] > table[(2, 1)]);
    }

    #[test]
    fn transitions_join_a_span_the_token_scores_split() {
        // Token scores alone prefer B-0 B-0 (two spans); the data's bigrams make it one.
        let scores = Array2::from_shape_vec((2, 3), vec![-3.0, -0.1, -3.0, -3.0, -0.6, -0.8]).unwrap();
        assert_eq!(viterbi(&scores), [1, 1]);
        let sequences: Vec<Vec<usize>> = (0..20).map(|_| vec![1, 2, 0]).collect();
        let table = transition_log_probs(sequences.iter().map(Vec::as_slice), 3);
        assert_eq!(viterbi_with_transitions(&scores, Some((&table, 1.0))), [1, 2]);
        assert_eq!(viterbi_with_transitions(&scores, Some((&table, 0.0))), [1, 1]);
    }

    #[test]
    fn viterbi_keeps_a_legal_argmax() {
        let scores = Array2::from_shape_vec((2, 3), vec![-2.0, -0.1, -3.0, -2.0, -3.0, -0.1]).unwrap();
        assert_eq!(viterbi(&scores), [1, 2]);
        assert!(viterbi(&Array2::zeros((0, 3))).is_empty());
    }

    #[test]
    fn bio_alignment_with_multibyte_offsets() {
        // "réf. 12€ à Zürich" split as a tokenizer would: "ré", "f", ".", "12", "€", "à", "Zü", "rich".
        let text = "réf. 12€ à Zürich";
        let offsets = [(0, 3), (3, 4), (4, 5), (6, 8), (8, 11), (12, 14), (15, 18), (18, 22)];
        for &(s, e) in &offsets {
            assert!(text.is_char_boundary(s) && text.is_char_boundary(e));
        }
        assert_eq!(&text[15..22], "Zürich");
        let spans = [TypedSpan { entity: 0, start: 6, end: 11 }, TypedSpan { entity: 1, start: 15, end: 22 }];
        let tags = bio_tags(&offsets, &spans);
        assert_eq!(tags, [Tag::O, Tag::O, Tag::O, Tag::B(0), Tag::I(0), Tag::O, Tag::B(1), Tag::I(1)]);
        // And back: the decoded spans are the annotated bytes.
        let path: Vec<usize> = tags.iter().map(|t| t.index()).collect();
        let decoded = spans_of_path(text, &offsets, &path, &[1.0; 8]);
        let got: Vec<&str> = decoded.iter().map(|d| &text[d.span.start..d.span.end]).collect();
        assert_eq!(got, ["12€", "Zürich"]);
    }

    #[test]
    fn spans_extend_to_whole_words_and_trim_whitespace() {
        let text = "commande 48213 svp";
        // A SentencePiece-like split where the number is two pieces and only the first is tagged,
        // and a token that carries its leading space.
        let offsets = [(0, 8), (8, 11), (11, 14), (14, 18)];
        let path = [0, 1, 0, 0];
        let decoded = spans_of_path(text, &offsets, &path, &[0.9, 0.8, 0.9, 0.9]);
        assert_eq!(decoded.len(), 1);
        assert_eq!(&text[decoded[0].span.start..decoded[0].span.end], "48213");
        assert!((decoded[0].confidence - 0.8).abs() < 1e-6);
        // Punctuation after an entity is not pulled in.
        let text = "CMD-5529.";
        let decoded = spans_of_path(text, &[(0, 3), (3, 4), (4, 8), (8, 9)], &[1, 2, 2, 0], &[1.0; 4]);
        assert_eq!(&text[decoded[0].span.start..decoded[0].span.end], "CMD-5529");
        // Nor when a tagged token carries it ("▁sac," in SentencePiece), but a full stop after a
        // digit may be a German ordinal date's ("der 10.").
        let text = "le sac. merci";
        let decoded = spans_of_path(text, &[(0, 2), (2, 7), (7, 13)], &[0, 1, 0], &[1.0; 3]);
        assert_eq!(&text[decoded[0].span.start..decoded[0].span.end], "sac");
        let text = "am Montag, der 10.";
        let decoded =
            spans_of_path(text, &[(0, 2), (2, 10), (10, 11), (11, 15), (15, 18)], &[0, 1, 2, 2, 2], &[1.0; 5]);
        assert_eq!(&text[decoded[0].span.start..decoded[0].span.end], "Montag, der 10.");
    }

    #[test]
    fn spans_ending_on_an_elision_inside_a_word_take_the_whole_word() {
        let span_of = |text: &str, offsets: &[(usize, usize)], path: &[usize]| {
            let decoded = spans_of_path(text, offsets, path, &vec![1.0; path.len()]);
            decoded.iter().map(|d| text[d.span.start..d.span.end].to_string()).collect::<Vec<_>>()
        };
        // SentencePiece: "▁aujourd", "'", "hui", "▁?" with the tagger stopping at the apostrophe.
        assert_eq!(span_of("aujourd'hui ?", &[(0, 7), (7, 8), (8, 11), (11, 13)], &[1, 2, 0, 0]), ["aujourd'hui"]);
        assert_eq!(span_of("aujourd’hui", &[(0, 7), (7, 10), (10, 13)], &[1, 2, 0]), ["aujourd’hui"]);
        // Any apostrophe the built-in parser folds, here U+02BC (modifier letter apostrophe).
        assert_eq!(span_of("aujourdʼhui", &[(0, 7), (7, 9), (9, 12)], &[1, 2, 0]), ["aujourdʼhui"]);
        // An elided article before the entity stays outside it.
        assert_eq!(span_of("l'iPhone", &[(0, 1), (1, 2), (2, 8)], &[0, 0, 1]), ["iPhone"]);
    }

    #[test]
    fn a_builtin_match_loses_the_leading_article_the_tagger_leaves_out() {
        let candidate = |text: &str| Entity {
            entity: "date".into(),
            text: text.into(),
            value: serde_json::json!("2026-03-03"),
            start: 10,
            end: 10 + text.len(),
            confidence: 1.0,
            extractor: "builtin".into(),
        };
        // The tagger supports the words from byte 13 on ("3 mars"), not "le".
        let support = |start: usize, _end: usize| Some(if start >= 13 { 0.9 } else { 0.1 });
        let trimmed = trim_lead(candidate("le 3 mars"), support);
        assert_eq!((trimmed.text.as_str(), trimmed.start, trimmed.end), ("3 mars", 13, 19));
        assert_eq!(trimmed.value, serde_json::json!("2026-03-03"));
        // A modifier is no article: it stays, however weak its support.
        let kept = trim_lead(candidate("nächsten Mittwoch"), |start, _| Some(if start >= 19 { 0.9 } else { 0.1 }));
        assert_eq!(kept.text, "nächsten Mittwoch");
        // Nor does an article the tagger reads as inside, or one before unsupported words.
        assert_eq!(trim_lead(candidate("le 3 mars"), |_, _| Some(0.9)).text, "le 3 mars");
        assert_eq!(trim_lead(candidate("le 3 mars"), |_, _| Some(0.1)).text, "le 3 mars");
    }

    #[test]
    fn spans_never_end_on_a_dangling_preposition() {
        let span_of = |text: &str, end_at: &str| {
            let end = text.find(end_at).map(|i| i + end_at.len()).unwrap_or(0);
            tidy_span(text, 0, end, &|_| true).map(|(s, e)| text[s..e].to_string())
        };
        // The tagger stopped on the preposition: the complement it opens is taken.
        assert_eq!(span_of("maillot de bain ?", "maillot de").as_deref(), Some("maillot de bain"));
        assert_eq!(span_of("canapé d'angle svp", "canapé d").as_deref(), Some("canapé d'angle"));
        assert_eq!(span_of("sac à dos", "sac à").as_deref(), Some("sac à dos"));
        assert_eq!(span_of("table de la cuisine", "table de").as_deref(), Some("table de la cuisine"));
        // Nothing follows: the preposition goes.
        assert_eq!(span_of("le pull de ?", "pull de").as_deref(), Some("le pull"));
        // The next word is another entity's: the preposition goes.
        let offsets = [(0, 8), (9, 12), (13, 21)];
        let decoded = spans_of_path("Umgebung von Fairview", &offsets, &[1, 2, 1], &[1.0; 3]);
        let got: Vec<&str> = decoded.iter().map(|d| &"Umgebung von Fairview"[d.span.start..d.span.end]).collect();
        assert_eq!(got, ["Umgebung", "Fairview"]);
        // A capitalised word may end a title; a span of one dangling word stays.
        assert_eq!(span_of("album Abba The Best", "album Abba The").as_deref(), Some("album Abba The"));
        assert_eq!(span_of("de rien", "de").as_deref(), Some("de"));
    }

    #[test]
    fn spans_in_scripts_without_spaces_keep_their_tokens() {
        // "我想退货" ("I want to return"), the tagger marking "退货" only: no word run to extend to.
        let text = "我想退货";
        let decoded = spans_of_path(text, &[(0, 3), (3, 6), (6, 12)], &[0, 0, 1], &[1.0; 3]);
        assert_eq!(&text[decoded[0].span.start..decoded[0].span.end], "退货");
    }

    #[test]
    fn features_mark_word_starts_and_punctuation() {
        let encoded = EncodedText {
            sentence: ndarray::Array1::zeros(2),
            tokens: Array2::from_shape_vec((3, 2), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap(),
            offsets: vec![(0, 2), (2, 4), (4, 5)],
            truncated: false,
            adapted: None,
        };
        let x = features("abcd?", &encoded, 1, false);
        assert_eq!(x.dim(), (3, 2 * 3 + FLAGS));
        assert_eq!(x.row(0).to_vec(), [0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 1.0, 0.0]);
        assert_eq!(x.row(1).to_vec(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0]);
        assert_eq!(x.row(2).to_vec(), [3.0, 4.0, 5.0, 6.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn learns_a_toy_pattern_on_the_tiny_encoder() {
        let dir = tempfile::tempdir().unwrap();
        crate::testing::write_tiny_encoder(dir.path(), 3).unwrap();
        let encoder = crate::Encoder::from_dir(dir.path()).unwrap();
        // The entity is the word after "commande": a position the random encoder cannot know
        // from the word alone (the same digits appear elsewhere as non-entities).
        let mut texts = Vec::new();
        let mut annotations = Vec::new();
        for i in 0..60 {
            let number = format!("{}", 10 + (i * 37) % 89);
            let other = format!("{}", 10 + (i * 53) % 89);
            let (text, start) = if i % 2 == 0 {
                let prefix = "où est ma commande ".to_string();
                (format!("{prefix}{number} merci {other}"), prefix.len())
            } else {
                let prefix = format!("bonjour {other} je veux suivre la commande ");
                (format!("{prefix}{number}"), prefix.len())
            };
            annotations.push(vec![EntityAnnotation {
                entity: "order_id".into(),
                start,
                end: start + number.len(),
                text: number.clone(),
                value: None,
            }]);
            texts.push(text);
        }
        let encoded = encoder.encode_batch(&texts).unwrap();
        let items: Vec<TaggedText> = texts
            .iter()
            .zip(&encoded)
            .zip(&annotations)
            .map(|((text, encoded), entities)| TaggedText { text, encoded, entities })
            .collect();
        let config = TaggerConfig {
            head: HeadConfig {
                learning_rate: 1e-2,
                max_epochs: 80,
                patience: 10,
                batch_size: 32,
                ..TaggerConfig::default().head
            },
            ..TaggerConfig::default()
        };
        let a = Tagger::train(&items[..50], &items[50..], &config, 5).unwrap().unwrap();
        let b = Tagger::train(&items[..50], &items[50..], &config, 5).unwrap().unwrap();
        let mut correct = 0;
        for item in &items[50..] {
            let found = a.extract(item.text, item.encoded);
            assert_eq!(found, b.extract(item.text, item.encoded), "same seed, same tagger");
            for e in &found {
                assert_eq!(&item.text[e.start..e.end], e.text);
            }
            let gold = &item.entities[0];
            correct += usize::from(found.iter().any(|e| e.start == gold.start && e.end == gold.end));
        }
        assert!(correct >= 8, "{correct}/10 held-out entities found");
        // Round trip through the artifact's tensors.
        let restored = Tagger::from_tensors(&a.to_tensors().unwrap(), a.meta().clone()).unwrap().unwrap();
        assert_eq!(restored.extract(items[55].text, items[55].encoded), a.extract(items[55].text, items[55].encoded));
        assert_eq!(restored.types(), ["order_id"]);
        // With tag transitions: they travel with the tensors, and a manifest that decodes with
        // them refuses weights without them.
        let mut weighted = a;
        weighted.meta.transition_weight = 0.5;
        let tensors = weighted.to_tensors().unwrap();
        assert!(tensors.contains_key(TRANSITIONS_TENSOR));
        let restored = Tagger::from_tensors(&tensors, weighted.meta().clone()).unwrap().unwrap();
        assert_eq!(restored.transitions, weighted.transitions);
        assert_eq!(
            restored.extract(items[55].text, items[55].encoded),
            weighted.extract(items[55].text, items[55].encoded)
        );
        let mut without = tensors;
        without.remove(TRANSITIONS_TENSOR);
        assert!(Tagger::from_tensors(&without, weighted.meta().clone()).is_err());
        // No annotations: no tagger.
        let plain: Vec<TaggedText> = items.iter().map(|i| TaggedText { entities: &[], ..*i }).collect();
        assert!(Tagger::train(&plain, &[], &config, 5).unwrap().is_none());
    }
}
