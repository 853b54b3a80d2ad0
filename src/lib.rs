//! entendu: the understanding core of chatbots.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod data;
pub mod encoder;
pub mod error;
pub mod testing;
mod util;

pub use encoder::Encoder;
pub use error::{Error, Result};
