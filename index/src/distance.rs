//! Metrics and distance kernels: the one place that fixes the convention **score: higher is
//! closer** and converts simsimd's *distances* into scores.
//!
//! - `Cosine`: vectors are L2-normalised when they enter the engine (points and queries), so
//!   the score is their dot product, in `[-1, 1]`.
//! - `Dot`: the raw inner product.
//! - `L2`: internally `-‖a − b‖²` (cheaper, same order); [`Metric::finalize`] turns it into the
//!   reported `-‖a − b‖`.
//!
//! The f32 kernels and the i8 kernels (used by the quantized path) are simsimd's, dispatched at
//! run time to the best SIMD the CPU has. Invalid input (wrong dimension, NaN, ±inf) is an
//! [`IndexError`], never a panic: call [`Metric::prepare`] on everything that comes from outside.

use simsimd::SpatialSimilarity;

use crate::error::{IndexError, Result};

/// The similarity a collection is searched by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Cosine,
    Dot,
    L2,
}

impl Metric {
    /// Parses `cosine`, `dot` or `l2` (also `euclid` / `euclidean`), case-insensitively.
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "cosine" | "angular" => Ok(Metric::Cosine),
            "dot" | "ip" | "inner_product" => Ok(Metric::Dot),
            "l2" | "euclid" | "euclidean" => Ok(Metric::L2),
            other => Err(IndexError::invalid(
                "metric",
                format!("unknown metric {other:?}; expected cosine, dot or l2"),
            )),
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Metric::Cosine => 0,
            Metric::Dot => 1,
            Metric::L2 => 2,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Metric::Cosine),
            1 => Some(Metric::Dot),
            2 => Some(Metric::L2),
            _ => None,
        }
    }

    /// Checks a vector from outside (dimension, finiteness) and returns it in the form the
    /// engine stores and searches with: normalised for `Cosine`, unchanged otherwise.
    pub fn prepare(self, vector: &[f32], dim: usize) -> Result<Vec<f32>> {
        self.query(vector.to_vec(), dim).map(Prepared::into_vector)
    }

    /// [`Metric::prepare`] in place, as a query every backend searches with as it is.
    pub fn query(self, mut vector: Vec<f32>, dim: usize) -> Result<Prepared> {
        validate(&vector, dim)?;
        if self == Metric::Cosine {
            let norm = dot_f32(&vector, &vector).sqrt();
            if norm == 0.0 || !norm.is_finite() {
                return Err(IndexError::ZeroVector);
            }
            vector.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(Prepared { vector, metric: self })
    }

    /// Internal score of two prepared f32 vectors of equal length (higher is closer).
    #[inline(always)]
    pub fn score(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::Cosine | Metric::Dot => dot_f32(a, b),
            Metric::L2 => -l2sq_f32(a, b),
        }
    }

    /// Internal score of two int8 codes of equal length, in code units (see `quant`).
    #[inline(always)]
    pub fn score_i8(self, a: &[i8], b: &[i8]) -> f32 {
        match self {
            Metric::Cosine | Metric::Dot => <i8 as SpatialSimilarity>::dot(a, b).unwrap_or(f64::NAN) as f32,
            Metric::L2 => -(<i8 as SpatialSimilarity>::l2sq(a, b).unwrap_or(f64::NAN) as f32),
        }
    }

    /// The score reported to callers for an internal score.
    #[inline]
    pub fn finalize(self, internal: f32) -> f32 {
        match self {
            Metric::Cosine | Metric::Dot => internal,
            Metric::L2 => -(-internal).max(0.0).sqrt(),
        }
    }

    /// Exact reported score of two prepared vectors, with the dimension checked.
    pub fn checked_score(self, a: &[f32], b: &[f32]) -> Result<f32> {
        if a.len() != b.len() {
            return Err(IndexError::DimensionMismatch { expected: a.len(), got: b.len() });
        }
        Ok(self.finalize(self.score(a, b)))
    }
}

/// A query vector checked and prepared for one metric by [`Metric::query`]: searches take it
/// as it is, so a caller that prepares a query once is not charged for it again.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    vector: Vec<f32>,
    metric: Metric,
}

impl Prepared {
    pub fn vector(&self) -> &[f32] {
        &self.vector
    }

    pub fn into_vector(self) -> Vec<f32> {
        self.vector
    }

    /// The vector, if it was prepared for `metric` and `dim` (a query prepared for another
    /// index is refused, not searched with).
    pub(crate) fn for_index(&self, metric: Metric, dim: usize) -> Result<&[f32]> {
        if self.metric != metric {
            return Err(IndexError::invalid(
                "query",
                format!("prepared for {:?}, the index measures {:?}", self.metric, metric),
            ));
        }
        if self.vector.len() != dim {
            return Err(IndexError::DimensionMismatch { expected: dim, got: self.vector.len() });
        }
        Ok(&self.vector)
    }
}

/// Rejects a wrong dimension and non-finite components.
pub fn validate(vector: &[f32], dim: usize) -> Result<()> {
    if vector.len() != dim {
        return Err(IndexError::DimensionMismatch { expected: dim, got: vector.len() });
    }
    match vector.iter().position(|x| !x.is_finite()) {
        Some(position) => Err(IndexError::NonFinite { position, value: vector[position] }),
        None => Ok(()),
    }
}

#[inline(always)]
pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // Lengths are equal by construction inside the engine; NaN would surface, not hide.
    <f32 as SpatialSimilarity>::dot(a, b).unwrap_or(f64::NAN) as f32
}

#[inline(always)]
fn l2sq_f32(a: &[f32], b: &[f32]) -> f32 {
    <f32 as SpatialSimilarity>::l2sq(a, b).unwrap_or(f64::NAN) as f32
}

/// Hints the CPU to start loading `data` into cache — its first `max_lines` cache lines at
/// most. Graph search calls this for the vectors it is about to score.
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn prefetch<T>(data: &[T], max_lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(data);
        let base = data.as_ptr().cast::<i8>();
        for line in 0..bytes.div_ceil(64).min(max_lines) {
            // SAFETY: prefetch is a hint: it never faults and never reads into program state,
            // whatever the address; `base + 64·line` stays inside (or one line past) `data`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(line * 64)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, max_lines);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_is_closer_for_every_metric() {
        let q = [1.0, 0.0];
        let near = [0.9, 0.1];
        let far = [-1.0, 0.0];
        for m in [Metric::Cosine, Metric::Dot, Metric::L2] {
            let (q, near, far) =
                (m.prepare(&q, 2).unwrap(), m.prepare(&near, 2).unwrap(), m.prepare(&far, 2).unwrap());
            assert!(m.score(&q, &near) > m.score(&q, &far), "{m:?}");
        }
    }

    #[test]
    fn bad_vectors_are_errors() {
        let m = Metric::L2;
        assert!(matches!(
            m.prepare(&[1.0, 2.0], 3),
            Err(IndexError::DimensionMismatch { expected: 3, got: 2 })
        ));
        assert!(matches!(m.prepare(&[1.0, f32::NAN], 2), Err(IndexError::NonFinite { position: 1, .. })));
        assert!(matches!(
            m.prepare(&[f32::INFINITY, 0.0], 2),
            Err(IndexError::NonFinite { position: 0, .. })
        ));
        assert!(matches!(Metric::Cosine.prepare(&[0.0, 0.0], 2), Err(IndexError::ZeroVector)));
        assert!(Metric::Dot.checked_score(&[1.0], &[1.0, 2.0]).is_err());
    }

    #[test]
    fn l2_reports_euclidean_distance() {
        let m = Metric::L2;
        let s = m.finalize(m.score(&[0.0, 0.0], &[3.0, 4.0]));
        assert!((s + 5.0).abs() < 1e-5, "{s}");
    }

    #[test]
    fn parse_names() {
        assert_eq!(Metric::parse("Cosine").unwrap(), Metric::Cosine);
        assert_eq!(Metric::parse("euclid").unwrap(), Metric::L2);
        assert!(Metric::parse("manhattan").is_err());
    }
}

#[cfg(test)]
mod kernel_tests {
    use super::*;

    #[test]
    fn i8_kernels_match_naive_sums() {
        for dim in [1usize, 4, 15, 16, 33, 64, 128, 384] {
            let a: Vec<i8> =
                (0..dim).map(|i| ((i * 91 + 7) % 255) as i16 as i8).map(|x| x.max(-127)).collect();
            let b: Vec<i8> =
                (0..dim).map(|i| ((i * 53 + 11) % 255) as i16 as i8).map(|x| x.max(-127)).collect();
            let dot: i64 = a.iter().zip(&b).map(|(&x, &y)| x as i64 * y as i64).sum();
            let l2: i64 = a.iter().zip(&b).map(|(&x, &y)| (x as i64 - y as i64).pow(2)).sum();
            assert_eq!(Metric::Dot.score_i8(&a, &b), dot as f32, "dot dim {dim}");
            assert_eq!(Metric::L2.score_i8(&a, &b), -(l2 as f32), "l2 dim {dim}");
            assert_eq!(Metric::L2.score_i8(&a, &a), 0.0, "l2 self dim {dim}");
        }
    }
}
