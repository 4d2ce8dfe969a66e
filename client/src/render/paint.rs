//! Colour for people at a terminal: bold titles, yellow ids (as git shows hashes),
//! green decisions. Only when [`Style::colour`](super::Style) says so: standard output
//! is a terminal, `NO_COLOR` is unset or empty (no-color.org), and the output is not
//! `--json`.

use super::Style;

const BOLD: &str = "\x1b[1m";
const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[32m";
const RESET: &str = "\x1b[0m";

fn paint(text: &str, code: &str, style: Style) -> String {
    if style.colour && !text.is_empty() {
        format!("{code}{text}{RESET}")
    } else {
        text.to_owned()
    }
}

/// A title.
pub(crate) fn title(text: &str, style: Style) -> String {
    paint(text, BOLD, style)
}

/// An id.
pub(crate) fn id(text: &str, style: Style) -> String {
    paint(text, YELLOW, style)
}

/// A decision, or what marks one.
pub(crate) fn decided(text: &str, style: Style) -> String {
    paint(text, GREEN, style)
}

/// Whether people at this terminal want colour: standard output is a terminal and
/// `NO_COLOR` is unset or empty.
pub(crate) fn wanted() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_when_the_style_asks_for_it() {
        let plain = Style {
            width: 80,
            now: parley_protocol::Timestamp::from_millis(0),
            colour: false,
        };
        let coloured = Style {
            colour: true,
            ..plain
        };
        assert_eq!(title("Plan", plain), "Plan");
        assert_eq!(title("Plan", coloured), "\x1b[1mPlan\x1b[0m");
        assert_eq!(id("post1abc", coloured), "\x1b[33mpost1abc\x1b[0m");
        assert_eq!(decided("", coloured), "");
    }
}
