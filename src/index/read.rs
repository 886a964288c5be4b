//! Reading the whole index: every token, as `tokens`, doctor and the
//! writers see it. (`get` and `list` read less: see `snapshot`.)

use std::path::Path;

use super::check::{FORMAT_VERSION, IndexError, check_key, check_record, check_version};
use super::layout::{self, Layout, check_bucket};
use super::record::Index;
use super::snapshot::Snapshot;
use crate::config::Paths;
use crate::fsutil;

impl Index {
    /// Reads every token; no index yet is an empty index.
    pub fn load(paths: &Paths) -> Result<Self, IndexError> {
        let mut index = Self {
            version: FORMAT_VERSION,
            ..Self::default()
        };
        match layout::current(paths)? {
            Layout::Empty => {}
            Layout::Single(bytes) => index = Self::parse(&bytes, &paths.index_file())?,
            Layout::Buckets => {
                for (bucket, path) in layout::bucket_files(paths)? {
                    let Some(bytes) = fsutil::read_private(&path)? else {
                        continue;
                    };
                    index.absorb(Self::parse_bucket(&bytes, &path, bucket)?);
                }
            }
        }
        Ok(index)
    }

    /// One bucket file, whose registries must all belong to `bucket`.
    pub(crate) fn parse_bucket(bytes: &[u8], path: &Path, bucket: u8) -> Result<Self, IndexError> {
        let index = Self::parse(bytes, path)?;
        for key in index.registries.keys() {
            check_bucket(key, bucket, path)?;
        }
        // `list` reads the listing line on its own; a file it refuses is damaged
        // for every reader, not only for `list`.
        Snapshot::from_bytes(bytes.to_vec(), path.to_owned(), Some(bucket))
            .list(&crate::select::Selection::default(), &mut Vec::new())?;
        Ok(index)
    }

    /// Adds another bucket's records.
    pub(super) fn absorb(&mut self, other: Index) {
        self.registries.extend(other.registries);
        self.retired.extend(other.retired);
    }

    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, IndexError> {
        IndexError::check_utf8(bytes, path)?;
        // serde also reads a struct from a JSON array (`[1]`), which `list`'s
        // fast path rightly refuses: only an object is an index.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(IndexError::Corrupt {
                path: path.to_owned(),
                line: 1 + bytes
                    .iter()
                    .take_while(|b| b.is_ascii_whitespace())
                    .filter(|&&b| b == b'\n')
                    .count(),
                message: "it is not a JSON object".into(),
            });
        }
        let index: Index =
            serde_json::from_slice(bytes).map_err(|e| IndexError::corrupt(path, &e))?;
        check_version(index.version, path)?;
        index.check(path)?;
        Ok(index)
    }

    /// Rejects an index whose keys a person may have mangled by hand.
    fn check(&self, path: &Path) -> Result<(), IndexError> {
        for (key, record) in &self.registries {
            check_key(key, path)?;
            check_record(key, record, path)?;
        }
        Ok(())
    }
}
