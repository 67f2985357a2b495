//! Key layouts (see the module docs of `storage`): `cid` is a collection's id, big-endian, so
//! each collection's records are one contiguous range of every per-collection family.

use crate::id::ExtId;

pub fn prefix(cid: u32) -> [u8; 4] {
    cid.to_be_bytes()
}

/// `cid · n`, for points, vectors (n = internal id) and changes (n = write sequence).
pub fn numbered(cid: u32, n: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&cid.to_be_bytes());
    k[4..].copy_from_slice(&n.to_be_bytes());
    k
}

/// The number of a [`numbered`] key.
pub fn number_of(key: &[u8]) -> Option<u64> {
    key.get(4..12).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)
}

/// A vector's key: `cid · internal id` for slot 0 (the layout of storage format v1, when a point
/// had one vector), `cid · internal id · slot` (big-endian u32) for the others. A point's vectors
/// are adjacent, under the 12-byte prefix of slot 0's key.
pub fn vector(cid: u32, internal: u64, slot: u32) -> Vec<u8> {
    let mut k = numbered(cid, internal).to_vec();
    if slot != 0 {
        k.extend_from_slice(&slot.to_be_bytes());
    }
    k
}

/// The internal id and slot of a [`vector`] key.
pub fn vector_of(key: &[u8]) -> Option<(u64, u32)> {
    let id = number_of(key)?;
    match key.len() {
        12 => Some((id, 0)),
        16 => Some((id, u32::from_be_bytes(key[12..16].try_into().ok()?))),
        _ => None,
    }
}

/// An external id as key bytes: a tag, then the value big-endian, so byte order is id order
/// (numbers before UUIDs, numbers numerically).
pub fn ext(id: ExtId) -> Vec<u8> {
    match id {
        ExtId::Num(n) => {
            let mut k = vec![0u8];
            k.extend_from_slice(&n.to_be_bytes());
            k
        }
        ExtId::Uuid(u) => {
            let mut k = vec![1u8];
            k.extend_from_slice(u.as_bytes());
            k
        }
    }
}

/// Decodes [`ext`] bytes; returns the id and the bytes used.
pub fn ext_of(bytes: &[u8]) -> Option<(ExtId, usize)> {
    match bytes.first()? {
        0 => Some((ExtId::Num(u64::from_be_bytes(bytes.get(1..9)?.try_into().ok()?)), 9)),
        1 => Some((ExtId::Uuid(uuid::Uuid::from_bytes(bytes.get(1..17)?.try_into().ok()?)), 17)),
        _ => None,
    }
}

/// `cid · external id key`, in the `ids` family.
pub fn id(cid: u32, external: ExtId) -> Vec<u8> {
    let mut k = prefix(cid).to_vec();
    k.extend_from_slice(&ext(external));
    k
}

/// The per-collection counters of the `meta` family.
#[derive(Clone, Copy)]
pub enum Counter {
    /// The last write sequence.
    Seq,
    /// The next internal point id.
    Next,
    /// The write sequence the persisted index covers.
    Saved,
}

pub fn meta(counter: Counter, cid: u32) -> Vec<u8> {
    let kind: &[u8] = match counter {
        Counter::Seq => b"seq/",
        Counter::Next => b"next/",
        Counter::Saved => b"saved/",
    };
    let mut k = kind.to_vec();
    k.extend_from_slice(&cid.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn vector_keys_round_trip_and_group_by_point() {
        for (id, slot) in [(0, 0), (7, 0), (7, 1), (7, u32::MAX), (u64::MAX, 3)] {
            assert_eq!(vector_of(&vector(9, id, slot)), Some((id, slot)));
        }
        let point = numbered(9, 7);
        assert!(vector(9, 7, 5).starts_with(&point) && vector(9, 8, 0) > vector(9, 7, u32::MAX));
    }

    #[test]
    fn external_id_keys_round_trip_and_sort_like_ids() {
        let ids = [
            ExtId::Num(0),
            ExtId::Num(255),
            ExtId::Num(256),
            ExtId::Num(u64::MAX),
            ExtId::Uuid(Uuid::from_u128(1)),
            ExtId::Uuid(Uuid::from_u128(u128::MAX)),
        ];
        for w in ids.windows(2) {
            assert!(ext(w[0]) < ext(w[1]), "{} vs {}", w[0], w[1]);
        }
        for id in ids {
            assert_eq!(ext_of(&ext(id)), Some((id, ext(id).len())));
        }
    }
}
