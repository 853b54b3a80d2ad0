//! Load (or, on first use, train) the support model and understand a few messages.
//! Run: `cargo run --release --example quickstart -- "où en est ma commande ?"`
use entendu::{Encoder, Nlu, TrainConfig, TrainingData};
use std::sync::Arc;

fn main() -> Result<(), entendu::Error> {
    // The multilingual encoder, fetched into models/ the first time (a minute, ~500 MB).
    let encoder = Arc::new(Encoder::load_or_fetch("multilingual-e5-small", &mut |l| eprintln!("{l}"))?);
    // A model is tied to its encoder's weights: reuse the saved one if it fits, else retrain (seconds).
    let nlu = match Nlu::load_with_encoder("target/quickstart-model", encoder.clone()) {
        Ok(nlu) => nlu,
        Err(_) => {
            let data = TrainingData::load("datasets/support/train.fr.yml")?;
            let nlu = Nlu::train_with_encoder(encoder, &data, None, &TrainConfig::default(), &mut |_, _, _| {})?;
            nlu.save("target/quickstart-model")?;
            nlu
        }
    };
    let mut texts: Vec<String> = std::env::args().skip(1).collect();
    if texts.is_empty() {
        texts = [
            "où en est ma commande 48213 ?",
            "I want to talk to a human",
            "¿Abren el domingo?",
            "quel temps fait-il à Lyon ?",
        ]
        .map(String::from)
        .to_vec();
    }
    for parse in nlu.parse_batch(&texts)? {
        let top = parse.ranking.first().map(|s| format!("{} {:.2}", s.name, s.confidence)).unwrap_or_default();
        println!("{:<40} → {:?} (top: {top})", parse.text, parse.decision);
    }
    Ok(())
}
