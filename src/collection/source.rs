//! The collection's stored vectors as the engine's [`VectorSource`]: a Faiss index keeps only
//! compressed codes and reads the f32 vectors it rescores from RocksDB.

use std::sync::Arc;

use vicinity_index::{PointId, VectorSource};

use super::write::decode_vector;
use crate::storage::{keys, Storage, CF_VECTORS};

pub struct StoredVectors {
    pub storage: Arc<Storage>,
    pub cid: u32,
}

impl VectorSource for StoredVectors {
    fn vectors(&self, ids: &[PointId]) -> Vec<Option<Vec<f32>>> {
        let keys: Vec<[u8; 12]> = ids.iter().map(|id| keys::numbered(self.cid, *id)).collect();
        self.storage
            .multi_get(CF_VECTORS, &keys)
            .into_iter()
            .map(|v| v.and_then(|bytes| decode_vector(&bytes).ok()))
            .collect()
    }
}
