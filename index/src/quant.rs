//! int8 scalar quantization: every component becomes `round((x - offset_d) / scale)` clamped to
//! `[-127, 127]`, so a vector takes `dim` bytes instead of `4·dim`. Graph walks score codes with
//! simsimd's i8 kernels, then the best `k · oversampling` candidates are rescored with the f32
//! vectors, which is what makes the final order exact among them.
//!
//! One `scale` for all dimensions keeps the i8 dot product proportional to the f32 one. For L2
//! a per-dimension `offset` (the midpoint of each dimension's range) is subtracted first, which
//! L2 does not notice; dot products would, so for `Cosine`/`Dot` the offset is zero.

use crate::distance::Metric;
use crate::error::Result;
use crate::persist::{Reader, Writer};

/// Fraction of |components| the scale covers; the rest are clipped.
const QUANTILE: f64 = 0.999;
/// At most this many rows are looked at when fitting.
const FIT_SAMPLE_ROWS: usize = 100_000;

#[derive(Clone, Debug)]
pub(crate) struct Int8Quantizer {
    scale: f32,
    offset: Vec<f32>,
    /// How many rows the fit saw; the index refits when it has grown well past this.
    pub fitted_on: usize,
}

impl Int8Quantizer {
    /// Fits a quantizer to row-major prepared vectors.
    pub fn fit(metric: Metric, dim: usize, vectors: &[f32]) -> Self {
        let rows = vectors.len() / dim;
        let step = (rows / FIT_SAMPLE_ROWS).max(1);
        let sample = || (0..rows).step_by(step).map(|r| &vectors[r * dim..(r + 1) * dim]);
        let mut offset = vec![0.0f32; dim];
        if metric == Metric::L2 && rows > 0 {
            let mut lo = vec![f32::INFINITY; dim];
            let mut hi = vec![f32::NEG_INFINITY; dim];
            for row in sample() {
                for (d, &x) in row.iter().enumerate() {
                    lo[d] = lo[d].min(x);
                    hi[d] = hi[d].max(x);
                }
            }
            offset.iter_mut().enumerate().for_each(|(d, o)| *o = (lo[d] + hi[d]) / 2.0);
        }
        let mut magnitudes: Vec<f32> =
            sample().flat_map(|row| row.iter().zip(&offset).map(|(x, o)| (x - o).abs())).collect();
        let scale = if magnitudes.is_empty() {
            1.0 / 127.0
        } else {
            let nth = ((magnitudes.len() - 1) as f64 * QUANTILE) as usize;
            let (_, q, _) = magnitudes.select_nth_unstable_by(nth, f32::total_cmp);
            (*q).max(f32::MIN_POSITIVE) / 127.0
        };
        Int8Quantizer { scale, offset, fitted_on: rows }
    }

    pub fn encode_into(&self, vector: &[f32], out: &mut Vec<i8>) {
        out.extend(
            vector
                .iter()
                .zip(&self.offset)
                .map(|(x, o)| ((x - o) / self.scale).round().clamp(-127.0, 127.0) as i8),
        );
    }

    pub fn encode_all(&self, vectors: &[f32], dim: usize) -> Vec<i8> {
        let mut out = Vec::with_capacity(vectors.len());
        vectors.chunks_exact(dim).for_each(|row| self.encode_into(row, &mut out));
        out
    }

    pub fn write(&self, w: &mut Writer) -> Result<()> {
        w.f32(self.scale)?;
        w.u64(self.fitted_on as u64)?;
        w.f32s(&self.offset)
    }

    pub fn read(r: &mut Reader, dim: usize) -> Result<Self> {
        let scale = r.f32()?;
        let fitted_on = r.len()?;
        let offset = r.f32s(dim)?;
        if !(scale.is_finite() && scale > 0.0) {
            return Err(r.corrupt(format!("bad quantization scale {scale}")));
        }
        Ok(Int8Quantizer { scale, offset, fitted_on })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_preserve_order_of_dot_products() {
        let dim = 8;
        let data: Vec<f32> = (0..dim * 50).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
        let q = Int8Quantizer::fit(Metric::Dot, dim, &data);
        let codes = q.encode_all(&data, dim);
        let (a, b) = (&data[..dim], &data[dim..2 * dim]);
        let exact = Metric::Dot.score(a, b);
        let approx = Metric::Dot.score_i8(&codes[..dim], &codes[dim..2 * dim]) * q.scale * q.scale;
        assert!((exact - approx).abs() < 0.05, "exact {exact} approx {approx}");
    }
}
