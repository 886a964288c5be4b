//! Where the index lives on disk: `index.json`, which says which layout is in
//! force, and one file per bucket of registries under `index/`.
//!
//! `get` and `store` each touch one registry. With every token in one file
//! they would read, and `store` would rewrite, all of them, so their time would
//! grow with the number of tokens. Registries are spread over 256 bucket files
//! by a hash of their canonical name instead: both read or write one small file
//! whatever the total, and `list` reads the folder.
//!
//! The first writer of a data folder (or of one written by an earlier version,
//! where `index.json` holds every token) builds the whole `index/` folder and
//! only then replaces `index.json` with the marker, so a crash before that
//! leaves the earlier layout in force. Earlier versions refuse the marker as
//! "written by a newer docker-credential-pat" rather than starting afresh.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::check::{FORMAT_VERSION, IndexError, LEGACY_VERSION, check_key, damaged};
use crate::config::Paths;
use crate::fsutil::{self, FsError};
use crate::registry::Registry;

/// What `index.json` says.
pub(crate) enum Layout {
    /// No index yet: no tokens.
    Empty,
    /// Every token in `index.json` itself (the first format).
    Single(Vec<u8>),
    /// Tokens in the bucket files under `index/`.
    Buckets,
}

/// The whole of `index.json` once the tokens live in buckets.
const MARKER: &[u8] =
    b"{\"version\":2,\"layout\":\"tokens are in the files of the index folder\"}\n";

#[derive(Deserialize)]
struct Version {
    version: u32,
}

/// Reads `index.json` to learn which layout is in force.
pub(crate) fn current(paths: &Paths) -> Result<Layout, IndexError> {
    let path = paths.index_file();
    let Some(bytes) = fsutil::read_private(&path)? else {
        return Ok(Layout::Empty);
    };
    let found: Version =
        serde_json::from_slice(&bytes).map_err(|e| IndexError::corrupt(&path, &e))?;
    match found.version {
        LEGACY_VERSION => Ok(Layout::Single(bytes)),
        FORMAT_VERSION => Ok(Layout::Buckets),
        found => Err(IndexError::TooNew { path, found }),
    }
}

/// The bucket a registry's record is kept in: FNV-1a of its canonical key,
/// which never changes between versions or machines.
pub(crate) fn bucket_of(key: &str) -> u8 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash ^ (hash >> 32) ^ (hash >> 16) ^ (hash >> 8)) as u8
}

pub(crate) fn bucket_path(paths: &Paths, bucket: u8) -> PathBuf {
    paths.index_dir().join(format!("{bucket:02x}.json"))
}

pub(crate) fn read_bucket(paths: &Paths, bucket: u8) -> Result<Option<Vec<u8>>, FsError> {
    fsutil::read_private(&bucket_path(paths, bucket))
}

/// The start of a bucket file up to just past the line break that ends its
/// listing (the whole file when it has none): all `list` reads of it.
pub(crate) fn read_listing_part(path: &Path) -> Result<Option<Vec<u8>>, FsError> {
    use std::io::Read;
    let error = |source| FsError::Read {
        path: path.to_owned(),
        source,
    };
    let Some(mut file) = fsutil::open_private(path)? else {
        return Ok(None);
    };
    let mut bytes = Vec::with_capacity(8192);
    let mut scanned = 0;
    loop {
        let read = (&mut file)
            .take(8192)
            .read_to_end(&mut bytes)
            .map_err(error)?;
        // One byte past the line break tells a listing from a file that ends there.
        let found = bytes[scanned..].iter().position(|&b| b == b'\n');
        match found {
            Some(at) if scanned + at + 1 < bytes.len() => return Ok(Some(bytes)),
            Some(at) => scanned += at,
            None => scanned = bytes.len(),
        }
        if read == 0 {
            return Ok(Some(bytes));
        }
    }
}

/// Every bucket file present, in bucket order.
pub(crate) fn bucket_files(paths: &Paths) -> Result<Vec<(u8, PathBuf)>, FsError> {
    let dir = paths.index_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(FsError::Read { path: dir, source }),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| FsError::Read {
            path: dir.clone(),
            source,
        })?;
        let name = entry.file_name();
        if let Some(bucket) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".json"))
            .filter(|n| n.len() == 2)
            .and_then(|n| u8::from_str_radix(n, 16).ok())
            .filter(|b| format!("{b:02x}.json") == name.to_string_lossy())
        {
            found.push((bucket, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Writes one bucket, or removes it when it holds nothing.
pub(crate) fn write_bucket(
    paths: &Paths,
    bucket: u8,
    contents: Option<&[u8]>,
) -> Result<(), FsError> {
    let path = bucket_path(paths, bucket);
    match contents {
        Some(bytes) => fsutil::write_atomic(&path, bytes),
        None => match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(FsError::Write { path, source }),
        },
    }
}

/// Builds the bucket folder from scratch, then switches `index.json` to it.
/// Files left by an earlier attempt that was interrupted are removed first.
pub(crate) fn create(paths: &Paths, buckets: &BTreeMap<u8, Vec<u8>>) -> Result<(), FsError> {
    let dir = paths.index_dir();
    fsutil::ensure_private_dir(&dir)?;
    for (bucket, _) in bucket_files(paths)? {
        if !buckets.contains_key(&bucket) {
            write_bucket(paths, bucket, None)?;
        }
    }
    for (bucket, bytes) in buckets {
        write_bucket(paths, *bucket, Some(bytes))?;
    }
    fsutil::write_atomic(&paths.index_file(), MARKER)
}

/// The file that holds (or would hold) `registry`'s record.
pub fn registry_file(paths: &Paths, registry: &Registry) -> PathBuf {
    match current(paths) {
        Ok(Layout::Buckets) => bucket_path(paths, bucket_of(registry.key())),
        _ => paths.index_file(),
    }
}

/// A registry found in another registry's bucket would be missed by `get`.
pub(super) fn check_bucket(key: &str, bucket: u8, path: &Path) -> Result<(), IndexError> {
    if bucket_of(key) != bucket {
        return Err(damaged(
            path,
            format!("registry {key:?} does not belong in this file"),
        ));
    }
    Ok(())
}

/// A key must be canonical and, in a bucket file, in its own bucket.
pub(super) fn check_placed_key(
    key: &str,
    path: &Path,
    bucket: Option<u8>,
) -> Result<Registry, IndexError> {
    let registry = check_key(key, path)?;
    if let Some(bucket) = bucket {
        check_bucket(key, bucket, path)?;
    }
    Ok(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_spread() {
        // Pinned: a change here would strand every existing token.
        assert_eq!(bucket_of("docker.io"), bucket_of("docker.io"));
        let pinned: Vec<u8> = ["docker.io", "ghcr.io", "127.0.0.1:5000"]
            .iter()
            .map(|k| bucket_of(k))
            .collect();
        assert_eq!(pinned, PINNED);
        let mut counts = [0usize; 256];
        for i in 0..10_000 {
            counts[usize::from(bucket_of(&format!("registry{i:04}.example.com:5000")))] += 1;
        }
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*min > 10 && *max < 80, "uneven: {min}..{max}");
    }

    const PINNED: [u8; 3] = [147, 16, 152];
}
