//! v1 → v2: named vectors. A v1 collection config has one vector, described by top-level
//! `size`, `distance`, `hnsw`, `quantization` and `index`; v2 lists its vectors by name in
//! `vectors`, each with a storage `slot`. The one vector becomes the unnamed vector `""` in slot
//! 0, whose key layout (`cid · internal id`) is v1's, so no vector record is rewritten. `hnsw`
//! and `quantization` stay at the top as the collection-level settings.

use rocksdb::{WriteBatch, DB};
use serde_json::{Map, Value};

/// The fields that describe a v1 collection's vector.
const VECTOR_FIELDS: [&str; 5] = ["size", "distance", "hnsw", "quantization", "index"];

/// One collection config, upgraded (already-upgraded configs are returned unchanged).
pub fn upgrade_config(mut config: Map<String, Value>) -> Result<Map<String, Value>, String> {
    if config.contains_key("vectors") {
        return Ok(config);
    }
    let mut vector = Map::new();
    vector.insert("slot".into(), Value::from(0u32));
    for field in VECTOR_FIELDS {
        match (field, config.get(field)) {
            // `index` was optional (HNSW when absent); the rest were always written.
            ("index", None) => {}
            (_, None) => return Err(format!("the config has no `{field}`")),
            (_, Some(v)) => {
                vector.insert(field.into(), v.clone());
            }
        }
    }
    for field in ["size", "distance", "index"] {
        config.remove(field);
    }
    let mut vectors = Map::new();
    vectors.insert(String::new(), Value::Object(vector));
    config.insert("vectors".into(), Value::Object(vectors));
    Ok(config)
}

pub fn apply(db: &DB) -> Result<(), String> {
    let cf = db.cf_handle("collections").ok_or("no `collections` family")?;
    let mut batch = WriteBatch::default();
    for item in db.iterator_cf(cf, rocksdb::IteratorMode::Start) {
        let (name, value) = item.map_err(|e| e.to_string())?;
        let what = || format!("collection `{}`", String::from_utf8_lossy(&name));
        let config: Map<String, Value> =
            serde_json::from_slice(&value).map_err(|e| format!("{}: config is not JSON: {e}", what()))?;
        let upgraded = upgrade_config(config).map_err(|e| format!("{}: {e}", what()))?;
        let json = serde_json::to_vec(&upgraded).map_err(|e| format!("{}: {e}", what()))?;
        batch.put_cf(cf, &name, json);
    }
    let mut opts = rocksdb::WriteOptions::default();
    opts.set_sync(true);
    db.write_opt(batch, &opts).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_v1_config_becomes_the_unnamed_vector_in_slot_0() {
        let v1 = json!({
            "id": 3, "size": 8, "distance": "Cosine",
            "hnsw": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000},
            "quantization": null, "payload_schema": {"tag": "keyword"}, "embedding": null,
            "index": {"type": "hnsw"}
        });
        let Value::Object(v1) = v1 else { unreachable!() };
        let v2 = upgrade_config(v1).unwrap();
        assert_eq!(
            Value::Object(v2.clone()),
            json!({
                "id": 3,
                "hnsw": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000},
                "quantization": null, "payload_schema": {"tag": "keyword"}, "embedding": null,
                "vectors": {"": {
                    "slot": 0, "size": 8, "distance": "Cosine",
                    "hnsw": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000},
                    "quantization": null, "index": {"type": "hnsw"}
                }}
            })
        );
        assert_eq!(upgrade_config(v2.clone()).unwrap(), v2, "upgrading twice changes nothing");
    }

    #[test]
    fn a_config_missing_a_vector_field_is_reported() {
        let Value::Object(broken) = json!({"id": 1, "size": 4, "hnsw": {}, "quantization": null}) else {
            unreachable!()
        };
        assert_eq!(upgrade_config(broken).unwrap_err(), "the config has no `distance`");
    }
}
