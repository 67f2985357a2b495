//! Insertion: Malkov & Yashunin's algorithm with the neighbour-selection heuristic (hnswlib's
//! `getNeighborsByHeuristic2`). Many offsets are linked at once from rayon workers; each node's
//! lists change only under that node's lock, and no thread holds two node locks at a time.
//!
//! The heuristic prunes a full list when a new node is added to it, and may drop the last link
//! that reaches some point (or leave the new node out of every list it was offered to). Which
//! points that strands depends on the order of insertion, so a parallel build did so at random.
//! Every linked point therefore has a *keeper* (`Graph::keepers`), a node reachable from the
//! entry point whose level-0 list may not drop it: level 0 stays connected.

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
        let mut nearest: Vec<Offset> = Vec::new();
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
            if lev == 0 {
                // Where q looks for a keeper: its neighbours first, then the other candidates.
                nearest = selected.clone();
                nearest.extend(candidates.iter().map(|&(_, c)| c).filter(|c| !selected.contains(c)));
            }
            chosen.push((lev, selected));
        }
        drop(visited);
        // Phase 2: make q reachable. Links other threads add to q from now on go through
        // `add_reverse_link`, under q's lock, and are kept. Then q gets its keeper (see
        // `Graph::keepers`), so no later pruning can leave it unreachable.
        for (lev, selected) in &chosen {
            for &nb in selected {
                self.add_reverse_link(graph, nb, q, *lev);
            }
        }
        self.anchor(graph, q, &nearest);
        if level > top {
            // The old entry point stays reachable from the new one: q keeps it.
            let kept = self.keep(graph, entry, q, true);
            debug_assert!(kept, "a new node's list is full of points it keeps");
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

    /// Adds `q` to the list of `nb` at `level`, pruning a full list with the heuristic. On
    /// level 0 the heuristic may not drop a point `nb` keeps (see `Graph::keepers`): such a
    /// point stays, and the worst of the others goes instead (q, at the latest).
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
        let candidates = self.by_closeness(graph, nb, buf[..count].iter().chain(std::iter::once(&q)));
        let mut kept = self.select_neighbours(graph, &candidates, max);
        if level == 0 {
            let kept_by_nb = |o: Offset| graph.keeper(o) == Some(nb);
            for &(_, o) in &candidates {
                if kept_by_nb(o) && !kept.contains(&o) {
                    kept.push(o);
                }
            }
            if kept.len() > max {
                let (_, gone) = *candidates
                    .iter()
                    .rev()
                    .find(|&&(_, o)| !kept_by_nb(o))
                    .expect("q is kept by nobody yet");
                kept.retain(|&o| o != gone);
            }
        }
        graph.set_neighbours(nb, level, &kept);
    }

    /// `offsets` with their scores against `nb`, closest first.
    fn by_closeness<'a>(
        &self,
        graph: &Graph,
        nb: Offset,
        offsets: impl Iterator<Item = &'a Offset>,
    ) -> Vec<(f32, Offset)> {
        let store = &graph.store;
        let nv = store.vector(nb);
        let mut scored: Vec<(f32, Offset)> =
            offsets.map(|&o| (store.metric.score(nv, store.vector(o)), o)).collect();
        scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored
    }

    /// Gives `q` a keeper (see `Graph::keepers`) among `nearest` (its level-0 neighbours,
    /// then the other candidates its search found) that are themselves anchored: one that
    /// lists q already if any, else one that makes room for it (one with room to spare
    /// first). Among those, the one keeping the fewest points, so no list (a hub's, under the
    /// dot metric) fills with points it may not prune.
    fn anchor(&self, graph: &Graph, q: Offset, nearest: &[Offset]) {
        let mut buf = [0u32; MAX_M0];
        // A candidate may still be being linked by another thread (reachable, not yet
        // anchored): it will be soon. Every list full of kept points is all but impossible.
        for pass in 0..1000 {
            for make_room in [false, true] {
                // (list full, points kept, position) of each candidate, read without locks: a
                // hint that `keep` checks under the lock. A list with room loses no link.
                let mut order: Vec<(bool, usize, usize)> = nearest
                    .iter()
                    .enumerate()
                    .filter(|&(_, &nb)| graph.anchored(nb))
                    .filter_map(|(i, &nb)| {
                        let count = graph.neighbours(nb, 0, &mut buf);
                        let list = &buf[..count];
                        let kept = list.iter().filter(|&&x| graph.keeper(x) == Some(nb)).count();
                        let full = count >= graph.max_links(0);
                        (list.contains(&q) != make_room && kept < graph.max_links(0))
                            .then_some((full, kept, i))
                    })
                    .collect();
                order.sort_unstable();
                if order.iter().any(|&(_, _, i)| self.keep(graph, q, nearest[i], make_room)) {
                    return;
                }
            }
            if pass > 0 {
                std::thread::yield_now();
            }
        }
        debug_assert!(false, "no candidate could keep offset {q}");
    }

    /// Makes `keeper` keep `o` at level 0. When its list does not hold `o` yet, with
    /// `make_room` puts `o` in it (in place of the farthest point it does not keep), else
    /// fails; fails too when every point in the full list is kept.
    fn keep(&self, graph: &Graph, o: Offset, keeper: Offset, make_room: bool) -> bool {
        let _lock = graph.locks[keeper as usize].lock();
        let mut buf = [0u32; MAX_M0];
        let count = graph.neighbours(keeper, 0, &mut buf);
        if !buf[..count].contains(&o) {
            if !make_room {
                return false;
            }
            if count < graph.max_links(0) {
                buf[count] = o;
                graph.set_neighbours(keeper, 0, &buf[..count + 1]);
            } else {
                let listed = self.by_closeness(graph, keeper, buf[..count].iter());
                let Some(&(_, gone)) = listed.iter().rev().find(|&&(_, x)| graph.keeper(x) != Some(keeper))
                else {
                    return false;
                };
                let slot = buf[..count].iter().position(|&x| x == gone).expect("listed");
                buf[slot] = o;
                graph.set_neighbours(keeper, 0, &buf[..count]);
            }
        }
        graph.set_keeper(o, keeper);
        true
    }
}
