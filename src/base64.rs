//! Strict standard base64 decoding, for the `auth` field of Docker's config.json.
//!
//! Small enough to keep in-house, and written so that decoded bytes go
//! straight into a zeroizing buffer and no error ever repeats the input.

use zeroize::Zeroizing;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("its length is not a multiple of 4")]
    Length,
    #[error("it contains a character outside the base64 alphabet")]
    Character,
    #[error("its padding is misplaced")]
    Padding,
}

fn value(byte: u8) -> Option<u32> {
    let v = match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes padded standard base64 (RFC 4648 §4), as Go's `base64.StdEncoding` writes it.
pub fn decode(text: &str) -> Result<Zeroizing<Vec<u8>>, DecodeError> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err(DecodeError::Length);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() / 4 * 3));
    let chunks = bytes.len() / 4;
    for (index, chunk) in bytes.chunks_exact(4).enumerate() {
        let padding = chunk.iter().rev().take_while(|&&b| b == b'=').count();
        if padding > 2 || (padding > 0 && index + 1 != chunks) {
            return Err(DecodeError::Padding);
        }
        let mut group = 0u32;
        for &byte in &chunk[..4 - padding] {
            let v = value(byte).ok_or(if byte == b'=' {
                DecodeError::Padding
            } else {
                DecodeError::Character
            })?;
            group = group << 6 | v;
        }
        group <<= 6 * padding as u32;
        let decoded = [(group >> 16) as u8, (group >> 8) as u8, group as u8];
        out.extend_from_slice(&decoded[..3 - padding]);
    }
    Ok(out)
}

/// Encodes with padding; only tests need to write base64.
#[cfg(test)]
pub fn encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let group = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                TABLE[(group >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_length_and_byte() {
        for len in 0..64usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 200) as u8).collect();
            assert_eq!(
                decode(&encode(&bytes)).unwrap().as_slice(),
                bytes.as_slice()
            );
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)).unwrap().as_slice(), all.as_slice());
    }

    fn text(input: &str) -> String {
        String::from_utf8(decode(input).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn decodes_the_rfc_4648_vectors() {
        for (encoded, plain) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(text(encoded), plain, "{encoded}");
        }
    }

    #[test]
    fn decodes_a_docker_auth_field() {
        // base64("alice:dckr_pat_x+y/z")
        assert_eq!(text("YWxpY2U6ZGNrcl9wYXRfeCt5L3o="), "alice:dckr_pat_x+y/z");
        assert_eq!(decode("//8=").unwrap().as_slice(), &[0xff, 0xff]);
    }

    #[test]
    fn rejects_malformed_input_without_echoing_it() {
        for (input, expected) in [
            ("Zm9", DecodeError::Length),
            ("Zm9v\n", DecodeError::Length),
            ("Zm9-", DecodeError::Character),
            ("Zm 9", DecodeError::Character),
            ("Zg=a", DecodeError::Padding),
            ("Z===", DecodeError::Padding),
            ("Zg==Zm9v", DecodeError::Padding),
            ("====", DecodeError::Padding),
            ("Zm9vYmFyé=", DecodeError::Length),
        ] {
            let err = decode(input).unwrap_err();
            assert_eq!(err, expected, "{input:?}");
            assert!(!err.to_string().contains(input.trim()), "{input:?}");
        }
    }
}
