//! Reading the ann-benchmarks `.fvecs` / `.ivecs` files (each row: little-endian i32 `d`, then
//! `d` little-endian f32 or i32 values) used by `ann-bench` and the benches.

use std::path::Path;

use crate::error::{IndexError, Result};

/// `(dim, row-major values)` of an `.fvecs` file.
pub fn read_fvecs(path: &Path) -> Result<(usize, Vec<f32>)> {
    let (dim, words) = read_vecs(path)?;
    Ok((dim, words.into_iter().map(f32::from_bits).collect()))
}

/// `(dim, row-major values)` of an `.ivecs` file.
pub fn read_ivecs(path: &Path) -> Result<(usize, Vec<i32>)> {
    let (dim, words) = read_vecs(path)?;
    Ok((dim, words.into_iter().map(|w| w as i32).collect()))
}

fn read_vecs(path: &Path) -> Result<(usize, Vec<u32>)> {
    let bytes = std::fs::read(path).map_err(|e| IndexError::io(path, e))?;
    if bytes.len() < 4 {
        return Err(IndexError::corrupt(path, "shorter than one row header"));
    }
    let dim = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
    let row = 4 * (dim + 1);
    if dim == 0 || bytes.len() % row != 0 {
        return Err(IndexError::corrupt(
            path,
            format!("{} bytes is not a whole number of dim-{dim} rows", bytes.len()),
        ));
    }
    let mut out = Vec::with_capacity(bytes.len() / row * dim);
    for (i, chunk) in bytes.chunks_exact(row).enumerate() {
        let d = u32::from_le_bytes(chunk[..4].try_into().expect("4 bytes")) as usize;
        if d != dim {
            return Err(IndexError::corrupt(path, format!("row {i} has dim {d}, expected {dim}")));
        }
        out.extend(chunk[4..].chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes"))));
    }
    Ok((dim, out))
}
