//! A sparse vector: the non-zero dimensions of a vector over an unbounded vocabulary (token ids,
//! hashed terms), as `(index, value)` pairs kept in ascending index order.

use crate::error::{IndexError, Result};

/// At most this many non-zero entries per vector (a bound on what one point or query costs).
pub const MAX_NONZEROS: usize = 65_536;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseVector {
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl SparseVector {
    /// Checks and sorts the pairs: as many values as indices, every value finite, no index
    /// twice, at most [`MAX_NONZEROS`] entries. Explicit zeros are kept (they score nothing).
    pub fn new(indices: Vec<u32>, values: Vec<f32>) -> Result<Self> {
        if indices.len() != values.len() {
            return Err(IndexError::invalid(
                "sparse vector",
                format!("{} indices but {} values", indices.len(), values.len()),
            ));
        }
        if indices.len() > MAX_NONZEROS {
            return Err(IndexError::invalid(
                "sparse vector",
                format!("{} entries; at most {MAX_NONZEROS} are allowed", indices.len()),
            ));
        }
        if let Some(position) = values.iter().position(|v| !v.is_finite()) {
            return Err(IndexError::NonFinite { position, value: values[position] });
        }
        let mut pairs: Vec<(u32, f32)> = indices.into_iter().zip(values).collect();
        if !pairs.windows(2).all(|w| w[0].0 < w[1].0) {
            pairs.sort_unstable_by_key(|p| p.0);
            if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(IndexError::invalid("sparse vector", format!("index {} appears twice", w[0].0)));
            }
        }
        Ok(SparseVector {
            indices: pairs.iter().map(|p| p.0).collect(),
            values: pairs.iter().map(|p| p.1).collect(),
        })
    }

    /// Ascending, unique.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    pub fn values(&self) -> &[f32] {
        &self.values
    }

    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.indices.iter().copied().zip(self.values.iter().copied())
    }

    /// The dot product over the indices both hold, and whether they share any.
    pub fn dot(&self, other: &SparseVector) -> Option<f32> {
        let (mut i, mut j, mut sum, mut shared) = (0, 0, 0.0f32, false);
        while i < self.indices.len() && j < other.indices.len() {
            match self.indices[i].cmp(&other.indices[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += self.values[i] * other.values[j];
                    shared = true;
                    i += 1;
                    j += 1;
                }
            }
        }
        shared.then_some(sum)
    }

    /// Each value multiplied by `weight(index)`.
    pub fn weighted(&self, weight: impl Fn(u32) -> f32) -> SparseVector {
        let values = self.iter().map(|(i, v)| v * weight(i)).collect();
        SparseVector { indices: self.indices.clone(), values }
    }

    /// Heap bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.indices.capacity() * 4 + self.values.capacity() * 4
    }

    /// From parts already checked (read back from a verified file).
    pub(crate) fn from_sorted(indices: Vec<u32>, values: Vec<f32>) -> Option<Self> {
        let ok = indices.len() == values.len()
            && indices.windows(2).all(|w| w[0] < w[1])
            && values.iter().all(|v| v.is_finite());
        ok.then_some(SparseVector { indices, values })
    }
}
