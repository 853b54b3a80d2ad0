//! Load the bundled support model and understand a few messages (or your own:
//! `cargo run --release --example quickstart -- "où en est ma commande ?"`).
use entendu::{Encoder, Nlu};
use std::sync::Arc;

fn main() -> Result<(), entendu::Error> {
    // The multilingual encoder, fetched into models/ the first time (a minute, ~500 MB).
    let encoder = Arc::new(Encoder::load_or_fetch("multilingual-e5-small", &mut |l| eprintln!("{l}"))?);
    // Retrained once (a few minutes) if this copy of the encoder is not the one it was trained with.
    let (nlu, _) = Nlu::load_or_retrain("models/support", encoder, &mut |_, _, _| {})?;
    let mut texts: Vec<String> = std::env::args().skip(1).collect();
    if texts.is_empty() {
        texts = [
            "où en est ma commande 48213 ?",
            "I want to talk to a human",
            "¿Abren el domingo?",
            "quel temps fait-il ?",
        ]
        .map(String::from)
        .to_vec();
    }
    for parse in nlu.parse_batch(&texts)? {
        let signals: Vec<&str> = parse.signals.iter().filter(|s| s.active).map(|s| s.name.as_str()).collect();
        let entities: Vec<String> = parse.entities.iter().map(|e| format!("{}={}", e.entity, e.value)).collect();
        println!("{:<32} → {:?} {entities:?} {signals:?}", parse.text, parse.decision);
    }
    Ok(())
}
