//! Where a body comes from: `--body TEXT`, `--body-file FILE` (`-` for standard input),
//! or `$VISUAL`/`$EDITOR` on a draft kept under `HOME/drafts/` until the post is
//! acknowledged. Sizes are checked as the text is read, before anything is signed.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use parley_protocol::limits::MAX_BODY_BYTES;

use crate::home::{Home, HomeError};

/// The body options shared by `post`, `reply` and `edit`.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args)]
pub(crate) struct BodyArgs {
    /// The body text (Markdown).
    #[arg(long, short = 'b', value_name = "TEXT", conflicts_with = "body_file")]
    pub(crate) body: Option<String>,
    /// Read the body from FILE; `-` reads standard input.
    #[arg(long, short = 'F', value_name = "FILE")]
    pub(crate) body_file: Option<PathBuf>,
}

/// Why no body could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum BodyError {
    /// The text is over the limit.
    #[error("the {what} is {size} bytes; the limit is {limit} bytes ({} KiB)", limit / 1024)]
    TooLarge {
        /// What the text is ("body", "decision").
        what: &'static str,
        /// Its size (or the size read so far, for an endless input).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The text is not UTF-8.
    #[error("the body in {0} is not UTF-8 text")]
    NotUtf8(String),
    /// A file could not be read.
    #[error("reading the body from {name}: {source}")]
    Read {
        /// The file, or "standard input".
        name: String,
        /// Why.
        source: io::Error,
    },
    /// No editor is configured.
    #[error(
        "no body given: pass --body TEXT or --body-file FILE (`-` for standard input), or set $EDITOR"
    )]
    NoEditor,
    /// The editor failed.
    #[error(
        "the editor `{editor}` {reason}; your text is kept in {} and offered back the next time you write this post",
        draft.display()
    )]
    Editor {
        /// The editor command.
        editor: String,
        /// What went wrong.
        reason: String,
        /// The draft.
        draft: PathBuf,
    },
    /// The body is empty after editing.
    #[error("the body is empty; nothing was sent")]
    Empty,
    /// The drafts folder failed.
    #[error(transparent)]
    Drafts(#[from] HomeError),
}

impl BodyError {
    /// A stable name for `--json` errors.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::NotUtf8(_) | Self::Read { .. } => "body_unreadable",
            Self::NoEditor => "no_body",
            Self::Editor { .. } => "editor_failed",
            Self::Empty => "empty_body",
            Self::Drafts(error) => error.code(),
        }
    }
}

/// A body, and the draft it was written in (if any), which is removed once the post is
/// acknowledged.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Body {
    /// The text.
    pub(crate) text: String,
    /// The draft file, when the body came from the editor.
    pub(crate) draft: Option<PathBuf>,
}

impl Body {
    /// The post is acknowledged: the draft is no longer needed.
    pub(crate) fn acknowledged(&self) {
        if let Some(draft) = &self.draft {
            let _ = fs::remove_file(draft);
        }
    }
}

/// What the editor is and where drafts go, so tests can replace both.
#[derive(Debug)]
pub(crate) struct EditorSetup<'a> {
    /// The home, for its drafts folder.
    pub(crate) home: &'a Home,
    /// The editor command (`$VISUAL`, else `$EDITOR`), if any.
    pub(crate) editor: Option<String>,
}

impl<'a> EditorSetup<'a> {
    /// The editor from the environment.
    pub(crate) fn from_env(home: &'a Home) -> Self {
        let editor = ["VISUAL", "EDITOR"]
            .into_iter()
            .filter_map(|name| std::env::var(name).ok())
            .find(|value| !value.trim().is_empty());
        Self { home, editor }
    }
}

/// The body given by `--body` or `--body-file`, read and size-checked; `None` when the
/// editor is to be asked.
pub(crate) fn given(args: &BodyArgs) -> Result<Option<Body>, BodyError> {
    let text = if let Some(text) = &args.body {
        check_size("body", text.len(), MAX_BODY_BYTES)?;
        text.clone()
    } else if let Some(path) = &args.body_file {
        if path == Path::new("-") {
            read_bounded(io::stdin().lock(), "standard input")?
        } else {
            let name = path.display().to_string();
            let file = fs::File::open(path).map_err(|source| BodyError::Read {
                name: name.clone(),
                source,
            })?;
            read_bounded(file, &name)?
        }
    } else {
        return Ok(None);
    };
    Ok(Some(Body { text, draft: None }))
}

/// Checks a text's size against its limit.
pub(crate) fn check_size(what: &'static str, size: usize, limit: usize) -> Result<(), BodyError> {
    if size > limit {
        return Err(BodyError::TooLarge { what, size, limit });
    }
    Ok(())
}

/// Reads UTF-8 text from `input`, refusing more than the body limit. At most four times
/// the limit is read, so an endless input ends too; the size reported is then what was read.
pub(crate) fn read_bounded(input: impl Read, name: &str) -> Result<String, BodyError> {
    let mut bytes = Vec::new();
    input
        .take(4 * MAX_BODY_BYTES as u64)
        .read_to_end(&mut bytes)
        .map_err(|source| BodyError::Read {
            name: name.to_owned(),
            source,
        })?;
    check_size("body", bytes.len(), MAX_BODY_BYTES)?;
    String::from_utf8(bytes).map_err(|_| BodyError::NotUtf8(name.to_owned()))
}

/// Opens the editor on the draft left for the same post (`kind` about `about`: a
/// space, or the post replied to or edited), if a command was interrupted or failed to
/// publish it, else on a new draft holding `initial`; and reads the result.
pub(crate) fn edit(
    setup: &EditorSetup<'_>,
    kind: &str,
    about: &str,
    initial: &str,
) -> Result<Body, BodyError> {
    let editor = setup.editor.clone().ok_or(BodyError::NoEditor)?;
    let drafts = setup.home.drafts()?;
    let draft = match left_draft(&drafts, kind, about) {
        Some(draft) => {
            eprintln!("Continuing the draft you left in {}.", draft.display());
            draft
        }
        None => new_draft(&drafts, kind, about, initial)?,
    };
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$@\""))
        .arg("sh")
        .arg(&draft)
        .status();
    let failed = |reason: String| BodyError::Editor {
        editor: editor.clone(),
        reason,
        draft: draft.clone(),
    };
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => return Err(failed(format!("exited with {status}"))),
        Err(error) => return Err(failed(format!("could not be started ({error})"))),
    }
    let name = draft.display().to_string();
    let file = fs::File::open(&draft).map_err(|source| BodyError::Read {
        name: name.clone(),
        source,
    })?;
    let text = read_bounded(file, &name)?;
    if text.trim().is_empty() {
        let _ = fs::remove_file(&draft);
        return Err(BodyError::Empty);
    }
    Ok(Body {
        text: text.trim_end_matches('\n').to_owned(),
        draft: Some(draft),
    })
}

/// The latest draft left in `drafts` for a `kind` post about `about`, if any.
fn left_draft(drafts: &Path, kind: &str, about: &str) -> Option<PathBuf> {
    let start = format!("{kind}-{about}-");
    fs::read_dir(drafts)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .map(|name| name.to_string_lossy())
                .is_some_and(|name| name.starts_with(&start) && name.ends_with(".md"))
        })
        .max()
}

/// Creates `drafts/KIND-ABOUT-MILLIS-PID.md` holding `initial`.
fn new_draft(drafts: &Path, kind: &str, about: &str, initial: &str) -> Result<PathBuf, BodyError> {
    let millis = crate::clock::now().as_millis();
    let draft = drafts.join(format!(
        "{kind}-{about}-{millis:013}-{}.md",
        std::process::id()
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let written = options.open(&draft).and_then(|mut file| {
        use std::io::Write as _;
        file.write_all(initial.as_bytes())
    });
    written.map_err(|source| {
        BodyError::Drafts(HomeError::Io {
            what: "creating the draft",
            path: draft.clone(),
            source,
        })
    })?;
    Ok(draft)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// The body from the options, else the editor.
    fn obtain(
        args: &BodyArgs,
        setup: &EditorSetup<'_>,
        kind: &str,
        initial: &str,
    ) -> Result<Body, BodyError> {
        match given(args)? {
            Some(body) => Ok(body),
            None => edit(setup, kind, "space1abcd", initial),
        }
    }

    fn home() -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::locate(Some(dir.path().to_path_buf())).unwrap();
        (dir, home)
    }

    #[test]
    fn the_body_flag_is_taken_as_is() {
        let (_dir, home) = home();
        let setup = EditorSetup {
            home: &home,
            editor: None,
        };
        let args = BodyArgs {
            body: Some("hello\n".to_owned()),
            body_file: None,
        };
        let body = obtain(&args, &setup, "post", "").unwrap();
        assert_eq!(
            body,
            Body {
                text: "hello\n".to_owned(),
                draft: None
            }
        );
    }

    #[test]
    fn a_body_file_is_read() {
        let (dir, home) = home();
        let path = dir.path().join("b.md");
        fs::write(&path, "from a file").unwrap();
        let setup = EditorSetup {
            home: &home,
            editor: None,
        };
        let args = BodyArgs {
            body: None,
            body_file: Some(path),
        };
        assert_eq!(
            obtain(&args, &setup, "post", "").unwrap().text,
            "from a file"
        );
        let missing = BodyArgs {
            body: None,
            body_file: Some(dir.path().join("nope")),
        };
        let error = obtain(&missing, &setup, "post", "").unwrap_err();
        assert!(error.to_string().contains("nope"), "{error}");
        assert_eq!(error.code(), "body_unreadable");
    }

    #[test]
    fn standard_input_is_read_whole_and_bounded() {
        let text = read_bounded(Cursor::new("line one\nline two\n"), "standard input").unwrap();
        assert_eq!(text, "line one\nline two\n");
        let big = vec![b'a'; 300 * 1024];
        let error = read_bounded(Cursor::new(big), "standard input").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the body is 307200 bytes; the limit is 262144 bytes (256 KiB)"
        );
        assert_eq!(error.code(), "too_large");
        let endless = io::repeat(b'x');
        assert!(matches!(
            read_bounded(endless, "standard input"),
            Err(BodyError::TooLarge { size, .. }) if size == 4 * MAX_BODY_BYTES
        ));
        let error = read_bounded(Cursor::new(vec![0xff, 0xfe]), "standard input").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the body in standard input is not UTF-8 text"
        );
    }

    #[test]
    fn a_long_body_flag_fails_with_the_limit() {
        let (_dir, home) = home();
        let setup = EditorSetup {
            home: &home,
            editor: None,
        };
        let args = BodyArgs {
            body: Some("x".repeat(MAX_BODY_BYTES + 1)),
            body_file: None,
        };
        let error = obtain(&args, &setup, "post", "").unwrap_err();
        assert!(
            error.to_string().contains("limit is 262144 bytes"),
            "{error}"
        );
    }

    #[test]
    fn without_a_body_or_an_editor_the_error_says_what_to_pass() {
        let (_dir, home) = home();
        let setup = EditorSetup {
            home: &home,
            editor: None,
        };
        let error = obtain(&BodyArgs::default(), &setup, "post", "").unwrap_err();
        assert!(error.to_string().contains("--body-file"), "{error}");
    }

    #[test]
    fn the_editor_writes_a_draft_that_stays_until_acknowledged() {
        let (_dir, home) = home();
        // An "editor" that appends a line to the file it is given.
        let setup = EditorSetup {
            home: &home,
            editor: Some("printf 'written\\n' >>".to_owned()),
        };
        let body = obtain(&BodyArgs::default(), &setup, "reply", "start ").unwrap();
        assert_eq!(body.text, "start written");
        let draft = body.draft.clone().unwrap();
        assert!(draft.starts_with(home.dir().join("drafts")));
        assert!(
            draft
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("reply-")
        );
        assert!(draft.exists());
        body.acknowledged();
        assert!(!draft.exists());
    }

    #[test]
    fn an_empty_or_failed_edit_sends_nothing() {
        let (_dir, home) = home();
        let setup = EditorSetup {
            home: &home,
            editor: Some("true".to_owned()),
        };
        let error = obtain(&BodyArgs::default(), &setup, "post", "  \n").unwrap_err();
        assert_eq!(error.code(), "empty_body");
        let setup = EditorSetup {
            home: &home,
            editor: Some("false".to_owned()),
        };
        let error = obtain(&BodyArgs::default(), &setup, "post", "kept").unwrap_err();
        assert_eq!(error.code(), "editor_failed");
        let BodyError::Editor { draft, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!(fs::read_to_string(draft).unwrap(), "kept");
        assert!(error.to_string().contains("kept in"), "{error}");
        // The next time the same post is written, its draft comes back.
        let setup = EditorSetup {
            home: &home,
            editor: Some("printf ' and more' >>".to_owned()),
        };
        let resumed = obtain(&BodyArgs::default(), &setup, "post", "fresh").unwrap();
        assert_eq!(resumed.text, "kept and more");
        assert_eq!(resumed.draft.as_ref(), Some(draft));
        // Another post starts afresh.
        let other = edit(&setup, "reply", "post1zzzz", "fresh").unwrap();
        assert_eq!(other.text, "fresh and more");
        assert_ne!(other.draft.as_ref(), Some(draft));
    }
}
