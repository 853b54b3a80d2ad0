//! Warnings about training data that loads fine but will likely train badly.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use unicode_normalization::UnicodeNormalization;

use super::{Example, Source, TrainingData};

/// A warning from [`TrainingData::check`]: the data is usable, but probably not as meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The example concerned, when there is one.
    pub source: Option<Source>,
    /// What looks wrong, quoting the data.
    pub message: String,
    /// What to do about it, when we know.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    /// `path:line: message`, then the hint on its own line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(source) = &self.source {
            write!(f, "{}:{}: ", source.path.display(), source.line)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Case-, whitespace- and Unicode-form-insensitive key for spotting the same utterance twice.
fn normalise(text: &str) -> String {
    let lower = text.nfc().collect::<String>().to_lowercase();
    lower.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn label(intent: Option<&str>) -> String {
    intent.map_or_else(|| "out of scope".to_owned(), |i| format!("`{i}`"))
}

fn at(source: Option<&Source>) -> String {
    source.map_or_else(|| "elsewhere".to_owned(), |s| format!("at {}:{}", s.path.display(), s.line))
}

/// Edit distance in characters; entity names are short, so the quadratic table is fine.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let above = row.get(j + 1).copied().unwrap_or(0);
            let left = row.get(j).copied().unwrap_or(0);
            let value = (diagonal + usize::from(ca != *cb)).min(above + 1).min(left + 1);
            diagonal = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = value;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

impl TrainingData {
    /// Looks for likely mistakes: intents with fewer than 2 examples, the same text (ignoring
    /// case and spacing) under two intents, entity types annotated only once (typos), and
    /// examples left empty once annotations are removed, and umbrella intents whose
    /// `clarify_with` names an intent with no examples.
    ///
    /// Per-example warnings come in example order, then per-intent ones by intent name.
    pub fn check(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();

        let mut entity_counts: HashMap<&str, usize> = HashMap::new();
        for annotation in self.examples.iter().flat_map(|e| &e.entities) {
            *entity_counts.entry(annotation.entity.as_str()).or_default() += 1;
        }
        let declared: BTreeSet<&str> = self.entities.iter().map(|d| d.name.as_str()).collect();

        // First example seen per (normalised text, intent), to name where a conflict started.
        let mut seen: HashMap<String, Vec<(Option<&str>, &Example)>> = HashMap::new();
        for example in &self.examples {
            let source = example.source.clone();
            if example.text.trim().is_empty() {
                out.push(Diagnostic {
                    source: source.clone(),
                    message: format!("empty example under {}", label(example.intent.as_deref())),
                    hint: Some("write some words outside the annotations, or delete it".into()),
                });
            } else {
                let labelled = seen.entry(normalise(&example.text)).or_default();
                let intent = example.intent.as_deref();
                if !labelled.iter().any(|(i, _)| *i == intent) {
                    if let Some((other, first)) = labelled.first() {
                        out.push(Diagnostic {
                            source: source.clone(),
                            message: format!(
                                "`{}` is labelled {} here but {} {}",
                                example.text,
                                label(intent),
                                label(*other),
                                at(first.source.as_ref())
                            ),
                            hint: Some("keep one label: the classifier cannot learn both".into()),
                        });
                    }
                    labelled.push((intent, example));
                }
            }
            for annotation in &example.entities {
                let name = annotation.entity.as_str();
                if entity_counts.get(name) != Some(&1) || declared.contains(name) {
                    continue;
                }
                let similar = entity_counts
                    .keys()
                    .chain(declared.iter())
                    .filter(|other| **other != name && edit_distance(other, name) <= 2)
                    .min_by_key(|other| (edit_distance(other, name), **other));
                out.push(Diagnostic {
                    source: source.clone(),
                    message: format!("entity `{name}` is annotated only once (`{}`)", annotation.text),
                    hint: Some(match similar {
                        Some(other) => format!("did you mean `{other}`?"),
                        None => "annotate it in more examples, or declare it under `entities:`".into(),
                    }),
                });
            }
        }

        let mut per_intent: BTreeMap<&str, (usize, Option<&Source>)> =
            self.intents.keys().map(|name| (name.as_str(), (0, None))).collect();
        for example in &self.examples {
            if let Some(intent) = &example.intent {
                let entry = per_intent.entry(intent.as_str()).or_default();
                entry.0 += 1;
                entry.1 = entry.1.or(example.source.as_ref());
            }
        }
        for (umbrella, spec) in &self.intents {
            for choice in &spec.clarify_with {
                if per_intent.get(choice.as_str()).is_none_or(|(count, _)| *count == 0) {
                    out.push(Diagnostic {
                        source: per_intent.get(umbrella.as_str()).and_then(|(_, s)| s.cloned()),
                        message: format!("`{umbrella}` offers `{choice}` (clarify_with), an intent with no examples"),
                        hint: Some("fix the intent name in `clarify_with`, or give that intent examples".into()),
                    });
                }
            }
        }
        for (intent, (count, source)) in per_intent {
            if count >= 2 {
                continue;
            }
            out.push(Diagnostic {
                source: source.cloned(),
                message: if count == 0 {
                    format!("intent `{intent}` has no examples")
                } else {
                    format!("intent `{intent}` has only 1 example")
                },
                hint: Some("give every intent several examples (10 or more train well)".into()),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{yaml, EntityDeclaration, IntentSpec};

    #[test]
    fn finds_each_kind_of_problem() {
        let raw = "\
intents:
  - name: track_order
    examples:
      - où est ma commande [12345](order_id)
      - et la commande [777](order_id) ?
      - je veux parler à [Zoé](agent)
      - Bonjour   à tous
  - name: greet
    clarify_with: [track_order, refnd]
    examples:
      - bonjour à TOUS
      - '[x](order_idd)'
  - name: lonely
    examples: [seul]
  - name: out_of_scope
    examples: [bonjour à tous]
";
        let mut data = yaml::read_str(raw, "d.yml").unwrap();
        data.intents.insert("ghost".into(), IntentSpec::default());
        let warnings: Vec<String> = data.check().iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "d.yml:6: entity `agent` is annotated only once (`Zoé`)\n  hint: annotate it in more examples, or declare it under `entities:`",
                "d.yml:11: `bonjour à TOUS` is labelled `greet` here but `track_order` at d.yml:7\n  hint: keep one label: the classifier cannot learn both",
                "d.yml:12: entity `order_idd` is annotated only once (`x`)\n  hint: did you mean `order_id`?",
                "d.yml:16: `bonjour à tous` is labelled out of scope here but `track_order` at d.yml:7\n  hint: keep one label: the classifier cannot learn both",
                "d.yml:11: `greet` offers `refnd` (clarify_with), an intent with no examples\n  hint: fix the intent name in `clarify_with`, or give that intent examples",
                "intent `ghost` has no examples\n  hint: give every intent several examples (10 or more train well)",
                "d.yml:14: intent `lonely` has only 1 example\n  hint: give every intent several examples (10 or more train well)",
            ]
        );
    }

    #[test]
    fn declared_entities_and_empty_examples() {
        let raw = "intents:\n  - name: a\n    examples: ['[x](code)', '  ', ok]\n";
        let mut data = yaml::read_str(raw, "e.yml").unwrap();
        let warnings: Vec<String> = data.check().iter().map(|d| d.message.clone()).collect();
        assert_eq!(warnings, ["entity `code` is annotated only once (`x`)", "empty example under `a`"]);
        data.entities.push(EntityDeclaration { name: "code".into(), ..Default::default() });
        assert_eq!(data.check().len(), 1);
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("order_id", "order_idd"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("héllo", "hello"), 1);
    }
}
