//! The collection's stored vectors as the engine's [`VectorSource`]: a Faiss index keeps only
//! compressed codes and reads the f32 vectors it rescores from RocksDB.

use std::sync::Arc;

use vicinity_index::{PointId, VectorSource};

use crate::storage::Storage;

pub struct StoredVectors {
    pub storage: Arc<Storage>,
    pub cid: u32,
    /// The vector's storage slot.
    pub slot: u32,
}

impl VectorSource for StoredVectors {
    fn vectors(&self, ids: &[PointId]) -> Vec<Option<Vec<f32>>> {
        self.storage.vectors_of(self.cid, ids, self.slot)
    }
}
