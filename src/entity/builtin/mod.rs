//! Built-in entity extractors: e-mails, phone numbers, URLs, numbers, ordinals, amounts
//! of money, dates, times and date-times in French, English, Spanish and German.
//!
//! ```
//! use entendu::entity::builtin::{extract, BuiltinOptions, Lang};
//! use chrono::NaiveDate;
//! let reference = NaiveDate::from_ymd_opt(2024, 3, 13).unwrap().and_hms_opt(10, 0, 0).unwrap();
//! let options = BuiltinOptions::new(reference).with_languages(vec![Lang::Fr]);
//! let found = extract("Je voudrais un rendez-vous mardi prochain à 15h", &options);
//! assert_eq!(found[0].entity, "datetime");
//! assert_eq!(found[0].text, "mardi prochain à 15h");
//! assert_eq!(found[0].value, "2024-03-19T15:00:00");
//! ```
//!
//! # What is recognised
//!
//! | entity | value | fr | en | es | de |
//! |---|---|---|---|---|---|
//! | `email` | address, domain lowercased | `Jean.Dupont@Exemple.fr` | | | |
//! | `url` | as written | `https://…`, `www.laposte.fr/suivi`, `amazon.fr` | | | |
//! | `phone_number` | E.164 | `06 12 34 56 78`, `+33 6 12…`, `0033 6…` | `+1 415 555 2671`, `(415) 555-2671` (region US) | `612 34 56 78` (region ES) | `030 1234567` (region DE) |
//! | `number` | JSON number | `1 234,56`, `vingt-trois`, `quatre-vingt-dix-sept`, `soixante et onze` | `1,234.56`, `twenty-three`, `one hundred and five` | `1.234,56`, `veintitrés`, `cuarenta y dos` | `1.234,56`, `dreiundzwanzig`, `hundertfünf` |
//! | `ordinal` | integer | `1er`, `3e`, `3ème`, `premier`, `troisième` | `1st`, `3rd`, `first`, `twenty-first` | `1º`, `3.ª`, `tercero` | `3.` (before a word), `dritte` |
//! | `amount_of_money` | `{"value", "unit"}` (ISO 4217) | `20 €`, `12,50 €`, `12€50`, `vingt euros`, `10 livres`, `30 francs suisses`, `CHF 30` | `$15`, `€20`, `15 USD`, `£10`, `twenty bucks`, `99 cents` | `20 euros`, `15 dólares`, `10 libras` | `20 Euro`, `30 Franken`, `10 Pfund` |
//! | `date` | `YYYY-MM-DD` | `15/09/2018`, `le 3 décembre`, `3 déc.`, `aujourd'hui`, `demain`, `après-demain`, `hier`, `avant-hier`, `lundi`, `lundi prochain`, `vendredi dernier`, `dans 3 jours`, `dans deux semaines`, `il y a 2 jours`, `la semaine prochaine`, `le mois dernier`, `l'année prochaine`; holidays: `Noël`, `lundi de Pâques`, `Toussaint` | `June 1st 2019`, `the 1st of June`, `today`, `tomorrow`, `the day after tomorrow`, `next Monday`, `last Friday`, `on Monday`, `in two weeks`, `3 days ago`, `next week`; `Boxing Day`, `Good Friday`, `Thanksgiving` | `el 3 de diciembre`, `hoy`, `mañana`, `pasado mañana`, `ayer`, `el próximo lunes`, `el lunes que viene`, `dentro de 3 días`, `hace 2 días`, `la semana que viene`; `Nochebuena`, `Viernes Santo` | `3. Dezember`, `15.09.`, `heute`, `morgen`, `übermorgen`, `gestern`, `nächsten Montag`, `am Montag`, `in 3 Tagen`, `vor 2 Tagen`, `nächste Woche`; `Weihnachten`, `Ostermontag` |
//! | `time` | `HH:MM:SS` | `à 14h30`, `14h`, `14:30`, `midi`, `minuit`, `15 heures et quart`, `8h du soir` | `at 2:30 pm`, `2pm`, `noon`, `midnight`, `3 o'clock`, `half past 4` | `a las 3 de la tarde`, `a las 15:30`, `a la una y media`, `al mediodía` | `um 14 Uhr`, `14:30 Uhr`, `um halb drei`, `Viertel nach drei`, `Mitternacht` |
//! | `datetime` | `YYYY-MM-DDTHH:MM:SS` | `demain à 14h30`, `mardi prochain à 15h`, `dans 2 heures` | `tomorrow at 2pm`, `in 30 minutes` | `mañana a las 10`, `el lunes a las 3 de la tarde` | `morgen um 14 Uhr`, `in 2 Stunden` |
//!
//! ISO dates (`2018-09-15`, `2018-09-15T14:30`) and `HH:MM` are read in every language.
//! Matching is case-insensitive and accent-insensitive (`apres-demain`, `a 14h30`,
//! `fevrier`, decomposed accents), and tolerant of no-break and narrow no-break spaces.
//!
//! # Resolution rules
//!
//! Relative expressions are resolved against [`BuiltinOptions::reference`]:
//! * a day and month without a year → the next occurrence on or after the reference date
//!   (`le 3 mars` on 13 March 2024 → 2025-03-03; `le 13 mars` → 2024-03-13);
//! * a bare weekday (`lundi`, `on Monday`, `el lunes`, `am Montag`) → the next such day on
//!   or after the reference date (today if it is that day); with "next" (`prochain`,
//!   `próximo`, `que viene`, `nächsten`) → strictly after; with "last" (`dernier`,
//!   `pasado`, `letzten`) → strictly before;
//! * next/last/this week → the Monday of that week; month → its first day; year →
//!   1 January;
//! * `dans 3 jours` / `il y a 2 jours` → reference date ± the amount; months and years keep
//!   the day of month (clamped); hours and minutes give a date-time;
//! * numeric dates are day-first, except in English: month-first (`03/15/2024`), falling
//!   back to day-first when that is the only valid reading;
//! * an hour without am/pm in an evening context (`demain soir à 8h`) moves to 20:00;
//! * invalid dates (`31 février`, `30/02/2020`, `32/01/2020`) are not dates (their numbers
//!   may still be numbers).
//!
//! # Overlaps
//!
//! Returned matches never overlap. Among overlapping candidates the longer span wins; on
//! equal length the priority is datetime > date > time > amount_of_money > email > url >
//! phone_number > ordinal > number.
//!
//! # Languages
//!
//! [`BuiltinOptions::languages`] selects the languages whose words are used. When it is
//! empty, the language of the message is guessed from stop words ([`guess_languages`]),
//! and all four are used when nothing points to one, so that a French "très" is not
//! read as Spanish "tres" (3). A lone article (`un`, `une`, `a`, `una`, `ein`) is never
//! reported as the number 1. Digits, e-mails, URLs, phones and ISO dates do not depend on
//! the language; the first language decides how `1,234` and `1.234` read (English:
//! one thousand two hundred thirty-four; others: 1.234 and 1234).
//!
//! # Why hand-written
//!
//! No maintained Rust crate parses natural-language dates and times, number words and
//! currency expressions in French, English, Spanish and German (Duckling is Haskell; Snips'
//! Rust port of it has been unmaintained for years; the date crates on crates.io are
//! English-only or format-based), so the grammars here are hand-written: per-language
//! vocabularies and regex rules over a folded copy of the text whose offsets map back to
//! the original (`text.rs`), a place-value parser for number words (`numbers.rs`), and
//! per-language rule tables for dates and times (`datetime/`).
//!
//! Phone numbers are normalised by hand too: the `phonenumber` crate costs about a minute
//! of release build on two cores, ~120 ms of first-call initialisation and milliseconds
//! per parse, against the sub-millisecond budget of this module (see `contact.rs`).

mod contact;
mod datetime;
mod lang;
mod money;
mod numbers;
pub(crate) mod text;

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::Value;

pub use lang::{guess_languages, Lang};

/// The names of the entities [`extract`] can return.
pub const BUILTIN_ENTITIES: &[&str] =
    &["email", "phone_number", "url", "number", "ordinal", "amount_of_money", "date", "time", "datetime"];

/// How [`extract`] reads a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinOptions {
    /// The moment relative expressions are resolved against ("demain", "in 3 days").
    pub reference: NaiveDateTime,
    /// The languages whose words are recognised; empty means: guess from the text, and use
    /// all four when the guess is undecided.
    pub languages: Vec<Lang>,
    /// ISO 3166 region used for phone numbers written without a country code (`"FR"`). When
    /// the text is in one language, the national formats with a trunk `0` of that language's
    /// regions are read too, after this one (a German message's `0171 4482913` is `+49…`).
    pub default_phone_region: String,
}

impl BuiltinOptions {
    /// Options with the given reference, all languages and the French phone region.
    pub fn new(reference: NaiveDateTime) -> Self {
        BuiltinOptions { reference, languages: Vec::new(), default_phone_region: "FR".to_string() }
    }

    /// These options with `languages` instead.
    pub fn with_languages(mut self, languages: Vec<Lang>) -> Self {
        self.languages = languages;
        self
    }

    /// These options with `region` as the default phone region.
    pub fn with_phone_region(mut self, region: &str) -> Self {
        self.default_phone_region = region.to_string();
        self
    }
}

impl Default for BuiltinOptions {
    /// The current local time as reference, all languages, region `"FR"`.
    fn default() -> Self {
        BuiltinOptions::new(chrono::Local::now().naive_local())
    }
}

/// One extracted entity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuiltinMatch {
    /// One of [`BUILTIN_ENTITIES`].
    pub entity: &'static str,
    /// Byte offset of the start of the match in the input (a char boundary).
    pub start: usize,
    /// Byte offset of the end of the match in the input (a char boundary).
    pub end: usize,
    /// The matched text: always `&input[start..end]`.
    pub text: String,
    /// The normalised value (see the module documentation for each entity).
    pub value: Value,
}

/// Internal entity kinds, in increasing priority for equal-length overlaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Entity {
    Number,
    Ordinal,
    Phone,
    Url,
    Email,
    Money,
    Time,
    Date,
    DateTime,
}

impl Entity {
    fn name(self) -> &'static str {
        match self {
            Entity::Number => "number",
            Entity::Ordinal => "ordinal",
            Entity::Phone => "phone_number",
            Entity::Url => "url",
            Entity::Email => "email",
            Entity::Money => "amount_of_money",
            Entity::Time => "time",
            Entity::Date => "date",
            Entity::DateTime => "datetime",
        }
    }
}

/// A candidate in original coordinates.
struct Cand {
    start: usize,
    end: usize,
    entity: Entity,
    value: Value,
}

fn number_value(v: f64) -> Option<Value> {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        // Whole numbers are JSON integers; the cast is exact below 2^53.
        Some(Value::from(v as i64))
    } else {
        serde_json::Number::from_f64(v).map(Value::Number)
    }
}

/// Extracts every built-in entity of `text`.
///
/// Matches are sorted by `start`, never overlap, and satisfy
/// `&text[m.start..m.end] == m.text`. Extraction cannot fail: what is not recognised is
/// simply not returned.
pub fn extract(text: &str, options: &BuiltinOptions) -> Vec<BuiltinMatch> {
    if text.is_empty() {
        return Vec::new();
    }
    let folded = text::Folded::new(text);
    let f = folded.text.as_str();
    let langs: Vec<Lang> = if options.languages.is_empty() {
        lang::guess_folded(text, f)
    } else {
        let mut l = Vec::new();
        for x in &options.languages {
            if !l.contains(x) {
                l.push(*x);
            }
        }
        l
    };
    let decimal_comma = langs.first().is_none_or(|l| l.decimal_comma());

    let mut cands: Vec<Cand> = Vec::new();
    for (s, e, v) in contact::emails(text) {
        cands.push(Cand { start: s, end: e, entity: Entity::Email, value: Value::String(v) });
    }
    for (s, e, v) in contact::urls(text) {
        cands.push(Cand { start: s, end: e, entity: Entity::Url, value: Value::String(v) });
    }

    // Everything else works on the folded text.
    let mut folded_cands: Vec<(usize, usize, Entity, Value)> = Vec::new();
    let mut regions = vec![options.default_phone_region.trim().to_ascii_uppercase()];
    if let [only] = langs.as_slice() {
        for region in only.trunk_prefix_phone_regions() {
            if !regions.iter().any(|r| r == region) {
                regions.push((*region).to_string());
            }
        }
    }
    for (s, e, v) in contact::phones(f, &regions) {
        folded_cands.push((s, e, Entity::Phone, Value::String(v)));
    }
    let nums = numbers::scan(f, &langs, decimal_comma);
    for (s, e, v) in money::extract(f, &nums, &langs) {
        folded_cands.push((s, e, Entity::Money, v));
    }
    for n in nums.iter().filter(|n| !n.weak) {
        let entity = if n.ordinal { Entity::Ordinal } else { Entity::Number };
        if let Some(v) = number_value(n.value) {
            folded_cands.push((n.start, n.end, entity, v));
        }
    }
    for d in datetime::extract(f, &langs, options.reference) {
        let entity = match d.kind {
            datetime::Kind::Date => Entity::Date,
            datetime::Kind::Time => Entity::Time,
            datetime::Kind::DateTime => Entity::DateTime,
        };
        folded_cands.push((d.start, d.end, entity, Value::String(d.value)));
    }
    for (s, e, entity, value) in folded_cands {
        if let Some((start, end)) = folded.span(s, e) {
            cands.push(Cand { start, end, entity, value });
        }
    }
    resolve(text, cands)
}

/// Keeps the longest (then highest-priority, then leftmost) of overlapping candidates.
fn resolve(text: &str, mut cands: Vec<Cand>) -> Vec<BuiltinMatch> {
    cands.retain(|c| c.start < c.end && text.get(c.start..c.end).is_some());
    cands.sort_by(|a, b| {
        (b.end - b.start).cmp(&(a.end - a.start)).then(b.entity.cmp(&a.entity)).then(a.start.cmp(&b.start))
    });
    // Accepted spans by start → end.
    let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for c in cands {
        let overlaps_before = taken.range(..c.end).next_back().is_some_and(|(_, &e)| e > c.start);
        if overlaps_before {
            continue;
        }
        taken.insert(c.start, c.end);
        if let Some(t) = text.get(c.start..c.end) {
            out.push(BuiltinMatch {
                entity: c.entity.name(),
                start: c.start,
                end: c.end,
                text: t.to_string(),
                value: c.value,
            });
        }
    }
    out.sort_by_key(|m| m.start);
    out
}

#[cfg(test)]
mod tests;
