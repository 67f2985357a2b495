//! Bounded best-k selection with a total order: score descending, then id ascending, so equal
//! scores come out in a deterministic order (the same tie rule as the benchmark ground truth).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A candidate ordered so that the *worse* one is greater (a max-heap of these keeps the worst
/// on top, ready to be evicted).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Worst<T: Ord + Copy> {
    pub score: f32,
    pub key: T,
}

impl<T: Ord + Copy> PartialEq for Worst<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T: Ord + Copy> Eq for Worst<T> {}
impl<T: Ord + Copy> PartialOrd for Worst<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T: Ord + Copy> Ord for Worst<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        other.score.total_cmp(&self.score).then(self.key.cmp(&other.key))
    }
}

/// Keeps the best `k` of everything pushed.
pub(crate) struct TopK<T: Ord + Copy> {
    k: usize,
    heap: BinaryHeap<Worst<T>>,
}

impl<T: Ord + Copy> TopK<T> {
    pub fn new(k: usize) -> Self {
        TopK { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    #[inline]
    pub fn push(&mut self, score: f32, key: T) {
        if self.k == 0 {
            return;
        }
        let item = Worst { score, key };
        if self.heap.len() < self.k {
            self.heap.push(item);
        } else if let Some(mut top) = self.heap.peek_mut() {
            if item < *top {
                *top = item;
            }
        }
    }

    /// Best first.
    pub fn into_sorted(self) -> Vec<(f32, T)> {
        self.heap.into_sorted_vec().into_iter().map(|w| (w.score, w.key)).collect()
    }
}
