//! Reading a secret from a person: piped stdin, or a no-echo prompt on the terminal.
//!
//! The protocol owns stdin, so interactive prompts use `/dev/tty`. Secrets
//! are never taken from argv, where other users could see them in `ps`.

use std::io::{self, IsTerminal, Read};

use zeroize::Zeroizing;

use crate::secret::Secret;

const MAX_SECRET: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("no terminal to ask on; pipe the secret on stdin instead")]
    NoTerminal,
    #[error("the secret is longer than 64 KiB")]
    TooLong,
    #[error("the secret is not valid UTF-8")]
    NotUtf8,
    #[error("stdin has more than the two lines expected (the password, then the code)")]
    ExtraLines,
    #[error("cannot read the secret: {0}")]
    Io(#[from] io::Error),
}

/// Reads a secret from stdin when it is piped, otherwise asks on the terminal.
pub fn read_secret(prompt: &str) -> Result<Secret, PromptError> {
    if io::stdin().is_terminal() {
        ask_hidden(prompt)
    } else {
        read_line_from(crate::stdio::stdin())
    }
}

/// Reads everything from `input`, dropping one trailing line break.
pub fn read_line_from(input: impl Read) -> Result<Secret, PromptError> {
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_SECRET + 1));
    input.take(MAX_SECRET as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > MAX_SECRET {
        return Err(PromptError::TooLong);
    }
    let text = std::str::from_utf8(&buf).map_err(|_| PromptError::NotUtf8)?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    Ok(Secret::from_str_copy(text))
}

/// Reads a secret and, on a second line, an optional one-time code (the
/// password and second-factor code of `hub login --password-stdin`). A
/// missing or empty second line is `None`; anything after it is refused.
pub fn read_secret_and_code_from(
    input: impl Read,
) -> Result<(Secret, Option<Secret>), PromptError> {
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_SECRET + 1));
    input.take(MAX_SECRET as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > MAX_SECRET {
        return Err(PromptError::TooLong);
    }
    let text = std::str::from_utf8(&buf).map_err(|_| PromptError::NotUtf8)?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let secret = Secret::from_str_copy(lines.next().unwrap_or_default());
    let code = lines.next().map(str::trim).filter(|c| !c.is_empty());
    if lines.any(|l| !l.trim().is_empty()) {
        return Err(PromptError::ExtraLines);
    }
    Ok((secret, code.map(Secret::from_str_copy)))
}

/// Asks on `/dev/tty` with echo off.
pub fn ask_hidden(prompt: &str) -> Result<Secret, PromptError> {
    #[cfg(unix)]
    {
        use std::io::Write;

        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let mut tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .map_err(|_| PromptError::NoTerminal)?;
        let saved = tcgetattr(&tty).map_err(|_| PromptError::NoTerminal)?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        quiet.local_modes.insert(LocalModes::ECHONL);
        // Echo goes off before the prompt appears, and without discarding input, so a
        // person (or a script) typing right after the prompt loses nothing.
        tcsetattr(&tty, OptionalActions::Now, &quiet).map_err(io::Error::from)?;
        tty.write_all(prompt.as_bytes())?;
        tty.flush()?;
        let line = read_until_newline(&mut tty);
        let _ = tcsetattr(&tty, OptionalActions::Now, &saved);
        line
    }
    #[cfg(not(unix))]
    {
        let _ = prompt;
        Err(PromptError::NoTerminal)
    }
}

#[cfg(unix)]
fn read_until_newline(tty: &mut std::fs::File) -> Result<Secret, PromptError> {
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_SECRET));
    let mut byte = [0u8; 1];
    loop {
        match tty.read(&mut byte)? {
            0 => break,
            _ if byte[0] == b'\n' => break,
            _ if buf.len() == MAX_SECRET => return Err(PromptError::TooLong),
            _ => buf.push(byte[0]),
        }
    }
    let text = std::str::from_utf8(&buf).map_err(|_| PromptError::NotUtf8)?;
    Ok(Secret::from_str_copy(
        text.strip_suffix('\r').unwrap_or(text),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piped_secret_loses_only_the_final_line_break() {
        assert_eq!(
            read_line_from(&b"tok en\r\n"[..]).unwrap().expose(),
            "tok en"
        );
        assert_eq!(read_line_from(&b"tok\n\n"[..]).unwrap().expose(), "tok\n");
        assert!(matches!(
            read_line_from(&[0xffu8][..]),
            Err(PromptError::NotUtf8)
        ));
    }

    #[test]
    fn a_code_may_follow_the_password_on_the_second_line() {
        let (secret, code) = read_secret_and_code_from(&b"pass word\r\n 123456 \n"[..]).unwrap();
        assert_eq!(secret.expose(), "pass word");
        assert_eq!(code.unwrap().expose(), "123456");
        let (secret, code) = read_secret_and_code_from(&b"pw"[..]).unwrap();
        assert_eq!(secret.expose(), "pw");
        assert!(code.is_none());
        assert!(
            read_secret_and_code_from(&b"pw\n\n"[..])
                .unwrap()
                .1
                .is_none()
        );
        assert!(matches!(
            read_secret_and_code_from(&b"pw\n1\nmore\n"[..]),
            Err(PromptError::ExtraLines)
        ));
    }
}
