//! Private files, written atomically, and the lock that serialises writers.
//!
//! Every file the helper writes is mode 0600 in a 0700 folder, and replaces
//! the old one with temp-file, fsync, rename, fsync-folder, so a crash or a
//! full disk leaves either the old file or the new one, never half of each.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("cannot create folder {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {}; the previous version is unchanged", describe(.source))]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot lock {path}: {source}")]
    Lock { path: PathBuf, source: io::Error },
    #[error(
        "another docker-credential-pat process has held {path} for over {seconds} s; if none is running, remove the file"
    )]
    LockTimeout { path: PathBuf, seconds: u64 },
}

fn describe(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(28) => "no space left on device".into(),
        Some(27) => "file too large (a file-size limit is set)".into(),
        _ => error.to_string(),
    }
}

/// Creates `dir` (and missing parents) as 0700 if it does not exist.
pub fn ensure_private_dir(dir: &Path) -> Result<(), FsError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| FsError::CreateDir {
        path: dir.to_owned(),
        source,
    })
}

/// Opens `path` for writing with mode 0600.
pub fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Replaces `path` with `contents` atomically and durably.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), FsError> {
    write_atomic_with_mode(path, contents, None)
}

/// Like [`write_atomic`], but keeps a given permission mode (for files that are not ours).
pub fn write_atomic_with_mode(
    path: &Path,
    contents: &[u8],
    mode: Option<u32>,
) -> Result<(), FsError> {
    let error = |source| FsError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = temp_path(path);
    // Modes are a Unix idea; elsewhere the folder's access rules apply.
    #[cfg(not(unix))]
    let _ = mode;
    let result = (|| {
        let mut options = private_options();
        options.create_new(true);
        #[cfg(unix)]
        if let Some(mode) = mode {
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        }
        let mut file = options.open(&tmp)?;
        #[cfg(unix)]
        if let Some(mode) = mode {
            // The umask may have narrowed the mode at creation.
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        }
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(error)
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        crate::ids::random_hex(4)
    ));
    path.with_file_name(name)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Reads a file, treating "not there" as `None`.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, FsError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FsError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// How long a writer waits for another before giving up instead of hanging.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// An exclusive lock on a lock file, held until dropped.
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Waits up to `wait` for the exclusive lock on `path`, creating the file if needed.
    pub fn acquire(path: &Path, wait: Duration) -> Result<Self, FsError> {
        let lock_error = |source| FsError::Lock {
            path: path.to_owned(),
            source,
        };
        let mut options = private_options();
        options.create(true).truncate(false).read(true);
        let file = options.open(path).map_err(lock_error)?;
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_micros(200);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { file }),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(source)) => return Err(lock_error(source)),
            }
            if Instant::now() >= deadline {
                return Err(FsError::LockTimeout {
                    path: path.to_owned(),
                    seconds: wait.as_secs(),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temp file is left behind");
    }

    #[test]
    fn private_dir_is_0700() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        ensure_private_dir(&sub).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&sub).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
    }

    #[test]
    fn second_lock_waits_then_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let _held = FileLock::acquire(&path, LOCK_WAIT).unwrap();
        let err = FileLock::acquire(&path, Duration::from_millis(50))
            .err()
            .unwrap();
        assert!(matches!(err, FsError::LockTimeout { .. }));
    }
}
