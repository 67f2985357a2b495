//! BM25 sparse vectors from text, as Qdrant computes them for a `Document` with model
//! `qdrant/bm25`: words split, lowercased, English stop words dropped, Snowball-stemmed; each
//! distinct token becomes the index `|murmur3_32(token) as i32|` with the value
//! `n·(k+1) / (n + k·(1 − b + b·len/avg_len))` for a document (`n` its count, `len` the
//! document's tokens) or 1 for a query. Inverse document frequency is the sparse vector's
//! `modifier: idf`, applied at search time.

mod stopwords;

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vicinity_index::SparseVector;

use crate::error::{Error, Result};

/// Model names that mean "BM25, computed here" (case-insensitive, as in Qdrant).
pub fn is_bm25(model: &str) -> bool {
    model.eq_ignore_ascii_case("qdrant/bm25") || model.eq_ignore_ascii_case("bm25")
}

/// Qdrant's BM25 options (`Document.options`); unknown keys are ignored, as in Qdrant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Bm25Options {
    pub k: f64,
    pub b: f64,
    pub avg_len: f64,
    pub tokenizer: String,
    pub language: String,
    pub lowercase: bool,
    pub ascii_folding: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopwords: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stemmer: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_token_len: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_token_len: Option<usize>,
}

impl Default for Bm25Options {
    fn default() -> Self {
        Bm25Options {
            k: 1.2,
            b: 0.75,
            avg_len: 256.0,
            tokenizer: "word".into(),
            language: "english".into(),
            lowercase: true,
            ascii_folding: false,
            stopwords: None,
            stemmer: None,
            min_token_len: None,
            max_token_len: None,
        }
    }
}

/// Options ready to use: the stop words and stemmer they name.
pub struct Bm25 {
    options: Bm25Options,
    whitespace: bool,
    stopwords: HashSet<String>,
    stemmer: Option<rust_stemmers::Stemmer>,
}

fn invalid(m: impl std::fmt::Display) -> Error {
    Error::bad(format!("Wrong input: Invalid BM25 config: {m}"))
}

fn algorithm(language: &str) -> Option<rust_stemmers::Algorithm> {
    use rust_stemmers::Algorithm as A;
    Some(match language.to_ascii_lowercase().as_str() {
        "arabic" => A::Arabic,
        "danish" => A::Danish,
        "dutch" => A::Dutch,
        "english" => A::English,
        "finnish" => A::Finnish,
        "french" => A::French,
        "german" => A::German,
        "greek" => A::Greek,
        "hungarian" => A::Hungarian,
        "italian" => A::Italian,
        "norwegian" => A::Norwegian,
        "portuguese" => A::Portuguese,
        "romanian" => A::Romanian,
        "russian" => A::Russian,
        "spanish" => A::Spanish,
        "swedish" => A::Swedish,
        "tamil" => A::Tamil,
        "turkish" => A::Turkish,
        _ => return None,
    })
}

/// The stop words of a language this build knows (English), or none for `none`.
fn stop_words_of(language: &str) -> Result<Vec<&'static str>> {
    match language.to_ascii_lowercase().as_str() {
        "english" => Ok(stopwords::ENGLISH.to_vec()),
        "none" => Ok(Vec::new()),
        other => {
            Err(invalid(format!("stop words for language `{other}` are not available (english or none)")))
        }
    }
}

impl Bm25 {
    /// Options as a request or a collection gives them (`null`: the defaults).
    pub fn from_json(options: Option<&Value>) -> Result<Bm25> {
        let options: Bm25Options = match options {
            None | Some(Value::Null) => Bm25Options::default(),
            Some(v) => serde_json::from_value(v.clone()).map_err(invalid)?,
        };
        Bm25::new(options)
    }

    pub fn new(options: Bm25Options) -> Result<Bm25> {
        let o = &options;
        if !(o.k.is_finite() && o.k >= 0.0) {
            return Err(invalid(format!("k must be a non-negative number, got {}", o.k)));
        }
        if !(0.0..=1.0).contains(&o.b) {
            return Err(invalid(format!("b must be in [0, 1], got {}", o.b)));
        }
        if !(o.avg_len.is_finite() && o.avg_len > 0.0) {
            return Err(invalid(format!("avg_len must be a positive number, got {}", o.avg_len)));
        }
        if o.ascii_folding {
            return Err(invalid("ascii_folding is not supported"));
        }
        let whitespace = match o.tokenizer.as_str() {
            "word" | "multilingual" => false,
            "whitespace" => true,
            other => {
                return Err(invalid(format!(
                    "tokenizer `{other}` is not supported (word, whitespace, multilingual)"
                )))
            }
        };
        let language = o.language.to_ascii_lowercase();
        if language != "none" && algorithm(&language).is_none() {
            return Err(invalid(format!("unknown language `{}`", o.language)));
        }
        let stopwords: HashSet<String> = match &o.stopwords {
            None if language == "none" => HashSet::new(),
            None => stop_words_of(&language).unwrap_or_default().into_iter().map(String::from).collect(),
            Some(Value::String(lang)) => stop_words_of(lang)?.into_iter().map(String::from).collect(),
            Some(Value::Object(set)) => {
                let mut words: HashSet<String> = HashSet::new();
                for (key, value) in set {
                    let list = value
                        .as_array()
                        .ok_or_else(|| invalid(format!("stopwords.{key}: expected a list")))?;
                    for item in list {
                        let s = item
                            .as_str()
                            .ok_or_else(|| invalid(format!("stopwords.{key}: expected strings")))?;
                        match key.as_str() {
                            "languages" => words.extend(stop_words_of(s)?.into_iter().map(String::from)),
                            "custom" => {
                                words.insert(if o.lowercase { s.to_lowercase() } else { s.to_string() });
                            }
                            other => {
                                return Err(invalid(format!(
                                    "stopwords: unknown field `{other}` (languages, custom)"
                                )))
                            }
                        }
                    }
                }
                words
            }
            Some(other) => {
                return Err(invalid(format!(
                    "stopwords: expected a language or {{languages, custom}}, got {other}"
                )))
            }
        };
        let stemmer = match &o.stemmer {
            None => algorithm(&language),
            Some(s) => match (s.get("type").and_then(Value::as_str), s.get("language").and_then(Value::as_str)) {
                (Some("none"), _) => None,
                (Some("snowball"), Some(l)) => {
                    Some(algorithm(l).ok_or_else(|| invalid(format!("stemmer: unknown language `{l}`")))?)
                }
                _ => return Err(invalid(format!("stemmer: expected {{\"type\": \"snowball\", \"language\": …}} or {{\"type\": \"none\"}}, got {s}"))),
            },
        }
        .map(rust_stemmers::Stemmer::create);
        Ok(Bm25 { options, whitespace, stopwords, stemmer })
    }

    /// The text's tokens after the whole pipeline, in order (repeats kept).
    pub fn tokens(&self, text: &str) -> Vec<String> {
        let o = &self.options;
        let pieces: Vec<&str> = if self.whitespace {
            text.split_whitespace().collect()
        } else {
            text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).collect()
        };
        pieces
            .into_iter()
            .map(|t| if o.lowercase { t.to_lowercase() } else { t.to_string() })
            .filter(|t| !self.stopwords.contains(t))
            .map(|t| match &self.stemmer {
                Some(s) => s.stem(&t).into_owned(),
                None => t,
            })
            .filter(|t| {
                let n = t.chars().count();
                o.min_token_len.is_none_or(|m| n >= m) && o.max_token_len.is_none_or(|m| n <= m)
            })
            .collect()
    }

    /// A document's BM25 vector; a text over [`MAX_TEXT_BYTES`], or with more distinct tokens
    /// than a sparse vector holds, is refused.
    pub fn document(&self, text: &str) -> Result<SparseVector> {
        let tokens = self.tokens(checked(text)?);
        let len = tokens.len() as f64;
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for t in tokens {
            *counts.entry(t).or_default() += 1;
        }
        let (k, b, avg) = (self.options.k, self.options.b, self.options.avg_len);
        let mut by_id: BTreeMap<u32, f32> = BTreeMap::new();
        for (token, n) in counts {
            let n = n as f64;
            let tf = n * (k + 1.0) / (n + k * (1.0 - b + b * len / avg));
            // Two tokens hashing alike (rare) add up.
            *by_id.entry(token_id(&token)).or_default() += tf as f32;
        }
        sparse(by_id)
    }

    /// A query's BM25 vector: each distinct token once, weighing 1.
    pub fn query(&self, text: &str) -> Result<SparseVector> {
        sparse(self.tokens(checked(text)?).iter().map(|t| (token_id(t), 1.0)).collect())
    }
}

/// Longest text BM25 reads (its cost is linear in the text).
pub const MAX_TEXT_BYTES: usize = 1 << 20;

fn checked(text: &str) -> Result<&str> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(Error::bad(format!("a BM25 text is at most {MAX_TEXT_BYTES} bytes, got {}", text.len())));
    }
    Ok(text)
}

fn sparse(by_id: BTreeMap<u32, f32>) -> Result<SparseVector> {
    let n = by_id.len();
    let (indices, values) = by_id.into_iter().unzip();
    // Sorted and unique by construction; finite for valid options; at most MAX_NONZEROS long,
    // else refused here.
    SparseVector::new(indices, values).map_err(|_| {
        Error::bad(format!(
            "the text has {n} distinct BM25 tokens; a sparse vector holds at most {}",
            vicinity_index::sparse::MAX_NONZEROS
        ))
    })
}

/// A token's index: its murmur3 hash (seed 0) read as i32, made positive.
pub fn token_id(token: &str) -> u32 {
    (murmur3_32(token.as_bytes(), 0) as i32).unsigned_abs()
}

/// MurmurHash3, x86 32-bit.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h = seed;
    let blocks = data.chunks_exact(4);
    let tail = blocks.remainder();
    for block in blocks {
        h ^= mix(u32::from_le_bytes([block[0], block[1], block[2], block[3]]));
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    if !tail.is_empty() {
        let k = tail.iter().enumerate().fold(0u32, |k, (i, b)| k | u32::from(*b) << (8 * i));
        h ^= mix(k);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ids_are_murmur3_made_positive() {
        assert_eq!(murmur3_32(b"hello", 0), 613_153_351);
        assert_eq!(token_id("cat"), 1_751_422_759);
        assert_eq!(token_id("run"), 243_905_464);
        assert_eq!(token_id("fear"), 1_432_942_394);
        assert_eq!(token_id("Hello"), 316_307_400);
        assert_eq!(murmur3_32(b"", 0), 0);
    }

    #[test]
    fn qdrants_worked_example() {
        let bm25 = Bm25::from_json(None).unwrap();
        assert_eq!(
            bm25.tokens("I must not fear. Fear is the mind-killer."),
            ["must", "fear", "fear", "mind", "killer"]
        );
        let doc = bm25.document("I must not fear. Fear is the mind-killer.").unwrap();
        assert_eq!(doc.indices(), [418_093_614, 627_261_019, 844_849_131, 1_432_942_394]);
        for (got, want) in doc.values().iter().zip([1.669_730_2, 1.669_730_2, 1.669_730_2, 1.898_533_6]) {
            assert!((got - want).abs() < 1e-6, "{:?}", doc.values());
        }
        let q = bm25.query("I should not fear").unwrap();
        assert_eq!((q.indices(), q.values()), (&[1_432_942_394][..], &[1.0][..]));
        // Stemming: "running" and "run" are one token.
        assert_eq!(bm25.query("running run").unwrap().len(), 1);
        // Only stop words: an empty vector.
        assert!(bm25.query("the and of").unwrap().is_empty());
        // Too many distinct tokens, or too long a text: refused, never cut.
        let many: String = (0..70_000).map(|i| format!("w{i} ")).collect();
        assert!(bm25.document(&many).unwrap_err().to_string().contains("distinct BM25 tokens"));
        assert!(bm25.query(&"a".repeat(MAX_TEXT_BYTES + 1)).unwrap_err().to_string().contains("at most"));
    }

    #[test]
    fn options_change_the_pipeline_and_bad_ones_are_named() {
        let plain =
            Bm25::from_json(Some(&serde_json::json!({"language": "none", "lowercase": false}))).unwrap();
        assert_eq!(plain.tokens("The Cats"), ["The", "Cats"]);
        let custom = Bm25::from_json(Some(&serde_json::json!({"stopwords": {"custom": ["Cats"]}}))).unwrap();
        assert_eq!(custom.tokens("the cats ran"), ["the", "ran"]);
        let short =
            Bm25::from_json(Some(&serde_json::json!({"min_token_len": 4, "language": "none"}))).unwrap();
        assert_eq!(short.tokens("big elephants"), ["elephants"]);
        for (bad, words) in [
            (serde_json::json!({"k": "x"}), "Invalid BM25 config"),
            (serde_json::json!({"b": 2}), "b must be in [0, 1]"),
            (serde_json::json!({"tokenizer": "prefix"}), "tokenizer `prefix`"),
            (serde_json::json!({"language": "klingon"}), "unknown language `klingon`"),
        ] {
            let err = Bm25::from_json(Some(&bad)).err().expect("refused").to_string();
            assert!(err.contains(words), "{err}");
        }
    }
}
