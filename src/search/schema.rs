//! The index's fields and tokenizers.

use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};

/// Bumped whenever the fields or the tokenizers change: an index of another version is rebuilt.
pub const INDEX_VERSION: u32 = 1;

/// Words: split at anything but letters and digits, lower-cased, accents folded ("Café" is
/// found by "cafe").
pub const WORDS: &str = "sb_words";
/// Whole values (SKU, email, id, domain) lower-cased, for exact hits ranked first.
pub const WHOLE: &str = "sb_whole";

#[derive(Clone, Copy)]
pub struct Fields {
    /// "org/kind/key": the unique id used to replace or delete a record's document.
    pub uid: Field,
    pub org: Field,
    pub kind: Field,
    pub key: Field,
    pub title: Field,
    /// Every searchable word of the record (title included), stored for the context line.
    pub text: Field,
    pub exact: Field,
    /// A short stored summary ("Gold · Active · EMEA").
    pub line: Field,
    pub owner: Field,
    pub stage: Field,
    pub tier: Field,
    /// Last change, UTC micros (recent records rank a little higher).
    pub updated: Field,
    /// Size in minor units (amount, revenue; larger records rank a little higher).
    pub weight: Field,
}

pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(WORDS)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let whole = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(WHOLE)
            .set_index_option(IndexRecordOption::Basic),
    );
    let fields = Fields {
        uid: b.add_text_field("uid", STRING),
        org: b.add_u64_field("org", INDEXED),
        kind: b.add_u64_field("kind", INDEXED | FAST | STORED),
        key: b.add_text_field("key", STORED),
        title: b.add_text_field("title", words.clone() | STORED),
        text: b.add_text_field("text", words | STORED),
        exact: b.add_text_field("exact", whole),
        line: b.add_text_field("line", STORED),
        owner: b.add_text_field("owner", STRING),
        stage: b.add_text_field("stage", STRING),
        tier: b.add_text_field("tier", STRING),
        updated: b.add_i64_field("updated", FAST),
        weight: b.add_u64_field("weight", FAST),
    };
    (b.build(), fields)
}

/// The word analyzer (also used to read queries and to find highlights, so all three agree).
pub fn words() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(48))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

pub fn whole() -> TextAnalyzer {
    TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .build()
}

pub fn register(index: &tantivy::Index) {
    index.tokenizers().register(WORDS, words());
    index.tokenizers().register(WHOLE, whole());
}

/// The tokens of `text` with their byte ranges.
pub fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(String, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(t) = stream.next() {
        out.push((t.text.clone(), t.offset_from..t.offset_to));
    }
    out
}
