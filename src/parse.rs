//! What [`Nlu::parse`](crate::Nlu::parse) returns.

use crate::intent::{Decision, IntentScore, Thresholds};
use serde::{Deserialize, Serialize};

/// An entity found in the input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// Entity type, e.g. `order_id`, `date`, `email`.
    pub entity: String,
    /// The text as it appears in the input: `&input[start..end]`.
    pub text: String,
    /// The normalised value (an ISO 8601 date, a number, a canonical synonym, …).
    pub value: serde_json::Value,
    /// Byte offset of the first byte in the input (on a char boundary).
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// Confidence in 0..=1 (1 for rule-based extractors).
    pub confidence: f32,
    /// Which extractor found it: `learned`, `regex`, `lookup`, `builtin`.
    pub extractor: String,
}

/// A multi-label flag such as `wants_human` or `frustrated`, with its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Signal name.
    pub name: String,
    /// Probability in 0..=1.
    pub score: f32,
    /// Whether the score reaches the signal's threshold.
    pub active: bool,
}

/// Everything entendu understood of one utterance. Serialises to one JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parse {
    /// The input, as given.
    pub text: String,
    /// The intent, or why there is none.
    pub decision: Decision,
    /// The best intents with calibrated probabilities, best first (always filled, even on fallback).
    pub ranking: Vec<IntentScore>,
    /// Entities, sorted by position, not overlapping.
    #[serde(default)]
    pub entities: Vec<Entity>,
    /// Signals such as `wants_human` and `frustrated`.
    #[serde(default)]
    pub signals: Vec<Signal>,
}

impl Parse {
    /// The intent name when the decision is an intent.
    pub fn intent(&self) -> Option<&str> {
        self.decision.intent()
    }

    /// Whether signal `name` is active.
    pub fn signal(&self, name: &str) -> bool {
        self.signals.iter().any(|s| s.name == name && s.active)
    }
}

/// Per-call options of [`Nlu::parse_with`](crate::Nlu::parse_with).
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Override the model's thresholds for this call.
    pub thresholds: Option<Thresholds>,
    /// Only these intents are possible (e.g. the dialogue expects a yes/no); `None`: all.
    pub allowed_intents: Option<Vec<String>>,
    /// Length of the ranking (default 5).
    pub top_k: Option<usize>,
    /// Reference date-time for relative dates ("demain"); `None`: now.
    pub reference_time: Option<chrono::NaiveDateTime>,
}
