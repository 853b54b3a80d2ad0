//! Numbers and ordinals: digits with locale separators, number words and ordinal words.
//!
//! Everything here works on folded text (see [`super::text`]): lowercase, no accents.
//!
//! * Digits: `1234`, `1 234,56` / `1.234,56` / `1'234.56` (decimal comma languages),
//!   `1,234.56` (English), `-5`. A separator followed by exactly three digits groups
//!   thousands when it is a grouping separator of the primary language; the decimal
//!   separator of the primary language, or the other punctuation followed by anything but
//!   three digits, starts decimals (`12.50` is 12.5 in French text too).
//! * Number words, parsed by a small place-value state machine shared by all languages
//!   (units, teens, tens, hundreds, scales, and the connector of each language), with the
//!   French vigesimal forms (`soixante-dix`, `quatre-vingt-dix-sept`), Spanish single-word
//!   tens and hundreds (`veintitrés`, `quinientos`) and German compounds split into
//!   morphemes (`dreihundertfünfundzwanzig` → drei·hundert·fünf·und·zwanzig).
//! * Ordinals: `1er`, `3e`, `3ème`, `premier`, `vingt et unième`; `1st`, `3rd`,
//!   `twenty-first`; `1º`, `3.ª`, `tercero`, `vigésimo primero`; `3.` (before a word),
//!   `dritte`, `einundzwanzigste`.
//!
//! A lone article (`un`/`une`, `un`/`una`, `ein`/`eine`…) is not reported as a number: in
//! customer-service text it is an article far more often than a quantity. It still counts
//! inside longer expressions (`vingt et un`, `un million`, `dans une semaine`, `un euro`).

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use super::lang::Lang;
use super::text::{alt, char_before, word_after, word_before};

/// One term of a number-word expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Term {
    Zero,
    /// 1–9.
    Unit(i64),
    /// 10–19.
    Teen(i64),
    /// 20, 30, … 90 (and Belgian/Swiss 70/80/90).
    Tens(i64),
    /// A complete 21–99 in one word (Spanish `veintitrés`, German `dreiundzwanzig`).
    TensUnit(i64),
    /// A complete hundreds value in one word (Spanish `quinientos`, `cien`).
    Hundreds(i64),
    /// The ×100 word (`cent`, `hundred`, `hundert`).
    Hundred,
    /// A ×1000, ×10⁶, ×10⁹ word.
    Scale(i64),
    /// The connector (`et`, `and`, `y`, `und`).
    Conj,
}

use Term::*;

const FR_LEX: &[(&str, Term)] = &[
    ("zero", Zero),
    ("un", Unit(1)),
    ("une", Unit(1)),
    ("deux", Unit(2)),
    ("trois", Unit(3)),
    ("quatre", Unit(4)),
    ("cinq", Unit(5)),
    ("six", Unit(6)),
    ("sept", Unit(7)),
    ("huit", Unit(8)),
    ("neuf", Unit(9)),
    ("dix", Teen(10)),
    ("onze", Teen(11)),
    ("douze", Teen(12)),
    ("treize", Teen(13)),
    ("quatorze", Teen(14)),
    ("quinze", Teen(15)),
    ("seize", Teen(16)),
    ("vingt", Tens(20)),
    ("vingts", Tens(20)),
    ("trente", Tens(30)),
    ("quarante", Tens(40)),
    ("cinquante", Tens(50)),
    ("soixante", Tens(60)),
    ("septante", Tens(70)),
    ("huitante", Tens(80)),
    ("octante", Tens(80)),
    ("nonante", Tens(90)),
    ("cent", Hundred),
    ("cents", Hundred),
    ("mille", Scale(1_000)),
    ("mil", Scale(1_000)),
    ("million", Scale(1_000_000)),
    ("millions", Scale(1_000_000)),
    ("milliard", Scale(1_000_000_000)),
    ("milliards", Scale(1_000_000_000)),
    ("et", Conj),
];

const EN_LEX: &[(&str, Term)] = &[
    ("zero", Zero),
    ("one", Unit(1)),
    ("two", Unit(2)),
    ("three", Unit(3)),
    ("four", Unit(4)),
    ("five", Unit(5)),
    ("six", Unit(6)),
    ("seven", Unit(7)),
    ("eight", Unit(8)),
    ("nine", Unit(9)),
    ("ten", Teen(10)),
    ("eleven", Teen(11)),
    ("twelve", Teen(12)),
    ("thirteen", Teen(13)),
    ("fourteen", Teen(14)),
    ("fifteen", Teen(15)),
    ("sixteen", Teen(16)),
    ("seventeen", Teen(17)),
    ("eighteen", Teen(18)),
    ("nineteen", Teen(19)),
    ("twenty", Tens(20)),
    ("thirty", Tens(30)),
    ("forty", Tens(40)),
    ("fourty", Tens(40)),
    ("fifty", Tens(50)),
    ("sixty", Tens(60)),
    ("seventy", Tens(70)),
    ("eighty", Tens(80)),
    ("ninety", Tens(90)),
    ("hundred", Hundred),
    ("thousand", Scale(1_000)),
    ("million", Scale(1_000_000)),
    ("millions", Scale(1_000_000)),
    ("billion", Scale(1_000_000_000)),
    ("and", Conj),
];

const ES_LEX: &[(&str, Term)] = &[
    ("cero", Zero),
    ("uno", Unit(1)),
    ("un", Unit(1)),
    ("una", Unit(1)),
    ("dos", Unit(2)),
    ("tres", Unit(3)),
    ("cuatro", Unit(4)),
    ("cinco", Unit(5)),
    ("seis", Unit(6)),
    ("siete", Unit(7)),
    ("ocho", Unit(8)),
    ("nueve", Unit(9)),
    ("diez", Teen(10)),
    ("once", Teen(11)),
    ("doce", Teen(12)),
    ("trece", Teen(13)),
    ("catorce", Teen(14)),
    ("quince", Teen(15)),
    ("dieciseis", Teen(16)),
    ("diecisiete", Teen(17)),
    ("dieciocho", Teen(18)),
    ("diecinueve", Teen(19)),
    ("veinte", Tens(20)),
    ("veintiuno", TensUnit(21)),
    ("veintiun", TensUnit(21)),
    ("veintiuna", TensUnit(21)),
    ("veintidos", TensUnit(22)),
    ("veintitres", TensUnit(23)),
    ("veinticuatro", TensUnit(24)),
    ("veinticinco", TensUnit(25)),
    ("veintiseis", TensUnit(26)),
    ("veintisiete", TensUnit(27)),
    ("veintiocho", TensUnit(28)),
    ("veintinueve", TensUnit(29)),
    ("treinta", Tens(30)),
    ("cuarenta", Tens(40)),
    ("cincuenta", Tens(50)),
    ("sesenta", Tens(60)),
    ("setenta", Tens(70)),
    ("ochenta", Tens(80)),
    ("noventa", Tens(90)),
    ("cien", Hundreds(100)),
    ("ciento", Hundreds(100)),
    ("doscientos", Hundreds(200)),
    ("doscientas", Hundreds(200)),
    ("trescientos", Hundreds(300)),
    ("trescientas", Hundreds(300)),
    ("cuatrocientos", Hundreds(400)),
    ("cuatrocientas", Hundreds(400)),
    ("quinientos", Hundreds(500)),
    ("quinientas", Hundreds(500)),
    ("seiscientos", Hundreds(600)),
    ("seiscientas", Hundreds(600)),
    ("setecientos", Hundreds(700)),
    ("setecientas", Hundreds(700)),
    ("ochocientos", Hundreds(800)),
    ("ochocientas", Hundreds(800)),
    ("novecientos", Hundreds(900)),
    ("novecientas", Hundreds(900)),
    ("mil", Scale(1_000)),
    ("millon", Scale(1_000_000)),
    ("millones", Scale(1_000_000)),
    ("y", Conj),
];

/// German morphemes (folded: `ü`→`u`, `ö`→`o`, `ß`→`ss`); words are split into these.
const DE_MORPH: &[(&str, Term)] = &[
    ("null", Zero),
    ("ein", Unit(1)),
    ("eins", Unit(1)),
    ("zwei", Unit(2)),
    ("zwo", Unit(2)),
    ("drei", Unit(3)),
    ("vier", Unit(4)),
    ("funf", Unit(5)),
    ("fuenf", Unit(5)),
    ("sechs", Unit(6)),
    ("sieben", Unit(7)),
    ("acht", Unit(8)),
    ("neun", Unit(9)),
    ("zehn", Teen(10)),
    ("elf", Teen(11)),
    ("zwolf", Teen(12)),
    ("zwoelf", Teen(12)),
    ("dreizehn", Teen(13)),
    ("vierzehn", Teen(14)),
    ("funfzehn", Teen(15)),
    ("fuenfzehn", Teen(15)),
    ("sechzehn", Teen(16)),
    ("siebzehn", Teen(17)),
    ("achtzehn", Teen(18)),
    ("neunzehn", Teen(19)),
    ("zwanzig", Tens(20)),
    ("dreissig", Tens(30)),
    ("dreizig", Tens(30)),
    ("vierzig", Tens(40)),
    ("funfzig", Tens(50)),
    ("fuenfzig", Tens(50)),
    ("sechzig", Tens(60)),
    ("siebzig", Tens(70)),
    ("achtzig", Tens(80)),
    ("neunzig", Tens(90)),
    ("hundert", Hundred),
    ("tausend", Scale(1_000)),
    ("und", Conj),
];

/// German number words that stand alone (never inside a compound).
const DE_WORDS: &[(&str, Term)] = &[
    ("eine", Unit(1)),
    ("einen", Unit(1)),
    ("einem", Unit(1)),
    ("einer", Unit(1)),
    ("million", Scale(1_000_000)),
    ("millionen", Scale(1_000_000)),
    ("milliarde", Scale(1_000_000_000)),
    ("milliarden", Scale(1_000_000_000)),
];

/// Single words that are articles far more often than quantities.
fn is_article(lang: Lang, w: &str) -> bool {
    match lang {
        Lang::Fr => matches!(w, "un" | "une"),
        Lang::En => matches!(w, "a" | "an"),
        Lang::Es => matches!(w, "un" | "una"),
        Lang::De => matches!(w, "ein" | "eine" | "einen" | "einem" | "einer"),
    }
}

type Lexicon = HashMap<&'static str, Term>;

static LEXICONS: LazyLock<[Lexicon; 4]> = LazyLock::new(|| {
    let mk = |l: &[(&'static str, Term)]| l.iter().copied().collect::<Lexicon>();
    let mut de = mk(DE_MORPH);
    de.extend(DE_WORDS.iter().copied());
    [mk(FR_LEX), mk(EN_LEX), mk(ES_LEX), de]
});

fn lexicon(lang: Lang) -> &'static Lexicon {
    let [fr, en, es, de] = &*LEXICONS;
    match lang {
        Lang::Fr => fr,
        Lang::En => en,
        Lang::Es => es,
        Lang::De => de,
    }
}

/// Splits a German word into number morphemes (`dreiundzwanzig` → drei, und, zwanzig).
fn de_split(word: &str, out: &mut Vec<Term>) -> bool {
    if word.is_empty() {
        return true;
    }
    if out.len() > 16 {
        return false;
    }
    // Longest morpheme first, backtracking on failure.
    let mut options: Vec<(&str, Term)> = DE_MORPH.iter().filter(|(m, _)| word.starts_with(m)).copied().collect();
    options.sort_by_key(|o| std::cmp::Reverse(o.0.len()));
    for (m, t) in options {
        // "eins" only ends a word; "ein" never does (except alone, handled by the caller).
        let rest = word.get(m.len()..).unwrap_or_default();
        if m == "eins" && !rest.is_empty() {
            continue;
        }
        out.push(t);
        if de_split(rest, out) {
            return true;
        }
        out.pop();
    }
    false
}

/// The terms of one word, or `None` if it is not a number word of `lang`.
fn word_terms(lang: Lang, word: &str) -> Option<Vec<Term>> {
    if lang == Lang::De {
        if let Some(t) = DE_WORDS.iter().find(|(w, _)| *w == word).map(|(_, t)| *t) {
            return Some(vec![t]);
        }
        if word == "ein" {
            return Some(vec![Unit(1)]);
        }
        let mut morphs = Vec::new();
        if !de_split(word, &mut morphs) {
            return None;
        }
        // unit + und + tens → one 21..99 term; any other "und" is not a number.
        let mut out = Vec::with_capacity(morphs.len());
        let mut i = 0;
        while i < morphs.len() {
            match (morphs.get(i), morphs.get(i + 1), morphs.get(i + 2)) {
                (Some(Unit(u)), Some(Conj), Some(Tens(t))) => {
                    out.push(TensUnit(t + u));
                    i += 3;
                }
                (Some(Conj), _, _) => return None,
                (Some(t), _, _) => {
                    out.push(*t);
                    i += 1;
                }
                (None, _, _) => break,
            }
        }
        if out.last() == Some(&Unit(1)) && word.ends_with("ein") && word != "ein" {
            return None;
        }
        Some(out)
    } else {
        lexicon(lang).get(word).map(|t| vec![*t])
    }
}

/// The place-value state machine behind every number-word parse.
struct Parser {
    lang: Lang,
    total: i64,
    last_scale: i64,
    h: Option<i64>,
    t: i64,
    teen: Option<i64>,
    u: Option<i64>,
    zero: bool,
    conj: bool,
}

impl Parser {
    fn new(lang: Lang) -> Self {
        Parser { lang, total: 0, last_scale: i64::MAX, h: None, t: 0, teen: None, u: None, zero: false, conj: false }
    }

    fn group_empty(&self) -> bool {
        self.h.is_none() && self.t == 0 && self.teen.is_none() && self.u.is_none()
    }

    fn group(&self) -> i64 {
        self.h.unwrap_or(0) + self.t + self.teen.unwrap_or(0) + self.u.unwrap_or(0)
    }

    fn value(&self) -> i64 {
        self.total.saturating_add(self.group())
    }

    fn fresh(&self) -> bool {
        self.total == 0 && self.group_empty() && self.last_scale == i64::MAX && !self.zero
    }

    fn conj_here_ok(&self) -> bool {
        match self.lang {
            Lang::Fr => self.t >= 20 && self.t % 10 == 0 && self.u.is_none() && self.teen.is_none(),
            Lang::En => {
                (self.h.is_some() && self.t == 0 && self.u.is_none() && self.teen.is_none())
                    || (self.group_empty() && self.total > 0)
            }
            Lang::Es => self.t >= 30 && self.t % 10 == 0 && self.u.is_none() && self.teen.is_none(),
            Lang::De => false,
        }
    }

    fn after_conj_ok(&self, term: Term) -> bool {
        match self.lang {
            Lang::Fr => matches!(term, Unit(1) | Teen(11)),
            Lang::En => matches!(term, Unit(_) | Teen(_) | Tens(_)),
            Lang::Es => matches!(term, Unit(_)),
            Lang::De => false,
        }
    }

    fn units_after_tens_ok(&self) -> bool {
        self.t % 10 == 0
            && match self.lang {
                Lang::Fr | Lang::En => self.t >= 20,
                Lang::Es => self.t >= 30,
                Lang::De => false,
            }
    }

    /// Applies `term`; `false` if it cannot follow what was read so far.
    fn push(&mut self, term: Term) -> bool {
        if self.zero {
            return false;
        }
        let conj = std::mem::take(&mut self.conj);
        if conj && !self.after_conj_ok(term) {
            return false;
        }
        match term {
            Zero => {
                if self.fresh() {
                    self.zero = true;
                    return true;
                }
                false
            }
            Conj => {
                if !conj && self.conj_here_ok() {
                    self.conj = true;
                    return true;
                }
                false
            }
            Unit(v) => {
                if self.u.is_some() {
                    return false;
                }
                if let Some(te) = self.teen {
                    if !(self.lang == Lang::Fr && te == 10 && v >= 7) {
                        return false;
                    }
                }
                if self.t > 0 && self.teen.is_none() && !self.units_after_tens_ok() {
                    return false;
                }
                self.u = Some(v);
                true
            }
            Teen(v) => {
                if self.u.is_some() || self.teen.is_some() {
                    return false;
                }
                if self.t > 0 && !(self.lang == Lang::Fr && (self.t == 60 || self.t == 80)) {
                    return false;
                }
                self.teen = Some(v);
                true
            }
            Tens(v) => {
                if self.t > 0 || self.teen.is_some() {
                    return false;
                }
                if let Some(u) = self.u {
                    if self.lang == Lang::Fr && v == 20 && u == 4 {
                        self.u = None;
                        self.t = 80;
                        return true;
                    }
                    return false;
                }
                self.t = v;
                true
            }
            TensUnit(v) => {
                if self.t > 0 || self.teen.is_some() || self.u.is_some() {
                    return false;
                }
                self.t = v;
                self.u = Some(0);
                true
            }
            Hundreds(v) => {
                if !self.group_empty() {
                    return false;
                }
                self.h = Some(v);
                true
            }
            Hundred => {
                if self.h.is_some() || self.t > 0 || self.teen.is_some() {
                    return false;
                }
                let m = self.u.unwrap_or(1);
                if m == 0 {
                    return false;
                }
                self.h = Some(m * 100);
                self.u = None;
                true
            }
            Scale(s) => {
                if s >= self.last_scale {
                    return false;
                }
                let g = if self.group_empty() { 1 } else { self.group() };
                if g == 0 {
                    return false;
                }
                self.total = self.total.saturating_add(g.saturating_mul(s));
                self.last_scale = s;
                self.h = None;
                self.t = 0;
                self.teen = None;
                self.u = None;
                true
            }
        }
    }
}

/// Parses the longest prefix of `words` that is a cardinal number of `lang`:
/// `(value, words used)`.
fn cardinal_prefix(lang: Lang, words: &[&str]) -> Option<(i64, usize)> {
    let mut p = Parser::new(lang);
    let mut best = None;
    for (i, w) in words.iter().enumerate() {
        let Some(terms) = word_terms(lang, w) else {
            break;
        };
        if !terms.into_iter().all(|t| p.push(t)) {
            break;
        }
        if !p.conj {
            best = Some((p.value(), i + 1));
        }
    }
    best
}

/// Parses all of `words` as a cardinal of `lang`.
fn cardinal_all(lang: Lang, words: &[&str]) -> Option<i64> {
    match cardinal_prefix(lang, words) {
        Some((v, n)) if n == words.len() => Some(v),
        _ => None,
    }
}

/// Splits a folded phrase into words at spaces and hyphens.
fn split_words(phrase: &str) -> Vec<&str> {
    phrase.split([' ', '-']).filter(|w| !w.is_empty()).collect()
}

/// Parses a whole folded phrase (`"vingt-trois"`, `"dreiundzwanzig"`) as a cardinal.
pub(crate) fn parse_cardinal(lang: Lang, phrase: &str) -> Option<i64> {
    let words = split_words(phrase);
    if words.is_empty() {
        return None;
    }
    cardinal_all(lang, &words)
}

/// Parses a quantity: digits, an article meaning one (`un`, `a`, `einem`), or number words.
pub(crate) fn parse_quantity(lang: Lang, s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    if is_article(lang, s) || (lang == Lang::En && s == "one") {
        return Some(1);
    }
    parse_cardinal(lang, s)
}

/// What the last word of an ordinal stands for.
enum OrdWord {
    /// A complete value that must stand alone (`premier`, `second`).
    Alone(i64),
    /// The cardinal word it is formed on (`troisième` → `trois`).
    Cardinal(String),
}

/// Reads a French or English ordinal word.
fn ordinal_word(lang: Lang, w: &str) -> Option<OrdWord> {
    match lang {
        Lang::Fr => {
            if matches!(w, "premier" | "premiere" | "premiers" | "premieres") {
                return Some(OrdWord::Alone(1));
            }
            if matches!(w, "second" | "seconde" | "seconds" | "secondes") {
                return Some(OrdWord::Alone(2));
            }
            let stem = w.strip_suffix("iemes").or_else(|| w.strip_suffix("ieme"))?;
            let fixed = match stem {
                "cinqu" => "cinq".to_string(),
                "neuv" => "neuf".to_string(),
                s => s.to_string(),
            };
            let lex = lexicon(Lang::Fr);
            for cand in [fixed.clone(), format!("{fixed}e")] {
                if matches!(lex.get(cand.as_str()), Some(t) if *t != Conj) {
                    return Some(OrdWord::Cardinal(cand));
                }
            }
            None
        }
        Lang::En => {
            let base = match w {
                "first" => "one".to_string(),
                "second" => "two".to_string(),
                "third" => "three".to_string(),
                "fifth" => "five".to_string(),
                "eighth" => "eight".to_string(),
                "ninth" => "nine".to_string(),
                "twelfth" => "twelve".to_string(),
                _ => {
                    if let Some(s) = w.strip_suffix("ieth") {
                        format!("{s}y")
                    } else {
                        w.strip_suffix("th")?.to_string()
                    }
                }
            };
            matches!(lexicon(Lang::En).get(base.as_str()), Some(t) if *t != Conj).then_some(OrdWord::Cardinal(base))
        }
        Lang::Es | Lang::De => None,
    }
}

const ES_ORD: &[(&str, i64)] = &[
    ("primero", 1),
    ("primera", 1),
    ("primer", 1),
    ("segundo", 2),
    ("segunda", 2),
    ("tercero", 3),
    ("tercera", 3),
    ("tercer", 3),
    ("cuarto", 4),
    ("cuarta", 4),
    ("quinto", 5),
    ("quinta", 5),
    ("sexto", 6),
    ("sexta", 6),
    ("septimo", 7),
    ("septima", 7),
    ("setimo", 7),
    ("octavo", 8),
    ("octava", 8),
    ("noveno", 9),
    ("novena", 9),
    ("decimo", 10),
    ("decima", 10),
    ("undecimo", 11),
    ("undecima", 11),
    ("duodecimo", 12),
    ("duodecima", 12),
    ("decimotercero", 13),
    ("decimotercera", 13),
    ("decimocuarto", 14),
    ("decimocuarta", 14),
    ("decimoquinto", 15),
    ("decimoquinta", 15),
    ("decimosexto", 16),
    ("decimosexta", 16),
    ("decimoseptimo", 17),
    ("decimoseptima", 17),
    ("decimoctavo", 18),
    ("decimoctava", 18),
    ("decimonoveno", 19),
    ("decimonovena", 19),
    ("vigesimo", 20),
    ("vigesima", 20),
    ("trigesimo", 30),
    ("trigesima", 30),
    ("cuadragesimo", 40),
    ("cuadragesima", 40),
    ("quincuagesimo", 50),
    ("quincuagesima", 50),
    ("centesimo", 100),
    ("centesima", 100),
    ("milesimo", 1000),
    ("milesima", 1000),
];

/// Reads a German ordinal word (`dritte`, `zwanzigsten`, `einundzwanzigste`).
fn de_ordinal(w: &str) -> Option<i64> {
    for end in ["en", "er", "es", "em", "e"] {
        let Some(base) = w.strip_suffix(end) else {
            continue;
        };
        match base {
            "erst" => return Some(1),
            "zweit" => return Some(2),
            "dritt" => return Some(3),
            "viert" => return Some(4),
            "siebt" | "siebent" => return Some(7),
            "acht" => return Some(8),
            _ => {}
        }
        if let Some(stem) = base.strip_suffix("st") {
            if let Some(v) = de_word_value(stem).filter(|v| *v >= 20) {
                return Some(v);
            }
        }
        if let Some(stem) = base.strip_suffix('t') {
            if let Some(v) = de_word_value(stem).filter(|v| (2..20).contains(v)) {
                return Some(v);
            }
            // einundzwanzigste etc. end in "...zigst"; handled above. Compounds ending in a
            // small ordinal: "hundertdritte" → hundert + dritt.
            for (small, v) in [("erst", 1), ("dritt", 3), ("siebt", 7), ("acht", 8)] {
                if let Some(head) = base.strip_suffix(small) {
                    if let Some(h) = de_word_value(head).filter(|h| *h >= 100) {
                        return Some(h + v);
                    }
                }
            }
        }
    }
    None
}

fn de_word_value(w: &str) -> Option<i64> {
    if w.is_empty() {
        return None;
    }
    let terms = word_terms(Lang::De, w)?;
    let mut p = Parser::new(Lang::De);
    terms.into_iter().all(|t| p.push(t)).then(|| p.value())
}

/// Parses all of `words` as an ordinal of `lang`.
fn ordinal_all(lang: Lang, words: &[&str]) -> Option<i64> {
    let (last, head) = words.split_last()?;
    match lang {
        Lang::Fr | Lang::En => match ordinal_word(lang, last)? {
            OrdWord::Alone(v) => head.is_empty().then_some(v),
            OrdWord::Cardinal(c) => {
                // "unième" / "one" alone is not an ordinal ("vingt et unième" is).
                if head.is_empty() && matches!(c.as_str(), "un" | "une") {
                    return None;
                }
                let mut all: Vec<&str> = head.to_vec();
                all.push(c.as_str());
                cardinal_all(lang, &all)
            }
        },
        Lang::Es => {
            let mut total = 0;
            let mut prev = i64::MAX;
            for w in words {
                let v = ES_ORD.iter().find(|(o, _)| o == w).map(|(_, v)| *v)?;
                if v >= prev {
                    return None;
                }
                prev = v;
                total += v;
            }
            Some(total)
        }
        Lang::De => {
            if head.is_empty() {
                de_ordinal(last)
            } else {
                None
            }
        }
    }
}

/// Parses a whole folded phrase as an ordinal word (`"troisième"`, `"twenty-first"`).
pub(crate) fn parse_ordinal_words(lang: Lang, phrase: &str) -> Option<i64> {
    let words = split_words(phrase);
    ordinal_all(lang, &words)
}

/// Parses a day-of-month slot: digits (with an optional ordinal suffix or German dot),
/// an ordinal word or a cardinal word. `None` unless 1–31.
pub(crate) fn parse_day(lang: Lang, s: &str) -> Option<u32> {
    let s = s.trim().trim_end_matches('.');
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    let v = if !digits.is_empty() {
        digits.parse::<i64>().ok()?
    } else {
        parse_ordinal_words(lang, s).or_else(|| parse_cardinal(lang, s))?
    };
    u32::try_from(v).ok().filter(|d| (1..=31).contains(d))
}

/// A regex fragment matching a phrase of cardinal number words of `lang` (validated later
/// by [`parse_cardinal`]).
pub(crate) fn words_regex(lang: Lang) -> String {
    let (words, conj): (Vec<&str>, &str) = match lang {
        Lang::Fr => (FR_LEX.iter().map(|(w, _)| *w).collect(), "et"),
        Lang::En => (EN_LEX.iter().map(|(w, _)| *w).collect(), "and"),
        Lang::Es => (ES_LEX.iter().map(|(w, _)| *w).collect(), "y"),
        Lang::De => {
            let morphs = alt(DE_MORPH.iter().map(|(w, _)| *w));
            let words = alt(DE_WORDS.iter().map(|(w, _)| *w));
            let w = format!("(?:{words}|{morphs}+)");
            return format!(r"\b{w}(?:\s+{w})*\b");
        }
    };
    let w = alt(words.into_iter().filter(|w| *w != conj));
    format!(r"\b{w}(?:(?:\s*-\s*|\s+)(?:{conj}(?:\s*-\s*|\s+))?{w})*\b")
}

/// A regex fragment matching one number word of `lang` (`tres`, `veintitres`).
pub(crate) fn single_word_regex(lang: Lang) -> String {
    let lex: &[(&str, Term)] = match lang {
        Lang::Fr => FR_LEX,
        Lang::En => EN_LEX,
        Lang::Es => ES_LEX,
        Lang::De => DE_MORPH,
    };
    format!(r"\b{}\b", alt(lex.iter().filter(|(_, t)| *t != Conj).map(|(w, _)| *w)))
}

/// A regex fragment matching an ordinal word phrase of `lang` (validated later).
pub(crate) fn ordinal_words_regex(lang: Lang) -> String {
    match lang {
        Lang::Fr => r"\b(?:premier|premiere|[a-z]+(?:-[a-z]+)*iemes?)\b".to_string(),
        Lang::En => r"\b(?:[a-z]+[\s-]+)?(?:first|second|third|[a-z]+th)\b".to_string(),
        Lang::Es => format!(r"\b{w}(?:\s+{w})?\b", w = alt(ES_ORD.iter().map(|(w, _)| *w))),
        Lang::De => r"\b[a-z]+(?:te|ten|ter|tes|tem)\b".to_string(),
    }
}

/// A number found in the text (folded coordinates).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NumCand {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) value: f64,
    pub(crate) ordinal: bool,
    /// A lone article (`un`, `a`, `ein`): usable as a quantity by other extractors, never
    /// reported as a number.
    pub(crate) weak: bool,
    /// Written with digits.
    pub(crate) digits: bool,
}

/// All numbers and ordinals of the folded `text` in `langs` (digits are language
/// independent; `decimal_comma` says how to read `1,234` and `1.234`).
pub(crate) fn scan(text: &str, langs: &[Lang], decimal_comma: bool) -> Vec<NumCand> {
    let mut out = scan_digits(text, decimal_comma);
    scan_digit_ordinals(text, langs, &mut out);
    scan_words(text, langs, &mut out);
    out
}

fn byte(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// Digit numbers with locale separators.
fn scan_digits(text: &str, decimal_comma: bool) -> Vec<NumCand> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let is_group = |sep: u8| {
        if decimal_comma {
            matches!(sep, b'.' | b' ' | b'\'')
        } else {
            matches!(sep, b',' | b' ' | b'\'')
        }
    };
    let dec = if decimal_comma { b',' } else { b'.' };
    while i < b.len() {
        if !byte(b, i).is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        if char_before(text, start).is_some_and(|c| c.is_alphabetic() || c == '_') {
            // Part of an identifier such as "FR12345": skip the whole token.
            while i < b.len() && (byte(b, i).is_ascii_alphanumeric() || byte(b, i) == b'_') {
                i += 1;
            }
            continue;
        }
        // Digit runs separated by single separators.
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let mut seps: Vec<u8> = Vec::new();
        loop {
            let rs = i;
            while byte(b, i).is_ascii_digit() {
                i += 1;
            }
            runs.push((rs, i));
            let c = byte(b, i);
            // At most six groups can form one number (15 digits); stop collecting there so
            // that "0 0 0 …" stays linear.
            if runs.len() < 7 && matches!(c, b'.' | b',' | b' ' | b'\'') && byte(b, i + 1).is_ascii_digit() {
                seps.push(c);
                i += 1;
            } else {
                break;
            }
        }
        let Some(&(fs, fe)) = runs.first() else {
            continue;
        };
        let mut int_digits = text.get(fs..fe).unwrap_or_default().to_string();
        let mut end = fe;
        let mut frac: Option<&str> = None;
        let mut group_sep: Option<u8> = None;
        let mut k = 1;
        while let (Some(&(rs, re)), Some(&sep)) = (runs.get(k), seps.get(k - 1)) {
            let rlen = re - rs;
            if is_group(sep) && rlen == 3 && fe - fs <= 3 && group_sep.is_none_or(|g| g == sep) {
                group_sep = Some(sep);
                int_digits.push_str(text.get(rs..re).unwrap_or_default());
                end = re;
                k += 1;
                continue;
            }
            let punct = matches!(sep, b'.' | b',');
            if sep == dec || (punct && rlen != 3 && group_sep != Some(sep)) {
                frac = text.get(rs..re);
                end = re;
                k += 1;
            }
            break;
        }
        // Unconsumed punctuation-separated digits: a date, version or IP; not a number.
        if k < runs.len() && seps.get(k - 1).is_some_and(|s| matches!(s, b'.' | b',')) {
            continue;
        }
        i = end;
        let mut s = start;
        let mut neg = false;
        if char_before(text, start) == Some('-') && !char_before(text, start - 1).is_some_and(|c| c.is_alphanumeric()) {
            neg = true;
            s = start - 1;
        }
        if int_digits.len() > 15 {
            continue;
        }
        let lit = match frac {
            Some(f) => format!("{int_digits}.{f}"),
            None => int_digits,
        };
        if let Ok(v) = lit.parse::<f64>() {
            out.push(NumCand {
                start: s,
                end,
                value: if neg { -v } else { v },
                ordinal: false,
                weak: false,
                digits: true,
            });
        }
    }
    out
}

static ORD_DIGITS: LazyLock<[Option<Regex>; 4]> = LazyLock::new(|| {
    [
        Regex::new(r"\b(\d{1,4}) ?(er|ere|re|eme|em|e|nde|nd)\b").ok(),
        Regex::new(r"\b(\d{1,4})(st|nd|rd|th)\b").ok(),
        Regex::new(r"\b(\d{1,4})\.?(o|a|os|as|er|era)\b").ok(),
        Regex::new(r"\b(\d{1,3})\. [a-z]").ok(),
    ]
});

/// `1er`, `3e`, `1st`, `3rd`, `1º`, `3.ª`, German `3.` before a word.
fn scan_digit_ordinals(text: &str, langs: &[Lang], out: &mut Vec<NumCand>) {
    for &lang in langs {
        let idx = Lang::ALL.iter().position(|l| *l == lang).unwrap_or(0);
        let Some(Some(re)) = ORD_DIGITS.get(idx) else {
            continue;
        };
        for c in re.captures_iter(text) {
            let (Some(m), Some(n)) = (c.get(0), c.get(1)) else {
                continue;
            };
            let Ok(v) = n.as_str().parse::<i64>() else {
                continue;
            };
            let suffix = c.get(2).map(|s| s.as_str()).unwrap_or("");
            let prev = char_before(text, m.start());
            if prev.is_some_and(|p| p.is_alphanumeric() || p == '.' || p == ',') {
                continue;
            }
            let end = match lang {
                Lang::De => n.end() + 1,
                _ => m.end(),
            };
            let ok = match lang {
                Lang::Fr => {
                    let one = matches!(suffix, "er" | "ere" | "re");
                    (v == 1) == one && (!suffix.starts_with('n') || v == 2) && v > 0
                }
                Lang::En => {
                    let expected = match (v % 100, v % 10) {
                        (11..=13, _) => "th",
                        (_, 1) => "st",
                        (_, 2) => "nd",
                        (_, 3) => "rd",
                        _ => "th",
                    };
                    suffix == expected
                }
                Lang::Es => v > 0 && (!suffix.starts_with('e') || matches!(v, 1 | 3)),
                Lang::De => v > 0,
            };
            if ok {
                out.push(NumCand { start: m.start(), end, value: v as f64, ordinal: true, weak: false, digits: true });
            }
        }
    }
}

/// Number words and ordinal words.
fn scan_words(text: &str, langs: &[Lang], out: &mut Vec<NumCand>) {
    // Word tokens: runs of letters.
    let mut tokens: Vec<(usize, usize)> = Vec::new();
    let mut cur: Option<usize> = None;
    for (p, c) in text.char_indices() {
        if c.is_alphabetic() {
            if cur.is_none() {
                cur = Some(p);
            }
        } else if let Some(s) = cur.take() {
            tokens.push((s, p));
        }
    }
    if let Some(s) = cur {
        tokens.push((s, text.len()));
    }
    let mut i = 0;
    while i < tokens.len() {
        // The run of tokens joined only by spaces and hyphens.
        let mut j = i + 1;
        while j < tokens.len() && j - i < 16 {
            let (Some(&(_, pe)), Some(&(ns, _))) = (tokens.get(j - 1), tokens.get(j)) else {
                break;
            };
            let gap = text.get(pe..ns).unwrap_or("x");
            if gap.is_empty() || gap.len() > 3 || !gap.chars().all(|c| c == ' ' || c == '-') {
                break;
            }
            j += 1;
        }
        let span = tokens.get(i..j).unwrap_or_default();
        let words: Vec<&str> = span.iter().map(|&(s, e)| text.get(s..e).unwrap_or_default()).collect();
        let mut best: Option<(usize, f64, bool, Lang)> = None; // (words, value, ordinal, lang)
        for &lang in langs {
            if let Some((v, n)) = cardinal_prefix(lang, &words) {
                if best.is_none_or(|b| n > b.0) {
                    best = Some((n, v as f64, false, lang));
                }
            }
            // An ordinal is number words followed by one ordinal word.
            let run = words.iter().take_while(|w| word_terms(lang, w).is_some()).count();
            for n in (1..=words.len().min(run + 1)).rev() {
                if best.is_some_and(|b| b.0 > n) {
                    break;
                }
                if let Some(v) = words.get(..n).and_then(|w| ordinal_all(lang, w)) {
                    best = Some((n, v as f64, true, lang));
                    break;
                }
            }
        }
        let Some((n, value, ordinal, lang)) = best else {
            i += 1;
            continue;
        };
        let (Some(&(start, _)), Some(&(_, end))) = (span.first(), span.get(n - 1)) else {
            i += 1;
            continue;
        };
        let first = words.first().copied().unwrap_or_default();
        let weak = n == 1 && !ordinal && is_article(lang, first);
        if !(n == 1 && is_false_friend(lang, first, text, start, end)) {
            out.push(NumCand { start, end, value, ordinal, weak, digits: false });
        }
        i += n;
    }
}

/// A lone number word that, in this context, is not a number ("the one", "a second",
/// "quoi de neuf").
fn is_false_friend(lang: Lang, w: &str, text: &str, start: usize, end: usize) -> bool {
    let prev = word_before(text, start).unwrap_or_default();
    match (lang, w) {
        (Lang::En, "one") => matches!(
            prev,
            "the"
                | "this"
                | "that"
                | "which"
                | "no"
                | "any"
                | "every"
                | "each"
                | "another"
                | "other"
                | "some"
                | "a"
                | "one"
                | "right"
                | "wrong"
                | "new"
                | "old"
        ),
        (Lang::En, "second") => matches!(prev, "a" | "per" | "one" | "each" | "every" | "split"),
        (Lang::Fr, "seconde" | "secondes") => {
            matches!(prev, "une" | "quelques" | "chaque" | "deux" | "trois" | "la")
                && word_after(text, end).is_none_or(|n| n != "fois")
        }
        (Lang::Fr, "neuf") => matches!(prev, "tout" | "a" | "de" | "du" | "comme" | "etat" | "est" | "sont" | "quasi"),
        (Lang::Es, "segundo" | "segundos") => matches!(prev, "un" | "unos" | "cada" | "dos"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(lang: Lang, s: &str) -> Option<i64> {
        parse_cardinal(lang, s)
    }

    #[test]
    fn french_words() {
        for (s, v) in [
            ("vingt-trois", 23),
            ("vingt et un", 21),
            ("soixante et onze", 71),
            ("soixante-dix-sept", 77),
            ("quatre-vingts", 80),
            ("quatre-vingt-dix-sept", 97),
            ("quatre-vingt-un", 81),
            ("dix-huit", 18),
            ("cent", 100),
            ("deux cents", 200),
            ("cent cinq", 105),
            ("mille", 1000),
            ("deux mille vingt-quatre", 2024),
            ("trois millions deux cent mille", 3_200_000),
            ("septante-deux", 72),
            ("zero", 0),
        ] {
            assert_eq!(card(Lang::Fr, s), Some(v), "{s}");
        }
        for s in ["deux trois", "vingt vingt", "zero un", "et", "cent cent"] {
            assert_eq!(card(Lang::Fr, s), None, "{s}");
        }
    }

    #[test]
    fn english_words() {
        for (s, v) in [
            ("twenty-three", 23),
            ("twenty three", 23),
            ("one hundred and five", 105),
            ("a", -1),
            ("two thousand and twelve", 2012),
            ("nineteen", 19),
            ("five million", 5_000_000),
        ] {
            if v >= 0 {
                assert_eq!(card(Lang::En, s), Some(v), "{s}");
            } else {
                assert_eq!(card(Lang::En, s), None, "{s}");
            }
        }
    }

    #[test]
    fn spanish_words() {
        for (s, v) in [
            ("veintitres", 23),
            ("cuarenta y dos", 42),
            ("ciento dos", 102),
            ("quinientos", 500),
            ("dos mil", 2000),
            ("mil doscientos treinta y cuatro", 1234),
            ("un millon", 1_000_000),
            ("cien", 100),
        ] {
            assert_eq!(card(Lang::Es, s), Some(v), "{s}");
        }
        assert_eq!(card(Lang::Es, "veinte y"), None);
    }

    #[test]
    fn german_words() {
        for (s, v) in [
            ("dreiundzwanzig", 23),
            ("hundertfunf", 105),
            ("einhundert", 100),
            ("zweitausenddreihundertvierundfunfzig", 2354),
            ("eins", 1),
            ("zwolf", 12),
            ("dreissig", 30),
            ("siebzehn", 17),
            ("hunderteins", 101),
            ("zwei millionen", 2_000_000),
        ] {
            assert_eq!(card(Lang::De, s), Some(v), "{s}");
        }
        for s in ["und", "zweiund", "dreiein", "hallo"] {
            assert_eq!(card(Lang::De, s), None, "{s}");
        }
    }

    #[test]
    fn ordinal_words() {
        for (l, s, v) in [
            (Lang::Fr, "premier", 1),
            (Lang::Fr, "troisieme", 3),
            (Lang::Fr, "cinquieme", 5),
            (Lang::Fr, "neuvieme", 9),
            (Lang::Fr, "onzieme", 11),
            (Lang::Fr, "vingt et unieme", 21),
            (Lang::Fr, "quatre-vingtieme", 80),
            (Lang::Fr, "centieme", 100),
            (Lang::En, "first", 1),
            (Lang::En, "twenty-first", 21),
            (Lang::En, "twentieth", 20),
            (Lang::En, "hundredth", 100),
            (Lang::En, "third", 3),
            (Lang::Es, "tercero", 3),
            (Lang::Es, "vigesimo primero", 21),
            (Lang::De, "dritte", 3),
            (Lang::De, "ersten", 1),
            (Lang::De, "zwanzigste", 20),
            (Lang::De, "einundzwanzigsten", 21),
            (Lang::De, "elfte", 11),
            (Lang::De, "achte", 8),
            (Lang::De, "siebte", 7),
            (Lang::De, "hundertste", 100),
        ] {
            assert_eq!(parse_ordinal_words(l, s), Some(v), "{s}");
        }
        for (l, s) in [(Lang::Fr, "unieme"), (Lang::En, "month"), (Lang::De, "beste"), (Lang::De, "mitte")] {
            assert_eq!(parse_ordinal_words(l, s), None, "{s}");
        }
    }

    fn digits(s: &str, dc: bool) -> Vec<(String, f64)> {
        scan_digits(s, dc).into_iter().map(|c| (s[c.start..c.end].to_string(), c.value)).collect()
    }

    #[test]
    fn digit_numbers() {
        assert_eq!(digits("1 234,56", true), vec![("1 234,56".into(), 1234.56)]);
        assert_eq!(digits("1.234,56", true), vec![("1.234,56".into(), 1234.56)]);
        assert_eq!(digits("1,234.56", false), vec![("1,234.56".into(), 1234.56)]);
        assert_eq!(digits("12.50", true), vec![("12.50".into(), 12.5)]);
        assert_eq!(digits("1,5", false), vec![("1,5".into(), 1.5)]);
        assert_eq!(digits("-5 et 3", true).len(), 2);
        assert_eq!(digits("-5", true), vec![("-5".into(), -5.0)]);
        assert!(digits("FR12345", true).is_empty());
        assert!(digits("15.09.2018", true).is_empty());
        assert_eq!(digits("5kg", true), vec![("5".into(), 5.0)]);
        assert_eq!(digits("1 2 3", true), vec![("1".into(), 1.0), ("2".into(), 2.0), ("3".into(), 3.0)]);
        assert!(digits("12345678901234567890", true).is_empty());
    }

    #[test]
    fn scan_words_and_articles() {
        let t = "j'ai un colis et vingt-trois articles, le troisieme";
        let c = scan(t, &[Lang::Fr], true);
        let got: Vec<(&str, f64, bool, bool)> =
            c.iter().map(|c| (&t[c.start..c.end], c.value, c.ordinal, c.weak)).collect();
        assert!(got.contains(&("un", 1.0, false, true)));
        assert!(got.contains(&("vingt-trois", 23.0, false, false)));
        assert!(got.contains(&("troisieme", 3.0, true, false)));
    }

    #[test]
    fn fragments_compile() {
        for l in Lang::ALL {
            assert!(Regex::new(&words_regex(l)).is_ok());
            assert!(Regex::new(&ordinal_words_regex(l)).is_ok());
        }
        for re in ORD_DIGITS.iter() {
            assert!(re.is_some());
        }
    }
}
