//! [`SharedNlu`]: one model for many threads, replaceable while they parse (hot reload).

use crate::error::Result;
use crate::nlu::Nlu;
use crate::parse::{Parse, ParseOptions};
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

/// A model shared by every thread of a bot that can be swapped for a retrained one while
/// those threads parse, without a failed or half-old, half-new call.
///
/// Each call takes the model in force when it starts and finishes on it; a swap only changes
/// what later calls get. The lock is held for the time of cloning or replacing an `Arc`, never
/// while parsing, so a reload does not stall traffic: loading happens before the swap, outside
/// the lock, and a model that fails to load leaves the current one in place.
///
/// ```no_run
/// use entendu::{Nlu, SharedNlu};
/// use std::sync::Arc;
///
/// let shared = Arc::new(SharedNlu::new(Nlu::load("models/my-bot")?));
/// let worker = {
///     let shared = shared.clone();
///     std::thread::spawn(move || shared.parse("où est mon colis ?").map(|p| p.intent().map(str::to_owned)))
/// };
/// shared.reload("models/my-bot-v2")?; // retrained with the same encoder
/// worker.join().expect("worker thread")?;
/// # Ok::<(), entendu::Error>(())
/// ```
pub struct SharedNlu {
    current: RwLock<Arc<Nlu>>,
}

impl SharedNlu {
    /// Shares `nlu`.
    pub fn new(nlu: Nlu) -> Self {
        Self::from_arc(Arc::new(nlu))
    }

    /// Shares a model that is already behind an `Arc`.
    pub fn from_arc(nlu: Arc<Nlu>) -> Self {
        Self { current: RwLock::new(nlu) }
    }

    /// The model in force now. Keep it for several calls that must see the same model (a
    /// parse and its follow-up); it stays valid after a swap.
    pub fn current(&self) -> Arc<Nlu> {
        // The lock guards a plain `Arc` assignment, which cannot panic half-way: a poisoned
        // lock still holds a whole model, so it is used rather than turned into an error.
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// [`Nlu::parse`] on the model in force.
    pub fn parse(&self, text: &str) -> Result<Parse> {
        self.current().parse(text)
    }

    /// [`Nlu::parse_with`] on the model in force.
    pub fn parse_with(&self, text: &str, options: &ParseOptions) -> Result<Parse> {
        self.current().parse_with(text, options)
    }

    /// [`Nlu::parse_batch`] on the model in force (the whole batch sees one model).
    pub fn parse_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Parse>> {
        self.current().parse_batch(texts)
    }

    /// Puts `nlu` in force for every later call and returns the model it replaces.
    pub fn replace(&self, nlu: impl Into<Arc<Nlu>>) -> Arc<Nlu> {
        let nlu = nlu.into();
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, nlu)
    }

    /// Loads the model in `dir` with the current model's encoder (the usual case: the same bot,
    /// retrained) and puts it in force. On error (a damaged model, one trained with another
    /// encoder) the current model stays in force; for a model on another encoder, load it with
    /// [`Nlu::load`] and [`replace`](Self::replace).
    pub fn reload(&self, dir: impl AsRef<Path>) -> Result<()> {
        let encoder = self.current().encoder().clone();
        let nlu = Nlu::load_with_encoder(dir, encoder)?;
        self.replace(nlu);
        Ok(())
    }
}

impl From<Nlu> for SharedNlu {
    fn from(nlu: Nlu) -> Self {
        Self::new(nlu)
    }
}

impl std::fmt::Debug for SharedNlu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedNlu").field("intents", &self.current().intents()).finish()
    }
}
