//! Unicode NFC normalisation of the input, with a map from the normalised text back to it.
//!
//! The same word can arrive composed (`é`, U+00E9: most keyboards) or decomposed (`e` + U+0301:
//! macOS file names, some mobile keyboards, text pasted from PDFs). Tokenizers do not all
//! normalise (BERT's WordPiece does not compose; E5's SentencePiece does), nor do the author's
//! regexes, so [`Nlu::parse`](crate::Nlu::parse) reads the NFC form of every input and both
//! forms parse the same. Entities found in the NFC text are mapped back with [`Nfc::span`]: a
//! [`Parse`](crate::Parse) quotes and points into the text the caller gave, byte for byte.
//!
//! Most input is already NFC; then the text is borrowed and the map is the identity, for the
//! cost of one quick check.

use crate::parse::Entity;
use std::borrow::Cow;
use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Whether `text` shows nothing: only whitespace, control characters and invisible format
/// characters (zero-width spaces and joiners, bidirectional marks, byte order marks, soft
/// hyphens). Such input is [`Decision::Empty`](crate::intent::Decision::Empty), not a guess.
pub(crate) fn is_blank(text: &str) -> bool {
    text.chars().all(|c| c.is_whitespace() || c.is_control() || is_invisible_format(c))
}

/// Characters that render as nothing (format characters, category Cf, and the grapheme joiner).
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{34f}'
            | '\u{61c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
    )
}

/// The NFC form of a text and the map back to the original.
#[derive(Debug)]
pub(crate) struct Nfc<'a> {
    /// The NFC text.
    text: Cow<'a, str>,
    /// Consecutive pieces of the normalised text, in order, each with where it starts in the
    /// normalised text and in the original, and whether it is a verbatim copy (then every
    /// offset inside maps one to one). Empty when the text was already NFC.
    pieces: Vec<Piece>,
    /// Length of the original text in bytes.
    original_len: usize,
}

#[derive(Debug, Clone, Copy)]
struct Piece {
    normalized: usize,
    original: usize,
    verbatim: bool,
}

impl<'a> Nfc<'a> {
    /// Normalises `original` to NFC.
    pub(crate) fn new(original: &'a str) -> Self {
        let identity = Nfc { text: Cow::Borrowed(original), pieces: Vec::new(), original_len: original.len() };
        if is_nfc_quick(original.chars()) == IsNormalized::Yes {
            return identity;
        }
        let mut text = String::with_capacity(original.len());
        let mut pieces: Vec<Piece> = Vec::new();
        for segment in segments(original) {
            let Some(slice) = original.get(segment.clone()) else { return identity };
            let verbatim = is_nfc_quick(slice.chars()) == IsNormalized::Yes || {
                let composed: String = slice.nfc().collect();
                let same = composed == slice;
                if !same {
                    pieces.push(Piece { normalized: text.len(), original: segment.start, verbatim: false });
                    text.push_str(&composed);
                }
                same
            };
            if verbatim {
                // Runs of verbatim segments share one piece: the map stays as short as the
                // number of changed places.
                if !pieces.last().is_some_and(|p| p.verbatim) {
                    pieces.push(Piece { normalized: text.len(), original: segment.start, verbatim: true });
                }
                text.push_str(slice);
            }
        }
        // Segments are cut where normalisation cannot reach across (see `segments`); should a
        // character ever prove that wrong, read the text as given rather than map it wrongly.
        if !text.chars().eq(original.nfc()) {
            return identity;
        }
        Nfc { text: Cow::Owned(text), pieces, original_len: original.len() }
    }

    /// The NFC text.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// Moves `entities` found in the NFC text onto `original` (the text this was made from):
    /// offsets and quoted text. An entity that maps to no characters of the original is dropped.
    pub(crate) fn entities_in(&self, original: &str, entities: Vec<Entity>) -> Vec<Entity> {
        if self.pieces.is_empty() {
            return entities;
        }
        entities
            .into_iter()
            .filter_map(|mut e| {
                let (start, end) = self.span(e.start, e.end)?;
                e.text = original.get(start..end)?.to_string();
                (e.start, e.end) = (start, end);
                Some(e)
            })
            .collect()
    }

    /// Maps the span `[start, end)` of the NFC text to the smallest span of the original that
    /// contains what it was normalised from; `None` when that span would be empty.
    pub(crate) fn span(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        if self.pieces.is_empty() {
            return (start < end && end <= self.original_len).then_some((start, end));
        }
        // The piece holding the first byte, and the piece holding the last byte.
        let first = self.pieces.partition_point(|p| p.normalized <= start).checked_sub(1)?;
        let last = self.pieces.partition_point(|p| p.normalized < end).checked_sub(1)?;
        let (a, b) = (self.pieces.get(first)?, self.pieces.get(last)?);
        let original_start = if a.verbatim { a.original + (start - a.normalized) } else { a.original };
        let original_end = if b.verbatim {
            b.original + (end - b.normalized)
        } else {
            self.pieces.get(last + 1).map_or(self.original_len, |next| next.original)
        };
        (original_start < original_end && original_end <= self.original_len).then_some((original_start, original_end))
    }
}

/// Byte ranges of `text` that NFC normalises independently: each starts at a character that
/// nothing before it can compose with and that composes with nothing before it (a starter, with
/// combining class 0, that is NFC as it stands), and holds the marks that follow it.
fn segments(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut cuts: Vec<usize> = text
        .char_indices()
        .filter(|&(i, c)| {
            i > 0 && canonical_combining_class(c) == 0 && is_nfc_quick(std::iter::once(c)) == IsNormalized::Yes
        })
        .map(|(i, _)| i)
        .collect();
    cuts.insert(0, 0);
    cuts.push(text.len());
    cuts.windows(2).filter_map(|w| Some(*w.first()?..*w.get(1)?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_text_is_blank() {
        for text in ["", " \t\n", "\u{200b}\u{200b}", "\u{feff}\u{202e}\u{202c}", "\0\x01\x7f", "\u{3000}\u{a0}"] {
            assert!(is_blank(text), "{text:?}");
        }
        for text in ["a", "\u{200b}1", "😀", "\u{301}", "."] {
            assert!(!is_blank(text), "{text:?}");
        }
    }

    #[test]
    fn nfc_text_is_borrowed_and_maps_to_itself() {
        let n = Nfc::new("été à Noël");
        assert!(matches!(n.text, Cow::Borrowed(_)));
        assert_eq!(n.span(0, 5), Some((0, 5)));
        assert_eq!(n.span(3, 3), None);
    }

    #[test]
    fn decomposed_text_composes_and_spans_map_back() {
        let original = "e\u{301}te\u{301} colis 12345 cafe\u{301}";
        let n = Nfc::new(original);
        assert_eq!(n.as_str(), "été colis 12345 café");
        let find = |s: &str| {
            let start = n.as_str().find(s).unwrap();
            let (a, b) = n.span(start, start + s.len()).unwrap();
            &original[a..b]
        };
        assert_eq!(find("12345"), "12345");
        assert_eq!(find("été"), "e\u{301}te\u{301}");
        assert_eq!(find("café"), "cafe\u{301}");
        // A span ending inside a composed character takes the whole original character.
        assert_eq!(find("caf"), "caf");
        let start = n.as_str().find('é').unwrap();
        assert_eq!(n.span(start, start + 1).map(|(a, b)| &original[a..b]), Some("e\u{301}"));
    }

    #[test]
    fn marks_without_a_base_and_reordered_marks_stay_mapped() {
        // A leading mark, two marks out of canonical order, Hangul jamo that compose.
        for original in ["\u{301}a", "a\u{301}\u{323}b", "\u{1100}\u{1161}\u{11a8} x", "\u{212b}ngstr\u{f6}m"] {
            let n = Nfc::new(original);
            assert_eq!(n.as_str(), original.nfc().collect::<String>());
            let (a, b) = n.span(0, n.as_str().len()).unwrap();
            assert_eq!((a, b), (0, original.len()), "{original:?}");
        }
    }
}
