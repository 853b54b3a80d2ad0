//! E-mail addresses, URLs and phone numbers.
//!
//! Phone numbers are normalised to E.164 by hand rather than with the `phonenumber`
//! crate: that crate adds about a minute of release build on two cores, ~120 ms of metadata
//! loading on first use and milliseconds per parse, which is out of proportion for a
//! sub-millisecond extractor. The rules below cover what customer-service messages
//! contain:
//!
//! * international numbers written `+CC …` or `00CC …` (with an optional `(0)` trunk
//!   prefix), checked against a table of country calling codes and national number
//!   lengths;
//! * national numbers of the default region: France (`06 12 34 56 78`, `0612345678`,
//!   `06.12.34.56.78`), Belgium, Switzerland, Luxembourg, Germany, Austria, Spain,
//!   Portugal, Italy, the UK, Ireland, the Netherlands, the US/Canada and Morocco.
//!
//! Short digit strings (order numbers like `48213`), amounts (`1 500 000 €`: no trunk
//! prefix) and dates never validate.

use std::sync::LazyLock;

use regex::Regex;

use super::text::{char_at, char_before};

static EMAIL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b[a-z0-9][a-z0-9._%+\-]*@[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*\.[a-z]{2,24}\b",
    )
    .ok()
});

const TLDS: &str = "com|fr|org|net|io|eu|de|es|be|ch|uk|co|info|biz|app|dev|ca|it|nl|at|lu|pt|us|me|shop|store|online|gouv\\.fr|co\\.uk|com\\.mx|mx|ar|cl|ma";

static URL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(&format!(
        r#"(?i)\b(?:(?:https?|ftp)://[^\s<>"'`]+|www\.[^\s<>"'`]+|[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*\.(?:{TLDS})\b(?:/[^\s<>"'`]*)?)"#
    ))
    .ok()
});

static PHONE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?:\+ ?|\b00 ?)?(?:\(\d{1,4}\)|\d)(?:(?: ?\(0\) ?| ?\(\d{1,4}\) ?|[ .\-/]?)\d){5,24}").ok()
});

/// A found contact entity: `(start, end, normalised value)`.
pub(crate) type Found = (usize, usize, String);

/// E-mail addresses in the original `text`; the value has its domain lowercased.
pub(crate) fn emails(text: &str) -> Vec<Found> {
    let Some(re) = EMAIL.as_ref() else {
        return Vec::new();
    };
    re.find_iter(text)
        .filter(|m| !char_before(text, m.start()).is_some_and(|c| c == '.' || c == '@'))
        .filter_map(|m| {
            let (local, domain) = m.as_str().split_once('@')?;
            Some((m.start(), m.end(), format!("{local}@{}", domain.to_ascii_lowercase())))
        })
        .collect()
}

/// URLs in the original `text` (`https://…`, `www.…`, or a bare domain with a common
/// top-level domain and an optional path); trailing punctuation is left out.
pub(crate) fn urls(text: &str) -> Vec<Found> {
    let Some(re) = URL.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in re.find_iter(text) {
        if char_before(text, m.start()).is_some_and(|c| c == '@' || c == '.' || c == '-') {
            continue;
        }
        let mut s = m.as_str();
        if char_at(text, m.end()) == Some('@') {
            continue; // the domain part of an e-mail written oddly
        }
        let mut open = (s.matches('(').count(), s.matches('[').count());
        let mut close = (s.matches(')').count(), s.matches(']').count());
        while let Some(last) = s.chars().next_back() {
            let unbalanced_close = (last == ')' && open.0 < close.0) || (last == ']' && open.1 < close.1);
            if !(matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '"' | '»' | '}') || unbalanced_close) {
                break;
            }
            match last {
                ')' => close.0 -= 1,
                ']' => close.1 -= 1,
                '(' => open.0 -= 1,
                '[' => open.1 -= 1,
                _ => {}
            }
            s = s.get(..s.len() - last.len_utf8()).unwrap_or_default();
        }
        if s.len() < 4 || !s.contains('.') {
            continue;
        }
        out.push((m.start(), m.start() + s.len(), s.to_string()));
    }
    out
}

/// Country calling codes with the shortest and longest national significant number.
const CALLING_CODES: &[(&str, usize, usize)] = &[
    ("1", 10, 10),
    ("7", 10, 10),
    ("20", 8, 10),
    ("27", 9, 9),
    ("30", 10, 10),
    ("31", 9, 9),
    ("32", 8, 9),
    ("33", 9, 9),
    ("34", 9, 9),
    ("36", 8, 9),
    ("39", 6, 11),
    ("40", 9, 9),
    ("41", 9, 9),
    ("43", 4, 13),
    ("44", 9, 10),
    ("45", 8, 8),
    ("46", 7, 13),
    ("47", 8, 8),
    ("48", 9, 9),
    ("49", 6, 13),
    ("51", 8, 11),
    ("52", 10, 10),
    ("53", 8, 8),
    ("54", 10, 11),
    ("55", 10, 11),
    ("56", 9, 9),
    ("57", 10, 10),
    ("58", 10, 10),
    ("60", 7, 10),
    ("61", 9, 9),
    ("62", 8, 12),
    ("63", 8, 10),
    ("64", 8, 10),
    ("65", 8, 8),
    ("66", 8, 9),
    ("81", 9, 10),
    ("82", 8, 10),
    ("84", 9, 10),
    ("86", 8, 12),
    ("90", 10, 10),
    ("91", 10, 10),
    ("92", 9, 10),
    ("212", 9, 9),
    ("213", 8, 9),
    ("216", 8, 8),
    ("221", 9, 9),
    ("225", 8, 10),
    ("229", 8, 10),
    ("237", 9, 9),
    ("242", 9, 9),
    ("243", 9, 9),
    ("261", 9, 9),
    ("262", 9, 9),
    ("351", 9, 9),
    ("352", 6, 11),
    ("353", 7, 9),
    ("354", 7, 9),
    ("356", 8, 8),
    ("357", 8, 8),
    ("358", 6, 12),
    ("359", 7, 9),
    ("370", 8, 8),
    ("371", 8, 8),
    ("372", 7, 8),
    ("377", 8, 9),
    ("380", 9, 9),
    ("385", 8, 9),
    ("386", 8, 8),
    ("420", 9, 9),
    ("421", 9, 9),
    ("590", 9, 9),
    ("594", 9, 9),
    ("596", 9, 9),
    ("687", 6, 6),
    ("689", 6, 9),
    ("961", 7, 8),
    ("966", 9, 9),
    ("971", 8, 9),
    ("972", 8, 9),
    ("974", 8, 8),
];

/// E.164 form of an international number given as `digits` after `+`/`00`.
fn international(digits: &str) -> Option<String> {
    for cc_len in 1..=3 {
        let (cc, rest) = (digits.get(..cc_len)?, digits.get(cc_len..)?);
        let Some(&(_, min, max)) = CALLING_CODES.iter().find(|(c, _, _)| *c == cc) else {
            continue;
        };
        // A national trunk 0 written after the country code ("+33 06…") is dropped,
        // except in Italy where it is part of the number.
        let nsn = match rest.strip_prefix('0') {
            Some(r) if cc != "39" => r,
            _ => rest,
        };
        if nsn.len() < min || nsn.len() > max || cc.len() + nsn.len() > 15 {
            return None;
        }
        let first = nsn.bytes().next()?;
        if (cc == "33" || cc == "1") && first == b'0' {
            return None;
        }
        if cc == "1" && first == b'1' {
            return None;
        }
        return Some(format!("+{cc}{nsn}"));
    }
    None
}

/// E.164 form of a number written in the national format of `region`.
fn national(digits: &str, region: &str) -> Option<String> {
    let n = digits.len();
    let b = digits.as_bytes();
    let first = *b.first()?;
    let second = b.get(1).copied().unwrap_or(b'0');
    let trunk = |cc: &str, lens: std::ops::RangeInclusive<usize>| -> Option<String> {
        (first == b'0' && second != b'0' && lens.contains(&n))
            .then(|| format!("+{cc}{}", digits.get(1..).unwrap_or_default()))
    };
    match region {
        "FR" | "MC" => trunk("33", 10..=10),
        "BE" => trunk("32", 9..=10),
        "CH" => trunk("41", 10..=10),
        "DE" => trunk("49", 9..=13),
        "AT" => trunk("43", 9..=13),
        "GB" | "UK" => trunk("44", 10..=11),
        "IE" => trunk("353", 9..=10),
        "NL" => trunk("31", 10..=10),
        "MA" => trunk("212", 10..=10),
        "LU" => (6..=11).contains(&n).then(|| format!("+352{digits}")),
        "ES" => (n == 9 && matches!(first, b'6' | b'7' | b'8' | b'9')).then(|| format!("+34{digits}")),
        "PT" => (n == 9 && matches!(first, b'2' | b'9')).then(|| format!("+351{digits}")),
        "IT" => ((9..=11).contains(&n) && matches!(first, b'0' | b'3')).then(|| format!("+39{digits}")),
        "US" | "CA" => {
            let d = if n == 11 && first == b'1' { digits.get(1..)? } else { digits };
            let f = d.bytes().next()?;
            let exchange = d.as_bytes().get(3).copied().unwrap_or(b'0');
            (d.len() == 10 && (b'2'..=b'9').contains(&f) && (b'2'..=b'9').contains(&exchange)).then(|| format!("+1{d}"))
        }
        _ => None,
    }
}

/// A digit group inside a phone candidate.
struct Group<'a> {
    start: usize,
    end: usize,
    digits: &'a str,
    /// `(0)`: a trunk prefix shown in brackets after the country code.
    trunk: bool,
}

/// Phone numbers in the folded `text`, normalised to E.164; a national number is read in the
/// first of `regions` (ISO 3166, upper case) whose format it has.
pub(crate) fn phones<R: AsRef<str>>(text: &str, regions: &[R]) -> Vec<Found> {
    let Some(re) = PHONE.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(m) = re.find_at(text, pos) {
        pos = m.end().max(pos + 1);
        let s = m.start();
        if char_before(text, s)
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '.' | ',' | '-' | '/' | '+' | '_' | '@' | ':'))
        {
            continue;
        }
        let mut e = m.end();
        // "12,50": the candidate ends inside a decimal number.
        if matches!(char_at(text, e), Some('.' | ',' | ':' | '/'))
            && text.get(e + 1..).and_then(|t| t.chars().next()).is_some_and(|c| c.is_ascii_digit())
        {
            continue;
        }
        let raw = m.as_str();
        let intl = raw.starts_with('+') || raw.starts_with("00");
        // Split into digit groups.
        let mut groups: Vec<Group> = Vec::new();
        let mut i = 0;
        let rb = raw.as_bytes();
        while i < rb.len() {
            let c = rb.get(i).copied().unwrap_or(0);
            if c.is_ascii_digit() {
                let gs = i;
                while rb.get(i).is_some_and(|c| c.is_ascii_digit()) {
                    i += 1;
                }
                let in_parens = gs > 0 && rb.get(gs - 1) == Some(&b'(') && rb.get(i) == Some(&b')');
                let digits = raw.get(gs..i).unwrap_or_default();
                let (gstart, gend) = if in_parens { (gs - 1, i + 1) } else { (gs, i) };
                groups.push(Group {
                    start: s + gstart,
                    end: s + gend,
                    digits,
                    trunk: in_parens && digits == "0" && !groups.is_empty(),
                });
            } else {
                i += 1;
            }
        }
        // The longest run of groups, from the left, that is a valid number.
        'outer: for a in 0..groups.len() {
            for z in (a + 1..=groups.len()).rev() {
                let Some(gs) = groups.get(a..z) else {
                    continue;
                };
                let digits: String = gs.iter().filter(|g| !g.trunk).map(|g| g.digits).collect();
                if digits.len() < 7 {
                    break;
                }
                let (Some(first), Some(last)) = (gs.first(), gs.last()) else {
                    continue;
                };
                let (value, start) = if a == 0 && intl {
                    let d = if raw.starts_with('+') { digits.as_str() } else { digits.get(2..).unwrap_or_default() };
                    (international(d), s)
                } else if let Some(d) = digits.strip_prefix("00").filter(|_| a > 0) {
                    (international(d), first.start)
                } else {
                    (regions.iter().find_map(|r| national(&digits, r.as_ref())), first.start)
                };
                if let Some(v) = value {
                    e = last.end;
                    out.push((start, e, v));
                    pos = e;
                    break 'outer;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, r: &str) -> Vec<String> {
        phones(s, &[r]).into_iter().map(|f| f.2).collect()
    }

    #[test]
    fn french_phones() {
        assert_eq!(p("06 12 34 56 78", "FR"), vec!["+33612345678"]);
        assert_eq!(p("0612345678", "FR"), vec!["+33612345678"]);
        assert_eq!(p("06.12.34.56.78", "FR"), vec!["+33612345678"]);
        assert_eq!(p("+33 6 12 34 56 78", "FR"), vec!["+33612345678"]);
        assert_eq!(p("+33 (0)6 12 34 56 78", "FR"), vec!["+33612345678"]);
        assert_eq!(p("0033 6 12 34 56 78", "FR"), vec!["+33612345678"]);
        assert_eq!(p("appelez le 01 23 45 67 89 svp", "FR"), vec!["+33123456789"]);
    }

    #[test]
    fn international_phones() {
        assert_eq!(p("+1 415 555 2671", "FR"), vec!["+14155552671"]);
        assert_eq!(p("+1 (415) 555-2671", "FR"), vec!["+14155552671"]);
        assert_eq!(p("(415) 555-2671", "US"), vec!["+14155552671"]);
        assert_eq!(p("+44 20 7946 0958", "FR"), vec!["+442079460958"]);
        assert_eq!(p("+49 30 1234567", "FR"), vec!["+49301234567"]);
        assert_eq!(p("612 34 56 78", "ES"), vec!["+34612345678"]);
        assert_eq!(p("030 1234567", "DE"), vec!["+49301234567"]);
    }

    #[test]
    fn a_national_number_is_read_in_the_first_region_whose_format_it_has() {
        assert_eq!(phones("0171 4482913", &["FR", "DE"])[0].2, "+491714482913");
        assert_eq!(phones("06 12 34 56 78", &["FR", "BE"])[0].2, "+33612345678");
        assert!(phones("0171 4482913", &["FR"]).is_empty());
    }

    #[test]
    fn not_phones() {
        for s in [
            "commande 48213",
            "1 500 000 euros",
            "15.09.2018",
            "2024-03-13",
            "12,50",
            "+99 123 456 789",
            "tel 06 12 34",
            "FR0612345678",
        ] {
            assert!(p(s, "FR").is_empty(), "{s}");
        }
    }

    #[test]
    fn phone_then_more_digits() {
        assert_eq!(p("06 12 34 56 78 2 fois", "FR"), vec!["+33612345678"]);
        assert_eq!(p("06 12 34 56 78 07 12 34 56 78", "FR"), vec!["+33612345678", "+33712345678"]);
    }

    #[test]
    fn emails_and_urls() {
        let e = emails("écrivez à Jean.Dupont@Example.COM.");
        assert_eq!(e, vec![(12, 35, "Jean.Dupont@example.com".to_string())]);
        let u = urls("voir https://www.example.com/suivi?id=42, ou www.laposte.fr/suivi.");
        let vals: Vec<&str> = u.iter().map(|f| f.2.as_str()).collect();
        assert_eq!(vals, vec!["https://www.example.com/suivi?id=42", "www.laposte.fr/suivi"]);
        assert_eq!(urls("allez sur amazon.fr")[0].2, "amazon.fr");
        assert!(urls("etc. et 3.5").is_empty());
        assert!(urls("jean@example.com").is_empty());
        assert_eq!(urls("(see https://x.com/a)")[0].2, "https://x.com/a");
    }
}
