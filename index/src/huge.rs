//! The big buffers (vectors, int8 codes, level-0 neighbour lists) on transparent huge pages.
//!
//! A graph walk touches a few hundred vectors scattered over hundreds of MB: with 4 KiB pages
//! almost every one is a TLB miss, and under virtualisation a miss walks two page tables. Linux
//! backs memory with 2 MiB pages where a region is advised so (`MADV_HUGEPAGE`, which is what
//! the common `transparent_hugepage=madvise` setting waits for). The advice must come before
//! the pages are first touched, so these buffers grow here: a new allocation is advised, then
//! filled. Elsewhere, or where the kernel refuses, the advice is a no-op and the buffers are
//! ordinary.
#![allow(unsafe_code)]

/// Huge pages are 2 MiB on x86-64 and (usually) aarch64.
const HUGE_PAGE: usize = 2 << 20;

/// Makes room for `additional` more elements, growing by at least half the current capacity
/// (so a stream of small appends copies each element a bounded number of times) into a fresh,
/// advised allocation.
pub(crate) fn reserve<T>(v: &mut Vec<T>, additional: usize) {
    let needed = v.len() + additional;
    if needed <= v.capacity() {
        return;
    }
    let capacity = if v.capacity() == 0 { needed } else { needed.max(v.capacity() + v.capacity() / 2) };
    let mut grown = Vec::with_capacity(capacity);
    advise(&grown);
    grown.append(v);
    *v = grown;
}

/// `v` moved into an advised allocation of the same length (for buffers read from a file).
pub(crate) fn rehome<T>(mut v: Vec<T>) -> Vec<T> {
    if std::mem::size_of_val(v.as_slice()) < 2 * HUGE_PAGE {
        return v;
    }
    let mut out = Vec::new();
    reserve(&mut out, v.len());
    out.append(&mut v);
    out
}

/// Advises the huge-page-aligned part of `v`'s allocation.
fn advise<T>(v: &Vec<T>) {
    let start = v.as_ptr() as usize;
    let bytes = v.capacity() * std::mem::size_of::<T>();
    let first = start.next_multiple_of(HUGE_PAGE);
    let end = (start + bytes) / HUGE_PAGE * HUGE_PAGE;
    if end > first {
        madvise_huge(first, end - first);
    }
}

#[cfg(target_os = "linux")]
fn madvise_huge(addr: usize, len: usize) {
    // SAFETY: [addr, addr + len) lies inside one live allocation (a Vec's buffer, rounded
    // inwards to page boundaries). MADV_HUGEPAGE only sets a flag on the mapping: it never
    // changes the contents, so no Rust reference to the buffer is affected. A failure (THP
    // disabled, an old kernel) leaves ordinary pages, which is fine.
    unsafe {
        libc::madvise(addr as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn madvise_huge(_addr: usize, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_keeps_the_elements_and_grows_geometrically() {
        let mut v: Vec<u32> = (0..10).collect();
        reserve(&mut v, 5);
        assert_eq!(v, (0..10).collect::<Vec<_>>());
        assert!(v.capacity() >= 15);
        let mut grown = 0;
        let mut last = v.capacity();
        for i in 10..100_000u32 {
            reserve(&mut v, 1);
            v.push(i);
            if v.capacity() != last {
                grown += 1;
                last = v.capacity();
            }
        }
        assert_eq!(v, (0..100_000).collect::<Vec<_>>());
        assert!(grown < 40, "{grown} reallocations for 100k single appends");
    }

    #[test]
    fn rehome_keeps_the_elements() {
        let v: Vec<f32> = (0..3_000_000).map(|i| i as f32).collect();
        let copy = rehome(v.clone());
        assert_eq!(copy, v);
    }
}
