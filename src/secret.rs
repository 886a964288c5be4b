//! The one type that holds a secret (a token or password) in memory.
//!
//! It is wiped on drop and deliberately has no `Debug`, `Display` or `Serialize`,
//! so a secret cannot reach a log line, an error message or a file by accident.
//! The only ways out are [`Secret::expose`] and [`Secret::expose_bytes`].

use zeroize::Zeroizing;

/// A secret string, zeroized when dropped.
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Takes ownership of an already-zeroizing string.
    pub fn new(value: Zeroizing<String>) -> Self {
        Self(value)
    }

    /// Copies a borrowed string into a new secret.
    pub fn from_str_copy(value: &str) -> Self {
        Self(Zeroizing::new(value.to_owned()))
    }

    /// Takes a byte buffer that must be UTF-8; the buffer is wiped either way.
    pub fn from_utf8(bytes: Zeroizing<Vec<u8>>) -> Option<Self> {
        let text = std::str::from_utf8(&bytes).ok()?;
        Some(Self::from_str_copy(text))
    }

    /// Takes a byte vector handed over by a library, wiping it afterwards.
    pub fn from_vec(bytes: Vec<u8>) -> Option<Self> {
        Self::from_utf8(Zeroizing::new(bytes))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn expose_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl Clone for Secret {
    fn clone(&self) -> Self {
        Self::from_str_copy(&self.0)
    }
}

/// Read straight from a server's answer: the string serde builds is moved in,
/// never copied, and wiped with the secret. (There is no `Serialize`.)
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| Self(Zeroizing::new(text)))
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        // A store compares a new secret with the stored one: no early exit on
        // the first differing byte (a length differs openly, as tokens' do).
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len()
            && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_rejected() {
        assert!(Secret::from_vec(vec![0xff, 0xfe]).is_none());
        assert_eq!(Secret::from_vec(b"abc".to_vec()).unwrap().expose(), "abc");
    }
}
