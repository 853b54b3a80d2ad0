//! Reading utterances from stdin the way bots and pipes need it.

use std::io::{BufRead, BufReader, Read};

/// Lines of an input, grouped: a line that arrives alone is answered alone and at once (a bot
/// waiting on a pipe), while lines already read in (a file piped in) are taken together, up to
/// `max` at a time, so batch work runs at batch speed.
///
/// It reads on the caller's thread and never waits for a second line: a batch grows only with
/// complete lines already in the read buffer, so no helper thread or channel is needed.
pub struct LineBatches<R: Read> {
    reader: BufReader<R>,
    max: usize,
    number: usize,
    finished: bool,
}

/// Room for a few hundred utterances per read, so that piped files batch well.
const READ_BUFFER_BYTES: usize = 64 * 1024;

impl LineBatches<std::io::Stdin> {
    /// The lines of stdin, at most `max` per batch.
    pub fn stdin(max: usize) -> Self {
        Self::new(std::io::stdin(), max)
    }
}

impl<R: Read> LineBatches<R> {
    /// The lines of `input`, at most `max` per batch. Lines that are not valid UTF-8 are
    /// reported on stderr with their line number and skipped; reading goes on.
    pub fn new(input: R, max: usize) -> Self {
        Self { reader: BufReader::with_capacity(READ_BUFFER_BYTES, input), max: max.max(1), number: 0, finished: false }
    }

    /// The next group of `(line number, text)`, waiting for at least one; `None` at end of input.
    pub fn next_batch(&mut self) -> Option<Vec<(usize, String)>> {
        let mut batch = Vec::new();
        while !self.finished && batch.len() < self.max {
            if !batch.is_empty() && !self.reader.buffer().contains(&b'\n') {
                break; // the next line has not fully arrived: answer what we have now
            }
            if let Some(line) = self.read_line() {
                batch.push(line);
            }
        }
        (!batch.is_empty()).then_some(batch)
    }

    /// One line, blocking; `None` for a skipped line or at the end (then `finished` is set).
    fn read_line(&mut self) -> Option<(usize, String)> {
        let mut buffer = Vec::new();
        match self.reader.read_until(b'\n', &mut buffer) {
            Ok(0) => {
                self.finished = true;
                return None;
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("entendu: stopped reading stdin: {e}");
                self.finished = true;
                return None;
            }
        }
        self.number += 1;
        while matches!(buffer.last(), Some(b'\n' | b'\r')) {
            buffer.pop();
        }
        match String::from_utf8(buffer) {
            Ok(line) => Some((self.number, line)),
            Err(_) => {
                eprintln!("entendu: stdin line {}: not valid UTF-8, skipped", self.number);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its chunks one `read` call at a time, like a pipe a bot writes to.
    struct Chunks(Vec<&'static [u8]>);

    impl Read for Chunks {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let chunk = self.0.remove(0);
            out[..chunk.len()].copy_from_slice(chunk);
            Ok(chunk.len())
        }
    }

    fn texts(batch: Option<Vec<(usize, String)>>) -> Vec<String> {
        batch.unwrap_or_default().into_iter().map(|(_, t)| t).collect()
    }

    #[test]
    fn lines_read_together_are_batched_up_to_the_maximum() {
        let mut lines = LineBatches::new(&b"a\nb\r\nc\nd\ne\nlast, unterminated"[..], 3);
        assert_eq!(texts(lines.next_batch()), ["a", "b", "c"]);
        assert_eq!(texts(lines.next_batch()), ["d", "e"]);
        assert_eq!(texts(lines.next_batch()), ["last, unterminated"]);
        assert!(lines.next_batch().is_none());
    }

    #[test]
    fn a_line_that_arrives_alone_is_answered_alone() {
        let mut lines = LineBatches::new(Chunks(vec![b"first\n", b"second\nthi", b"rd\n"]), 32);
        assert_eq!(texts(lines.next_batch()), ["first"]);
        assert_eq!(texts(lines.next_batch()), ["second"]);
        assert_eq!(texts(lines.next_batch()), ["third"]);
        assert!(lines.next_batch().is_none());
    }

    #[test]
    fn invalid_utf8_is_skipped_and_line_numbers_keep_counting() {
        let mut lines = LineBatches::new(&b"ok\n\xff\xfe\nstill ok\n"[..], 8);
        let batch = lines.next_batch().unwrap_or_default();
        assert_eq!(batch, [(1, "ok".to_string()), (3, "still ok".to_string())]);
    }
}
