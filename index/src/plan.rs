//! The planner's one rule, used by every backend and by the service: a filtered search scores
//! the allowed points exactly instead of walking an index when few of them pass — at most
//! `threshold`, or at most 5% of the live points. Below that, a walk visits mostly rejected
//! points; an exact scan of a few costs less and finds all `k`.

/// Whether `matches` allowed points out of `live` are better scanned exactly.
pub fn prefers_scan(matches: usize, live: usize, threshold: usize) -> bool {
    matches <= threshold || matches.saturating_mul(20) <= live
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_or_a_twentieth_scan() {
        assert!(prefers_scan(100, 1_000_000, 100));
        assert!(prefers_scan(50_000, 1_000_000, 100));
        assert!(!prefers_scan(50_001, 1_000_000, 100));
        assert!(prefers_scan(0, 0, 0));
    }
}
