//! Transcript tests: markdown files that show a session at the terminal, run against
//! the real binaries (in the manner of radicle's `rad` examples).
//!
//! Each ```` ```text ```` block holds commands, each after a prompt naming who runs it,
//! and the exact output that follows:
//!
//! ```text
//! admin$ parleyd invite
//! {{INVITE}}
//! ada$ parley join {{INVITE}}
//! Joined [..] as usr1….
//! ```
//!
//! - `admin$ parleyd …` runs on the transcript's node (one `parleyd` per file, on a
//!   loopback port); `NAME$ parley …` runs in NAME's home, whose key is seeded by NAME
//!   (`PARLEY_TEST_SEED`), with the clock set (`PARLEY_TEST_CLOCK`) to a minute after
//!   the previous command's, from [`CLOCK_MS`]: user ids, times and the order of posts
//!   come out the same every run.
//! - In expected output, `{{NAME}}` matches a run of non-blank characters and binds it
//!   the first time; after that it stands for that text, in output and in commands.
//!   `[..]` matches anything within one line.
//! - Output is stdout then stderr; a command that fails ends with `[exit N]`.
//! - Arguments are split at spaces; `"…"` quotes one with spaces.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::binary;
use crate::process::TestNode;

/// The fixed clock of every transcript: 2026-11-26 00:00 UTC.
pub const CLOCK_MS: u64 = 1_795_651_200_000;

/// One command and the output expected of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Who runs it (`admin` for `parleyd`).
    pub who: String,
    /// The command line after the prompt.
    pub command: String,
    /// The expected output lines.
    pub expected: Vec<String>,
    /// The line of the file the command is on.
    pub line: usize,
}

/// The steps of a transcript's text blocks.
pub fn parse(text: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_block = false;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_end();
        if trimmed.starts_with("```") {
            in_block = !in_block && trimmed == "```text";
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some((who, command)) = prompt(trimmed) {
            steps.push(Step {
                who: who.to_owned(),
                command: command.to_owned(),
                expected: Vec::new(),
                line: n + 1,
            });
        } else if let Some(step) = steps.last_mut() {
            step.expected.push(trimmed.to_owned());
        }
    }
    steps
}

/// `who$ command`, if the line is a prompt.
fn prompt(line: &str) -> Option<(&str, &str)> {
    let (who, rest) = line.split_once("$ ")?;
    let valid = !who.is_empty() && who.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    valid.then_some((who, rest))
}

/// Splits a command line at spaces, `"…"` quoting (with `\"` inside).
fn split(command: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut single, mut started) = (false, false, false);
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            // As in a shell, single quotes keep everything in them as it is.
            '\'' if !quoted => {
                single = !single;
                started = true;
            }
            c if single => current.push(c),
            '\\' if quoted => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            '"' => {
                quoted = !quoted;
                started = true;
            }
            ' ' if !quoted => {
                if started || !current.is_empty() {
                    args.push(std::mem::take(&mut current));
                }
                started = false;
            }
            c => current.push(c),
        }
    }
    if started || !current.is_empty() {
        args.push(current);
    }
    args
}

/// A piece of an expected line.
#[derive(Debug)]
enum Piece {
    Text(String),
    Bind(String),
    Any,
}

fn pieces(line: &str, bound: &BTreeMap<String, String>) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let next_var = rest.find("{{");
        let next_any = rest.find("[..]");
        let at = match (next_var, next_any) {
            (Some(v), Some(a)) => v.min(a),
            (Some(v), None) => v,
            (None, Some(a)) => a,
            (None, None) => {
                out.push(Piece::Text(rest.to_owned()));
                break;
            }
        };
        if at > 0 {
            out.push(Piece::Text(rest[..at].to_owned()));
        }
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("[..]") {
            out.push(Piece::Any);
            rest = after;
        } else if let Some(end) = rest.find("}}") {
            let name = &rest[2..end];
            match bound.get(name) {
                Some(value) => out.push(Piece::Text(value.clone())),
                None => out.push(Piece::Bind(name.to_owned())),
            }
            rest = &rest[end + 2..];
        } else {
            out.push(Piece::Text(rest.to_owned()));
            break;
        }
    }
    out
}

/// Matches `actual` against `pieces`, binding names into `binds`.
fn matches(pieces: &[Piece], actual: &str, binds: &mut BTreeMap<String, String>) -> bool {
    let Some((first, rest)) = pieces.split_first() else {
        return actual.is_empty();
    };
    match first {
        Piece::Text(text) => actual
            .strip_prefix(text.as_str())
            .is_some_and(|after| matches(rest, after, binds)),
        Piece::Any => (0..=actual.len())
            .filter(|at| actual.is_char_boundary(*at))
            .any(|at| matches(rest, &actual[at..], binds)),
        Piece::Bind(name) => {
            let token_end = actual.find(char::is_whitespace).unwrap_or(actual.len());
            (1..=token_end)
                .rev()
                .filter(|at| actual.is_char_boundary(*at))
                .any(|at| {
                    let mut tried = binds.clone();
                    tried.insert(name.clone(), actual[..at].to_owned());
                    if matches(rest, &actual[at..], &mut tried) {
                        *binds = tried;
                        true
                    } else {
                        false
                    }
                })
        }
    }
}

/// Replaces each bound `{{NAME}}` in `text`.
fn substitute(text: &str, bound: &BTreeMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (name, value) in bound {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    out
}

/// Runs the transcript at `path`; `Err` says where it differs, with the whole output.
pub fn run(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let steps = parse(&text);
    if steps.is_empty() {
        return Err(format!("{}: no commands", path.display()));
    }
    let mut node = TestNode::init();
    node.start();
    let homes = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut bound = BTreeMap::new();
    for (n, step) in steps.iter().enumerate() {
        let args = split(&substitute(&step.command, &bound));
        let clock = CLOCK_MS + 60_000 * n as u64;
        let output = execute(&node, homes.path(), &step.who, &args, clock)
            .map_err(|e| format!("{}:{}: {e}", path.display(), step.line))?;
        let actual = rendered(&output);
        let mut binds = bound.clone();
        let same = actual.len() == step.expected.len()
            && step.expected.iter().zip(&actual).all(|(expected, actual)| {
                let pieces = pieces(expected, &binds);
                matches(&pieces, actual, &mut binds)
            });
        if !same {
            return Err(format!(
                "{}:{}: `{}$ {}` printed\n{}\nexpected\n{}",
                path.display(),
                step.line,
                step.who,
                step.command,
                actual.join("\n"),
                step.expected.join("\n")
            ));
        }
        bound = binds;
    }
    node.stop();
    Ok(())
}

/// stdout, then stderr, then `[exit N]` for a failure, as lines without trailing blanks.
fn rendered(output: &Output) -> Vec<String> {
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    let mut lines: Vec<String> = text.lines().map(|l| l.trim_end().to_owned()).collect();
    if !output.status.success() {
        lines.push(format!(
            "[exit {}]",
            output
                .status
                .code()
                .map_or_else(|| "signal".to_owned(), |c| c.to_string())
        ));
    }
    lines
}

fn execute(
    node: &TestNode,
    homes: &Path,
    who: &str,
    args: &[String],
    clock: u64,
) -> Result<Output, String> {
    let (program, rest) = args.split_first().ok_or("an empty command")?;
    match program.as_str() {
        "parleyd" if who == "admin" => {
            let (sub, rest) = rest.split_first().ok_or("parleyd needs a command")?;
            let mut command = Command::new(binary("parleyd"));
            command.arg(sub);
            // `peer add|remove|list`: the directory goes after the peer command.
            let rest = if sub == "peer" && !rest.is_empty() {
                command.arg(&rest[0]);
                &rest[1..]
            } else {
                rest
            };
            command.arg("--data-dir").arg(node.dir.path()).args(rest);
            command.output().map_err(|e| e.to_string())
        }
        "parley" => {
            let home: PathBuf = homes.join(who);
            Command::new(binary("parley"))
                .args(rest)
                .env("PARLEY_HOME", &home)
                .env("PARLEY_TEST_SEED", who)
                .env("PARLEY_TEST_CLOCK", clock.to_string())
                .env("NO_COLOR", "1")
                .env_remove("EDITOR")
                .env_remove("VISUAL")
                .env_remove("PAGER")
                .output()
                .map_err(|e| e.to_string())
        }
        other => Err(format!(
            "`{who}$ {other}`: only `admin$ parleyd` and `NAME$ parley`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_prompts_and_patterns_are_read() {
        let steps = parse(
            "Intro\n\n```text\nada$ parley post design --title \"Two words\"\nPosted {{T}} in design.\n\nbob$ parley show {{T}}\n[..]\n```\n",
        );
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].who, "ada");
        assert_eq!(
            split(&steps[0].command),
            ["parley", "post", "design", "--title", "Two words"]
        );
        assert_eq!(steps[0].expected, ["Posted {{T}} in design.", ""]);
        let mut binds = BTreeMap::new();
        let line = &steps[0].expected[0];
        assert!(matches(
            &pieces(line, &binds),
            "Posted post1abc in design.",
            &mut binds
        ));
        assert_eq!(binds["T"], "post1abc");
        assert!(!matches(
            &pieces(line, &binds),
            "Posted post1xyz in design.",
            &mut binds
        ));
        assert!(matches(&pieces("a [..] z", &binds), "a b c z", &mut binds));
        assert!(!matches(&pieces("a [..] z", &binds), "a b c", &mut binds));
        assert_eq!(
            substitute("parley show {{T}}", &binds),
            "parley show post1abc"
        );
    }

    #[test]
    fn single_quotes_keep_what_is_in_them() {
        assert_eq!(
            split(r#"parley search '"plain files"' author:"Ada L" 'it''s'"#),
            ["parley", "search", "\"plain files\"", "author:Ada L", "its"]
        );
    }
}
