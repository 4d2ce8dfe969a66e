//! Views: the discussion model folded from a set of posts (`spec/06-views.md`).
