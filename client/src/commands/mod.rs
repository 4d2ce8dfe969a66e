//! One module per command group. Each command takes the [`Context`] and a node
//! ([`Api`](crate::node_client::Api)) and returns an [`Outcome`]; `main` prints it.

pub(crate) mod account;
pub(crate) mod body;
pub(crate) mod digest;
pub(crate) mod docs;
pub(crate) mod id_parse;
pub(crate) mod lookup;
pub(crate) mod mentions;
pub(crate) mod read;
pub(crate) mod search;
pub(crate) mod space;
pub(crate) mod watch;
pub(crate) mod write;

#[cfg(test)]
pub(crate) mod fake;

use std::cell::Cell;

use parley_protocol::Timestamp;

use crate::home::Home;
use crate::render::Style;

/// What a command has to say, in both output forms.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Whether the command did what was asked (exit code 0).
    pub(crate) success: bool,
    /// Text for people, ending in a newline.
    pub(crate) text: String,
    /// The same as one JSON value, for `--json`.
    pub(crate) json: serde_json::Value,
    /// The command already wrote its output as it went (`watch`): print nothing more.
    pub(crate) printed: bool,
}

impl Outcome {
    /// A successful outcome.
    pub(crate) fn ok(text: String, json: serde_json::Value) -> Self {
        Self {
            success: true,
            text,
            json,
            printed: false,
        }
    }
}

/// What every command may need besides the node.
#[derive(Debug)]
pub(crate) struct Context {
    /// The home directory (key, node address, drafts).
    pub(crate) home: Home,
    /// Layout of text output, with the time the command started for relative times.
    pub(crate) style: Style,
    /// `$VISUAL` or `$EDITOR`, if set.
    pub(crate) editor: Option<String>,
    /// The clock that dates new posts.
    pub(crate) clock: fn() -> Timestamp,
    /// The date of the last post signed, so the next is later still.
    pub(crate) last_signed: Cell<Timestamp>,
    /// How many list lines fit one screen (20 when the output is not a terminal).
    pub(crate) screen_lines: usize,
}

/// List lines shown when the output is not a terminal and no `--limit` is given.
pub(crate) const DEFAULT_LINES: usize = 20;

impl Context {
    /// A context reading `clock`.
    pub(crate) fn new(
        home: Home,
        width: usize,
        editor: Option<String>,
        clock: fn() -> Timestamp,
    ) -> Self {
        Self {
            home,
            style: Style {
                width,
                now: clock(),
                colour: false,
            },
            editor,
            clock,
            last_signed: Cell::new(Timestamp::default()),
            screen_lines: DEFAULT_LINES,
        }
    }

    /// How many lines a list shows: `--limit`, everything for `--all` (`None`), or
    /// one screen.
    pub(crate) fn lines_wanted(&self, page: &crate::cli::PageArgs) -> Option<usize> {
        if page.all {
            return None;
        }
        Some(
            page.limit
                .map_or(self.screen_lines, |limit| limit as usize)
                .max(1),
        )
    }

    /// The `created_at` of a new post: now by the clock, and always after the previous
    /// post this command signed, so posts of one command keep their order in every view.
    pub(crate) fn now(&self) -> Timestamp {
        let now = (self.clock)().max(self.last_signed.get().saturating_add_millis(1));
        self.last_signed.set(now);
        now
    }

    /// Where bodies come from when none is given.
    pub(crate) fn editor_setup(&self) -> body::EditorSetup<'_> {
        body::EditorSetup {
            home: &self.home,
            editor: self.editor.clone(),
        }
    }
}
