//! Importers for public intent and slot benchmarks, as train / validation / test splits.
//!
//! | benchmark | layout | splits |
//! |---|---|---|
//! | CLINC150 | `data_full.json`: `{"train": [[text, intent], …], "val": …, "test": …, "oos_train": …}` | the `oos_*` lists join their split as out of scope |
//! | BANKING77 | `train.csv`, `test.csv` with header `text,category` | no validation split: a stratified 10% of train is carved out ([`carve_validation`]) |
//! | SNIPS | `train/`, `valid/`, `test/`, each with line-aligned `seq.in` (tokens), `seq.out` (BIO tags), `label` (intent) | as given |
//! | xSID | `train.en.txt` + `train.en.labels` (`BIO tags<TAB>intent`); `<lang>.valid.conll` | train deduplicated; one test set per language |
//!
//! Texts are taken verbatim (no annotation parsing). Token-level data (SNIPS, xSID) becomes
//! text by joining tokens with single spaces, and BIO tags become byte spans on that text.
//! Every example gets `language: Some("en")` (xSID: the file's language) and, except for
//! CLINC150's JSON, its source line.
//!
//! ```no_run
//! # use entendu::data::benchmarks;
//! let clinc = benchmarks::load("clinc150", "../shared/datasets/clinc150")?;
//! assert_eq!(clinc.train.len(), 15_100);
//! # Ok::<(), entendu::Error>(())
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{csv, intent_label, EntityAnnotation, Example, Source, TrainingData};
use crate::error::{Error, Result};

/// A benchmark's splits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Splits {
    /// Training examples.
    pub train: TrainingData,
    /// Validation examples, when the benchmark has (or we carve) a validation split.
    pub valid: Option<TrainingData>,
    /// Test examples (xSID: the English set).
    pub test: TrainingData,
    /// Test sets per language code, for cross-lingual benchmarks (xSID); empty otherwise.
    pub test_by_language: BTreeMap<String, TrainingData>,
}

/// The names [`load`] accepts.
pub const BENCHMARKS: &[&str] = &["clinc150", "banking77", "snips", "xsid"];

/// The fraction of BANKING77's train set carved out for validation.
pub const BANKING77_VALID_FRACTION: f64 = 0.1;

/// The seed of BANKING77's validation split; fixed so that every run and every machine uses
/// the same split.
pub const BANKING77_SEED: u64 = 77;

/// Loads benchmark `name` (one of [`BENCHMARKS`], case-insensitive) from its directory.
pub fn load(name: &str, dir: impl AsRef<Path>) -> Result<Splits> {
    match name.to_ascii_lowercase().as_str() {
        "clinc150" | "clinc" => clinc150(dir),
        "banking77" | "banking" => banking77(dir),
        "snips" => snips(dir),
        "xsid" => xsid(dir),
        _ => Err(Error::InvalidArgument(format!("unknown benchmark `{name}`; known: {}", BENCHMARKS.join(", ")))),
    }
}

fn example(
    text: String,
    label: &str,
    entities: Vec<EntityAnnotation>,
    language: &str,
    source: Option<Source>,
) -> Example {
    Example {
        text,
        intent: intent_label(label),
        entities,
        language: Some(language.to_owned()),
        signals: Vec::new(),
        source,
    }
}

fn source(path: &Path, line: usize) -> Option<Source> {
    Some(Source { path: path.to_owned(), line })
}

#[derive(Deserialize)]
struct Clinc {
    train: Vec<(String, String)>,
    val: Vec<(String, String)>,
    test: Vec<(String, String)>,
    #[serde(default)]
    oos_train: Vec<(String, String)>,
    #[serde(default)]
    oos_val: Vec<(String, String)>,
    #[serde(default)]
    oos_test: Vec<(String, String)>,
}

/// CLINC150 (Larson et al. 2019) from `data_full.json` (or any file of the same layout, such as
/// `data_small.json`); `path` may also be the directory holding `data_full.json`.
pub fn clinc150(path: impl AsRef<Path>) -> Result<Splits> {
    let path = path.as_ref();
    let path: PathBuf = if path.is_dir() { path.join("data_full.json") } else { path.to_owned() };
    let raw = super::read_text(&path)?;
    let data: Clinc = serde_json::from_str(&raw).map_err(|e| {
        Error::syntax(
            &path,
            e.line(),
            e.column(),
            super::annotation::strip_json_location(&e),
            Some("expected CLINC150's `{\"train\": [[text, intent], …], \"val\": …, \"test\": …}`".into()),
        )
    })?;
    let split = |in_scope: Vec<(String, String)>, oos: Vec<(String, String)>| TrainingData {
        examples: in_scope
            .into_iter()
            .chain(oos)
            .map(|(text, label)| example(text, &label, Vec::new(), "en", None))
            .collect(),
        ..TrainingData::default()
    };
    Ok(Splits {
        train: split(data.train, data.oos_train),
        valid: Some(split(data.val, data.oos_val)),
        test: split(data.test, data.oos_test),
        test_by_language: BTreeMap::new(),
    })
}

/// BANKING77 (Casanueva et al. 2020) from `train.csv` and `test.csv` in `dir`, with a
/// validation split carved from train ([`BANKING77_VALID_FRACTION`], [`BANKING77_SEED`]).
pub fn banking77(dir: impl AsRef<Path>) -> Result<Splits> {
    let dir = dir.as_ref();
    let read = |name: &str| {
        let path = dir.join(name);
        let raw = super::read_text(&path)?;
        let options = csv::Options { annotations: false, language: Some("en".into()) };
        csv::read_with(&raw, &path, &options)
    };
    let (train, valid) = carve_validation(read("train.csv")?, BANKING77_VALID_FRACTION, BANKING77_SEED);
    Ok(Splits { train, valid: Some(valid), test: read("test.csv")?, test_by_language: BTreeMap::new() })
}

/// SplitMix64 (Steele, Lea & Flood 2014). A validation split must be the same on every machine
/// and with every dependency version; this generator is a dozen lines fully specified by its
/// seed, whereas `rand`'s generators and its sampling algorithms may change between versions.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (multiply-shift; its bias is far below anything a split could show).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Splits `data` into (train, validation), moving `fraction` of every intent's examples
/// (out of scope included; rounded, at least one of any intent with two or more, never all)
/// to validation. Deterministic in `seed`; both parts keep the original order. Entity
/// declarations and intent settings stay with train.
pub fn carve_validation(data: TrainingData, fraction: f64, seed: u64) -> (TrainingData, TrainingData) {
    let mut groups: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (i, e) in data.examples.iter().enumerate() {
        groups.entry(e.intent.as_deref()).or_default().push(i);
    }
    let mut rng = SplitMix64(seed);
    let mut chosen = vec![false; data.examples.len()];
    for indices in groups.values_mut() {
        let n = indices.len();
        if n < 2 {
            continue;
        }
        let k = ((n as f64 * fraction.clamp(0.0, 1.0)).round() as usize).clamp(1, n - 1);
        // Partial Fisher–Yates: the first k slots end up a uniform sample.
        for i in 0..k {
            let j = i + rng.below(n - i);
            indices.swap(i, j);
        }
        for &i in indices.iter().take(k) {
            if let Some(c) = chosen.get_mut(i) {
                *c = true;
            }
        }
    }
    let TrainingData { examples, entities, intents } = data;
    let mut train = TrainingData { examples: Vec::new(), entities, intents };
    let mut valid = TrainingData::default();
    for (example, to_valid) in examples.into_iter().zip(chosen) {
        if to_valid {
            valid.examples.push(example);
        } else {
            train.examples.push(example);
        }
    }
    (train, valid)
}

/// The lines of a file, without the empty one after a final line break.
fn read_lines(path: &Path) -> Result<Vec<String>> {
    let raw = super::read_text(path)?;
    let mut lines: Vec<String> = raw.split('\n').map(|l| l.trim_end_matches('\r').to_owned()).collect();
    if lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    Ok(lines)
}

/// Byte offsets of the whitespace-separated tokens of `line`.
fn token_starts(line: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut in_token = false;
    for (i, c) in line.char_indices() {
        if c.is_whitespace() {
            in_token = false;
        } else if !in_token {
            starts.push(i);
            in_token = true;
        }
    }
    starts
}

/// 1-based character column of byte `offset` in `line`.
fn column(line: &str, offset: usize) -> usize {
    line.get(..offset).map_or(0, |s| s.chars().count()) + 1
}

/// Joins `tokens` with single spaces and turns their BIO `tags` into entity spans. An `I-`
/// tag that does not continue an entity of its type starts a new one (common in the wild).
/// `Err` names the index of the offending tag.
pub(crate) fn bio_to_example(
    tokens: &[&str],
    tags: &[&str],
) -> std::result::Result<(String, Vec<EntityAnnotation>), (usize, String)> {
    if tokens.len() != tags.len() {
        return Err((tags.len().min(tokens.len()), format!("{} tags for {} tokens", tags.len(), tokens.len())));
    }
    let mut text = String::new();
    let mut entities: Vec<EntityAnnotation> = Vec::new();
    // Whether the last entity may still be extended by an `I-` tag.
    let mut open = false;
    for (i, (token, tag)) in tokens.iter().zip(tags).enumerate() {
        if i > 0 {
            text.push(' ');
        }
        let start = text.len();
        text.push_str(token);
        let end = text.len();
        let (inside, entity) = match tag.split_once('-') {
            // xSID's train.en.labels writes `Orecurring_datetime` 357 times, always where `O`
            // belongs (after the entity, on `.` or `alarm`): read any `O…` without a dash as `O`.
            _ if tag.starts_with('O') && !tag.contains('-') => {
                open = false;
                continue;
            }
            Some(("B", entity)) if !entity.is_empty() => (false, entity),
            Some(("I", entity)) if !entity.is_empty() => (true, entity),
            _ => return Err((i, format!("invalid tag `{tag}`: expected `O`, `B-type` or `I-type`"))),
        };
        match entities.last_mut() {
            Some(last) if inside && open && last.entity == entity => last.end = end,
            _ => entities.push(EntityAnnotation {
                entity: entity.to_owned(),
                start,
                end,
                text: String::new(),
                value: None,
            }),
        }
        open = true;
    }
    for e in &mut entities {
        e.text = text.get(e.start..e.end).unwrap_or("").to_owned();
    }
    Ok((text, entities))
}

/// SNIPS in the BIO layout of Goo et al. (2018): `train/`, `valid/`, `test/` under `dir`.
pub fn snips(dir: impl AsRef<Path>) -> Result<Splits> {
    let dir = dir.as_ref();
    Ok(Splits {
        train: snips_split(&dir.join("train"))?,
        valid: Some(snips_split(&dir.join("valid"))?),
        test: snips_split(&dir.join("test"))?,
        test_by_language: BTreeMap::new(),
    })
}

fn snips_split(dir: &Path) -> Result<TrainingData> {
    let (in_path, out_path, label_path) = (dir.join("seq.in"), dir.join("seq.out"), dir.join("label"));
    let files = [
        (read_lines(&in_path)?, &in_path),
        (read_lines(&out_path)?, &out_path),
        (read_lines(&label_path)?, &label_path),
    ];
    let shortest = files.iter().min_by_key(|(lines, _)| lines.len());
    let longest = files.iter().rev().max_by_key(|(lines, _)| lines.len());
    if let (Some((short, short_path)), Some((long, long_path))) = (shortest, longest) {
        if short.len() != long.len() {
            return Err(Error::syntax(
                long_path,
                short.len() + 1,
                0,
                format!(
                    "{} has {} lines but {} has {}: the files must be line-aligned",
                    file_name(long_path),
                    long.len(),
                    file_name(short_path),
                    short.len()
                ),
                None,
            ));
        }
    }
    let [(inputs, _), (tags, _), (labels, _)] = &files;
    let mut data = TrainingData::default();
    for (n, ((input, tag_line), label)) in inputs.iter().zip(tags).zip(labels).enumerate() {
        let tokens: Vec<&str> = input.split_whitespace().collect();
        let tag_list: Vec<&str> = tag_line.split_whitespace().collect();
        let (text, entities) = bio_to_example(&tokens, &tag_list).map_err(|(i, message)| {
            let at = token_starts(tag_line).get(i).map_or(0, |&o| column(tag_line, o));
            Error::syntax(&out_path, n + 1, at, message, None)
        })?;
        if label.trim().is_empty() {
            return Err(Error::syntax(&label_path, n + 1, 0, "empty intent label", None));
        }
        data.examples.push(example(text, label.trim(), entities, "en", source(&in_path, n + 1)));
    }
    Ok(data)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// xSID (van der Goot et al. 2021): English train from `train.en.txt` + `train.en.labels`
/// (repeated lines dropped), and every `<lang>.valid.conll` as a test set for its language.
/// [`Splits::test`] is the English one; there is no validation split.
pub fn xsid(dir: impl AsRef<Path>) -> Result<Splits> {
    let dir = dir.as_ref();
    let train = xsid_train(&dir.join("train.en.txt"), &dir.join("train.en.labels"))?;
    let mut test_by_language = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = file_name(&path);
        if let Some(language) = name.strip_suffix(".valid.conll") {
            files.push((language.to_owned(), path));
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::Data(format!("no `<lang>.valid.conll` files in {}", dir.display())));
    }
    for (language, path) in files {
        let data = read_conll_file(&path, &language)?;
        test_by_language.insert(language, data);
    }
    Ok(Splits { train, valid: None, test: test_by_language.get("en").cloned().unwrap_or_default(), test_by_language })
}

/// The label of an xSID training intent in the evaluation files' label set. The training file
/// joins two corpora that name the same request differently: SNIPS's weather sentences say
/// `GetWeather`, the Facebook corpus's say `weather/find`. The evaluation files label every
/// weather request `weather/find`, the SNIPS-derived ones included (they keep SNIPS's slot
/// names, e.g. `condition_description`), so without this a classifier splits one intent in two
/// and every SNIPS-style weather question scored as `weather/find` counts as an error.
fn xsid_intent(label: &str) -> &str {
    match label {
        "GetWeather" => "weather/find",
        other => other,
    }
}

fn xsid_train(text_path: &Path, labels_path: &Path) -> Result<TrainingData> {
    let texts = read_lines(text_path)?;
    let labels = read_lines(labels_path)?;
    if texts.len() != labels.len() {
        let (path, line) =
            if texts.len() > labels.len() { (text_path, labels.len() + 1) } else { (labels_path, texts.len() + 1) };
        return Err(Error::syntax(
            path,
            line,
            0,
            format!(
                "{} has {} lines but {} has {}",
                file_name(text_path),
                texts.len(),
                file_name(labels_path),
                labels.len()
            ),
            Some("the two files must be line-aligned".into()),
        ));
    }
    let mut seen = HashSet::new();
    let mut data = TrainingData::default();
    for (n, (text, label_line)) in texts.iter().zip(&labels).enumerate() {
        if !seen.insert((text.as_str(), label_line.as_str())) {
            continue;
        }
        let Some((tags, intent)) = label_line.rsplit_once('\t') else {
            return Err(Error::syntax(labels_path, n + 1, 0, "expected `BIO tags<TAB>intent`", None));
        };
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let tag_list: Vec<&str> = tags.split_whitespace().collect();
        let (joined, entities) = bio_to_example(&tokens, &tag_list).map_err(|(i, message)| {
            let at = token_starts(tags).get(i).map_or(0, |&o| column(tags, o));
            Error::syntax(labels_path, n + 1, at, message, None)
        })?;
        if intent.trim().is_empty() {
            return Err(Error::syntax(labels_path, n + 1, 0, "empty intent label", None));
        }
        let intent = xsid_intent(intent.trim());
        data.examples.push(example(joined, intent, entities, "en", source(text_path, n + 1)));
    }
    Ok(data)
}

/// One xSID-style CoNLL file (`# text = …`, `# intent = …` comments, then
/// `index<TAB>token<TAB>intent<TAB>slot` rows) as a test set whose examples are in `language`.
pub fn read_conll_file(path: impl AsRef<Path>, language: &str) -> Result<TrainingData> {
    let path = path.as_ref();
    let raw = super::read_text(path)?;
    read_conll(&raw, path, language)
}

/// One xSID CoNLL file: blank-line-separated blocks of `# key = value` comments and
/// `index<TAB>token<TAB>intent<TAB>slot` rows.
fn read_conll(raw: &str, path: &Path, language: &str) -> Result<TrainingData> {
    let mut data = TrainingData::default();
    let mut block: Vec<(usize, &str)> = Vec::new();
    let lines = raw.split('\n').map(|l| l.trim_end_matches('\r'));
    for (n, line) in lines.chain(std::iter::once("")).enumerate() {
        if !line.trim().is_empty() {
            block.push((n + 1, line));
            continue;
        }
        if block.is_empty() {
            continue;
        }
        data.examples.push(conll_block(&block, path, language)?);
        block.clear();
    }
    Ok(data)
}

fn conll_block(block: &[(usize, &str)], path: &Path, language: &str) -> Result<Example> {
    let first_line = block.first().map_or(0, |(n, _)| *n);
    let mut intent = None;
    let mut rows = Vec::new();
    for &(n, line) in block {
        if let Some(comment) = line.strip_prefix('#') {
            if let Some(("intent", value)) = comment.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                intent = Some(value);
            }
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [_, token, row_intent, slot, ..] = fields.as_slice() else {
            return Err(Error::syntax(
                path,
                n,
                0,
                format!("expected 4 tab-separated columns `index token intent slot`, found {}", fields.len()),
                None,
            ));
        };
        rows.push((n, *token, *row_intent, *slot, line));
    }
    let Some(&(_, _, row_intent, _, _)) = rows.first() else {
        return Err(Error::syntax(
            path,
            first_line,
            0,
            "a sentence block without token rows",
            Some("separate sentences with one blank line; every sentence needs its token rows".into()),
        ));
    };
    let intent = intent.unwrap_or(row_intent);
    let tokens: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let tags: Vec<&str> = rows.iter().map(|r| r.3.trim()).collect();
    let (text, entities) = bio_to_example(&tokens, &tags).map_err(|(i, message)| {
        let (n, line) = rows.get(i).map_or((first_line, ""), |r| (r.0, r.4));
        let at = line.match_indices('\t').nth(2).map_or(0, |(o, _)| column(line, o + 1));
        Error::syntax(path, n, at, message, None)
    })?;
    if intent.trim().is_empty() {
        return Err(Error::syntax(path, first_line, 0, "empty intent label", None));
    }
    Ok(example(text, intent.trim(), entities, language, source(path, first_line)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, content: &str) {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, content).unwrap();
    }

    fn spans(e: &Example) -> Vec<(&str, &str)> {
        e.entities.iter().map(|a| (a.entity.as_str(), &e.text[a.start..a.end])).collect()
    }

    #[test]
    fn bio_conversion() {
        let tokens = ["play", "daft", "punk", "on", "spotify", "now"];
        let tags = ["O", "B-artist", "I-artist", "O", "I-service", "I-other"];
        let (text, entities) = bio_to_example(&tokens, &tags).unwrap();
        assert_eq!(text, "play daft punk on spotify now");
        let got: Vec<(&str, &str)> = entities.iter().map(|a| (a.entity.as_str(), a.text.as_str())).collect();
        assert_eq!(got, [("artist", "daft punk"), ("service", "spotify"), ("other", "now")]);
        let (_, entities) = bio_to_example(&["a", "b"], &["B-x", "B-x"]).unwrap();
        assert_eq!(entities.len(), 2);
        let (_, entities) = bio_to_example(&["a", "b", "c"], &["B-x", "O", "I-x"]).unwrap();
        assert_eq!(entities.len(), 2);
        assert_eq!(
            bio_to_example(&["a"], &["X-y"]).unwrap_err(),
            (0, "invalid tag `X-y`: expected `O`, `B-type` or `I-type`".into())
        );
        assert_eq!(bio_to_example(&["a"], &["B-"]).unwrap_err().0, 0);
        assert_eq!(bio_to_example(&["a"], &["O-x"]).unwrap_err().0, 0);
        let (_, entities) = bio_to_example(&["a", "b", "c"], &["B-x", "Ox", "I-x"]).unwrap();
        assert_eq!(entities.len(), 2);
        assert_eq!(bio_to_example(&["a", "b"], &["O"]).unwrap_err(), (1, "1 tags for 2 tokens".into()));
    }

    #[test]
    fn clinc_layout() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "data_full.json",
            r#"{"train": [["hi", "greet"], ["yo", "greet"]], "val": [["hey", "greet"]], "test": [["hello", "greet"]],
                "oos_train": [["what", "oos"]], "oos_val": [], "oos_test": [["huh", "oos"]]}"#,
        );
        let splits = clinc150(dir.path()).unwrap();
        assert_eq!((splits.train.len(), splits.valid.as_ref().unwrap().len(), splits.test.len()), (3, 1, 2));
        assert_eq!(splits.train.examples[2].intent, None);
        assert_eq!(splits.train.examples[0].language.as_deref(), Some("en"));
        write(dir.path(), "bad.json", "{\"train\": [[\"hi\", \"greet\"]],\n \"val\": 3}");
        let e = clinc150(dir.path().join("bad.json")).unwrap_err().to_string();
        assert!(e.contains("bad.json:2:9: invalid type: integer `3`, expected a sequence"), "{e}");
    }

    #[test]
    fn carving_is_stratified_and_deterministic() {
        let mut data = TrainingData::default();
        for (intent, n) in [("a", 40), ("b", 11), ("c", 2), ("d", 1)] {
            for i in 0..n {
                data.examples.push(example(format!("{intent}{i}"), intent, Vec::new(), "en", None));
            }
        }
        let (train, valid) = carve_validation(data.clone(), 0.1, 7);
        let count = |d: &TrainingData, i: &str| d.examples_of(Some(i)).count();
        assert_eq!([count(&valid, "a"), count(&valid, "b"), count(&valid, "c"), count(&valid, "d")], [4, 1, 1, 0]);
        assert_eq!(train.len() + valid.len(), 54);
        assert_eq!(carve_validation(data.clone(), 0.1, 7), (train.clone(), valid.clone()));
        assert_ne!(carve_validation(data, 0.1, 8).1, valid);
        // Original order is kept within both parts.
        let positions: Vec<usize> = train
            .examples
            .iter()
            .filter(|e| e.intent.as_deref() == Some("a"))
            .map(|e| e.text[1..].parse().unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn banking_layout() {
        let dir = tempfile::tempdir().unwrap();
        let mut train = String::from("text,category\n");
        for i in 0..20 {
            train.push_str(&format!("\"card [{i}], please\",card_arrival\n"));
        }
        write(dir.path(), "train.csv", &train);
        write(dir.path(), "test.csv", "text,category\nwhere is my card?,card_arrival\n");
        let splits = banking77(dir.path()).unwrap();
        assert_eq!((splits.train.len(), splits.valid.as_ref().unwrap().len(), splits.test.len()), (18, 2, 1));
        assert_eq!(splits.train.examples[0].text, "card [0], please");
    }

    #[test]
    fn snips_layout_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        for split in ["train", "valid", "test"] {
            write(dir.path(), &format!("{split}/seq.in"), "play daft punk \nadd it\n");
            write(dir.path(), &format!("{split}/seq.out"), "O B-artist I-artist \nO O\n");
            write(dir.path(), &format!("{split}/label"), "PlayMusic\nAddToPlaylist\n");
        }
        let splits = snips(dir.path()).unwrap();
        let first = &splits.train.examples[0];
        assert_eq!(first.text, "play daft punk");
        assert_eq!(spans(first), [("artist", "daft punk")]);
        assert_eq!(first.source.as_ref().unwrap().line, 1);
        assert_eq!(splits.test.examples[1].intent.as_deref(), Some("AddToPlaylist"));

        write(dir.path(), "test/seq.out", "O B-artist I-artist\nO  Q-x\n");
        let e = snips(dir.path()).unwrap_err().to_string();
        assert!(e.ends_with("test/seq.out:2:4: invalid tag `Q-x`: expected `O`, `B-type` or `I-type`"), "{e}");
        write(dir.path(), "test/seq.out", "O B-artist I-artist\nO\n");
        let e = snips(dir.path()).unwrap_err().to_string();
        assert!(e.ends_with("test/seq.out:2: 1 tags for 2 tokens"), "{e}");
        write(dir.path(), "test/label", "PlayMusic\n");
        let e = snips(dir.path()).unwrap_err().to_string();
        assert!(e.contains("seq.in:2: seq.in has 2 lines but label has 1: the files must be line-aligned"), "{e}");
    }

    #[test]
    fn xsid_layout_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "train.en.txt", "rain in half moon bay\nrain in half moon bay\nwake me up\nis it cold\n");
        write(
            dir.path(),
            "train.en.labels",
            "B-w O B-loc I-loc I-loc\tweather/find\nB-w O B-loc I-loc I-loc\tweather/find\nO O O\tAddToPlaylist\nO O B-t\tGetWeather\n",
        );
        write(
            dir.path(),
            "de.valid.conll",
            "# id = 1\n# text-en = rain today?\n# text = Regnet es heute?\n# intent = weather/find\n1\tRegnet\tweather/find\tB-weather/attribute\n2\tes\tweather/find\tO\n3\theute\tweather/find\tB-datetime\n4\t?\tweather/find\tO\n\n\n# text = hallo\n# intent = greet\n1\thallo\tgreet\tO\n",
        );
        write(dir.path(), "en.valid.conll", "# text = hi\n# slots: 0:2:x\n1\thi\tgreet\tB-x\n");
        let splits = xsid(dir.path()).unwrap();
        assert_eq!(splits.train.len(), 3);
        assert_eq!(
            splits.train.examples[2].intent.as_deref(),
            Some("weather/find"),
            "SNIPS's GetWeather joins weather/find"
        );
        assert_eq!(splits.train.examples[1].source.as_ref().unwrap().line, 3);
        assert_eq!(spans(&splits.train.examples[0]), [("w", "rain"), ("loc", "half moon bay")]);
        assert_eq!(splits.test_by_language.keys().collect::<Vec<_>>(), ["de", "en"]);
        let de = &splits.test_by_language["de"].examples;
        assert_eq!(de.len(), 2);
        assert_eq!(de[0].text, "Regnet es heute ?");
        assert_eq!(de[0].intent.as_deref(), Some("weather/find"));
        assert_eq!(de[0].language.as_deref(), Some("de"));
        assert_eq!(spans(&de[0]), [("weather/attribute", "Regnet"), ("datetime", "heute")]);
        assert_eq!(de[1].source.as_ref().unwrap().line, 11);
        assert_eq!(splits.test.examples[0].intent.as_deref(), Some("greet"));
        assert!(splits.valid.is_none());
        let it = read_conll_file(dir.path().join("de.valid.conll"), "it").unwrap();
        assert_eq!(it.examples[1].language.as_deref(), Some("it"));

        write(dir.path(), "en.valid.conll", "# text = hi\n1\thi\tgreet\n");
        let e = xsid(dir.path()).unwrap_err().to_string();
        assert!(
            e.ends_with("en.valid.conll:2: expected 4 tab-separated columns `index token intent slot`, found 3"),
            "{e}"
        );
        write(dir.path(), "en.valid.conll", "# text = hi\n1\thi\tgreet\tI-\n");
        let e = xsid(dir.path()).unwrap_err().to_string();
        assert!(e.ends_with("en.valid.conll:2:12: invalid tag `I-`: expected `O`, `B-type` or `I-type`"), "{e}");
        write(dir.path(), "en.valid.conll", "# text = hi\n\n1\thi\tgreet\tO\n");
        let e = xsid(dir.path()).unwrap_err().to_string();
        assert!(e.ends_with("en.valid.conll:1: a sentence block without token rows\n  hint: separate sentences with one blank line; every sentence needs its token rows"), "{e}");
        write(dir.path(), "train.en.txt", "a b c d e\nx y z\n");
        write(dir.path(), "train.en.labels", "O O O O O\tweather/find\nO O O\n");
        let e = xsid(dir.path()).unwrap_err().to_string();
        assert!(e.contains("train.en.labels:2: expected `BIO tags<TAB>intent`"), "{e}");
        assert!(load("nope", dir.path()).unwrap_err().to_string().contains("known: clinc150, banking77, snips, xsid"));
    }

    /// The shared benchmark copies, when this machine has them (`ENTENDU_DATASETS` or
    /// `../shared/datasets` next to the crate).
    fn datasets(name: &str) -> Option<PathBuf> {
        let root = std::env::var_os("ENTENDU_DATASETS")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"));
        let dir = root.join(name);
        if dir.is_dir() {
            Some(dir)
        } else {
            println!("skipped: {} not found (set ENTENDU_DATASETS)", dir.display());
            None
        }
    }

    fn intents(d: &TrainingData) -> usize {
        d.intent_names().len()
    }

    fn assert_spans_hold(d: &TrainingData) {
        for e in &d.examples {
            for a in &e.entities {
                assert_eq!(e.text.get(a.start..a.end), Some(a.text.as_str()), "{:?}", e.source);
            }
        }
    }

    #[test]
    fn real_clinc150() {
        let Some(dir) = datasets("clinc150") else {
            return;
        };
        let s = clinc150(&dir).unwrap();
        let valid = s.valid.as_ref().unwrap();
        assert_eq!((s.train.len(), valid.len(), s.test.len()), (15_100, 3_100, 5_500));
        let oos = |d: &TrainingData| d.examples_of(None).count();
        assert_eq!((oos(&s.train), oos(valid), oos(&s.test)), (100, 100, 1_000));
        assert_eq!((intents(&s.train), intents(valid), intents(&s.test)), (150, 150, 150));
        assert_round_trips(&s.train);
    }

    #[test]
    fn real_banking77() {
        let Some(dir) = datasets("banking77") else {
            return;
        };
        let s = banking77(&dir).unwrap();
        let valid = s.valid.as_ref().unwrap();
        assert_eq!(s.train.len() + valid.len(), 10_003);
        assert!((990..=1010).contains(&valid.len()), "{}", valid.len());
        assert_eq!(s.test.len(), 3_080);
        assert_eq!((intents(&s.train), intents(valid), intents(&s.test)), (77, 77, 77));
        assert!(!s.train.has_out_of_scope());
        assert_eq!(banking77(&dir).unwrap(), s);
    }

    #[test]
    fn real_snips() {
        let Some(dir) = datasets("snips") else { return };
        let s = snips(&dir).unwrap();
        let valid = s.valid.as_ref().unwrap();
        assert_eq!((s.train.len(), valid.len(), s.test.len()), (13_084, 700, 700));
        assert_eq!((intents(&s.train), intents(valid), intents(&s.test)), (7, 7, 7));
        let types: HashSet<&str> =
            s.train.examples.iter().flat_map(|e| e.entities.iter().map(|a| a.entity.as_str())).collect();
        assert_eq!(types.len(), 39);
        assert_spans_hold(&s.train);
        let first = &s.train.examples[0];
        assert_eq!(first.text, "listen to westbam alumb allergic on google music");
        assert_eq!(spans(first), [("artist", "westbam"), ("album", "allergic"), ("service", "google music")]);
    }

    #[test]
    fn real_xsid() {
        let Some(dir) = datasets("xsid") else { return };
        let s = xsid(&dir).unwrap();
        assert_eq!(s.train.len(), 35_915);
        assert_eq!(s.test_by_language.keys().collect::<Vec<_>>(), ["da", "de", "en", "it", "nl"]);
        for (language, d) in &s.test_by_language {
            assert_eq!(d.len(), 300, "{language}");
            assert!(d.examples.iter().all(|e| e.language.as_deref() == Some(language.as_str())));
            assert_spans_hold(d);
        }
        assert_eq!(s.test.len(), 300);
        let names = s.train.intent_names();
        assert!(names.contains(&"weather/find") && !names.contains(&"GetWeather"), "{names:?}");
        assert_spans_hold(&s.train);
        let first = &s.train.examples[0];
        assert_eq!(first.text, "tell me the weather report for half moon bay");
        assert_eq!(spans(first), [("location", "half moon bay")]);
        assert_round_trips(&s.train);
    }

    /// Real data at scale through `to_yaml` and back: same examples, each found on its line.
    fn assert_round_trips(data: &TrainingData) {
        let started = std::time::Instant::now();
        let yaml = data.to_yaml();
        let back = crate::data::yaml::read_str(&yaml, "round-trip.yml").unwrap();
        println!("{} examples written and read back in {:?}", data.len(), started.elapsed());
        let mut expected: Vec<Example> = data.examples.iter().cloned().map(|e| Example { source: None, ..e }).collect();
        let mut got: Vec<Example> = back.examples.iter().cloned().map(|e| Example { source: None, ..e }).collect();
        let key = |e: &Example| (e.intent.clone(), e.text.clone(), format!("{:?}", e.entities));
        expected.sort_by_key(key);
        got.sort_by_key(key);
        assert_eq!(got, expected);
        let lines: Vec<usize> = back.examples.iter().map(|e| e.source.as_ref().unwrap().line).collect();
        assert!(lines.windows(2).all(|w| w[0] < w[1]));
    }
}
