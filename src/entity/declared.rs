//! Entities declared by the bot author: regexes, lookup tables and synonyms.
//!
//! Lookups and synonyms match whole words, insensitive to case and accents ("carte bleue",
//! "Carte Bleue", "carte bleüe"); the value of a synonym is its canonical form. With a `fuzzy`
//! threshold, words within that normalised edit similarity of a surface form match too
//! ("Chanell" for "Chanel"). Regexes use the `regex` crate, whose matching time is linear in the
//! input: no pattern can make a message take exponential time.

use crate::data::EntityDeclaration;
use crate::entity::builtin::text::Folded;
use crate::error::{Error, Result};
use crate::parse::Entity;
use regex::Regex;
use std::collections::HashMap;

struct LookupSet {
    entity: String,
    /// Alternation of the folded surface forms, longest first, between word boundaries.
    pattern: Regex,
    /// Folded surface → value.
    values: HashMap<String, String>,
    fuzzy: Option<f32>,
}

/// Matches the declared entities of a model.
pub struct DeclaredExtractor {
    regexes: Vec<(String, Regex)>,
    lookups: Vec<LookupSet>,
}

impl DeclaredExtractor {
    /// Compiles the declarations; a regex that does not compile is an error naming the entity
    /// and the pattern.
    pub fn new(declarations: &[EntityDeclaration]) -> Result<Self> {
        let mut regexes = Vec::new();
        let mut lookups = Vec::new();
        for decl in declarations {
            if decl.name == crate::data::ANY_ENTITY {
                continue;
            }
            for pattern in &decl.regexes {
                let regex = regex::RegexBuilder::new(pattern).size_limit(1 << 22).build().map_err(|e| {
                    Error::Data(format!("entity `{}`: regex `{pattern}` does not compile: {e}", decl.name))
                })?;
                regexes.push((decl.name.clone(), regex));
            }
            let mut values: HashMap<String, String> = HashMap::new();
            for surface in &decl.lookup {
                values.insert(fold(surface), surface.clone());
            }
            for (canonical, surfaces) in &decl.synonyms {
                values.insert(fold(canonical), canonical.clone());
                for surface in surfaces {
                    values.insert(fold(surface), canonical.clone());
                }
            }
            values.retain(|k, _| !k.trim().is_empty());
            if values.is_empty() {
                continue;
            }
            let mut surfaces: Vec<&String> = values.keys().collect();
            surfaces.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
            let alternation = surfaces.iter().map(|s| regex::escape(s)).collect::<Vec<_>>().join("|");
            let pattern = Regex::new(&format!(r"\b(?:{alternation})\b"))
                .map_err(|e| Error::Data(format!("entity `{}`: lookup table too large: {e}", decl.name)))?;
            lookups.push(LookupSet { entity: decl.name.clone(), pattern, values, fuzzy: decl.fuzzy });
        }
        Ok(Self { regexes, lookups })
    }

    /// Whether anything is declared.
    pub fn is_empty(&self) -> bool {
        self.regexes.is_empty() && self.lookups.is_empty()
    }

    /// The declared value of `surface` as entity `entity`: a synonym's canonical form or a
    /// lookup entry as written in the declaration, compared like lookups (case, accents and
    /// spacing ignored); `None` when `surface` is not declared. Gives learned entities the same
    /// values as declared ones.
    pub fn canonical(&self, entity: &str, surface: &str) -> Option<&str> {
        let folded = fold(surface);
        self.lookups
            .iter()
            .filter(|set| set.entity == entity)
            .find_map(|set| set.values.get(&folded))
            .map(String::as_str)
    }

    /// All matches, possibly overlapping (the caller merges).
    pub fn extract(&self, text: &str) -> Vec<Entity> {
        let mut out = Vec::new();
        for (entity, regex) in &self.regexes {
            for m in regex.find_iter(text) {
                if m.start() < m.end() {
                    out.push(entity_at(entity, text, m.start(), m.end(), serde_json::json!(m.as_str()), 1.0, "regex"));
                }
            }
        }
        if self.lookups.is_empty() {
            return out;
        }
        let folded = Folded::new(text);
        for set in &self.lookups {
            let mut found = false;
            for m in set.pattern.find_iter(&folded.text) {
                let Some((start, end)) = folded.span(m.start(), m.end()) else { continue };
                let value = set.values.get(m.as_str()).cloned().unwrap_or_else(|| m.as_str().to_string());
                out.push(entity_at(&set.entity, text, start, end, serde_json::json!(value), 1.0, "lookup"));
                found = true;
            }
            if let (false, Some(threshold)) = (found, set.fuzzy) {
                out.extend(fuzzy_matches(set, &folded, text, threshold));
            }
        }
        out
    }
}

fn entity_at(
    entity: &str,
    text: &str,
    start: usize,
    end: usize,
    value: serde_json::Value,
    confidence: f32,
    extractor: &str,
) -> Entity {
    Entity {
        entity: entity.to_string(),
        text: text.get(start..end).unwrap_or_default().to_string(),
        value,
        start,
        end,
        confidence,
        extractor: extractor.to_string(),
    }
}

fn fold(s: &str) -> String {
    Folded::new(s).text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Word n-grams of the folded text compared with each surface form by normalised Levenshtein
/// similarity. Hand-written on purpose: a dozen lines, where a crate would add a dependency for
/// one function.
fn fuzzy_matches(set: &LookupSet, folded: &Folded, text: &str, threshold: f32) -> Vec<Entity> {
    let words: Vec<(usize, usize)> = word_spans(&folded.text);
    let mut best: Vec<(f32, usize, usize, String)> = Vec::new();
    for (surface, value) in &set.values {
        let n = surface.split(' ').count().max(1);
        for window in words.windows(n) {
            let (Some(first), Some(last)) = (window.first(), window.last()) else { continue };
            let Some(candidate) = folded.text.get(first.0..last.1) else { continue };
            if candidate.chars().count() < 4 {
                continue; // short words are too easy to confuse
            }
            let similarity = similarity(candidate, surface);
            if similarity >= threshold {
                best.push((similarity, first.0, last.1, value.clone()));
            }
        }
    }
    best.sort_by(|a, b| b.0.total_cmp(&a.0));
    best.into_iter()
        .filter_map(|(sim, fs, fe, value)| {
            let (start, end) = folded.span(fs, fe)?;
            Some(entity_at(&set.entity, text, start, end, serde_json::json!(value), sim, "lookup"))
        })
        .take(1)
        .collect()
}

fn word_spans(s: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(b)) => {
                spans.push((b, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(b) = start {
        spans.push((b, s.len()));
    }
    spans
}

/// 1 − Levenshtein distance / longer length, over chars.
fn similarity(a: &str, b: &str) -> f32 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    // One row of the edit-distance table at a time: `diagonal` and `above` are the previous
    // row's cells j and j + 1, `left` the current row's cell j.
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut left = i + 1;
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(left);
        for (cb, (&diagonal, &above)) in b.iter().zip(previous.iter().zip(previous.iter().skip(1))) {
            left = (diagonal + usize::from(ca != cb)).min(above + 1).min(left + 1);
            current.push(left);
        }
        previous = current;
    }
    1.0 - previous.last().copied().unwrap_or(longest) as f32 / longest as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn payment() -> EntityDeclaration {
        let mut synonyms = BTreeMap::new();
        synonyms.insert("carte bancaire".to_string(), vec!["CB".to_string(), "carte bleue".to_string()]);
        EntityDeclaration {
            name: "payment_method".into(),
            synonyms,
            lookup: vec!["PayPal".into()],
            ..Default::default()
        }
    }

    #[test]
    fn synonyms_match_whole_words_regardless_of_case_and_accents() {
        let x = DeclaredExtractor::new(&[payment()]).unwrap();
        let text = "J'ai payé par Carte Bleüe puis par paypal, pas en CBD";
        let found = x.extract(text);
        let values: Vec<_> = found.iter().map(|e| (e.text.as_str(), e.value.as_str().unwrap())).collect();
        assert_eq!(values, [("Carte Bleüe", "carte bancaire"), ("paypal", "PayPal")]);
        for e in &found {
            assert_eq!(&text[e.start..e.end], e.text);
        }
    }

    #[test]
    fn fuzzy_matching_catches_typos_when_enabled() {
        let brands = EntityDeclaration {
            name: "brand".into(),
            lookup: vec!["Chanel".into()],
            fuzzy: Some(0.8),
            ..Default::default()
        };
        let x = DeclaredExtractor::new(&[brands]).unwrap();
        let found = x.extract("un parfum Chanell svp");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].text, "Chanell");
        assert_eq!(found[0].value, "Chanel");
    }

    #[test]
    fn a_bad_regex_names_entity_and_pattern() {
        let bad = EntityDeclaration { name: "order_id".into(), regexes: vec!["(\\d+".into()], ..Default::default() };
        let err = DeclaredExtractor::new(&[bad]).err().unwrap().to_string();
        assert!(err.contains("order_id") && err.contains("(\\d+"), "{err}");
    }

    #[test]
    fn regexes_report_their_matches() {
        let decl = EntityDeclaration {
            name: "order_id".into(),
            regexes: vec![r"\bCMD-\d{5,8}\b".into()],
            ..Default::default()
        };
        let x = DeclaredExtractor::new(&[decl]).unwrap();
        let found = x.extract("ma commande CMD-48213 est en retard");
        assert_eq!(found[0].text, "CMD-48213");
        assert_eq!(found[0].extractor, "regex");
    }
}
