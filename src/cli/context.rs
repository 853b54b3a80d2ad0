//! Command errors are strings for the user; this adds what the command was doing.

/// Prefixes an error with the step that failed, keeping the library's message (which already
/// names the file and what to do).
pub trait Context<T> {
    /// `Err(e)` becomes `Err("what: e")`.
    fn context(self, what: &str) -> Result<T, String>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}
