//! A collection's settings as stored in RocksDB and reported by `GET /collections/{c}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vicinity_index::{HnswParams, Metric, Quantization};

use super::payload_index::FieldSchema;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Distance {
    Cosine,
    Dot,
    Euclid,
}

impl Distance {
    pub fn metric(self) -> Metric {
        match self {
            Distance::Cosine => Metric::Cosine,
            Distance::Dot => Metric::Dot,
            Distance::Euclid => Metric::L2,
        }
    }
}

/// Qdrant's `hnsw_config`. `full_scan_threshold` is in KiB of vectors, as in Qdrant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HnswConfig {
    pub m: usize,
    pub ef_construct: usize,
    pub full_scan_threshold: usize,
}

impl Default for HnswConfig {
    fn default() -> Self {
        HnswConfig { m: 16, ef_construct: 100, full_scan_threshold: 10_000 }
    }
}

/// Scalar (int8) quantization; searches rescore `oversampling × limit` candidates with f32.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScalarQuantization {
    pub oversampling: f32,
}

/// The collection's text-embedding model: texts in upserts and queries are embedded with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingModel {
    /// A model the server loaded (`embedding.models_dir`).
    pub model: String,
    /// When set, an upserted text is also stored in the payload under this key.
    #[serde(default)]
    pub store_text: Option<String>,
    /// When set, texts also become BM25 vectors of this sparse vector (upserts: documents;
    /// text queries with `using` naming it: queries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bm25: Option<Bm25Target>,
}

/// The sparse vector BM25 fills from the collection's texts, and Qdrant's BM25 options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bm25Target {
    pub vector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<serde_json::Value>,
}

impl Bm25Target {
    /// The BM25 processor its options describe.
    pub fn bm25(&self) -> Result<crate::embedding::bm25::Bm25> {
        crate::embedding::bm25::Bm25::from_json(self.options.as_ref())
    }
}

impl EmbeddingModel {
    /// The sparse vector a text also fills and its BM25 vector, when the collection says so.
    pub fn bm25_document(&self, text: &str) -> Result<Option<(String, vicinity_index::SparseVector)>> {
        match &self.bm25 {
            Some(t) => Ok(Some((t.vector.clone(), t.bm25()?.document(text)?))),
            None => Ok(None),
        }
    }
}

/// Which engine indexes the collection's vectors (`"index"` in the create body; vicinity's own
/// field beside Qdrant's). HNSW by default; Faiss when the service is built with the `faiss`
/// feature.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum IndexConfig {
    #[default]
    Hnsw,
    /// A Faiss index: a `factory` string (`IVF1024,PQ32x8`) or a `preset` (`ivf_flat`,
    /// `ivf_sq8`, `ivf_pq`) with `nlist`, `pq_m`, `pq_nbits`.
    Faiss {
        factory: Option<String>,
        preset: Option<String>,
        nlist: Option<usize>,
        pq_m: Option<usize>,
        pq_nbits: Option<usize>,
        /// Inverted lists probed per query (default 16; `params.nprobe` overrides per request).
        nprobe: Option<usize>,
        /// Rescore the best `limit × oversampling` candidates with the stored f32 vectors
        /// (default on, oversampling 16).
        rescore: Option<bool>,
        oversampling: Option<f32>,
        /// Points collected before the index is trained on them (default `max(64 × nlist, 10000)`).
        train_size: Option<usize>,
    },
}

impl IndexConfig {
    pub fn backend(&self) -> &'static str {
        match self {
            IndexConfig::Hnsw => "hnsw",
            IndexConfig::Faiss { .. } => "faiss",
        }
    }
}

/// One vector of a collection's points (Qdrant's named vectors; the unnamed one is `""`): its
/// size and distance, and the index that serves it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorConfig {
    /// The number that names the vector in storage keys and index files; never reused within
    /// the collection.
    pub slot: u32,
    pub size: usize,
    pub distance: Distance,
    pub hnsw: HnswConfig,
    pub quantization: Option<ScalarQuantization>,
    #[serde(default)]
    pub index: IndexConfig,
}

/// A sparse vector of the collection's points (Qdrant's `sparse_vectors`): scored by dot product
/// in an exact inverted index. `index` and `modifier` are kept as given, for `GET`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SparseVectorConfig {
    /// Shares the numbering of [`VectorConfig::slot`]; never reused within the collection.
    pub slot: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<SparseIndexParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modifier: Option<Modifier>,
}

impl SparseVectorConfig {
    /// Whether query weights are multiplied by each dimension's inverse document frequency.
    pub fn with_idf(&self) -> bool {
        self.modifier == Some(Modifier::Idf)
    }
}

/// Qdrant's sparse `index` settings. Every sparse index here is an exact in-memory inverted
/// index, so these are accepted and shown, and change nothing but `datatype`, which must be
/// `float32` (values are stored as given).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparseIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_scan_threshold: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modifier {
    None,
    Idf,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollectionConfig {
    /// Numeric id used in storage keys; never reused.
    pub id: u32,
    /// The collection-level HNSW settings (Qdrant's `hnsw_config`): what a vector without its
    /// own gets.
    pub hnsw: HnswConfig,
    /// The collection-level quantization (Qdrant's `quantization_config`).
    pub quantization: Option<ScalarQuantization>,
    /// The vectors, by name (`""`: the unnamed vector).
    pub vectors: BTreeMap<String, VectorConfig>,
    /// The sparse vectors, by name (never a name of `vectors`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sparse_vectors: BTreeMap<String, SparseVectorConfig>,
    /// Payload indexes by key (`PUT /collections/{c}/index`), as their `field_schema` was given.
    #[serde(default)]
    pub payload_schema: BTreeMap<String, FieldSchema>,
    #[serde(default)]
    pub embedding: Option<EmbeddingModel>,
    /// How users' events make recommendations (`users/`).
    #[serde(default)]
    pub recommendation: super::users::RecommendationConfig,
}

pub const MAX_DIM: usize = 65_536;

/// Qdrant's answer to a vector name the collection does not have.
pub fn no_such_vector(name: &str) -> Error {
    Error::bad(format!("Wrong input: Not existing vector name error: {name}"))
}

impl CollectionConfig {
    /// The settings of vector `name`, or Qdrant's 400 when there is none.
    pub fn vector(&self, name: &str) -> Result<&VectorConfig> {
        self.vectors.get(name).ok_or_else(|| no_such_vector(name))
    }

    /// The slots of the dense vectors (one index file each).
    pub fn slots(&self) -> Vec<u32> {
        self.vectors.values().map(|v| v.slot).collect()
    }

    /// The slots of every vector, dense and sparse (what a point's records may hold).
    pub fn all_slots(&self) -> Vec<u32> {
        self.vectors.values().map(|v| v.slot).chain(self.sparse_vectors.values().map(|v| v.slot)).collect()
    }

    /// The settings of sparse vector `name`, or Qdrant's 400 when there is none.
    pub fn sparse_vector(&self, name: &str) -> Result<&SparseVectorConfig> {
        self.sparse_vectors.get(name).ok_or_else(|| no_such_vector(name))
    }

    /// The storage slot of dense or sparse vector `name`, or Qdrant's 400 when there is none.
    pub fn slot_of(&self, name: &str) -> Result<u32> {
        match (self.vectors.get(name), self.sparse_vectors.get(name)) {
            (Some(v), _) => Ok(v.slot),
            (None, Some(v)) => Ok(v.slot),
            (None, None) => Err(no_such_vector(name)),
        }
    }

    /// Whether the collection has a dense or sparse vector called `name`.
    pub fn has_vector_named(&self, name: &str) -> bool {
        self.vectors.contains_key(name) || self.sparse_vectors.contains_key(name)
    }

    pub fn validate(&self) -> Result<()> {
        for (name, v) in &self.vectors {
            v.validate().map_err(|e| match (e, name.is_empty()) {
                (Error::BadRequest(m), false) => Error::bad(format!("vector {name:?}: {m}")),
                (other, _) => other,
            })?;
        }
        for (name, v) in &self.sparse_vectors {
            if self.vectors.contains_key(name) {
                return Err(Error::bad(format!(
                    "Wrong input: Dense and sparse vector names must be unique - duplicate found with '{name}'"
                )));
            }
            if name.is_empty() {
                return Err(Error::bad("Wrong input: Sparse vector name cannot be empty"));
            }
            if let Some(d) = v.index.as_ref().and_then(|i| i.datatype.as_deref()) {
                if d != "float32" {
                    return Err(Error::bad(format!(
                        "sparse_vectors.{name}.index.datatype: only float32 is supported, got {d}"
                    )));
                }
            }
        }
        let mut slots = self.all_slots();
        slots.sort_unstable();
        slots.dedup();
        if slots.len() != self.vectors.len() + self.sparse_vectors.len() {
            return Err(Error::Internal("two vectors share a storage slot".into()));
        }
        if self.embedding.is_some() && !self.vectors.contains_key("") {
            return Err(Error::bad("an embedding model needs the unnamed vector (`\"\"`) to embed into"));
        }
        if let Some(t) = self.embedding.as_ref().and_then(|e| e.bm25.as_ref()) {
            if !self.sparse_vectors.contains_key(&t.vector) {
                return Err(Error::bad(format!(
                    "embedding.bm25.vector: `{}` is not a sparse vector of the collection",
                    t.vector
                )));
            }
            t.bm25()?;
        }
        Ok(())
    }
}

impl VectorConfig {
    pub fn validate(&self) -> Result<()> {
        if self.size == 0 || self.size > MAX_DIM {
            return Err(Error::bad(format!("vectors.size must be in 1..={MAX_DIM}, got {}", self.size)));
        }
        let h = &self.hnsw;
        if !(2..=64).contains(&h.m) {
            return Err(Error::bad(format!("hnsw_config.m must be in 2..=64, got {}", h.m)));
        }
        if !(4..=4096).contains(&h.ef_construct) {
            return Err(Error::bad(format!(
                "hnsw_config.ef_construct must be in 4..=4096, got {}",
                h.ef_construct
            )));
        }
        if let Some(q) = &self.quantization {
            if !(q.oversampling.is_finite() && (1.0..=100.0).contains(&q.oversampling)) {
                return Err(Error::bad(format!("oversampling must be in 1..=100, got {}", q.oversampling)));
            }
        }
        if let IndexConfig::Faiss { .. } = self.index {
            if self.quantization.is_some() {
                return Err(Error::bad(
                    "quantization_config applies to the HNSW index; a Faiss index compresses with its factory (SQ8, PQ)",
                ));
            }
            // Faiss parses the factory string when the index is made: make an empty one.
            #[cfg(feature = "faiss")]
            vicinity_index::AnyIndex::faiss(self.distance.metric(), self.size, self.faiss_params()?)?;
            #[cfg(not(feature = "faiss"))]
            self.faiss_params()?;
        }
        Ok(())
    }

    /// The Faiss backend's parameters, checked (Faiss itself checks the factory string when the
    /// index is made).
    #[cfg(feature = "faiss")]
    pub fn faiss_params(&self) -> Result<vicinity_index::FaissParams> {
        let IndexConfig::Faiss {
            factory,
            preset,
            nlist,
            pq_m,
            pq_nbits,
            nprobe,
            rescore,
            oversampling,
            train_size,
        } = &self.index
        else {
            return Err(Error::bad("index.type is not faiss"));
        };
        let bad = |m: String| Error::bad(format!("index: {m}"));
        let factory = match (factory, preset) {
            (Some(f), None) => f.clone(),
            (None, Some(p)) => vicinity_index::FaissParams::preset(
                p,
                nlist.unwrap_or(1024),
                pq_m.unwrap_or((self.size / 4).max(1)),
                pq_nbits.unwrap_or(8),
            )
            .map_err(|e| bad(e.to_string()))?,
            _ => {
                return Err(bad("give exactly one of `factory` (a Faiss factory string) and `preset`".into()))
            }
        };
        let mut p = vicinity_index::FaissParams::new(factory);
        p.nprobe = nprobe.unwrap_or(p.nprobe);
        p.rescore = rescore.unwrap_or(p.rescore);
        p.oversampling = oversampling.unwrap_or(p.oversampling);
        p.train_size = train_size.unwrap_or(p.train_size);
        p.validate().map_err(|e| bad(e.to_string()))?;
        Ok(p)
    }

    #[cfg(not(feature = "faiss"))]
    pub fn faiss_params(&self) -> Result<std::convert::Infallible> {
        Err(Error::bad("index: this build has no Faiss backend (build with `--features faiss`)"))
    }

    /// Engine parameters. The search-time `ef` defaults to `ef_construct` (as in Qdrant).
    pub fn hnsw_params(&self) -> HnswParams {
        let vector_bytes = (self.size * 4).max(1);
        HnswParams {
            m: self.hnsw.m,
            ef_construction: self.hnsw.ef_construct,
            ef_search: self.hnsw.ef_construct,
            full_scan_threshold: self.hnsw.full_scan_threshold.saturating_mul(1024) / vector_bytes,
            quantization: self
                .quantization
                .as_ref()
                .map(|q| Quantization::Int8 { oversampling: q.oversampling }),
            ..HnswParams::default()
        }
    }
}
