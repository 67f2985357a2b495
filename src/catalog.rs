//! The set of collections: create, open at start-up, drop, and the background task that saves
//! indexes that have new writes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use crate::collection::{Collection, CollectionConfig};
use crate::error::{Error, Result};
use crate::storage::{Batch, Storage};

pub struct Catalog {
    storage: Arc<Storage>,
    index_dir: PathBuf,
    snapshots_dir: PathBuf,
    collections: RwLock<BTreeMap<String, Arc<Collection>>>,
    /// Alias → collection name; a collection's own name wins over an alias of the same name.
    aliases: RwLock<BTreeMap<String, String>>,
    /// Serialises create / delete / alias changes so two requests cannot race on one name.
    ddl: parking_lot::Mutex<()>,
}

/// One change to the aliases (`POST /collections/aliases` applies a list of them at once).
#[derive(Clone, Debug)]
pub enum AliasAction {
    Create { collection: String, alias: String },
    Delete { alias: String },
    Rename { from: String, to: String },
}

/// The characters Qdrant forbids in a new collection's name.
pub const FORBIDDEN: [char; 11] = ['<', '>', ':', '"', '/', '\\', '|', '?', '*', '\0', '\u{1F}'];

/// Qdrant's rules for a new collection's name: 1 to 255 characters, none of `< > : " / \\ | ? *`,
/// NUL or U+001F, and not `.` or `..`. Names are storage keys, never file names as they are
/// (see `snapshots::collection_dir`).
pub fn validate_name(name: &str) -> Result<()> {
    let chars = name.chars().count();
    if !(1..=255).contains(&chars) {
        return Err(Error::bad(format!(
            "invalid collection name {name:?}: it must have 1 to 255 characters"
        )));
    }
    if let Some(c) = FORBIDDEN.iter().find(|c| name.contains(**c)) {
        return Err(Error::bad(format!("invalid collection name {name:?}: it cannot contain {c:?}")));
    }
    if name == "." || name == ".." {
        return Err(Error::bad(format!("invalid collection name {name:?}")));
    }
    Ok(())
}

impl Catalog {
    /// Opens the storage under `data_dir` and every collection in it.
    pub fn open(data_dir: &std::path::Path) -> Result<Catalog> {
        let storage = Arc::new(Storage::open(data_dir)?);
        let index_dir = data_dir.join("indexes");
        let mut collections = BTreeMap::new();
        for (name, config) in storage.collections::<CollectionConfig>()? {
            let c = Collection::open(&name, config, storage.clone(), &index_dir)?;
            collections.insert(name, Arc::new(c));
        }
        let aliases = storage.aliases()?.unwrap_or_default();
        Ok(Catalog {
            storage,
            index_dir,
            snapshots_dir: data_dir.join("snapshots"),
            aliases: RwLock::new(aliases),
            collections: RwLock::new(collections),
            ddl: Default::default(),
        })
    }

    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    pub fn snapshots_dir(&self) -> &std::path::Path {
        &self.snapshots_dir
    }

    /// Where the index of vector slot 0 of collection `cid` is persisted (the one a snapshot
    /// carries).
    pub fn index_path(&self, cid: u32) -> PathBuf {
        Collection::index_file(&self.index_dir, cid, 0)
    }

    /// The collection `name` names, directly or through an alias.
    pub fn get(&self, name: &str) -> Result<Arc<Collection>> {
        let collections = self.collections.read();
        let found = collections.get(name).or_else(|| {
            let aliases = self.aliases.read();
            aliases.get(name).and_then(|target| collections.get(target))
        });
        found.cloned().ok_or_else(|| Error::not_found(format!("collection `{name}`")))
    }

    /// The collection name `name` stands for: its alias's target when it is an alias (and no
    /// collection has that name), else itself (a snapshot recovered "into an alias" replaces
    /// the alias's collection, as in Qdrant).
    pub fn resolve(&self, name: &str) -> String {
        if self.collections.read().contains_key(name) {
            return name.to_string();
        }
        self.aliases.read().get(name).cloned().unwrap_or_else(|| name.to_string())
    }

    /// Every alias and its collection, by alias.
    pub fn aliases(&self) -> Vec<(String, String)> {
        self.aliases.read().iter().map(|(a, c)| (a.clone(), c.clone())).collect()
    }

    /// Applies `actions` in order, all or none, and stores the result in one write: an alias
    /// of a missing collection or named like a collection is refused, as is renaming a
    /// missing alias; deleting a missing alias does nothing; creating or renaming onto an
    /// existing alias replaces it.
    pub fn change_aliases(&self, actions: &[AliasAction]) -> Result<()> {
        let _ddl = self.ddl.lock();
        let collections = self.collections.read().keys().cloned().collect::<std::collections::BTreeSet<_>>();
        let mut aliases = self.aliases.read().clone();
        for action in actions {
            match action {
                AliasAction::Create { collection, alias } => {
                    if !collections.contains(collection) {
                        return Err(Error::not_found(format!("collection `{collection}`")));
                    }
                    if collections.contains(alias) {
                        return Err(Error::AlreadyExists { what: format!("collection `{alias}`") });
                    }
                    validate_name(alias)?;
                    aliases.insert(alias.clone(), collection.clone());
                }
                AliasAction::Delete { alias } => {
                    aliases.remove(alias);
                }
                AliasAction::Rename { from, to } => {
                    let target =
                        aliases.remove(from).ok_or_else(|| Error::not_found(format!("alias `{from}`")))?;
                    if collections.contains(to) {
                        return Err(Error::AlreadyExists { what: format!("collection `{to}`") });
                    }
                    validate_name(to)?;
                    aliases.insert(to.clone(), target);
                }
            }
        }
        let mut batch = self.storage.batch();
        batch.put_aliases(&aliases)?;
        self.storage.commit(batch, true)?;
        *self.aliases.write() = aliases;
        Ok(())
    }

    pub fn names(&self) -> Vec<String> {
        self.collections.read().keys().cloned().collect()
    }

    pub fn all(&self) -> Vec<Arc<Collection>> {
        self.collections.read().values().cloned().collect()
    }

    /// Creates a collection; `config.id` is assigned here.
    pub fn create(&self, name: &str, mut config: CollectionConfig) -> Result<()> {
        validate_name(name)?;
        config.validate()?;
        let _ddl = self.ddl.lock();
        if self.collections.read().contains_key(name) {
            return Err(Error::AlreadyExists { what: format!("collection `{name}`") });
        }
        if self.aliases.read().contains_key(name) {
            return Err(Error::bad(format!("an alias named `{name}` exists: delete or rename it first")));
        }
        config.id = self.storage.next_collection_id()?;
        let collection = Collection::create(name, config.clone(), self.storage.clone(), &self.index_dir)?;
        let mut batch = self.storage.batch();
        batch.put_collection(name, &config)?;
        self.storage.commit(batch, true)?;
        self.collections.write().insert(name.to_string(), Arc::new(collection));
        Ok(())
    }

    /// Makes a collection whose records are already stored under `config.id` (a recovered
    /// snapshot) visible as `name`: one batch stores `meta` and its config and drops the
    /// collection it replaces, if any; then it is opened.
    pub fn adopt(&self, name: &str, config: CollectionConfig, batch: Batch<'_>) -> Result<()> {
        let _ddl = self.ddl.lock();
        let old = self.collections.read().get(name).cloned();
        let commit = || {
            let mut batch = batch;
            if let Some(old) = &old {
                batch.drop_collection(old.id(), name);
            }
            batch.put_collection(name, &config)?;
            self.storage.commit(batch, true)
        };
        match &old {
            Some(old) => old.retire(commit)?,
            None => commit()?,
        }
        if let Some(old) = old {
            self.collections.write().remove(name);
            for path in old.index_paths() {
                let _ = std::fs::remove_file(path);
            }
        }
        let c = Collection::open(name, config, self.storage.clone(), &self.index_dir)?;
        self.collections.write().insert(name.to_string(), Arc::new(c));
        Ok(())
    }

    /// Drops a collection and everything stored for it. Returns whether it existed.
    pub fn delete(&self, name: &str) -> Result<bool> {
        let _ddl = self.ddl.lock();
        let Some(c) = self.collections.read().get(name).cloned() else { return Ok(false) };
        // Its aliases go with it, in the same write.
        let mut aliases = self.aliases.read().clone();
        aliases.retain(|_, target| target != name);
        c.retire(|| {
            let mut batch = self.storage.batch();
            batch.drop_collection(c.id(), name);
            batch.put_aliases(&aliases)?;
            self.storage.commit(batch, true)
        })?;
        *self.aliases.write() = aliases;
        self.collections.write().remove(name);
        for path in c.index_paths() {
            let _ = std::fs::remove_file(path);
        }
        Ok(true)
    }

    /// Saves every index with writes older than `min_age` since its last save (all of them
    /// when `min_age` is zero), except those `skip` names.
    pub fn save_dirty(
        &self,
        last_saved: &mut BTreeMap<String, Instant>,
        min_age: Duration,
        skip: &dyn Fn(&str) -> bool,
    ) {
        for c in self.all() {
            if !c.is_dirty() || skip(&c.name) {
                continue;
            }
            let due = last_saved.get(&c.name).is_none_or(|t| t.elapsed() >= min_age);
            if !due {
                continue;
            }
            match c.save_index() {
                Ok(_) => {
                    last_saved.insert(c.name.clone(), Instant::now());
                }
                Err(e) => tracing::error!("collection {:?}: saving index failed: {e}", c.name),
            }
        }
    }
}
