//! Private files, written atomically, and the lock that serialises writers.
//!
//! Every file the helper writes is mode 0600 in a 0700 folder, and replaces
//! the old one with temp-file, fsync, rename, fsync-folder, so a crash or a
//! full disk leaves either the old file or the new one, never half of each.
//!
//! The helper's folders must belong to the user running it: one that is open
//! to others is closed on first use, one that belongs to someone else is
//! refused. Its own files are opened without following symbolic links and
//! must belong to the user too, so nobody can point `usage.log` or the lock
//! at another file, or slip in an index of their own.

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
    #[error(
        "{path} belongs to another user (uid {uid}); the helper keeps its data only in folders and files of your own: `chown` it, or set DOCKER_PAT_HOME to a private folder"
    )]
    NotOwned { path: PathBuf, uid: u32 },
    #[error(
        "{path} is a symbolic link; the helper never follows links to its own files: remove it (`docker-credential-pat doctor` lists such links)"
    )]
    Symlink { path: PathBuf },
    #[error("cannot make {path} private: {source}")]
    Protect { path: PathBuf, source: io::Error },
}

fn describe(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(28) => "no space left on device".into(),
        Some(27) => "file too large (a file-size limit is set)".into(),
        _ => error.to_string(),
    }
}

/// Creates `dir` (and missing parents) as 0700 if it does not exist; an
/// existing one is checked as [`check_private_dir`] does.
pub fn ensure_private_dir(dir: &Path) -> Result<(), FsError> {
    if dir.is_dir() {
        return check_private_dir(dir);
    }
    create_dir(dir)
}

/// Creates `dir` (and missing parents) as 0700 if it does not exist, leaving
/// an existing one as it is: for folders that are not the helper's own.
pub fn ensure_dir(dir: &Path) -> Result<(), FsError> {
    if dir.is_dir() {
        return Ok(());
    }
    create_dir(dir)
}

fn create_dir(dir: &Path) -> Result<(), FsError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| FsError::CreateDir {
        path: dir.to_owned(),
        source,
    })
}

/// Checks one of the helper's own folders, if it exists: it must belong to
/// the user running the helper (otherwise it is refused), and if others may
/// use it, it is closed to them (with a note saying so).
pub fn check_private_dir(dir: &Path) -> Result<(), FsError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        // Anything but a folder is left for creating or opening it to report.
        let Some(meta) = std::fs::metadata(dir).ok().filter(|m| m.is_dir()) else {
            return Ok(());
        };
        check_owner(dir, &meta)?;
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            let closed = mode & !0o077;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(closed)).map_err(
                |source| FsError::Protect {
                    path: dir.to_owned(),
                    source,
                },
            )?;
            crate::output::note(&format!(
                "{} was open to other users (mode {:o}); it is now mode {:o}",
                dir.display(),
                mode & 0o777,
                closed & 0o777
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Refuses what belongs to another user.
#[cfg(unix)]
fn check_owner(path: &Path, meta: &std::fs::Metadata) -> Result<(), FsError> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(FsError::NotOwned {
            path: path.to_owned(),
            uid: meta.uid(),
        });
    }
    Ok(())
}

/// Checks that a file of the helper's own, just opened, belongs to the user.
pub fn check_own_file(path: &Path, file: &File) -> Result<(), FsError> {
    #[cfg(unix)]
    {
        let meta = file.metadata().map_err(|source| FsError::Read {
            path: path.to_owned(),
            source,
        })?;
        check_owner(path, &meta)?;
    }
    #[cfg(not(unix))]
    let _ = (path, file);
    Ok(())
}

/// Options for opening one of the helper's own files: never through a
/// symbolic link; created (when asked to) with mode 0600.
pub fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    }
    options
}

/// Names a failure to open one of the helper's own files; a symbolic link in
/// its place is reported as such.
pub fn open_error(path: &Path, source: io::Error, writing: bool) -> FsError {
    #[cfg(unix)]
    if source.raw_os_error() == Some(libc::ELOOP) {
        return FsError::Symlink {
            path: path.to_owned(),
        };
    }
    let path = path.to_owned();
    if writing {
        FsError::Write { path, source }
    } else {
        FsError::Read { path, source }
    }
}

/// Opens one of the helper's own files for reading (never through a link, and
/// only if it belongs to the user); "not there" is `None`.
pub fn open_private(path: &Path) -> Result<Option<File>, FsError> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(open_error(path, e, false)),
    };
    check_own_file(path, &file)?;
    Ok(Some(file))
}

/// Reads one of the helper's own files (never through a link, and only if it
/// belongs to the user); "not there" is `None`.
pub fn read_private(path: &Path) -> Result<Option<Vec<u8>>, FsError> {
    use std::io::Read;
    let Some(mut file) = open_private(path)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|source| FsError::Read {
            path: path.to_owned(),
            source,
        })?;
    Ok(Some(bytes))
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
        let file = options
            .open(path)
            .map_err(|e| match open_error(path, e, false) {
                FsError::Read { source, .. } => lock_error(source),
                other => other,
            })?;
        check_own_file(path, &file)?;
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

    #[cfg(unix)]
    #[test]
    fn an_open_folder_of_ours_is_closed_on_use() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("data");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777)).unwrap();
        ensure_private_dir(&sub).unwrap();
        let mode = std::fs::metadata(&sub).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        check_private_dir(&dir.path().join("missing")).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn links_in_place_of_our_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "not ours").unwrap();
        for name in ["lock", "index.json"] {
            std::os::unix::fs::symlink(&elsewhere, dir.path().join(name)).unwrap();
        }
        let err = FileLock::acquire(&dir.path().join("lock"), LOCK_WAIT)
            .err()
            .unwrap();
        assert!(matches!(err, FsError::Symlink { .. }), "{err}");
        let err = read_private(&dir.path().join("index.json")).unwrap_err();
        assert!(matches!(err, FsError::Symlink { .. }), "{err}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read(&elsewhere).unwrap(), b"not ours");
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
