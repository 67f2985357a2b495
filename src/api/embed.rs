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
use crate::collection::{CollectionConfig, Search};
use crate::embedding::{Embedder, Embedding};

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
}

/// `{"text": "…", "model"?: "…"}` (Qdrant's Document; `options` is accepted and ignored).
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
    Ok(Some(TextInput { text: text.to_string(), model }))
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
    let (_, out) = embedder(st)?.embed(Some(&model), &texts).await.map_err(ApiError::from)?;
    Ok(out)
}

/// The collection's searches: every text example embedded with the collection's model.
pub(super) async fn resolve_search_texts(
    st: &AppState,
    name: &str,
    searches: Vec<Parsed>,
) -> Result<Vec<Search>, ApiError> {
    let texts: Vec<TextInput> = searches
        .iter()
        .flat_map(|s| s.wanted.inputs())
        .filter_map(|i| match i {
            Input::Text(t) => Some(t.clone()),
            Input::Example(_) => None,
        })
        .collect();
    let embedded = match texts.is_empty() {
        true => Vec::new(),
        false => {
            let config = st.catalog.get(name)?.config();
            for_collection(st, name, &config, texts).await?
        }
    };
    let mut vectors = embedded.into_iter().map(|e| e.vector);
    searches.into_iter().map(|s| s.search(&mut vectors)).collect()
}

#[utoipa::path(
    post, path = "/embed",
    request_body = EmbedRequest,
    responses(
        (status = 200, description = "{model, vectors, truncated}"),
        (status = 400, description = "bad JSON body, no text, a blank text, too many or too long texts (embedding.max_texts, embedding.max_text_bytes), an unknown model, or no embedding model loaded", body = ErrorResponse),
    )
)]
pub async fn embed(State(st): State<AppState>, Body(body): Body<EmbedRequest>) -> ApiResult {
    let started = Instant::now();
    if body.texts.is_empty() {
        return Err(ApiError::bad("texts: expected at least one text"));
    }
    let (model, out) =
        embedder(&st)?.embed(body.model.as_deref(), &body.texts).await.map_err(ApiError::from)?;
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
