//! Reliability: any text in, a `Parse` out, with entity offsets on character boundaries of the
//! input; NFC and NFD parse the same; threads and hot reload; a save that fails half-way
//! (crash or full disk) leaves the previous model; damaged artifacts are refused.
//! On the tiny random encoder, except one real-encoder test.

mod common;

use common::tiny_encoder;
use entendu::data::{EntityDeclaration, Example, TrainingData};
use entendu::intent::Decision;
use entendu::{Encoder, Error, Nlu, Parse, ParseOptions, SharedNlu, TrainConfig};
use proptest::prelude::*;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use unicode_normalization::UnicodeNormalization;

fn example(text: &str, intent: &str) -> Example {
    Example {
        text: text.to_string(),
        intent: Some(intent.to_string()),
        entities: Vec::new(),
        language: Some("fr".into()),
        signals: Vec::new(),
        source: None,
    }
}

/// Three intents and declared entities (regex, lookup with accents, fuzzy synonyms), so the
/// parse path runs every extractor.
fn data(intents: usize) -> TrainingData {
    let base =
        [("track_order", "où est mon colis"), ("refund", "je veux un remboursement"), ("greeting", "bonjour à vous")];
    let mut examples = Vec::new();
    for i in 0..6 {
        for (intent, text) in base {
            examples.push(example(&format!("{text} {i}"), intent));
        }
        for k in 3..intents {
            examples.push(example(&format!("intention {k} numéro {i}"), &format!("intent_{k}")));
        }
    }
    let mut synonyms = std::collections::BTreeMap::new();
    synonyms.insert("carte bancaire".to_string(), vec!["CB".to_string(), "carte bleue".to_string()]);
    let entities = vec![
        EntityDeclaration { name: "order_id".into(), regexes: vec![r"\b\d{5}\b".into()], ..Default::default() },
        EntityDeclaration {
            name: "payment_method".into(),
            lookup: vec!["espèces".into(), "crédit".into()],
            synonyms,
            fuzzy: Some(0.8),
            ..Default::default()
        },
        EntityDeclaration {
            name: "ville".into(), regexes: vec!["(?i)Orléans|Besançon".into()], ..Default::default()
        },
    ];
    TrainingData { examples, entities, ..Default::default() }
}

fn train(encoder: Arc<Encoder>, intents: usize, seed: u64) -> Nlu {
    let config = TrainConfig { seed, ..TrainConfig::default() };
    Nlu::train_with_encoder(encoder, &data(intents), None, &config, &mut |_, _, _| {}).unwrap()
}

/// One tiny model for the whole file (training it takes a moment, parsing a millisecond).
fn model() -> &'static Nlu {
    static MODEL: OnceLock<(tempfile::TempDir, Nlu)> = OnceLock::new();
    let (_dir, nlu) = MODEL.get_or_init(|| {
        let (dir, encoder) = tiny_encoder(21);
        let nlu = train(Arc::new(encoder), 3, 1);
        (dir, nlu)
    });
    nlu
}

/// A fixed reference time: relative dates must not depend on the clock.
fn options() -> ParseOptions {
    let reference = chrono::NaiveDate::from_ymd_opt(2026, 3, 14).and_then(|d| d.and_hms_opt(10, 30, 0));
    ParseOptions { reference_time: reference, ..Default::default() }
}

/// What every parse promises: it is of the text given, the entities quote it exactly, on
/// character boundaries, sorted and without overlap.
fn check(text: &str, parse: &Parse) {
    assert_eq!(parse.text, text);
    let mut previous_end = 0;
    for e in &parse.entities {
        assert!(e.start < e.end, "empty entity {e:?} in {text:?}");
        assert!(e.start >= previous_end, "overlapping or unsorted entities in {text:?}: {:?}", parse.entities);
        assert!(text.is_char_boundary(e.start) && text.is_char_boundary(e.end), "{e:?} splits a character of {text:?}");
        assert_eq!(text.get(e.start..e.end), Some(e.text.as_str()), "{e:?} does not quote {text:?}");
        previous_end = e.end;
    }
    if text.trim().is_empty() {
        assert_eq!(parse.decision, Decision::Empty);
    }
    if parse.decision == Decision::Empty {
        assert!(parse.ranking.is_empty() && parse.entities.is_empty(), "{parse:?}");
        assert!(!text.chars().any(char::is_alphanumeric), "{text:?} is not empty");
    } else {
        assert!(!parse.ranking.is_empty(), "no ranking for {text:?}");
        assert!(parse.ranking.iter().all(|s| s.confidence.is_finite()), "{:?}", parse.ranking);
    }
}

/// Inputs a public chat window receives sooner or later.
fn hostile_inputs() -> Vec<String> {
    let mut inputs: Vec<String> = [
        "",
        " ",
        "   \t\n\r ",
        "\u{a0}\u{2009}\u{3000}",
        "\0",
        "commande\0 12345\0",
        "\x01\x02\x7f control \x1b[31mred\x1b[0m",
        "\u{200b}\u{200b}",
        "\u{200b}colis\u{200c}\u{200d}12345\u{2060}",
        "\u{feff}bonjour",
        "\u{202e}evil bidi\u{202c} commande 12345",
        "\u{2066}\u{2067}\u{2068}\u{2069}\u{200e}\u{200f}",
        "e\u{301}te\u{301} (NFD) colis",
        "\u{301}\u{301}\u{301}",
        "a\u{301}\u{302}\u{303}\u{304}\u{305}\u{306}\u{307}\u{308}\u{309}\u{30a}",
        "Z\u{351}\u{35b}\u{36b}\u{34b}a\u{36b}\u{352}l\u{35e}g\u{35c}o\u{346}",
        "😀😀😀",
        "👩‍👩‍👧‍👦🏳️‍🌈🇫🇷",
        "ğüşçö Привет 你好 مرحبا שלום नमस्ते こんにちは 안녕하세요",
        "\u{fffd}\u{fffe}\u{ffff}",
        "\u{e000}\u{f8ff}\u{f0000}\u{10fffd}",
        "order #99999999999999999999999999999999",
        "12345678901234567890 € 1e308 -0 NaN inf",
        "[12345](order_id) {\"entity\": \"x\"} <script>alert(1)</script>",
        "payé par CB à Besançon, livraison à Orle\u{301}ans le 3 mars 2026 à 14h",
        "mail: a@b.fr, tél +33 6 12 34 56 78, https://example.com/x?y=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    inputs.push("a".repeat(100_000));
    inputs.push("où est mon colis ? ".repeat(6_000));
    inputs.push("😀".repeat(500));
    inputs.push(format!("order #{}", "9".repeat(5_000)));
    inputs.push("1 ".repeat(20_000));
    inputs.push("e\u{301}".repeat(10_000));
    inputs.push("\u{200b}".repeat(50_000));
    // One character from every Unicode plane, assigned or not.
    inputs.push((0..=16u32).filter_map(|plane| char::from_u32(plane << 16 | 0x41)).collect());
    inputs
}

#[test]
fn any_hostile_text_gives_a_parse_with_offsets_on_char_boundaries() {
    let nlu = model();
    for text in hostile_inputs() {
        let started = std::time::Instant::now();
        let parse = nlu.parse_with(&text, &options()).unwrap_or_else(|e| panic!("{:?}…: {e}", preview(&text)));
        check(&text, &parse);
        assert!(started.elapsed().as_secs() < 5, "{:?}… took {:?}", preview(&text), started.elapsed());
    }
    // A batch of all of them gives the same as one by one.
    let texts = hostile_inputs();
    let batch = nlu.parse_batch_with(&texts, &options()).unwrap();
    for (text, parse) in texts.iter().zip(&batch) {
        assert_eq!(parse.entities, nlu.parse_with(text, &options()).unwrap().entities, "{:?}", preview(text));
        check(text, parse);
    }
}

#[test]
fn text_that_shows_nothing_is_empty_not_a_guess() {
    for text in
        ["\u{200b}\u{200b}", "\u{feff}", "\u{202e}\u{202c}", "\0\x01\x02\x7f", " \u{2066}\u{2069}\u{200e} ", "\u{ad}"]
    {
        let parse = model().parse_with(text, &options()).unwrap();
        assert_eq!(parse.decision, Decision::Empty, "{text:?}");
        assert_eq!(parse.text, text);
    }
    assert_ne!(model().parse_with("\u{200b}colis", &options()).unwrap().decision, Decision::Empty);
}

fn preview(text: &str) -> String {
    text.chars().take(40).collect()
}

/// Whether two parses of the same words, written in two Unicode forms, agree: same decision,
/// ranking and signals; the same entities, quoting the same words in each form.
fn assert_same_understanding(a: &Parse, b: &Parse) {
    assert_eq!(a.decision, b.decision, "{:?} vs {:?}", a.text, b.text);
    assert_eq!(a.ranking, b.ranking, "{:?} vs {:?}", a.text, b.text);
    assert_eq!(a.signals, b.signals, "{:?} vs {:?}", a.text, b.text);
    let key = |p: &Parse| -> Vec<(String, String, serde_json::Value, String)> {
        p.entities
            .iter()
            .map(|e| (e.entity.clone(), e.text.nfc().collect(), e.value.clone(), e.extractor.clone()))
            .collect()
    };
    assert_eq!(key(a), key(b), "{:?} vs {:?}", a.text, b.text);
}

#[test]
fn nfc_and_nfd_parse_the_same_and_offsets_point_into_the_input() {
    let nlu = model();
    for text in [
        "payé en espèces à Orléans, crédit refusé",
        "ma commande 12345 : remboursement par carte bleue à Besançon",
        "été, noël, où est mon colis ?",
        "réveillez-moi le 3 février à 7h",
    ] {
        let nfc: String = text.nfc().collect();
        let nfd: String = text.nfd().collect();
        assert_ne!(nfc, nfd);
        let (a, b) = (nlu.parse_with(&nfc, &options()).unwrap(), nlu.parse_with(&nfd, &options()).unwrap());
        check(&nfc, &a);
        check(&nfd, &b);
        assert_same_understanding(&a, &b);
    }
    // The decomposed input's entities are found, in the decomposed text.
    let nfd: String = "payé en espèces à Orléans".nfd().collect();
    let parse = nlu.parse_with(&nfd, &options()).unwrap();
    let found: Vec<&str> = parse.entities.iter().map(|e| e.entity.as_str()).collect();
    assert!(found.contains(&"payment_method") && found.contains(&"ville"), "{:?}", parse.entities);
    assert!(parse.entities.iter().any(|e| e.text == "Orle\u{301}ans"), "{:?}", parse.entities);
}

#[test]
fn nfc_and_nfd_parse_the_same_on_the_real_encoder() {
    let Some(encoder) = common::real_encoder("multilingual-e5-small") else { return };
    let nlu = train(encoder, 3, 1);
    for text in
        ["payé en espèces à Orléans", "où est mon colis 12345 ? je suis très déçu", "Ça coûte 12,50 € à Besançon"]
    {
        let nfc: String = text.nfc().collect();
        let nfd: String = text.nfd().collect();
        let (a, b) = (nlu.parse_with(&nfc, &options()).unwrap(), nlu.parse_with(&nfd, &options()).unwrap());
        check(&nfd, &b);
        assert_same_understanding(&a, &b);
    }
}

/// Characters that break naive text code, mixed with words the tiny model knows.
fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => any::<char>().prop_map(|c| c.to_string()),
        2 => prop::sample::select(vec![
            " ", "  ", "\t", "\n", "\0", "\u{200b}", "\u{200d}", "\u{202e}", "\u{feff}", "\u{301}", "\u{308}",
            "e\u{301}", "é", "ß", "İ", "😀", "👩‍👧", "🇫🇷", "€", "@", ".", ",", "-", "'", "’", "#", "[", "](",
        ])
        .prop_map(str::to_string),
        3 => prop::sample::select(vec![
            "où", "est", "mon", "colis", "commande", "remboursement", "bonjour", "12345", "3", "mars", "demain",
            "14h", "CB", "carte", "bleue", "espèces", "Orléans", "a@b.fr", "+33612345678", "20", "euros",
        ])
        .prop_map(str::to_string),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_text_parses_with_entities_on_char_boundaries(text in tricky_text()) {
        let parse = model().parse_with(&text, &options()).unwrap();
        check(&text, &parse);
    }

    #[test]
    fn arbitrary_unicode_parses(text in any::<String>()) {
        let parse = model().parse_with(&text, &options()).unwrap();
        check(&text, &parse);
    }

    #[test]
    fn nfd_parses_like_nfc(text in tricky_text()) {
        let nfc: String = text.nfc().collect();
        let nfd: String = text.nfd().collect();
        let a = model().parse_with(&nfc, &options()).unwrap();
        let b = model().parse_with(&nfd, &options()).unwrap();
        check(&nfd, &b);
        assert_same_understanding(&a, &b);
    }
}

#[test]
fn nlu_and_shared_nlu_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Nlu>();
    assert_send_sync::<SharedNlu>();
}

#[test]
fn eight_threads_get_exactly_the_sequential_results() {
    let nlu = model();
    let texts: Vec<String> = hostile_inputs().into_iter().filter(|t| t.len() < 1000).collect();
    let expected: Vec<Parse> = texts.iter().map(|t| nlu.parse_with(t, &options()).unwrap()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|k| {
                let texts = &texts;
                // Each thread goes through the texts from its own starting point, so different
                // texts are in flight at the same time.
                scope.spawn(move || {
                    (0..texts.len())
                        .map(|i| {
                            let j = (i + k * 3) % texts.len();
                            (j, nlu.parse_with(&texts[j], &options()).unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (j, parse) in h.join().unwrap() {
                assert_eq!(parse, expected[j]);
            }
        }
    });
}

#[test]
fn a_model_swapped_while_threads_parse_never_fails_a_call() {
    let (_enc_dir, encoder) = tiny_encoder(22);
    let encoder = Arc::new(encoder);
    let first = train(encoder.clone(), 3, 1);
    let second = train(encoder.clone(), 5, 2);
    let out = tempfile::tempdir().unwrap();
    let (first_dir, second_dir) = (out.path().join("first"), out.path().join("second"));
    first.save(&first_dir).unwrap();
    second.save(&second_dir).unwrap();
    let texts = ["où est mon colis 12345", "remboursement par CB", "bonjour", "intention 4 numéro 2"];
    let expect_first: Vec<Parse> = texts.iter().map(|t| first.parse_with(t, &options()).unwrap()).collect();
    let expect_second: Vec<Parse> = texts.iter().map(|t| second.parse_with(t, &options()).unwrap()).collect();
    assert_ne!(expect_first, expect_second, "the two models must be told apart");

    let shared = SharedNlu::new(first);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|k| {
                let (shared, done, texts) = (&shared, &done, &texts);
                let (expect_first, expect_second) = (&expect_first, &expect_second);
                scope.spawn(move || {
                    let mut calls = 0usize;
                    while !done.load(std::sync::atomic::Ordering::Relaxed) || calls < 20 {
                        let j = (calls + k) % texts.len();
                        let parse = shared.parse_with(texts[j], &options()).expect("a call failed during a swap");
                        assert!(parse == expect_first[j] || parse == expect_second[j], "a parse from neither model");
                        calls += 1;
                    }
                    calls
                })
            })
            .collect();
        for round in 0..30 {
            // Reloads from disk (the way a bot picks up a retrained model), and a failed reload
            // that must leave the model in force.
            shared.reload(if round % 2 == 0 { &second_dir } else { &first_dir }).unwrap();
            assert!(shared.reload(out.path().join("missing")).is_err());
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let calls: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert!(calls >= 160, "{calls}");
    });
    // 30 reloads, alternating, end on the first model.
    let now: Vec<Parse> = texts.iter().map(|t| shared.parse_with(t, &options()).unwrap()).collect();
    assert_eq!(now, expect_first);
    let previous = shared.replace(train(encoder, 5, 2));
    assert_eq!(previous.parse_with(texts[0], &options()).unwrap(), expect_first[0]);
    assert_eq!(shared.parse_with(texts[0], &options()).unwrap(), expect_second[0]);
}

// ---- Saving that fails half-way -------------------------------------------------------------

/// Environment of the child process that saves under a file-size limit (see `save_child`).
const CHILD_ENV: &str = "ENTENDU_TEST_SAVE_CHILD";

/// Not a test on its own: the body of the child process of the two tests below. It loads the
/// model in `$ENTENDU_TEST_SAVE_CHILD/source` and saves it over `…/target`, under the file-size
/// limit its parent set, so the save fails while writing.
#[test]
fn save_child() {
    let Ok(root) = std::env::var(CHILD_ENV) else { return };
    let root = Path::new(&root);
    let encoder = Arc::new(Encoder::from_dir(root.join("encoder")).unwrap());
    let nlu = Nlu::load_with_encoder(root.join("source"), encoder).unwrap();
    match nlu.save(root.join("target")) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("save failed: {e}");
            std::process::exit(3)
        }
    }
}

/// Saves model B over model A in a child process whose files cannot grow past 1 KiB, then
/// checks that A is still there, whole, and loads. `crash`: the child is killed by SIGXFSZ
/// mid-write (like a crash or a kill); otherwise writes fail with EFBIG (like a full disk).
fn interrupted_save(crash: bool) {
    let root = tempfile::tempdir().unwrap();
    entendu::testing::write_tiny_encoder(&root.path().join("encoder"), 23).unwrap();
    let encoder = Arc::new(Encoder::from_dir(root.path().join("encoder")).unwrap());
    let a = train(encoder.clone(), 3, 1);
    a.save(root.path().join("target")).unwrap();
    // B has more intents than A: a weight file of several KiB, written past the limit.
    train(encoder.clone(), 40, 2).save(root.path().join("source")).unwrap();
    let weights = std::fs::metadata(root.path().join("source/weights.safetensors")).unwrap().len();
    assert!(weights > 4096, "{weights}");
    let before: Vec<(String, Vec<u8>)> = files(&root.path().join("target"));

    let script =
        format!("ulimit -f 1; {} exec \"$0\" --exact save_child --nocapture", if crash { "" } else { "trap '' XFSZ;" });
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(std::env::current_exe().unwrap())
        .env(CHILD_ENV, root.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if crash {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            output.status.signal(),
            Some(25),
            "the child was not killed by SIGXFSZ: {:?} {stderr}",
            output.status
        );
    } else {
        assert_eq!(output.status.code(), Some(3), "the save did not fail: {:?} {stderr}", output.status);
        assert!(stderr.contains("save failed"), "{stderr}");
    }
    assert_eq!(files(&root.path().join("target")), before, "the previous model changed");
    let loaded = Nlu::load_with_encoder(root.path().join("target"), encoder).unwrap();
    assert_eq!(loaded.parse_with("bonjour", &options()).unwrap(), a.parse_with("bonjour", &options()).unwrap());
    if !crash {
        let leftovers: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "a failed save left {leftovers:?}");
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_crash_mid_save_leaves_the_previous_model_intact() {
    interrupted_save(true);
}

#[test]
fn a_full_disk_mid_save_leaves_the_previous_model_intact() {
    interrupted_save(false);
}

// ---- Damaged artifacts ----------------------------------------------------------------------

#[test]
fn every_truncation_and_bit_flip_of_the_weights_is_refused_clearly() {
    let nlu = model();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("m");
    nlu.save(&dir).unwrap();
    let weights = dir.join("weights.safetensors");
    let good = std::fs::read(&weights).unwrap();
    let encoder = nlu.encoder().clone();
    let mut damaged: Vec<Vec<u8>> = Vec::new();
    for at in [0, 1, 7, 8, 9, good.len() / 3, good.len() / 2, good.len() - 1] {
        damaged.push(good[..at].to_vec());
        let mut flipped = good.clone();
        flipped[at] ^= 0x01;
        damaged.push(flipped);
    }
    let mut longer = good.clone();
    longer.extend_from_slice(b"\0\0\0\0");
    damaged.push(longer);
    for bytes in damaged {
        std::fs::write(&weights, &bytes).unwrap();
        let err = Nlu::load_with_encoder(&dir, encoder.clone()).err().expect("a damaged weight file was accepted");
        assert!(matches!(err, Error::Artifact { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("checksum mismatch") && message.contains("train the model again"), "{message}");
    }
    std::fs::remove_file(&weights).unwrap();
    let err = Nlu::load_with_encoder(&dir, encoder.clone()).err().unwrap();
    assert!(err.to_string().contains("weights.safetensors"), "{err}");
    std::fs::write(&weights, &good).unwrap();
    Nlu::load_with_encoder(&dir, encoder).unwrap();
}

#[test]
fn a_damaged_or_foreign_manifest_is_refused_clearly() {
    let nlu = model();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("m");
    nlu.save(&dir).unwrap();
    let manifest = dir.join("manifest.json");
    let good = std::fs::read_to_string(&manifest).unwrap();
    let encoder = nlu.encoder().clone();
    let refused = |text: &str| -> String {
        std::fs::write(&manifest, text).unwrap();
        let err = Nlu::load_with_encoder(&dir, encoder.clone()).err().expect("a damaged manifest was accepted");
        err.to_string()
    };
    let message = refused(&good[..good.len() / 2]);
    assert!(message.contains("not valid JSON") && message.contains("train it again"), "{message}");
    let message = refused("");
    assert!(message.contains("manifest.json"), "{message}");
    let newer = entendu::model::FORMAT_VERSION + 1;
    let current = format!("\"format_version\": {}", entendu::model::FORMAT_VERSION);
    let message = refused(&good.replace(&current, &format!("\"format_version\": {newer}")));
    assert!(message.contains(&format!("format version {newer},")) && message.contains("retrain"), "{message}");
    let value: serde_json::Value = serde_json::from_str(&good).unwrap();
    let sha = value["files"]["weights.safetensors"].as_str().unwrap();
    let message = refused(&good.replace(sha, &"0".repeat(64)));
    assert!(message.contains("checksum mismatch"), "{message}");
    let encoder_sha = value["encoder"]["weights_sha256"].as_str().unwrap();
    let message = refused(&good.replace(encoder_sha, &"f".repeat(64)));
    assert!(message.contains("retrain it for this encoder"), "{message}");
    // Every file the manifest lists is verified, and only files of the model directory.
    let listing = |name: &str, sha: &str| {
        let mut v = value.clone();
        v["files"][name] = serde_json::Value::String(sha.to_string());
        serde_json::to_string_pretty(&v).unwrap()
    };
    std::fs::write(dir.join("extra.safetensors"), b"extra").unwrap();
    let message = refused(&listing("extra.safetensors", &"0".repeat(64)));
    assert!(message.contains("extra.safetensors") && message.contains("checksum mismatch"), "{message}");
    let message = refused(&listing("../outside", &"0".repeat(64)));
    assert!(message.contains("not a file of the model directory"), "{message}");
    let message = refused(&listing("missing.safetensors", &"0".repeat(64)));
    assert!(message.contains("missing.safetensors") && message.contains("restore it or train"), "{message}");
    std::fs::remove_file(dir.join("manifest.json")).unwrap();
    let message = Nlu::load_with_encoder(&dir, encoder.clone()).err().unwrap().to_string();
    assert!(message.contains("not a model directory") && message.contains("entendu train"), "{message}");
    std::fs::write(&manifest, &good).unwrap();
    Nlu::load_with_encoder(&dir, nlu.encoder().clone()).unwrap();
}

#[test]
fn a_crash_between_the_renames_of_a_save_says_where_the_previous_model_is() {
    let nlu = model();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("m");
    nlu.save(&dir).unwrap();
    // What a crash after "move the old model aside" and before "move the new one in" leaves.
    let backup = out.path().join(".m.old-4242-0");
    std::fs::rename(&dir, &backup).unwrap();
    let message = Nlu::load_with_encoder(&dir, nlu.encoder().clone()).err().unwrap().to_string();
    assert!(message.contains("a save was interrupted") && message.contains(".m.old-4242-0"), "{message}");
    std::fs::rename(&backup, &dir).unwrap();
    Nlu::load_with_encoder(&dir, nlu.encoder().clone()).unwrap();
}

#[test]
fn the_cli_answers_every_hostile_stdin_line_and_skips_invalid_utf8() {
    let bin = env!("CARGO_BIN_EXE_entendu");
    let work = tempfile::tempdir().unwrap();
    let encoder = work.path().join("tiny");
    entendu::testing::write_tiny_encoder(&encoder, 4).unwrap();
    let data = work.path().join("data.yml");
    std::fs::write(&data, entendu::data::yaml::write(&self::data(3))).unwrap();
    let model = work.path().join("model");
    let status = std::process::Command::new(bin)
        .args(["train", data.to_str().unwrap(), "--out", model.to_str().unwrap(), "--encoder"])
        .arg(&encoder)
        .status()
        .unwrap();
    assert!(status.success());

    let inputs: Vec<String> = hostile_inputs().into_iter().filter(|t| !t.contains(['\n', '\r'])).collect();
    let mut stdin = Vec::new();
    for (i, text) in inputs.iter().enumerate() {
        stdin.extend_from_slice(text.as_bytes());
        stdin.push(b'\n');
        if i == 3 {
            stdin.extend_from_slice(b"\xff\xfe invalid \xc3\x28 utf-8\n\xed\xa0\x80 surrogate\n");
        }
    }
    let mut child = std::process::Command::new(bin)
        .args(["parse", model.to_str().unwrap()])
        .env("ENTENDU_MODELS", work.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut pipe, &stdin));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.matches("not valid UTF-8, skipped").count(), 2, "{stderr}");
    let answers: Vec<serde_json::Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(answers.len(), inputs.len());
    for (answer, text) in answers.iter().zip(&inputs) {
        assert_eq!(answer["text"].as_str(), Some(text.as_str()));
    }
}
