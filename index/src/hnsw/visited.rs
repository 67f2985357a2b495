//! Pooled visited sets: one `u16` tag per offset and an epoch, so clearing is O(1) (a full
//! reset only every 65,535 uses). Searches borrow one from the pool and give it back on drop.

use parking_lot::Mutex;

pub(crate) struct Visited {
    tags: Vec<u16>,
    epoch: u16,
}

impl Visited {
    fn new() -> Self {
        Visited { tags: Vec::new(), epoch: 0 }
    }

    pub fn reset(&mut self, len: usize) {
        if self.tags.len() < len {
            self.tags.resize(len, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.tags.iter_mut().for_each(|t| *t = 0);
            self.epoch = 1;
        }
    }

    /// Marks `offset`; true when it was not marked yet.
    #[inline(always)]
    pub fn insert(&mut self, offset: u32) -> bool {
        let tag = &mut self.tags[offset as usize];
        let fresh = *tag != self.epoch;
        *tag = self.epoch;
        fresh
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
        self.free.lock().iter().map(|v| v.tags.capacity() * 2).sum()
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
