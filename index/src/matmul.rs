//! `out = X · Aᵀ`: every row of `X` dotted with every axis of `A`, the basis change of
//! [`crate::rotation`]. A 384-d basis is 590 KB, so rotating queries one dot product at a time
//! streams the whole matrix from L2 per query and pays a call and a horizontal sum per output.
//! The AVX-512 kernel computes tiles of 4 rows × 4
//! axes in registers: every load feeds four products, a batch reads the matrix once per four
//! rows, and each output costs one horizontal sum.
#![allow(unsafe_code)]

/// `out[i · n_axes + j] = rows[i] · axes[j · dim..(j + 1) · dim]`, `n_axes = axes.len() / dim`.
pub(crate) fn rows_dot_axes(rows: &[&[f32]], axes: &[f32], dim: usize, out: &mut [f32]) {
    let n_axes = axes.len() / dim.max(1);
    assert!(
        rows.iter().all(|r| r.len() == dim) && axes.len() == n_axes * dim && out.len() == rows.len() * n_axes,
        "rows_dot_axes: shapes disagree"
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked above); the shapes were checked above.
        unsafe { avx512::rows_dot_axes(rows, axes, dim, n_axes, out) };
        return;
    }
    portable(rows, axes, dim, n_axes, out);
}

fn portable(rows: &[&[f32]], axes: &[f32], dim: usize, n_axes: usize, out: &mut [f32]) {
    for (row, out) in rows.iter().zip(out.chunks_exact_mut(n_axes)) {
        for (o, axis) in out.iter_mut().zip(axes.chunks_exact(dim)) {
            *o = crate::distance::dot_f32(row, axis);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// Rows and axes per tile: 16 accumulators + 4 axis registers + 1 row register of 32.
    const T: usize = 4;

    /// # Safety
    /// AVX-512F present; every row is `dim` long, `axes` is `n_axes × dim`, `out` is
    /// `rows.len() × n_axes`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn rows_dot_axes(rows: &[&[f32]], axes: &[f32], dim: usize, n_axes: usize, out: &mut [f32]) {
        let full_axes = n_axes / T * T;
        let mut tiles = rows.chunks_exact(T);
        for (g, group) in tiles.by_ref().enumerate() {
            let out = &mut out[g * T * n_axes..(g + 1) * T * n_axes];
            // SAFETY (all four calls): the caller's shapes; `j` stays within the axes.
            for j in (0..full_axes).step_by(T) {
                unsafe { tile::<T, T>(group, axes, dim, n_axes, j, out) };
            }
            for j in full_axes..n_axes {
                unsafe { tile::<T, 1>(group, axes, dim, n_axes, j, out) };
            }
        }
        let done = rows.len() / T * T;
        for (r, row) in tiles.remainder().iter().enumerate() {
            let out = &mut out[(done + r) * n_axes..(done + r + 1) * n_axes];
            let row = std::slice::from_ref(row);
            for j in (0..full_axes).step_by(T) {
                unsafe { tile::<1, T>(row, axes, dim, n_axes, j, out) };
            }
            for j in full_axes..n_axes {
                unsafe { tile::<1, 1>(row, axes, dim, n_axes, j, out) };
            }
        }
    }

    /// `out[r · n_axes + j + a] = rows[r] · axis(j + a)` for `r < R`, `a < A`.
    ///
    /// # Safety
    /// AVX-512F present; `rows.len() >= R`, each `dim` long; axes `j..j + A` exist; `out`
    /// holds `R × n_axes`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tile<const R: usize, const A: usize>(
        rows: &[&[f32]],
        axes: &[f32],
        dim: usize,
        n_axes: usize,
        j: usize,
        out: &mut [f32],
    ) {
        let mut acc = [[_mm512_setzero_ps(); A]; R];
        let mut axis = [_mm512_setzero_ps(); A];
        let mut c = 0;
        while c < dim {
            // Lanes `0..dim - c` of 16: the last chunk of a dimension that is not a multiple.
            let m = if dim - c >= 16 { u16::MAX } else { ((1u32 << (dim - c)) - 1) as u16 };
            for (a, v) in axis.iter_mut().enumerate() {
                // SAFETY: axis j + a exists and masked lanes stay below its end.
                *v = unsafe { _mm512_maskz_loadu_ps(m, axes.as_ptr().add((j + a) * dim + c)) };
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: row r is `dim` long; masked lanes stay below its end.
                let x = unsafe { _mm512_maskz_loadu_ps(m, rows[r].as_ptr().add(c)) };
                for (acc, &v) in acc.iter_mut().zip(&axis) {
                    *acc = _mm512_fmadd_ps(x, v, *acc);
                }
            }
            c += 16;
        }
        for (r, acc) in acc.iter().enumerate() {
            for (a, &v) in acc.iter().enumerate() {
                out[r * n_axes + j + a] = _mm512_reduce_add_ps(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Every tile shape and tail: row counts around the tile size, dimensions that are and are
    /// not multiples of 16, axis counts that are and are not multiples of 4.
    #[test]
    fn matches_plain_dot_products() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for &(n, dim, n_axes) in &[(1, 16, 4), (3, 20, 5), (4, 384, 384), (9, 130, 7), (6, 5, 3), (0, 8, 8)] {
            let rows: Vec<Vec<f32>> =
                (0..n).map(|_| (0..dim).map(|_| rng.gen_range(-1.0..1.0)).collect()).collect();
            let axes: Vec<f32> = (0..n_axes * dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
            let mut got = vec![f32::NAN; n * n_axes];
            rows_dot_axes(&refs, &axes, dim, &mut got);
            let mut want = vec![0f32; n * n_axes];
            portable(&refs, &axes, dim, n_axes, &mut want);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() < 1e-4 * (1.0 + w.abs()),
                    "n {n} dim {dim} axes {n_axes} [{i}]: {g} vs {w}"
                );
            }
        }
    }
}
