//! Text helpers for people: untrusted text made safe for a terminal, short ids,
//! relative times and wrapping.

use parley_protocol::Timestamp;

/// Columns used when the terminal's width is unknown (output to a pipe or file).
pub(crate) const DEFAULT_WIDTH: usize = 80;
/// Bodies are never wrapped narrower than this, however deep the reply.
const MIN_WRAP: usize = 24;

/// Untrusted multi-line text made safe to print: line breaks are kept, tabs become
/// spaces, and every other control character (C0, DEL, C1, so no escape sequences)
/// and bidirectional override is dropped.
pub(crate) fn clean(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push('\n'),
            '\t' => out.push_str("    "),
            c if is_unsafe(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Untrusted one-line text (a title, a name) made safe: line breaks become spaces and
/// control characters are dropped.
pub(crate) fn clean_line(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            c if is_unsafe(c) => None,
            c => Some(c),
        })
        .collect()
}

/// Control characters and bidirectional overrides, which could rewrite what a
/// terminal shows.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The start of an id's text, for people: `user1abcdefgh`, which commands that take
/// such an id accept back (see `commands::lookup`).
pub(crate) fn short_id(id: &str) -> String {
    let Some((prefix, data)) = id.split_once('1') else {
        return clean_line(id);
    };
    let data: String = data.chars().take(8).collect();
    clean_line(&format!("{prefix}1{data}"))
}

/// Data characters of the post ids printed for people: unique among a billion posts
/// but for a chance in a million, and accepted back wherever a post id is (the node
/// completes them; see `commands::lookup`).
pub(crate) const SHORT_POST_CHARS: usize = 12;

/// The start of a post's id that the client prints for people: `post1tsmpe33x35gd`.
pub(crate) fn short_post(id: &parley_protocol::PostId) -> String {
    let text = id.to_string();
    let end = parley_protocol::PostId::PREFIX.len() + 1 + SHORT_POST_CHARS;
    text.get(..end).unwrap_or(&text).to_owned()
}

/// How long ago `then` was, seen from `now`: "just now", "5m ago", "3h ago", "2d ago",
/// or the date (UTC) for anything older than 30 days.
pub(crate) fn relative_time(now: Timestamp, then: Timestamp) -> String {
    const MINUTE: u64 = 60 * 1000;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    let (now, then) = (now.as_millis(), then.as_millis());
    if then > now {
        let ahead = then - now;
        return if ahead < MINUTE {
            "just now".to_owned()
        } else if ahead < HOUR {
            format!("in {}m", ahead / MINUTE)
        } else {
            format!("in {}h", ahead / HOUR)
        };
    }
    let ago = now - then;
    if ago < MINUTE {
        "just now".to_owned()
    } else if ago < HOUR {
        format!("{}m ago", ago / MINUTE)
    } else if ago < DAY {
        format!("{}h ago", ago / HOUR)
    } else if ago < 30 * DAY {
        format!("{}d ago", ago / DAY)
    } else {
        date(Timestamp::from_millis(then))
    }
}

/// The UTC date of `time`, `YYYY-MM-DD`.
pub(crate) fn date(time: Timestamp) -> String {
    // Days to civil date (Howard Hinnant's algorithm, for days since 1970-01-01).
    let days = time.as_millis() / (24 * 60 * 60 * 1000);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `text` (already cleaned) wrapped to `width` columns, each line prefixed by `indent`
/// spaces. Line breaks in the text are kept; blank lines stay blank (no trailing spaces).
/// Markdown survives: code (fenced, or indented four spaces) is never re-wrapped, a
/// quote's wrapped lines keep its `>` markers, and a list item's wrapped lines line up
/// under its text.
pub(crate) fn wrap(text: &str, width: usize, indent: usize) -> Vec<String> {
    let pad = " ".repeat(indent);
    let columns = width.saturating_sub(indent).max(MIN_WRAP);
    let mut lines = Vec::new();
    // The fence (``` or ~~~) of the code block the line is in, if any.
    let mut fence: Option<&str> = None;
    for line in text.split('\n') {
        let trimmed = line.trim_start();
        if let Some(open) = fence {
            lines.push(format!("{pad}{line}").trim_end().to_owned());
            if trimmed.starts_with(open) {
                fence = None;
            }
            continue;
        }
        if let Some(open) = ["```", "~~~"].into_iter().find(|f| trimmed.starts_with(f)) {
            fence = Some(open);
            lines.push(format!("{pad}{line}").trim_end().to_owned());
            continue;
        }
        if trimmed.is_empty() {
            lines.push(String::new());
            continue;
        }
        let (first, rest, body) = markers(line);
        if body.is_empty() || (line.starts_with("    ") && first.trim().is_empty()) {
            // Indented code, or a bare marker: as it is.
            lines.push(format!("{pad}{line}").trim_end().to_owned());
            continue;
        }
        let options = textwrap::Options::new(columns)
            .break_words(true)
            .initial_indent(&first)
            .subsequent_indent(&rest);
        for piece in textwrap::wrap(body, &options) {
            lines.push(format!("{pad}{piece}").trim_end().to_owned());
        }
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// What starts a Markdown line: the first line's prefix (indentation, quote markers and
/// a list marker), the prefix of its wrapped lines (the same, the list marker blanked),
/// and the text after them.
fn markers(line: &str) -> (String, String, &str) {
    let lead = line.len() - line.trim_start().len();
    let mut at = lead;
    let bytes = line.as_bytes();
    // Quote markers: `>` each followed by an optional space.
    while bytes.get(at) == Some(&b'>') {
        at += 1;
        if bytes.get(at) == Some(&b' ') {
            at += 1;
        }
    }
    let quote_end = at;
    // A list marker: `-`, `*` or `+`, or a number with `.` or `)`, then a space.
    let rest = &line[at..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let marker = match rest.as_bytes() {
        [b'-' | b'*' | b'+', b' ', ..] => 2,
        _ if (1..=9).contains(&digits)
            && matches!(rest.as_bytes().get(digits), Some(b'.' | b')'))
            && rest.as_bytes().get(digits + 1) == Some(&b' ') =>
        {
            digits + 2
        }
        _ => 0,
    };
    at += marker;
    let first = line[..at].to_owned();
    let follow = format!("{}{}", &line[..quote_end], " ".repeat(marker));
    (first, follow, &line[at..])
}

/// The terminal's width in columns, or [`DEFAULT_WIDTH`] when stdout is no terminal.
pub(crate) fn terminal_width() -> usize {
    terminal_size::terminal_size()
        .map(|(terminal_size::Width(w), _)| usize::from(w))
        .filter(|w| *w >= 20)
        .unwrap_or(DEFAULT_WIDTH)
}

/// How many thread-list lines (three rows each) fit the terminal standard output is,
/// or [`DEFAULT_LINES`](crate::commands::DEFAULT_LINES) when it is not a terminal.
pub(crate) fn screen_lines() -> usize {
    use std::io::IsTerminal as _;
    if !std::io::stdout().is_terminal() {
        return crate::commands::DEFAULT_LINES;
    }
    terminal_size::terminal_size()
        .map(|(_, terminal_size::Height(rows))| (usize::from(rows).saturating_sub(4) / 3).max(5))
        .unwrap_or(crate::commands::DEFAULT_LINES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_stripped() {
        assert_eq!(
            clean("a\x1b[31mred\x1b[0m\x07\r\nb\tc"),
            "a[31mred[0m\nb    c"
        );
        assert_eq!(clean("\u{9b}31m\u{202e}evil"), "31mevil");
        assert_eq!(
            clean_line("two\nlines\x1b]0;title\x07"),
            "two lines]0;title"
        );
        assert_eq!(clean("emoji 👍 and ünïcode"), "emoji 👍 and ünïcode");
    }

    #[test]
    fn ids_are_shortened_for_people() {
        assert_eq!(
            short_id("user1qqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v9ccrydpk"),
            "user1qqsyqcyq"
        );
        assert_eq!(short_id("plain"), "plain");
    }

    #[test]
    fn times_read_as_how_long_ago() {
        let now = Timestamp::from_millis(1_800_000_000_000);
        let ago = |ms: u64| relative_time(now, Timestamp::from_millis(now.as_millis() - ms));
        assert_eq!(ago(0), "just now");
        assert_eq!(ago(59_999), "just now");
        assert_eq!(ago(60_000), "1m ago");
        assert_eq!(ago(3 * 3_600_000 + 5), "3h ago");
        assert_eq!(ago(2 * 86_400_000), "2d ago");
        assert_eq!(ago(40 * 86_400_000), "2026-12-06");
        let later = |ms: u64| relative_time(now, Timestamp::from_millis(now.as_millis() + ms));
        assert_eq!(later(10_000), "just now");
        assert_eq!(later(5 * 60_000), "in 5m");
        assert_eq!(later(2 * 3_600_000), "in 2h");
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(date(Timestamp::from_millis(0)), "1970-01-01");
        assert_eq!(date(Timestamp::from_millis(951_782_400_000)), "2000-02-29");
        assert_eq!(
            date(Timestamp::from_millis(1_735_689_599_999)),
            "2024-12-31"
        );
    }

    #[test]
    fn bodies_wrap_to_the_width_with_indentation() {
        let text = "one two three four five six seven eight nine ten\n\nnext paragraph";
        let lines = wrap(text, 30, 4);
        assert_eq!(
            lines,
            vec![
                "    one two three four five",
                "    six seven eight nine ten",
                "",
                "    next paragraph",
            ]
        );
        assert!(lines.iter().all(|line| line.chars().count() <= 30));
        // Deep indentation never squeezes a body below the minimum.
        let deep = wrap("aaaa bbbb cccc dddd eeee ffff", 30, 28);
        assert_eq!(deep.len(), 2, "{deep:?}");
        assert!(
            deep.iter().all(
                |line| line.trim_start().len() <= MIN_WRAP && line.starts_with(&" ".repeat(28))
            )
        );
        // A long word is broken rather than overflowing.
        let long = wrap(&"x".repeat(61), 30, 0);
        assert_eq!(long.len(), 3);
        assert!(wrap("\n\n", 30, 2).is_empty());
    }

    #[test]
    fn markdown_survives_wrapping() {
        let code = "x".repeat(40);
        let text = format!(
            "```\n{code} and more\n```\n\n    {code}\n\n> quoted words that go on and on\n- a list item that wraps around\n12. numbered and long enough to wrap"
        );
        let lines = wrap(&text, 24, 0);
        assert_eq!(
            lines,
            vec![
                "```".to_owned(),
                format!("{code} and more"),
                "```".to_owned(),
                String::new(),
                format!("    {code}"),
                String::new(),
                "> quoted words that go".to_owned(),
                "> on and on".to_owned(),
                "- a list item that wraps".to_owned(),
                "  around".to_owned(),
                "12. numbered and long".to_owned(),
                "    enough to wrap".to_owned(),
            ]
        );
        // Nested quotes keep every marker; indentation applies to all of it.
        let nested = wrap("> > deep quote that wraps here", 20, 2);
        assert_eq!(nested, vec!["  > > deep quote that", "  > > wraps here"]);
    }
}
