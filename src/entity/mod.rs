//! Entities: what the bot needs to act (order numbers, dates, emails, amounts…).
//!
//! Extraction is an ordered list of extractors whose candidates are merged into one list:
//! - [`declared`]: regexes, lookup tables and synonyms written by the bot author;
//! - [`builtin`]: dates, times, numbers, money, emails, phones, URLs in fr/en/es/de, no training;
//! - [`learned`]: a BIO tagger over the encoder's token embeddings, trained on the annotated examples;
//!
//! **Merge policy**, documented because it decides what the bot sees: candidates are taken
//! by priority (declared, then learned, then built-in), then the longer span first, then the
//! earlier start; a candidate overlapping one already taken is dropped. A lookup match lying
//! inside a longer learned span of its own type gives way to it (`lampe` of `lampe de
//! bureau`: the tagger read the longer name around a known word). A declared entity named
//! like a built-in one (`phone_number`, `date`…) yields to the built-in match of that type,
//! which has a value. A *learned* entity of a built-in type that overlaps a built-in match of
//! that type (any temporal type for `date`, `time`, `datetime`) keeps its start, runs to the
//! built-in's end when that is further, and takes the built-in's normalised value: the tagger
//! learned the span conventions of the bot's own data ("le [3 décembre]", not "[le 3
//! décembre]"), the built-in extractor knows how to turn the text into an ISO date or an
//! amount. Contacts are the exception (`email`, `url`, `phone_number`): their syntax, not the
//! data's conventions, fixes where they start and end, so a learned contact overlapping a
//! built-in one takes its whole span (the tagger may start inside `compta@atelier-brun.fr`, at
//! a SentencePiece boundary), and a learned `email` or `url` that no built-in match confirms
//! is dropped (a name tagged `email` has no `@`). Any entity of another type, declared or
//! learned, inside a longer built-in contact is a piece of it (`91827364` of `+49 160
//! 91827364`, matched by an `order_id` regex of 6 to 8 digits) and gives way to it. Before the
//! merge, built-in and lookup matches of a type the tagger was trained on must have the
//! tagger's support ([`learned::Reading::confirms`]): the data's conventions
//! decide what counts (`il y a 4 jours` is no date to data that annotates specific days). A
//! supported built-in match the tagger did not tag itself stays (the tagger is weaker in
//! languages it was not trained on). The result is sorted by position and never overlaps.
//! Offsets are byte offsets into the input, on char boundaries.

pub mod builtin;
pub mod declared;
pub mod learned;

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
    let overlaps = |a: &Entity, b: &Entity| same_kind(&a.entity, &b.entity) && a.start < b.end && b.start < a.end;
    // A learned entity of a built-in type keeps its start and takes the built-in value (the
    // longest overlapping built-in match's); that built-in match then gives way to it. When the
    // built-in match runs further, so does the entity: the tagger stops early more often than
    // it starts late (`[hier] soir`, `[demain à] 14h`), while leading words are where the
    // data's conventions differ (`le [3 décembre]`).
    let builtin: Vec<Entity> = candidates.iter().filter(|c| c.extractor == "builtin").cloned().collect();
    candidates.retain(|c| {
        c.extractor != "learned" || !SYNTAX_ONLY.contains(&c.entity.as_str()) || builtin.iter().any(|b| overlaps(c, b))
    });
    candidates.retain(|c| {
        c.extractor == "builtin"
            || !builtin.iter().any(|b| {
                CONTACTS.contains(&b.entity.as_str())
                    && b.entity != c.entity
                    && b.start <= c.start
                    && c.end <= b.end
                    && b.end - b.start > c.end - c.start
            })
    });
    for c in candidates.iter_mut().filter(|c| c.extractor == "learned") {
        if let Some(b) = builtin.iter().filter(|b| overlaps(c, b)).max_by_key(|b| b.end - b.start) {
            c.value = b.value.clone();
            if CONTACTS.contains(&c.entity.as_str()) {
                (c.start, c.end, c.text) = (b.start, b.end, b.text.clone());
                continue;
            }
            // `b.text` is the input's `b.start..b.end`, so its tail past `c.end` is the input's too.
            if let Some(tail) = b.text.get(c.end.saturating_sub(b.start)..).filter(|_| b.end > c.end) {
                c.text.push_str(tail);
                c.end = b.end;
            }
            // Past the built-in match, punctuation only is the sentence's, not the entity's (a
            // SentencePiece token `▁78.` ends `06 12 34 56 78.`).
            let past = c.text.get(b.end.saturating_sub(c.start)..).filter(|_| c.end > b.end && b.end > c.start);
            if past.is_some_and(|p| p.chars().all(|ch| ch.is_ascii_punctuation())) {
                c.text.truncate(b.end - c.start);
                c.end = b.end;
            }
        }
    }
    let learned: Vec<Entity> = candidates.iter().filter(|c| c.extractor == "learned").cloned().collect();
    candidates.retain(|c| c.extractor != "builtin" || !learned.iter().any(|l| overlaps(c, l)));
    // A lookup match inside a longer learned span of its type is the head word of a longer
    // name the tagger read around it ("lampe" of "lampe de bureau", "lave-linge" of
    // "lave-linge Bosch"): the longer name is the entity.
    candidates.retain(|c| {
        c.extractor != "lookup"
            || !learned.iter().any(|l| {
                l.entity == c.entity && l.start <= c.start && c.end <= l.end && l.end - l.start > c.end - c.start
            })
    });
    // A declared entity that re-declares a built-in type (a `phone_number` regex, say) yields
    // to the built-in match of that type on the same text, which carries a normalised value.
    let builtin_spans: Vec<(String, usize, usize)> =
        candidates.iter().filter(|c| c.extractor == "builtin").map(|c| (c.entity.clone(), c.start, c.end)).collect();
    candidates.retain(|c| {
        c.extractor == "builtin"
            || c.extractor == "learned"
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

/// Built-in types whose extent their syntax fixes: a learned one takes the built-in match's span.
const CONTACTS: [&str; 3] = ["email", "url", "phone_number"];
/// Built-in types no text is without a built-in match: a learned one with none is a mistake.
/// (Not `phone_number`: numbers are written in more ways than the built-in extractor knows.)
const SYNTAX_ONLY: [&str; 2] = ["email", "url"];

/// Whether two entity types name the same kind of thing for the merge: equal, or both
/// temporal (a `date` annotated with its time, `[demain à 14h](date)`, is a built-in `datetime`).
fn same_kind(a: &str, b: &str) -> bool {
    const TEMPORAL: [&str; 3] = ["date", "time", "datetime"];
    a == b || (TEMPORAL.contains(&a) && TEMPORAL.contains(&b))
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

    #[test]
    fn a_learned_entity_ends_with_its_builtin_match_before_punctuation() {
        let input = "au 06 12 34 56 78.";
        let mut learned = e("phone_number", 3, 18, "learned");
        learned.text = input[3..18].into();
        let mut builtin = e("phone_number", 3, 17, "builtin");
        builtin.text = input[3..17].into();
        let merged = merge(vec![learned, builtin]);
        assert_eq!(merged.len(), 1);
        assert_eq!((merged[0].text.as_str(), merged[0].end), ("06 12 34 56 78", 17));
    }

    #[test]
    fn a_learned_contact_takes_the_builtin_span_and_needs_one() {
        let input = "écrivez à compta@atelier-brun.fr, Sophie Martel";
        let at = |entity: &str, text: &str, extractor: &str| {
            let start = input.find(text).unwrap_or(0);
            Entity { text: text.into(), ..e(entity, start, start + text.len(), extractor) }
        };
        let merged = merge(vec![
            at("email", "@atelier-brun.fr", "learned"),
            at("email", "compta@atelier-brun.fr", "builtin"),
            at("email", "Sophie Martel", "learned"),
        ]);
        assert_eq!(merged.len(), 1);
        assert_eq!((merged[0].text.as_str(), merged[0].extractor.as_str()), ("compta@atelier-brun.fr", "learned"));
        assert_eq!(&input[merged[0].start..merged[0].end], merged[0].text);
        // A learned phone number stays without a built-in match: the formats are too many.
        let merged = merge(vec![at("phone_number", "Sophie Martel", "learned")]);
        assert_eq!(merged.len(), 1);
    }

    #[test]
    fn a_declared_or_learned_piece_of_a_builtin_contact_gives_way_to_it() {
        let input = "rufen Sie mich an: +49 160 91827364, Bestellung 4471032";
        let at = |entity: &str, text: &str, extractor: &str| {
            let start = input.find(text).unwrap_or(0);
            Entity { text: text.into(), ..e(entity, start, start + text.len(), extractor) }
        };
        let merged = merge(vec![
            at("order_id", "91827364", "learned"),
            at("order_id", "91827364", "regex"),
            at("phone_number", "+49 160 91827364", "builtin"),
            at("order_id", "4471032", "learned"),
        ]);
        let kept: Vec<_> = merged.iter().map(|x| (x.entity.as_str(), x.text.as_str())).collect();
        assert_eq!(kept, [("phone_number", "+49 160 91827364"), ("order_id", "4471032")]);
    }

    #[test]
    fn a_lookup_word_gives_way_to_the_longer_learned_name_around_it() {
        // "la lampe de bureau": the lookup knows "lampe", the tagger read "lampe de bureau".
        let merged = merge(vec![e("product", 3, 8, "lookup"), e("product", 3, 18, "learned")]);
        assert_eq!(merged.len(), 1);
        assert_eq!((merged[0].end, merged[0].extractor.as_str()), (18, "learned"));
        // A lookup match as long as the learned span, or of another type, still wins.
        let merged = merge(vec![e("product", 3, 8, "lookup"), e("product", 3, 8, "learned")]);
        assert_eq!(merged[0].extractor, "lookup");
        let merged = merge(vec![e("payment_method", 3, 8, "lookup"), e("product", 3, 18, "learned")]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].extractor, "lookup");
    }

    #[test]
    fn learned_span_takes_the_builtin_value_of_its_type() {
        // "livrée le 3 décembre": the tagger learned "3 décembre", the built-in matched "le 3 décembre".
        let mut builtin = e("date", 7, 20, "builtin");
        builtin.value = serde_json::json!("2026-12-03");
        let merged = merge(vec![builtin, e("date", 10, 20, "learned"), e("date", 30, 35, "builtin")]);
        assert_eq!(merged.len(), 2);
        assert_eq!((merged[0].start, merged[0].end, merged[0].extractor.as_str()), (10, 20, "learned"));
        assert_eq!(merged[0].value, serde_json::json!("2026-12-03"));
        // A built-in match the tagger missed stays.
        assert_eq!((merged[1].start, merged[1].extractor.as_str()), (30, "builtin"));
        // Of another type, a learned entity does not take the built-in value.
        let merged = merge(vec![e("number", 10, 20, "builtin"), e("order_id", 10, 20, "learned")]);
        assert_eq!(merged.len(), 1);
        assert_eq!((merged[0].entity.as_str(), &merged[0].value), ("order_id", &serde_json::Value::Null));
    }

    #[test]
    fn learned_date_runs_to_the_end_of_a_longer_temporal_match() {
        let input = "passée le hier soir à 20h !";
        let at = |entity: &str, text: &str, extractor: &str| {
            let start = input.find(text).unwrap_or(0);
            Entity { text: text.into(), ..e(entity, start, start + text.len(), extractor) }
        };
        let mut builtin = at("datetime", "le hier soir à 20h", "builtin");
        builtin.value = serde_json::json!("2026-11-30T20:00:00");
        let merged = merge(vec![at("date", "hier", "learned"), builtin]);
        assert_eq!(merged.len(), 1);
        let kept = &merged[0];
        // The learned start (without "le"), the built-in end, the built-in value, the learned type.
        assert_eq!((kept.entity.as_str(), kept.text.as_str()), ("date", "hier soir à 20h"));
        assert_eq!(&input[kept.start..kept.end], kept.text);
        assert_eq!(kept.value, serde_json::json!("2026-11-30T20:00:00"));
    }
}
