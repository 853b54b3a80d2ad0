//! Training data as CSV: one example per row.
//!
//! ```csv
//! text,intent,language
//! où en est ma commande [12345](order_id) ?,track_order,fr
//! "bonjour, ça va ?",greet,fr
//! "il a dit ""stop""",out_of_scope,fr
//! ```
//!
//! The header names the columns, in any order and case: `text`, the intent as `intent`,
//! `label` or `category`, and optionally `language` (or `lang`). Other columns are ignored.
//! Quoting follows RFC 4180 (a field with a comma, quote or line break is quoted, quotes are
//! doubled). The text may carry inline annotations ([`annotation`]).

use std::path::Path;

use super::annotation;
use super::locate::LineIndex;
use super::{intent_label, Example, Source, TrainingData};
use crate::error::{Error, Result};

/// Reads a CSV file.
pub fn read(path: impl AsRef<Path>) -> Result<TrainingData> {
    let path = path.as_ref();
    let raw = super::read_text(path)?;
    read_str(&raw, path)
}

/// Reads CSV from `content`; `path` names it in sources and errors.
pub fn read_str(content: &str, path: impl AsRef<Path>) -> Result<TrainingData> {
    read_with(content, path.as_ref(), &Options { annotations: true, language: None })
}

/// How [`read_with`] reads rows.
pub(crate) struct Options {
    /// Parse inline annotations in the text (benchmarks' raw texts must be taken verbatim).
    pub(crate) annotations: bool,
    /// The language of rows without a `language` column.
    pub(crate) language: Option<String>,
}

/// Where a record really starts. The csv crate's line numbers miss blank lines and CRLF breaks
/// inside quotes, and its byte offset points before the blank lines it skipped, so lines come
/// from that offset moved past line breaks.
fn record_start(content: &str, position: Option<&::csv::Position>) -> usize {
    let start = position.map_or(0, |p| p.byte() as usize);
    let rest = content.get(start..).unwrap_or("");
    start + (rest.len() - rest.trim_start_matches(['\r', '\n']).len())
}

fn line_of(index: &LineIndex<'_>, content: &str, position: Option<&::csv::Position>) -> usize {
    index.position(record_start(content, position)).0
}

fn csv_error(path: &Path, content: &str, index: &LineIndex<'_>, e: &::csv::Error) -> Error {
    let line = line_of(index, content, e.position());
    match e.kind() {
        ::csv::ErrorKind::UnequalLengths { expected_len, len, .. } => Error::syntax(
            path,
            line,
            0,
            format!("this row has {len} fields but the header has {expected_len}"),
            Some("quote fields that contain commas: `\"bonjour, ça va ?\",greet`".into()),
        ),
        _ => Error::syntax(path, line, 0, e.to_string(), None),
    }
}

pub(crate) fn read_with(content: &str, path: &Path, options: &Options) -> Result<TrainingData> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let index = LineIndex::new(content);
    let mut reader = ::csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(content.as_bytes());
    let headers = reader.headers().map_err(|e| csv_error(path, content, &index, &e))?.clone();
    let column =
        |names: &[&str]| names.iter().find_map(|n| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(n)));
    let header_hint = || Some("name the columns `text,intent` (or `text,label`, `text,category`)".to_owned());
    let shown = headers.iter().collect::<Vec<_>>().join(",");
    let text_column = column(&["text"])
        .ok_or_else(|| Error::syntax(path, 1, 0, format!("no `text` column in the header `{shown}`"), header_hint()))?;
    let intent_column = column(&["intent", "label", "category"]).ok_or_else(|| {
        Error::syntax(path, 1, 0, format!("no `intent` column in the header `{shown}`"), header_hint())
    })?;
    let language_column = column(&["language", "lang"]);

    let mut data = TrainingData::default();
    let mut record = ::csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(path, content, &index, &e)),
        }
        let start = record_start(content, record.position());
        let line = index.position(start).0;
        let text = record.get(text_column).unwrap_or("");
        let label = record.get(intent_column).unwrap_or("").trim();
        if label.is_empty() {
            return Err(Error::syntax(
                path,
                line,
                0,
                format!("no intent for `{text}`"),
                Some("label every row; use `out_of_scope` for texts that match no intent".into()),
            ));
        }
        let parsed = if options.annotations {
            annotation::parse(text).map_err(|e| {
                // Point at the character when the field is written verbatim in the row.
                let row = content.get(start..reader.position().byte() as usize).unwrap_or("");
                match row.find(text).filter(|_| !text.is_empty()) {
                    Some(p) => {
                        let (line, column) = index.position(start + p + e.offset);
                        Error::syntax(path, line, column, e.message, e.hint)
                    }
                    None => {
                        Error::syntax(path, line, 0, format!("{} (column {} of the text)", e.message, e.column), e.hint)
                    }
                }
            })?
        } else {
            annotation::Annotated { text: text.to_owned(), entities: Vec::new() }
        };
        let language = language_column
            .and_then(|c| record.get(c))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .or_else(|| options.language.clone());
        data.examples.push(Example {
            text: parsed.text,
            intent: intent_label(label),
            entities: parsed.entities,
            language,
            signals: Vec::new(),
            source: Some(Source { path: path.to_owned(), line }),
        });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_csv() {
        let raw = "\u{feff}Text,Label,language\n\
                   où en est ma commande [12345](order_id) ?,track_order,fr\n\
                   \"bonjour, ça va ?\",greet,\n\
                   \"il a dit \"\"stop\"\"\nsur deux lignes\",OOS,en\n\
                   \r\n\
                   fin,greet,fr\r\n";
        let data = read_str(raw, "d.csv").unwrap();
        let got: Vec<(usize, &str, Option<&str>, Option<&str>)> = data
            .examples
            .iter()
            .map(|e| (e.source.as_ref().unwrap().line, e.text.as_str(), e.intent.as_deref(), e.language.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (2, "où en est ma commande 12345 ?", Some("track_order"), Some("fr")),
                (3, "bonjour, ça va ?", Some("greet"), None),
                (4, "il a dit \"stop\"\nsur deux lignes", None, Some("en")),
                (7, "fin", Some("greet"), Some("fr")),
            ]
        );
        assert_eq!(data.examples[0].entities[0].text, "12345");
        let data = read_str("category,text\ncard_arrival,where is it\n", "b.csv").unwrap();
        assert_eq!(data.examples[0].intent.as_deref(), Some("card_arrival"));
    }

    fn error(raw: &str) -> String {
        read_str(raw, "d.csv").unwrap_err().to_string()
    }

    #[test]
    fn errors_carry_file_and_line() {
        assert_eq!(
            error("text,intent\nok,a\noù est [12345(order_id),b\n"),
            "d.csv:3:8: unclosed entity annotation `[12345(order_id)`: expected `](`\n  hint: close the bracket before the entity: `[12345](order_id)`"
        );
        assert!(error("text,intent\r\n\"a\r\nb\",x\r\n\r\nc [y,z\r\n")
            .starts_with("d.csv:5:3: unclosed entity annotation `[y`"));
        assert!(error("text,intent\n\"a \"\"q\"\" [x\",b\n")
            .starts_with("d.csv:2: unclosed entity annotation `[x`: expected `](` (column 7 of the text)"));
        assert!(error("text,intent\na,b\nbonjour, ça va,greet\n")
            .starts_with("d.csv:3: this row has 3 fields but the header has 2"));
        assert!(error("phrase,intent\na,b\n").starts_with("d.csv:1: no `text` column in the header `phrase,intent`"));
        assert!(error("text,foo\na,b\n").starts_with("d.csv:1: no `intent` column in the header `text,foo`"));
        assert!(error("text,intent\na,b\nc, \n").starts_with("d.csv:3: no intent for `c`"));
    }

    proptest! {
        #[test]
        fn random_csv_never_panics(s in r#"(\PC|[\[\]\(\)\{\}\\:",\n\r ]){0,80}"#) {
            if let Ok(data) = read_str(&format!("text,intent\n{s}"), "r.csv") {
                for e in &data.examples {
                    for a in &e.entities {
                        prop_assert_eq!(e.text.get(a.start..a.end), Some(a.text.as_str()));
                    }
                }
            }
        }
    }
}
