//! Messages for people: stderr notes and errors, colour only on a terminal;
//! and the one way the commands write to stdout.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// `print!` for the commands, through [`write_stdout`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format!($($arg)*).as_bytes())
    };
}

/// `println!` for the commands, through [`write_stdout`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format!("{}\n", format_args!($($arg)*)).as_bytes())
    };
}

pub(crate) use {out, outln};

/// `--quiet`: keep only errors and requested output.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// True when stderr is a terminal and `NO_COLOR` is unset.
pub fn stderr_colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// True when stdout is a terminal and `NO_COLOR` is unset.
pub fn stdout_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn paint(text: &str, code: &str, on: bool) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

pub fn red(text: &str, on: bool) -> String {
    paint(text, "31", on)
}

pub fn green(text: &str, on: bool) -> String {
    paint(text, "32", on)
}

pub fn yellow(text: &str, on: bool) -> String {
    paint(text, "33", on)
}

pub fn dim(text: &str, on: bool) -> String {
    paint(text, "2", on)
}

/// A hint on stderr. The Docker CLI shows a helper's stderr to the user as is.
pub fn note(message: &str) {
    if !is_quiet() {
        eprintln!(
            "docker-credential-pat: {}",
            crate::text::printable(message, 2000)
        );
    }
}

/// A warning on stderr, shown even when quiet.
pub fn warn(message: &str) {
    let label = yellow("warning:", stderr_colour());
    eprintln!(
        "docker-credential-pat: {label} {}",
        crate::text::printable(message, 2000)
    );
}

/// An error on stderr for the human-facing commands.
pub fn error(message: &str) {
    let label = red("error:", stderr_colour());
    eprintln!(
        "docker-credential-pat: {label} {}",
        crate::text::printable(message, 2000)
    );
}

/// Informational output on stdout, dropped by `--quiet`.
pub fn say(message: &str) {
    if !is_quiet() {
        outln!("{message}");
    }
}

/// Writes to stdout. When the reader has gone (`doctor | head -1`) the process
/// ends at once with status 0, as ripgrep does: nobody is left to read a
/// message, and every file the helper writes is already complete by then.
pub fn write_stdout(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            error(&format!("cannot write to standard output: {e}"));
            std::process::exit(1);
        }
    }
}

/// The width to fit tables into: `COLUMNS`, else the terminal's width, else none.
pub fn table_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(columns);
    }
    #[cfg(unix)]
    if std::io::stdout().is_terminal()
        && let Ok(size) = rustix::termios::tcgetwinsize(std::io::stdout())
        && size.ws_col > 0
    {
        return Some(usize::from(size.ws_col));
    }
    None
}

/// A plain-text table whose widest columns give way first when space is short.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    /// Per column: the narrowest it may become when the width is short.
    min_widths: Vec<usize>,
}

impl Table {
    pub fn new(columns: &[(&'static str, usize)]) -> Self {
        Self {
            headers: columns.iter().map(|c| c.0).collect(),
            min_widths: columns.iter().map(|c| c.1).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| crate::text::printable(&c, 200))
                .collect(),
        );
    }

    /// Renders the table within `width` characters when given.
    pub fn render(&self, width: Option<usize>) -> String {
        let count = self.headers.len();
        let mut widths: Vec<usize> = (0..count)
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([self.headers[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut gap = 2;
        if let Some(width) = width {
            let room = |gap: usize| width.saturating_sub(gap * (count - 1));
            if self.min_widths.iter().sum::<usize>() > room(2) {
                gap = 1;
            }
            // The rightmost columns give way first.
            for i in (0..count).rev() {
                let excess = widths.iter().sum::<usize>().saturating_sub(room(gap));
                if excess == 0 {
                    break;
                }
                widths[i] -= excess.min(widths[i].saturating_sub(self.min_widths[i]));
            }
        }
        let mut out = String::new();
        let headers: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        for cells in std::iter::once(&headers).chain(&self.rows) {
            let line: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, &w)| fit(cell, w))
                .collect();
            out.push_str(line.join(&" ".repeat(gap)).trim_end());
            out.push('\n');
        }
        out
    }
}

/// A table rendered whole-celled, and the columns left out to make it fit.
pub struct Fitted {
    pub text: String,
    pub left_out: Vec<&'static str>,
}

impl Fitted {
    /// The line that says which columns were left out, if any.
    pub fn left_out_note(&self) -> Option<String> {
        let names = match self.left_out.as_slice() {
            [] => return None,
            [one] => one.to_string(),
            [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        };
        Some(format!(
            "{names} left out to fit; `--wide` or `--json` shows {}",
            if self.left_out.len() == 1 {
                "it"
            } else {
                "them"
            }
        ))
    }
}

impl Table {
    /// Renders every cell whole: no text is ever cut. When `width` is given
    /// and the table is wider, whole columns are left out, in `drop_order`,
    /// until it fits (or nothing more may go).
    pub fn render_whole(&self, width: Option<usize>, drop_order: &[usize]) -> Fitted {
        let count = self.headers.len();
        let widths: Vec<usize> = (0..count)
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([self.headers[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut shown: Vec<usize> = (0..count).collect();
        let total = |shown: &[usize]| {
            shown.iter().map(|&i| widths[i]).sum::<usize>() + 2 * shown.len().saturating_sub(1)
        };
        let mut left_out = Vec::new();
        if let Some(width) = width {
            for &column in drop_order {
                if total(&shown) <= width {
                    break;
                }
                shown.retain(|&i| i != column);
                left_out.push(self.headers[column]);
            }
        }
        let mut text = String::new();
        let headers: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        for cells in std::iter::once(&headers).chain(&self.rows) {
            let line: Vec<String> = shown.iter().map(|&i| fit(&cells[i], widths[i])).collect();
            text.push_str(line.join("  ").trim_end());
            text.push('\n');
        }
        Fitted { text, left_out }
    }

    /// Adds a row whose cells are never shortened (only made printable).
    pub fn row_whole(&mut self, cells: Vec<String>) {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| crate::text::printable(&c, 10_000))
                .collect(),
        );
    }
}

fn fit(cell: &str, width: usize) -> String {
    let length = cell.chars().count();
    if length <= width {
        return format!("{cell}{}", " ".repeat(width - length));
    }
    if width == 0 {
        return String::new();
    }
    let cut: String = cell.chars().take(width - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_fits_the_width_by_shortening_wide_columns() {
        let mut table = Table::new(&[("NAME", 6), ("DESCRIPTION", 0)]);
        table.row(vec![
            "short".into(),
            "a very long description that does not fit".into(),
        ]);
        let text = table.render(Some(30));
        assert!(text.lines().all(|l| l.chars().count() <= 30), "{text}");
        assert!(text.contains('…'));
        let wide = table.render(None);
        assert!(wide.contains("does not fit"));
    }

    #[test]
    fn whole_tables_leave_out_columns_in_order_and_never_cut_a_cell() {
        let mut table = Table::new(&[("NAME", 0), ("WHEN", 0), ("USES", 0), ("NOTE", 0)]);
        table.row_whole(vec![
            "default@registry.example.com".into(),
            "just now".into(),
            "12".into(),
            "a long note about this token".into(),
        ]);
        let whole = table.render_whole(None, &[3, 2]);
        assert!(whole.left_out.is_empty() && whole.text.contains("a long note"));
        let fitted = table.render_whole(Some(44), &[3, 2]);
        assert_eq!(fitted.left_out, ["NOTE"]);
        assert!(
            fitted.text.lines().all(|l| l.chars().count() <= 44),
            "{}",
            fitted.text
        );
        assert!(
            fitted
                .text
                .contains("default@registry.example.com  just now  12")
        );
        let narrow = table.render_whole(Some(20), &[3, 2]);
        assert_eq!(narrow.left_out, ["NOTE", "USES"]);
        assert!(narrow.text.contains("just now") && !narrow.text.contains('…'));
        assert_eq!(
            narrow.left_out_note().unwrap(),
            "NOTE and USES left out to fit; `--wide` or `--json` shows them"
        );
    }
}
