//! Writing the index: the data lock, held from `begin` to the last `save`,
//! and each changed bucket written back atomically.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use super::check::{FORMAT_VERSION, IndexError};
use super::layout::{self, Layout};
use super::record::{Index, RegistryRecord, SecretRef};
use crate::config::Paths;
use crate::fsutil::{self, FileLock};
use crate::registry::Registry;

impl Index {
    pub fn to_bytes(&self) -> Vec<u8> {
        // Compact: `get` and `list` parse this file on every call.
        let mut bytes = serde_json::to_vec(self).expect("the index always serialises");
        bytes.push(b'\n');
        bytes
    }

    /// A bucket file: the same object as [`Index::to_bytes`] with a `listing`
    /// first, holding only what `list` needs of each registry, and a line
    /// break after it. Compact JSON has no raw line break, so `list` parses
    /// the first line alone (a quarter of the bytes); the file stays one JSON
    /// object. Both parts are written from one index, so they always agree.
    pub(super) fn to_bucket_bytes(&self) -> Vec<u8> {
        let listing: BTreeMap<&str, RegistryRecord<(&str, &str, bool)>> = self
            .registries
            .iter()
            .map(|(key, record)| {
                let tokens = record
                    .tokens
                    .iter()
                    .map(|(name, t)| {
                        (
                            name.clone(),
                            (t.server_url.as_str(), t.username.as_str(), t.active),
                        )
                    })
                    .collect();
                (
                    key.as_str(),
                    RegistryRecord {
                        default: record.default.clone(),
                        tokens,
                    },
                )
            })
            .collect();
        let fail = "the index always serialises";
        let mut out = format!("{{\"version\":{},\"listing\":", self.version).into_bytes();
        serde_json::to_writer(&mut out, &listing).expect(fail);
        out.extend_from_slice(b"\n,\"registries\":");
        serde_json::to_writer(&mut out, &self.registries).expect(fail);
        if !self.retired.is_empty() {
            out.extend_from_slice(b",\"retired\":");
            serde_json::to_writer(&mut out, &self.retired).expect(fail);
        }
        out.extend_from_slice(b"}\n");
        out
    }
}

/// The part of the index a writer has loaded: every bucket, or some.
enum Scope {
    All,
    Buckets(BTreeSet<u8>),
}

impl Scope {
    fn contains(&self, bucket: u8) -> bool {
        match self {
            Scope::All => true,
            Scope::Buckets(set) => set.contains(&bucket),
        }
    }

    /// Refuses a change outside the loaded part: saving it would write over
    /// buckets this writer never read.
    fn check(&self, bucket: u8, what: &'static str) -> Result<(), IndexError> {
        if self.contains(bucket) {
            Ok(())
        } else {
            Err(IndexError::Internal(what))
        }
    }

    /// Where a newly retired secret is kept until it is removed from its store.
    fn home(&self) -> u8 {
        match self {
            Scope::All => 0,
            Scope::Buckets(set) => set.first().copied().unwrap_or(0),
        }
    }
}

/// The index held under the exclusive lock; `save` writes back what changed.
///
/// A writer for one registry loads and writes only that registry's bucket,
/// so `store` and `erase` cost the same whatever the number of tokens.
pub struct IndexWriter {
    _lock: FileLock,
    paths: Paths,
    pub index: Index,
    scope: Scope,
    /// Whether the bucket layout is in force (else the first save creates it).
    bucketed: bool,
    /// Each loaded bucket's bytes as last read or written (`None`: no file).
    on_disk: BTreeMap<u8, Option<Vec<u8>>>,
    /// The bucket each retired secret is kept in.
    homes: HashMap<SecretRef, u8>,
}

impl IndexWriter {
    /// Takes the data lock and reads the whole index.
    pub fn begin(paths: &Paths) -> Result<Self, IndexError> {
        Self::open(paths, None, false).map(|(writer, _)| writer)
    }

    /// Takes the data lock and reads only what concerns `registry`.
    pub fn begin_for(paths: &Paths, registry: &Registry) -> Result<Self, IndexError> {
        Self::open(paths, Some(registry), false).map(|(writer, _)| writer)
    }

    /// Takes the data lock even when index files are damaged, for `doctor`.
    /// A damaged file reads as empty and its error comes back beside the
    /// writer; nothing is written until the caller decides. An index from a
    /// newer version is still an error: it must not be rebuilt over.
    pub fn begin_for_repair(paths: &Paths) -> Result<(Self, Option<IndexError>), IndexError> {
        Self::open(paths, None, true)
    }

    fn open(
        paths: &Paths,
        registry: Option<&Registry>,
        lenient: bool,
    ) -> Result<(Self, Option<IndexError>), IndexError> {
        // For doctor the folder is left as it is: it reports and repairs it itself.
        if lenient {
            fsutil::ensure_dir(&paths.data_dir)?;
        } else {
            fsutil::ensure_private_dir(&paths.data_dir)?;
        }
        let lock = FileLock::acquire(&paths.lock_file(), fsutil::LOCK_WAIT)?;
        let mut damage = None;
        // A damaged `index.json` in front of intact buckets loses nothing:
        // the buckets are read, and the first save writes the marker again.
        let mut rewrite_marker = false;
        let layout = match layout::current(paths) {
            Err(e @ IndexError::Corrupt { .. }) if lenient => {
                damage = Some(e);
                rewrite_marker = true;
                if layout::bucket_files(paths)?.is_empty() {
                    Layout::Empty
                } else {
                    Layout::Buckets
                }
            }
            other => other?,
        };
        let mut tolerate = |result: Result<Index, IndexError>| match result {
            Ok(index) => Ok(index),
            Err(e @ IndexError::Corrupt { .. }) if lenient => {
                damage.get_or_insert(e);
                Ok(Index::default())
            }
            Err(e) => Err(e),
        };
        let mut writer = Self {
            _lock: lock,
            paths: paths.clone(),
            index: Index {
                version: FORMAT_VERSION,
                ..Index::default()
            },
            scope: Scope::All,
            bucketed: matches!(layout, Layout::Buckets) && !rewrite_marker,
            on_disk: BTreeMap::new(),
            homes: HashMap::new(),
        };
        match layout {
            Layout::Empty => {}
            Layout::Single(bytes) => {
                let index = tolerate(Index::parse(&bytes, &paths.index_file()))?;
                writer.index.absorb(index);
            }
            Layout::Buckets => {
                let files: Vec<(u8, PathBuf)> = match registry {
                    Some(registry) => {
                        let bucket = layout::bucket_of(registry.key());
                        writer.scope = Scope::Buckets(BTreeSet::from([bucket]));
                        vec![(bucket, layout::bucket_path(paths, bucket))]
                    }
                    None => layout::bucket_files(paths)?,
                };
                for (bucket, path) in files {
                    let bytes = fsutil::read_private(&path)?;
                    if let Some(bytes) = &bytes {
                        let index = tolerate(Index::parse_bucket(bytes, &path, bucket))?;
                        for secret in &index.retired {
                            writer.homes.insert(secret.clone(), bucket);
                        }
                        writer.index.absorb(index);
                    }
                    writer.on_disk.insert(bucket, bytes);
                }
            }
        }
        Ok((writer, damage))
    }

    /// Writes what changed atomically, bucket by bucket, still holding the lock.
    /// Each token lives in one bucket, so a crash between two buckets leaves
    /// every token either as it was or as it is now.
    pub fn save(&mut self) -> Result<(), IndexError> {
        let mut buckets: BTreeMap<u8, Index> = BTreeMap::new();
        let empty = || Index {
            version: FORMAT_VERSION,
            ..Index::default()
        };
        for (key, record) in &self.index.registries {
            let bucket = layout::bucket_of(key);
            self.scope.check(
                bucket,
                "a registry outside the loaded part of the index was changed",
            )?;
            buckets
                .entry(bucket)
                .or_insert_with(empty)
                .registries
                .insert(key.clone(), record.clone());
        }
        let home = self.scope.home();
        for secret in &self.index.retired {
            let bucket = *self.homes.entry(secret.clone()).or_insert_with(|| {
                self.index
                    .retired_from
                    .get(secret)
                    .map_or(home, |key| layout::bucket_of(key))
            });
            self.scope.check(
                bucket,
                "a secret of a registry outside the loaded part of the index was retired",
            )?;
            buckets
                .entry(bucket)
                .or_insert_with(empty)
                .retired
                .push(secret.clone());
        }
        let bytes: BTreeMap<u8, Vec<u8>> = buckets
            .into_iter()
            .map(|(bucket, index)| (bucket, index.to_bucket_bytes()))
            .collect();
        if !self.bucketed {
            layout::create(&self.paths, &bytes)?;
            self.bucketed = true;
        } else {
            let touched: BTreeSet<u8> = self.on_disk.keys().chain(bytes.keys()).copied().collect();
            for bucket in touched {
                let new = bytes.get(&bucket);
                if self.on_disk.get(&bucket).and_then(Option::as_ref) != new {
                    layout::write_bucket(&self.paths, bucket, new.map(Vec::as_slice))?;
                }
            }
        }
        self.on_disk = bytes.into_iter().map(|(b, v)| (b, Some(v))).collect();
        if let Scope::Buckets(set) = &self.scope {
            for bucket in set {
                self.on_disk.entry(*bucket).or_insert(None);
            }
        }
        self.homes
            .retain(|secret, _| self.index.retired.contains(secret));
        Ok(())
    }
}
