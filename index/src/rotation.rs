//! A fitted orthonormal basis for stored vectors: the principal axes of the data, strongest
//! first. Rotating every vector (and every query) by it changes no dot product or distance,
//! but moves most of each vector's energy into its first components, which is what makes the
//! early-abandoning bounds of [`crate::early`] tight: on MiniLM embeddings the first 128 of 384
//! components carry ~80% of it.
//!
//! The axes are the eigenvectors of the sample's second-moment matrix (`E[x xᵀ]` for cosine,
//! the covariance for L2, whose differences `q − x` it describes), found by cyclic Jacobi
//! rotations. Every Jacobi step is an exact rotation, so the basis is orthonormal whether or
//! not the sweeps converge: convergence only decides how tight the bounds get.

use rayon::prelude::*;

use crate::distance::Metric;
use crate::persist::{Reader, Writer};

/// Rows sampled to fit the basis.
const SAMPLE: usize = 4096;
const MAX_SWEEPS: usize = 8;
/// Rows a parallel task rotates at once.
const CHUNK: usize = 64;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rotation {
    metric: Metric,
    dim: usize,
    /// `dim × dim`, row-major: row `i` is the `i`-th axis.
    rows: Vec<f32>,
}

impl Rotation {
    /// Fits the axes of the rows in `parts` (each row-major, `dim` wide, prepared for
    /// `metric`), sampling at most [`SAMPLE`] rows.
    pub fn fit(metric: Metric, dim: usize, parts: &[&[f32]]) -> Self {
        let n: usize = parts.iter().map(|p| p.len() / dim).sum();
        let step = n.div_ceil(SAMPLE).max(1);
        let rows: Vec<&[f32]> = parts.iter().flat_map(|p| p.chunks_exact(dim)).step_by(step).collect();
        let mean: Vec<f64> = if metric == Metric::L2 && !rows.is_empty() {
            let mut m = vec![0f64; dim];
            for r in &rows {
                m.iter_mut().zip(r.iter()).for_each(|(a, &b)| *a += f64::from(b));
            }
            m.iter_mut().for_each(|a| *a /= rows.len() as f64);
            m
        } else {
            vec![0f64; dim]
        };
        // Upper triangle of Σ (x − mean)(x − mean)ᵀ, one partial matrix per rayon worker.
        let moment = rows
            .par_chunks(256)
            .map(|chunk| {
                let mut m = vec![0f64; dim * dim];
                let mut c = vec![0f64; dim];
                for r in chunk {
                    c.iter_mut().zip(r.iter().zip(&mean)).for_each(|(c, (&x, &mu))| *c = f64::from(x) - mu);
                    for i in 0..dim {
                        let ci = c[i];
                        m[i * dim + i..(i + 1) * dim]
                            .iter_mut()
                            .zip(&c[i..])
                            .for_each(|(a, &cj)| *a += ci * cj);
                    }
                }
                m
            })
            .reduce(
                || vec![0f64; dim * dim],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    a
                },
            );
        let mut a = moment;
        for i in 0..dim {
            for j in 0..i {
                a[i * dim + j] = a[j * dim + i];
            }
        }
        let axes = jacobi_eigenvectors(&mut a, dim);
        Rotation { metric, dim, rows: axes }
    }

    /// The rows, each `dim` wide and prepared for the metric, moved into the basis (`R · x`
    /// per row), row-major; cosine rows are re-normalised (a rotation in f32 keeps norms to
    /// ~1e-7 only).
    fn rotated(&self, rows: &[&[f32]]) -> Vec<f32> {
        let mut out = vec![0f32; rows.len() * self.dim];
        crate::matmul::rows_dot_axes(rows, &self.rows, self.dim, &mut out);
        if self.metric == Metric::Cosine {
            for row in out.chunks_exact_mut(self.dim) {
                let norm = crate::distance::dot_f32(row, row).sqrt();
                if norm > 0.0 {
                    row.iter_mut().for_each(|x| *x /= norm);
                }
            }
        }
        out
    }

    /// Moves every `dim`-wide prepared row of `data` into the basis, in place; batches of
    /// more than [`CHUNK`] rows run in parallel.
    pub fn rotate_rows(&self, data: &mut [f32]) {
        let rotate = |chunk: &mut [f32]| {
            let out = self.rotated(&chunk.chunks_exact(self.dim).collect::<Vec<_>>());
            chunk.copy_from_slice(&out);
        };
        if data.len() <= CHUNK * self.dim {
            rotate(data);
        } else {
            data.par_chunks_mut(CHUNK * self.dim).for_each(rotate);
        }
    }

    /// [`Self::rotate_rows`] for rows held apart, such as a batch of queries (rotated together,
    /// so the matrix is read once per tile of rows rather than once per row).
    pub fn rotate_each(&self, rows: &mut [Vec<f32>]) {
        let out = self.rotated(&rows.iter().map(Vec::as_slice).collect::<Vec<_>>());
        for (row, rotated) in rows.iter_mut().zip(out.chunks_exact(self.dim)) {
            row.copy_from_slice(rotated);
        }
    }

    /// `Rᵀ · r`: a rotated vector back in the caller's basis.
    pub fn invert(&self, r: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; self.dim];
        for (&ri, row) in r.iter().zip(self.rows.chunks_exact(self.dim)) {
            out.iter_mut().zip(row).for_each(|(o, &a)| *o += ri * a);
        }
        out
    }

    pub fn memory_bytes(&self) -> usize {
        self.rows.len() * 4
    }

    pub fn write(&self, w: &mut Writer) -> crate::error::Result<()> {
        w.f32s(&self.rows)
    }

    pub fn read(r: &mut Reader, metric: Metric, dim: usize) -> crate::error::Result<Self> {
        let rows = r.f32s(dim.checked_mul(dim).ok_or_else(|| r.corrupt("size overflow"))?)?;
        // An axis that is not a unit vector would scale scores: refuse the file.
        for (i, row) in rows.chunks_exact(dim.max(1)).enumerate() {
            let norm2: f32 = row.iter().map(|x| x * x).sum();
            if !norm2.is_finite() || (norm2 - 1.0).abs() > 1e-3 {
                return Err(r.corrupt(format!("rotation axis {i} is not a unit vector")));
            }
        }
        Ok(Rotation { metric, dim, rows })
    }
}

/// Rows `p < q` of the row-major `n`-wide matrix `m` become `c·p − s·q` and `s·p + c·q`.
fn rotate_pair(m: &mut [f64], n: usize, p: usize, q: usize, c: f64, s: f64) {
    let (lo, hi) = m.split_at_mut(q * n);
    for (x, y) in lo[p * n..(p + 1) * n].iter_mut().zip(&mut hi[..n]) {
        (*x, *y) = (c * *x - s * *y, s * *x + c * *y);
    }
}

/// Eigenvectors of the symmetric `n × n` matrix `a` (destroyed), as rows of an `n × n` f32
/// matrix ordered by decreasing eigenvalue.
fn jacobi_eigenvectors(a: &mut [f64], n: usize) -> Vec<f32> {
    // vt: rows are the current axes (the transpose of the accumulated rotation).
    let mut vt = vec![0f64; n * n];
    (0..n).for_each(|i| vt[i * n + i] = 1.0);
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _ in 0..MAX_SWEEPS {
        let off: f64 =
            (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).map(|(i, j)| a[i * n + j].powi(2)).sum();
        if off <= 1e-18 * total {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                let (app, aqq) = (a[p * n + p], a[q * n + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // Rows p and q of Jᵀ A J (the columns follow by symmetry).
                rotate_pair(a, n, p, q, c, s);
                a[p * n + p] = app - t * apq;
                a[q * n + q] = aqq + t * apq;
                a[p * n + q] = 0.0;
                a[q * n + p] = 0.0;
                for k in 0..n {
                    if k != p && k != q {
                        a[k * n + p] = a[p * n + k];
                        a[k * n + q] = a[q * n + k];
                    }
                }
                rotate_pair(&mut vt, n, p, q, c, s);
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j * n + j].total_cmp(&a[i * n + i]));
    let mut out = Vec::with_capacity(n * n);
    for i in order {
        let row = &vt[i * n..(i + 1) * n];
        let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
        out.extend(row.iter().map(|&x| (x / norm) as f32));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn axes_are_orthonormal_sorted_and_preserve_scores() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let dim = 48;
        // Anisotropic data: component i scaled by 1/(1+i), then mixed by a fixed random map.
        let mix: Vec<f32> = (0..dim * dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let mut data: Vec<f32> = Vec::with_capacity(2000 * dim);
        for _ in 0..2000 {
            let z: Vec<f32> = (0..dim).map(|i| rng.gen_range(-1.0f32..1.0) / (1.0 + i as f32)).collect();
            let x: Vec<f32> =
                (0..dim).map(|r| (0..dim).map(|c| mix[r * dim + c] * z[c]).sum::<f32>()).collect();
            let norm = x.iter().map(|v| v * v).sum::<f32>().sqrt();
            data.extend(x.iter().map(|v| v / norm)); // prepared for cosine: unit rows
        }
        let rot = Rotation::fit(Metric::Cosine, dim, &[&data]);
        for i in 0..dim {
            for j in 0..dim {
                let d: f32 = (0..dim).map(|k| rot.rows[i * dim + k] * rot.rows[j * dim + k]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((d - want).abs() < 1e-4, "axes {i},{j}: {d}");
            }
        }
        let (a, b) = (&data[..dim], &data[dim..2 * dim]);
        let rotated = rot.rotated(&[a, b]);
        let (ra, rb) = rotated.split_at(dim);
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        assert!((dot(a, b) - dot(ra, rb)).abs() < 1e-4);
        let back = rot.invert(ra);
        assert!(a.iter().zip(&back).all(|(x, y)| (x - y).abs() < 1e-4));
        // Energy concentrates in the first axes.
        let mut moved = data.clone();
        rot.rotate_rows(&mut moved);
        let energy = |range: std::ops::Range<usize>| -> f32 {
            moved.chunks_exact(dim).map(|r| r[range.clone()].iter().map(|x| x * x).sum::<f32>()).sum()
        };
        assert!(energy(0..dim / 4) > 3.0 * energy(3 * dim / 4..dim));
    }
}
