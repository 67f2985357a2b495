//! One sentence-embedding model: its tokenizer, and the ONNX Runtime sessions the batcher's
//! workers make from it (each worker owns one).
//!
//! Recipe (sentence-transformers): tokenize, truncate at `max_tokens`, pad to the longest text of
//! the batch, run the model, mean-pool `last_hidden_state` over the attention mask, and
//! L2-normalise when the model calls for it. The model's inputs are inspected once at load:
//! `input_ids` and `attention_mask` are required, `token_type_ids` (all zeros) is fed when the
//! model declares it.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::Tensor;
use serde::Deserialize;
use tokenizers::{Encoding, Tokenizer, TruncationParams};

use super::runs::padding_groups;
use crate::config::GraphOptimization;
use crate::error::{Error, Result};

/// `model.toml` beside `model.onnx` and `tokenizer.json`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    pub dim: usize,
    pub max_tokens: usize,
    pub pooling: Pooling,
    pub normalize: bool,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over the tokens whose attention mask is 1.
    Mean,
    /// The first token's hidden state.
    Cls,
}

/// One embedded text.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding {
    pub vector: Vec<f32>,
    /// The text was longer than the model's window and was cut.
    pub truncated: bool,
}

pub struct OnnxModel {
    pub spec: ModelSpec,
    pub dir: PathBuf,
    env: &'static ort::environment::Environment,
    tokenizer: Tokenizer,
    has_token_types: bool,
    output: String,
    optimization: GraphOptimization,
}

fn model_err(dir: &Path, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("model {}: {e}", dir.display()))
}

impl OnnxModel {
    /// Loads `dir/{model.toml, model.onnx, tokenizer.json}` and reads the model's inputs and
    /// outputs from a first session (then dropped). Its sessions optimise the graph at
    /// `optimization`.
    pub fn load(
        env: &'static ort::environment::Environment,
        dir: &Path,
        optimization: GraphOptimization,
    ) -> Result<Self> {
        let spec_text = std::fs::read_to_string(dir.join("model.toml")).map_err(|e| model_err(dir, e))?;
        let spec: ModelSpec = toml::from_str(&spec_text).map_err(|e| model_err(dir, e))?;
        if spec.dim == 0 || spec.max_tokens < 2 {
            return Err(model_err(dir, "model.toml: dim and max_tokens must be positive"));
        }
        let mut tokenizer =
            Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| model_err(dir, e))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: spec.max_tokens,
                ..TruncationParams::default()
            }))
            .map_err(|e| model_err(dir, e))?;
        let mut model = OnnxModel {
            spec,
            dir: dir.to_path_buf(),
            env,
            tokenizer,
            has_token_types: false,
            output: String::new(),
            optimization,
        };
        let first = model.session(1)?;
        let inputs: Vec<String> = first.inputs().iter().map(|i| i.name().to_string()).collect();
        for required in ["input_ids", "attention_mask"] {
            if !inputs.iter().any(|i| i == required) {
                return Err(model_err(dir, format!("model has no `{required}` input (inputs: {inputs:?})")));
            }
        }
        model.has_token_types = inputs.iter().any(|i| i == "token_type_ids");
        model.output = first
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .find(|n| n == "last_hidden_state")
            .or_else(|| first.outputs().first().map(|o| o.name().to_string()))
            .ok_or_else(|| model_err(dir, "model has no outputs"))?;
        Ok(model)
    }

    /// A new session of the model with `threads` intra-op threads (ONNX Runtime's defaults
    /// otherwise: its pool threads spin briefly between parallel sections, which a lone text
    /// on two threads needs; without that it took 1.5× as long).
    pub fn session(&self, threads: usize) -> Result<Session> {
        use ort::session::builder::GraphOptimizationLevel as Level;
        let threads = threads.max(1);
        let level = match self.optimization {
            GraphOptimization::None => Level::Disable,
            GraphOptimization::Basic => Level::Level1,
            GraphOptimization::Extended => Level::Level2,
            GraphOptimization::All => Level::All,
        };
        Session::builder(self.env)
            .and_then(|b| Ok(b.with_optimization_level(level)?))
            .and_then(|b| Ok(b.with_intra_threads(threads)?))
            .and_then(|b| Ok(b.with_inter_threads(1)?))
            .and_then(|mut b| b.commit_from_file(self.dir.join("model.onnx")))
            .map_err(|e| model_err(&self.dir, e))
    }

    /// `text`'s tokens as the model reads it (its window at most). A text of more than 4 bytes
    /// per token of the window fills it (a token takes at most ~4 bytes of English) and is not
    /// tokenized here.
    pub fn count_tokens(&self, text: &str) -> usize {
        let window = self.spec.max_tokens;
        if text.len() > 4 * window {
            return window;
        }
        self.tokenizer.encode_fast(text, true).map_or(window, |e| e.get_ids().len())
    }

    /// `text`'s tokens estimated from its bytes, without tokenizing (English averages ~4 bytes a
    /// token).
    pub fn estimate_tokens(&self, text: &str) -> usize {
        (text.len() / 4 + 2).min(self.spec.max_tokens)
    }

    /// Indices of `texts` ordered by token count (bulk jobs batch neighbours to pad little).
    pub fn length_order(&self, texts: &[&str]) -> Result<Vec<usize>> {
        let mut lens = Vec::with_capacity(texts.len());
        for t in texts {
            lens.push(self.tokenizer.encode(*t, true).map_err(|e| model_err(&self.dir, e))?.get_ids().len());
        }
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| lens[i]);
        Ok(order)
    }

    /// Embeds a batch on `session`. The texts run in groups of similar token counts (see
    /// [`padding_groups`]), so a batch of mixed lengths costs little more than its tokens.
    pub fn embed(&self, session: &mut Session, texts: &[&str]) -> Result<Vec<Embedding>> {
        let encodings = texts
            .iter()
            .map(|t| self.tokenizer.encode(*t, true))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| model_err(&self.dir, e))?;
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());
        let mut out: Vec<Option<Embedding>> = vec![None; encodings.len()];
        for group in padding_groups(&order, |i| encodings[i].get_ids().len(), usize::MAX) {
            let batch: Vec<&Encoding> = group.iter().map(|&i| &encodings[i]).collect();
            for (&i, e) in group.iter().zip(self.run(session, &batch)?) {
                out[i] = Some(e);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// One model run over tokenized texts, padded to the longest.
    fn run(&self, session: &mut Session, encodings: &[&Encoding]) -> Result<Vec<Embedding>> {
        if encodings.is_empty() {
            return Ok(Vec::new());
        }
        let seq = encodings.iter().map(|e| e.get_ids().len()).max().unwrap_or(0).max(1);
        let batch = encodings.len();
        let mut ids = vec![0i64; batch * seq];
        let mut mask = vec![0i64; batch * seq];
        for (row, enc) in encodings.iter().enumerate() {
            for (col, (&id, &m)) in enc.get_ids().iter().zip(enc.get_attention_mask()).enumerate() {
                ids[row * seq + col] = i64::from(id);
                mask[row * seq + col] = i64::from(m);
            }
        }
        let hidden = {
            let tensor = |v: Vec<i64>| Tensor::from_array(([batch, seq], v.into_boxed_slice()));
            let err = |e: ort::Error| model_err(&self.dir, e);
            let mut inputs = ort::inputs![
                "input_ids" => tensor(ids).map_err(err)?,
                "attention_mask" => tensor(mask.clone()).map_err(err)?,
            ];
            if self.has_token_types {
                inputs.push(("token_type_ids".into(), tensor(vec![0i64; batch * seq]).map_err(err)?.into()));
            }
            let outputs = session.run(inputs).map_err(err)?;
            let (shape, data) = outputs[self.output.as_str()].try_extract_tensor::<f32>().map_err(err)?;
            if shape.len() != 3
                || shape[0] as usize != batch
                || shape[1] as usize != seq
                || shape[2] as usize != self.spec.dim
            {
                return Err(model_err(
                    &self.dir,
                    format!("unexpected output shape {shape:?}; model.toml says dim {}", self.spec.dim),
                ));
            }
            data.to_vec()
        };
        let dim = self.spec.dim;
        Ok(encodings
            .iter()
            .enumerate()
            .map(|(row, enc)| {
                let rows = &hidden[row * seq * dim..(row + 1) * seq * dim];
                let mut v = vec![0f32; dim];
                match self.spec.pooling {
                    Pooling::Cls => v.copy_from_slice(&rows[..dim]),
                    Pooling::Mean => {
                        let mut n = 0f32;
                        for t in 0..seq {
                            if mask[row * seq + t] == 1 {
                                v.iter_mut().zip(&rows[t * dim..(t + 1) * dim]).for_each(|(a, b)| *a += b);
                                n += 1.0;
                            }
                        }
                        v.iter_mut().for_each(|a| *a /= n.max(1e-9));
                    }
                }
                if self.spec.normalize {
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                    v.iter_mut().for_each(|a| *a /= norm);
                }
                Embedding { vector: v, truncated: !enc.get_overflowing().is_empty() }
            })
            .collect())
    }
}
