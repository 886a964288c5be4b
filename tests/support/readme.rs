//! The README's console sessions, run as written: its sections and console
//! blocks read from the file, each command's words and input file, and its
//! output compared with what the README shows, ids, dates and times aside.

use std::process::Output;

use super::{Env, stderr, stdout};

/// The README, as a reader sees it.
pub fn readme() -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .unwrap()
}

/// The README with every run of whitespace, line breaks included, as one
/// space: a phrase can be looked for however its paragraph is wrapped.
pub fn prose() -> String {
    readme().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs a README command (`shown`, with what the README prints under it) as
/// `args` with `input` on stdin: it exits with `code` and prints what the
/// README shows, but for ids, dates and times.
pub fn runs_as_shown(
    env: &Env,
    (shown, expected): (&str, &str),
    args: &[&str],
    input: &str,
    code: i32,
) {
    let output = env.run(args, input);
    let printed = format!("{}{}", stdout(&output), stderr(&output));
    printed_as_shown(&output, &printed, (shown, expected), code);
}

/// `printed`, what `output` put on the terminal, is what the README shows under
/// `shown` (ids, dates and times aside), and the status is `code`.
pub fn printed_as_shown(
    output: &Output,
    printed: &str,
    (shown, expected): (&str, &str),
    code: i32,
) {
    assert_eq!(output.status.code(), Some(code), "$ {shown}\n{printed}");
    assert_eq!(
        placeholders(printed),
        placeholders(expected),
        "$ {shown}: the output differs from the README's"
    );
}

/// The text of the README's section that starts with `heading`, up to the
/// next heading (`## ` or `### `).
pub fn readme_section<'a>(readme: &'a str, heading: &str) -> &'a str {
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("the README has no {heading:?}"));
    let rest = &readme[start + 1..];
    let body = &rest[heading.len()..];
    let end = ["\n## ", "\n### "]
        .iter()
        .filter_map(|next| body.find(next))
        .min()
        .map_or(rest.len(), |i| i + heading.len());
    &rest[..end]
}

/// Each ```console block as its commands (the `$ ` lines), each with the text shown under it.
pub fn console_blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while lines.any(|l| l == "```console") {
        let mut block: Vec<(String, String)> = Vec::new();
        for line in lines.by_ref().take_while(|l| *l != "```") {
            if let Some(command) = line.strip_prefix("$ ") {
                block.push((command.to_owned(), String::new()));
            } else if let Some((command, shown)) = block.last_mut()
                && shown.is_empty()
                && command.ends_with('\\')
            {
                // A command continued on the next line, as a shell reads it.
                command.pop();
                command.push_str(line.trim_start());
            } else {
                let (_, shown) = block.last_mut().expect("a console block starts with `$ `");
                shown.push_str(line);
                shown.push('\n');
            }
        }
        blocks.push(block);
    }
    blocks
}

/// A command line split as a shell would (double quotes only), and the file of a `< FILE`.
pub fn shell_words(line: &str) -> (Vec<String>, Option<String>) {
    let (command, from) = match line.split_once(" < ") {
        Some((command, file)) => (command, Some(file.trim().to_owned())),
        None => (line, None),
    };
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in command.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => words.extend((!word.is_empty()).then(|| std::mem::take(&mut word))),
            _ => word.push(c),
        }
    }
    assert!(!quoted, "unbalanced quotes in {line:?}");
    words.extend((!word.is_empty()).then_some(word));
    (words, from)
}

/// `text` with token ids, dates and times each replaced by a placeholder of the
/// same width, the rest untouched.
pub fn placeholders(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    let digit = |b: u8| b.is_ascii_digit();
    // Shapes, longest first: a Hub id (UUID), a time, a date, a short Hub id.
    // In a shape, `h` is a hex digit, `d` a decimal one; anything else stands for itself.
    const SHAPES: [(&str, &str); 4] = [
        ("hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh", "<uuid>"),
        ("dddd-dd-ddTdd:dd:ddZ", "<time>"),
        ("dddd-dd-dd", "<date>"),
        ("hhhhhhhh", "<id>"),
    ];
    // A shape is matched only as a whole word.
    let edge = |i: usize| i >= bytes.len() || !bytes[i].is_ascii_alphanumeric();
    let fits = |at: usize, shape: &str| {
        at + shape.len() <= bytes.len()
            && (at == 0 || edge(at - 1))
            && edge(at + shape.len())
            && shape.bytes().zip(&bytes[at..]).all(|(s, &b)| match s {
                b'h' => hex(b),
                b'd' => digit(b),
                _ => s == b,
            })
    };
    let mut out = String::new();
    let mut at = 0;
    while at < bytes.len() {
        if let Some((shape, name)) = SHAPES.iter().find(|(shape, _)| fits(at, shape)) {
            out.push_str(&format!("{name:-<width$}", width = shape.len()));
            at += shape.len();
        } else {
            let c = text[at..].chars().next().unwrap();
            out.push(c);
            at += c.len_utf8();
        }
    }
    out
}

/// `stderr` without the Docker CLI's own log lines (`time=… level=info …`),
/// which only a plain-http local registry draws from it.
pub fn without_docker_log(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| !(l.starts_with("time=") && l.contains("level=info")))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Runs of spaces as one: a table's columns as words, for sessions whose
/// addresses are wider here than in the README.
pub fn squeezed(text: &str) -> String {
    text.lines()
        .map(|l| {
            l.split(' ')
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
                + "\n"
        })
        .collect()
}

/// A command line without its trailing `# comment`.
pub fn uncommented(line: &str) -> &str {
    match line.find("  #").or_else(|| line.find(" # ")) {
        Some(at) => line[..at].trim_end(),
        None => line,
    }
}
