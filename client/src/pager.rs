//! Long output on a terminal goes through a pager, as git's does: `$PARLEY_PAGER`, else
//! `$PAGER`, else `less` (with `LESS=FRX` when `LESS` is unset, so colours pass through
//! and the screen is left as it was). Never when standard output is not a terminal, when
//! the text fits the screen, or with `--no-pager`.

use std::io::{IsTerminal as _, Write as _};
use std::process::{Command, Stdio};

/// The pager to run: its command line (run by `sh -c`), or `None` for none.
fn pager() -> Option<String> {
    let chosen = std::env::var("PARLEY_PAGER")
        .or_else(|_| std::env::var("PAGER"))
        .unwrap_or_else(|_| "less".to_owned());
    let chosen = chosen.trim().to_owned();
    (!chosen.is_empty() && chosen != "cat").then_some(chosen)
}

/// Shows `text` through the pager when it is long and standard output is a terminal;
/// returns whether it did (else the caller prints it).
pub(crate) fn page(text: &str) -> bool {
    if !std::io::stdout().is_terminal() {
        return false;
    }
    let rows = terminal_size::terminal_size()
        .map(|(_, terminal_size::Height(rows))| usize::from(rows))
        .unwrap_or(24);
    if text.lines().count() < rows {
        return false;
    }
    let Some(pager) = pager() else {
        return false;
    };
    let mut command = Command::new("sh");
    command.arg("-c").arg(&pager).stdin(Stdio::piped());
    if std::env::var_os("LESS").is_none() {
        command.env("LESS", "FRX");
    }
    let Ok(mut child) = command.spawn() else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        // The reader may quit before reading everything (`q` in less): not an error.
        let _ = stdin.write_all(text.as_bytes());
    }
    let _ = child.wait();
    true
}
