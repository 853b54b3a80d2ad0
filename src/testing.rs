//! Helpers for tests, benchmarks and fuzz targets: a tiny BERT encoder with random weights and
//! a small WordPiece tokenizer, written to a directory in milliseconds, with no download.
//!
//! Its embeddings mean nothing; it exercises every mechanism (tokenising, offsets, padding,
//! batching, training, saving) at a fraction of the cost of a real encoder.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! entendu::testing::write_tiny_encoder(dir.path(), 7)?;
//! let encoder = entendu::Encoder::from_dir(dir.path())?;
//! assert_eq!(encoder.embed("bonjour")?.len(), 32);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::error::{Error, Result};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::path::Path;

/// Hidden size of the tiny encoder.
pub const TINY_DIM: usize = 32;

const SPECIAL: &[&str] = &["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
const WORDS: &[&str] = &[
    "où",
    "est",
    "mon",
    "ma",
    "colis",
    "commande",
    "je",
    "veux",
    "un",
    "une",
    "remboursement",
    "bonjour",
    "merci",
    "au",
    "revoir",
    "parler",
    "à",
    "humain",
    "conseiller",
    "where",
    "is",
    "my",
    "parcel",
    "order",
    "refund",
    "hello",
    "thanks",
    "human",
    "agent",
    "the",
    "a",
    "to",
    "de",
    "la",
    "le",
    "les",
    "et",
    "ne",
    "pas",
    "suivre",
    "annuler",
    "livraison",
    "retard",
    "horaires",
    "ouvert",
    "quand",
    "what",
    "time",
];

/// Writes `config.json`, `tokenizer.json`, `model.safetensors` and `1_Pooling/config.json` of a
/// 2-layer BERT (hidden size [`TINY_DIM`]) with weights drawn from `seed`.
pub fn write_tiny_encoder(dir: &Path, seed: u64) -> Result<()> {
    std::fs::create_dir_all(dir.join("1_Pooling")).map_err(|e| Error::io(dir, e))?;
    let mut vocab: Vec<String> = SPECIAL.iter().map(|s| s.to_string()).collect();
    let mut letters: Vec<char> = ('a'..='z').chain('0'..='9').collect();
    letters.extend("éèêàâçùûôîïëœ'?!.,-:;€$@#/()".chars());
    for c in &letters {
        vocab.push(c.to_string());
        vocab.push(format!("##{c}"));
    }
    vocab.extend(WORDS.iter().map(|w| w.to_string()));
    vocab.dedup();
    let vocab_size = vocab.len();

    let config = serde_json::json!({
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": TINY_DIM,
        "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu",
        "max_position_embeddings": 64, "type_vocab_size": 2, "vocab_size": vocab_size, "layer_norm_eps": 1e-12,
    });
    write(dir, "config.json", &config)?;
    write(
        dir,
        "1_Pooling/config.json",
        &serde_json::json!({"word_embedding_dimension": TINY_DIM, "pooling_mode_mean_tokens": true}),
    )?;
    write(dir, "tokenizer.json", &tokenizer_json(&vocab))?;

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut tensors = HashMap::new();
    let mut add = |name: &str, shape: &[usize], scale: f32, offset: f32| -> Result<()> {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| offset + scale * (rng.random::<f32>() * 2.0 - 1.0)).collect();
        tensors.insert(name.to_string(), Tensor::from_vec(values, shape, &Device::Cpu)?);
        Ok(())
    };
    let (h, f) = (TINY_DIM, 64);
    add("embeddings.word_embeddings.weight", &[vocab_size, h], 0.5, 0.0)?;
    add("embeddings.position_embeddings.weight", &[64, h], 0.1, 0.0)?;
    add("embeddings.token_type_embeddings.weight", &[2, h], 0.1, 0.0)?;
    add("embeddings.LayerNorm.weight", &[h], 0.1, 1.0)?;
    add("embeddings.LayerNorm.bias", &[h], 0.1, 0.0)?;
    for layer in 0..2 {
        let p = format!("encoder.layer.{layer}");
        for m in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
            add(&format!("{p}.{m}.weight"), &[h, h], 0.3, 0.0)?;
            add(&format!("{p}.{m}.bias"), &[h], 0.05, 0.0)?;
        }
        add(&format!("{p}.intermediate.dense.weight"), &[f, h], 0.3, 0.0)?;
        add(&format!("{p}.intermediate.dense.bias"), &[f], 0.05, 0.0)?;
        add(&format!("{p}.output.dense.weight"), &[h, f], 0.3, 0.0)?;
        add(&format!("{p}.output.dense.bias"), &[h], 0.05, 0.0)?;
        for ln in ["attention.output.LayerNorm", "output.LayerNorm"] {
            add(&format!("{p}.{ln}.weight"), &[h], 0.1, 1.0)?;
            add(&format!("{p}.{ln}.bias"), &[h], 0.1, 0.0)?;
        }
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
    Ok(())
}

fn write(dir: &Path, name: &str, value: &serde_json::Value) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value)?).map_err(|e| Error::io(&path, e))
}

/// A BERT-style WordPiece tokenizer.json (lower-casing, accents kept) over `vocab`.
fn tokenizer_json(vocab: &[String]) -> serde_json::Value {
    let ids: serde_json::Map<String, serde_json::Value> =
        vocab.iter().enumerate().map(|(i, token)| (token.clone(), serde_json::json!(i))).collect();
    let added: Vec<serde_json::Value> = SPECIAL
        .iter()
        .enumerate()
        .map(|(i, token)| serde_json::json!({"id": i, "special": true, "content": token, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false}))
        .collect();
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": false, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]}, "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": ids},
    })
}
