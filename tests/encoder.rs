//! The encoder: mechanics on a tiny random model, behaviour on the real ones.

mod common;

use common::{dot, real_encoder, tiny_encoder};
use entendu::{Encoder, Error};

#[test]
fn embeddings_are_unit_length_and_batching_changes_nothing() {
    let (_dir, encoder) = tiny_encoder(1);
    let texts = ["où est mon colis ?", "bonjour", "je veux parler à un conseiller humain maintenant", ""];
    let batch = encoder.embed_batch(&texts).unwrap();
    assert_eq!(batch.shape(), &[4, 32]);
    for (i, text) in texts.iter().enumerate() {
        let single = encoder.embed(text).unwrap();
        let norm: f32 = single.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
        // Padding inside a batch must not leak into the result.
        let cos = dot(&single, &batch.row(i).to_vec());
        assert!(cos > 0.9999, "{text:?}: batch vs single cosine {cos}");
    }
}

#[test]
fn a_batch_of_many_passes_run_side_by_side_keeps_input_order_and_results() {
    // Enough tokens for several engine passes, which then run on several threads.
    let (_dir, encoder) = tiny_encoder(1);
    let texts: Vec<String> = (0..80).map(|i| format!("commande {i} {}", "toujours pas reçue ".repeat(i % 7))).collect();
    let batch = encoder.encode_batch(&texts).unwrap();
    assert_eq!(batch.len(), texts.len());
    for (text, batched) in texts.iter().zip(&batch) {
        let single = encoder.encode(text).unwrap();
        let cos = dot(&single.sentence.to_vec(), &batched.sentence.to_vec());
        assert!(cos > 0.9999, "{text:?}: batch vs single cosine {cos}");
        assert_eq!(single.offsets, batched.offsets, "{text:?}");
    }
}

#[test]
fn token_offsets_point_into_the_original_text() {
    let (_dir, encoder) = tiny_encoder(2);
    let text = "Où EST mon colis, 48213 ? 😀 e\u{301}";
    let encoded = encoder.encode(text).unwrap();
    assert_eq!(encoded.tokens.nrows(), encoded.offsets.len());
    assert!(!encoded.offsets.is_empty());
    for &(start, end) in &encoded.offsets {
        assert!(start < end && end <= text.len());
        assert!(text.is_char_boundary(start) && text.is_char_boundary(end));
    }
    assert_eq!(&text[encoded.offsets[0].0..encoded.offsets[0].1], "Où");
}

#[test]
fn very_long_input_is_truncated_not_a_crash() {
    let (_dir, encoder) = tiny_encoder(3);
    let long = "colis ".repeat(4000);
    let encoded = encoder.encode(&long).unwrap();
    assert!(encoded.truncated);
    assert!(encoded.tokens.nrows() <= encoder.info().max_tokens);
    assert_eq!(encoder.embed("").unwrap().len(), 32);
}

#[test]
fn encoder_is_send_and_sync_and_threads_agree() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Encoder>();
    let (_dir, encoder) = tiny_encoder(4);
    let encoder = std::sync::Arc::new(encoder);
    let texts: Vec<String> = (0..16).map(|i| format!("commande {i} colis")).collect();
    let expected = encoder.embed_batch(&texts).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (encoder, texts) = (encoder.clone(), texts.clone());
            std::thread::spawn(move || texts.iter().map(|t| encoder.embed(t).unwrap()).collect::<Vec<_>>())
        })
        .collect();
    for handle in handles {
        for (i, row) in handle.join().unwrap().iter().enumerate() {
            assert!(dot(row, &expected.row(i).to_vec()) > 0.9999);
        }
    }
}

#[test]
fn a_missing_or_damaged_encoder_says_which_file_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let err = Encoder::from_dir(dir.path()).err().unwrap();
    let message = err.to_string();
    assert!(message.contains("config.json") && message.contains("fetch"), "{message}");

    entendu::testing::write_tiny_encoder(dir.path(), 5).unwrap();
    let weights = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let err = Encoder::from_dir(dir.path()).err().unwrap();
    assert!(matches!(err, Error::InvalidEncoder { .. }), "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");

    let err = Encoder::load("no-such-encoder-anywhere").err().unwrap();
    assert!(err.to_string().contains("entendu encoder fetch"), "{err}");
}

#[test]
fn a_tokenizer_larger_than_the_embedding_table_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    entendu::testing::write_tiny_encoder(dir.path(), 6).unwrap();
    let config_path = dir.path().join("config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["vocab_size"] = serde_json::json!(10);
    std::fs::write(&config_path, config.to_string()).unwrap();
    let err = Encoder::from_dir(dir.path()).err().unwrap();
    assert!(err.to_string().contains("vocabulary mismatch"), "{err}");
}

#[test]
fn real_e5_is_cross_lingual() {
    let Some(encoder) = real_encoder("multilingual-e5-small") else {
        return;
    };
    assert_eq!(encoder.info().query_prefix, "query: ");
    assert_eq!(encoder.dim(), 384);
    let e = encoder
        .embed_batch(&["où est mon colis ?", "where is my parcel?", "I would like to cancel my gym membership"])
        .unwrap();
    let (fr, en, other) = (e.row(0).to_vec(), e.row(1).to_vec(), e.row(2).to_vec());
    assert!(dot(&fr, &en) > dot(&fr, &other) + 0.03, "{} vs {}", dot(&fr, &en), dot(&fr, &other));
}

#[test]
fn real_e5_offsets_follow_sentencepiece_pieces() {
    let Some(encoder) = real_encoder("multilingual-e5-small") else {
        return;
    };
    let text = "Ma commande 48213 n'est pas arrivée, écrivez à jean.dupont@mail.fr";
    let encoded = encoder.encode(text).unwrap();
    let pieces: Vec<&str> = encoded.offsets.iter().map(|&(s, e)| &text[s..e]).collect();
    assert!(pieces.iter().any(|p| p.contains("48")), "{pieces:?}");
    // The prefix `query: ` is not part of the caller's text.
    assert!(!pieces.iter().any(|p| p.contains("query")), "{pieces:?}");
    assert_eq!(pieces.concat().replace(' ', ""), text.replace(' ', ""));
}

#[test]
fn real_minilm_loads_and_ranks_paraphrases_first() {
    let Some(encoder) = real_encoder("all-MiniLM-L6-v2") else {
        return;
    };
    assert_eq!(encoder.info().query_prefix, "");
    let e = encoder.embed_batch(&["where is my parcel?", "where is my package", "I like turtles"]).unwrap();
    assert!(dot(&e.row(0).to_vec(), &e.row(1).to_vec()) > dot(&e.row(0).to_vec(), &e.row(2).to_vec()) + 0.3);
}
