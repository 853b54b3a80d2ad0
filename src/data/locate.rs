//! Finding YAML values back in the raw text, for line and column numbers.
//!
//! serde-based YAML crates give positions only in their errors, never for values that parsed
//! fine, yet every example needs its `Source` line and an annotation error inside an example
//! must point at the real character in the file. The [`Locator`] recovers positions after the
//! fact: values come out of the parser in document order, so it searches forward from the
//! previous value's end, only at places where a YAML scalar can start (after `- `, after an
//! allowed `key:`, after `[`/`,`/`{` in flow collections), and it accepts a place only when the
//! whole value matches there under YAML's quoting, escaping and line-folding rules. The match
//! also yields a byte map from the parsed value back to the raw text, so offsets inside the
//! value become exact file columns even in quoted or folded scalars.
//!
//! A value the search cannot find (an alias, a number YAML reformatted, an exotic escape) is
//! not an error: callers fall back to the line of the previous value, without a column.

/// Where a parsed value lies in the raw text: for each byte offset of the value, the byte
/// offset of the raw character it came from.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    offsets: Vec<usize>,
}

impl Located {
    /// A value written verbatim at `raw_start` (no quoting or escaping).
    pub(crate) fn verbatim(raw_start: usize, len: usize) -> Self {
        Located { offsets: (raw_start..=raw_start + len).collect() }
    }

    /// The raw byte offset of the value's byte `offset` (clamped to the value's end).
    pub(crate) fn raw_offset(&self, offset: usize) -> usize {
        self.offsets.get(offset).or(self.offsets.last()).copied().unwrap_or(0)
    }
}

/// Line starts of a text, for turning byte offsets into editor positions.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex<'a> {
    raw: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(raw: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(raw.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { raw, starts }
    }

    /// 1-based line and 1-based column (in characters) of byte `offset`.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.raw.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = self.raw.get(start..offset).map_or(0, |s| s.chars().count()) + 1;
        (line, column)
    }

    /// The number of lines.
    pub(crate) fn lines(&self) -> usize {
        self.starts.len()
    }

    /// The text of 1-based `line`, without its line break.
    pub(crate) fn line_text(&self, line: usize) -> &'a str {
        let (Some(&start), end) =
            (self.starts.get(line.wrapping_sub(1)), self.starts.get(line).copied().unwrap_or(self.raw.len()))
        else {
            return "";
        };
        self.raw.get(start..end).unwrap_or("").trim_end_matches(['\n', '\r'])
    }

    /// Byte offset of the start of the line holding `offset`, and of the next line.
    fn line_bounds(&self, offset: usize) -> (usize, usize) {
        let (line, _) = self.position(offset);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let end = self.starts.get(line).copied().unwrap_or(self.raw.len());
        (start, end)
    }
}

/// Forward search for parsed values in raw YAML; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Locator<'a> {
    raw: &'a str,
    index: LineIndex<'a>,
    cursor: usize,
}

impl<'a> Locator<'a> {
    pub(crate) fn new(raw: &'a str) -> Self {
        Locator { raw, index: LineIndex::new(raw), cursor: 0 }
    }

    /// 1-based line and column of raw byte `offset`.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        self.index.position(offset)
    }

    /// The line the search has reached: the best guess for a value it could not find.
    pub(crate) fn cursor_line(&self) -> usize {
        self.index.position(self.cursor).0
    }

    /// Finds the next scalar equal to `value` that starts a list item, follows one of `keys`
    /// (`text:`), or is an element of a flow collection; moves past it.
    pub(crate) fn find_scalar(&mut self, value: &str, keys: &[&str]) -> Option<Located> {
        let mut line_start = self.index.line_bounds(self.cursor).0;
        while line_start < self.raw.len() {
            let (_, line_end) = self.index.line_bounds(line_start);
            let line = self.raw.get(line_start..line_end).unwrap_or("");
            for c in candidates(line, keys) {
                let at = line_start + c;
                if at < self.cursor {
                    continue;
                }
                if let Some((offsets, end)) = match_scalar(self.raw, at, value) {
                    self.cursor = end;
                    return Some(Located { offsets });
                }
            }
            line_start = line_end;
        }
        None
    }

    /// Finds the next line whose trimmed text is `content` (a line of a literal block scalar,
    /// which YAML keeps verbatim); returns the raw offset of its first non-blank character.
    pub(crate) fn find_line(&mut self, content: &str) -> Option<usize> {
        let content = content.trim();
        let mut line_start = self.index.line_bounds(self.cursor).0;
        while line_start < self.raw.len() {
            let (_, line_end) = self.index.line_bounds(line_start);
            let line = self.raw.get(line_start..line_end).unwrap_or("");
            if line_start + line.len() > self.cursor && line.trim() == content && !content.is_empty() {
                self.cursor = line_end;
                let indent = line.len() - line.trim_start().len();
                return Some(line_start + indent);
            }
            line_start = line_end;
        }
        None
    }
}

/// Byte offsets in `line` where a scalar may start.
fn candidates(line: &str, keys: &[&str]) -> Vec<usize> {
    let b = line.as_bytes();
    let ws = |mut i: usize| {
        while matches!(b.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        i
    };
    let is_end = |i: usize| matches!(b.get(i), None | Some(b' ' | b'\t' | b'\r' | b'\n'));
    let mut out = Vec::new();
    let mut i = ws(0);
    while b.get(i) == Some(&b'-') && is_end(i + 1) {
        i = ws(i + 1);
    }
    for key in keys {
        let k = key.len();
        if line.get(i..i + k) == Some(*key) && b.get(i + k) == Some(&b':') && is_end(i + k + 1) {
            i = ws(i + k + 1);
            break;
        }
    }
    out.push(i);
    for (p, &c) in b.iter().enumerate() {
        if matches!(c, b'[' | b',' | b'{') {
            out.push(ws(p + 1));
        }
    }
    for key in keys {
        for (p, _) in line.match_indices(key) {
            let after = p + key.len();
            let before_ok = p == 0 || matches!(b.get(p - 1), Some(b' ' | b'\t' | b'{' | b','));
            if before_ok && b.get(after) == Some(&b':') && is_end(after + 1) {
                out.push(ws(after + 1));
            }
        }
    }
    out.retain(|&p| !matches!(b.get(p), None | Some(b'\n' | b'\r' | b'#')));
    out.sort_unstable();
    out.dedup();
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
    Folded,
}

/// Matches `value` against the scalar written at raw byte `at`; returns the value-to-raw byte
/// map and the raw offset just past the scalar.
fn match_scalar(raw: &str, at: usize, value: &str) -> Option<(Vec<usize>, usize)> {
    let rb = raw.as_bytes();
    let style = match rb.get(at) {
        Some(b'"') => Style::Double,
        Some(b'\'') => Style::Single,
        Some(b'|') => Style::Literal,
        Some(b'>') => Style::Folded,
        _ => Style::Plain,
    };
    let mut r = at;
    let mut block_indent = 0;
    match style {
        Style::Double | Style::Single => r += 1,
        Style::Literal | Style::Folded => {
            // Skip the header (`|-`, `>2 # comment`) and blank lines up to the content.
            r = raw.get(r..)?.find('\n').map(|p| r + p + 1)?;
            loop {
                let line = raw.get(r..)?.split('\n').next()?;
                if line.trim().is_empty() {
                    r += line.len() + 1;
                    if r > raw.len() {
                        return None;
                    }
                    continue;
                }
                block_indent = line.len() - line.trim_start_matches(' ').len();
                r += block_indent;
                break;
            }
        }
        Style::Plain => {}
    }
    let mut offsets = vec![0; value.len() + 1];
    let mut v = 0;
    while v < value.len() {
        let rc = raw.get(r..)?.chars().next();
        let vc = value.get(v..)?.chars().next()?;
        // Line breaks inside a scalar: YAML folds them (plain, quoted, `>`) or keeps them (`|`).
        if matches!(rc, Some(' ' | '\t' | '\r' | '\n')) && style != Style::Literal {
            let run_end =
                r + raw.get(r..)?.find(|c: char| !matches!(c, ' ' | '\t' | '\r' | '\n')).unwrap_or(raw.len() - r);
            let breaks = raw.get(r..run_end)?.matches('\n').count();
            if breaks > 0 {
                let expect = if breaks == 1 { " ".to_owned() } else { "\n".repeat(breaks - 1) };
                if !value.get(v..)?.starts_with(&expect) {
                    return None;
                }
                offsets.get_mut(v..v + expect.len())?.fill(r);
                v += expect.len();
                r = run_end;
                continue;
            }
        }
        let rc = rc?;
        if style == Style::Literal && rc == '\r' && rb.get(r + 1) == Some(&b'\n') {
            r += 1;
            continue;
        }
        let (decoded, len) = match (style, rc) {
            (Style::Double, '"') | (Style::Single, '\'')
                if !(style == Style::Single && rb.get(r + 1) == Some(&b'\'')) =>
            {
                return None
            }
            (Style::Single, '\'') => ('\'', 2),
            (Style::Double, '\\') => decode_escape(raw, r)?,
            (Style::Literal, '\n') => {
                let mut n = 1;
                while n <= block_indent && rb.get(r + n) == Some(&b' ') {
                    n += 1;
                }
                ('\n', n)
            }
            (_, c) => (c, c.len_utf8()),
        };
        if decoded == '\u{0}' && len == 0 {
            // An escaped line break: it stands for nothing in the value.
            r = skip_escaped_break(raw, r)?;
            continue;
        }
        if decoded != vc {
            return None;
        }
        offsets.get_mut(v..v + vc.len_utf8())?.fill(r);
        v += vc.len_utf8();
        r += len;
    }
    if let Some(last) = offsets.last_mut() {
        *last = r;
    }
    let end = match style {
        Style::Double => (rb.get(r) == Some(&b'"')).then_some(r + 1)?,
        Style::Single => (rb.get(r) == Some(&b'\'') && rb.get(r + 1) != Some(&b'\'')).then_some(r + 1)?,
        Style::Literal | Style::Folded => r,
        Style::Plain => {
            let rest = raw.get(r..)?;
            let trimmed = rest.trim_start_matches([' ', '\t']);
            let spaced = trimmed.len() < rest.len();
            let ok = match trimmed.as_bytes().first() {
                None | Some(b'\n' | b'\r' | b',' | b']' | b'}') => true,
                Some(b'#') => spaced,
                _ => false,
            };
            ok.then_some(r)?
        }
    };
    Some((offsets, end))
}

/// Decodes the double-quoted escape at `r` (a backslash); returns the character and the raw
/// length. An escaped line break is returned as `('\0', 0)`.
fn decode_escape(raw: &str, r: usize) -> Option<(char, usize)> {
    let mut it = raw.get(r + 1..)?.chars();
    let c = it.next()?;
    let simple = match c {
        '0' => Some('\0'),
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        't' | '\t' => Some('\t'),
        'n' => Some('\n'),
        'v' => Some('\u{b}'),
        'f' => Some('\u{c}'),
        'r' => Some('\r'),
        'e' => Some('\u{1b}'),
        ' ' => Some(' '),
        '"' => Some('"'),
        '/' => Some('/'),
        '\\' => Some('\\'),
        'N' => Some('\u{85}'),
        '_' => Some('\u{a0}'),
        'L' => Some('\u{2028}'),
        'P' => Some('\u{2029}'),
        _ => None,
    };
    if let Some(d) = simple {
        return Some((d, 1 + c.len_utf8()));
    }
    let digits = match c {
        'x' => 2,
        'u' => 4,
        'U' => 8,
        '\n' | '\r' => return Some(('\0', 0)),
        _ => return None,
    };
    let hex = raw.get(r + 2..r + 2 + digits)?;
    let code = u32::from_str_radix(hex, 16).ok()?;
    Some((char::from_u32(code)?, 2 + digits))
}

/// Skips a backslash-newline and the next line's indentation.
fn skip_escaped_break(raw: &str, r: usize) -> Option<usize> {
    let rest = raw.get(r + 1..)?;
    let after_break = rest.find('\n')? + 1;
    let next = rest.get(after_break..)?;
    let indent = next.len() - next.trim_start_matches([' ', '\t']).len();
    Some(r + 1 + after_break + indent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locate(raw: &str, values: &[&str]) -> Vec<Option<(usize, usize)>> {
        let mut loc = Locator::new(raw);
        values.iter().map(|v| loc.find_scalar(v, &["text"]).map(|l| loc.position(l.raw_offset(0)))).collect()
    }

    #[test]
    fn finds_plain_quoted_and_mapping_examples() {
        let raw = "intents:\n  - name: a\n    description: annuler\n    examples:\n      - annuler\n      - \"dit \\\"non\\\" \\u00e9\"\n      - 'l''eau'\n      - text: annuler tout   # comment\n        signals: [x]\n";
        let got = locate(raw, &["annuler", "dit \"non\" é", "l'eau", "annuler tout"]);
        assert_eq!(got, vec![Some((5, 9)), Some((6, 10)), Some((7, 10)), Some((8, 15))]);
    }

    #[test]
    fn prefix_is_not_a_match() {
        let raw = "- annuler ma commande\n- annuler\n";
        assert_eq!(locate(raw, &["annuler"]), vec![Some((2, 3))]);
    }

    #[test]
    fn flow_sequences_and_folded_scalars() {
        let raw = "examples: [bonjour, 'salut toi', \"hé\"]\nother:\n  - une longue\n    phrase pliée\n  - text: |\n      bloc\n      deux\n";
        let got = locate(raw, &["bonjour", "salut toi", "hé", "une longue phrase pliée", "bloc\ndeux\n"]);
        assert_eq!(got, vec![Some((1, 12)), Some((1, 22)), Some((1, 35)), Some((3, 5)), Some((6, 7))]);
    }

    #[test]
    fn maps_offsets_through_escapes_and_folds() {
        let raw = "- \"a\\tb [x\"\n- une\n  [y\n";
        let mut loc = Locator::new(raw);
        let l = loc.find_scalar("a\tb [x", &[]).unwrap();
        assert_eq!(loc.position(l.raw_offset(4)), (1, 9));
        let l = loc.find_scalar("une [y", &[]).unwrap();
        assert_eq!(loc.position(l.raw_offset(4)), (3, 3));
    }

    #[test]
    fn missing_values_leave_the_cursor() {
        let raw = "- a\n- 0x1F\n- b\n";
        assert_eq!(locate(raw, &["a", "31", "b"]), vec![Some((1, 3)), None, Some((3, 3))]);
    }

    #[test]
    fn block_lines() {
        let raw = "- intent: x\n  examples: |\n    - hey\n    - hey\n";
        let mut loc = Locator::new(raw);
        assert_eq!(loc.find_line("- hey").map(|o| loc.position(o)), Some((3, 5)));
        assert_eq!(loc.find_line("- hey").map(|o| loc.position(o)), Some((4, 5)));
        assert_eq!(loc.find_line("- hey"), None);
    }

    #[test]
    fn line_index() {
        let idx = LineIndex::new("ab\ncé\n");
        assert_eq!(idx.position(0), (1, 1));
        assert_eq!(idx.position(6), (2, 3));
        assert_eq!(idx.position(99), (3, 1));
        assert_eq!(idx.line_text(2), "cé");
        assert_eq!(idx.line_text(0), "");
        assert_eq!(idx.lines(), 3);
    }
}
