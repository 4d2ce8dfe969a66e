//! `parley completions SHELL` and `parley man`: the command line described for shells
//! and for `man`, generated from the same definition that parses it.

use std::path::Path;

use clap::CommandFactory as _;
use clap_complete::Shell;
use serde_json::json;

use super::Outcome;
use crate::cli::Cli;
use crate::error::ClientError;

/// The completion script of `shell`.
pub(crate) fn completions(shell: Shell) -> Outcome {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "parley", &mut script);
    let script = String::from_utf8_lossy(&script).into_owned();
    Outcome::ok(
        script.clone(),
        json!({ "shell": shell.to_string(), "script": script }),
    )
}

/// The manual page `parley.1`, or, with `dir`, one page per command written there.
pub(crate) fn man(dir: Option<&Path>) -> Result<Outcome, ClientError> {
    let command = Cli::command();
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command)
            .render(&mut page)
            .map_err(|error| ClientError::Usage(format!("cannot render the manual: {error}")))?;
        let page = String::from_utf8_lossy(&page).into_owned();
        return Ok(Outcome::ok(page.clone(), json!({ "page": page })));
    };
    let written = |error: std::io::Error| {
        ClientError::Usage(format!(
            "cannot write manual pages into {}: {error}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(written)?;
    clap_mangen::generate_to(command, dir).map_err(written)?;
    let mut pages: Vec<String> = std::fs::read_dir(dir)
        .map_err(written)?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("parley") && name.ends_with(".1"))
        .collect();
    pages.sort();
    Ok(Outcome::ok(
        format!(
            "Wrote {} manual pages into {} (parley.1 first).\n",
            pages.len(),
            dir.display()
        ),
        json!({ "dir": dir.display().to_string(), "pages": pages }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_manual_pages_cover_every_command() {
        let bash = completions(Shell::Bash).text;
        for command in ["post", "reply", "mark-read", "add-member", "completions"] {
            assert!(bash.contains(command), "bash completion lacks {command}");
        }
        let page = man(None).unwrap().text;
        assert!(page.starts_with(".ie"), "{}", &page[..40.min(page.len())]);
        assert!(page.contains("parley"), "the page names the command");
        let dir = tempfile::tempdir().unwrap();
        let written = man(Some(dir.path())).unwrap();
        let pages = written.json["pages"].as_array().unwrap();
        for page in ["parley.1", "parley-post.1", "parley-space-add-member.1"] {
            assert!(pages.iter().any(|p| p == page), "{page} missing: {pages:?}");
        }
    }
}
