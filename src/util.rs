//! Small file helpers shared by the artifact and encoder code.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Hex SHA-256 of a file, streamed (weight files are hundreds of MB).
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(buffer.get(..n).unwrap_or_default());
    }
    Ok(hex(&hasher.finalize()))
}

/// Hex SHA-256 of bytes in memory.
pub(crate) fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a file so that readers see the old content or the new, never half of it:
/// write a sibling temporary file, flush it to disk, rename over the target.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = sibling(path, "tmp");
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Replaces directory `target` by `staged` (a fully written sibling directory) with renames, so
/// that a crash at any point leaves either the old directory or the new one in place.
pub(crate) fn replace_dir(staged: &Path, target: &Path) -> Result<()> {
    let backup = sibling(target, "old");
    if target.exists() {
        if backup.exists() {
            std::fs::remove_dir_all(&backup).map_err(|e| Error::io(&backup, e))?;
        }
        std::fs::rename(target, &backup).map_err(|e| Error::io(target, e))?;
    }
    if let Err(e) = std::fs::rename(staged, target) {
        // Put the previous version back before reporting.
        if backup.exists() {
            let _ = std::fs::rename(&backup, target);
        }
        return Err(Error::io(target, e));
    }
    if backup.exists() {
        let _ = std::fs::remove_dir_all(&backup);
    }
    Ok(())
}

/// The backup [`replace_dir`] made of `target` when a crash struck between its two renames
/// (`target` is gone, `.name.old-<pid>` holds the previous version), if there is one.
pub(crate) fn interrupted_backup(target: &Path) -> Option<PathBuf> {
    let name = target.file_name()?.to_string_lossy().into_owned();
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| Path::new("."));
    let prefix = format!(".{name}.old-");
    std::fs::read_dir(parent)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .find(|p| p.is_dir())
}

/// `dir/.name.<tag>-<pid>-<n>`: hidden, on the same file system as `path`, and unique per
/// process and per call, so that two threads saving the same model do not share a staging
/// directory.
pub(crate) fn sibling(path: &Path, tag: &str) -> PathBuf {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "entendu".to_string());
    let parent = path.parent().unwrap_or_else(|| Path::new("."));
    parent.join(format!(".{name}.{tag}-{}-{n}", std::process::id()))
}

/// `path` relative to directory `base` (both made absolute first), e.g. `../../datasets/x.yml`,
/// so a model can point at its training data wherever the project is checked out. Hand-written:
/// it is a dozen lines, not worth a dependency.
pub(crate) fn relative_to(path: &Path, base: &Path) -> PathBuf {
    // A directory about to be created (a model being saved) does not canonicalise: use its parent.
    let absolute = |p: &Path| {
        std::fs::canonicalize(p)
            .or_else(|e| match (p.parent(), p.file_name()) {
                (Some(parent), Some(name)) => {
                    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
                    std::fs::canonicalize(parent).map(|d| d.join(name))
                }
                _ => Err(e),
            })
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let (path, base) = (absolute(path), absolute(base));
    let (p, b): (Vec<_>, Vec<_>) = (path.components().collect(), base.components().collect());
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return path;
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in p.iter().skip(common) {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_bytes() {
        assert_eq!(sha256_bytes(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn write_atomic_then_replace_dir() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("a.txt");
        write_atomic(&file, b"one").unwrap();
        write_atomic(&file, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "two");
        assert_eq!(sha256_file(&file).unwrap(), sha256_bytes(b"two"));

        let target = root.path().join("model");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("v"), "old").unwrap();
        let staged = root.path().join("staged");
        std::fs::create_dir(&staged).unwrap();
        std::fs::write(staged.join("v"), "new").unwrap();
        replace_dir(&staged, &target).unwrap();
        assert_eq!(std::fs::read_to_string(target.join("v")).unwrap(), "new");
        assert!(!staged.exists());
    }

    #[test]
    fn relative_paths_climb_out_of_the_base() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("datasets/support");
        let model = root.path().join("models/support");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&model).unwrap();
        std::fs::write(data.join("train.yml"), "x").unwrap();
        assert_eq!(relative_to(&data.join("train.yml"), &model), Path::new("../../datasets/support/train.yml"));
    }
}
