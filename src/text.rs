//! Making untrusted text safe to show on a terminal.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_replaced_and_text_is_cut() {
        assert_eq!(printable("a\u{1b}[2Jb", 80), "a?[2Jb");
        assert_eq!(printable("abcdef", 3), "abc…");
    }
}
