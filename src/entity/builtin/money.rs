//! Amounts of money: a number (digits or words) next to a currency symbol, ISO code or
//! currency word.
//!
//! * Symbol or code before or after: `20 €`, `20€`, `€20`, `$15`, `US$ 15`, `CHF 30`,
//!   `15 USD`, `£10`; French-style cents after the symbol: `12€50` → 12.50.
//! * Currency words after the number, per language: `20 euros`, `vingt euros`,
//!   `10 livres` (GBP), `30 francs suisses` (CHF), `15 dollars`, `twenty bucks`,
//!   `10 pounds`, `veinte euros`, `dólares`, `libras`, `zwanzig Euro`, `Franken`, `Pfund`;
//!   cent words divide by 100 (`50 centimes` → 0.50 EUR, `99 cents` → 0.99 USD).
//! * `$` alone means USD; `francs` alone means CHF (the only franc in wide use in the
//!   francophone markets served; `francs CFA` → XOF).

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{json, Value};

use super::lang::Lang;
use super::numbers::NumCand;
use super::text::{alt, ceil_boundary, char_at, char_before, floor_boundary, word_after};

/// `(folded phrase, ISO 4217 code, divisor)`.
type Currency = (&'static str, &'static str, f64);

/// Symbols and codes: allowed before or after the number, in every language.
const SYMBOLS: &[Currency] = &[
    ("€", "EUR", 1.0),
    ("eur", "EUR", 1.0),
    ("$", "USD", 1.0),
    ("us$", "USD", 1.0),
    ("usd", "USD", 1.0),
    ("£", "GBP", 1.0),
    ("gbp", "GBP", 1.0),
    ("chf", "CHF", 1.0),
    ("sfr", "CHF", 1.0),
    ("¥", "JPY", 1.0),
    ("jpy", "JPY", 1.0),
    ("cad", "CAD", 1.0),
    ("c$", "CAD", 1.0),
    ("ca$", "CAD", 1.0),
    ("aud", "AUD", 1.0),
    ("a$", "AUD", 1.0),
    ("mxn", "MXN", 1.0),
    ("mx$", "MXN", 1.0),
    ("cny", "CNY", 1.0),
    ("sek", "SEK", 1.0),
    ("nok", "NOK", 1.0),
    ("dkk", "DKK", 1.0),
    ("pln", "PLN", 1.0),
    ("mad", "MAD", 1.0),
    ("xof", "XOF", 1.0),
    ("xaf", "XAF", 1.0),
];

const FR_WORDS: &[Currency] = &[
    ("euro", "EUR", 1.0),
    ("euros", "EUR", 1.0),
    ("centime", "EUR", 100.0),
    ("centimes", "EUR", 100.0),
    ("dollar", "USD", 1.0),
    ("dollars", "USD", 1.0),
    ("dollars americains", "USD", 1.0),
    ("dollars us", "USD", 1.0),
    ("dollar canadien", "CAD", 1.0),
    ("dollars canadiens", "CAD", 1.0),
    ("dollars australiens", "AUD", 1.0),
    ("livre", "GBP", 1.0),
    ("livres", "GBP", 1.0),
    ("livre sterling", "GBP", 1.0),
    ("livres sterling", "GBP", 1.0),
    ("franc", "CHF", 1.0),
    ("francs", "CHF", 1.0),
    ("franc suisse", "CHF", 1.0),
    ("francs suisses", "CHF", 1.0),
    ("francs cfa", "XOF", 1.0),
    ("yen", "JPY", 1.0),
    ("yens", "JPY", 1.0),
];

const EN_WORDS: &[Currency] = &[
    ("euro", "EUR", 1.0),
    ("euros", "EUR", 1.0),
    ("dollar", "USD", 1.0),
    ("dollars", "USD", 1.0),
    ("us dollars", "USD", 1.0),
    ("canadian dollars", "CAD", 1.0),
    ("australian dollars", "AUD", 1.0),
    ("buck", "USD", 1.0),
    ("bucks", "USD", 1.0),
    ("cent", "USD", 100.0),
    ("cents", "USD", 100.0),
    ("pound", "GBP", 1.0),
    ("pounds", "GBP", 1.0),
    ("pounds sterling", "GBP", 1.0),
    ("quid", "GBP", 1.0),
    ("pence", "GBP", 100.0),
    ("swiss francs", "CHF", 1.0),
    ("swiss franc", "CHF", 1.0),
    ("francs", "CHF", 1.0),
    ("yen", "JPY", 1.0),
];

const ES_WORDS: &[Currency] = &[
    ("euro", "EUR", 1.0),
    ("euros", "EUR", 1.0),
    ("centimo", "EUR", 100.0),
    ("centimos", "EUR", 100.0),
    ("dolar", "USD", 1.0),
    ("dolares", "USD", 1.0),
    ("dolares estadounidenses", "USD", 1.0),
    ("dolares canadienses", "CAD", 1.0),
    ("libra", "GBP", 1.0),
    ("libras", "GBP", 1.0),
    ("libras esterlinas", "GBP", 1.0),
    ("franco suizo", "CHF", 1.0),
    ("francos suizos", "CHF", 1.0),
    ("francos", "CHF", 1.0),
    ("yen", "JPY", 1.0),
    ("yenes", "JPY", 1.0),
    ("pesos mexicanos", "MXN", 1.0),
];

const DE_WORDS: &[Currency] = &[
    ("euro", "EUR", 1.0),
    ("euros", "EUR", 1.0),
    ("cent", "EUR", 100.0),
    ("dollar", "USD", 1.0),
    ("us-dollar", "USD", 1.0),
    ("pfund", "GBP", 1.0),
    ("britische pfund", "GBP", 1.0),
    ("franken", "CHF", 1.0),
    ("schweizer franken", "CHF", 1.0),
    ("yen", "JPY", 1.0),
];

fn words(lang: Lang) -> &'static [Currency] {
    match lang {
        Lang::Fr => FR_WORDS,
        Lang::En => EN_WORDS,
        Lang::Es => ES_WORDS,
        Lang::De => DE_WORDS,
    }
}

struct Tables {
    /// Per language: regex for a currency right after the number.
    suffix: Vec<(Lang, Regex)>,
    /// A symbol or code right before the number.
    prefix: Option<Regex>,
    /// Per language: phrase → (code, divisor).
    lookup: HashMap<(Lang, String), (&'static str, f64)>,
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    let mut suffix = Vec::new();
    let mut lookup = HashMap::new();
    for lang in Lang::ALL {
        let all = || SYMBOLS.iter().chain(words(lang));
        if let Ok(re) = Regex::new(&format!("^ ?({})", alt(all().map(|c| c.0)))) {
            suffix.push((lang, re));
        }
        for &(w, code, div) in all() {
            lookup.insert((lang, w.to_string()), (code, div));
        }
    }
    let prefix = Regex::new(&format!("({}) ?$", alt(SYMBOLS.iter().map(|c| c.0)))).ok();
    Tables { suffix, prefix, lookup }
});

fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn amount(value: f64, code: &str) -> Value {
    json!({ "value": (value * 100.0).round() / 100.0, "unit": code })
}

/// Amounts of money in the folded `text`, built on the numbers found there:
/// `(start, end, {"value", "unit"})` in folded coordinates.
pub(crate) fn extract(text: &str, nums: &[NumCand], langs: &[Lang]) -> Vec<(usize, usize, Value)> {
    let t = &*TABLES;
    let mut out = Vec::new();
    for n in nums.iter().filter(|n| !n.ordinal) {
        // Currency after the number.
        let win_end = floor_boundary(text, n.end.saturating_add(40));
        let after = text.get(n.end..win_end).unwrap_or_default();
        let mut done = false;
        for &lang in langs {
            let Some((_, re)) = t.suffix.iter().find(|(l, _)| *l == lang) else {
                continue;
            };
            let Some(c) = re.captures(after) else {
                continue;
            };
            let (Some(whole), Some(cur)) = (c.get(0), c.get(1)) else {
                continue;
            };
            let end = n.end + whole.end();
            let cur_text = normalise(cur.as_str());
            let is_symbol = !cur_text.chars().any(|c| c.is_alphabetic()) || cur_text.contains('$');
            // The currency must end a word (symbols may be followed by anything but letters).
            if char_at(text, end).is_some_and(|c| c.is_alphanumeric()) && !is_symbol {
                continue;
            }
            if char_at(text, end).is_some_and(|c| c.is_alphabetic()) {
                continue;
            }
            let Some(&(code, div)) = t.lookup.get(&(lang, cur_text.clone())) else {
                continue;
            };
            if n.weak && is_symbol {
                continue;
            }
            if lang == Lang::Fr
                && cur_text.starts_with("livre")
                && !cur_text.contains("sterling")
                && word_after(text, end).is_some_and(|w| matches!(w, "de" | "d"))
            {
                continue; // "10 livres de cuisine": books
            }
            let mut value = n.value / div;
            let mut end = end;
            // "12€50": cents right after the symbol.
            if whole.as_str() == cur.as_str() && is_symbol && n.digits && n.value.fract() == 0.0 {
                let cents = text.get(end..).unwrap_or_default();
                let cb = cents.as_bytes();
                if cb.len() >= 2
                    && cb.iter().take(2).all(u8::is_ascii_digit)
                    && !cb.get(2).is_some_and(|c| c.is_ascii_alphanumeric())
                {
                    if let Some(d) = cents.get(..2).and_then(|d| d.parse::<f64>().ok()) {
                        value += d / 100.0;
                        end += 2;
                    }
                }
            }
            out.push((n.start, end, amount(value, code)));
            done = true;
            break;
        }
        if done || n.weak {
            continue;
        }
        // Symbol or code before the number.
        let win_start = ceil_boundary(text, n.start.saturating_sub(12));
        let before = text.get(win_start..n.start).unwrap_or_default();
        if let Some(c) = t.prefix.as_ref().and_then(|re| re.captures(before)) {
            let (Some(whole), Some(cur)) = (c.get(0), c.get(1)) else {
                continue;
            };
            let start = win_start + whole.start();
            if char_before(text, start).is_some_and(|c| c.is_alphanumeric()) {
                continue;
            }
            let key = normalise(cur.as_str());
            if let Some(&(code, div)) = langs.first().and_then(|l| t.lookup.get(&(*l, key.clone()))) {
                out.push((start, n.end, amount(n.value / div, code)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::numbers;
    use super::*;

    fn money(s: &str, lang: Lang) -> Vec<(String, Value)> {
        let f = super::super::text::Folded::new(s);
        let nums = numbers::scan(&f.text, &[lang], lang.decimal_comma());
        extract(&f.text, &nums, &[lang]).into_iter().map(|(a, b, v)| (f.text[a..b].to_string(), v)).collect()
    }

    #[test]
    fn forms() {
        let v = |x: f64, u: &str| json!({"value": x, "unit": u});
        assert_eq!(money("20 €", Lang::Fr), vec![("20 €".into(), v(20.0, "EUR"))]);
        assert_eq!(money("20€", Lang::Fr), vec![("20€".into(), v(20.0, "EUR"))]);
        assert_eq!(money("€20", Lang::En), vec![("€20".into(), v(20.0, "EUR"))]);
        assert_eq!(money("$15", Lang::En), vec![("$15".into(), v(15.0, "USD"))]);
        assert_eq!(money("CHF 30", Lang::Fr), vec![("chf 30".into(), v(30.0, "CHF"))]);
        assert_eq!(money("12,50 €", Lang::Fr), vec![("12,50 €".into(), v(12.5, "EUR"))]);
        assert_eq!(money("12€50", Lang::Fr), vec![("12€50".into(), v(12.5, "EUR"))]);
        assert_eq!(money("vingt euros", Lang::Fr), vec![("vingt euros".into(), v(20.0, "EUR"))]);
        assert_eq!(money("30 francs suisses", Lang::Fr), vec![("30 francs suisses".into(), v(30.0, "CHF"))]);
        assert_eq!(money("10 livres", Lang::Fr), vec![("10 livres".into(), v(10.0, "GBP"))]);
        assert!(money("10 livres de cuisine", Lang::Fr).is_empty());
        assert_eq!(money("un euro", Lang::Fr), vec![("un euro".into(), v(1.0, "EUR"))]);
        assert!(money("20 personnes", Lang::Fr).is_empty());
        assert!(money("20 europeens", Lang::Fr).is_empty());
        assert_eq!(money("$1,299.99", Lang::En), vec![("$1,299.99".into(), v(1299.99, "USD"))]);
    }
}
