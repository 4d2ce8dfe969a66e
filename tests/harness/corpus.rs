//! The shared mailing-list corpus (`../shared/corpus/*.jsonl`, when present) as plain
//! messages, for scenarios that want realistic threads, orphan replies and long bodies.

use std::path::Path;

/// One message of the corpus.
#[derive(Clone, Debug)]
pub struct CorpusMessage {
    /// Its `Message-ID`.
    pub message_id: String,
    /// The `Message-ID` it replies to, if any.
    pub in_reply_to: Option<String>,
    /// A stable hash of its sender.
    pub author: String,
    /// Its subject.
    pub subject: String,
    /// Its body.
    pub body: String,
    /// When it was sent, in ms since the epoch.
    pub date_ms: u64,
}

/// The corpus directory beside the workspace.
pub fn corpus_dir() -> std::path::PathBuf {
    crate::workspace_root().join("../shared/corpus")
}

/// The messages of one list file, or `None` (with a message saying why) when it is
/// absent.
pub fn read_list(file: &Path) -> Option<Vec<CorpusMessage>> {
    let Ok(text) = std::fs::read_to_string(file) else {
        eprintln!(
            "skipping the corpus part: {} is not present",
            file.display()
        );
        return None;
    };
    Some(parse(&text))
}

/// Every message of every list file in `dir`, or `None` (with a message saying why)
/// when there are none.
pub fn read_corpus(dir: &Path) -> Option<Vec<CorpusMessage>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut messages = Vec::new();
    for file in files {
        if let Ok(text) = std::fs::read_to_string(&file) {
            messages.extend(parse(&text));
        }
    }
    if messages.is_empty() {
        eprintln!(
            "skipping the corpus part: no messages under {}",
            dir.display()
        );
        return None;
    }
    Some(messages)
}

fn parse(text: &str) -> Vec<CorpusMessage> {
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|v| {
            Some(CorpusMessage {
                message_id: v["message_id"].as_str()?.to_owned(),
                in_reply_to: v["in_reply_to"].as_str().map(str::to_owned),
                author: v["from_hash"].as_str()?.to_owned(),
                subject: v["subject"].as_str().unwrap_or("(no subject)").to_owned(),
                body: v["body"].as_str()?.to_owned(),
                date_ms: rfc3339_ms(v["date"].as_str()?)?,
            })
        })
        .collect()
}

/// Milliseconds since the epoch of a `YYYY-MM-DDTHH:MM:SSZ` date.
pub fn rfc3339_ms(date: &str) -> Option<u64> {
    let num = |range: std::ops::Range<usize>| date.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(((days * 24 + hh) * 60 + mm) * 60 + ss)
        .ok()
        .map(|s| s * 1_000)
}

/// The longest prefix of `text` of at most `limit` bytes.
pub fn clip(text: &str, limit: usize) -> String {
    let mut end = text.len().min(limit);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_clips() {
        assert_eq!(rfc3339_ms("1970-01-02T00:00:01Z"), Some(86_401_000));
        assert_eq!(rfc3339_ms("not a date"), None);
        assert_eq!(clip("héllo", 2), "h");
    }
}
