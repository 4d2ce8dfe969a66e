//! The search index's documents: their fields, and how their text is cut into words.
//!
//! Every shown post of a thread is a document with its current text (the root also
//! with the thread's title), and a resolved thread's decision is one more. Text is not
//! stored in the index: hits carry the id of the post whose text is current (`rev`),
//! and snippets are cut from the store, so retracted text leaves with the post's bytes
//! and the index stays a fraction of the posts' size.

use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language as Stemming, LowerCaser, RemoveLongFilter, SimpleTokenizer,
    Stemmer, TextAnalyzer,
};

use super::Language;

/// The documents' format. A different one in an index on disk means it is rebuilt.
pub(super) const FORMAT: u32 = 1;
/// The analyzer of titles and bodies.
const TEXT: &str = "parley";
/// Words longer than this (in bytes) are not indexed: base64 blobs, hashes, URLs' junk.
const LONGEST_WORD: usize = 40;

/// What a document is.
pub(super) const KIND_POST: u64 = 0;
pub(super) const KIND_DECISION: u64 = 1;
/// Its thread's state.
pub(super) const OPEN: u64 = 0;
pub(super) const RESOLVED: u64 = 1;

/// The fields of a document.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fields {
    /// The post (or, for a decision, the resolve post): 32 bytes, stored.
    pub(super) id: Field,
    /// The post whose text is current (an edit, or the post itself): stored.
    pub(super) rev: Field,
    /// The thread's root: indexed (a thread's documents are replaced together), stored.
    pub(super) thread: Field,
    /// The space: indexed (searches are limited to what the user may read), stored.
    pub(super) space: Field,
    /// The author (for a decision, who resolved the thread): indexed, stored.
    pub(super) author: Field,
    /// [`KIND_POST`] or [`KIND_DECISION`]: indexed.
    pub(super) kind: Field,
    /// [`OPEN`] or [`RESOLVED`]: indexed.
    pub(super) state: Field,
    /// When it was written, in milliseconds: indexed, fast (ranges, recency), stored.
    pub(super) created_at: Field,
    /// The thread's title, on the root's document only.
    pub(super) title: Field,
    /// The current text.
    pub(super) body: Field,
}

impl Fields {
    /// The schema and its fields.
    pub(super) fn schema() -> (Schema, Self) {
        let mut builder = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TEXT)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let fields = Self {
            id: builder.add_bytes_field("id", STORED),
            rev: builder.add_bytes_field("rev", STORED),
            thread: builder.add_bytes_field("thread", INDEXED | STORED),
            space: builder.add_bytes_field("space", INDEXED | STORED),
            author: builder.add_bytes_field("author", INDEXED | STORED),
            kind: builder.add_u64_field("kind", INDEXED | STORED),
            state: builder.add_u64_field("state", INDEXED | STORED),
            created_at: builder.add_u64_field("created_at", INDEXED | FAST | STORED),
            title: builder.add_text_field("title", text.clone()),
            body: builder.add_text_field("body", text),
        };
        (builder.build(), fields)
    }
}

/// The analyzer of `language`: Unicode words, lower-cased, accents folded to ASCII,
/// overlong words dropped, then stemmed for the language (if it has a stemmer).
pub(super) fn analyzer(language: Language) -> TextAnalyzer {
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(LONGEST_WORD))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .dynamic();
    match stemming(language) {
        Some(stemming) => builder.filter_dynamic(Stemmer::new(stemming)).build(),
        None => builder.build(),
    }
}

/// The analyzer of prefixes people type: as [`analyzer`] without stemming, so that
/// `replic*` is matched against what words start with.
pub(super) fn prefix_analyzer() -> TextAnalyzer {
    analyzer(Language::None)
}

/// Registers the analyzers with `index`.
pub(super) fn register(index: &tantivy::Index, language: Language) {
    index.tokenizers().register(TEXT, analyzer(language));
}

fn stemming(language: Language) -> Option<Stemming> {
    Some(match language {
        Language::None => return None,
        Language::Danish => Stemming::Danish,
        Language::Dutch => Stemming::Dutch,
        Language::English => Stemming::English,
        Language::Finnish => Stemming::Finnish,
        Language::French => Stemming::French,
        Language::German => Stemming::German,
        Language::Hungarian => Stemming::Hungarian,
        Language::Italian => Stemming::Italian,
        Language::Norwegian => Stemming::Norwegian,
        Language::Portuguese => Stemming::Portuguese,
        Language::Romanian => Stemming::Romanian,
        Language::Russian => Stemming::Russian,
        Language::Spanish => Stemming::Spanish,
        Language::Swedish => Stemming::Swedish,
        Language::Turkish => Stemming::Turkish,
    })
}

/// The words `text` is indexed as.
pub(super) fn words(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut words = Vec::new();
    while let Some(token) = stream.next() {
        words.push(token.text.clone());
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_folded_and_stemmed() {
        let mut english = analyzer(Language::English);
        assert_eq!(
            words(&mut english, "Café REPLICATION, naïve replicas"),
            ["cafe", "replic", "naiv", "replica"]
        );
        let mut plain = analyzer(Language::None);
        assert_eq!(
            words(&mut plain, "Straße Ünïcode 東京"),
            ["strasse", "unicode", "東京"]
        );
        assert!(words(&mut plain, &"x".repeat(LONGEST_WORD + 1)).is_empty());
    }
}
