//! Output of `parleyd inspect`: text for people, one JSON object for programs.

use std::fmt::Write as _;

use parley_protocol::Content;
use serde_json::{Value, json};

use crate::inspect::Report;

/// The reports as aligned `name: value` lines, multi-line values indented. Labelled
/// reports (from a vector file) get a heading each and a closing count.
pub(crate) fn text(reports: &[Report]) -> String {
    let mut out = String::new();
    for report in reports {
        if let Some(label) = &report.label {
            let _ = writeln!(out, "== {label} ==");
        }
        report_text(&mut out, report);
        if report.label.is_some() {
            out.push('\n');
        }
    }
    if reports.iter().any(|r| r.label.is_some()) {
        let valid = reports.iter().filter(|r| r.outcome.is_ok()).count();
        let _ = writeln!(out, "{valid} valid, {} invalid", reports.len() - valid);
    }
    out
}

/// The reports as JSON and a newline: one object for one unlabelled envelope, else an
/// array of objects with a `label` each.
pub(crate) fn json(reports: &[Report]) -> String {
    let value = match reports {
        [report] if report.label.is_none() => report_json(report),
        _ => Value::Array(reports.iter().map(report_json).collect()),
    };
    format!("{value}\n")
}

fn report_text(out: &mut String, report: &Report) {
    match &report.outcome {
        Ok(post) => {
            out.push_str("valid post\n");
            line(out, "id", &post.id().to_string());
            line(out, "kind", post.content().kind_name());
            line(out, "author", &post.author().to_string());
            line(out, "space", &post.space().to_string());
            line(out, "created_at", &date_text(post.created_at().as_millis()));
            line(out, "size", &format!("{} bytes", report.len));
            for (name, value) in fields(post.content()) {
                line(out, name, &value_text(&value));
            }
        }
        Err(error) => {
            let _ = writeln!(out, "invalid envelope: {error}");
            line(out, "error", &format!("{error:?}"));
            let transient = if error.is_transient() {
                "yes (the same bytes may be valid later)"
            } else {
                "no (the same bytes are never valid)"
            };
            line(out, "transient", transient);
            line(out, "size", &format!("{} bytes", report.len));
            line(out, "checked at", &date_text(report.now.as_millis()));
        }
    }
}

fn report_json(report: &Report) -> Value {
    let mut value = match &report.outcome {
        Ok(post) => json!({
            "valid": true,
            "id": post.id().to_string(),
            "kind": post.content().kind_name(),
            "author": post.author().to_string(),
            "space": post.space().to_string(),
            "created_at": post.created_at().as_millis(),
            "size": report.len,
            "fields": Value::Object(
                fields(post.content()).into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            ),
        }),
        Err(error) => json!({
            "valid": false,
            "error": {
                "message": error.to_string(),
                "variant": format!("{error:?}"),
                "transient": error.is_transient(),
            },
            "size": report.len,
            "now": report.now.as_millis(),
        }),
    };
    if let Some(label) = &report.label {
        value["label"] = json!(label);
    }
    value
}

/// The kind-specific fields of `content`, in declaration order. Ids in their text form,
/// byte strings in hexadecimal.
fn fields(content: &Content) -> Vec<(&'static str, Value)> {
    let ids = |ids: &[parley_protocol::UserId]| -> Value {
        Value::Array(ids.iter().map(|id| Value::String(id.to_string())).collect())
    };
    let id = |text: String| Value::String(text);
    match content {
        Content::Genesis(g) => vec![
            ("name", json!(g.name)),
            ("description", json!(g.description)),
            ("home_node", id(g.home_node.to_string())),
            ("nonce", json!(hex::encode(g.nonce))),
        ],
        Content::Thread(t) => {
            vec![
                ("title", json!(t.title)),
                ("body", json!(t.body)),
                ("mentions", ids(&t.mentions)),
            ]
        }
        Content::Reply(r) => vec![
            ("root", id(r.root.to_string())),
            ("parent", id(r.parent.to_string())),
            ("body", json!(r.body)),
            ("mentions", ids(&r.mentions)),
        ],
        Content::Edit(e) => vec![
            ("target", id(e.target.to_string())),
            ("title", json!(e.title)),
            ("body", json!(e.body)),
        ],
        Content::Retraction(r) => vec![("target", id(r.target.to_string()))],
        Content::Reaction(r) => {
            vec![
                ("target", id(r.target.to_string())),
                ("reaction", json!(r.reaction)),
            ]
        }
        Content::Resolve(r) => {
            vec![
                ("thread", id(r.thread.to_string())),
                ("decision", json!(r.decision)),
            ]
        }
        Content::Reopen(r) => vec![("thread", id(r.thread.to_string()))],
        Content::AddMember(m)
        | Content::RemoveMember(m)
        | Content::GrantModerator(m)
        | Content::RevokeModerator(m) => vec![("user", id(m.user.to_string()))],
        Content::ShareReplica(r) | Content::UnshareReplica(r) => {
            vec![("node", id(r.node.to_string()))]
        }
        Content::Profile(p) => vec![("display_name", json!(p.display_name))],
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "(none)".to_owned(),
        Value::Array(items) if items.is_empty() => "(none)".to_owned(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join("\n"),
        other => other.to_string(),
    }
}

/// Appends `name: value`, aligned; lines after the first are indented under the value.
fn line(out: &mut String, name: &str, value: &str) {
    let mut lines = value.split('\n');
    let first = lines.next().unwrap_or_default();
    let _ = writeln!(out, "{:<15}{first}", format!("{name}:"));
    for rest in lines {
        let _ = writeln!(out, "{:15}{rest}", "");
    }
}

/// `ms` since the epoch as itself and as a UTC date, e.g.
/// `1700000000000 (2023-11-14T22:13:20.000Z)`.
fn date_text(ms: u64) -> String {
    let days = ms / 86_400_000;
    let of_day = ms % 86_400_000;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{ms} ({year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z)",
        of_day / 3_600_000,
        of_day / 60_000 % 60,
        of_day / 1000 % 60,
        of_day % 1000
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc() {
        assert_eq!(date_text(0), "0 (1970-01-01T00:00:00.000Z)");
        assert_eq!(
            date_text(1_700_000_000_123),
            "1700000000123 (2023-11-14T22:13:20.123Z)"
        );
        assert_eq!(
            date_text(951_782_400_000),
            "951782400000 (2000-02-29T00:00:00.000Z)"
        );
    }

    #[test]
    fn multi_line_values_are_indented() {
        let mut out = String::new();
        line(&mut out, "body", "a\nb");
        assert_eq!(out, "body:          a\n               b\n");
    }
}
