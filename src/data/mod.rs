//! Training data: the in-memory form every reader produces, and the readers.
//!
//! All formats (our YAML, Rasa 3 YAML, Rasa legacy Markdown, CSV, and the benchmark importers)
//! produce one [`TrainingData`]. Entity spans are **byte offsets** into [`Example::text`], so
//! `&example.text[span.start..span.end] == span.text` always holds.
//!
//! | format | module | files |
//! |---|---|---|
//! | entendu YAML (`intents:`) | [`yaml`] | `.yml`, `.yaml` |
//! | Rasa 3 YAML (`nlu:`) | [`yaml`] | `.yml`, `.yaml` |
//! | Rasa legacy Markdown | [`rasa_md`] | `.md` |
//! | CSV (`text,intent`) | [`csv`] | `.csv` |
//! | CLINC150, BANKING77, SNIPS, xSID | [`benchmarks`] | their own layouts |
//!
//! Examples write entities inline (`[12345](order_id)`); see [`annotation`]. Intent labels in
//! [`OUT_OF_SCOPE_ALIASES`] become out-of-scope examples (`intent: None`) in every reader.
//!
//! ```no_run
//! # use entendu::data::TrainingData;
//! let data = TrainingData::load_all(["data/nlu.yml", "data/faq.csv"])?;
//! for warning in data.check() {
//!     eprintln!("warning: {warning}");
//! }
//! # Ok::<(), entendu::Error>(())
//! ```

pub mod annotation;
pub mod benchmarks;
mod check;
pub mod csv;
mod locate;
pub mod rasa_md;
pub mod yaml;

pub use check::Diagnostic;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

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
    /// Makes this an *umbrella* intent: the customer named a topic but not the request ("j'ai un
    /// souci avec ma commande"). The policy answers it with these intents as choices
    /// ([`Action::Clarify`](crate::conversation::Action::Clarify)) instead of acting on it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clarify_with: Vec<String>,
    /// Signals every message of this intent carries, declared on the intent (`talk_to_human`
    /// carries `wants_human`): a parse decided as this intent has them active, whatever the
    /// signal head scored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<String>,
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

/// The entity name of synonyms that are not tied to one entity type.
///
/// Rasa declares synonyms globally (`synonym: savings`); readers attach each one to the entity
/// types whose annotations use it and keep the rest in a declaration with this name, meaning
/// "whatever entity type extracted this text".
pub const ANY_ENTITY: &str = "*";

/// The formats [`TrainingData::load`] reads, for error messages.
const SUPPORTED_FORMATS: &str = "entendu YAML (.yml, .yaml), Rasa 3 YAML (.yml, .yaml with `nlu:`), \
                                 Rasa Markdown (.md), CSV with `text,intent` columns (.csv), \
                                 xSID CoNLL (.conll)";

/// Whether `label` names the out-of-scope class (see [`OUT_OF_SCOPE_ALIASES`]); case-insensitive.
pub fn is_out_of_scope(label: &str) -> bool {
    let label = label.trim();
    OUT_OF_SCOPE_ALIASES.iter().any(|alias| alias.eq_ignore_ascii_case(label))
}

/// The [`Example::intent`] for a label read from a file: `None` for the out-of-scope aliases,
/// else the trimmed label.
pub fn intent_label(label: &str) -> Option<String> {
    (!is_out_of_scope(label)).then(|| label.trim().to_owned())
}

/// Reads a UTF-8 text file, without its byte order mark.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    match String::from_utf8(bytes) {
        Ok(mut s) => {
            if s.starts_with('\u{feff}') {
                s.drain(..'\u{feff}'.len_utf8());
            }
            Ok(s)
        }
        Err(e) => {
            let valid = e.as_bytes().get(..e.utf8_error().valid_up_to()).unwrap_or_default();
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            let column = String::from_utf8_lossy(valid.get(line_start..).unwrap_or_default()).chars().count() + 1;
            Err(Error::syntax(path, line, column, "the file is not valid UTF-8", Some("save it as UTF-8".into())))
        }
    }
}

impl TrainingData {
    /// Reads one training data file, choosing the reader from its extension (and, for YAML, its
    /// content: a top-level `nlu:` key means Rasa 3).
    ///
    /// Benchmark layouts (CLINC150's JSON, SNIPS directories, …) are read by [`benchmarks`].
    pub fn load(path: impl AsRef<Path>) -> Result<TrainingData> {
        let path = path.as_ref();
        let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        let mut data = match extension.as_deref() {
            Some("yml" | "yaml") => yaml::read(path)?,
            Some("md" | "markdown") => rasa_md::read(path)?,
            Some("csv") => csv::read(path)?,
            // xSID's evaluation files: the language is the file name's first part (`de.valid.conll`).
            Some("conll") => {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                let language = name.split('.').next().filter(|l| (2..=3).contains(&l.len())).unwrap_or_default();
                benchmarks::read_conll_file(path, language)?
            }
            _ => return Err(Error::UnknownFormat { path: path.to_owned(), supported: SUPPORTED_FORMATS.into() }),
        };
        data.resolve_synonyms();
        Ok(data)
    }

    /// Reads several files (see [`TrainingData::load`]) and merges them in order.
    pub fn load_all<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>) -> Result<TrainingData> {
        let mut data = TrainingData::default();
        let mut any = false;
        for path in paths {
            data.merge(Self::load(path)?);
            any = true;
        }
        if !any {
            return Err(Error::InvalidArgument("no training data files given".into()));
        }
        // Synonyms from one file may name values annotated in another.
        data.resolve_synonyms();
        Ok(data)
    }

    /// Appends `other`'s examples, and merges its entity declarations and intent settings into
    /// ours (lists are united; for single values such as `fuzzy`, ours wins when set).
    pub fn merge(&mut self, other: TrainingData) {
        self.examples.extend(other.examples);
        for declaration in other.entities {
            self.add_declaration(declaration);
        }
        for (name, spec) in other.intents {
            self.add_intent_spec(name, spec);
        }
    }

    /// The number of examples.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// The intents that have examples, sorted, without the out-of-scope class.
    pub fn intent_names(&self) -> Vec<&str> {
        let names: BTreeSet<&str> = self.examples.iter().filter_map(|e| e.intent.as_deref()).collect();
        names.into_iter().collect()
    }

    /// The entity types that are annotated or declared, sorted (without [`ANY_ENTITY`]).
    pub fn entity_names(&self) -> Vec<&str> {
        let annotated = self.examples.iter().flat_map(|e| e.entities.iter().map(|a| a.entity.as_str()));
        let declared = self.entities.iter().map(|d| d.name.as_str());
        let names: BTreeSet<&str> = annotated.chain(declared).filter(|n| *n != ANY_ENTITY).collect();
        names.into_iter().collect()
    }

    /// Whether some examples are out of scope (`intent: None`).
    pub fn has_out_of_scope(&self) -> bool {
        self.examples.iter().any(|e| e.intent.is_none())
    }

    /// The examples of `intent` (`None`: the out-of-scope ones).
    pub fn examples_of<'a>(&'a self, intent: Option<&'a str>) -> impl Iterator<Item = &'a Example> + 'a {
        self.examples.iter().filter(move |e| e.intent.as_deref() == intent)
    }

    /// Writes the data in entendu's YAML format; [`yaml::read_str`] reads it back to the same
    /// examples. See [`yaml::write`].
    pub fn to_yaml(&self) -> String {
        yaml::write(self)
    }

    /// Adds a declaration, merging it into an existing one of the same name.
    pub(crate) fn add_declaration(&mut self, declaration: EntityDeclaration) {
        let Some(existing) = self.entities.iter_mut().find(|d| d.name == declaration.name) else {
            self.entities.push(declaration);
            return;
        };
        extend_unique(&mut existing.regexes, declaration.regexes);
        extend_unique(&mut existing.lookup, declaration.lookup);
        for (value, forms) in declaration.synonyms {
            extend_unique(existing.synonyms.entry(value).or_default(), forms);
        }
        existing.fuzzy = existing.fuzzy.or(declaration.fuzzy);
    }

    /// Adds intent settings, merging them into existing ones.
    pub(crate) fn add_intent_spec(&mut self, name: String, spec: IntentSpec) {
        let existing = self.intents.entry(name).or_default();
        extend_unique(&mut existing.required_entities, spec.required_entities);
        extend_unique(&mut existing.clarify_with, spec.clarify_with);
        extend_unique(&mut existing.signals, spec.signals);
        if existing.description.is_none() {
            existing.description = spec.description;
        }
    }

    /// Moves the synonyms of the [`ANY_ENTITY`] declaration onto the entity types whose
    /// annotations use them (the canonical value as `value`, or a surface form as text); those
    /// no annotation uses stay under [`ANY_ENTITY`].
    pub(crate) fn resolve_synonyms(&mut self) {
        let Some(position) = self.entities.iter().position(|d| d.name == ANY_ENTITY) else {
            return;
        };
        let wildcard = self.entities.remove(position);
        let mut unresolved = EntityDeclaration { name: ANY_ENTITY.into(), ..wildcard.clone() };
        unresolved.synonyms.clear();
        for (value, forms) in wildcard.synonyms {
            let types: BTreeSet<String> = self
                .examples
                .iter()
                .flat_map(|e| &e.entities)
                .filter(|a| a.value.as_deref() == Some(value.as_str()) || a.text == value || forms.contains(&a.text))
                .map(|a| a.entity.clone())
                .collect();
            if types.is_empty() {
                unresolved.synonyms.insert(value, forms);
                continue;
            }
            for entity in types {
                self.add_declaration(EntityDeclaration {
                    name: entity,
                    synonyms: BTreeMap::from([(value.clone(), forms.clone())]),
                    ..EntityDeclaration::default()
                });
            }
        }
        if unresolved != (EntityDeclaration { name: ANY_ENTITY.into(), ..EntityDeclaration::default() }) {
            self.add_declaration(unresolved);
        }
    }
}

/// Appends the items of `more` that `list` lacks, keeping order.
pub(crate) fn extend_unique(list: &mut Vec<String>, more: impl IntoIterator<Item = String>) {
    for item in more {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(text: &str, intent: Option<&str>) -> Example {
        Example {
            text: text.into(),
            intent: intent.map(Into::into),
            entities: vec![],
            language: None,
            signals: vec![],
            source: None,
        }
    }

    #[test]
    fn out_of_scope_aliases() {
        for label in ["out_of_scope", "oos", "OOS", " out-of-scope ", "nlu_fallback"] {
            assert!(is_out_of_scope(label), "{label}");
            assert_eq!(intent_label(label), None);
        }
        assert_eq!(intent_label(" greet "), Some("greet".into()));
    }

    #[test]
    fn load_dispatches_on_extension() {
        let dir = tempfile::tempdir().unwrap();
        let yml = dir.path().join("a.yml");
        std::fs::write(&yml, "intents:\n  - name: greet\n    examples: [hi, hello]\n").unwrap();
        let rasa = dir.path().join("b.yaml");
        std::fs::write(&rasa, "version: \"3.1\"\nnlu:\n- intent: bye\n  examples: |\n    - bye\n").unwrap();
        let md = dir.path().join("c.md");
        std::fs::write(&md, "## intent:thanks\n- thanks\n").unwrap();
        let csv = dir.path().join("d.csv");
        std::fs::write(&csv, "text,intent\nwhatever,oos\n").unwrap();
        let data = TrainingData::load_all([&yml, &rasa, &md, &csv]).unwrap();
        assert_eq!(data.len(), 5);
        assert_eq!(data.intent_names(), ["bye", "greet", "thanks"]);
        assert!(data.has_out_of_scope());
        assert_eq!(data.examples_of(None).count(), 1);

        let json = dir.path().join("data_full.json");
        std::fs::write(&json, "{}").unwrap();
        let e = TrainingData::load(&json).unwrap_err().to_string();
        assert!(e.contains("data_full.json: unknown training data format; supported: entendu YAML"), "{e}");
        assert!(TrainingData::load(dir.path().join("missing.yml")).unwrap_err().to_string().contains("missing.yml"));
        assert!(matches!(TrainingData::load_all(Vec::<PathBuf>::new()), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn invalid_utf8_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.md");
        std::fs::write(&path, b"## intent:a\n- caf\xe9\n").unwrap();
        let e = TrainingData::load(&path).unwrap_err().to_string();
        assert!(e.contains("bad.md:2:6: the file is not valid UTF-8"), "{e}");
    }

    #[test]
    fn merge_unites_declarations_and_specs() {
        let mut a = TrainingData {
            examples: vec![example("hi", Some("greet"))],
            entities: vec![EntityDeclaration {
                name: "city".into(),
                lookup: vec!["Paris".into()],
                fuzzy: Some(0.8),
                ..Default::default()
            }],
            intents: BTreeMap::from([("greet".into(), IntentSpec::default())]),
        };
        let b = TrainingData {
            examples: vec![example("yo", None)],
            entities: vec![EntityDeclaration {
                name: "city".into(),
                lookup: vec!["Paris".into(), "Lyon".into()],
                fuzzy: Some(0.9),
                ..Default::default()
            }],
            intents: BTreeMap::from([(
                "greet".into(),
                IntentSpec {
                    required_entities: vec!["name".into()],
                    description: Some("Hello".into()),
                    ..Default::default()
                },
            )]),
        };
        a.merge(b);
        assert_eq!(a.len(), 2);
        assert_eq!(a.entities.len(), 1);
        assert_eq!(a.entities[0].lookup, ["Paris", "Lyon"]);
        assert_eq!(a.entities[0].fuzzy, Some(0.8));
        assert_eq!(a.intents["greet"].required_entities, ["name"]);
        assert_eq!(a.intents["greet"].description.as_deref(), Some("Hello"));
    }

    #[test]
    fn wildcard_synonyms_resolve_to_annotated_types() {
        let mut data = TrainingData::default();
        let mut ex = example("my savings", Some("balance"));
        ex.entities.push(EntityAnnotation {
            entity: "account".into(),
            start: 3,
            end: 10,
            text: "savings".into(),
            value: None,
        });
        data.examples.push(ex);
        data.add_declaration(EntityDeclaration {
            name: ANY_ENTITY.into(),
            synonyms: BTreeMap::from([
                ("savings".into(), vec!["pink pig".into()]),
                ("credit".into(), vec!["cc".into()]),
            ]),
            ..Default::default()
        });
        data.resolve_synonyms();
        assert_eq!(data.entity_names(), ["account"]);
        let account = data.entities.iter().find(|d| d.name == "account").unwrap();
        assert_eq!(account.synonyms["savings"], ["pink pig"]);
        let any = data.entities.iter().find(|d| d.name == ANY_ENTITY).unwrap();
        assert_eq!(any.synonyms.keys().collect::<Vec<_>>(), ["credit"]);
    }
}
