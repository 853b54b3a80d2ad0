//! The trained model on disk: a directory with `manifest.json` and `weights.safetensors`.
//!
//! The manifest records the format version, the encoder the model was trained with (name and
//! SHA-256 of its weights), the labels and thresholds, the training configuration, the metrics
//! measured at training time, and the SHA-256 of every weight file, verified on load: a
//! truncated or bit-flipped file is refused, never turned into confident garbage. Saving writes
//! a sibling directory and renames it into place, so a crash mid-save leaves the previous model.

use crate::encoder::EncoderInfo;
use crate::error::{Error, Result};
use crate::intent::IntentMeta;
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Version of the artifact layout written; a model of a version outside
/// [`OLDEST_READABLE_VERSION`]`..=FORMAT_VERSION` is refused with a hint. Version 2 stores the
/// adapter's weight matrices in int8 (version 1: f16), so an older entendu refuses it clearly
/// instead of misreading it.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest artifact layout this version still reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;
/// Manifest file name.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Weight file name.
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// The model's `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_VERSION`] at save time.
    pub format_version: u32,
    /// The entendu version that saved it.
    pub entendu_version: String,
    /// The encoder it was trained with.
    pub encoder: EncoderInfo,
    /// Intent labels, temperature and thresholds.
    pub intent: IntentMeta,
    /// Signal names and thresholds, in the order of their heads (empty: no signals).
    #[serde(default)]
    pub signals: Vec<crate::signal::SignalMeta>,
    /// The learned entity tagger's tags and settings (its tensors are under `tagger.`); absent
    /// in models trained without entity annotations, and in those saved before the tagger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tagger: Option<crate::entity::learned::TaggerMeta>,
    /// The encoder adaptation (its adapted top layers are under `adapter.`: int8 matrices and
    /// f16 vectors since format 2); absent in models trained on the frozen encoder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<crate::encoder::adapt::AdapterMeta>,
    /// Per-intent settings from the training data (required entities, descriptions).
    #[serde(default)]
    pub intents: BTreeMap<String, crate::data::IntentSpec>,
    /// Declared entities (regexes, lookups, synonyms) from the training data.
    #[serde(default)]
    pub entities: Vec<crate::data::EntityDeclaration>,
    /// The training configuration.
    pub train_config: serde_json::Value,
    /// Metrics measured at training time on held-out data.
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// SHA-256 of each weight file, by file name.
    pub files: BTreeMap<String, String>,
    /// The files the model was trained from, so that it can be retrained for another encoder
    /// (see [`Nlu::load_or_retrain`](crate::Nlu::load_or_retrain)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub training_files: Vec<TrainingFile>,
}

/// A training data file recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingFile {
    /// Path relative to the model directory (absolute when on another file system root).
    pub path: std::path::PathBuf,
    /// SHA-256 of the file when the model was trained.
    pub sha256: String,
}

/// Writes `manifest` and `tensors` to `dir` atomically (staged sibling directory + rename).
pub fn save(dir: &Path, manifest: &Manifest, tensors: &HashMap<String, Tensor>) -> Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let staged = crate::util::sibling(dir, "saving");
    let _ = std::fs::remove_dir_all(&staged);
    std::fs::create_dir_all(&staged).map_err(|e| Error::io(&staged, e))?;
    let result = (|| {
        let weights = staged.join(WEIGHTS_FILE);
        // Serialised here and written by us rather than by `candle_core::safetensors::save`:
        // safetensors writes through a temporary file created owner-only (0600), and a model is
        // read by whoever runs the bot, often another account than the one that trained it.
        // Created like the manifest, the file gets the usual permissions (the umask's).
        let bytes = safetensors::tensor::serialize(tensors.iter(), None).map_err(|e| Error::Artifact {
            path: weights.clone(),
            message: format!("cannot serialise the weights: {e}"),
        })?;
        // On disk before the manifest that vouches for it, and before the rename.
        crate::util::write_atomic(&weights, &bytes)?;
        let mut manifest = manifest.clone();
        manifest.files.insert(WEIGHTS_FILE.to_string(), crate::util::sha256_file(&weights)?);
        let json = serde_json::to_string_pretty(&manifest)?;
        crate::util::write_atomic(&staged.join(MANIFEST_FILE), json.as_bytes())?;
        crate::util::replace_dir(&staged, dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staged);
    }
    result
}

/// Reads a model's manifest alone (no weights, no checksums): the manifest parses and the
/// format version is ours. What to look at before loading, e.g. which encoder a model needs.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let manifest_path = dir.join(MANIFEST_FILE);
    if !dir.is_dir() {
        // A crash between the two renames of a save leaves the previous model under its
        // backup name: say where it is rather than "no model".
        let message = match crate::util::interrupted_backup(dir) {
            Some(backup) => format!(
                "no model here, but a save was interrupted and the previous model is in {}: restore it with \
                 `mv {} {}`, or train again with `entendu train DATA --out DIR`",
                backup.display(),
                backup.display(),
                dir.display()
            ),
            None => "no such model directory; train one with `entendu train DATA --out DIR`".into(),
        };
        return Err(Error::Artifact { path: dir.to_path_buf(), message });
    }
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| Error::Artifact {
        path: manifest_path.clone(),
        message: format!(
            "cannot read it ({e}): not a model directory, or a damaged one; train one with \
             `entendu train DATA --out DIR`"
        ),
    })?;
    let version: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Artifact {
        path: manifest_path.clone(),
        message: format!("not valid JSON ({e}); the model is damaged: train it again"),
    })?;
    let found = version.get("format_version").and_then(|v| v.as_u64());
    if !found.is_some_and(|v| (u64::from(OLDEST_READABLE_VERSION)..=u64::from(FORMAT_VERSION)).contains(&v)) {
        return Err(Error::Artifact {
            path: manifest_path,
            message: format!(
                "model format version {}, this entendu reads versions {OLDEST_READABLE_VERSION} to {FORMAT_VERSION}; \
                 retrain with this version (`entendu train`), or use the entendu that trained it",
                found.map_or_else(|| "missing".to_string(), |v| v.to_string())
            ),
        });
    }
    let manifest: Manifest = serde_json::from_value(version).map_err(|e| Error::Artifact {
        path: manifest_path.clone(),
        message: format!("manifest does not match format {FORMAT_VERSION} ({e}); train the model again"),
    })?;
    Ok(manifest)
}

/// Reads and verifies a model directory: the manifest parses, the format version is ours, and
/// every weight file matches its recorded SHA-256.
pub fn load(dir: &Path) -> Result<(Manifest, HashMap<String, Tensor>)> {
    let manifest = read_manifest(dir)?;
    let manifest_path = dir.join(MANIFEST_FILE);
    if !manifest.files.contains_key(WEIGHTS_FILE) {
        return Err(Error::Artifact {
            path: manifest_path.clone(),
            message: format!("no checksum recorded for {WEIGHTS_FILE}: the manifest is damaged; train the model again"),
        });
    }
    // Every file the manifest vouches for, not only the one read below: a model is whole or refused.
    for (name, expected) in &manifest.files {
        let plain = Path::new(name).file_name().is_some_and(|n| n == name.as_str());
        if !plain {
            return Err(Error::Artifact {
                path: manifest_path.clone(),
                message: format!("lists `{name}`, which is not a file of the model directory; train the model again"),
            });
        }
        let file = dir.join(name);
        let actual = crate::util::sha256_file(&file).map_err(|e| match e {
            Error::Io { source, .. } => Error::Artifact {
                path: file.clone(),
                message: format!("cannot read it ({source}); restore it or train the model again"),
            },
            other => other,
        })?;
        if &actual != expected {
            return Err(Error::Artifact {
                path: file,
                message: format!(
                    "checksum mismatch (sha256 {actual}, manifest says {expected}): the file is damaged or was \
                     changed; restore it or train the model again"
                ),
            });
        }
    }
    let weights = dir.join(WEIGHTS_FILE);
    let tensors = candle_core::safetensors::load(&weights, &Device::Cpu).map_err(|e| Error::Artifact {
        path: weights.clone(),
        message: format!("unreadable weights ({e}); train the model again"),
    })?;
    Ok((manifest, tensors))
}
