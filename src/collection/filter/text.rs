//! Full-text matching (`match.text`, `text_any`, `phrase`): documents and queries go through
//! one pipeline — tokenize, drop tokens outside the length bounds, lowercase — set by the
//! field's text index, or by the default one (word tokenizer, lowercase) when there is none.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// Longest text a `match.text` / `text_any` / `phrase` may give, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;

/// Longest prefix (in characters) the prefix tokenizer makes of a word, and the length a query
/// word is cut to: a long word costs its length times this, not its length squared.
pub const MAX_PREFIX_CHARS: usize = 128;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tokenizer {
    /// Splits on anything that is not a Unicode letter or digit.
    #[default]
    Word,
    /// Splits on whitespace.
    Whitespace,
    /// Word tokens; a document token is indexed with each of its prefixes.
    Prefix,
    /// Word tokens here (Qdrant segments with charabia).
    Multilingual,
}

/// How a text field's values and queries are tokenized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextParams {
    pub tokenizer: Tokenizer,
    pub min_token_len: Option<usize>,
    pub max_token_len: Option<usize>,
    pub lowercase: bool,
    /// Whether the index keeps token order, which `phrase` needs.
    pub phrase_matching: bool,
}

impl Default for TextParams {
    fn default() -> Self {
        TextParams {
            tokenizer: Tokenizer::Word,
            min_token_len: None,
            max_token_len: None,
            lowercase: true,
            phrase_matching: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextKind {
    /// Every query token is in the document.
    All,
    /// Some query token is in the document.
    Any,
    /// The query tokens occur in the document consecutively, in order.
    Phrase,
}

/// A text condition. `index` is the field's text index settings when the filter was bound to a
/// schema with one (see `Filter::bind`); `None` means the default pipeline and that `phrase`
/// works.
#[derive(Clone, Debug, PartialEq)]
pub struct TextMatch {
    pub kind: TextKind,
    pub query: String,
    pub index: Option<TextParams>,
}

impl TextParams {
    /// The tokens of a document, in order (a prefix-tokenized word gives each of its prefixes).
    pub fn doc_tokens(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let min = self.min_token_len.unwrap_or(1).max(1);
        let max = self.max_token_len.unwrap_or(usize::MAX).min(MAX_PREFIX_CHARS);
        for word in self.split(text) {
            if self.tokenizer == Tokenizer::Prefix {
                for n in min..=max {
                    match word.char_indices().nth(n) {
                        Some((end, _)) => self.keep(&word[..end], &mut out),
                        None => {
                            self.keep(word, &mut out);
                            break;
                        }
                    }
                }
            } else {
                self.keep(word, &mut out);
            }
        }
        out
    }

    /// The tokens of a query: as a document's, except that prefix tokenization keeps a word
    /// whole (cut at `max_token_len`).
    pub fn query_tokens(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for word in self.split(text) {
            let word = match self.tokenizer {
                Tokenizer::Prefix => {
                    let max = self.max_token_len.unwrap_or(usize::MAX).min(MAX_PREFIX_CHARS);
                    word.char_indices().nth(max).map_or(word, |(end, _)| &word[..end])
                }
                Tokenizer::Word | Tokenizer::Whitespace | Tokenizer::Multilingual => word,
            };
            self.keep(word, &mut out);
        }
        out
    }

    fn split<'a>(&self, text: &'a str) -> Box<dyn Iterator<Item = &'a str> + 'a> {
        match self.tokenizer {
            Tokenizer::Whitespace => Box::new(text.split_whitespace()),
            Tokenizer::Word | Tokenizer::Prefix | Tokenizer::Multilingual => {
                Box::new(text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()))
            }
        }
    }

    fn keep(&self, token: &str, out: &mut Vec<String>) {
        let chars = token.chars().count();
        if self.min_token_len.is_some_and(|m| chars < m) || self.max_token_len.is_some_and(|m| chars > m) {
            return;
        }
        out.push(if self.lowercase { token.to_lowercase() } else { token.to_string() });
    }
}

impl TextMatch {
    pub fn new(kind: TextKind, query: String) -> TextMatch {
        TextMatch { kind, query, index: None }
    }

    /// The settings the condition tokenizes with.
    pub fn params(&self) -> TextParams {
        self.index.clone().unwrap_or_default()
    }

    /// Whether `phrase` can match at all: an index without `phrase_matching` keeps no order.
    pub fn phrase_possible(&self) -> bool {
        self.index.as_ref().is_none_or(|p| p.phrase_matching)
    }

    /// Whether one document (a string value) matches.
    pub fn matches(&self, doc: &str) -> bool {
        let params = self.params();
        let query = params.query_tokens(&self.query);
        if query.is_empty() {
            return false;
        }
        // A phrase is a run of whole words, so a prefix-tokenized document is read as its words.
        let doc = match (self.kind, params.tokenizer) {
            (TextKind::Phrase, Tokenizer::Prefix) => params.query_tokens(doc),
            (TextKind::All | TextKind::Any | TextKind::Phrase, _) => params.doc_tokens(doc),
        };
        match self.kind {
            TextKind::All => {
                let set: HashSet<&String> = doc.iter().collect();
                query.iter().all(|t| set.contains(t))
            }
            TextKind::Any => {
                let set: HashSet<&String> = doc.iter().collect();
                query.iter().any(|t| set.contains(t))
            }
            TextKind::Phrase => {
                self.phrase_possible() && doc.windows(query.len()).any(|w| w == query.as_slice())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kind: TextKind, q: &str, index: Option<TextParams>) -> TextMatch {
        TextMatch { kind, query: q.into(), index }
    }

    #[test]
    fn unindexed_matching_is_token_aware() {
        let all = m(TextKind::All, "good cheap", None);
        assert!(all.matches("Good cheap food"));
        assert!(all.matches("cheap and good"));
        assert!(all.matches("GOOD CHEAP"));
        assert!(!all.matches("goodcheap"));
        let phrase = m(TextKind::Phrase, "cheap food", None);
        assert!(phrase.matches("Good cheap food"));
        assert!(!phrase.matches("food cheap"));
        assert!(!phrase.matches("cheap and good"));
        assert!(m(TextKind::Any, "nothing cheap", None).matches("Good cheap food"));
        assert!(!m(TextKind::Any, "nothing here", None).matches("Good cheap food"));
        for kind in [TextKind::All, TextKind::Any, TextKind::Phrase] {
            assert!(!m(kind, " ,. ", None).matches("anything"), "zero query tokens match nothing");
        }
    }

    #[test]
    fn index_params_apply_to_documents_and_queries() {
        let prefix = TextParams { tokenizer: Tokenizer::Prefix, ..TextParams::default() };
        assert_eq!(prefix.doc_tokens("Hello"), ["h", "he", "hel", "hell", "hello"]);
        assert!(m(TextKind::All, "qdr", Some(prefix.clone())).matches("Qdrant rocks"));
        assert!(!m(TextKind::All, "qdr", None).matches("Qdrant rocks"));
        let bounded = TextParams {
            tokenizer: Tokenizer::Prefix,
            min_token_len: Some(2),
            max_token_len: Some(4),
            ..TextParams::default()
        };
        assert_eq!(bounded.doc_tokens("hello, мир!"), ["he", "hel", "hell", "ми", "мир"]);
        assert_eq!(bounded.query_tokens("hello, мир!"), ["hell", "мир"]);
        let ws = TextParams { tokenizer: Tokenizer::Whitespace, lowercase: false, ..TextParams::default() };
        assert_eq!(ws.doc_tokens("Hello, world!"), ["Hello,", "world!"]);
        assert!(!m(TextKind::All, "hello,", Some(ws.clone())).matches("Hello, world!"));
        let short = TextParams { min_token_len: Some(3), ..TextParams::default() };
        assert!(!m(TextKind::All, "a an", Some(short.clone())).matches("a an the"), "all tokens dropped");
        assert!(m(TextKind::All, "a the", Some(short)).matches("the end"), "short query tokens are dropped");
    }

    #[test]
    fn phrase_needs_phrase_matching_on_an_index() {
        let plain = TextParams::default();
        assert!(!m(TextKind::Phrase, "cheap food", Some(plain)).matches("Good cheap food"));
        let ordered = TextParams { phrase_matching: true, ..TextParams::default() };
        assert!(m(TextKind::Phrase, "Cheap FOOD", Some(ordered.clone())).matches("Good cheap food"));
        assert!(!m(TextKind::Phrase, "good food", Some(ordered)).matches("Good cheap food"));
        let prefix =
            TextParams { tokenizer: Tokenizer::Prefix, phrase_matching: true, ..TextParams::default() };
        assert!(m(TextKind::Phrase, "hello world", Some(prefix.clone())).matches("Hello hello world"));
        assert!(!m(TextKind::Phrase, "world hello", Some(prefix)).matches("Hello hello world"));
    }
}
