//! Record codecs. Every encoder returns an error rather than store something its decoder could
//! not read back: a record the next start cannot decode would stop the whole data dir.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::keys;
use crate::error::{Error, Result};
use crate::id::ExtId;

/// Deepest nesting of objects and arrays a payload may have (the payload object is level 1).
/// Well under serde_json's recursion limit (128), so every stored record decodes.
pub const MAX_PAYLOAD_DEPTH: usize = 64;
/// Largest payload, as JSON.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

/// A point's record in the `points` family: external id, version, payload.
pub struct StoredPoint {
    pub ext: ExtId,
    /// The write sequence that last changed the point.
    pub version: u64,
    pub payload: Map<String, Value>,
}

/// Nesting depth of a payload, without recursion (a hostile value must not exhaust the stack).
fn payload_depth(payload: &Map<String, Value>) -> usize {
    let mut deepest = 1;
    let mut stack: Vec<(&Value, usize)> = payload.values().map(|v| (v, 1)).collect();
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Object(m) => Box::new(m.values()),
            Value::Array(a) => Box::new(a.iter()),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => continue,
        };
        deepest = deepest.max(depth + 1);
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    deepest
}

/// A payload as stored (JSON), refused with a 400 when too deep or too large to store.
pub fn payload_json(payload: &Map<String, Value>) -> Result<Vec<u8>> {
    let depth = payload_depth(payload);
    if depth > MAX_PAYLOAD_DEPTH {
        return Err(Error::bad(format!(
            "payload is nested {depth} levels deep; the limit is {MAX_PAYLOAD_DEPTH}"
        )));
    }
    let json =
        serde_json::to_vec(payload).map_err(|e| Error::bad(format!("payload cannot be stored: {e}")))?;
    if json.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::bad(format!(
            "payload is {} bytes as JSON; the limit is {MAX_PAYLOAD_BYTES}",
            json.len()
        )));
    }
    Ok(json)
}

/// A point record from its parts; `payload_json` comes from [`payload_json`].
pub fn encode_point(ext: ExtId, version: u64, payload_json: &[u8]) -> Vec<u8> {
    let mut out = keys::ext(ext);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(payload_json);
    out
}

pub fn decode_point(bytes: &[u8]) -> Result<StoredPoint> {
    let bad = || Error::Storage("corrupt point record".into());
    let (ext, used) = keys::ext_of(bytes).ok_or_else(bad)?;
    let version =
        u64::from_le_bytes(bytes.get(used..used + 8).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
    let payload = serde_json::from_slice(&bytes[used + 8..]).map_err(|_| bad())?;
    Ok(StoredPoint { ext, version, payload })
}

/// A point record as a snapshot carries it: decodable, and a payload within the limits.
pub fn check_point(bytes: &[u8]) -> Result<()> {
    payload_json(&decode_point(bytes)?.payload).map(|_| ())
}

pub fn encode_vector(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn decode_vector(bytes: &[u8]) -> Result<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(Error::Storage("corrupt vector record".into()));
    }
    Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// A sparse vector: its length (u32), its indices (u32 each), then its values (f32 each), all
/// little-endian.
pub fn encode_sparse(v: &vicinity_index::SparseVector) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 8 * v.len());
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    out.extend(v.indices().iter().flat_map(|i| i.to_le_bytes()));
    out.extend(v.values().iter().flat_map(|x| x.to_le_bytes()));
    out
}

pub fn decode_sparse(bytes: &[u8]) -> Result<vicinity_index::SparseVector> {
    let corrupt = || Error::Storage("corrupt sparse vector record".into());
    let n =
        bytes.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize).ok_or_else(corrupt)?;
    if bytes.len() != 4 + 8 * n {
        return Err(corrupt());
    }
    let words = |b: &[u8]| b.chunks_exact(4).map(|b| [b[0], b[1], b[2], b[3]]).collect::<Vec<_>>();
    let indices = words(&bytes[4..4 + 4 * n]).into_iter().map(u32::from_le_bytes).collect();
    let values = words(&bytes[4 + 4 * n..]).into_iter().map(f32::from_le_bytes).collect();
    vicinity_index::SparseVector::new(indices, values).map_err(|_| corrupt())
}

/// The internal ids of a `changes` entry.
pub fn encode_ids(ids: &[u64]) -> Vec<u8> {
    ids.iter().flat_map(|id| id.to_le_bytes()).collect()
}

pub fn decode_ids(bytes: &[u8]) -> Result<impl Iterator<Item = u64> + '_> {
    if !bytes.len().is_multiple_of(8) {
        return Err(Error::Storage("corrupt change record".into()));
    }
    Ok(bytes.chunks_exact(8).map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])))
}

pub fn decode_u64(what: &str, bytes: &[u8]) -> Result<u64> {
    Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| Error::Storage(format!("{what} is not a u64")))?))
}

pub fn decode_u32(what: &str, bytes: &[u8]) -> Result<u32> {
    Ok(u32::from_le_bytes(bytes.try_into().map_err(|_| Error::Storage(format!("{what} is not a u32")))?))
}

/// A JSON record (a collection's config, a job).
pub fn encode_json(what: &str, value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Internal(format!("cannot encode {what}: {e}")))
}

pub fn decode_json<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Storage(format!("bad stored {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_record_round_trips_and_a_too_deep_payload_is_refused() {
        let payload: Map<String, Value> = serde_json::from_str(r#"{"a": {"b": [1, 2]}, "c": "x"}"#).unwrap();
        let json = payload_json(&payload).unwrap();
        let bytes = encode_point(ExtId::Num(7), 3, &json);
        let p = decode_point(&bytes).unwrap();
        assert_eq!((p.ext, p.version, p.payload), (ExtId::Num(7), 3, payload));
        let mut deep = Value::Null;
        for _ in 0..MAX_PAYLOAD_DEPTH {
            deep = Value::Array(vec![deep]);
        }
        let deep: Map<String, Value> = [("k".to_string(), deep)].into_iter().collect();
        assert!(payload_json(&deep).unwrap_err().to_string().contains("limit is 64"));
        assert!(decode_point(&bytes[..5]).is_err());
    }
}
