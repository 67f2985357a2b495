//! Insertion: Malkov & Yashunin's algorithm with the neighbour-selection heuristic (hnswlib's
//! `getNeighborsByHeuristic2`). Many offsets are linked at once from rayon workers; each node's
//! lists change only under that node's lock, and no thread holds two node locks at a time.

use super::graph::{Graph, MAX_M0};
use super::search::{descend, search_level, Beam, F32Scorer, Scorer};
use super::visited::VisitedPool;
use super::Hnsw;
use crate::types::Offset;

impl Hnsw {
    /// Links offset `q`, whose vector and empty lists are already in `graph`.
    pub(super) fn link(&self, graph: &Graph, q: Offset, pool: &VisitedPool) {
        let level = graph.levels[q as usize] as usize;
        let store = &graph.store;
        let scorer = F32Scorer::new(store.metric, store.vector(q), &store.vectors, store.dim);

        // A node that will become the new top holds the entry lock for its whole insertion
        // (as hnswlib does), so two new tops cannot race.
        let mut entry_guard = None;
        let (entry, top) = loop {
            match graph.entry() {
                Some((entry, top)) if level <= top || entry_guard.is_some() => break (entry, top),
                Some(_) => entry_guard = Some(self.entry_lock.lock()),
                None => {
                    let _guard = self.entry_lock.lock();
                    if graph.entry().is_none() {
                        graph.set_entry(q, level);
                        return;
                    }
                }
            }
        };

        // Phase 1: choose q's neighbours on every level and write q's own lists. Nobody links
        // to q yet, so no other thread can reach q and find a list still empty (it would then
        // link only to q, and q's own write would erase that link: a node nobody reaches).
        let mut best = descend(graph, &scorer, (entry, scorer.score(entry)), top, level);
        let mut visited = pool.get(store.offsets());
        let mut chosen: Vec<(usize, Vec<Offset>)> = Vec::with_capacity(level.min(top) + 1);
        for lev in (0..=level.min(top)).rev() {
            visited.reset(store.offsets());
            let beam = Beam { ef: self.params.ef_construction, level: lev, fill: true };
            let found = search_level(graph, &scorer, best, beam, &mut visited, None::<fn(Offset) -> bool>);
            let candidates: Vec<(f32, Offset)> = found
                .into_sorted_vec()
                .into_iter()
                .filter(|w| w.key != q)
                .map(|w| (w.score, w.key))
                .collect();
            let Some(&(score, closest)) = candidates.first() else { continue };
            best = (closest, score);
            let selected = self.select_neighbours(graph, &candidates, graph.m);
            {
                let _lock = graph.locks[q as usize].lock();
                graph.set_neighbours(q, lev, &selected);
            }
            chosen.push((lev, selected));
        }
        drop(visited);
        // Phase 2: make q reachable. Links other threads add to q from now on go through
        // `add_reverse_link`, under q's lock, and are kept.
        for (lev, selected) in chosen {
            for nb in selected {
                self.add_reverse_link(graph, nb, q, lev);
            }
        }
        if level > top {
            graph.set_entry(q, level);
        }
        drop(entry_guard);
    }

    /// The heuristic: walking candidates best first, keep one only if it is closer to the new
    /// node than to every neighbour kept so far (so links spread in all directions).
    fn select_neighbours(&self, graph: &Graph, candidates: &[(f32, Offset)], max: usize) -> Vec<Offset> {
        let store = &graph.store;
        let mut selected: Vec<Offset> = Vec::with_capacity(max);
        for &(score, c) in candidates {
            if selected.len() >= max {
                break;
            }
            let cv = store.vector(c);
            if selected.iter().all(|&s| store.metric.score(cv, store.vector(s)) <= score) {
                selected.push(c);
            }
        }
        selected
    }

    fn add_reverse_link(&self, graph: &Graph, nb: Offset, q: Offset, level: usize) {
        let _lock = graph.locks[nb as usize].lock();
        let mut buf = [0u32; MAX_M0];
        let count = graph.neighbours(nb, level, &mut buf);
        if buf[..count].contains(&q) {
            return;
        }
        let max = graph.max_links(level);
        if count < max {
            buf[count] = q;
            graph.set_neighbours(nb, level, &buf[..count + 1]);
            return;
        }
        let store = &graph.store;
        let nv = store.vector(nb);
        let mut candidates: Vec<(f32, Offset)> = buf[..count]
            .iter()
            .chain(std::iter::once(&q))
            .map(|&o| (store.metric.score(nv, store.vector(o)), o))
            .collect();
        candidates.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let kept = self.select_neighbours(graph, &candidates, max);
        graph.set_neighbours(nb, level, &kept);
    }
}
