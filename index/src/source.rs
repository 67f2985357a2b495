//! Where an index that does not keep full-precision vectors in memory (Faiss IVF-PQ / SQ8)
//! finds them: the caller's own storage. The service reads them from RocksDB; `ann-bench` from
//! the base file. Used to rescore the best candidates exactly, to scan a small filtered set
//! exactly, and to answer [`crate::VectorIndex::vector`].

use crate::distance::Metric;
use crate::error::Result;
use crate::types::PointId;

pub trait VectorSource: Send + Sync {
    /// The stored vectors of `ids`, prepared for the index's metric (normalised under cosine),
    /// `None` where a point is unknown.
    fn vectors(&self, ids: &[PointId]) -> Vec<Option<Vec<f32>>>;
}

/// Vectors held in memory, row `i` for id `first_id + i` (tests and `ann-bench`).
pub struct RowSource {
    first_id: PointId,
    dim: usize,
    rows: Vec<f32>,
}

impl RowSource {
    /// Rows (row-major, `dim` wide) checked and prepared for `metric`.
    pub fn new(metric: Metric, dim: usize, first_id: PointId, rows: &[f32]) -> Result<Self> {
        let mut prepared = Vec::with_capacity(rows.len());
        for row in rows.chunks(dim.max(1)) {
            prepared.extend(metric.prepare(row, dim)?);
        }
        Ok(RowSource { first_id, dim, rows: prepared })
    }
}

impl VectorSource for RowSource {
    fn vectors(&self, ids: &[PointId]) -> Vec<Option<Vec<f32>>> {
        ids.iter()
            .map(|id| {
                let row = usize::try_from(id.checked_sub(self.first_id)?).ok()?;
                self.rows.get(row * self.dim..(row + 1) * self.dim).map(<[f32]>::to_vec)
            })
            .collect()
    }
}
