//! Text in: `POST /embed`, text (or Qdrant `Document` `{"text", "model"}`) in place of vectors in
//! upserts and queries, and `GET /metrics` for the embedding counters. Texts are embedded with the
//! collection's model; a document naming another model is refused.

use std::time::Instant;

use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;

use super::extract::Body;
use super::openapi::ErrorResponse;
use super::query::{Input, Parsed};
use super::{ok, ApiError, ApiResult, AppState};
use crate::collection::{CollectionConfig, Example, Search};
use crate::embedding::{Embedder, Embedding, Priority};

/// `POST /embed`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbedRequest {
    /// At least one; none blank.
    #[schema(schema_with = texts)]
    pub texts: Vec<String>,
    /// A model the server loaded; default: embedding.default_model.
    #[schema(min_length = 1)]
    pub model: Option<String>,
}

/// `texts`: a non-empty list of texts that are not blank.
fn texts() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"\S")))
        .min_items(Some(1))
        .description(Some(
            "At most embedding.max_texts texts of at most embedding.max_text_bytes bytes; none blank",
        ))
        .build()
}

/// A text to embed, as found in a request.
#[derive(Clone, Debug, PartialEq)]
pub struct TextInput {
    pub text: String,
    pub model: Option<String>,
    /// A document's `options` (BM25's parameters).
    pub options: Option<Value>,
}

impl TextInput {
    /// Whether the document names Qdrant's BM25 (computed here, into a sparse vector).
    pub fn is_bm25(&self) -> bool {
        self.model.as_deref().is_some_and(crate::embedding::bm25::is_bm25)
    }
}

/// A document's BM25 vector (`model: qdrant/bm25`); any other model is embedded into the
/// unnamed vector, so a document for a named vector must be BM25.
pub(super) fn bm25_document(doc: &TextInput, at: &str) -> Result<vicinity_index::SparseVector, ApiError> {
    if !doc.is_bm25() {
        return Err(ApiError::bad(format!(
            "{at}: a document under a vector name must have model `qdrant/bm25` (texts for the model of the collection are embedded into the unnamed vector)"
        )));
    }
    Ok(crate::embedding::bm25::Bm25::from_json(doc.options.as_ref())?.document(&doc.text)?)
}

/// A BM25 query vector for a document naming `qdrant/bm25`.
pub(super) fn bm25_query(doc: &TextInput) -> Result<vicinity_index::SparseVector, ApiError> {
    Ok(crate::embedding::bm25::Bm25::from_json(doc.options.as_ref())?.query(&doc.text)?)
}

/// `{"text": "…", "model"?: "…", "options"?: {…}}` (Qdrant's Document; `options` are BM25's).
pub fn document(v: &Value, at: &str) -> Result<Option<TextInput>, ApiError> {
    let Value::Object(o) = v else { return Ok(None) };
    // A `text` that is not a string is a vector named "text", in a map of named vectors.
    let Some(text) = o.get("text").filter(|t| t.is_string()) else { return Ok(None) };
    if let Some(unknown) = o.keys().find(|k| !matches!(k.as_str(), "text" | "model" | "options")) {
        return Err(ApiError::bad(format!(
            "{at}: unknown field `{unknown}` in a document (expected text, model)"
        )));
    }
    let text = text.as_str().unwrap_or_default();
    let model = match o.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.clone()),
        Some(_) => return Err(ApiError::bad(format!("{at}.model: expected a string"))),
    };
    let options = o.get("options").filter(|v| !v.is_null()).cloned();
    Ok(Some(TextInput { text: text.to_string(), model, options }))
}

pub(super) fn embedder(st: &AppState) -> Result<&Embedder, ApiError> {
    st.embedder.as_deref().ok_or_else(|| {
        ApiError::bad(
            "text embedding is not available on this server (no model loaded; see embedding.* config)",
        )
    })
}

/// Embeds texts for a collection with its model.
pub async fn for_collection(
    st: &AppState,
    name: &str,
    config: &CollectionConfig,
    texts: Vec<TextInput>,
) -> Result<Vec<Embedding>, ApiError> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let model = config.embedding.as_ref().map(|e| e.model.clone()).ok_or_else(|| {
        ApiError::bad(format!(
            "collection `{name}` has no embedding model: create it with \"embedding\": {{\"model\": …}} to send text"
        ))
    })?;
    if let Some(other) = texts.iter().find_map(|t| t.model.as_ref().filter(|m| **m != model)) {
        return Err(ApiError::bad(format!("collection `{name}` embeds with `{model}`, not `{other}`")));
    }
    let texts: Vec<String> = texts.into_iter().map(|t| t.text).collect();
    let (_, out) =
        embedder(st)?.embed(Some(&model), &texts, Priority::Request).await.map_err(ApiError::from)?;
    Ok(out)
}

/// The collection's searches: every text example embedded with the collection's model, or
/// made a BM25 query when it queries the collection's BM25 vector.
pub(super) async fn resolve_search_texts(
    st: &AppState,
    name: &str,
    searches: Vec<Parsed>,
) -> Result<Vec<Search>, ApiError> {
    let texts: Vec<(&str, &TextInput)> = searches
        .iter()
        .flat_map(|s| s.inputs())
        .filter_map(|(using, i)| match i {
            Input::Text(t) => Some((using, t)),
            Input::Example(_) => None,
        })
        .collect();
    if texts.is_empty() {
        return searches.into_iter().map(|s| s.search(&mut std::iter::empty())).collect();
    }
    let config = st.catalog.get(name)?.config();
    let bm25 = config.embedding.as_ref().and_then(|e| e.bm25.as_ref());
    // Each text is either a BM25 query (`None` here) or the next dense embedding.
    let mut sparse: Vec<Option<Example>> = Vec::with_capacity(texts.len());
    let mut dense: Vec<TextInput> = Vec::new();
    for (using, t) in texts {
        match bm25 {
            Some(target) if target.vector == using => {
                let query = target.bm25().and_then(|b| b.query(&t.text)).map_err(ApiError::from)?;
                sparse.push(Some(Example::Sparse(query)));
            }
            _ if using.is_empty() => {
                sparse.push(None);
                dense.push(t.clone());
            }
            _ => {
                let what = match &t.model {
                    Some(m) => format!("a document with model `{m}` is embedded into the unnamed vector (\"\"); a sparse vector takes model `qdrant/bm25`"),
                    None => "texts are embedded into the unnamed vector (\"\") or the collection's BM25 vector".into(),
                };
                return Err(ApiError::bad(format!("using: {what}, not {using:?}")));
            }
        }
    }
    let mut embedded =
        for_collection(st, name, &config, dense).await?.into_iter().map(|e| Example::Vector(e.vector));
    let mut examples = sparse
        .into_iter()
        .map(|s| s.or_else(|| embedded.next()))
        .collect::<Option<Vec<Example>>>()
        .ok_or_else(|| ApiError::from(crate::error::Error::Internal("embedding count mismatch".into())))?
        .into_iter();
    searches.into_iter().map(|s| s.search(&mut examples)).collect()
}

#[utoipa::path(
    post, path = "/embed",
    request_body = EmbedRequest,
    responses(
        (status = 200, description = "{model, vectors, truncated}"),
        (status = 400, description = "bad JSON body, no text, a blank text, too many or too long texts (embedding.max_texts, embedding.max_text_bytes), an unknown model, or no embedding model loaded", body = ErrorResponse),
        (status = 503, description = "overloaded: embedding.max_queued texts are already waiting or running for the model; retry after Retry-After", body = ErrorResponse, headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn embed(State(st): State<AppState>, Body(body): Body<EmbedRequest>) -> ApiResult {
    let started = Instant::now();
    if body.texts.is_empty() {
        return Err(ApiError::bad("texts: expected at least one text"));
    }
    let (model, out) = embedder(&st)?
        .embed(body.model.as_deref(), &body.texts, Priority::Request)
        .await
        .map_err(ApiError::from)?;
    #[derive(serde::Serialize)]
    struct Embedded<'a> {
        model: &'a str,
        vectors: Vec<&'a [f32]>,
        truncated: Vec<bool>,
    }
    let answer = Embedded {
        model: &model,
        vectors: out.iter().map(|e| e.vector.as_slice()).collect(),
        truncated: out.iter().map(|e| e.truncated).collect(),
    };
    Ok(ok(answer, started))
}
