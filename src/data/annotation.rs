//! Inline entity annotations inside example strings.
//!
//! Every text format (our YAML, Rasa YAML and Markdown, CSV) writes entities inside the example
//! itself. Three forms are accepted:
//!
//! ```text
//! où en est ma commande [12345](order_id) ?
//! je paie par [CB]{"entity": "payment_method", "value": "carte bancaire"}
//! je paie par [CB](payment_method:carte bancaire)
//! ```
//!
//! - `[text](entity)`: the plain form.
//! - `[text]{json}`: a JSON object with `entity` (required) and `value` (optional canonical
//!   value); Rasa's `role` and `group` keys, and any other key, are ignored.
//! - `[text](entity:value)`: Rasa's legacy synonym form, equivalent to the JSON one.
//!
//! A literal bracket is written `\[` or `\]`, and a literal backslash before a bracket `\\`; any
//! other backslash is kept as is, so `C:\Users` needs no escaping. Annotations cannot nest or
//! overlap. Offsets in the result are **byte** offsets into the cleaned text.
//!
//! ```
//! # use entendu::data::annotation;
//! let parsed = annotation::parse("où en est ma commande [12345](order_id) ?").unwrap();
//! assert_eq!(parsed.text, "où en est ma commande 12345 ?");
//! let e = &parsed.entities[0];
//! assert_eq!((e.entity.as_str(), &parsed.text[e.start..e.end]), ("order_id", "12345"));
//! ```

use std::fmt;
use std::path::PathBuf;

use super::EntityAnnotation;
use crate::error::Error;

/// An example string with its annotation markup removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotated {
    /// The cleaned text.
    pub text: String,
    /// The annotated entities, in text order, with byte offsets into [`Annotated::text`].
    pub entities: Vec<EntityAnnotation>,
}

/// Why an annotated string could not be parsed, and where in that string.
///
/// Readers turn it into an [`Error::Syntax`] at the real position in their file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationError {
    /// Byte offset, in the parsed string, of the character the message is about.
    pub offset: usize,
    /// 1-based line of that character within the parsed string (examples may span lines).
    pub line: usize,
    /// 1-based column, in characters, of that character within its line.
    pub column: usize,
    /// What is wrong, quoting the input.
    pub message: String,
    /// What to do about it, when we know.
    pub hint: Option<String>,
}

impl fmt::Display for AnnotationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AnnotationError {}

impl AnnotationError {
    fn new(input: &str, offset: usize, message: String, hint: Option<String>) -> Self {
        let before = input.get(..offset).unwrap_or(input);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        AnnotationError { offset, line, column, message, hint }
    }

    /// An [`Error::Syntax`] for a string that starts at `path:line:column` and lies on one
    /// line of its file (Markdown items, single-line CSV fields).
    pub fn at(self, path: impl Into<PathBuf>, line: usize, column: usize) -> Error {
        let (line, column) =
            if self.line == 1 { (line, column + self.column - 1) } else { (line + self.line - 1, self.column) };
        Error::syntax(path, line, column, self.message, self.hint)
    }
}

/// Parses the annotations in `input`, returning the cleaned text and its entities.
///
/// Never panics; every malformed annotation is an [`AnnotationError`] naming its column.
pub fn parse(input: &str) -> Result<Annotated, AnnotationError> {
    let bytes = input.as_bytes();
    let mut out = Annotated { text: String::with_capacity(input.len()), entities: Vec::new() };
    // `literal` is where the run of plain text not yet copied starts; copying runs rather than
    // characters keeps the parser linear and only ever splits the input at ASCII bytes.
    let mut literal = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' if matches!(bytes.get(i + 1), Some(b'[' | b']' | b'\\')) => {
                out.text.push_str(slice(input, literal, i));
                out.text.push_str(slice(input, i + 1, i + 2));
                i += 2;
                literal = i;
            }
            b'[' => {
                out.text.push_str(slice(input, literal, i));
                i = parse_annotation(input, i, &mut out)?;
                literal = i;
            }
            _ => i += 1,
        }
    }
    out.text.push_str(slice(input, literal, input.len()));
    Ok(out)
}

/// `&s[a..b]`, or `""` where that is not a valid slice (never happens for the ASCII positions
/// the parser computes, but input-dependent indexing must not be able to panic).
fn slice(s: &str, a: usize, b: usize) -> &str {
    s.get(a..b).unwrap_or("")
}

/// A short quote of the input from `start`, for messages: up to the end of the line, at most
/// 40 characters.
fn quote(input: &str, start: usize, end: Option<usize>) -> String {
    let rest = slice(input, start, end.unwrap_or(input.len()).min(input.len()));
    let line = rest.split('\n').next().unwrap_or("");
    let mut q: String = line.chars().take(40).collect();
    if q.len() < rest.len() {
        q.push('…');
    }
    q
}

/// Parses the annotation whose `[` is at byte `open`; appends its text to `out` and returns
/// the offset just past it.
fn parse_annotation(input: &str, open: usize, out: &mut Annotated) -> Result<usize, AnnotationError> {
    let bytes = input.as_bytes();
    let start = out.text.len();
    let mut literal = open + 1;
    let mut i = open + 1;
    let close = loop {
        match bytes.get(i) {
            None => {
                let snippet = quote(input, open, None);
                let hint = match snippet.find('(') {
                    Some(p) => Some(format!(
                        "close the bracket before the entity: `{}]{}`",
                        slice(&snippet, 0, p),
                        slice(&snippet, p, snippet.len())
                    )),
                    None => Some("close it with `](entity)`, or write `\\[` for a literal bracket".into()),
                };
                return Err(AnnotationError::new(
                    input,
                    open,
                    format!("unclosed entity annotation `{snippet}`: expected `](`"),
                    hint,
                ));
            }
            Some(b'\\') if matches!(bytes.get(i + 1), Some(b'[' | b']' | b'\\')) => {
                out.text.push_str(slice(input, literal, i));
                out.text.push_str(slice(input, i + 1, i + 2));
                i += 2;
                literal = i;
            }
            Some(b'[') => {
                return Err(AnnotationError::new(
                    input,
                    i,
                    format!("nested entity annotation in `{}`", quote(input, open, None)),
                    Some("annotations cannot nest or overlap; write `\\[` for a literal bracket".into()),
                ));
            }
            Some(b']') => break i,
            Some(_) => i += 1,
        }
    };
    out.text.push_str(slice(input, literal, close));
    let end = out.text.len();
    let surface = slice(&out.text, start, end).to_owned();
    if surface.trim().is_empty() {
        return Err(AnnotationError::new(
            input,
            open,
            format!("empty entity text in `{}`", quote(input, open, None)),
            Some("put the annotated words between the brackets: `[12345](order_id)`".into()),
        ));
    }
    let after = close + 1;
    let (entity, value, next) = match bytes.get(after) {
        Some(b'(') => parse_parenthesised(input, open, after)?,
        Some(b'{') => parse_json(input, open, after)?,
        _ => {
            let shown = slice(input, open, after);
            return Err(AnnotationError::new(
                input,
                open,
                format!("`{shown}` is not followed by `(entity)` or `{{\"entity\": …}}`"),
                Some(format!(
                    "annotate it as `{shown}(entity)`, or write `\\{}\\]` for literal brackets",
                    slice(input, open, close)
                )),
            ));
        }
    };
    out.entities.push(EntityAnnotation { entity, start, end, text: surface, value });
    Ok(next)
}

/// `(entity)` or `(entity:value)` starting at byte `paren`.
fn parse_parenthesised(
    input: &str,
    open: usize,
    paren: usize,
) -> Result<(String, Option<String>, usize), AnnotationError> {
    let rest = slice(input, paren + 1, input.len());
    let Some(len) = rest.find([')', '\n']).filter(|&p| rest.as_bytes().get(p) == Some(&b')')) else {
        return Err(AnnotationError::new(
            input,
            paren,
            format!("unclosed `(` in entity annotation `{}`: expected `)`", quote(input, open, None)),
            Some("write the entity name between parentheses: `[12345](order_id)`".into()),
        ));
    };
    let inner = slice(rest, 0, len);
    let (name, value) = match inner.split_once(':') {
        Some((n, v)) => (n.trim(), Some(v.trim()).filter(|v| !v.is_empty())),
        None => (inner.trim(), None),
    };
    let next = paren + 1 + len + 1;
    if name.is_empty() {
        return Err(AnnotationError::new(
            input,
            paren + 1,
            format!("empty entity name in `{}`", slice(input, open, next)),
            Some("name the entity type: `[12345](order_id)`".into()),
        ));
    }
    Ok((name.to_owned(), value.map(str::to_owned), next))
}

/// `{"entity": …, "value": …}` starting at byte `brace`.
fn parse_json(input: &str, open: usize, brace: usize) -> Result<(String, Option<String>, usize), AnnotationError> {
    let rest = slice(input, brace, input.len());
    let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Map<String, serde_json::Value>>();
    let object = match stream.next() {
        Some(Ok(object)) => object,
        Some(Err(e)) => {
            return Err(AnnotationError::new(
                input,
                brace,
                format!(
                    "invalid JSON in entity annotation `{}`: {}",
                    quote(input, open, None),
                    strip_json_location(&e)
                ),
                Some(r#"write a JSON object: `[CB]{"entity": "payment_method", "value": "carte bancaire"}`"#.into()),
            ))
        }
        None => {
            return Err(AnnotationError::new(
                input,
                brace,
                format!("empty JSON in entity annotation `{}`", quote(input, open, None)),
                None,
            ))
        }
    };
    let next = brace + stream.byte_offset();
    let shown = slice(input, open, next);
    let entity = match object.get("entity") {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(serde_json::Value::String(_)) => {
            return Err(AnnotationError::new(
                input,
                brace,
                format!("empty entity name in `{shown}`"),
                Some(r#"name the entity type: `{"entity": "payment_method"}`"#.into()),
            ))
        }
        Some(_) => {
            return Err(AnnotationError::new(input, brace, format!("`entity` must be a string in `{shown}`"), None))
        }
        None => {
            return Err(AnnotationError::new(
                input,
                brace,
                format!("missing `entity` in `{shown}`"),
                Some(r#"name the entity type: `{"entity": "payment_method"}`"#.into()),
            ))
        }
    };
    let value = match object.get("value") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => Some(v.to_string()),
        Some(_) => {
            return Err(AnnotationError::new(input, brace, format!("`value` must be a string in `{shown}`"), None))
        }
    };
    Ok((entity, value, next))
}

/// serde_json's message without its ` at line 1 column 9` suffix, which is relative to the
/// annotation rather than the file.
pub(crate) fn strip_json_location(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    s.strip_suffix(&suffix).unwrap_or(&s).to_owned()
}

/// Writes `text` with `entities` back in annotation syntax, so that [`parse`] returns them.
///
/// Entities with a canonical value (or a name the short form cannot carry) use the JSON form.
/// Entities whose span does not fit the text, or overlaps an earlier one, are left out: the
/// markup cannot express them.
pub fn render(text: &str, entities: &[EntityAnnotation]) -> String {
    let mut sorted: Vec<&EntityAnnotation> = entities.iter().collect();
    sorted.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(text.len() + 16 * entities.len());
    let mut pos = 0;
    for e in sorted {
        let (Some(before), Some(surface)) = (text.get(pos..e.start), text.get(e.start..e.end)) else {
            continue;
        };
        if e.start < pos || surface.trim().is_empty() {
            continue;
        }
        escape_into(before, &mut out);
        out.push('[');
        escape_into(surface, &mut out);
        out.push(']');
        let simple_name =
            !e.entity.is_empty() && e.entity.trim() == e.entity && !e.entity.contains([':', '(', ')', '\n']);
        match &e.value {
            None if simple_name => {
                out.push('(');
                out.push_str(&e.entity);
                out.push(')');
            }
            _ => {
                let mut object = serde_json::Map::new();
                object.insert("entity".into(), e.entity.clone().into());
                if let Some(v) = &e.value {
                    object.insert("value".into(), v.clone().into());
                }
                out.push_str(&serde_json::Value::Object(object).to_string());
            }
        }
        pos = e.end;
    }
    escape_into(text.get(pos..).unwrap_or(""), &mut out);
    out
}

fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        if matches!(c, '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ent(a: &Annotated, i: usize) -> (&str, &str, Option<&str>) {
        let e = &a.entities[i];
        (e.entity.as_str(), &a.text[e.start..e.end], e.value.as_deref())
    }

    #[test]
    fn plain_form() {
        let a = parse("où en est ma commande [12345](order_id) ?").unwrap();
        assert_eq!(a.text, "où en est ma commande 12345 ?");
        assert_eq!(ent(&a, 0), ("order_id", "12345", None));
        assert_eq!(a.entities[0].text, "12345");
    }

    #[test]
    fn json_form_with_value_role_and_group() {
        let a = parse(r#"je paie par [CB]{"entity": "payment_method", "value": "carte bancaire"} merci"#).unwrap();
        assert_eq!(a.text, "je paie par CB merci");
        assert_eq!(ent(&a, 0), ("payment_method", "CB", Some("carte bancaire")));
        let a = parse(r#"from [Paris]{"entity": "city", "role": "departure", "group": "1"} ok"#).unwrap();
        assert_eq!(a.text, "from Paris ok");
        assert_eq!(ent(&a, 0), ("city", "Paris", None));
    }

    #[test]
    fn json_form_with_braces_inside_strings() {
        let a = parse(r#"[x]{"entity": "a}b", "value": "{}"}!"#).unwrap();
        assert_eq!(a.text, "x!");
        assert_eq!(ent(&a, 0), ("a}b", "x", Some("{}")));
    }

    #[test]
    fn legacy_synonym_form() {
        let a = parse("par [carte bleue](payment_method:carte bancaire)").unwrap();
        assert_eq!(a.text, "par carte bleue");
        assert_eq!(ent(&a, 0), ("payment_method", "carte bleue", Some("carte bancaire")));
    }

    #[test]
    fn several_annotations_and_multibyte_offsets() {
        let a = parse("[Zoé](name) à [Genève](city) 🎉 [2](n)").unwrap();
        assert_eq!(a.text, "Zoé à Genève 🎉 2");
        assert_eq!(ent(&a, 0), ("name", "Zoé", None));
        assert_eq!(ent(&a, 1), ("city", "Genève", None));
        assert_eq!(ent(&a, 2), ("n", "2", None));
    }

    #[test]
    fn escapes() {
        let a = parse(r"un \[crochet\] et C:\Users \\[x](e)").unwrap();
        assert_eq!(a.text, r"un [crochet] et C:\Users \x");
        assert_eq!(ent(&a, 0), ("e", "x", None));
        let a = parse(r"[a\]b](e)").unwrap();
        assert_eq!(ent(&a, 0), ("e", "a]b", None));
        // Brackets and parentheses outside an annotation are text.
        let a = parse("a ] (b) {c}").unwrap();
        assert_eq!(a.text, "a ] (b) {c}");
    }

    fn err(input: &str) -> AnnotationError {
        parse(input).unwrap_err()
    }

    #[test]
    fn unclosed_bracket() {
        let e = err("où est [12345(order_id) ?");
        assert_eq!((e.line, e.column, e.offset), (1, 8, 8));
        assert_eq!(e.message, "unclosed entity annotation `[12345(order_id) ?`: expected `](`");
        assert_eq!(e.hint.as_deref(), Some("close the bracket before the entity: `[12345](order_id) ?`"));
    }

    #[test]
    fn bracket_not_followed_by_entity() {
        let e = err("voir [ici] svp");
        assert_eq!(e.column, 6);
        assert_eq!(e.message, "`[ici]` is not followed by `(entity)` or `{\"entity\": …}`");
        assert!(e.hint.unwrap().contains(r"\[ici\]"));
        assert_eq!(err("fin [ici]").column, 5);
    }

    #[test]
    fn unclosed_paren() {
        let e = err("é [x](order_id");
        assert_eq!(e.column, 6);
        assert_eq!(e.message, "unclosed `(` in entity annotation `[x](order_id`: expected `)`");
    }

    #[test]
    fn invalid_json() {
        let e = err(r#"par [CB]{"entity": payment} ok"#);
        assert_eq!(e.column, 9);
        assert!(
            e.message.starts_with(r#"invalid JSON in entity annotation `[CB]{"entity": payment} ok`: "#),
            "{}",
            e.message
        );
        assert!(!e.message.contains("at line"), "{}", e.message);
        assert_eq!(err(r#"[CB]{"value": "x"}"#).message, r#"missing `entity` in `[CB]{"value": "x"}`"#);
        assert_eq!(err(r#"[CB]{"entity": 3}"#).message, r#"`entity` must be a string in `[CB]{"entity": 3}`"#);
        assert_eq!(
            err(r#"[CB]{"entity": "x", "value": [1]}"#).message,
            r#"`value` must be a string in `[CB]{"entity": "x", "value": [1]}`"#
        );
    }

    #[test]
    fn empty_names_and_texts() {
        let e = err("a [x]( ) b");
        assert_eq!((e.column, e.message.as_str()), (7, "empty entity name in `[x]( )`"));
        let e = err("a [x](:v) b");
        assert_eq!(e.message, "empty entity name in `[x](:v)`");
        assert_eq!(err(r#"[x]{"entity": " "}"#).message, r#"empty entity name in `[x]{"entity": " "}`"#);
        assert_eq!(err("a [](x)").message, "empty entity text in `[](x)`");
    }

    #[test]
    fn nested_is_an_error() {
        let e = err("[a [b](x)](y)");
        assert_eq!(e.column, 4);
        assert_eq!(e.message, "nested entity annotation in `[a [b](x)](y)`");
    }

    #[test]
    fn columns_count_characters_and_lines() {
        let e = err("héé\nçà [x");
        assert_eq!((e.line, e.column), (2, 4));
        let converted = e.at("f.yml", 10, 5).to_string();
        assert!(converted.starts_with("f.yml:11:4: unclosed"), "{converted}");
        let e = err("éé [x");
        assert_eq!(
            e.at("f.md", 3, 3).to_string().lines().next().unwrap(),
            "f.md:3:6: unclosed entity annotation `[x`: expected `](`"
        );
    }

    #[test]
    fn render_round_trips() {
        for s in [
            "où en est ma commande [12345](order_id) ?",
            r#"par [CB]{"entity": "payment_method", "value": "carte bancaire"}"#,
            r"\[lit\] \\ [a\]](e) C:\x",
            r#"[x]{"entity": "a:b"} [y]{"entity": " sp "}"#,
        ] {
            let a = parse(s).unwrap();
            let again = parse(&render(&a.text, &a.entities)).unwrap();
            assert_eq!(a, again, "{s}");
        }
    }

    #[test]
    fn render_skips_unrepresentable_entities() {
        let bad = |start, end| EntityAnnotation { entity: "e".into(), start, end, text: String::new(), value: None };
        let out = render("abc", &[bad(0, 2), bad(1, 3), bad(2, 9)]);
        assert_eq!(out, "[ab](e)c");
    }

    proptest! {
        #[test]
        fn never_panics_and_spans_match(s in r#"(\PC|[\[\]\(\)\{\}\\:"\n ]){0,40}"#) {
            if let Ok(a) = parse(&s) {
                for e in &a.entities {
                    prop_assert_eq!(a.text.get(e.start..e.end), Some(e.text.as_str()));
                }
            }
        }

        #[test]
        fn render_then_parse_is_identity(
            words in proptest::collection::vec(("[a-zé\\[\\]\\\\ ]{1,6}", proptest::option::of("[a-z_]{1,5}"), proptest::option::of("[a-z ]{1,5}")), 0..6)
        ) {
            let mut text = String::new();
            let mut entities = Vec::new();
            for (w, entity, value) in words {
                let start = text.len();
                text.push_str(&w);
                if let Some(entity) = entity.filter(|_| !w.trim().is_empty()) {
                    entities.push(EntityAnnotation { entity, start, end: text.len(), text: w.clone(), value });
                }
                text.push(' ');
            }
            let back = parse(&render(&text, &entities)).unwrap();
            prop_assert_eq!(back.text, text);
            prop_assert_eq!(back.entities, entities);
        }
    }
}
