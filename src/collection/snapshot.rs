//! A consistent view of one collection, for a snapshot (`src/snapshots` writes the file).
//!
//! Consistency: under the save lock (so the index file on disk and its `saved` mark agree and
//! cannot change), take a storage view and open the index file; the view then holds exactly the
//! writes committed before it — every acknowledged write, and none half-applied (each write is
//! one batch) — while writes go on.

use std::fs::File;
use std::path::PathBuf;

use super::{Collection, CollectionConfig};
use crate::error::{Error, Result};
use crate::storage::{Counters, View};

pub struct Frozen<'a> {
    pub name: String,
    pub cid: u32,
    pub config: CollectionConfig,
    pub counters: Counters,
    pub view: View<'a>,
    /// The persisted index of vector slot 0 the view's `saved` mark covers, open (`None`: none
    /// saved). A snapshot carries that one; a recovered collection builds its other vectors'
    /// indexes from the records.
    pub index: Option<(File, PathBuf)>,
}

impl Collection {
    /// The collection as it is now, for a snapshot.
    pub fn freeze(&self) -> Result<Frozen<'_>> {
        let _saving = self.save_lock.lock();
        let view = self.storage.view();
        let cid = self.id();
        let config: CollectionConfig = view
            .collection(&self.name)?
            .ok_or_else(|| Error::not_found(format!("collection `{}`", self.name)))?;
        let counters = view.counters(cid)?;
        let index = match counters.saved {
            Some(_) => {
                let path = self.index_path(0);
                File::open(&path).ok().map(|f| (f, path))
            }
            None => None,
        };
        Ok(Frozen { name: self.name.clone(), cid, config, counters, view, index })
    }
}
