//! entendu's YAML training data format, and Rasa 3's.
//!
//! # entendu format
//!
//! ```yaml
//! version: 1
//! language: fr              # default language of every example (optional)
//! intents:
//!   - name: track_order
//!     description: Suivre une commande        # optional
//!     required_entities: [order_id]           # optional
//!     # optional, for an umbrella intent ("j'ai un souci avec ma commande"): the policy offers
//!     # these intents as choices instead of answering
//!     clarify_with: [delivery_delay, missing_item, damaged_item]
//!     signals: [wants_human]                  # optional: flags every example of the intent carries
//!     examples:
//!       - où en est ma commande [12345](order_id) ?
//!       - 'je paie par [CB]{"entity": "payment_method", "value": "carte bancaire"}'
//!       - text: "c'est la troisième fois que je demande !!!"
//!         signals: [frustrated]               # added to the intent's
//!         language: fr
//!   - name: out_of_scope                      # or any alias in OUT_OF_SCOPE_ALIASES
//!     examples: [quel temps fait-il ?]
//! entities:
//!   - name: payment_method
//!     synonyms:
//!       carte bancaire: [CB, carte bleue]
//!     lookup: [visa, mastercard]
//!     regexes: ['\b\d{5,10}\b']               # the `regex` crate's syntax
//!     fuzzy: 0.85
//! ```
//!
//! Examples use the inline annotations of [`annotation`]. YAML itself
//! gives two characters a meaning there: an example that *starts* with `[` or `{`, or that
//! contains `: ` or ` #`, must be quoted (`- '[CB](payment_method) ça marche ?'`).
//!
//! # Rasa 3 format
//!
//! A file with a top-level `nlu:` key is read as Rasa 3 training data:
//!
//! ```yaml
//! version: "3.1"
//! nlu:
//! - intent: check_balance
//!   examples: |
//!     - how much is on my [savings](account) account?
//! - synonym: savings
//!   examples: |
//!     - pink pig
//! - regex: account_number
//!   examples: |
//!     - \d{10,12}
//! - lookup: bank
//!   examples: |
//!     - ING
//! ```
//!
//! `metadata` is accepted and ignored, as are other top-level keys (`stories`, `rules`, …).
//! Examples may also be a list of `- text: …` mappings. Regexes and lookups become the
//! [`EntityDeclaration`] of the same name; synonyms are attached to the entity types that use
//! them (see [`ANY_ENTITY`]).
//!
//! # Positions
//!
//! Every example gets its `Source` line, and errors point at `path:line:column`, including
//! annotation errors inside examples (found back in the raw text by the `locate` module).

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::path::Path;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::annotation::{self, AnnotationError};
use super::locate::{LineIndex, Located, Locator};
use super::{intent_label, EntityDeclaration, Example, IntentSpec, Source, TrainingData, ANY_ENTITY, OUT_OF_SCOPE};
use crate::error::{Error, Result};

/// The version of our format this reader understands.
pub const FORMAT_VERSION: u64 = 1;

/// Reads a YAML training data file, ours or Rasa 3's.
pub fn read(path: impl AsRef<Path>) -> Result<TrainingData> {
    let path = path.as_ref();
    let raw = super::read_text(path)?;
    read_str(&raw, path)
}

/// Reads YAML training data from `content`; `path` is used in sources and error messages.
pub fn read_str(content: &str, path: impl AsRef<Path>) -> Result<TrainingData> {
    let path = path.as_ref();
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let is_blank = content.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    });
    if is_blank {
        return Err(Error::syntax(
            path,
            1,
            0,
            "no training data in this file",
            Some("start it with `intents:` (or Rasa's `nlu:`)".into()),
        ));
    }
    let probe: Probe = serde_yaml_ng::from_str(content).map_err(|e| yaml_error(path, content, &e))?;
    let mut data = if probe.nlu { read_rasa(content, path)? } else { read_ours(content, path)? };
    data.resolve_synonyms();
    Ok(data)
}

/// Turns a YAML library error into an [`Error::Syntax`] at its position, with a hint for the
/// usual mistakes in example lists.
fn yaml_error(path: &Path, raw: &str, e: &serde_yaml_ng::Error) -> Error {
    let index = LineIndex::new(raw);
    let (line, column) = e.location().map_or((index.lines(), 0), |l| (l.line(), l.column()));
    let full = e.to_string();
    let suffix = format!(" at line {line} column {column}");
    let message = match full.find(&suffix) {
        Some(p) => format!("{}{}", full.get(..p).unwrap_or(""), full.get(p + suffix.len()..).unwrap_or("")),
        None => full,
    };
    let looks_unquoted = |l: usize| {
        let t = index.line_text(l).trim_start();
        t.starts_with("- [") || t.starts_with("- {") || t.starts_with("- text: [") || t.starts_with("- text: {")
    };
    let json_form = |l: usize| index.line_text(l).contains("]{");
    let hint = if looks_unquoted(line) || looks_unquoted(line.saturating_sub(1)) {
        Some("an example that starts with `[` or `{` must be quoted: `- '[12345](order_id) est ma commande'`".into())
    } else if json_form(line) || json_form(line.saturating_sub(1)) {
        Some("quote examples that use the JSON form: `- 'je paie par [CB]{\"entity\": \"payment_method\"}'`".into())
    } else if message.contains("mapping values are not allowed")
        || (message.contains("examples[") && message.contains("unknown field"))
    {
        Some("quote examples that contain `: `, e.g. `- 'payer par [CB]{\"entity\": \"payment_method\"}'`".into())
    } else if message.contains("found character that cannot start any token") && index.line_text(line).contains('\t') {
        Some("YAML indents with spaces, not tabs".into())
    } else if message.contains("unsupported format version") {
        Some("Rasa files (`version: \"3.1\"`) are read when they have an `nlu:` key".into())
    } else if message.contains("unknown field `stories`")
        || message.contains("unknown field `rules`")
        || message.contains("unknown field `responses`")
        || message.contains("unknown field `slots`")
        || (message.starts_with("intents[") && message.contains("expected an intent"))
    {
        Some("this looks like a Rasa stories, rules or domain file: only NLU data (`nlu:`) is read".into())
    } else {
        None
    };
    Error::syntax(path, line, column, message, hint)
}

/// What [`read_str`] needs to know before choosing a reader.
struct Probe {
    nlu: bool,
}

impl<'de> Deserialize<'de> for Probe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Probe;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping with `intents:` (entendu) or `nlu:` (Rasa 3)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Probe, A::Error> {
                let mut nlu = false;
                while let Some(key) = map.next_key::<serde_yaml_ng::Value>()? {
                    nlu |= key.as_str() == Some("nlu");
                    map.next_value::<IgnoredAny>()?;
                }
                Ok(Probe { nlu })
            }
        }
        d.deserialize_map(V)
    }
}

/// `null` (an empty `examples:`) reads as an empty list.
fn seq_or_null<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A string checked inside the visitor, so that the YAML library puts the error at the value.
macro_rules! checked_string {
    ($name:ident, $expecting:literal, $check:expr) => {
        struct $name(String);
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<$name, E> {
                        let check: fn(&str) -> std::result::Result<String, String> = $check;
                        check(v).map($name).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

checked_string!(Name, "a name", |v| {
    let v = v.trim();
    if v.is_empty() {
        Err("empty name".into())
    } else {
        Ok(v.to_owned())
    }
});

checked_string!(RegexString, "a regular expression", |v| check_regex(v).map(|()| v.to_owned()));

/// Compiles `pattern` to reject it early, with the regex crate's one-line reason.
fn check_regex(pattern: &str) -> std::result::Result<(), String> {
    match regex::Regex::new(pattern) {
        Ok(_) => Ok(()),
        Err(e) => {
            let text = e.to_string();
            let reason = text
                .lines()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(text.lines().last().unwrap_or(""))
                .to_owned();
            Err(format!(
                "invalid regular expression `{pattern}`: {reason} (the `regex` crate's syntax: no look-around or backreferences)"
            ))
        }
    }
}

/// `version: 1`.
struct Version;

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Version;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "version {FORMAT_VERSION}")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Version, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Version, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Version, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Version, E> {
                if v.trim() == FORMAT_VERSION.to_string() {
                    Ok(Version)
                } else {
                    Err(E::custom(format!(
                        "unsupported format version `{v}`: this version of entendu reads version {FORMAT_VERSION}"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `fuzzy: 0.85`, checked to lie in 0..=1.
struct Fuzzy(f32);

impl<'de> Deserialize<'de> for Fuzzy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fuzzy;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a fuzzy matching threshold between 0 and 1")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Fuzzy, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Fuzzy, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Fuzzy, E> {
                if (0.0..=1.0).contains(&v) {
                    Ok(Fuzzy(v as f32))
                } else {
                    Err(E::custom(format!("fuzzy threshold must be between 0 and 1, got {v}")))
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with `intents:` and `entities:`")]
struct OurFile {
    #[serde(default)]
    #[allow(dead_code)] // checked while parsing
    version: Option<Version>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default, deserialize_with = "seq_or_null")]
    intents: Vec<OurIntent>,
    #[serde(default, deserialize_with = "seq_or_null")]
    entities: Vec<OurEntity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an intent: a mapping with `name:` and `examples:`")]
struct OurIntent {
    name: Name,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "seq_or_null")]
    required_entities: Vec<String>,
    #[serde(default, deserialize_with = "seq_or_null")]
    clarify_with: Vec<String>,
    #[serde(default, deserialize_with = "seq_or_null")]
    signals: Vec<String>,
    #[serde(default, deserialize_with = "seq_or_null")]
    examples: Vec<OurExample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an example: a mapping with `text:`")]
struct FullExample {
    text: String,
    #[serde(default, deserialize_with = "seq_or_null")]
    signals: Vec<String>,
    #[serde(default)]
    language: Option<String>,
}

/// An example: a string, or a mapping with `text:`.
enum OurExample {
    Text(String),
    Full(FullExample),
}

/// Scalars YAML types as numbers or booleans (`- 12345`) are examples too.
macro_rules! visit_as_text {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> std::result::Result<Self::Value, E> {
            Ok(<Self::Value as From<String>>::from(v.to_string()))
        }
    )*};
}

impl From<String> for OurExample {
    fn from(s: String) -> Self {
        OurExample::Text(s)
    }
}

impl<'de> Deserialize<'de> for OurExample {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OurExample;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an example: a string, or a mapping with `text:`")
            }
            visit_as_text!(visit_str: &str, visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128, visit_u128: u128, visit_f64: f64);
            fn visit_unit<E: de::Error>(self) -> std::result::Result<OurExample, E> {
                Ok(OurExample::Text(String::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<OurExample, A::Error> {
                FullExample::deserialize(de::value::MapAccessDeserializer::new(map)).map(OurExample::Full)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an entity: a mapping with `name:`")]
struct OurEntity {
    name: Name,
    #[serde(default)]
    synonyms: Option<BTreeMap<String, Option<Vec<String>>>>,
    #[serde(default, deserialize_with = "seq_or_null")]
    lookup: Vec<String>,
    #[serde(default, deserialize_with = "seq_or_null")]
    regexes: Vec<RegexString>,
    #[serde(default)]
    fuzzy: Option<Fuzzy>,
}

/// Everything an example needs to be built, whatever the format.
struct Context<'a, 'r> {
    path: &'a Path,
    locator: Locator<'r>,
}

impl Context<'_, '_> {
    /// Parses the annotations of `body` (found at `located`, starting `lead` bytes into the
    /// located value) into an example.
    fn example(&self, body: &str, located: Option<&Located>, lead: usize, intent: Option<String>) -> Result<Example> {
        let line = located.map_or_else(|| self.locator.cursor_line(), |l| self.locator.position(l.raw_offset(lead)).0);
        let parsed = annotation::parse(body).map_err(|e| self.annotation_error(e, located, lead))?;
        Ok(Example {
            text: parsed.text,
            intent,
            entities: parsed.entities,
            language: None,
            signals: Vec::new(),
            source: Some(Source { path: self.path.to_owned(), line }),
        })
    }

    fn annotation_error(&self, e: AnnotationError, located: Option<&Located>, lead: usize) -> Error {
        match located {
            Some(l) => {
                let (line, column) = self.locator.position(l.raw_offset(lead + e.offset));
                Error::syntax(self.path, line, column, e.message, e.hint)
            }
            // Not found in the raw text: the line is a guess, so say where in the example.
            None => Error::syntax(
                self.path,
                self.locator.cursor_line(),
                0,
                format!("{} (line {}, column {} of the example)", e.message, e.line, e.column),
                e.hint,
            ),
        }
    }

    fn error_at(&self, located: Option<&Located>, message: String, hint: Option<String>) -> Error {
        let (line, column) =
            located.map_or((self.locator.cursor_line(), 0), |l| self.locator.position(l.raw_offset(0)));
        Error::syntax(self.path, line, column, message, hint)
    }
}

fn read_ours(content: &str, path: &Path) -> Result<TrainingData> {
    let file: OurFile = serde_yaml_ng::from_str(content).map_err(|e| yaml_error(path, content, &e))?;
    let mut cx = Context { path, locator: Locator::new(content) };
    let mut data = TrainingData::default();
    for intent in file.intents {
        let label = intent_label(&intent.name.0);
        if let Some(name) = &label {
            data.add_intent_spec(
                name.clone(),
                IntentSpec {
                    required_entities: intent.required_entities,
                    description: intent.description,
                    clarify_with: intent.clarify_with,
                    signals: intent.signals.clone(),
                },
            );
        }
        for example in intent.examples {
            let (text, signals, language) = match example {
                OurExample::Text(text) => (text, Vec::new(), None),
                OurExample::Full(full) => (full.text, full.signals, full.language),
            };
            let located = cx.locator.find_scalar(&text, &["text"]);
            let mut example = cx.example(&text, located.as_ref(), 0, label.clone())?;
            example.language = language.or_else(|| file.language.clone());
            example.signals = intent.signals.clone();
            super::extend_unique(&mut example.signals, signals);
            data.examples.push(example);
        }
    }
    for entity in file.entities {
        data.add_declaration(EntityDeclaration {
            name: entity.name.0,
            regexes: entity.regexes.into_iter().map(|r| r.0).collect(),
            lookup: entity.lookup,
            synonyms: entity
                .synonyms
                .unwrap_or_default()
                .into_iter()
                .map(|(value, forms)| (value, forms.unwrap_or_default()))
                .collect(),
            fuzzy: entity.fuzzy.map(|f| f.0),
        });
    }
    Ok(data)
}

#[derive(Deserialize)]
#[serde(expecting = "a mapping with `nlu:`")]
struct RasaFile {
    #[serde(default, deserialize_with = "seq_or_null")]
    nlu: Vec<RasaItem>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RasaKind {
    Intent,
    Synonym,
    Regex,
    Lookup,
}

impl RasaKind {
    fn key(self) -> &'static str {
        match self {
            RasaKind::Intent => "intent",
            RasaKind::Synonym => "synonym",
            RasaKind::Regex => "regex",
            RasaKind::Lookup => "lookup",
        }
    }
}

/// One `nlu:` item.
struct RasaItem {
    kind: RasaKind,
    name: String,
    examples: RasaExamples,
}

/// `examples: |` (a block of `- ` lines) or a list of `- text:` mappings.
enum RasaExamples {
    Block(String),
    List(Vec<String>),
}

const RASA_ITEM_KEYS: &[&str] = &["intent", "synonym", "regex", "lookup", "examples", "metadata"];

impl<'de> Deserialize<'de> for RasaItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RasaItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "an `nlu` item: a mapping with `intent:`, `synonym:`, `regex:` or `lookup:`, and `examples:`",
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<RasaItem, A::Error> {
                let mut kind: Option<(RasaKind, String)> = None;
                let mut examples = RasaExamples::Block(String::new());
                while let Some(key) = map.next_key::<String>()? {
                    let this = match key.as_str() {
                        "intent" => RasaKind::Intent,
                        "synonym" => RasaKind::Synonym,
                        "regex" => RasaKind::Regex,
                        "lookup" => RasaKind::Lookup,
                        "examples" => {
                            examples = map.next_value()?;
                            continue;
                        }
                        "metadata" => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                        other => return Err(de::Error::unknown_field(other, RASA_ITEM_KEYS)),
                    };
                    let name = map.next_value::<Name>()?.0;
                    if let Some((previous, _)) = &kind {
                        return Err(de::Error::custom(format!(
                            "an `nlu` item has both `{}:` and `{key}:`",
                            previous.key()
                        )));
                    }
                    kind = Some((this, name));
                }
                let (kind, name) = kind.ok_or_else(|| {
                    de::Error::custom("an `nlu` item needs one of `intent:`, `synonym:`, `regex:` or `lookup:`")
                })?;
                Ok(RasaItem { kind, name, examples })
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for RasaExamples {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RasaExamples;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("examples: a `|` block of `- ` lines, or a list of `- text:` mappings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<RasaExamples, E> {
                Ok(RasaExamples::Block(v.to_owned()))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<RasaExamples, E> {
                Ok(RasaExamples::Block(String::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<RasaExamples, A::Error> {
                let mut list = Vec::new();
                while let Some(RasaListExample(text)) = seq.next_element()? {
                    list.push(text);
                }
                Ok(RasaExamples::List(list))
            }
        }
        d.deserialize_any(V)
    }
}

/// An element of a list of examples: `- text: …` (with optional `metadata:`) or a string.
struct RasaListExample(String);

impl From<String> for RasaListExample {
    fn from(s: String) -> Self {
        RasaListExample(s)
    }
}

impl<'de> Deserialize<'de> for RasaListExample {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RasaListExample;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an example: a mapping with `text:`")
            }
            visit_as_text!(visit_str: &str, visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64);
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<RasaListExample, A::Error> {
                let mut text = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "text" => text = Some(map.next_value::<String>()?),
                        "metadata" => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        other => return Err(de::Error::unknown_field(other, &["text", "metadata"])),
                    }
                }
                text.map(RasaListExample).ok_or_else(|| de::Error::missing_field("text"))
            }
        }
        d.deserialize_any(V)
    }
}

/// One value of a Rasa item, with where it was found and where its body starts in it.
struct RasaEntry {
    body: String,
    located: Option<Located>,
    lead: usize,
}

/// Splits an item's examples into entries, locating each one.
fn rasa_entries(cx: &mut Context<'_, '_>, examples: RasaExamples) -> Result<Vec<RasaEntry>> {
    let mut out = Vec::new();
    match examples {
        RasaExamples::Block(block) => {
            for line in block.lines() {
                let trimmed = line.trim();
                if trimmed.is_empty() {
                    continue;
                }
                let at = cx.locator.find_line(trimmed);
                let located = at.map(|a| Located::verbatim(a, trimmed.len()));
                let body = match trimmed.strip_prefix('-') {
                    Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => rest.trim(),
                    _ => {
                        return Err(cx.error_at(
                            located.as_ref(),
                            format!("expected `- ` before the example `{trimmed}`"),
                            Some("every line of an `examples: |` block is `- example`; join wrapped lines".into()),
                        ))
                    }
                };
                out.push(RasaEntry {
                    lead: trimmed.len() - trimmed.trim_start_matches('-').trim_start().len(),
                    body: body.to_owned(),
                    located,
                });
            }
        }
        RasaExamples::List(texts) => {
            for text in texts {
                let located = cx.locator.find_scalar(&text, &["text"]);
                let body = text.trim();
                out.push(RasaEntry { lead: text.len() - text.trim_start().len(), body: body.to_owned(), located });
            }
        }
    }
    Ok(out)
}

fn read_rasa(content: &str, path: &Path) -> Result<TrainingData> {
    let file: RasaFile = serde_yaml_ng::from_str(content).map_err(|e| yaml_error(path, content, &e))?;
    let mut cx = Context { path, locator: Locator::new(content) };
    let mut data = TrainingData::default();
    for item in file.nlu {
        let entries = rasa_entries(&mut cx, item.examples)?;
        let mut declaration = EntityDeclaration { name: item.name.clone(), ..EntityDeclaration::default() };
        match item.kind {
            RasaKind::Intent => {
                let label = intent_label(&item.name);
                for entry in entries {
                    let example = cx.example(&entry.body, entry.located.as_ref(), entry.lead, label.clone())?;
                    data.examples.push(example);
                }
                continue;
            }
            RasaKind::Synonym => {
                declaration.name = ANY_ENTITY.into();
                let forms = entries.into_iter().map(|e| e.body).filter(|b| !b.is_empty()).collect();
                declaration.synonyms.insert(item.name, forms);
            }
            RasaKind::Regex => {
                for entry in entries {
                    check_regex(&entry.body).map_err(|m| {
                        let located = entry.located.as_ref().map(|l| Located::verbatim(l.raw_offset(entry.lead), 0));
                        cx.error_at(located.as_ref(), m, None)
                    })?;
                    declaration.regexes.push(entry.body);
                }
            }
            RasaKind::Lookup => {
                declaration.lookup = entries.into_iter().map(|e| e.body).filter(|b| !b.is_empty()).collect();
            }
        }
        data.add_declaration(declaration);
    }
    Ok(data)
}

/// Writes `data` in entendu's YAML format.
///
/// Intents come in order of first appearance (then those with settings but no examples), out
/// of scope last; every string is double-quoted so any text survives. A language shared by all
/// examples is written once at the top. [`read_str`] reads the output back to the same
/// examples (entities that [`annotation::render`] cannot express excepted).
pub fn write(data: &TrainingData) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "version: {FORMAT_VERSION}");
    let first_language = data.examples.first().and_then(|e| e.language.clone());
    let shared_language = first_language.filter(|l| data.examples.iter().all(|e| e.language.as_deref() == Some(l)));
    if let Some(language) = &shared_language {
        let _ = writeln!(out, "language: {}", quote(language));
    }

    let mut order: Vec<Option<&str>> = Vec::new();
    for example in &data.examples {
        let intent = example.intent.as_deref();
        if !order.contains(&intent) {
            order.push(intent);
        }
    }
    for name in data.intents.keys().filter(|n| !super::is_out_of_scope(n)) {
        if !order.contains(&Some(name.as_str())) {
            order.push(Some(name));
        }
    }
    // Out of scope last, where readers of the file expect the catch-all.
    if let Some(p) = order.iter().position(Option::is_none) {
        order.remove(p);
        order.push(None);
    }

    if !order.is_empty() {
        out.push_str("intents:\n");
    }
    for intent in order {
        let _ = writeln!(out, "  - name: {}", quote(intent.unwrap_or(OUT_OF_SCOPE)));
        if let Some(spec) = intent.and_then(|i| data.intents.get(i)) {
            if let Some(description) = &spec.description {
                let _ = writeln!(out, "    description: {}", quote(description));
            }
            if !spec.required_entities.is_empty() {
                let _ = writeln!(out, "    required_entities: {}", quote_list(&spec.required_entities));
            }
            if !spec.clarify_with.is_empty() {
                let _ = writeln!(out, "    clarify_with: {}", quote_list(&spec.clarify_with));
            }
            // The examples keep their own list too (it includes these), so a reader that
            // ignores intent-level signals still gets every example's.
            if !spec.signals.is_empty() {
                let _ = writeln!(out, "    signals: {}", quote_list(&spec.signals));
            }
        }
        let examples: Vec<&Example> = data.examples_of(intent).collect();
        if examples.is_empty() {
            continue;
        }
        out.push_str("    examples:\n");
        for example in examples {
            let text = quote(&annotation::render(&example.text, &example.entities));
            let language = example.language.as_ref().filter(|_| shared_language.is_none());
            if example.signals.is_empty() && language.is_none() {
                let _ = writeln!(out, "      - {text}");
                continue;
            }
            let _ = writeln!(out, "      - text: {text}");
            if !example.signals.is_empty() {
                let _ = writeln!(out, "        signals: {}", quote_list(&example.signals));
            }
            if let Some(language) = language {
                let _ = writeln!(out, "        language: {}", quote(language));
            }
        }
    }

    if !data.entities.is_empty() {
        out.push_str("entities:\n");
    }
    for entity in &data.entities {
        let _ = writeln!(out, "  - name: {}", quote(&entity.name));
        if !entity.synonyms.is_empty() {
            out.push_str("    synonyms:\n");
            for (value, forms) in &entity.synonyms {
                let _ = writeln!(out, "      {}: {}", quote(value), quote_list(forms));
            }
        }
        if !entity.lookup.is_empty() {
            let _ = writeln!(out, "    lookup: {}", quote_list(&entity.lookup));
        }
        if !entity.regexes.is_empty() {
            let _ = writeln!(out, "    regexes: {}", quote_list(&entity.regexes));
        }
        if let Some(fuzzy) = entity.fuzzy {
            let _ = writeln!(out, "    fuzzy: {fuzzy}");
        }
    }
    out
}

/// A YAML double-quoted scalar. JSON escaping is not enough: YAML rejects raw DEL, C1 controls
/// and a few other code points that JSON passes through.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{feff}' | '\u{fffe}' | '\u{ffff}' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OURS: &str = r#"version: 1
language: fr              # default language
intents:
  - name: track_order
    description: Suivre une commande
    required_entities: [order_id]
    signals: [wants_human]
    examples:
      - où en est ma commande [12345](order_id) ?
      - 'je paie par [CB]{"entity": "payment_method", "value": "carte bancaire"}'
      - text: "c'est la troisième fois que je demande !!!"
        signals: [frustrated]
        language: en
      - 12345
  - name: oos
    examples: [quel temps fait-il, "et la [météo](topic) ?"]
entities:
  - name: payment_method
    synonyms:
      carte bancaire: [CB, carte bleue]
    lookup: [visa, mastercard]
    regexes: ['\b\d{5,10}\b']
    fuzzy: 0.85
"#;

    #[test]
    fn reads_our_format() {
        let data = read_str(OURS, "data/support.yml").unwrap();
        let lines: Vec<usize> = data.examples.iter().map(|e| e.source.as_ref().unwrap().line).collect();
        assert_eq!(lines, [9, 10, 11, 14, 16, 16]);
        let first = &data.examples[0];
        assert_eq!(first.text, "où en est ma commande 12345 ?");
        assert_eq!(first.intent.as_deref(), Some("track_order"));
        assert_eq!(first.language.as_deref(), Some("fr"));
        assert_eq!(first.signals, ["wants_human"]);
        assert_eq!(first.entities[0].entity, "order_id");
        assert_eq!(data.examples[1].entities[0].value.as_deref(), Some("carte bancaire"));
        assert_eq!(data.examples[2].signals, ["wants_human", "frustrated"]);
        assert_eq!(data.examples[2].language.as_deref(), Some("en"));
        assert_eq!(data.examples[3].text, "12345");
        assert_eq!(data.examples[4].intent, None);
        assert_eq!(data.examples[5].text, "et la météo ?");
        assert_eq!(data.intents["track_order"].required_entities, ["order_id"]);
        assert_eq!(data.intents["track_order"].description.as_deref(), Some("Suivre une commande"));
        assert_eq!(data.intents.len(), 1);
        let entity = &data.entities[0];
        assert_eq!(entity.synonyms["carte bancaire"], ["CB", "carte bleue"]);
        assert_eq!(entity.regexes, [r"\b\d{5,10}\b"]);
        assert_eq!(entity.fuzzy, Some(0.85));
    }

    fn error(raw: &str) -> String {
        read_str(raw, "data/support.yml").unwrap_err().to_string()
    }

    #[test]
    fn annotation_errors_point_into_the_file() {
        let raw =
            "intents:\n  - name: track_order\n    examples:\n      - bonjour\n      - où est [12345(order_id) ?\n";
        assert_eq!(
            error(raw),
            "data/support.yml:5:16: unclosed entity annotation `[12345(order_id) ?`: expected `](`\n  hint: close the bracket before the entity: `[12345](order_id) ?`"
        );
        let raw = "intents:\n  - name: a\n    examples:\n      - text: \"l'\\u00e9t\u{e9} [x](\"\n";
        assert!(
            error(raw).starts_with("data/support.yml:4:30: unclosed `(` in entity annotation `[x](`"),
            "{}",
            error(raw)
        );
        let raw = "intents:\n  - name: a\n    examples:\n      - une phrase\n        sur deux [lignes]\n";
        assert!(error(raw).starts_with("data/support.yml:5:18: `[lignes]` is not followed by"), "{}", error(raw));
        let raw = "intents:\n  - name: a\n    examples: [ok, 'bad [x]{\"entity\": 1}']\n";
        assert!(error(raw).starts_with("data/support.yml:3:28: `entity` must be a string"), "{}", error(raw));
    }

    #[test]
    fn unlocatable_examples_still_report_the_column_in_the_example() {
        // An alias parses fine but is not written where it is used.
        let raw = "intents:\n  - name: a\n    description: &bad 'un [x'\n    examples: [*bad]\n";
        assert_eq!(
            read_str(raw, "f.yml").unwrap_err().to_string().lines().next().unwrap(),
            "f.yml:1: unclosed entity annotation `[x`: expected `](` (line 1, column 4 of the example)"
        );
    }

    #[test]
    fn yaml_syntax_errors_carry_positions_and_hints() {
        let e = error("intents:\n  - name: a\n    examples:\n      - [12345](order_id) est ma commande\n");
        assert!(e.starts_with("data/support.yml:4:"), "{e}");
        assert!(e.contains("hint: an example that starts with `[` or `{` must be quoted"), "{e}");
        let e = error("intents:\n  - name: a\n    examples:\n      - je paie par [CB]{\"entity\": \"x\"}\n");
        assert!(e.starts_with("data/support.yml:4:"), "{e}");
        assert!(e.contains("hint: quote examples that use the JSON form"), "{e}");
        let e = error("intents:\n  - name: a\n    examples:\n      - attention: fragile\n");
        assert!(e.starts_with("data/support.yml:4:9: intents[0].examples[0]: unknown field `attention`"), "{e}");
        assert!(e.contains("hint: quote examples that contain `: `"), "{e}");
        let e = error("intents:\n  - name: a\n    examples: x: y\n");
        assert!(e.starts_with("data/support.yml:3:16: mapping values are not allowed in this context"), "{e}");
        assert!(e.contains("hint: quote examples that contain `: `"), "{e}");
        let e = error("intents:\n  - name: a\n    exemples: [x]\n");
        assert!(e.starts_with("data/support.yml:3:5: intents[0]: unknown field `exemples`, expected one of"), "{e}");
        let e = error("intents:\n  - examples: [x]\n");
        assert!(e.starts_with("data/support.yml:2:5: intents[0]: missing field `name`"), "{e}");
        let e = error("intents:\n  - name: '  '\n");
        assert!(e.starts_with("data/support.yml:2:11: intents[0].name: empty name"), "{e}");
        let e = error("version: 2\nintents: []\n");
        assert!(e.starts_with("data/support.yml:1:10: version: unsupported format version `2`"), "{e}");
        let e = error("entities:\n  - name: x\n    regexes: ['ok', '(unclosed']\n");
        assert!(
            e.starts_with("data/support.yml:3:21: entities[0].regexes[1]: invalid regular expression `(unclosed`"),
            "{e}"
        );
        let e = error("entities:\n  - name: x\n    fuzzy: 1.5\n");
        assert!(
            e.starts_with("data/support.yml:3:12: entities[0].fuzzy: fuzzy threshold must be between 0 and 1, got 1.5"),
            "{e}"
        );
        let e = error("- a\n- b\n");
        assert!(
            e.starts_with("data/support.yml:1:1: invalid type: sequence, expected a mapping with `intents:`"),
            "{e}"
        );
        let e = error("# nothing\n\n");
        assert_eq!(
            e,
            "data/support.yml:1: no training data in this file\n  hint: start it with `intents:` (or Rasa's `nlu:`)"
        );
        let e = error("stories:\n- story: x\n");
        assert!(e.contains("hint: this looks like a Rasa stories"), "{e}");
        let e = error("version: '3.1'\nintents:\n  - greet\n");
        assert!(e.contains("hint: Rasa files (`version: \"3.1\"`) are read when they have an `nlu:` key"), "{e}");
        let e = error("intents:\n  - greet\n");
        assert!(e.starts_with("data/support.yml:2:5: intents[0]: invalid type: string \"greet\", expected an intent: a mapping with `name:`"), "{e}");
        assert!(e.contains("hint: this looks like a Rasa stories, rules or domain file"), "{e}");
        let e = error("intents:\n  - name: a\n    examples: [x\n");
        assert!(e.starts_with("data/support.yml:4:1: did not find expected ',' or ']'"), "{e}");
    }

    const RASA: &str = r#"version: "3.1"
nlu:
- intent: check_balance
  metadata:
    sentiment: neutral
  examples: |
    - how much is on my [savings](account) account?
    - what's my [credit card]{"entity": "account", "value": "credit"} balance

- intent: nlu_fallback
  examples: |
    - blah
- intent: greet
  examples:
  - text: |
      hi there
    metadata: {x: 1}
  - text: "hello [Bob](name)"
- synonym: savings
  examples: |
    - pink pig
- synonym: unrelated
  examples: |
    - nothing
- regex: account_number
  examples: |
    - \d{10,12}
- lookup: bank
  examples: |
    - ING
    - BNP
stories: []
"#;

    #[test]
    fn reads_rasa_3() {
        let data = read_str(RASA, "nlu.yml").unwrap();
        let got: Vec<(usize, &str, Option<&str>)> = data
            .examples
            .iter()
            .map(|e| (e.source.as_ref().unwrap().line, e.text.as_str(), e.intent.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (7, "how much is on my savings account?", Some("check_balance")),
                (8, "what's my credit card balance", Some("check_balance")),
                (12, "blah", None),
                (16, "hi there", Some("greet")),
                (18, "hello Bob", Some("greet")),
            ]
        );
        let account = data.entities.iter().find(|d| d.name == "account").unwrap();
        assert_eq!(account.synonyms["savings"], ["pink pig"]);
        let any = data.entities.iter().find(|d| d.name == ANY_ENTITY).unwrap();
        assert_eq!(any.synonyms["unrelated"], ["nothing"]);
        let regex = data.entities.iter().find(|d| d.name == "account_number").unwrap();
        assert_eq!(regex.regexes, [r"\d{10,12}"]);
        let bank = data.entities.iter().find(|d| d.name == "bank").unwrap();
        assert_eq!(bank.lookup, ["ING", "BNP"]);
    }

    #[test]
    fn rasa_errors_point_into_the_file() {
        let raw = "nlu:\n- intent: a\n  examples: |\n    - ok\n    - où est [12345(order_id)\n";
        assert!(
            error(raw).starts_with("data/support.yml:5:14: unclosed entity annotation `[12345(order_id)`"),
            "{}",
            error(raw)
        );
        let raw = "nlu:\n- intent: a\n  examples: |\n    - ok\n    wrapped line\n";
        assert!(
            error(raw).starts_with("data/support.yml:5:5: expected `- ` before the example `wrapped line`"),
            "{}",
            error(raw)
        );
        let raw = "nlu:\n- intent: a\n  examples:\n  - text: |\n      un [x\n";
        assert!(error(raw).starts_with("data/support.yml:5:10: unclosed entity annotation"), "{}", error(raw));
        let raw = "nlu:\n- regex: r\n  examples: |\n    - (a\n";
        assert!(error(raw).starts_with("data/support.yml:4:7: invalid regular expression `(a`"), "{}", error(raw));
        let raw = "nlu:\n- intent: a\n  synonym: b\n";
        assert!(
            error(raw).starts_with("data/support.yml:2:3: nlu[0]: an `nlu` item has both `intent:` and `synonym:`"),
            "{}",
            error(raw)
        );
        let raw = "nlu:\n- examples: |\n    - x\n";
        assert!(error(raw).starts_with("data/support.yml:2:3: nlu[0]: an `nlu` item needs one of"), "{}", error(raw));
        let raw = "nlu:\n- intent: a\n  exemples: |\n    - x\n";
        assert!(error(raw).starts_with("data/support.yml:2:3: nlu[0]: unknown field `exemples`"), "{}", error(raw));
    }

    #[test]
    fn write_then_read_gives_the_same_examples() {
        let data = read_str(OURS, "a.yml").unwrap();
        let written = write(&data);
        let back = read_str(&written, "b.yml").unwrap();
        assert_eq!(strip_sources(&back), strip_sources(&data), "{written}");
        assert_eq!(back.entities, data.entities);
        assert_eq!(back.intents, data.intents);
        // Every example is found in the written text, one per line.
        let lines: Vec<usize> = back.examples.iter().map(|e| e.source.as_ref().unwrap().line).collect();
        let mut sorted = lines.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, lines);
    }

    fn strip_sources(data: &TrainingData) -> Vec<Example> {
        data.examples.iter().cloned().map(|e| Example { source: None, ..e }).collect()
    }

    fn arb_example() -> impl Strategy<Value = Example> {
        let word = "[a-zA-Zé0-9\\[\\]\\\\:#'\"{}(),\\- \t\n\u{85}\u{7f}]{0,8}";
        (
            proptest::collection::vec(
                (word, proptest::option::of(("[a-z_]{1,6}", proptest::option::of("[a-z :]{1,6}")))),
                0..4,
            ),
            proptest::option::of(prop_oneof!["greet", "oos", "track order", "a:b"]),
            proptest::option::of(prop_oneof!["fr", "en"]),
            proptest::collection::vec("[a-z_]{1,5}", 0..2),
        )
            .prop_map(|(parts, intent, language, signals)| {
                let mut text = String::new();
                let mut entities = Vec::new();
                for (w, ann) in parts {
                    let start = text.len();
                    text.push_str(&w);
                    if let Some((entity, value)) = ann.filter(|_| !w.trim().is_empty()) {
                        entities.push(crate::data::EntityAnnotation {
                            entity,
                            start,
                            end: text.len(),
                            text: w.clone(),
                            value,
                        });
                    }
                    text.push(' ');
                }
                let intent = intent.and_then(|i| intent_label(&i));
                let mut signals = signals;
                signals.dedup();
                Example { text, intent, entities, language, signals, source: None }
            })
    }

    proptest! {
        #[test]
        fn round_trip_any_examples(examples in proptest::collection::vec(arb_example(), 0..6)) {
            let data = TrainingData { examples, ..TrainingData::default() };
            let written = write(&data);
            let back = read_str(&written, "p.yml");
            prop_assert!(back.is_ok(), "{:?}\n{}", back.err().map(|e| e.to_string()), written);
            let back = back.unwrap();
            let mut expected = data.clone();
            // The writer groups examples by intent, out of scope last.
            let mut order: Vec<Option<String>> = Vec::new();
            for e in &expected.examples { if !order.contains(&e.intent) { order.push(e.intent.clone()); } }
            if let Some(p) = order.iter().position(Option::is_none) { order.remove(p); order.push(None); }
            expected.examples.sort_by_key(|e| order.iter().position(|o| *o == e.intent));
            prop_assert_eq!(strip_sources(&back), strip_sources(&expected));
            // Every example was located: one distinct line each.
            let lines: Vec<usize> = back.examples.iter().map(|e| e.source.as_ref().unwrap().line).collect();
            prop_assert!(lines.windows(2).all(|w| w[0] < w[1]), "{:?}\n{}", lines, written);
        }

        #[test]
        fn annotation_errors_point_at_the_bracket_in_any_style(
            before in proptest::collection::vec("[a-zé'\"\\\\:# \t]{0,8}", 0..3),
            word in "[a-zé'\"\\\\:# ]{0,10}",
            style in 0..5usize,
            layout in 0..3usize,
        ) {
            let value = format!("{word} [x");
            let escaped_double = {
                let mut s = String::from("\"");
                for c in value.chars() {
                    match c {
                        '"' => s.push_str("\\\""),
                        '\\' => s.push_str("\\\\"),
                        c if !c.is_ascii() => s.push_str(&format!("\\u{:04X}", u32::from(c))),
                        c => s.push(c),
                    }
                }
                s.push('"');
                s
            };
            let scalar = match style {
                0 => quote(&value),
                1 => format!("'{}'", value.replace('\'', "''")),
                2 => escaped_double,
                // Folded over two lines: the break reads as a space.
                3 => format!("'{}'", value.replacen(' ', "\n          ", 1).replace('\'', "''")),
                _ => format!("|\n          {value}"),
            };
            let others: Vec<String> = before.iter().map(|b| quote(b)).collect();
            let raw = match (layout, style) {
                (0, _) | (_, 4) => {
                    let mut raw = String::from("intents:\n  - name: a\n    examples:\n");
                    for o in &others {
                        raw.push_str(&format!("      - {o}\n"));
                    }
                    raw.push_str(&format!("      - text: {scalar}\n"));
                    raw
                }
                (1, _) => {
                    let mut raw = String::from("intents:\n  - name: a\n    examples:\n");
                    for o in &others {
                        raw.push_str(&format!("      - text: {o}\n        signals: [s]\n"));
                    }
                    raw.push_str(&format!("      - {scalar}\n"));
                    raw
                }
                _ => {
                    let mut items = others.clone();
                    items.push(scalar.clone());
                    format!("intents:\n  - name: a\n    examples: [{}]\n", items.join(", "))
                }
            };
            match read_str(&raw, "p.yml") {
                Err(Error::Syntax { location, message, .. }) => {
                    prop_assert!(message.starts_with("unclosed entity annotation"), "{}\n{}", message, raw);
                    let line = raw.lines().nth(location.line - 1).unwrap_or("");
                    let at = line.chars().nth(location.column.wrapping_sub(1));
                    prop_assert_eq!(at, Some('['), "{}:{} in\n{}", location.line, location.column, raw);
                }
                other => prop_assert!(false, "{:?}\n{}", other, raw),
            }
        }

        #[test]
        fn random_yaml_never_panics(s in r#"(\PC|[\[\]\(\)\{\}\\:"'\n #|>&*!%@`-]){0,80}"#) {
            for prefix in ["", "intents:\n  - name: a\n    examples:\n      - ", "nlu:\n- intent: a\n  examples: |\n    - "] {
                if let Ok(data) = read_str(&format!("{prefix}{s}"), "r.yml") {
                    for e in &data.examples {
                        for a in &e.entities {
                            prop_assert_eq!(e.text.get(a.start..a.end), Some(a.text.as_str()));
                        }
                    }
                }
            }
        }
    }
}
