//! The only unsafe code of the Faiss backend: the Faiss C API calls the `faiss` crate does not
//! offer for shared (`&self`) use. Faiss's CPU indexes document `search` as safe to call from
//! several threads at once; adding and removing go through the crate's `&mut` methods.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::raw::c_int;

use std::marker::PhantomData;

use faiss::index::IndexImpl;
use faiss::selector::IdSelector;
use faiss::Index;
use faiss_sys as sys;

/// The message of a failed Faiss call.
fn check(rc: c_int) -> Result<(), String> {
    if rc == 0 {
        return Ok(());
    }
    // SAFETY: `faiss_get_last_error` returns null or a NUL-terminated string owned by the
    // calling thread, valid until its next Faiss call; it is copied out at once.
    let message = unsafe {
        let p = sys::faiss_get_last_error();
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    Err(format!("faiss error {rc}: {message}"))
}

/// Search-time parameters for one call: `nprobe` (IVF indexes) and an ID selector, which stays
/// owned by the caller. (The `faiss` crate's own constructors hand the selector to the
/// parameters and forget it, and Faiss never frees it: a leak per filtered search.)
pub struct Params<'a> {
    raw: *mut sys::FaissSearchParameters,
    _selector: PhantomData<&'a IdSelector>,
}

impl<'a> Params<'a> {
    /// `None` when there is nothing to set (a plain search).
    pub fn new(nprobe: Option<usize>, selector: Option<&'a IdSelector>) -> Result<Option<Self>, String> {
        let sel = selector.map_or(std::ptr::null_mut(), IdSelector::inner_ptr);
        let mut raw: *mut sys::FaissSearchParameters = std::ptr::null_mut();
        let rc = match nprobe {
            Some(nprobe) => {
                let mut ivf: *mut sys::FaissSearchParametersIVF = std::ptr::null_mut();
                // SAFETY: a valid out pointer; `sel` is null or a live selector that the
                // returned object only borrows (the `'a` of `Params` keeps it alive).
                let rc = unsafe { sys::faiss_SearchParametersIVF_new_with(&mut ivf, sel, nprobe, 0) };
                raw = ivf.cast();
                rc
            }
            // SAFETY: as above, without nprobe.
            None if selector.is_some() => unsafe { sys::faiss_SearchParameters_new(&mut raw, sel) },
            None => return Ok(None),
        };
        check(rc)?;
        Ok(Some(Params { raw, _selector: PhantomData }))
    }
}

impl Drop for Params<'_> {
    fn drop(&mut self) {
        // SAFETY: `raw` was made by the constructor above and is freed once, here;
        // SearchParameters has a virtual destructor, so this frees an IVF one whole. The
        // selector is not owned by it and is not freed.
        unsafe { sys::faiss_SearchParameters_free(self.raw) }
    }
}

/// Searches `nq` row-major queries for `k` neighbours each: (distances, labels), `nq · k` each,
/// label -1 where fewer than `k` were found.
pub fn search(
    index: &IndexImpl,
    queries: &[f32],
    nq: usize,
    k: usize,
    params: Option<&Params>,
) -> Result<(Vec<f32>, Vec<i64>), String> {
    if queries.len() != nq * index.d() as usize {
        return Err(format!("{} query values for {nq} queries of dim {}", queries.len(), index.d()));
    }
    let mut distances = vec![0f32; nq * k];
    let mut labels = vec![-1i64; nq * k];
    let (nq_c, k_c) = (nq as sys::idx_t, k as sys::idx_t);
    // SAFETY: `index` is borrowed, so its native pointer stays valid for the call; search is a
    // const method that Faiss allows concurrently; `queries` holds nq · d floats (checked
    // above) and both output buffers hold nq · k entries, as the call writes.
    let rc = unsafe {
        match params {
            Some(p) => sys::faiss_Index_search_with_params(
                index.inner_ptr(),
                nq_c,
                queries.as_ptr(),
                k_c,
                p.raw,
                distances.as_mut_ptr(),
                labels.as_mut_ptr(),
            ),
            None => sys::faiss_Index_search(
                index.inner_ptr(),
                nq_c,
                queries.as_ptr(),
                k_c,
                distances.as_mut_ptr(),
                labels.as_mut_ptr(),
            ),
        }
    };
    check(rc)?;
    Ok((distances, labels))
}

/// Bytes of one encoded vector (with its inverted-list number for IVF indexes).
pub fn code_size(index: &IndexImpl) -> usize {
    let mut size = 0usize;
    // SAFETY: a valid, borrowed index pointer and a valid out pointer.
    let rc = unsafe { sys::faiss_Index_sa_code_size(index.inner_ptr(), &mut size) };
    if check(rc).is_err() {
        return 0;
    }
    size
}

extern "C" {
    fn omp_set_num_threads(n: c_int);
}

#[link(name = "openblas")]
extern "C" {
    fn openblas_set_num_threads(n: c_int);
}

/// Caps the OpenMP threads Faiss uses for training, adding and batched searches.
pub fn set_threads(n: usize) {
    // SAFETY: omp_set_num_threads only sets an OpenMP runtime variable (libgomp, linked by
    // faiss-sys); any positive count is valid.
    unsafe { omp_set_num_threads(n.clamp(1, c_int::MAX as usize) as c_int) }
}

/// Keeps OpenBLAS single-threaded: Faiss parallelises with OpenMP around its BLAS calls, and
/// OpenBLAS's own threads on top of those oversubscribe the cores (Faiss's advice).
pub fn single_threaded_blas() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: openblas_set_num_threads only sets OpenBLAS's thread count; 1 is always valid.
    ONCE.call_once(|| unsafe { openblas_set_num_threads(1) });
}
