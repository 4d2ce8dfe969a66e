//! One module per subcommand. Each returns an [`Outcome`]; `main` prints it.

pub(crate) mod id_parse;
pub(crate) mod keygen;

/// What a command has to say, in both output forms.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Whether the command did what was asked (exit code 0).
    pub(crate) success: bool,
    /// Text for people, ending in a newline.
    pub(crate) text: String,
    /// The same as one JSON value, for `--json`.
    pub(crate) json: serde_json::Value,
}
