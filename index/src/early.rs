//! Early-abandoning f32 scores: a graph walk only needs a neighbour's exact score when it beats
//! the walk's current bound (the worst of its `ef` results); most neighbours do not. These
//! kernels read a vector in blocks of [`block`] components and stop as soon as an upper bound
//! on the score proves it cannot beat the threshold, so a rejected neighbour costs a fraction
//! of its cache lines. A score that is returned is exact; a neighbour that is abandoned would
//! have been rejected by the full computation — the walk and its results are unchanged.
//!
//! - Unit vectors (`Cosine`): after `h` components,
//!   `q·x ≤ q[..h]·x[..h] + ‖q[h..]‖ · ‖x[h..]‖` (Cauchy–Schwarz), with
//!   `‖x[h..]‖² = 1 − ‖x[..h]‖²`.
//! - `L2`: `‖q − x‖²` only grows with more components, so `−‖q[..h] − x[..h]‖²` bounds the score.
//!
//! The bounds are tight when the vectors' energy sits in their first components, which is what
//! [`crate::rotation::Rotation`] arranges. A safety margin far above f32 rounding keeps an
//! abandoned score provably below the threshold.
#![allow(unsafe_code)]

/// Checkpoints a query carries (dimensions up to `block · (MAX_CHECKS + 1)` are bounded).
const MAX_CHECKS: usize = 15;
/// A unit vector's squared norm in f32 is 1 within ~d·2⁻²⁴; assume at most this much.
const NORM_SLACK: f32 = 1e-4;
/// Abandon only when the bound is this far below the threshold (cosine scores are in [-1, 1]).
const DOT_MARGIN: f32 = 1e-4;
/// Relative margin for squared distances.
const L2_MARGIN: f32 = 1e-4;

/// Components per block of a `dim`-wide score; the bound is checked after every block but the
/// last. A check is a data-dependent branch, mispredicted whenever it abandons, and it stalls
/// the loads running ahead of the sums, so wide vectors are checked less often (every 128
/// components from 256 dims on); a 128-d vector needs blocks of 64 to be checked at all.
pub(crate) fn block(dim: usize) -> usize {
    if dim >= 256 {
        128
    } else {
        64
    }
}

/// Where a `dim`-wide score is checked: after each of the first `count` blocks of `block`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Checks {
    pub count: usize,
    pub block: usize,
}

/// The checkpoints of a `dim`-wide score: `None` for one block (nothing to abandon) or more
/// than [`MAX_CHECKS`].
pub(crate) fn checkpoints(dim: usize) -> Option<Checks> {
    let block = block(dim);
    let count = dim.div_ceil(block).saturating_sub(1);
    (1..=MAX_CHECKS).contains(&count).then_some(Checks { count, block })
}

/// The query's side of the bound: `‖q[(i+1)·block..]‖` for every checkpoint `i`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueryTails {
    tails: [f32; MAX_CHECKS],
    checks: Checks,
}

impl QueryTails {
    /// `None` when the dimension has no checkpoints (see [`checkpoints`]).
    pub fn new(query: &[f32]) -> Option<Self> {
        let checks = checkpoints(query.len())?;
        let block = checks.block;
        let mut tails = [0f32; MAX_CHECKS];
        let mut sum = 0f64;
        for i in (0..checks.count).rev() {
            let end = ((i + 2) * block).min(query.len());
            sum += query[(i + 1) * block..end].iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
            tails[i] = sum.sqrt() as f32;
        }
        Some(QueryTails { tails, checks })
    }
}

/// `q·x` of unit vectors when it may exceed `threshold`; `None` once it provably cannot.
#[inline]
pub(crate) fn dot_above(q: &[f32], x: &[f32], tails: &QueryTails, threshold: f32) -> Option<f32> {
    let x = &x[..q.len()];
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked above), and `x` was cut to `q`'s length.
        return unsafe { avx512::dot_above(q, x, tails, threshold) };
    }
    portable::dot_above(q, x, tails, threshold)
}

/// `−‖q − x‖²` when it may exceed `threshold`; `None` once it provably cannot.
#[inline]
pub(crate) fn neg_l2_above(q: &[f32], x: &[f32], checks: Checks, threshold: f32) -> Option<f32> {
    let x = &x[..q.len()];
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: as in `dot_above`.
        return unsafe { avx512::neg_l2_above(q, x, checks, threshold) };
    }
    portable::neg_l2_above(q, x, checks, threshold)
}

#[inline(always)]
fn dot_abandons(dot: f32, head_norm2: f32, q_tail: f32, threshold: f32) -> bool {
    dot + q_tail * (1.0 + NORM_SLACK - head_norm2).max(0.0).sqrt() < threshold - DOT_MARGIN
}

#[inline(always)]
fn l2_abandons(partial: f32, threshold: f32) -> bool {
    // threshold = −‖q − x‖² of the bound, ≤ 0.
    -partial * (1.0 - L2_MARGIN) < threshold
}

mod portable {
    use super::*;

    fn block_sums(q: &[f32], x: &[f32], acc: &mut [f32; 16], xx: &mut [f32; 16], l2: bool) {
        for (qc, xc) in q.chunks(16).zip(x.chunks(16)) {
            for l in 0..qc.len() {
                if l2 {
                    let d = qc[l] - xc[l];
                    acc[l] += d * d;
                } else {
                    acc[l] += qc[l] * xc[l];
                    xx[l] += xc[l] * xc[l];
                }
            }
        }
    }

    pub fn dot_above(q: &[f32], x: &[f32], tails: &QueryTails, threshold: f32) -> Option<f32> {
        let (mut acc, mut xx) = ([0f32; 16], [0f32; 16]);
        let block = tails.checks.block;
        for (b, (qb, xb)) in q.chunks(block).zip(x.chunks(block)).enumerate() {
            block_sums(qb, xb, &mut acc, &mut xx, false);
            if b < tails.checks.count
                && dot_abandons(acc.iter().sum(), xx.iter().sum(), tails.tails[b], threshold)
            {
                return None;
            }
        }
        Some(acc.iter().sum())
    }

    pub fn neg_l2_above(q: &[f32], x: &[f32], checks: Checks, threshold: f32) -> Option<f32> {
        let (mut acc, mut unused) = ([0f32; 16], [0f32; 16]);
        for (b, (qb, xb)) in q.chunks(checks.block).zip(x.chunks(checks.block)).enumerate() {
            block_sums(qb, xb, &mut acc, &mut unused, true);
            if b < checks.count && l2_abandons(acc.iter().sum(), threshold) {
                return None;
            }
        }
        Some(-acc.iter().sum::<f32>())
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;
    use std::arch::x86_64::*;

    /// Lanes `0..n` of 16 (a tail shorter than a register).
    #[inline(always)]
    fn mask(n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }

    /// # Safety
    /// AVX-512F present; `x.len() >= q.len()`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_above(q: &[f32], x: &[f32], tails: &QueryTails, threshold: f32) -> Option<f32> {
        let n = q.len();
        let (qp, xp) = (q.as_ptr(), x.as_ptr());
        let mut acc = _mm512_setzero_ps();
        let mut xx = _mm512_setzero_ps();
        let Checks { count, block: width } = tails.checks;
        let (mut i, mut block, mut next) = (0, 0, width);
        while i + 16 <= n {
            // SAFETY: i + 16 <= n <= both lengths.
            let (qv, xv) = unsafe { (_mm512_loadu_ps(qp.add(i)), _mm512_loadu_ps(xp.add(i))) };
            acc = _mm512_fmadd_ps(qv, xv, acc);
            xx = _mm512_fmadd_ps(xv, xv, xx);
            i += 16;
            if i == next && block < count {
                let (dot, head) = (_mm512_reduce_add_ps(acc), _mm512_reduce_add_ps(xx));
                if dot_abandons(dot, head, tails.tails[block], threshold) {
                    return None;
                }
                block += 1;
                next += width;
            }
        }
        if i < n {
            let m = mask(n - i);
            // SAFETY: masked loads touch only lanes below n - i.
            let (qv, xv) =
                unsafe { (_mm512_maskz_loadu_ps(m, qp.add(i)), _mm512_maskz_loadu_ps(m, xp.add(i))) };
            acc = _mm512_fmadd_ps(qv, xv, acc);
        }
        Some(_mm512_reduce_add_ps(acc))
    }

    /// # Safety
    /// AVX-512F present; `x.len() >= q.len()`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn neg_l2_above(q: &[f32], x: &[f32], checks: Checks, threshold: f32) -> Option<f32> {
        let n = q.len();
        let (qp, xp) = (q.as_ptr(), x.as_ptr());
        let mut acc = _mm512_setzero_ps();
        let Checks { count, block: width } = checks;
        let (mut i, mut block, mut next) = (0, 0, width);
        while i + 16 <= n {
            // SAFETY: i + 16 <= n <= both lengths.
            let d = unsafe { _mm512_sub_ps(_mm512_loadu_ps(qp.add(i)), _mm512_loadu_ps(xp.add(i))) };
            acc = _mm512_fmadd_ps(d, d, acc);
            i += 16;
            if i == next && block < count {
                if l2_abandons(_mm512_reduce_add_ps(acc), threshold) {
                    return None;
                }
                block += 1;
                next += width;
            }
        }
        if i < n {
            let m = mask(n - i);
            // SAFETY: masked loads touch only lanes below n - i.
            let d = unsafe {
                _mm512_sub_ps(_mm512_maskz_loadu_ps(m, qp.add(i)), _mm512_maskz_loadu_ps(m, xp.add(i)))
            };
            acc = _mm512_fmadd_ps(d, d, acc);
        }
        Some(-_mm512_reduce_add_ps(acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn unit(rng: &mut impl Rng, dim: usize, decay: f32) -> Vec<f32> {
        // Energy decaying along the components, like rotated embeddings.
        let mut v: Vec<f32> =
            (0..dim).map(|i| rng.gen_range(-1.0f32..1.0) * (-decay * i as f32).exp()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }

    /// The property the walk relies on: abandoned ⇒ the exact score is below the threshold;
    /// returned ⇒ the exact score (to rounding).
    #[test]
    fn abandons_only_scores_below_the_threshold() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut abandoned = 0;
        for &dim in &[65usize, 128, 200, 384, 960] {
            for _ in 0..400 {
                let decay = rng.gen_range(0.0f32..0.05);
                let (q, x) = (unit(&mut rng, dim, decay), unit(&mut rng, dim, decay));
                let exact_dot: f32 = q.iter().zip(&x).map(|(a, b)| a * b).sum();
                let exact_l2: f32 = q.iter().zip(&x).map(|(a, b)| (a - b) * (a - b)).sum();
                let tails = QueryTails::new(&q).expect("dims with checkpoints");
                let checks = tails.checks;
                for threshold in [exact_dot - 0.05, exact_dot - 1e-6, exact_dot + 1e-6, exact_dot + 0.05] {
                    let both = [
                        dot_above(&q, &x, &tails, threshold),
                        portable::dot_above(&q, &x, &tails, threshold),
                    ];
                    for got in both {
                        match got {
                            Some(s) => assert!((s - exact_dot).abs() < 1e-4, "dim {dim}: {s} vs {exact_dot}"),
                            None => {
                                abandoned += 1;
                                assert!(
                                    exact_dot < threshold,
                                    "dim {dim}: abandoned {exact_dot} >= {threshold}"
                                );
                            }
                        }
                    }
                }
                for threshold in [-exact_l2 * 1.2, -exact_l2 * 0.99999, -exact_l2 * 0.8] {
                    let both = [
                        neg_l2_above(&q, &x, checks, threshold),
                        portable::neg_l2_above(&q, &x, checks, threshold),
                    ];
                    for got in both {
                        match got {
                            Some(s) => assert!((s + exact_l2).abs() < 1e-4, "dim {dim}: {s} vs {exact_l2}"),
                            None => {
                                abandoned += 1;
                                assert!(-exact_l2 < threshold, "dim {dim}: abandoned {exact_l2}");
                            }
                        }
                    }
                }
            }
        }
        assert!(abandoned > 1000, "the bound should prune clear losers: {abandoned}");
    }

    #[test]
    fn no_checkpoints_for_one_block() {
        assert!(QueryTails::new(&[0.5; 64]).is_none());
        assert!(QueryTails::new(&[0.5; 65]).is_some());
        assert!(QueryTails::new(&[0.5; 255]).is_some_and(|t| t.checks.block == 64 && t.checks.count == 3));
        assert!(QueryTails::new(&[0.5; 256]).is_some_and(|t| t.checks.block == 128 && t.checks.count == 1));
        assert!(QueryTails::new(&vec![0.01; 128 * (MAX_CHECKS + 2)]).is_none());
    }
}
