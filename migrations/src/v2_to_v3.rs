//! v2 → v3: users. The `interactions` column family (users' events, items' popularity) must
//! exist — the service creates every family it knows when it opens the database, so the step
//! checks it rather than making it — and each collection config gains `recommendation`: the
//! settings of that time's defaults, written out so a later change of defaults leaves the
//! collections of an upgraded data dir as they were.

use rocksdb::{WriteBatch, DB};
use serde_json::{json, Map, Value};

/// The `recommendation` settings a v2 collection gets.
fn defaults() -> Value {
    json!({
        "event_types": {"view": 1.0, "click": 1.0, "like": 2.0, "purchase": 3.0, "dislike": -2.0},
        "half_life_days": 30.0,
        "max_history": 500,
        "interests": 8,
        "popularity_weight": 0.4
    })
}

/// One collection config, upgraded (one that has the settings is returned unchanged).
pub fn upgrade_config(mut config: Map<String, Value>) -> Map<String, Value> {
    config.entry("recommendation").or_insert_with(defaults);
    config
}

pub fn apply(db: &DB) -> Result<(), String> {
    db.cf_handle("interactions").ok_or("the `interactions` family was not created at open")?;
    let cf = db.cf_handle("collections").ok_or("no `collections` family")?;
    let mut batch = WriteBatch::default();
    for item in db.iterator_cf(cf, rocksdb::IteratorMode::Start) {
        let (name, value) = item.map_err(|e| e.to_string())?;
        let what = || format!("collection `{}`", String::from_utf8_lossy(&name));
        let config: Map<String, Value> =
            serde_json::from_slice(&value).map_err(|e| format!("{}: config is not JSON: {e}", what()))?;
        let json = serde_json::to_vec(&upgrade_config(config)).map_err(|e| format!("{}: {e}", what()))?;
        batch.put_cf(cf, &name, json);
    }
    let mut opts = rocksdb::WriteOptions::default();
    opts.set_sync(true);
    db.write_opt(batch, &opts).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v2_config_gains_the_default_settings_once() {
        let Value::Object(v2) = json!({"id": 3, "vectors": {}, "payload_schema": {}}) else { unreachable!() };
        let v3 = upgrade_config(v2);
        assert_eq!(v3["recommendation"], defaults());
        let Value::Object(mut changed) = Value::Object(v3) else { unreachable!() };
        changed["recommendation"]["max_history"] = json!(7);
        assert_eq!(upgrade_config(changed.clone()), changed, "existing settings are kept");
    }
}
