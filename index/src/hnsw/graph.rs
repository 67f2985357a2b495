//! The HNSW graph's memory layout.
//!
//! - Level 0: one flat `Vec<AtomicU32>` with a fixed stride of `1 + m0` per offset:
//!   `[count, neighbour…]`. No per-node allocation, no pointers.
//! - Upper levels (about `1/m` of the points): `upper_start[offset]` indexes a second flat
//!   buffer holding `level · (1 + m)` slots for that offset, or is `NO_UPPER`.
//! - Neighbour ids are `u32` offsets. Readers load them without locks (relaxed atomics, which
//!   compile to plain loads); a writer holds the node's `Mutex` and stores the neighbours before
//!   publishing the count with `Release`, so a reader sees a complete older or newer list, or a
//!   mix of both — every id in it is a valid offset either way.
//!
//! The graph, the vectors and the codes live behind one `RwLock` in `Hnsw`: appends take it
//! exclusively for a memcpy, linking and searching share it — each linked point and each
//! searched query for itself, never across work on the rayon pool.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::quant::Int8Quantizer;
use crate::rotation::Rotation;
use crate::store::VectorStore;
use crate::types::Offset;

pub(super) const NO_ENTRY: u64 = u64::MAX;
const NO_KEEPER: u32 = u32::MAX;
const NO_UPPER: u32 = u32::MAX;
/// Upper bound on `m0 = 2·m`, so neighbour lists fit a stack buffer.
pub(super) const MAX_M0: usize = 256;

pub(super) struct Codes {
    pub quantizer: Int8Quantizer,
    pub data: Vec<i8>,
}

pub(super) struct Graph {
    pub store: VectorStore,
    pub codes: Option<Codes>,
    /// The basis the stored vectors (and queries) are in, once fitted; see `crate::rotation`.
    /// Shared with the batches of queries rotated into it, which check that it is still the
    /// current one once they hold the read lock.
    pub rotation: Option<Arc<Rotation>>,
    pub m: usize,
    pub m0: usize,
    pub levels: Vec<u8>,
    links0: Vec<AtomicU32>,
    upper_start: Vec<u32>,
    upper: Vec<AtomicU32>,
    pub locks: Vec<Mutex<()>>,
    /// The keeper of each offset: the node whose level-0 list must keep it, or `NO_KEEPER`.
    /// Every linked offset but the entry point has one, itself reachable through keepers from
    /// the entry point (a node is kept only by one that is; an entry point that is replaced is
    /// kept by its successor), so pruning never cuts a point off. See `build.rs`.
    keepers: Vec<AtomicU32>,
    /// `level << 32 | offset` of the entry point, or `NO_ENTRY`.
    pub entry: AtomicU64,
}

impl Graph {
    pub fn new(store: VectorStore, m: usize) -> Self {
        Graph {
            store,
            codes: None,
            rotation: None,
            m,
            m0: 2 * m,
            levels: Vec::new(),
            links0: Vec::new(),
            upper_start: Vec::new(),
            upper: Vec::new(),
            locks: Vec::new(),
            keepers: Vec::new(),
            entry: AtomicU64::new(NO_ENTRY),
        }
    }

    /// Allocates empty neighbour lists for offsets `levels.len()..` with the given levels.
    pub fn grow(&mut self, new_levels: &[u8]) {
        let n = new_levels.len();
        crate::huge::reserve(&mut self.links0, n * (1 + self.m0));
        self.links0.extend((0..n * (1 + self.m0)).map(|_| AtomicU32::new(0)));
        self.upper_start.reserve(n);
        self.locks.reserve(n);
        self.keepers.extend((0..n).map(|_| AtomicU32::new(NO_KEEPER)));
        for &level in new_levels {
            if level == 0 {
                self.upper_start.push(NO_UPPER);
            } else {
                self.upper_start.push(self.upper.len() as u32);
                self.upper.extend((0..level as usize * (1 + self.m)).map(|_| AtomicU32::new(0)));
            }
            self.locks.push(Mutex::new(()));
        }
        self.levels.extend_from_slice(new_levels);
    }

    #[inline(always)]
    pub fn max_links(&self, level: usize) -> usize {
        if level == 0 {
            self.m0
        } else {
            self.m
        }
    }

    #[inline(always)]
    fn slot(&self, offset: Offset, level: usize) -> &[AtomicU32] {
        if level == 0 {
            let start = offset as usize * (1 + self.m0);
            &self.links0[start..start + 1 + self.m0]
        } else {
            let start = self.upper_start[offset as usize] as usize + (level - 1) * (1 + self.m);
            &self.upper[start..start + 1 + self.m]
        }
    }

    /// Starts loading the neighbour list of `offset` at `level` into cache.
    #[inline(always)]
    pub fn prefetch_neighbours(&self, offset: Offset, level: usize) {
        crate::distance::prefetch(self.slot(offset, level), 1);
    }

    /// Copies the neighbours of `offset` at `level` into `buf`; returns how many.
    #[inline(always)]
    pub fn neighbours(&self, offset: Offset, level: usize, buf: &mut [u32; MAX_M0]) -> usize {
        let slot = self.slot(offset, level);
        let count = (slot[0].load(Ordering::Acquire) as usize).min(slot.len() - 1);
        for (dst, src) in buf[..count].iter_mut().zip(&slot[1..]) {
            *dst = src.load(Ordering::Relaxed);
        }
        count
    }

    /// Replaces the neighbours of `offset` at `level`. The caller holds `locks[offset]`.
    pub fn set_neighbours(&self, offset: Offset, level: usize, ids: &[u32]) {
        let slot = self.slot(offset, level);
        debug_assert!(ids.len() < slot.len());
        for (dst, &id) in slot[1..].iter().zip(ids) {
            dst.store(id, Ordering::Relaxed);
        }
        slot[0].store(ids.len() as u32, Ordering::Release);
    }

    /// The node whose level-0 list must keep `offset`.
    #[inline]
    pub fn keeper(&self, offset: Offset) -> Option<Offset> {
        let k = self.keepers[offset as usize].load(Ordering::Relaxed);
        (k != NO_KEEPER).then_some(k)
    }

    /// Makes `keeper` keep `offset`. The caller holds `locks[keeper]`, and the level-0 list of
    /// `keeper` holds `offset`.
    #[inline]
    pub fn set_keeper(&self, offset: Offset, keeper: Offset) {
        self.keepers[offset as usize].store(keeper, Ordering::Relaxed);
    }

    /// Whether `offset` is reachable through keepers from the entry point: it has a keeper or
    /// is the entry point. Once true, true for good.
    #[inline]
    pub fn anchored(&self, offset: Offset) -> bool {
        self.keeper(offset).is_some() || self.entry().is_some_and(|(e, _)| e == offset)
    }

    /// Gives every offset reached over level 0 from the entry point a keeper: the node it was
    /// first reached from (for a graph loaded from a file, where keepers are not stored).
    pub fn find_keepers(&mut self) {
        let Some((entry, _)) = self.entry() else { return };
        let mut buf = [0u32; MAX_M0];
        let mut reached = vec![false; self.store.offsets()];
        reached[entry as usize] = true;
        let mut stack = vec![entry];
        while let Some(o) = stack.pop() {
            let count = self.neighbours(o, 0, &mut buf);
            for &nb in &buf[..count] {
                if !std::mem::replace(&mut reached[nb as usize], true) {
                    self.set_keeper(nb, o);
                    stack.push(nb);
                }
            }
        }
    }

    pub fn entry(&self) -> Option<(Offset, usize)> {
        let e = self.entry.load(Ordering::Acquire);
        (e != NO_ENTRY).then_some((e as u32, (e >> 32) as usize))
    }

    pub fn set_entry(&self, offset: Offset, level: usize) {
        self.entry.store((level as u64) << 32 | offset as u64, Ordering::Release);
    }

    /// Checks the structural invariants of a graph no thread is linking into: every list within
    /// its bound, holding distinct offsets below the number of points, none of them its own, each
    /// a node present on that level; the entry point on the top level; and every live offset
    /// reachable from the entry over level 0 (deleted offsets count as waypoints).
    pub fn check(&self) -> Result<(), String> {
        let n = self.store.offsets();
        if self.levels.len() != n
            || self.upper_start.len() != n
            || self.locks.len() != n
            || self.keepers.len() != n
            || self.links0.len() != n * (1 + self.m0)
        {
            return Err(format!("graph arrays disagree with the {n} points"));
        }
        let Some((entry, top)) = self.entry() else {
            return if n == 0 { Ok(()) } else { Err(format!("{n} points but no entry point")) };
        };
        if entry as usize >= n {
            return Err(format!("entry point {entry} out of range ({n} points)"));
        }
        if self.levels[entry as usize] as usize != top {
            return Err(format!(
                "entry point {entry} has level {}, the entry says {top}",
                self.levels[entry as usize]
            ));
        }
        if let Some((o, &level)) = self.levels.iter().enumerate().find(|(_, &l)| l as usize > top) {
            return Err(format!("offset {o} has level {level}, above the top level {top}"));
        }
        let mut buf = [0u32; MAX_M0];
        for o in 0..n as Offset {
            for level in 0..=self.levels[o as usize] as usize {
                let slot = self.slot(o, level);
                let count = slot[0].load(Ordering::Acquire) as usize;
                if count > self.max_links(level) {
                    return Err(format!(
                        "offset {o} holds {count} links on level {level}, above {}",
                        self.max_links(level)
                    ));
                }
                let count = self.neighbours(o, level, &mut buf);
                let list = &mut buf[..count];
                if let Some(&bad) = list.iter().find(|&&nb| nb as usize >= n) {
                    return Err(format!("offset {o} links to {bad} on level {level}, beyond {n} points"));
                }
                if list.contains(&o) {
                    return Err(format!("offset {o} links to itself on level {level}"));
                }
                if let Some(&low) = list.iter().find(|&&nb| (self.levels[nb as usize] as usize) < level) {
                    return Err(format!(
                        "offset {o} links on level {level} to {low}, which has no list there"
                    ));
                }
                list.sort_unstable();
                if list.windows(2).any(|w| w[0] == w[1]) {
                    return Err(format!("offset {o} lists a neighbour twice on level {level}"));
                }
            }
        }
        for o in 0..n as Offset {
            let Some(k) = self.keeper(o) else { continue };
            let count = self.neighbours(k, 0, &mut buf);
            if !buf[..count].contains(&o) {
                return Err(format!("offset {o} is not in the level-0 list of its keeper {k}"));
            }
        }
        let mut reached = vec![false; n];
        reached[entry as usize] = true;
        let mut stack = vec![entry];
        while let Some(o) = stack.pop() {
            let count = self.neighbours(o, 0, &mut buf);
            for &nb in &buf[..count] {
                if !std::mem::replace(&mut reached[nb as usize], true) {
                    stack.push(nb);
                }
            }
        }
        let lost: Vec<Offset> =
            (0..n as Offset).filter(|&o| !reached[o as usize] && !self.store.is_deleted(o)).collect();
        if !lost.is_empty() {
            return Err(format!(
                "{} live offsets unreachable from the entry point {entry} on level 0: {:?}",
                lost.len(),
                &lost[..lost.len().min(20)]
            ));
        }
        Ok(())
    }

    pub fn memory_bytes(&self) -> usize {
        self.store.memory_bytes()
            // Codes and level-0 lists grow like the vectors: their spare capacity is not resident.
            + self.codes.as_ref().map_or(0, |c| c.data.len())
            + self.rotation.as_deref().map_or(0, Rotation::memory_bytes)
            + self.levels.capacity()
            + (self.links0.len() + self.upper.capacity() + self.upper_start.capacity()) * 4
            + self.locks.capacity() * std::mem::size_of::<Mutex<()>>()
            + self.keepers.capacity() * 4
    }

    /// Raw parts for persistence.
    pub fn links_raw(&self) -> (Vec<u32>, Vec<u32>, &[u32]) {
        let load = |v: &[AtomicU32]| v.iter().map(|a| a.load(Ordering::Relaxed)).collect();
        (load(&self.links0), load(&self.upper), &self.upper_start)
    }

    pub fn from_raw(
        store: VectorStore,
        m: usize,
        levels: Vec<u8>,
        links0: Vec<u32>,
        upper_start: Vec<u32>,
        upper: Vec<u32>,
    ) -> Result<Self, String> {
        let n = store.offsets();
        let m0 = 2 * m;
        if levels.len() != n || upper_start.len() != n || links0.len() != n * (1 + m0) {
            return Err("graph arrays disagree with the point count".into());
        }
        // Every id and count must be in range, so searches never index out of bounds.
        let bad_list =
            |list: &[u32]| (list[0] as usize) >= list.len() || list[1..].iter().any(|&id| id as usize >= n);
        if links0.chunks_exact(1 + m0).any(|l| bad_list(&l[..1 + (l[0] as usize).min(m0)])) {
            return Err("level-0 neighbour list out of range".into());
        }
        for (offset, (&level, &start)) in levels.iter().zip(&upper_start).enumerate() {
            if level == 0 {
                continue;
            }
            let len = level as usize * (1 + m);
            let lists = upper
                .get(start as usize..start as usize + len)
                .ok_or_else(|| format!("upper lists of offset {offset} out of range"))?;
            if lists.chunks_exact(1 + m).any(|l| bad_list(&l[..1 + (l[0] as usize).min(m)])) {
                return Err(format!("upper neighbour list of offset {offset} out of range"));
            }
        }
        let atomics = |v: Vec<u32>| v.into_iter().map(AtomicU32::new).collect::<Vec<_>>();
        Ok(Graph {
            store,
            codes: None,
            rotation: None,
            m,
            m0,
            locks: (0..n).map(|_| Mutex::new(())).collect(),
            keepers: (0..n).map(|_| AtomicU32::new(NO_KEEPER)).collect(),
            levels,
            links0: crate::huge::rehome(atomics(links0)),
            upper_start,
            upper: atomics(upper),
            entry: AtomicU64::new(NO_ENTRY),
        })
    }
}
