//! `list`, read straight from an index file into the reply's pairs.
//!
//! `docker build` runs `list` before every build, over every token. Building a
//! map of every record only to pick one token per registry dominated its time
//! at 10,000 tokens, so the listing is visited where it lies: each registry's
//! tokens are checked as they are read, and only the chosen token's address
//! and username are copied out. The checks are those a whole index gets:
//! canonical keys in their own bucket, valid token names, an existing default.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use std::path::Path;

use super::check::{IndexError, check_version, damaged};
use super::layout::check_placed_key;
use super::record::Selectable;
use crate::names::Integration;
use crate::registry::Registry;
use crate::select::Selection;

/// A token as `list` sees it, borrowed from the file where it can be; every
/// other field is skipped unparsed.
#[derive(Deserialize)]
pub struct ListedToken<'a> {
    #[serde(borrow)]
    pub server_url: Cow<'a, str>,
    #[serde(borrow)]
    pub username: Cow<'a, str>,
    pub active: bool,
}

impl Selectable for ListedToken<'_> {
    fn is_active(&self) -> bool {
        self.active
    }
}

/// What one `list` call collects from one index file.
pub(super) struct Lister<'a> {
    /// The file read, and the bucket it holds (`None`: a first-format index).
    pub(super) path: &'a Path,
    pub(super) bucket: Option<u8>,
    /// Which token each registry serves here.
    pub(super) wanted: &'a Selection<'a>,
    pub(super) out: &'a mut Vec<(String, String)>,
    /// Why the index was refused, when it was for a reason of ours.
    pub(super) error: &'a mut Option<IndexError>,
}

impl Lister<'_> {
    fn refuse<E: de::Error>(&mut self, error: IndexError) -> E {
        *self.error = Some(error);
        E::custom("the index was refused")
    }
}

/// The map of registry key → record, as a seed so it can write into the lister.
impl<'de> DeserializeSeed<'de> for &mut Lister<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut Lister<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of registries")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let registry = match check_placed_key(&key, self.path, self.bucket) {
                Ok(registry) => registry,
                Err(e) => return Err(self.refuse(e)),
            };
            let record: Record<'de> = map.next_value()?;
            match record.select(&key, &registry, self.wanted) {
                Ok(Some(token)) => self.out.push((
                    registry.list_address(&token.server_url).to_owned(),
                    token.username.into_owned(),
                )),
                Ok(None) => {}
                Err(message) => return Err(self.refuse(damaged(self.path, message))),
            }
        }
        Ok(())
    }
}

/// A registry's record as `list` needs it; tokens kept in file order, unmapped.
struct Record<'a> {
    default: Option<Cow<'a, str>>,
    tokens: Vec<(Cow<'a, str>, ListedToken<'a>)>,
}

impl<'a> Record<'a> {
    /// Checks the record as a whole index would, then picks the token `get` would use.
    fn select(
        self,
        key: &str,
        registry: &Registry,
        wanted: &Selection,
    ) -> Result<Option<ListedToken<'a>>, String> {
        for (name, _) in &self.tokens {
            Integration::parse(name).map_err(|e| e.to_string())?;
        }
        if let Some(default) = &self.default
            && !self.tokens.iter().any(|(name, _)| name == default)
        {
            return Err(format!("default token {default:?} of {key} does not exist"));
        }
        let Some(pick) = wanted.pick_among(
            registry,
            self.tokens.iter().map(|(name, _)| &**name),
            self.default.as_deref(),
        ) else {
            return Ok(None);
        };
        Ok(self
            .tokens
            .into_iter()
            .find(|(name, _)| name == pick.integration.as_str())
            .map(|(_, token)| token)
            .filter(Selectable::is_active))
    }
}

impl<'de> Deserialize<'de> for Record<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Record<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a registry record")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut record = Record {
                    default: None,
                    tokens: Vec::new(),
                };
                while let Some(field) = map.next_key::<Cow<'de, str>>()? {
                    match &*field {
                        "default" => record.default = map.next_value()?,
                        "tokens" => record.tokens = map.next_value::<Tokens<'de>>()?.0,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(record)
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// A map of token name → token, read into a list.
struct Tokens<'a>(Vec<(Cow<'a, str>, ListedToken<'a>)>);

impl<'de> Deserialize<'de> for Tokens<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Tokens<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of tokens")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut tokens = Vec::with_capacity(map.size_hint().unwrap_or(1));
                while let Some(entry) = map.next_entry()? {
                    tokens.push(entry);
                }
                Ok(Tokens(tokens))
            }
        }
        deserializer.deserialize_map(Pairs)
    }
}

/// A whole index file (first format, or a bucket written without its listing):
/// the version, then the registries.
pub(super) struct WholeFile<'a, 'b>(pub(super) &'b mut Lister<'a>);

impl<'de> DeserializeSeed<'de> for WholeFile<'_, '_> {
    type Value = u32;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<u32, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for WholeFile<'_, '_> {
    type Value = u32;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an index")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u32, A::Error> {
        let mut version = None;
        while let Some(field) = map.next_key::<Cow<'de, str>>()? {
            match &*field {
                "version" => {
                    let found: u32 = map.next_value()?;
                    // A newer file is refused before its records are read.
                    if let Err(e) = check_version(found, self.0.path) {
                        return Err(self.0.refuse(e));
                    }
                    version = Some(found);
                }
                "registries" => map.next_value_seed(&mut *self.0)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        version.ok_or_else(|| de::Error::missing_field("version"))
    }
}
