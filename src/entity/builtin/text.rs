//! Text folding with an offset map back to the original string.
//!
//! Every extractor that works on words (numbers, money, dates, times, phones) matches on a
//! *folded* copy of the input: lowercased, compatibility-decomposed (NFKD) with combining
//! marks dropped (so "Février", "fe\u{301}vrier" and "fevrier" all read `fevrier`), every
//! Unicode space (no-break, narrow no-break, tabs, newlines) turned into `' '`, typographic
//! apostrophes and dashes turned into `'` and `-`, and `ß`/`œ`/`æ` spelled out. Each folded
//! byte remembers which original character it came from, so a span found in the folded text
//! maps back to a span of the original that starts and ends on character boundaries.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// A folded copy of a text and the map from its bytes back to the original.
pub(crate) struct Folded {
    /// The folded text (lowercase, accent-free, normalised spaces and punctuation).
    pub(crate) text: String,
    /// For each folded byte: the byte offset where its original character starts.
    starts: Vec<usize>,
    /// For each folded byte: the byte offset where its original character (plus any
    /// combining marks that were dropped after it) ends.
    ends: Vec<usize>,
}

impl Folded {
    /// Folds `original`.
    pub(crate) fn new(original: &str) -> Self {
        let mut text = String::with_capacity(original.len());
        let mut starts = Vec::with_capacity(original.len());
        let mut ends = Vec::with_capacity(original.len());
        let mut buf = String::new();
        for (pos, c) in original.char_indices() {
            let end = pos + c.len_utf8();
            buf.clear();
            fold_char(c, &mut buf);
            if buf.is_empty() {
                // A dropped mark belongs to the previous produced character.
                if let Some(last) = ends.last().copied() {
                    let mut i = ends.len();
                    while i > 0 && ends.get(i - 1).copied() == Some(last) {
                        if let Some(e) = ends.get_mut(i - 1) {
                            *e = end;
                        }
                        i -= 1;
                    }
                }
                continue;
            }
            text.push_str(&buf);
            for _ in 0..buf.len() {
                starts.push(pos);
                ends.push(end);
            }
        }
        Folded { text, starts, ends }
    }

    /// Maps the folded span `[fs, fe)` to an original span, or `None` for an empty or
    /// out-of-range span.
    pub(crate) fn span(&self, fs: usize, fe: usize) -> Option<(usize, usize)> {
        if fe <= fs {
            return None;
        }
        let s = *self.starts.get(fs)?;
        let e = *self.ends.get(fe - 1)?;
        (s < e).then_some((s, e))
    }
}

/// Whether `c` is written as an apostrophe: the ASCII one, the typographic `’` and the
/// look-alikes keyboards and phones produce (`‘`, `ʼ`, `´`, `` ` ``).
pub(crate) fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}' | '\u{00B4}' | '`')
}

/// Appends the folded form of `c` to `out`.
fn fold_char(c: char, out: &mut String) {
    if c.is_whitespace() {
        out.push(' ');
        return;
    }
    match c {
        c if is_apostrophe(c) => out.push('\''),
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2212}' => out.push('-'),
        'ß' | 'ẞ' => out.push_str("ss"),
        'œ' | 'Œ' => out.push_str("oe"),
        'æ' | 'Æ' => out.push_str("ae"),
        'ø' | 'Ø' => out.push('o'),
        _ if c.is_ascii() => out.push(c.to_ascii_lowercase()),
        _ => {
            for d in std::iter::once(c).nfkd() {
                if is_combining_mark(d) {
                    continue;
                }
                for l in d.to_lowercase() {
                    if !is_combining_mark(l) {
                        if l.is_whitespace() {
                            out.push(' ');
                        } else {
                            out.push(l);
                        }
                    }
                }
            }
        }
    }
}

/// The character just before byte `i` of `s`, if any.
pub(crate) fn char_before(s: &str, i: usize) -> Option<char> {
    s.get(..i).and_then(|p| p.chars().next_back())
}

/// The character starting at byte `i` of `s`, if any.
pub(crate) fn char_at(s: &str, i: usize) -> Option<char> {
    s.get(i..).and_then(|p| p.chars().next())
}

/// The word (run of alphanumeric characters or apostrophes) that ends right before byte
/// `i`, skipping spaces; `None` at the start of the text or after other punctuation.
pub(crate) fn word_before(s: &str, i: usize) -> Option<&str> {
    let head = s.get(..i)?;
    let trimmed = head.trim_end_matches(' ');
    let end = trimmed.len();
    let start =
        trimmed.char_indices().rev().take_while(|(_, c)| c.is_alphanumeric() || *c == '\'').last().map(|(p, _)| p)?;
    trimmed.get(start..end)
}

/// The word (run of alphanumeric characters) that starts after byte `i`, skipping spaces.
pub(crate) fn word_after(s: &str, i: usize) -> Option<&str> {
    let tail = s.get(i..)?.trim_start_matches(' ');
    let len = tail.char_indices().take_while(|(_, c)| c.is_alphanumeric()).last().map(|(p, c)| p + c.len_utf8())?;
    tail.get(..len)
}

/// The largest char boundary of `s` that is `<= i`.
pub(crate) fn floor_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest char boundary of `s` that is `>= i`.
pub(crate) fn ceil_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// A regex alternation `(?:a|b|c)` of `words`, longest first, each escaped.
///
/// A word ending in `.` is treated as an abbreviation: the dot becomes optional and a word
/// boundary is required before it (`"janv."` → `janv\b\.?`).
pub(crate) fn alt<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    let mut ws: Vec<&str> = words.into_iter().collect();
    ws.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    ws.dedup();
    let parts: Vec<String> = ws
        .iter()
        .map(|w| match w.strip_suffix('.') {
            Some(stem) => format!("{}\\b\\.?", regex::escape(stem)),
            None => regex::escape(w).replace(' ', r"\s+"),
        })
        .collect();
    format!("(?:{})", parts.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_accents_case_and_spaces() {
        let f = Folded::new("Février\u{202F}2024 à 14h — l’été");
        assert_eq!(f.text, "fevrier 2024 a 14h — l'ete");
    }

    #[test]
    fn combining_marks_attach_to_previous_char() {
        let s = "fe\u{301}vrier";
        let f = Folded::new(s);
        assert_eq!(f.text, "fevrier");
        // "fe" in folded maps to "fe\u{301}" in the original.
        assert_eq!(f.span(0, 2), Some((0, 4)));
        assert_eq!(f.span(0, f.text.len()), Some((0, s.len())));
    }

    #[test]
    fn expansions_map_back() {
        let s = "Straße";
        let f = Folded::new(s);
        assert_eq!(f.text, "strasse");
        assert_eq!(f.span(4, 5), Some((4, 6))); // second 's' of "ss" is inside 'ß'
        assert_eq!(f.span(0, 7), Some((0, s.len())));
    }

    #[test]
    fn leading_mark_and_empty() {
        let f = Folded::new("\u{301}a");
        assert_eq!(f.text, "a");
        assert_eq!(Folded::new("").text, "");
        assert_eq!(Folded::new("").span(0, 1), None);
    }

    #[test]
    fn words_around() {
        let s = "il y a  2 jours";
        assert_eq!(word_before(s, 8), Some("a"));
        assert_eq!(word_after(s, 9), Some("jours"));
        assert_eq!(word_before(s, 0), None);
    }

    #[test]
    fn alternation() {
        assert_eq!(alt(["a", "abcd", "ab."]), r"(?:abcd|ab\b\.?|a)");
    }
}
