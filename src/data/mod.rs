//! Training data: the in-memory form every reader produces, and the readers.
//!
//! All formats (our YAML, Rasa 3 YAML, Rasa legacy Markdown, CSV, and the benchmark importers)
//! produce one [`TrainingData`]. Entity spans are **byte offsets** into [`Example::text`], so
//! `&example.text[span.start..span.end] == span.text` always holds.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The intent name that means "none of the intents" (out of scope).
pub const OUT_OF_SCOPE: &str = "out_of_scope";

/// Labels that readers map to [`OUT_OF_SCOPE`] (CLINC150 uses `oos`).
pub const OUT_OF_SCOPE_ALIASES: &[&str] = &["out_of_scope", "oos", "out-of-scope", "nlu_fallback"];

/// Where an example came from, for error messages and evaluation reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The file it was read from.
    pub path: PathBuf,
    /// 1-based line number in that file.
    pub line: usize,
}

/// An annotated entity inside an example: `[12345](order_id)` or
/// `[CB]{"entity": "payment_method", "value": "carte bancaire"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityAnnotation {
    /// Entity type, e.g. `order_id`.
    pub entity: String,
    /// Byte offset of the first byte in [`Example::text`].
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// The annotated text, `&example.text[start..end]`.
    pub text: String,
    /// The canonical value when the annotation gives one (synonym), else `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One labelled utterance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The utterance with annotation markup removed.
    pub text: String,
    /// The intent, or `None` for an out-of-scope example.
    pub intent: Option<String>,
    /// Entities annotated in the text.
    #[serde(default)]
    pub entities: Vec<EntityAnnotation>,
    /// ISO 639-1 language code, when known (`fr`, `en`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Multi-label flags such as `wants_human` or `frustrated`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<String>,
    /// Where it was read from, when it came from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// A declared entity: regexes, lookup values and synonyms, as written by the bot author.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityDeclaration {
    /// Entity type.
    pub name: String,
    /// Regular expressions (the `regex` crate's syntax) whose matches are this entity.
    #[serde(default)]
    pub regexes: Vec<String>,
    /// Lookup table: surface forms that are this entity.
    #[serde(default)]
    pub lookup: Vec<String>,
    /// Canonical value → surface forms that mean it ("carte bancaire" → ["CB", "carte bleue"]).
    #[serde(default)]
    pub synonyms: BTreeMap<String, Vec<String>>,
    /// Fuzzy matching threshold in 0..=1 for lookups and synonyms (None: exact matching only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuzzy: Option<f32>,
}

/// Per-intent settings beyond its examples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntentSpec {
    /// Entities the bot needs before it can act on this intent (the conversation policy asks for them).
    #[serde(default)]
    pub required_entities: Vec<String>,
    /// A human-readable description, shown when offering this intent as an alternative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Everything a model is trained from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingData {
    /// Labelled utterances, in file order.
    pub examples: Vec<Example>,
    /// Declared entities (regexes, lookups, synonyms), by name.
    #[serde(default)]
    pub entities: Vec<EntityDeclaration>,
    /// Per-intent settings, by intent name.
    #[serde(default)]
    pub intents: BTreeMap<String, IntentSpec>,
}
