//! The learned entity tagger through the engine, on the tiny random encoder: trained from inline
//! annotations, saved in the model, loaded, and finding entities at exact byte offsets.

mod common;

use common::tiny_encoder;
use entendu::data::yaml;
use entendu::{Nlu, TrainConfig};
use std::sync::Arc;

/// Names the tiny vocabulary spells letter by letter (WordPiece pieces), one with a multi-byte
/// character, so offsets are exercised on more than ASCII.
const NAMES: &[&str] = &["zoé", "bruno", "karim", "lucie", "marc", "inès", "paul", "yanis", "chloé", "hugo"];

fn annotated_yaml() -> String {
    let mut yaml = String::from("version: 1\nlanguage: fr\nintents:\n  - name: talk_to_human\n    examples:\n");
    for (i, name) in NAMES.iter().enumerate().take(8) {
        yaml.push_str(&format!("      - je veux parler à [{name}](person)\n"));
        yaml.push_str(&format!("      - bonjour je veux parler à [{name}](person) merci\n"));
        if i % 2 == 0 {
            yaml.push_str(&format!("      - parler à un conseiller [{name}](person)\n"));
        }
    }
    yaml.push_str("  - name: greeting\n    examples:\n");
    for word in ["bonjour", "bonjour merci", "hello", "bonjour à la", "merci au revoir", "hello thanks", "bonjour le"]
    {
        yaml.push_str(&format!("      - {word}\n"));
    }
    yaml
}

#[test]
fn tagger_is_trained_saved_loaded_and_finds_entities_at_exact_offsets() {
    let data = yaml::read_str(&annotated_yaml(), "annotated.yml").unwrap();
    assert!(data.examples.iter().any(|e| !e.entities.is_empty()));
    let (_encoder_dir, encoder) = tiny_encoder(5);
    let config = TrainConfig { seed: 3, ..TrainConfig::default() };
    let nlu = Nlu::train_with_encoder(Arc::new(encoder), &data, None, &config, &mut |_, _, _| {}).unwrap();
    let meta = nlu.manifest().tagger.clone().expect("annotated data trains a tagger");
    assert_eq!(meta.tags, ["O", "B-person", "I-person"]);

    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("model");
    nlu.save(&dir).unwrap();
    let weights = candle_core::safetensors::load(dir.join("weights.safetensors"), &candle_core::Device::Cpu).unwrap();
    assert!(weights.keys().any(|k| k.starts_with("tagger.")), "tagger tensors are saved under `tagger.`");
    let loaded = Nlu::load_with_encoder(&dir, nlu.encoder().clone()).unwrap();

    // Names held out of training ("yanis", "chloé", "hugo") in a sentence seen in training.
    let mut found = 0;
    for name in &NAMES[7..] {
        let text = format!("je veux parler à {name}");
        let (a, b) = (nlu.parse(&text).unwrap(), loaded.parse(&text).unwrap());
        assert_eq!(a, b, "the loaded model parses as the trained one");
        for entity in &b.entities {
            assert_eq!(&text[entity.start..entity.end], entity.text, "{text}");
        }
        let person = b.entities.iter().find(|e| e.entity == "person" && e.extractor == "learned");
        if let Some(person) = person {
            assert!((0.0..=1.0).contains(&person.confidence));
            assert_eq!(person.value, serde_json::json!(person.text));
            found += usize::from(person.text == *name);
        }
    }
    assert!(found >= 2, "{found}/3 held-out names found");
}

#[test]
fn data_without_annotations_trains_no_tagger_and_old_manifests_load() {
    let data = yaml::read_str(
        "version: 1\nintents:\n  - name: a\n    examples: [bonjour, hello, bonjour merci]\n  - name: b\n    examples: [au revoir, merci au revoir, revoir]\n",
        "plain.yml",
    )
    .unwrap();
    let (_encoder_dir, encoder) = tiny_encoder(5);
    let nlu =
        Nlu::train_with_encoder(Arc::new(encoder), &data, None, &TrainConfig::default(), &mut |_, _, _| {}).unwrap();
    assert!(nlu.manifest().tagger.is_none());
    let out = tempfile::tempdir().unwrap();
    nlu.save(out.path()).unwrap();
    let text = std::fs::read_to_string(out.path().join("manifest.json")).unwrap();
    assert!(!text.contains("\"tagger\""), "no tagger key: the manifest reads as before the tagger existed");
    let loaded = Nlu::load_with_encoder(out.path(), nlu.encoder().clone()).unwrap();
    assert!(loaded.parse("bonjour").unwrap().entities.iter().all(|e| e.extractor != "learned"));
}

#[test]
fn the_tagger_vets_dates_but_not_phone_numbers() {
    // A gate no support reaches: every vetted built-in match of an annotated type is dropped.
    let mut yaml = String::from("version: 1\nlanguage: fr\nintents:\n  - name: callback\n    examples:\n");
    for (i, name) in NAMES.iter().enumerate() {
        yaml.push_str(&format!("      - rappelez [{name}](person) au [06 12 34 56 7{i}](phone_number)\n"));
        yaml.push_str(&format!("      - rendez-vous [demain](date) pour [{name}](person)\n"));
    }
    yaml.push_str("  - name: greeting\n    examples: [bonjour, hello, bonjour merci, salut]\n");
    let data = yaml::read_str(&yaml, "callback.yml").unwrap();
    let (_encoder_dir, encoder) = tiny_encoder(5);
    let mut config = TrainConfig { seed: 3, ..TrainConfig::default() };
    config.entities.builtin_gate = 1.01;
    let nlu = Nlu::train_with_encoder(Arc::new(encoder), &data, None, &config, &mut |_, _, _| {}).unwrap();
    let text = "le 07.52.18.64.33 le 3 mars";
    let parse = nlu.parse(text).unwrap();
    // Only a built-in match that survives the vetting gives a normalised value (to itself, or
    // to the learned entity it merges into).
    let valued = |entity: &str, value: &str| {
        parse.entities.iter().any(|e| e.entity == entity && e.value == serde_json::json!(value))
    };
    // A phone number is one by its form: no tagger vetoes it, whatever the data's spelling.
    assert!(valued("phone_number", "+33752186433"), "{:?}", parse.entities);
    // A date is one by the data's conventions: the tagger decides.
    assert!(
        parse.entities.iter().all(|e| !e.value.as_str().is_some_and(|v| v.ends_with("-03-03"))),
        "{:?}",
        parse.entities
    );
}
