//! Runs `builtin_entities.tsv` through `extract` and reports pass rates per language and
//! per entity type. Fails if any language of the main section is below 95% exact
//! (entity type + matched text + value). Lines after the `# === extra` marker were written
//! after the implementation, to measure generalisation; they are reported separately.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use entendu::entity::builtin::{extract, BuiltinOptions, Lang};
use serde_json::Value;

/// The data file: `tests/builtin_entities.tsv` in the main crate, `builtin_entities.tsv`
/// at the root of the scratch crate.
fn data() -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    ["tests/builtin_entities.tsv", "builtin_entities.tsv"]
        .iter()
        .find_map(|p| std::fs::read_to_string(format!("{root}/{p}")).ok())
        .expect("builtin_entities.tsv in tests/ or at the crate root")
}

struct Case {
    line: usize,
    lang: Lang,
    entity: String,
    input: String,
    text: Option<String>,
    value: Value,
    extra: bool,
}

fn parse() -> (NaiveDateTime, Vec<Case>) {
    let mut reference = None;
    let mut cases = Vec::new();
    let mut extra = false;
    let data = data();
    for (i, line) in data.lines().enumerate() {
        if let Some(r) = line.strip_prefix("# reference:") {
            reference = NaiveDateTime::parse_from_str(r.trim(), "%Y-%m-%dT%H:%M:%S").ok();
            continue;
        }
        if line.starts_with("# === extra") {
            extra = true;
            continue;
        }
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 5, "line {}: {line:?}", i + 1);
        let lang = Lang::from_code(cols[0]).unwrap_or_else(|| panic!("line {}: lang", i + 1));
        let value: Value =
            serde_json::from_str(cols[4]).unwrap_or_else(|e| panic!("line {}: bad JSON {:?}: {e}", i + 1, cols[4]));
        cases.push(Case {
            line: i + 1,
            lang,
            entity: cols[1].to_string(),
            input: cols[2].to_string(),
            text: (cols[3] != "-").then(|| cols[3].to_string()),
            value,
            extra,
        });
    }
    (reference.expect("a '# reference:' header line"), cases)
}

/// JSON equality with numbers compared as floats (20 == 20.0).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() < 1e-9,
            _ => false,
        },
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w)),
        _ => a == b,
    }
}

fn region(lang: Lang) -> &'static str {
    match lang {
        Lang::Fr => "FR",
        Lang::En => "US",
        Lang::Es => "ES",
        Lang::De => "DE",
    }
}

/// Whether `case` passes with the given language list (empty: guess).
fn passes(case: &Case, reference: NaiveDateTime, languages: Vec<Lang>) -> (bool, String) {
    let options = BuiltinOptions::new(reference).with_languages(languages).with_phone_region(region(case.lang));
    let found = extract(&case.input, &options);
    let ok = match &case.text {
        Some(t) => found.iter().any(|m| m.entity == case.entity && &m.text == t && same(&m.value, &case.value)),
        None => !found.iter().any(|m| m.entity == case.entity),
    };
    let got: Vec<String> = found.iter().map(|m| format!("{}:{:?}={}", m.entity, m.text, m.value)).collect();
    (ok, got.join(", "))
}

#[derive(Default)]
struct Tally {
    pass: usize,
    total: usize,
}

impl Tally {
    fn add(&mut self, ok: bool) {
        self.total += 1;
        self.pass += usize::from(ok);
    }
    fn rate(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.pass as f64 / self.total as f64
        }
    }
}

fn report(title: &str, t: &BTreeMap<String, Tally>) {
    println!("{title}");
    for (k, v) in t {
        println!("  {k:<16} {:>3}/{:<3} {:>6.1}%", v.pass, v.total, 100.0 * v.rate());
    }
}

#[test]
fn builtin_entities_tsv() {
    let (reference, cases) = parse();
    let mut by_lang: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_entity: BTreeMap<String, Tally> = BTreeMap::new();
    let mut extra_by_lang: BTreeMap<String, Tally> = BTreeMap::new();
    let mut auto: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut auto_failures = Vec::new();
    for c in &cases {
        let (ok, got) = passes(c, reference, vec![c.lang]);
        let (auto_ok, auto_got) = passes(c, reference, Vec::new());
        if !auto_ok && !c.extra {
            auto_failures.push(format!("  line {} {:?}: got [{auto_got}]", c.line, c.input));
        }
        let lang = c.lang.code().to_string();
        if c.extra {
            extra_by_lang.entry(lang.clone()).or_default().add(ok);
            extra_by_lang.entry("all".into()).or_default().add(ok);
        } else {
            by_lang.entry(lang.clone()).or_default().add(ok);
            by_entity.entry(c.entity.clone()).or_default().add(ok);
            by_lang.entry("all".into()).or_default().add(ok);
            auto.entry(lang.clone()).or_default().add(auto_ok);
            auto.entry("all".into()).or_default().add(auto_ok);
        }
        if !ok {
            failures.push(format!(
                "  line {} [{}{}] {} {:?}: expected {:?} = {}; got [{}]",
                c.line,
                lang,
                if c.extra { ", extra" } else { "" },
                c.entity,
                c.input,
                c.text.as_deref().unwrap_or("-"),
                c.value,
                got
            ));
        }
    }
    report("main section, per language:", &by_lang);
    report("main section, per entity:", &by_entity);
    report("main section, languages guessed (options.languages empty):", &auto);
    report("extra sentences written after the implementation:", &extra_by_lang);
    if !auto_failures.is_empty() {
        println!("failures with guessed languages:\n{}", auto_failures.join("\n"));
    }
    if !failures.is_empty() {
        println!("failures:\n{}", failures.join("\n"));
    }
    for (lang, t) in &by_lang {
        assert!(t.total >= 70 || lang == "all", "{lang}: only {} lines", t.total);
        assert!(t.rate() >= 0.95, "{lang}: {:.1}% < 95% exact on the main section", 100.0 * t.rate());
    }
}
