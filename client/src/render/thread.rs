//! A thread as a tree for people: the title with its markers, the decision on top when
//! resolved, then each post indented by its depth with its author, relative time,
//! `(edited)`, id, wrapped body and reactions.

use std::fmt::Write as _;

use parley_protocol::view::{ThreadPost, ThreadView};

use super::text::{clean, clean_line, relative_time, short_post, wrap};
use super::{Names, Style, paint};

/// Deeper replies are shown at this depth, so bodies keep room to read.
const MAX_INDENT_DEPTH: usize = 8;

/// The whole thread, ending in a newline. `space` is how to name its space.
pub(crate) fn thread(view: &ThreadView, space: &str, names: Names<'_>, style: Style) -> String {
    let mut out = String::new();
    let mut title = paint::title(&clean_line(&view.title), style);
    if view.resolution.is_some() {
        title.push_str(&format!("  {}", paint::decided("[resolved]", style)));
    }
    let _ = writeln!(out, "{title}");
    let replies = match view.reply_count {
        1 => "1 reply".to_owned(),
        n => format!("{n} replies"),
    };
    let _ = writeln!(
        out,
        "in {space} · {replies} · last activity {}",
        relative_time(style.now, view.last_activity)
    );
    if let Some(resolution) = &view.resolution {
        let _ = writeln!(
            out,
            "\n{} by {}, {}:",
            paint::decided("Decision", style),
            names.of(&resolution.by),
            relative_time(style.now, resolution.at)
        );
        for line in wrap(&clean(&resolution.decision), style.width, 2) {
            let _ = writeln!(out, "{line}");
        }
    }
    if let Some(reopened) = &view.reopened {
        let _ = writeln!(
            out,
            "\nReopened by {}, {}.",
            names.of(&reopened.by),
            relative_time(style.now, reopened.at)
        );
    }
    for post in &view.posts {
        out.push('\n');
        out.push_str(&self::post(post, names, style));
    }
    out
}

/// One post of a tree: header, body and reactions, indented by depth.
pub(crate) fn post(post: &ThreadPost, names: Names<'_>, style: Style) -> String {
    let indent = 2 * post.depth.min(MAX_INDENT_DEPTH);
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let mut header = format!(
        "{pad}{} · {}",
        names.of(&post.author),
        relative_time(style.now, post.created_at)
    );
    if post.edited {
        header.push_str(" (edited)");
    }
    let _ = writeln!(
        out,
        "{header} · {}",
        paint::id(&short_post(&post.id), style)
    );
    if post.parent_missing {
        let _ = writeln!(out, "{pad}  (a reply to a post that is not shown)");
    }
    for line in wrap(&clean(&post.body), style.width, indent + 2) {
        let _ = writeln!(out, "{line}");
    }
    if let Some(reactions) = reactions(post) {
        let _ = writeln!(out, "{pad}  {reactions}");
    }
    out
}

/// Reactions summarized: each reaction and how many reacted so, most first.
pub(crate) fn reactions(post: &ThreadPost) -> Option<String> {
    let mut counts: Vec<(String, usize)> = post
        .reactions
        .iter()
        .filter(|(_, users)| !users.is_empty())
        .map(|(reaction, users)| (clean_line(reaction), users.len()))
        .collect();
    if counts.is_empty() {
        return None;
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let parts: Vec<String> = counts
        .into_iter()
        .map(|(reaction, count)| format!("{reaction} {count}"))
        .collect();
    Some(parts.join("  "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::{NOW, names, post_id, resolved_thread, thread as open_thread};

    fn style() -> Style {
        Style {
            width: 80,
            now: NOW,
            colour: false,
        }
    }

    #[test]
    fn an_open_thread_reads_as_an_indented_tree() {
        let names = names();
        let text = thread(&open_thread(), "team", Names(&names), style());
        let (p1, p2, p3) = (
            short_post(&post_id(1)),
            short_post(&post_id(2)),
            short_post(&post_id(3)),
        );
        let user3 = crate::render::fixtures::user(3).to_string();
        let short3 = user3[..13].to_owned();
        let expected = format!(
            "Release plan\n\
             in team · 2 replies · last activity 1h ago\n\
             \n\
             alice · 3h ago · {p1}\n\
             \x20 Can we ship on Friday?\n\
             \x20 👍 2  🎉 1\n\
             \n\
             \x20 bob · 2h ago (edited) · {p2}\n\
             \x20   Yes, after QA signs off.\n\
             \n\
             \x20   {short3} · 1h ago · {p3}\n\
             \x20     QA is done.\n"
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn a_resolved_thread_shows_its_decision_on_top() {
        let names = names();
        let text = thread(&resolved_thread(), "team", Names(&names), style());
        assert!(
            text.starts_with(
                "Release plan  [resolved]\n\
             in team · 2 replies · last activity 1h ago\n\
             \n\
             Decision by bob, 1h ago:\n\
             \x20 Ship on Friday.\n\
             \n\
             alice · 3h ago"
            ),
            "{text}"
        );
    }

    #[test]
    fn untrusted_text_cannot_drive_the_terminal() {
        let mut view = open_thread();
        view.title = "evil\x1b[2J title\nsecond line".to_owned();
        view.posts[0].body = "body \x1b]0;pwned\x07 end\u{202e}".to_owned();
        let mut names = names();
        names.insert(
            crate::render::fixtures::user(1).to_string(),
            "al\x1b[31mice".to_owned(),
        );
        let text = thread(&view, "team", Names(&names), style());
        assert!(!text.contains('\x1b') && !text.contains('\x07') && !text.contains('\u{202e}'));
        assert!(text.starts_with("evil[2J title second line\n"), "{text}");
        assert!(text.contains("al[31mice · 3h ago"), "{text}");
    }

    #[test]
    fn long_bodies_wrap_within_the_width_at_every_depth() {
        let mut view = open_thread();
        let long = "word ".repeat(60);
        for post in &mut view.posts {
            post.body = long.clone();
        }
        let names = names();
        let style = Style {
            width: 40,
            now: NOW,
            colour: false,
        };
        let text = thread(&view, "team", Names(&names), style);
        for line in text
            .lines()
            .filter(|line| line.trim_start().starts_with("word"))
        {
            assert!(line.chars().count() <= 40, "{line:?}");
        }
        assert!(
            text.lines()
                .filter(|l| l.trim() == "word word word word word word word")
                .count()
                > 3
        );
    }

    #[test]
    fn a_reply_whose_parent_is_missing_says_so() {
        let mut view = open_thread();
        view.posts[2].parent_missing = true;
        let names = names();
        let text = post(&view.posts[2], Names(&names), style());
        assert!(
            text.contains("(a reply to a post that is not shown)"),
            "{text}"
        );
    }
}
