//! How texts of mixed lengths are split into model runs: the cost model the model uses to split
//! a batch, and the batcher to choose which queued texts run together.

/// Padded tokens (texts × longest) one model run takes at most: a run's working memory grows
/// with it (attention is `heads × tokens × longest` per run), and ONNX Runtime's arena keeps the
/// largest it has needed.
pub const MAX_RUN_TOKENS: usize = 4096;

/// What one model run costs beyond its padded tokens, in tokens: on all-MiniLM-L6-v2 int8 a
/// run of one 23-token text takes as long as ~33 tokens of a large batch, on one thread or two.
pub const RUN_OVERHEAD_TOKENS: usize = 10;

/// Tokens a text counts as one of in a lane's bound (`embedding.max_queued`): a longer text
/// counts once per this many, so the bound holds about as much work whatever the texts' length
/// (a text of the model's whole window of 256 tokens costs ~20 times one of 20).
pub const QUEUE_UNIT_TOKENS: usize = 32;

/// What a text of `tokens` counts as in a lane's bound.
pub fn queue_units(tokens: usize) -> usize {
    tokens.div_ceil(QUEUE_UNIT_TOKENS).max(1)
}

/// Splits indices sorted by length into runs that cost the least in all: each run costs
/// [`RUN_OVERHEAD_TOKENS`] plus its padded tokens (count × longest), holds at most `max_count`
/// texts and at most [`MAX_RUN_TOKENS`] padded tokens (a longer text runs alone).
pub fn padding_groups(sorted: &[usize], len: impl Fn(usize) -> usize, max_count: usize) -> Vec<Vec<usize>> {
    let lens: Vec<usize> = sorted.iter().map(|&i| len(i).max(1)).collect();
    let n = lens.len();
    let max_count = max_count.max(1);
    // best[j]: the least cost of the first j texts; cut[j]: where the last run of those starts.
    let mut best = vec![usize::MAX; n + 1];
    let mut cut = vec![0usize; n + 1];
    best[0] = 0;
    for j in 1..=n {
        for i in (j.saturating_sub(max_count)..j).rev() {
            let padded = (j - i) * lens[j - 1];
            if padded > MAX_RUN_TOKENS && i + 1 < j {
                break;
            }
            let cost = best[i] + RUN_OVERHEAD_TOKENS + padded;
            if cost < best[j] {
                best[j] = cost;
                cut[j] = i;
            }
        }
    }
    let mut groups = Vec::new();
    let mut j = n;
    while j > 0 {
        groups.push(sorted[cut[j]..j].to_vec());
        j = cut[j];
    }
    groups.reverse();
    groups
}

#[cfg(test)]
mod tests {
    use super::{padding_groups, queue_units, MAX_RUN_TOKENS, RUN_OVERHEAD_TOKENS};

    #[test]
    fn a_text_counts_once_per_32_tokens_in_the_queue_bound() {
        assert_eq!([0, 1, 23, 32, 33, 64, 256].map(queue_units), [1, 1, 1, 1, 2, 2, 8]);
    }

    /// The cheapest split into runs of at most `max_count`, by trying every split of a short list.
    fn brute_force(lens: &[usize], max_count: usize) -> usize {
        let n = lens.len();
        (0u32..1 << (n - 1))
            .filter_map(|cuts| {
                let (mut cost, mut start) = (0, 0);
                for j in 1..=n {
                    if j == n || cuts & (1 << (j - 1)) != 0 {
                        if j - start > max_count {
                            return None;
                        }
                        cost += RUN_OVERHEAD_TOKENS + (j - start) * lens[j - 1];
                        start = j;
                    }
                }
                Some(cost)
            })
            .min()
            .unwrap()
    }

    fn cost(groups: &[Vec<usize>], lens: &[usize]) -> usize {
        groups.iter().map(|g| RUN_OVERHEAD_TOKENS + g.len() * g.iter().map(|&i| lens[i]).max().unwrap()).sum()
    }

    #[test]
    fn groups_keep_every_index_once_at_the_least_cost() {
        let lens = [3usize, 3, 4, 5, 9, 10, 12, 30, 31, 80];
        let order: Vec<usize> = (0..lens.len()).collect();
        for max_count in [usize::MAX, 3, 1] {
            let groups = padding_groups(&order, |i| lens[i], max_count);
            let seen: Vec<usize> = groups.iter().flatten().copied().collect();
            assert_eq!(seen, order, "every index once, in order");
            assert!(groups.iter().all(|g| g.len() <= max_count), "{groups:?}");
            assert_eq!(cost(&groups, &lens), brute_force(&lens, max_count), "{groups:?}");
        }
        let groups = padding_groups(&order, |i| lens[i], usize::MAX);
        assert!(groups.len() > 1 && groups.len() < lens.len(), "{groups:?}");
        let same = vec![20usize; 32];
        let order: Vec<usize> = (0..same.len()).collect();
        assert_eq!(padding_groups(&order, |i| same[i], usize::MAX).len(), 1, "equal lengths run together");
        assert_eq!(padding_groups(&order, |i| same[i], 8).len(), 4, "at most max_count a run");
        let long = vec![256usize; 100];
        let order: Vec<usize> = (0..long.len()).collect();
        let groups = padding_groups(&order, |i| long[i], usize::MAX);
        assert!(groups.iter().all(|g| g.len() * 256 <= MAX_RUN_TOKENS), "{groups:?}");
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 100);
        assert_eq!(padding_groups(&[], |_| 1, usize::MAX), Vec::<Vec<usize>>::new());
    }
}
