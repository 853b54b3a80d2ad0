//! The engine end to end on a tiny random encoder: train, save, load, parse, refuse damage.

mod common;

use common::tiny_encoder;
use entendu::data::{Example, TrainingData};
use entendu::intent::Decision;
use entendu::{Error, Nlu, ParseOptions, TrainConfig};
use std::sync::Arc;

fn example(text: &str, intent: Option<&str>) -> Example {
    Example {
        text: text.to_string(),
        intent: intent.map(str::to_string),
        entities: Vec::new(),
        language: Some("fr".into()),
        signals: Vec::new(),
        source: None,
    }
}

fn toy_data() -> TrainingData {
    let mut examples = Vec::new();
    for i in 0..12 {
        examples.push(example(&format!("où est mon colis {i}"), Some("track_order")));
        examples.push(example(&format!("je veux un remboursement {i}"), Some("refund")));
        examples.push(example(&format!("bonjour {i}"), Some("greeting")));
    }
    TrainingData { examples, ..Default::default() }
}

fn trained(seed: u64) -> (tempfile::TempDir, Nlu) {
    let (dir, encoder) = tiny_encoder(11);
    let config = TrainConfig { seed, ..TrainConfig::default() };
    let nlu = Nlu::train_with_encoder(Arc::new(encoder), &toy_data(), None, &config, &mut |_, _, _| {}).unwrap();
    (dir, nlu)
}

/// Adaptation of the tiny encoder's top layer, short enough for a test.
fn quick_adaptation() -> TrainConfig {
    let mut config = TrainConfig::default();
    config.adapt.enabled = true;
    config.adapt.layers = 1;
    config.adapt.max_epochs = 2;
    config.adapt.batch_size = 8;
    config
}

#[test]
fn trains_saves_loads_and_parses_the_same() {
    let (_enc_dir, nlu) = trained(1);
    let out = tempfile::tempdir().unwrap();
    let model_dir = out.path().join("model");
    nlu.save(&model_dir).unwrap();
    let loaded = Nlu::load_with_encoder(&model_dir, nlu.encoder().clone()).unwrap();
    for text in ["où est mon colis 3", "bonjour", "remboursement svp"] {
        let (a, b) = (nlu.parse(text).unwrap(), loaded.parse(text).unwrap());
        assert_eq!(a, b);
        assert!(!a.ranking.is_empty(), "the ranking is always filled");
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.contains("\"decision\""), "{json}");
    }
    assert_eq!(nlu.intents(), vec!["greeting", "refund", "track_order"]);
    // Both files are readable beyond their owner as the umask allows (a bot often runs under
    // another account than the one that trained its model), not owner-only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |name: &str| std::fs::metadata(model_dir.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("weights.safetensors"), mode("manifest.json"));
    }
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let (_a, first) = trained(5);
    let (_b, second) = trained(5);
    let text = "où est mon colis 7";
    assert_eq!(first.parse(text).unwrap(), second.parse(text).unwrap());
}

#[test]
fn empty_input_is_a_defined_fallback() {
    let (_dir, nlu) = trained(2);
    for text in ["", "   ", "\n\t"] {
        let parse = nlu.parse(text).unwrap();
        assert_eq!(parse.decision, Decision::Empty);
        assert!(parse.ranking.is_empty());
    }
}

#[test]
fn thresholds_and_allowed_intents_apply_per_call() {
    let (_dir, nlu) = trained(3);
    let strict = ParseOptions {
        thresholds: Some(entendu::intent::Thresholds { confidence: 1.01, ambiguity_margin: 0.0 }),
        ..Default::default()
    };
    assert!(matches!(nlu.parse_with("bonjour", &strict).unwrap().decision, Decision::OutOfScope { .. }));
    let only_refund = ParseOptions { allowed_intents: Some(vec!["refund".into()]), ..Default::default() };
    let parse = nlu.parse_with("bonjour", &only_refund).unwrap();
    assert!(parse.ranking.iter().all(|s| s.name == "refund"));
}

#[test]
fn damaged_weights_are_refused_with_a_clear_error() {
    let (_enc, nlu) = trained(4);
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("m");
    nlu.save(&dir).unwrap();
    let weights = dir.join("weights.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    std::fs::write(&weights, &bytes).unwrap();
    let err = Nlu::load_with_encoder(&dir, nlu.encoder().clone()).err().unwrap();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");

    std::fs::write(&weights, &bytes[..middle]).unwrap();
    assert!(matches!(Nlu::load_with_encoder(&dir, nlu.encoder().clone()), Err(Error::Artifact { .. })));

    let manifest = dir.join("manifest.json");
    let current = format!("\"format_version\": {}", entendu::model::FORMAT_VERSION);
    let text = std::fs::read_to_string(&manifest).unwrap().replace(&current, "\"format_version\": 99");
    std::fs::write(&manifest, text).unwrap();
    let err = Nlu::load_with_encoder(&dir, nlu.encoder().clone()).err().unwrap();
    assert!(err.to_string().contains("format version"), "{err}");
}

#[test]
fn a_model_refuses_a_different_encoder() {
    let (_enc, nlu) = trained(6);
    let out = tempfile::tempdir().unwrap();
    nlu.save(out.path().join("m")).unwrap();
    let (_other_dir, other) = tiny_encoder(99);
    let err = Nlu::load_with_encoder(out.path().join("m"), Arc::new(other)).err().unwrap();
    assert!(matches!(err, Error::EncoderMismatch { .. }), "{err}");
    assert!(err.to_string().contains("retrain it for this encoder"), "{err}");
}

#[test]
fn a_failed_save_leaves_the_previous_model_intact() {
    let (_enc, nlu) = trained(7);
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("m");
    nlu.save(&dir).unwrap();
    let before = std::fs::read(dir.join("manifest.json")).unwrap();
    // A save into a path whose parent is a file cannot succeed.
    let blocker = out.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    assert!(nlu.save(blocker.join("m")).is_err());
    // Saving again over the existing model replaces it whole.
    nlu.save(&dir).unwrap();
    assert_eq!(std::fs::read(dir.join("manifest.json")).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "staging directories left behind");
}

#[test]
fn nlu_is_send_sync_and_threads_get_sequential_results() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Nlu>();
    let (_enc, nlu) = trained(8);
    let nlu = Arc::new(nlu);
    let texts: Vec<String> = (0..24).map(|i| format!("colis {i} remboursement bonjour")).collect();
    let expected: Vec<_> = texts.iter().map(|t| nlu.parse(t).unwrap()).collect();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (nlu, texts) = (nlu.clone(), texts.clone());
            std::thread::spawn(move || texts.iter().map(|t| nlu.parse(t).unwrap()).collect::<Vec<_>>())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), expected);
    }
}

#[test]
fn fewer_than_two_intents_is_an_error_that_says_so() {
    let (_dir, encoder) = tiny_encoder(12);
    let data = TrainingData { examples: vec![example("a", Some("x")), example("b", Some("x"))], ..Default::default() };
    let err = Nlu::train_with_encoder(Arc::new(encoder), &data, None, &TrainConfig::default(), &mut |_, _, _| {})
        .err()
        .unwrap();
    assert!(err.to_string().contains("at least 2 intents"), "{err}");
}

#[test]
fn a_repeated_utterance_comes_from_the_cache_with_the_same_parse() {
    let (_enc_dir, nlu) = trained(2);
    let texts = ["où est mon colis 3", "bonjour", "où est mon colis 3"];
    let first: Vec<_> = texts.iter().map(|t| nlu.parse(t).unwrap()).collect();
    let stats = nlu.cache_stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (1, 2, 2), "{stats:?}");
    assert_eq!(first[0], first[2]);
    // The decomposed form of the same text (NFC-equal) is the same cache entry.
    let decomposed = nlu.parse("où est mon colis 3".replace('ù', "u\u{300}").as_str()).unwrap();
    assert_eq!(nlu.cache_stats().hits, 2);
    assert_eq!(decomposed.ranking, first[0].ranking);

    // With the cache off, every parse encodes again and the results do not change.
    nlu.set_cache_budget(0);
    let uncached: Vec<_> = texts.iter().map(|t| nlu.parse(t).unwrap()).collect();
    assert_eq!(uncached, first);
    assert_eq!(nlu.cache_stats().entries, 0);
    assert_eq!(nlu.cache_stats().hits, 2, "no lookups while off");
}

#[test]
fn an_adapted_model_feeds_its_adapter_to_the_intent_head_only() {
    // Signals and the other heads read the encoder's own embeddings, adapted model or not: with
    // the same data and seed, their scores are those of the model trained without adaptation.
    let mut data = toy_data();
    for (i, e) in data.examples.iter_mut().enumerate() {
        if i % 4 == 1 {
            e.text.push_str(" !!! c'est inadmissible");
            e.signals = vec!["frustrated".into()];
        }
    }
    let (_dir, encoder) = tiny_encoder(11);
    let encoder = Arc::new(encoder);
    let plain =
        Nlu::train_with_encoder(encoder.clone(), &data, None, &TrainConfig::default(), &mut |_, _, _| {}).unwrap();
    let config = quick_adaptation();
    let adapted = Nlu::train_with_encoder(encoder.clone(), &data, None, &config, &mut |_, _, _| {}).unwrap();
    let texts = ["où est mon colis 3 !!! c'est inadmissible", "bonjour", "remboursement svp"];
    for text in texts {
        let (p, a) = (plain.parse(text).unwrap(), adapted.parse(text).unwrap());
        assert!(!p.signals.is_empty());
        assert_eq!(p.signals, a.signals, "{text}");
    }
    // The adapter is saved and loaded with the model, which then parses the same.
    let out = tempfile::tempdir().unwrap();
    let model_dir = out.path().join("model");
    adapted.save(&model_dir).unwrap();
    let loaded = Nlu::load_with_encoder(&model_dir, encoder.clone()).unwrap();
    for text in texts {
        assert_eq!(loaded.parse(text).unwrap(), adapted.parse(text).unwrap());
    }
    // A model from a version that fed the adapter to every head is refused, with what to do.
    let manifest_path = model_dir.join("manifest.json");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    assert!(manifest.contains("\"intent_only\": true"), "{manifest}");
    std::fs::write(&manifest_path, manifest.replace("\"intent_only\": true", "\"intent_only\": false")).unwrap();
    match Nlu::load_with_encoder(&model_dir, encoder) {
        Err(Error::Artifact { message, .. }) => assert!(message.contains("train it again"), "{message}"),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a legacy adapted model was accepted"),
    }
}

#[test]
fn heads_retrained_on_a_reused_adapter_match_the_adapted_model() {
    let (_dir, encoder) = tiny_encoder(11);
    let encoder = Arc::new(encoder);
    let data = toy_data();
    let config = quick_adaptation();
    let adapted = Nlu::train_with_encoder(encoder.clone(), &data, None, &config, &mut |_, _, _| {}).unwrap();
    let reused = Nlu::train_reusing_adapter(&adapted, &data, None, &config, &mut |_, _, _| {}).unwrap();
    // The same layers, and the same held-out rows, so the same choices.
    assert_eq!(reused.manifest().adapter, adapted.manifest().adapter);
    let (a, r) = (&adapted.manifest().intent, &reused.manifest().intent);
    assert_eq!((&a.classes, a.companion_weight), (&r.classes, r.companion_weight));
    for text in ["où est mon colis 3", "bonjour 5", "je veux un remboursement 7"] {
        let (a, r) = (adapted.parse(text).unwrap(), reused.parse(text).unwrap());
        assert_eq!(a.decision.intent(), r.decision.intent(), "{text}");
    }
    // The adaptation settings (which rows were held out) come from the model, not the caller.
    let default =
        Nlu::train_reusing_adapter(&adapted, &data, None, &TrainConfig::default(), &mut |_, _, _| {}).unwrap();
    assert_eq!(default.manifest().train_config["adapt"], adapted.manifest().train_config["adapt"]);
    assert_eq!(default.manifest().intent, reused.manifest().intent);
    // A manifest whose training configuration cannot be read leaves them unknown: an error.
    let out = tempfile::tempdir().unwrap();
    let model_dir = out.path().join("model");
    adapted.save(&model_dir).unwrap();
    let manifest_path = model_dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest["train_config"] = serde_json::json!("lost");
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let damaged = Nlu::load_with_encoder(&model_dir, encoder.clone()).unwrap();
    match Nlu::train_reusing_adapter(&damaged, &data, None, &config, &mut |_, _, _| {}) {
        Err(Error::InvalidArgument(message)) => assert!(message.contains("training configuration"), "{message}"),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("reused an adapter whose held-out rows are unknown"),
    }
    // A model without adapted layers has nothing to reuse, and says how to get them.
    let plain = Nlu::train_with_encoder(encoder, &data, None, &TrainConfig::default(), &mut |_, _, _| {}).unwrap();
    match Nlu::train_reusing_adapter(&plain, &data, None, &config, &mut |_, _, _| {}) {
        Err(Error::InvalidArgument(message)) => assert!(message.contains("--adapt"), "{message}"),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("reused an adapter that does not exist"),
    }
}

#[test]
fn an_adapter_trained_to_tag_entities_feeds_the_tagger_too() {
    // With an entity loss, the adapted layers learn the tags and the tagger reads their token
    // states: the model says so, and parses the same once saved and loaded.
    let mut data = toy_data();
    for e in data.examples.iter_mut().filter(|e| e.intent.as_deref() == Some("track_order")) {
        let start = e.text.rfind(' ').map_or(0, |i| i + 1);
        e.entities = vec![entendu::data::EntityAnnotation {
            entity: "order_id".into(),
            start,
            end: e.text.len(),
            text: e.text[start..].to_string(),
            value: None,
        }];
    }
    let (_dir, encoder) = tiny_encoder(11);
    let encoder = Arc::new(encoder);
    let mut config = quick_adaptation();
    let intents_only = Nlu::train_with_encoder(encoder.clone(), &data, None, &config, &mut |_, _, _| {}).unwrap();
    config.adapt.entity_loss_weight = 1.0;
    let tagging = Nlu::train_with_encoder(encoder.clone(), &data, None, &config, &mut |_, _, _| {}).unwrap();
    let meta = |nlu: &Nlu| nlu.manifest().adapter.clone().unwrap();
    assert!(!meta(&intents_only).tokens_adapted);
    assert!(meta(&tagging).tokens_adapted);
    assert!(meta(&tagging).curve.iter().all(|c| c.held_out_tag_accuracy.is_some()));
    assert!(meta(&intents_only).curve.iter().all(|c| c.held_out_tag_accuracy.is_none()));

    let out = tempfile::tempdir().unwrap();
    let model_dir = out.path().join("model");
    tagging.save(&model_dir).unwrap();
    let loaded = Nlu::load_with_encoder(&model_dir, encoder).unwrap();
    assert!(meta(&loaded).tokens_adapted);
    for text in ["où est mon colis 7", "bonjour", "je veux un remboursement 3"] {
        assert_eq!(loaded.parse(text).unwrap(), tagging.parse(text).unwrap(), "{text}");
    }
}

#[test]
fn retraining_for_another_encoder_copy_keeps_the_recipe_but_not_the_adaptation() {
    let (_enc, encoder) = tiny_encoder(12);
    let out = tempfile::tempdir().unwrap();
    let data_file = out.path().join("data.yml");
    let mut yaml = String::from("intents:\n");
    for (intent, text) in
        [("track_order", "où est mon colis"), ("refund", "je veux un remboursement"), ("greeting", "bonjour")]
    {
        yaml.push_str(&format!("  - name: {intent}\n    examples:\n"));
        for i in 0..8 {
            yaml.push_str(&format!("      - {text} {i}\n"));
        }
    }
    std::fs::write(&data_file, yaml).unwrap();
    let data = TrainingData::load_all([&data_file]).unwrap();
    let mut config = TrainConfig::default();
    config.adapt.enabled = true;
    config.adapt.layers = 1;
    config.adapt.max_epochs = 1;
    let nlu = Nlu::train_with_encoder(Arc::new(encoder), &data, None, &config, &mut |_, _, _| {}).unwrap();
    let model_dir = out.path().join("model");
    nlu.save(&model_dir).unwrap();

    let (same, retrained) = Nlu::load_or_retrain(&model_dir, nlu.encoder().clone(), &mut |_, _, _| {}).unwrap();
    assert!(!retrained && same.manifest().adapter.is_some());

    let (_other_dir, other) = tiny_encoder(99);
    let (again, retrained) = Nlu::load_or_retrain(&model_dir, Arc::new(other), &mut |_, _, _| {}).unwrap();
    assert!(retrained);
    assert!(again.manifest().adapter.is_none(), "retrained on the frozen encoder");
    assert_eq!(again.intents(), nlu.intents());
    assert!(again.manifest().train_config["intent"] == nlu.manifest().train_config["intent"]);
}

#[test]
fn an_intent_that_declares_a_signal_activates_it() {
    let mut yaml = String::from(
        "version: 1\nlanguage: fr\nintents:\n  - name: talk_to_human\n    signals: [wants_human]\n    examples:\n",
    );
    for i in 0..10 {
        yaml.push_str(&format!("      - un conseiller svp {i}\n"));
    }
    yaml.push_str("  - name: track_order\n    examples:\n");
    for i in 0..10 {
        yaml.push_str(&format!("      - où est mon colis {i}\n"));
    }
    let data = entendu::data::yaml::read_str(&yaml, "signals.yml").unwrap();
    assert_eq!(data.intents["talk_to_human"].signals, ["wants_human"]);
    let (_dir, encoder) = tiny_encoder(11);
    let nlu =
        Nlu::train_with_encoder(Arc::new(encoder), &data, None, &TrainConfig::default(), &mut |_, _, _| {}).unwrap();
    let out = tempfile::tempdir().unwrap();
    nlu.save(out.path()).unwrap();
    let nlu = Nlu::load_with_encoder(out.path(), nlu.encoder().clone()).unwrap();
    // Whatever the head scores, an answer of `talk_to_human` carries `wants_human`…
    let forced = |intent: &str| ParseOptions {
        allowed_intents: Some(vec![intent.into()]),
        thresholds: Some(entendu::intent::Thresholds { confidence: 0.0, ambiguity_margin: 0.0 }),
        ..Default::default()
    };
    let text = "où est mon colis 3";
    let parse = nlu.parse_with(text, &forced("talk_to_human")).unwrap();
    let Decision::Intent { confidence, .. } = parse.decision else { panic!("{:?}", parse.decision) };
    let signal = parse.signals.iter().find(|s| s.name == "wants_human").unwrap();
    assert!(signal.active && signal.score >= confidence, "{signal:?}");
    // … and another intent leaves the head's own decision.
    let plain = nlu.parse(text).unwrap();
    let other = nlu.parse_with(text, &forced("track_order")).unwrap();
    assert_eq!(other.signals, plain.signals);
}
