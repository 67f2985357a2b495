//! Pooled visited sets: a bitset (1M points take 125 KB, which stays in L2 cache, where a tag
//! per point would not) plus the list of words it touched, so clearing costs what the walk
//! visited rather than the index size. Searches borrow one from the pool and give it back on
//! drop.

use parking_lot::Mutex;

pub(crate) struct Visited {
    bits: Vec<u64>,
    touched: Vec<u32>,
}

impl Visited {
    fn new() -> Self {
        Visited { bits: Vec::new(), touched: Vec::new() }
    }

    /// Clears the set and makes room for offsets below `len`.
    pub fn reset(&mut self, len: usize) {
        for word in self.touched.drain(..) {
            self.bits[word as usize] = 0;
        }
        if self.bits.len() < len.div_ceil(64) {
            self.bits.resize(len.div_ceil(64), 0);
        }
    }

    /// Marks `offset`; true when it was not marked yet.
    #[inline(always)]
    pub fn insert(&mut self, offset: u32) -> bool {
        let index = offset as usize / 64;
        let bit = 1u64 << (offset % 64);
        let word = &mut self.bits[index];
        if *word & bit != 0 {
            return false;
        }
        if *word == 0 {
            self.touched.push(index as u32);
        }
        *word |= bit;
        true
    }

    fn memory_bytes(&self) -> usize {
        self.bits.capacity() * 8 + self.touched.capacity() * 4
    }
}

#[derive(Default)]
pub(crate) struct VisitedPool {
    free: Mutex<Vec<Visited>>,
}

impl VisitedPool {
    /// A cleared set able to hold offsets below `len`.
    pub fn get(&self, len: usize) -> PooledVisited<'_> {
        let mut set = self.free.lock().pop().unwrap_or_else(Visited::new);
        set.reset(len);
        PooledVisited { pool: self, set: Some(set) }
    }

    pub fn memory_bytes(&self) -> usize {
        self.free.lock().iter().map(Visited::memory_bytes).sum()
    }
}

pub(crate) struct PooledVisited<'a> {
    pool: &'a VisitedPool,
    set: Option<Visited>,
}

impl std::ops::Deref for PooledVisited<'_> {
    type Target = Visited;
    fn deref(&self) -> &Visited {
        self.set.as_ref().expect("present until drop")
    }
}
impl std::ops::DerefMut for PooledVisited<'_> {
    fn deref_mut(&mut self) -> &mut Visited {
        self.set.as_mut().expect("present until drop")
    }
}
impl Drop for PooledVisited<'_> {
    fn drop(&mut self) {
        if let Some(set) = self.set.take() {
            self.pool.free.lock().push(set);
        }
    }
}
