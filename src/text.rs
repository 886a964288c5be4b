//! Text for people: untrusted text made safe to show on a terminal, and
//! lengths of time in words.

/// Replaces control characters (which could move the cursor or fake output)
/// and shortens the text to at most `max` characters.
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max + 3));
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { '?' } else { c });
    }
    out
}

/// True when the text has a character that has no place in a name or a one-line field.
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// A length of time as people say it: `45 s`, `12 min`, `3 h`, `4 days`.
pub fn span(seconds: u64) -> String {
    match seconds {
        0..120 => format!("{seconds} s"),
        120..7200 => format!("{} min", seconds / 60),
        7200..172_800 => format!("{} h", seconds / 3600),
        _ => format!("{} days", seconds / 86400),
    }
}

/// [`span`] of a length that may be negative (taken as none).
pub fn span_of(length: chrono::Duration) -> String {
    span(u64::try_from(length.num_seconds()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_replaced_and_text_is_cut() {
        assert_eq!(printable("a\u{1b}[2Jb", 80), "a?[2Jb");
        assert_eq!(printable("abcdef", 3), "abc…");
    }
}
