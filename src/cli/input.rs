//! Reading utterances from stdin the way bots and pipes need it.

use std::io::BufRead;
use std::sync::mpsc::{self, Receiver};

/// Lines of stdin, grouped: a line that arrives alone is answered alone and at once (a bot
/// waiting on a pipe), while lines already queued (a file piped in) are taken together, up to
/// `max` at a time, so batch work runs at batch speed.
pub struct StdinBatches {
    receiver: Receiver<(usize, String)>,
    max: usize,
}

impl StdinBatches {
    /// Starts the reader thread. Lines that are not valid UTF-8 are reported on stderr with
    /// their line number and skipped; reading goes on.
    pub fn start(max: usize) -> Self {
        let (sender, receiver) = mpsc::sync_channel::<(usize, String)>(4 * max.max(1));
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            let mut lock = stdin.lock();
            let mut buffer = Vec::new();
            let mut number = 0usize;
            loop {
                buffer.clear();
                match lock.read_until(b'\n', &mut buffer) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("entendu: stopped reading stdin: {e}");
                        break;
                    }
                }
                number += 1;
                while matches!(buffer.last(), Some(b'\n' | b'\r')) {
                    buffer.pop();
                }
                match String::from_utf8(std::mem::take(&mut buffer)) {
                    Ok(line) => {
                        if sender.send((number, line)).is_err() {
                            break;
                        }
                    }
                    Err(_) => eprintln!("entendu: stdin line {number}: not valid UTF-8, skipped"),
                }
            }
        });
        Self { receiver, max: max.max(1) }
    }

    /// The next group of `(line number, text)`, waiting for at least one; `None` at end of input.
    pub fn next_batch(&self) -> Option<Vec<(usize, String)>> {
        let first = self.receiver.recv().ok()?;
        let mut batch = vec![first];
        while batch.len() < self.max {
            match self.receiver.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        Some(batch)
    }
}
