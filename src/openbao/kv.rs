//! KV version 2 under `<mount>/<prefix>`: reads that bring the custom metadata
//! along, check-and-set writes, metadata patches, listings and deletes.
//!
//! Every path here is relative to the prefix; errors name the full API path,
//! which is what an admin writes a policy for.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::OpenBaoError;
use super::client::{Answer, Client};
use crate::http::Method;

/// A secret as read: its data, version and custom metadata.
pub(crate) struct Read<T> {
    pub(crate) data: T,
    pub(crate) version: u64,
    pub(crate) created_time: String,
    pub(crate) custom: BTreeMap<String, String>,
}

/// A write that check-and-set refused, because someone else wrote first.
pub(crate) struct Raced;

pub(crate) struct Kv<'a> {
    pub(crate) client: &'a Client,
}

impl Kv<'_> {
    fn full(&self, kind: &str, rel: &str) -> String {
        let s = &self.client.settings;
        if rel.is_empty() {
            format!("{}/{kind}/{}/", s.mount, s.prefix)
        } else {
            format!("{}/{kind}/{}/{rel}", s.mount, s.prefix)
        }
    }

    /// The path as people and policies see it, for messages.
    pub(crate) fn data_path(&self, rel: &str) -> String {
        self.full("data", rel)
    }

    fn unexpected(&self, answer: &Answer, path: String) -> OpenBaoError {
        OpenBaoError::Server {
            address: answer.address.clone(),
            status: answer.status,
            path,
            message: answer.message(),
        }
    }

    fn malformed(&self, answer: &Answer, path: String, e: serde_json::Error) -> OpenBaoError {
        OpenBaoError::Malformed {
            address: answer.address.clone(),
            path,
            detail: crate::text::printable(&e.to_string(), 200),
        }
    }

    /// The latest version at `rel`; `None` when there is none (or it was deleted).
    pub(crate) fn read<T: DeserializeOwned>(
        &self,
        rel: &str,
    ) -> Result<Option<Read<T>>, OpenBaoError> {
        #[derive(Deserialize)]
        struct Body<T> {
            data: Versioned<T>,
        }
        #[derive(Deserialize)]
        struct Versioned<T> {
            data: Option<T>,
            metadata: Metadata,
        }
        #[derive(Deserialize)]
        struct Metadata {
            version: u64,
            #[serde(default)]
            created_time: String,
            #[serde(default)]
            custom_metadata: Option<BTreeMap<String, String>>,
        }
        let path = self.data_path(rel);
        let answer = self.client.call(Method::Get, &path, None)?;
        match answer.status {
            200 => {}
            404 => return Ok(None),
            403 => {
                return Err(OpenBaoError::Refused {
                    action: "read",
                    capability: "read",
                    path,
                });
            }
            _ => return Err(self.unexpected(&answer, path)),
        }
        let body: Body<T> =
            serde_json::from_slice(&answer.body).map_err(|e| self.malformed(&answer, path, e))?;
        Ok(body.data.data.map(|data| Read {
            data,
            version: body.data.metadata.version,
            created_time: body.data.metadata.created_time,
            custom: body.data.metadata.custom_metadata.unwrap_or_default(),
        }))
    }

    /// Writes a new version of `rel` from a JSON object of data (which may hold a
    /// secret: the caller keeps it in wiped memory). `cas`: `Some(0)` to create
    /// only, `Some(N)` to replace version N only, `None` to write whatever is there.
    pub(crate) fn write(
        &self,
        rel: &str,
        data: &[u8],
        cas: Option<u64>,
    ) -> Result<Result<u64, Raced>, OpenBaoError> {
        let mut body = zeroize::Zeroizing::new(Vec::with_capacity(data.len() + 48));
        body.extend_from_slice(b"{\"data\":");
        body.extend_from_slice(data);
        if let Some(cas) = cas {
            body.extend_from_slice(format!(",\"options\":{{\"cas\":{cas}}}").as_bytes());
        }
        body.push(b'}');
        let path = self.data_path(rel);
        let answer =
            self.client
                .call(Method::Post, &path, Some(("application/json", &body[..])))?;
        match answer.status {
            200 | 204 => {}
            400 if answer.message().contains("check-and-set") => return Ok(Err(Raced)),
            403 => {
                return Err(OpenBaoError::Refused {
                    action: "write",
                    capability: if cas == Some(0) { "create" } else { "update" },
                    path,
                });
            }
            _ => return Err(self.unexpected(&answer, path)),
        }
        #[derive(Deserialize)]
        struct Body {
            data: Version,
        }
        #[derive(Deserialize)]
        struct Version {
            version: u64,
        }
        let version = serde_json::from_slice::<Body>(&answer.body)
            .map(|b| b.data.version)
            .unwrap_or_default();
        Ok(Ok(version))
    }

    /// Sets the given custom metadata keys (`None` removes one), leaving the others.
    pub(crate) fn patch_custom(
        &self,
        rel: &str,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<(), OpenBaoError> {
        if changes.is_empty() {
            return Ok(());
        }
        let body = serde_json::to_vec(&serde_json::json!({ "custom_metadata": changes }))
            .expect("a map of strings serialises");
        let path = self.full("metadata", rel);
        let answer = self.client.call(
            Method::Patch,
            &path,
            Some(("application/merge-patch+json", &body[..])),
        )?;
        match answer.status {
            200 | 204 => Ok(()),
            403 => Err(OpenBaoError::Refused {
                action: "update the metadata of",
                capability: "patch",
                path,
            }),
            _ => Err(self.unexpected(&answer, path)),
        }
    }

    /// Removes `rel` with every version and its metadata; `false` when it was not there.
    pub(crate) fn delete(&self, rel: &str) -> Result<bool, OpenBaoError> {
        let path = self.full("metadata", rel);
        let answer = self.client.call(Method::Delete, &path, None)?;
        match answer.status {
            200 | 204 => Ok(true),
            404 => Ok(false),
            403 => Err(OpenBaoError::Refused {
                action: "delete",
                capability: "delete",
                path,
            }),
            _ => Err(self.unexpected(&answer, path)),
        }
    }

    /// The keys under `rel` (`""` for the prefix itself); folders end in `/`.
    pub(crate) fn list(&self, rel: &str) -> Result<Vec<String>, OpenBaoError> {
        #[derive(Deserialize)]
        struct Body {
            data: Keys,
        }
        #[derive(Deserialize)]
        struct Keys {
            #[serde(default)]
            keys: Vec<String>,
        }
        let path = if rel.is_empty() {
            self.full("metadata", "")
        } else {
            format!("{}/", self.full("metadata", rel))
        };
        let answer = self.client.call(Method::List, &path, None)?;
        match answer.status {
            200 => serde_json::from_slice::<Body>(&answer.body)
                .map(|b| b.data.keys)
                .map_err(|e| self.malformed(&answer, path, e)),
            404 => Ok(Vec::new()),
            403 => Err(OpenBaoError::Refused {
                action: "list",
                capability: "list",
                path,
            }),
            _ => Err(self.unexpected(&answer, path)),
        }
    }
}
