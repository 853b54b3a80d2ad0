//! Rasa's legacy Markdown training data (Rasa 1 and 2).
//!
//! ```markdown
//! ## intent:check_balance
//! - how much is on my [savings](account) account?
//! - and on my [credit card](account:credit)  <!-- legacy synonym form -->
//!
//! ## intent:out_of_scope
//! - what's the weather like
//!
//! ## synonym:savings
//! - pink pig
//!
//! ## regex:account_number
//! - \d{10,12}
//!
//! ## lookup:bank
//! - ING
//! data/banks.txt
//! ```
//!
//! Sections are `## intent:`, `## synonym:`, `## regex:` and `## lookup:`; items start with
//! `- ` (or `* `, `+ `). A lookup section may name files, one per line, read relative to the
//! Markdown file, with one value per line. `<!-- comments -->` may span lines; `# titles` are
//! skipped. Intent examples use the inline annotations of [`annotation`];
//! synonym, regex and lookup items are taken verbatim.

use std::path::Path;

use super::annotation;
use super::locate::LineIndex;
use super::{intent_label, EntityDeclaration, Example, Source, TrainingData, ANY_ENTITY};
use crate::error::{Error, Result};

/// Reads a Rasa Markdown file.
pub fn read(path: impl AsRef<Path>) -> Result<TrainingData> {
    let path = path.as_ref();
    let raw = super::read_text(path)?;
    read_str(&raw, path)
}

#[derive(Clone)]
enum Section {
    Intent(Option<String>),
    Synonym(String),
    Regex(String),
    Lookup(String),
}

/// Reads Rasa Markdown from `content`; `path` names it in sources and errors, and is the base
/// for lookup table files.
pub fn read_str(content: &str, path: impl AsRef<Path>) -> Result<TrainingData> {
    let path = path.as_ref();
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let index = LineIndex::new(content);
    let cleaned = blank_comments(content).map_err(|at| {
        let (line, column) = index.position(at);
        Error::syntax(path, line, column, "unclosed comment `<!--`", Some("close it with `-->`".into()))
    })?;
    let error = |at: usize, message: String, hint: Option<String>| {
        let (line, column) = index.position(at);
        Error::syntax(path, line, column, message, hint)
    };

    let mut data = TrainingData::default();
    let mut section: Option<Section> = None;
    let mut line_start = 0;
    for (n, line) in cleaned.split('\n').enumerate() {
        let start = line_start;
        line_start += line.len() + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let indent = start + line.len() - line.trim_start().len();
        if let Some(header) = trimmed.strip_prefix("##") {
            section = Some(parse_header(header).ok_or_else(|| {
                error(
                    indent,
                    format!("unknown section `{trimmed}`"),
                    Some(
                        "sections are `## intent:name`, `## synonym:value`, `## regex:name` and `## lookup:name`"
                            .into(),
                    ),
                )
            })?);
            continue;
        }
        if trimmed.starts_with('#') {
            continue;
        }
        let item = ["- ", "* ", "+ ", "-\t", "*\t", "+\t"]
            .iter()
            .find_map(|m| trimmed.strip_prefix(m))
            .or_else(|| ["-", "*", "+"].contains(&trimmed).then_some(""));
        let Some(current) = &section else {
            return Err(error(
                indent,
                format!("`{trimmed}` is outside any section"),
                Some("start the file with a section such as `## intent:greet`".into()),
            ));
        };
        let Some(rest) = item else {
            if let Section::Lookup(name) = current {
                let file = path.parent().unwrap_or(Path::new("")).join(trimmed);
                let values = super::read_text(&file)?;
                data.add_declaration(EntityDeclaration {
                    name: name.clone(),
                    lookup: values.lines().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect(),
                    ..EntityDeclaration::default()
                });
                continue;
            }
            return Err(error(
                indent,
                format!("expected a `- ` item, found `{trimmed}`"),
                Some("write one example per line, starting with `- `".into()),
            ));
        };
        let body = rest.trim();
        let body_at = indent + (trimmed.len() - rest.len()) + (rest.len() - rest.trim_start().len());
        match current {
            Section::Intent(intent) => {
                let parsed = annotation::parse(body).map_err(|e| error(body_at + e.offset, e.message, e.hint))?;
                data.examples.push(Example {
                    text: parsed.text,
                    intent: intent.clone(),
                    entities: parsed.entities,
                    language: None,
                    signals: Vec::new(),
                    source: Some(Source { path: path.to_owned(), line: n + 1 }),
                });
            }
            Section::Synonym(value) => data.add_declaration(EntityDeclaration {
                name: ANY_ENTITY.into(),
                synonyms: [(value.clone(), vec![body.to_owned()])].into(),
                ..EntityDeclaration::default()
            }),
            Section::Regex(name) => {
                if let Err(e) = regex::Regex::new(body) {
                    let reason = e.to_string();
                    let reason = reason.lines().find_map(|l| l.strip_prefix("error: ")).unwrap_or(&reason);
                    return Err(error(
                        body_at,
                        format!("invalid regular expression `{body}`: {reason}"),
                        Some("entendu uses the `regex` crate's syntax: no look-around or backreferences".into()),
                    ));
                }
                data.add_declaration(EntityDeclaration {
                    name: name.clone(),
                    regexes: vec![body.to_owned()],
                    ..EntityDeclaration::default()
                });
            }
            Section::Lookup(name) => data.add_declaration(EntityDeclaration {
                name: name.clone(),
                lookup: vec![body.to_owned()],
                ..EntityDeclaration::default()
            }),
        }
    }
    data.resolve_synonyms();
    Ok(data)
}

/// `intent:name` and the like, after the `##`.
fn parse_header(header: &str) -> Option<Section> {
    let (kind, name) = header.split_once(':')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some(match kind.trim() {
        "intent" => Section::Intent(intent_label(name)),
        "synonym" => Section::Synonym(name.to_owned()),
        "regex" => Section::Regex(name.to_owned()),
        "lookup" => Section::Lookup(name.to_owned()),
        _ => return None,
    })
}

/// The text with every `<!-- comment -->` replaced by spaces (line breaks kept), so that byte
/// offsets, and hence lines and columns, stay those of the original. `Err` holds the offset
/// of an unclosed `<!--`.
fn blank_comments(content: &str) -> std::result::Result<String, usize> {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    let mut offset = 0;
    while let Some(open) = rest.find("<!--") {
        let Some(close) = rest.get(open + 4..).and_then(|r| r.find("-->")) else {
            return Err(offset + open);
        };
        let end = open + 4 + close + 3;
        out.push_str(rest.get(..open).unwrap_or(""));
        for c in rest.get(open..end).unwrap_or("").chars() {
            if c == '\n' {
                out.push('\n');
            } else {
                out.extend(std::iter::repeat_n(' ', c.len_utf8()));
            }
        }
        rest = rest.get(end..).unwrap_or("");
        offset += end;
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MD: &str = "\
# NLU data
## intent:check_balance
- how much is on my [savings](account) account? <!-- a comment -->
* and on my [credit card](account:credit)
<!-- a comment
   over two lines -->
## intent:oos
- what's the weather like

## synonym:savings
- pink pig
## regex:account_number
- \\d{10,12}
## lookup:bank
- ING
banks.txt
";

    #[test]
    fn reads_markdown() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("banks.txt"), "BNP\n\n Crédit Agricole \n").unwrap();
        let path = dir.path().join("nlu.md");
        std::fs::write(&path, MD).unwrap();
        let data = read(&path).unwrap();
        let got: Vec<(usize, &str, Option<&str>)> = data
            .examples
            .iter()
            .map(|e| (e.source.as_ref().unwrap().line, e.text.as_str(), e.intent.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (3, "how much is on my savings account?", Some("check_balance")),
                (4, "and on my credit card", Some("check_balance")),
                (8, "what's the weather like", None),
            ]
        );
        assert_eq!(data.examples[1].entities[0].value.as_deref(), Some("credit"));
        let account = data.entities.iter().find(|d| d.name == "account").unwrap();
        assert_eq!(account.synonyms["savings"], ["pink pig"]);
        let regex = data.entities.iter().find(|d| d.name == "account_number").unwrap();
        assert_eq!(regex.regexes, [r"\d{10,12}"]);
        let bank = data.entities.iter().find(|d| d.name == "bank").unwrap();
        assert_eq!(bank.lookup, ["ING", "BNP", "Crédit Agricole"]);
    }

    fn error(md: &str) -> String {
        read_str(md, "nlu.md").unwrap_err().to_string()
    }

    #[test]
    fn errors_point_into_the_file() {
        assert_eq!(
            error("## intent:a\n- ok\n-  où est [12345(order_id)\n"),
            "nlu.md:3:11: unclosed entity annotation `[12345(order_id)`: expected `](`\n  hint: close the bracket before the entity: `[12345](order_id)`"
        );
        assert!(error("<!-- a\n## intent:a\n- ok\n").starts_with("nlu.md:1:1: unclosed comment `<!--`"));
        assert!(error("## intent:a\n- ok\n   <!-- x\n").starts_with("nlu.md:3:4: unclosed comment"));
        assert!(error("## story:a\n- ok\n").starts_with("nlu.md:1:1: unknown section `## story:a`"));
        assert!(error("## intent:\n- ok\n").starts_with("nlu.md:1:1: unknown section `## intent:`"));
        assert!(error("- ok\n").starts_with("nlu.md:1:1: `- ok` is outside any section"));
        assert!(error("## intent:a\n  just text\n").starts_with("nlu.md:2:3: expected a `- ` item, found `just text`"));
        assert!(error("## regex:r\n- a(b\n").starts_with("nlu.md:2:3: invalid regular expression `a(b`"));
        assert!(error("## lookup:x\nmissing.txt\n").contains("missing.txt"));
        assert!(error("## intent:a\n- <!--x--> [é](e) [y]\n").starts_with("nlu.md:2:19: `[y]` is not followed by"));
    }

    proptest! {
        #[test]
        fn random_markdown_never_panics(s in r#"(\PC|[\[\]\(\)\{\}\\:<!>#*+\n -]){0,80}"#) {
            for prefix in ["", "## intent:a\n- ", "## regex:r\n- "] {
                if let Ok(data) = read_str(&format!("{prefix}{s}"), "r.md") {
                    for e in &data.examples {
                        for a in &e.entities {
                            prop_assert_eq!(e.text.get(a.start..a.end), Some(a.text.as_str()));
                        }
                    }
                }
            }
        }
    }
}
