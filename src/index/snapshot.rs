//! An index file as the protocol's hot paths read it: `get` parses one
//! registry of one bucket, `list` only the fields it prints.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::check::{IndexError, check_record, check_version};
use super::layout::{self, Layout, check_placed_key};
use super::listing;
use super::record::RegistryRecord;
use crate::config::Paths;
use crate::registry::Registry;
use crate::select::Selection;

/// An index file as read for the protocol's hot paths, which parse only what
/// they use: `get` reads one bucket and parses one registry of it, `list` only
/// the fields it prints.
pub struct Snapshot {
    bytes: Vec<u8>,
    path: PathBuf,
    /// The bucket this file holds; `None` for a first-format `index.json`.
    bucket: Option<u8>,
}

/// The top level, with each registry left unparsed.
#[derive(Deserialize)]
struct Outline<'a> {
    version: u32,
    #[serde(borrow, default)]
    registries: BTreeMap<Cow<'a, str>, &'a serde_json::value::RawValue>,
}

impl Snapshot {
    /// The file holding `registry`'s record; `None` when there is none.
    pub fn of_registry(paths: &Paths, registry: &Registry) -> Result<Option<Self>, IndexError> {
        match layout::current(paths)? {
            Layout::Empty => Ok(None),
            Layout::Single(bytes) => Ok(Some(Self::single(paths, bytes))),
            Layout::Buckets => {
                let bucket = layout::bucket_of(registry.key());
                Ok(layout::read_bucket(paths, bucket)?.map(|bytes| Self {
                    bytes,
                    path: layout::bucket_path(paths, bucket),
                    bucket: Some(bucket),
                }))
            }
        }
    }

    /// Every index file, for `list`: of a bucket file only as much as holds
    /// its listing.
    pub fn all(paths: &Paths) -> Result<Vec<Self>, IndexError> {
        match layout::current(paths)? {
            Layout::Empty => Ok(Vec::new()),
            Layout::Single(bytes) => Ok(vec![Self::single(paths, bytes)]),
            Layout::Buckets => {
                let mut found = Vec::new();
                for (bucket, path) in layout::bucket_files(paths)? {
                    if let Some(bytes) = layout::read_listing_part(&path)? {
                        found.push(Self {
                            bytes,
                            path,
                            bucket: Some(bucket),
                        });
                    }
                }
                Ok(found)
            }
        }
    }

    /// An index file's bytes as read from `path`: the first format's whole
    /// index, or the bucket `bucket`.
    pub(crate) fn from_bytes(bytes: Vec<u8>, path: PathBuf, bucket: Option<u8>) -> Self {
        Self {
            bytes,
            path,
            bucket,
        }
    }

    fn single(paths: &Paths, bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            path: paths.index_file(),
            bucket: None,
        }
    }

    /// The `listing` at the head of a bucket file: its first line after the
    /// fixed prefix, a complete JSON value. `None` when the file was not
    /// written that way (it is then read whole).
    fn listing_head(&self) -> Option<&[u8]> {
        const PREFIX: &[u8] = b"{\"version\":2,\"listing\":";
        let rest = self
            .bytes
            .strip_prefix(PREFIX)
            .filter(|_| self.bucket.is_some())?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        (rest.get(end + 1) == Some(&b',')).then(|| &rest[..end])
    }

    fn corrupt(&self, e: serde_json::Error) -> IndexError {
        IndexError::corrupt(&self.path, &e)
    }

    /// One registry's record, parsed in full; the others only scanned. Every
    /// key is still checked, so a mangled one is an error rather than "not found".
    pub fn registry(&self, registry: &Registry) -> Result<Option<RegistryRecord>, IndexError> {
        let outline: Outline<'_> =
            serde_json::from_slice(&self.bytes).map_err(|e| self.corrupt(e))?;
        check_version(outline.version, &self.path)?;
        for key in outline.registries.keys() {
            check_placed_key(key, &self.path, self.bucket)?;
        }
        let Some(raw) = outline.registries.get(registry.key()) else {
            return Ok(None);
        };
        let record: RegistryRecord =
            serde_json::from_str(raw.get()).map_err(|e| self.corrupt(e))?;
        check_record(registry.key(), &record, &self.path)?;
        Ok(Some(record))
    }

    /// Adds what `list` reports for this file to `out`: each registry's token
    /// that `selection` picks, while it is active, as (address, username).
    /// Checked as a whole index is.
    pub fn list(
        &self,
        selection: &Selection,
        out: &mut Vec<(String, String)>,
    ) -> Result<(), IndexError> {
        fn run<'de, S: serde::de::DeserializeSeed<'de>>(
            bytes: &'de [u8],
            seed: S,
        ) -> serde_json::Result<S::Value> {
            let mut deserializer = serde_json::Deserializer::from_slice(bytes);
            let value = seed.deserialize(&mut deserializer)?;
            deserializer.end()?;
            Ok(value)
        }
        let mut refused = None;
        let mut lister = listing::Lister {
            path: &self.path,
            bucket: self.bucket,
            wanted: selection,
            out,
            error: &mut refused,
        };
        let result = match self.listing_head() {
            Some(head) => run(head, &mut lister),
            None => run(&self.bytes, listing::WholeFile(&mut lister)).map(|_| ()),
        };
        result.map_err(|e| refused.take().unwrap_or_else(|| self.corrupt(e)))
    }
}
