//! `Nlu::parse` on a tiny trained model (random encoder, declared regex/lookup/fuzzy synonym
//! entities, built-in entities), on any UTF-8 text: a `Parse` of that text whose entities lie
//! on character boundaries of the input, quote it exactly, are sorted and do not overlap.
#![no_main]

use entendu::{Nlu, ParseOptions, TrainConfig, TrainingData};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

const DATA: &str = r#"version: 1
language: fr
intents:
  - name: track_order
    examples:
      - où est mon colis [48213](order_id)
      - où est ma commande [12345](order_id) ?
      - suivre mon colis
      - ma commande est où
  - name: refund
    examples:
      - je veux un remboursement
      - remboursement par [CB](payment_method) svp
      - un remboursement merci
  - name: greeting
    examples:
      - bonjour
      - bonjour à vous
      - hello
entities:
  - name: order_id
    regexes: ['\b\d{5}\b']
  - name: payment_method
    lookup: [paypal, virement]
    synonyms:
      carte bancaire: [CB, carte bleue]
    fuzzy: 0.8
"#;

struct Fixture {
    nlu: Nlu,
    options: ParseOptions,
    _encoder_dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        entendu::testing::write_tiny_encoder(dir.path(), 5).expect("tiny encoder");
        let encoder = Arc::new(entendu::Encoder::from_dir(dir.path()).expect("load tiny encoder"));
        let data_path = dir.path().join("data.yml");
        std::fs::write(&data_path, DATA).expect("write data");
        let data = TrainingData::load(&data_path).expect("training data");
        let nlu =
            Nlu::train_with_encoder(encoder, &data, None, &TrainConfig::default(), &mut |_, _, _| {}).expect("train");
        // A fixed reference time: relative dates must not depend on the clock.
        let reference = chrono::NaiveDate::from_ymd_opt(2026, 3, 14).and_then(|d| d.and_hms_opt(10, 30, 0));
        Fixture { nlu, options: ParseOptions { reference_time: reference, ..Default::default() }, _encoder_dir: dir }
    })
}

fuzz_target!(|text: &str| {
    let f = fixture();
    let parse = f.nlu.parse_with(text, &f.options).unwrap_or_else(|e| panic!("parse({text:?}) failed: {e}"));
    assert_eq!(parse.text, text);
    let mut previous_end = 0;
    for e in &parse.entities {
        assert!(e.start < e.end, "empty or reversed entity {e:?} in {text:?}");
        assert!(e.start >= previous_end, "overlapping or unsorted entities in {text:?}: {:?}", parse.entities);
        assert_eq!(text.get(e.start..e.end), Some(e.text.as_str()), "entity {e:?} does not quote {text:?}");
        previous_end = e.end;
    }
});
