//! entendu: the understanding core of chatbots.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod data;
pub mod encoder;
pub mod error;
pub mod eval;
pub mod intent;
pub mod model;
mod nlu;
pub mod parse;
pub mod testing;
mod util;

pub use data::TrainingData;
pub use encoder::Encoder;
pub use error::{Error, Result};
pub use nlu::{Nlu, ProgressFn, TrainConfig};
pub use parse::{Entity, Parse, ParseOptions, Signal};
