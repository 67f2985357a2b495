//! One collection: its config, its points' payloads (in memory, for filters), its index (derived
//! from RocksDB, persisted beside it) and the write sequence that orders every change.
//!
//! - `write.rs`: upsert, delete, payload updates — one RocksDB batch each, then applied in memory.
//! - `read.rs`: retrieve, scroll, count, nearest-neighbour search and recommendations.
//! - `filter/` / `payload_index/`: Qdrant's filter language and the indexes that plan it.
//! - `order.rs` / `facet.rs`: `order_by` and `facet`, read from the payload indexes.
//!
//! Concurrency: writers are serialised by `writer`; readers never wait for RocksDB. A write is
//! applied to the payloads before the index on upsert and after it on delete, so every hit a
//! search finds has its payload.

pub mod config;
mod discover;
mod facet;
pub mod filter;
pub mod formula;
mod groups;
pub mod json_path;
mod mmr;
mod order;
pub mod payload_index;
mod prefetch;
mod read;
mod rebuild;
mod snapshot;
mod source;
mod sparse;
pub mod users;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};
use vicinity_index::{AnyIndex, Backend, SparseIndex, VectorIndex};

use crate::error::{Error, Result};
pub use crate::id::ExtId;
use crate::storage::Storage;
pub use config::{
    no_such_vector, CollectionConfig, Distance, EmbeddingModel, HnswConfig, IndexConfig, Modifier,
    ScalarQuantization, SparseIndexParams, SparseVectorConfig, VectorConfig, MAX_DIM,
};
pub use discover::Discover;
pub use facet::{FacetHit, FacetValue};
pub use filter::{Filter, Payload};
pub use groups::{Group, GroupKey, Grouping};
pub use mmr::{Mmr, MAX_CANDIDATES as MMR_MAX_CANDIDATES};
pub use order::{Direction, OrderBy, OrderValue, StartFrom};
use payload_index::PayloadIndex;
pub use payload_index::{FieldSchema, FieldType};
pub use prefetch::{Fusion, Prefetch, DEFAULT_RRF_K};
pub use read::{
    Example, Hit, PayloadSelector, PointVectors, Query, Record, Search, Strategy, VectorSelector,
};
pub use rebuild::{RebuildOptions, RebuildReport};
pub use users::{
    user_of, Event, EventInput, ProfileQuery, ProfileStrategy, RecommendationConfig, ServedBy, UserOptions,
    UserPlan, UserSummary,
};
pub(crate) use write::check_payload;
pub use write::{NewPoint, PayloadUpdate, Selector, UpdateMode, UpsertRule, Vector, Vectors};

/// What is kept in memory per point (vectors live in the index).
pub struct PointMeta {
    pub ext: ExtId,
    /// The write sequence that last changed the point.
    pub version: u64,
    pub payload: Payload,
}

#[derive(Default)]
pub struct Points {
    pub by_ext: HashMap<ExtId, u64>,
    pub meta: HashMap<u64, PointMeta>,
    pub payload_index: PayloadIndex,
}

impl Points {
    /// The points a filter's `must` conditions allow, when an index or a `has_id` condition
    /// says so without evaluating payloads (a superset of the matches; `None`: no such
    /// condition).
    pub fn candidates(&self, filter: &Filter) -> Option<std::collections::HashSet<u64>> {
        let by_id = filter.must.iter().filter_map(|c| {
            let filter::Condition::HasId(ids) = c else { return None };
            Some(ids.iter().filter_map(|e| self.by_ext.get(e).copied()).collect())
        });
        let mut sets: Vec<std::collections::HashSet<u64>> =
            self.payload_index.candidates(filter).into_iter().chain(by_id).collect();
        sets.sort_by_key(|s| s.len());
        let mut iter = sets.into_iter();
        let first = iter.next()?;
        Some(iter.fold(first, |acc, s| acc.intersection(&s).copied().collect()))
    }
}

/// A collection's indexes, one per vector name (`""`: the unnamed vector).
pub(crate) type Indexes = BTreeMap<String, Arc<AnyIndex>>;

/// A collection's sparse indexes, one per sparse vector name.
pub(crate) type SparseIndexes = BTreeMap<String, Arc<SparseIndex>>;

pub struct Collection {
    pub name: String,
    config: RwLock<CollectionConfig>,
    storage: Arc<Storage>,
    /// Replaced whole when a rebuild swaps an index in.
    indexes: ArcSwap<Indexes>,
    /// Fixed at create: sparse vectors are never rebuilt (their indexes compact themselves).
    sparse: ArcSwap<SparseIndexes>,
    points: RwLock<Points>,
    /// Held by writers; guards the next internal id.
    writer: Mutex<u64>,
    /// Last write applied in memory.
    seq: AtomicU64,
    /// Write the persisted index covers.
    saved_seq: AtomicU64,
    /// Payload indexes created or dropped since the collection was opened (see `version`).
    schema_changes: AtomicU64,
    index_dir: PathBuf,
    save_lock: Mutex<()>,
    /// While a rebuild runs, the write it started from: saves keep the later `changes` it
    /// catches up with. `u64::MAX` otherwise.
    changes_floor: AtomicU64,
    /// Set by [`Collection::retire`] once the collection is dropped or replaced: every later
    /// write, config change and index save is refused, so a job or request that outlives the
    /// collection writes nothing under its name or id.
    retired: AtomicBool,
    /// Users' profiles and items' popularity (see `users/`).
    users: RwLock<users::Users>,
    /// Held by event writers; the next event's sequence number.
    events: Mutex<u64>,
    /// Raised by every change of `users` (see [`Collection::users_version`]).
    users_version: AtomicU64,
    /// Users' profiles resolved into vectors (see `users/recommend.rs`).
    resolved: moka::sync::Cache<users::ResolvedKey, Arc<users::Resolved>>,
}

/// Checks a vector from a request (dimension, finiteness, magnitude) and returns it in the form
/// the engine stores and searches with (once: searches take it as it is).
///
/// Magnitude: under Dot and Euclid any two vectors with squared norms up to `f32::MAX / 4`
/// score (dot product, squared distance) within f32 range, so no score overflows to ±inf or
/// NaN; under Cosine the norm itself must fit in f32 to normalise.
pub(crate) fn prepare_vector(
    metric: vicinity_index::Metric,
    v: Vec<f32>,
    dim: usize,
) -> Result<vicinity_index::Prepared> {
    let limit = match metric {
        vicinity_index::Metric::Cosine => f64::from(f32::MAX),
        vicinity_index::Metric::Dot | vicinity_index::Metric::L2 => f64::from(f32::MAX) / 4.0,
    };
    let norm_sq: f64 = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum();
    if v.len() == dim && norm_sq.is_finite() && norm_sq > limit {
        return Err(Error::bad(format!(
            "vector norm {:.3e} is too large: scores would overflow f32 (the limit is {:.3e})",
            norm_sq.sqrt(),
            limit.sqrt()
        )));
    }
    Ok(metric.query(v, dim)?)
}

/// Index building (upserts, rebuilds, start-up fills) runs on a thread pool of its own: a long
/// build never queues ahead of the searches on the shared pool (rayon runs a broadcast before
/// outside work), and nothing a search waits for ever waits for a build's threads. Import jobs'
/// inserts run on a second such pool whose threads run at [`BULK_BUILD_NICE`], so that an import
/// takes the cores requests leave (writers queued behind a job's insert wait the longer).
fn build_pool(bulk: bool) -> Option<&'static rayon::ThreadPool> {
    static POOLS: [std::sync::OnceLock<Option<rayon::ThreadPool>>; 2] =
        [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    POOLS[usize::from(bulk)]
        .get_or_init(|| {
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
            let name = if bulk { "index-bulk" } else { "index-build" };
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(move |i| format!("{name}-{i}"))
                .start_handler(move |_| {
                    if bulk {
                        crate::priority::set_thread_nice(BULK_BUILD_NICE, "import jobs' index inserts");
                    }
                })
                .build()
                .map_err(|e| {
                    tracing::error!("cannot start the index build pool ({e}); building on the shared pool")
                })
                .ok()
        })
        .as_ref()
}

/// The nice value of import jobs' index inserts: below requests, above the bulk embedding
/// (nice 19) that feeds them.
const BULK_BUILD_NICE: i32 = 10;

thread_local! {
    /// Set while the thread runs an import job's writes ([`as_bulk`]).
    static BULK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (an import job's writes) so that the index inserts it makes run on the bulk pool.
pub fn as_bulk<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            BULK.set(self.0);
        }
    }
    let _reset = Reset(BULK.replace(true));
    f()
}

/// Runs `f` (an index insert) on the build pool (the bulk one inside [`as_bulk`]).
pub(crate) fn building<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match build_pool(BULK.get()) {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// When a request's work must stop. Scans check it between points and filtered searches inside
/// their filter, so a request answered with a timeout does not keep a core busy after it.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No limit (jobs, internal work).
    pub const NONE: Deadline = Deadline(None);

    pub fn at(when: Instant) -> Deadline {
        Deadline(Some(when))
    }

    pub fn after(d: std::time::Duration) -> Deadline {
        Deadline(Instant::now().checked_add(d))
    }

    pub fn expired(&self) -> bool {
        self.0.is_some_and(|t| Instant::now() >= t)
    }

    pub fn check(&self) -> Result<()> {
        if self.expired() {
            return Err(Error::Timeout(
                "the request ran out of time and was stopped; retry, or narrow it".into(),
            ));
        }
        Ok(())
    }
}

impl Collection {
    /// An empty index of the vector's kind; a Faiss index reads the vectors it rescores from
    /// `storage`.
    fn new_index(v: &VectorConfig, cid: u32, storage: &Arc<Storage>) -> Result<AnyIndex> {
        let metric = v.distance.metric();
        let index = match &v.index {
            IndexConfig::Hnsw => AnyIndex::new(Backend::Hnsw, metric, v.size, v.hnsw_params())?,
            #[cfg(feature = "faiss")]
            IndexConfig::Faiss { .. } => AnyIndex::faiss(metric, v.size, v.faiss_params()?)?,
            #[cfg(not(feature = "faiss"))]
            IndexConfig::Faiss { .. } => match v.faiss_params()? {},
        };
        Self::attach_source(&index, v, cid, storage);
        Ok(index)
    }

    fn attach_source(index: &AnyIndex, v: &VectorConfig, cid: u32, storage: &Arc<Storage>) {
        index.set_source(Arc::new(source::StoredVectors { storage: storage.clone(), cid, slot: v.slot }));
    }

    /// Where the index of vector slot `slot` of collection `cid` is persisted under
    /// `index_dir` (slot 0 keeps the name a one-vector collection always had).
    pub fn index_file(index_dir: &Path, cid: u32, slot: u32) -> PathBuf {
        match slot {
            0 => index_dir.join(format!("{cid}.hnsw")),
            _ => index_dir.join(format!("{cid}.{slot}.hnsw")),
        }
    }

    /// Where the index of sparse vector slot `slot` is persisted.
    pub fn sparse_index_file(index_dir: &Path, cid: u32, slot: u32) -> PathBuf {
        index_dir.join(format!("{cid}.{slot}.sparse"))
    }

    fn assemble(
        name: &str,
        config: CollectionConfig,
        storage: Arc<Storage>,
        indexes: Indexes,
        index_dir: &Path,
    ) -> Self {
        Collection {
            name: name.to_string(),
            config: RwLock::new(config),
            storage,
            indexes: ArcSwap::from_pointee(indexes),
            sparse: ArcSwap::from_pointee(SparseIndexes::new()),
            points: RwLock::new(Points::default()),
            writer: Mutex::new(0),
            seq: AtomicU64::new(0),
            saved_seq: AtomicU64::new(0),
            schema_changes: AtomicU64::new(0),
            index_dir: index_dir.to_path_buf(),
            save_lock: Mutex::new(()),
            changes_floor: AtomicU64::new(u64::MAX),
            retired: AtomicBool::new(false),
            users: RwLock::new(users::Users::default()),
            events: Mutex::new(0),
            users_version: AtomicU64::new(0),
            resolved: users::resolved_cache(),
        }
    }

    /// An empty index for every vector of `config`.
    fn new_indexes(config: &CollectionConfig, storage: &Arc<Storage>) -> Result<Indexes> {
        config
            .vectors
            .iter()
            .map(|(name, v)| Ok((name.clone(), Arc::new(Self::new_index(v, config.id, storage)?))))
            .collect()
    }

    /// A new, empty collection. The caller has stored its config.
    pub fn create(
        name: &str,
        config: CollectionConfig,
        storage: Arc<Storage>,
        index_dir: &Path,
    ) -> Result<Self> {
        let indexes = Self::new_indexes(&config, &storage)?;
        let sparse = config
            .sparse_vectors
            .iter()
            .map(|(name, v)| (name.clone(), Arc::new(SparseIndex::new(v.with_idf()))))
            .collect();
        let c = Self::assemble(name, config, storage, indexes, index_dir);
        c.sparse.store(Arc::new(sparse));
        Ok(c)
    }

    /// Opens a stored collection: payloads from RocksDB, each vector's index from its file
    /// caught up with the later writes, or rebuilt from the stored vectors when there is no
    /// usable file.
    pub fn open(
        name: &str,
        config: CollectionConfig,
        storage: Arc<Storage>,
        index_dir: &Path,
    ) -> Result<Self> {
        let started = Instant::now();
        let cid = config.id;
        let schema = config.payload_schema.clone();
        let c = Self::assemble(name, config, storage, Indexes::new(), index_dir);
        let counters = c.storage.counters(cid)?;
        let saved = counters.saved;
        *c.writer.lock() = counters.next;
        c.seq.store(counters.seq, Ordering::SeqCst);
        {
            let mut points = c.points.write();
            for item in c.storage.points(cid) {
                let (internal, p) = item?;
                points.by_ext.insert(p.ext, internal);
                points
                    .meta
                    .insert(internal, PointMeta { ext: p.ext, version: p.version, payload: p.payload });
            }
            let Points { meta, payload_index, .. } = &mut *points;
            for (field, kind) in &schema {
                payload_index.create(field, kind, meta.iter().map(|(id, m)| (*id, &m.payload)));
            }
        }
        let live = c.points.read().meta.len();
        let vectors = c.config.read().vectors.clone();
        let mut indexes = Indexes::new();
        for (vector, v) in &vectors {
            let what = if vector.is_empty() { String::new() } else { format!(" (vector {vector:?})") };
            let index = match saved.map(|s| (s, c.load_index_file(v))) {
                Some((saved, Ok(index))) => {
                    let replayed = c.replay_into(&index, v.slot, saved)?;
                    tracing::info!(
                        "collection {name:?}{what}: loaded persisted index at seq {saved} ({live} points), replayed {replayed} changes in {:.0?}",
                        started.elapsed()
                    );
                    index
                }
                other => {
                    if let Some((_, Err(e))) = other {
                        tracing::warn!(
                            "collection {name:?}{what}: persisted index unusable ({e}); rebuilding from storage"
                        );
                    }
                    let index = Self::new_index(v, cid, &c.storage)?;
                    c.fill_from_storage(&index, v.slot, &|_| true)?;
                    tracing::info!(
                        "collection {name:?}{what}: rebuilt index from storage ({live} points) in {:.0?}",
                        started.elapsed()
                    );
                    index
                }
            };
            indexes.insert(vector.clone(), Arc::new(index));
        }
        c.indexes.store(Arc::new(indexes));
        c.open_sparse(saved)?;
        c.load_users()?;
        if let Some(saved) = saved {
            c.saved_seq.store(saved, Ordering::SeqCst);
        }
        Ok(c)
    }

    fn load_index_file(&self, v: &VectorConfig) -> Result<AnyIndex> {
        let (path, cid) = (self.index_path(v.slot), self.id());
        let index = AnyIndex::load(&path)?;
        if index.dim() != v.size
            || index.metric() != v.distance.metric()
            || index.backend() != v.index.backend()
        {
            return Err(Error::Internal(format!(
                "index file {} has dim {} / {:?} / {}, the vector has {} / {:?} / {}",
                path.display(),
                index.dim(),
                index.metric(),
                index.backend(),
                v.size,
                v.distance,
                v.index.backend()
            )));
        }
        Self::attach_source(&index, v, cid, &self.storage);
        Ok(index)
    }

    /// The index of sparse vector `name`, or Qdrant's 400 when there is none.
    pub(crate) fn sparse_index(&self, name: &str) -> Result<Arc<SparseIndex>> {
        self.sparse.load().get(name).cloned().ok_or_else(|| config::no_such_vector(name))
    }

    /// The index of vector `name`, or Qdrant's 400 when the collection has no such vector.
    pub(crate) fn index(&self, name: &str) -> Result<Arc<AnyIndex>> {
        self.indexes.load().get(name).cloned().ok_or_else(|| config::no_such_vector(name))
    }

    /// Runs `drop` (the batch that removes the collection from storage) with every writer and
    /// saver of the collection shut out, and marks it retired when it succeeds: from then on
    /// nothing is written for it. The caller removes the index file afterwards.
    pub(crate) fn retire(&self, drop: impl FnOnce() -> Result<()>) -> Result<()> {
        let _writer = self.writer.lock();
        let _events = self.events.lock();
        let _saving = self.save_lock.lock();
        drop()?;
        self.retired.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Refuses work on a collection that was dropped or replaced. Called under the writer or
    /// save lock, which [`Collection::retire`] takes, so no write can slip in after the drop.
    fn check_live(&self) -> Result<()> {
        if self.retired.load(Ordering::SeqCst) {
            return Err(Error::not_found(format!("collection `{}` (it was deleted or replaced)", self.name)));
        }
        Ok(())
    }

    /// Saves every vector's index when writes arrived since the last save. Returns whether it
    /// saved.
    pub fn save_index(&self) -> Result<bool> {
        let _saving = self.save_lock.lock();
        self.check_live()?;
        let seq = self.seq.load(Ordering::SeqCst);
        let files_exist = self.index_paths().iter().all(|p| p.exists());
        if seq == self.saved_seq.load(Ordering::SeqCst) && files_exist {
            return Ok(false);
        }
        std::fs::create_dir_all(&self.index_dir).map_err(Error::file(&self.index_dir))?;
        let indexes = self.indexes.load_full();
        let config = self.config.read().clone();
        for (name, index) in indexes.iter() {
            if let Some(v) = config.vectors.get(name) {
                index.save(&self.index_path(v.slot))?;
            }
        }
        for (name, index) in self.sparse.load().iter() {
            if let Some(v) = config.sparse_vectors.get(name) {
                index.save(&self.sparse_index_path(v.slot))?;
            }
        }
        let mut batch = self.storage.batch();
        batch.set_saved(config.id, seq);
        // A running rebuild still needs the changes after the write it started from.
        batch.prune_changes(config.id, seq.min(self.changes_floor.load(Ordering::SeqCst)));
        self.storage.commit(batch, true)?;
        self.saved_seq.store(seq, Ordering::SeqCst);
        tracing::info!("collection {:?}: saved index at seq {seq}", self.name);
        Ok(true)
    }

    /// The collection's numeric id (never reused).
    pub fn id(&self) -> u32 {
        self.config.read().id
    }

    /// The collection's version for cached answers: every acknowledged write and every payload
    /// index created or dropped raises it (both counts only grow, so their sum never repeats).
    pub fn version(&self) -> u64 {
        self.seq.load(Ordering::SeqCst) + self.schema_changes.load(Ordering::SeqCst)
    }

    /// `filter` as evaluated on this collection: bound to its payload indexes (text index
    /// settings, uuid comparison). Every read and write that evaluates a filter binds it first.
    pub fn bind(&self, filter: &Filter) -> Filter {
        filter.bind(&self.config.read().payload_schema)
    }

    pub fn is_dirty(&self) -> bool {
        self.seq.load(Ordering::SeqCst) != self.saved_seq.load(Ordering::SeqCst)
    }

    /// Makes every write applied so far durable (writes made with `sync = false`).
    pub fn sync(&self) -> Result<()> {
        self.storage.sync()
    }

    pub fn config(&self) -> CollectionConfig {
        self.config.read().clone()
    }

    /// Where the index of vector slot `slot` is persisted.
    pub fn index_path(&self, slot: u32) -> PathBuf {
        Self::index_file(&self.index_dir, self.id(), slot)
    }

    /// Where the index of sparse vector slot `slot` is persisted.
    pub fn sparse_index_path(&self, slot: u32) -> PathBuf {
        Self::sparse_index_file(&self.index_dir, self.id(), slot)
    }

    /// Every index file of the collection (one per vector, dense and sparse).
    pub fn index_paths(&self) -> Vec<PathBuf> {
        let config = self.config.read();
        let dense = config.slots().into_iter().map(|s| self.index_path(s));
        let sparse = config.sparse_vectors.values().map(|v| self.sparse_index_path(v.slot));
        dense.chain(sparse).collect()
    }

    /// Live points; per vector name, deleted-but-not-vacuumed points and index bytes.
    pub fn stats(&self) -> (usize, BTreeMap<String, (usize, usize)>) {
        let indexes = self.indexes.load();
        let sparse = self.sparse.load();
        let per_vector = indexes
            .iter()
            .map(|(n, i)| (n.clone(), (i.deleted_count(), i.memory_bytes())))
            // A sparse index compacts its own dead postings: nothing for a vacuum to do.
            .chain(sparse.iter().map(|(n, i)| (n.clone(), (0, i.memory_bytes()))))
            .collect();
        (self.points.read().meta.len(), per_vector)
    }

    /// Creates a payload index on `field`, stored in the config.
    pub fn create_field_index(&self, field: &str, schema: FieldSchema, sync: bool) -> Result<u64> {
        let _writer = self.writer.lock();
        self.check_live()?;
        let mut config = self.config.read().clone();
        config.payload_schema.insert(field.to_string(), schema.clone());
        self.store_config(&config, sync)?;
        let mut points = self.points.write();
        let Points { meta, payload_index, .. } = &mut *points;
        payload_index.create(field, &schema, meta.iter().map(|(id, m)| (*id, &m.payload)));
        *self.config.write() = config;
        // Text and uuid conditions mean something else with the index: cached answers go.
        self.schema_changes.fetch_add(1, Ordering::SeqCst);
        Ok(self.seq.load(Ordering::SeqCst))
    }

    pub fn delete_field_index(&self, field: &str, sync: bool) -> Result<u64> {
        let _writer = self.writer.lock();
        self.check_live()?;
        let mut config = self.config.read().clone();
        if config.payload_schema.remove(field).is_none() {
            return Err(Error::not_found(format!("payload index on field `{field}`")));
        }
        self.store_config(&config, sync)?;
        self.points.write().payload_index.drop_field(field);
        *self.config.write() = config;
        self.schema_changes.fetch_add(1, Ordering::SeqCst);
        Ok(self.seq.load(Ordering::SeqCst))
    }

    fn store_config(&self, config: &CollectionConfig, sync: bool) -> Result<()> {
        let mut batch = self.storage.batch();
        batch.put_collection(&self.name, config)?;
        self.storage.commit(batch, sync)
    }
}

impl Collection {
    /// Points per indexed payload field (for `payload_schema` in the collection info).
    pub fn field_index_counts(&self) -> HashMap<String, usize> {
        let points = self.points.read();
        let schema = self.config.read().payload_schema.clone();
        schema
            .keys()
            .map(|k| {
                let n = points
                    .meta
                    .values()
                    .filter(|m| !filter::values_at(&m.payload, k, true).is_empty())
                    .count();
                (k.clone(), n)
            })
            .collect()
    }
}
