//! KV version 2 under `<mount>/<prefix>`: reads that bring the custom metadata
//! along, check-and-set writes, metadata patches, listings and deletes.
//!
//! Every path here is relative to the prefix; errors name the full API path,
//! which is what an admin writes a policy for.
//!
//! A write whose outcome is unknown (the client says so: the answer was lost
//! after the request may have arrived) is never simply sent again: the state
//! is read back first. A write that landed is a success; one that did not is
//! sent once more; and if that is still unknown, the error says so.

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

/// What is at a path.
pub(crate) enum Slot<T> {
    Absent,
    /// The current version was deleted (`bao kv delete`) or destroyed
    /// (`bao kv destroy`); the metadata, and so the version count, remain.
    Deleted {
        version: u64,
        destroyed: bool,
    },
    Live(Read<T>),
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
        Ok(match self.read_slot(rel)? {
            Slot::Live(read) => Some(read),
            Slot::Absent | Slot::Deleted { .. } => None,
        })
    }

    /// What is at `rel`: a live version, a deleted one, or nothing.
    pub(crate) fn read_slot<T: DeserializeOwned>(
        &self,
        rel: &str,
    ) -> Result<Slot<T>, OpenBaoError> {
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
            deletion_time: String,
            #[serde(default)]
            destroyed: bool,
            #[serde(default)]
            custom_metadata: Option<BTreeMap<String, String>>,
        }
        let path = self.data_path(rel);
        let answer = self.client.call(Method::Get, &path, None)?;
        match answer.status {
            200 => {}
            // A deleted or destroyed version answers 404 with its metadata;
            // nothing there answers `{"errors":[]}`, told apart without a failed parse.
            404 => {
                let body: serde_json::Value =
                    serde_json::from_slice(&answer.body).unwrap_or_default();
                let metadata = &body["data"]["metadata"];
                return Ok(match metadata["version"].as_u64() {
                    Some(version) if version > 0 => Slot::Deleted {
                        version,
                        destroyed: metadata["destroyed"].as_bool().unwrap_or(false),
                    },
                    _ => Slot::Absent,
                });
            }
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
        let metadata = body.data.metadata;
        Ok(match body.data.data {
            Some(data) if metadata.deletion_time.is_empty() && !metadata.destroyed => {
                Slot::Live(Read {
                    data,
                    version: metadata.version,
                    created_time: metadata.created_time,
                    custom: metadata.custom_metadata.unwrap_or_default(),
                })
            }
            _ => Slot::Deleted {
                version: metadata.version,
                destroyed: metadata.destroyed,
            },
        })
    }

    /// Runs a write; when its outcome is unknown, reads back with `landed`
    /// (on a fresh deadline) and sends it once more only if it did not land.
    fn settle<T>(
        &self,
        mut send: impl FnMut() -> Result<T, OpenBaoError>,
        landed: impl Fn() -> Result<Option<T>, OpenBaoError>,
    ) -> Result<T, OpenBaoError> {
        for attempt in 0..2 {
            match send() {
                Err(unknown @ OpenBaoError::Unknown { .. }) => {
                    self.client.start();
                    match landed() {
                        Ok(Some(done)) => return Ok(done),
                        Ok(None) if attempt == 0 => {}
                        Ok(None) => {
                            let OpenBaoError::Unknown {
                                address,
                                path,
                                detail,
                            } = unknown
                            else {
                                unreachable!("matched above")
                            };
                            return Err(OpenBaoError::NotDone {
                                address,
                                path,
                                detail,
                            });
                        }
                        // Nothing more can be learnt now: say what is not known.
                        Err(_) => return Err(unknown),
                    }
                }
                other => return other,
            }
        }
        unreachable!("the second attempt returns")
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
        let send = || {
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
                        path: path.clone(),
                    });
                }
                _ => return Err(self.unexpected(&answer, path.clone())),
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
        };
        // Landed when the data read back is what was sent, at the version it was meant for.
        let landed = || {
            let sent: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
            Ok(match self.read_slot::<serde_json::Value>(rel)? {
                Slot::Live(read)
                    if read.data == sent && cas.is_none_or(|cas| read.version == cas + 1) =>
                {
                    Some(Ok(read.version))
                }
                // Someone else's write: check-and-set would refuse this one now.
                Slot::Live(read) if cas.is_some_and(|cas| read.version != cas) => Some(Err(Raced)),
                Slot::Deleted { version, .. } if cas.is_some_and(|cas| version != cas) => {
                    Some(Err(Raced))
                }
                _ => None,
            })
        };
        match self.settle(send, landed)? {
            // A first attempt held up on the way can land after it was read back
            // as missing and before it was sent again: the second attempt then
            // fails its check-and-set against our own write. Only a read tells.
            Err(Raced) if cas.is_some() => match landed() {
                Ok(Some(Ok(version))) => Ok(Ok(version)),
                _ => Ok(Err(Raced)),
            },
            done => Ok(done),
        }
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
        let send = || {
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
                    path: path.clone(),
                }),
                _ => Err(self.unexpected(&answer, path.clone())),
            }
        };
        // Landed when every key reads back as it was set (the read brings the metadata along).
        let landed = || {
            Ok(match self.read_slot::<serde_json::Value>(rel)? {
                Slot::Live(read)
                    if changes
                        .iter()
                        .all(|(key, value)| read.custom.get(key) == value.as_ref()) =>
                {
                    Some(())
                }
                _ => None,
            })
        };
        self.settle(send, landed)
    }

    /// Replaces the whole custom metadata of `rel`, creating its metadata if
    /// there is none yet (a secret not written yet is not readable).
    pub(crate) fn set_custom(
        &self,
        rel: &str,
        custom: &BTreeMap<String, String>,
    ) -> Result<(), OpenBaoError> {
        let body = serde_json::to_vec(&serde_json::json!({ "custom_metadata": custom }))
            .expect("a map of strings serialises");
        let path = self.full("metadata", rel);
        let send = || {
            let answer =
                self.client
                    .call(Method::Post, &path, Some(("application/json", &body[..])))?;
            match answer.status {
                200 | 204 => Ok(()),
                403 => Err(OpenBaoError::Refused {
                    action: "write the metadata of",
                    capability: "create",
                    path: path.clone(),
                }),
                _ => Err(self.unexpected(&answer, path.clone())),
            }
        };
        // The same whole map again does the same: sending it twice is harmless.
        self.settle(send, || Ok(None))
    }

    /// Removes `rel` with every version and its metadata; `false` when it was not there.
    pub(crate) fn delete(&self, rel: &str) -> Result<bool, OpenBaoError> {
        let path = self.full("metadata", rel);
        let send = || {
            let answer = self.client.call(Method::Delete, &path, None)?;
            match answer.status {
                200 | 204 => Ok(true),
                404 => Ok(false),
                403 => Err(OpenBaoError::Refused {
                    action: "delete",
                    capability: "delete",
                    path: path.clone(),
                }),
                _ => Err(self.unexpected(&answer, path.clone())),
            }
        };
        // Gone means deleted: by this request, or by someone else meanwhile.
        let landed = || {
            Ok(match self.read_slot::<serde_json::Value>(rel)? {
                Slot::Absent => Some(true),
                _ => None,
            })
        };
        self.settle(send, landed)
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
