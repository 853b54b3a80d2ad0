//! Entities: what the bot needs to act (order numbers, dates, emails, amounts…).
//!
//! Extraction is an ordered list of extractors whose candidates are merged into one list:
//! - [`declared`]: regexes, lookup tables and synonyms written by the bot author;
//! - [`builtin`]: dates, times, numbers, money, emails, phones, URLs in fr/en/es/de, no training;
//! - (learned entities, from a tagger trained on annotated examples, come with the tagger.)
//!
//! **Merge policy**, documented because it decides what the bot sees: candidates are taken
//! by priority (declared before built-in), then the longer span first, then the earlier start;
//! a candidate overlapping one already taken is dropped. A declared entity named like a built-in
//! one (`phone_number`, `date`…) yields to the built-in match of that type, which has a value. The result is sorted by position and
//! never overlaps. Offsets are byte offsets into the input, on char boundaries.

pub mod builtin;
pub mod declared;

use crate::parse::Entity;

/// Priority of an extractor in the merge (higher wins).
fn priority(extractor: &str) -> u8 {
    match extractor {
        "regex" | "lookup" => 3,
        "learned" => 2,
        _ => 1,
    }
}

/// Merges candidates from every extractor (see the module docs for the policy).
pub fn merge(mut candidates: Vec<Entity>) -> Vec<Entity> {
    // A declared entity that re-declares a built-in type (a `phone_number` regex, say) yields
    // to the built-in match of that type on the same text, which carries a normalised value.
    let builtin_spans: Vec<(String, usize, usize)> =
        candidates.iter().filter(|c| c.extractor == "builtin").map(|c| (c.entity.clone(), c.start, c.end)).collect();
    candidates.retain(|c| {
        c.extractor == "builtin"
            || !builtin_spans.iter().any(|(entity, start, end)| *entity == c.entity && c.start < *end && *start < c.end)
    });
    candidates.sort_by(|a, b| {
        priority(&b.extractor)
            .cmp(&priority(&a.extractor))
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    let mut taken: Vec<Entity> = Vec::new();
    for candidate in candidates {
        if taken.iter().all(|t| candidate.end <= t.start || candidate.start >= t.end) {
            taken.push(candidate);
        }
    }
    taken.sort_by_key(|e| e.start);
    taken
}

/// Built-in matches as [`Entity`] values.
pub fn builtin_entities(text: &str, options: &builtin::BuiltinOptions) -> Vec<Entity> {
    builtin::extract(text, options)
        .into_iter()
        .map(|m| Entity {
            entity: m.entity.to_string(),
            text: m.text,
            value: m.value,
            start: m.start,
            end: m.end,
            confidence: 1.0,
            extractor: "builtin".to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(entity: &str, start: usize, end: usize, extractor: &str) -> Entity {
        Entity {
            entity: entity.into(),
            text: String::new(),
            value: serde_json::Value::Null,
            start,
            end,
            confidence: 1.0,
            extractor: extractor.into(),
        }
    }

    #[test]
    fn declared_beats_builtin_and_longer_beats_shorter() {
        let merged = merge(vec![
            e("number", 12, 17, "builtin"),
            e("order_id", 12, 17, "regex"),
            e("date", 20, 30, "builtin"),
            e("number", 20, 22, "builtin"),
        ]);
        let kept: Vec<_> = merged.iter().map(|x| x.entity.as_str()).collect();
        assert_eq!(kept, ["order_id", "date"]);
    }
}
