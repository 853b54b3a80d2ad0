//! The one error type of the crate.
//!
//! Every fallible function returns [`Result<T>`](Result). Messages quote the offending input and
//! say what to do next, e.g. `data/support.yml:42:7: unclosed entity annotation
//! `[12345(order_id)`: expected `](``.

use std::fmt;
use std::path::PathBuf;

/// A position in a text file, 1-based, as editors show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as the user named it.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column in characters; 0 when unknown.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column > 0 {
            write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
        } else {
            write!(f, "{}:{}", self.path.display(), self.line)
        }
    }
}

/// Everything that can go wrong in entendu.
///
/// The enum is `#[non_exhaustive]`: match the variants you handle and keep a catch-all arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// Training data (or any text file we parse) is malformed at a known place.
    #[error("{location}: {message}{}", hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    Syntax {
        /// Where the problem is.
        location: Location,
        /// What is wrong, quoting the input.
        message: String,
        /// What to do about it, when we know.
        hint: Option<String>,
    },

    /// Training data is well-formed but unusable as a whole (no intents, a single example, …).
    #[error("invalid training data: {0}")]
    Data(String),

    /// The data file's format is not one we read.
    #[error("{}: unknown training data format; supported: {supported}", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// The formats we read, comma-separated.
        supported: String,
    },

    /// An encoder (or one of its files) could not be found, e.g. it was never fetched.
    #[error("encoder `{name}` not found: {reason}\n  hint: {hint}")]
    EncoderNotFound {
        /// The name or directory the caller asked for.
        name: String,
        /// What was tried.
        reason: String,
        /// What to do, typically the fetch command.
        hint: String,
    },

    /// An encoder directory is present but one of its files is wrong.
    #[error("{}: {message}", path.display())]
    InvalidEncoder {
        /// The offending file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },

    /// A trained model artifact is missing, damaged, or does not fit the encoder it is loaded with.
    #[error("{}: {message}", path.display())]
    Artifact {
        /// The artifact file or directory.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },

    /// A model was trained with other encoder weights than those of the encoder it is loaded
    /// with, so its embeddings would not match (the hub's f32 multilingual-e5-small and the
    /// offline 4-bit-derived copy are different encoders). [`Nlu::load_or_retrain`](crate::Nlu::load_or_retrain)
    /// retrains such a model from its recorded training data.
    #[error(
        "{}: trained with encoder {trained}, but the encoder loaded is {loaded}: the embeddings would not match; \
         retrain it for this encoder (`entendu train DATA --out {}`) or load the encoder it was trained with",
        path.display(),
        path.display()
    )]
    EncoderMismatch {
        /// The model directory.
        path: PathBuf,
        /// The encoder the model was trained with (name and start of its weights' SHA-256).
        trained: String,
        /// The encoder given (name, start of its SHA-256, directory).
        loaded: String,
    },

    /// Downloading from the Hugging Face hub or the Python package index failed.
    #[error("fetching {what} failed: {message}")]
    Fetch {
        /// What we were fetching.
        what: String,
        /// Why it failed and what to do.
        message: String,
    },

    /// A caller passed an argument we cannot use (empty batch, bad threshold, unknown option, …).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The tokenizer failed.
    #[error(
        "tokenizer: {0}; if the encoder's tokenizer.json was edited or damaged, fetch the encoder again \
         (`entendu encoder fetch`)"
    )]
    Tokenizer(String),

    /// A tensor operation failed; this points at a bug or a damaged model rather than bad input.
    #[error(
        "tensor computation failed: {0}; the model or encoder files may be damaged (fetch the encoder again, \
         retrain the model); if they are not, this is a bug in entendu: please report it with this message"
    )]
    Tensor(#[from] candle_core::Error),

    /// JSON (de)serialisation failed.
    #[error("JSON: {0}; if a JSON file was edited by hand, check it against the documented format")]
    Json(#[from] serde_json::Error),
}

/// `Result` with entendu's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// An [`Error::Syntax`] at `path:line:column`.
    pub fn syntax(
        path: impl Into<PathBuf>,
        line: usize,
        column: usize,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        Error::Syntax { location: Location { path: path.into(), line, column }, message: message.into(), hint }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_reads_like_an_editor_location() {
        let e = Error::syntax(
            "data/support.yml",
            42,
            7,
            "unclosed entity annotation `[12345(order_id)`: expected `](`",
            Some("close the bracket: `[12345](order_id)`".into()),
        );
        let s = e.to_string();
        assert!(s.starts_with("data/support.yml:42:7: unclosed"), "{s}");
        assert!(s.contains("hint: close the bracket"), "{s}");
    }
}
