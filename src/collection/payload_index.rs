//! Payload indexes (`PUT /collections/{c}/index`): value → points maps that give a filter's
//! candidate set without evaluating it on every point. The planner uses them to choose between
//! an exact scan of the candidates and a filtered graph walk (see `read.rs`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::config::FieldType;
use super::filter::{values_at, Condition, FieldCheck, Filter, Match, Payload, Scalar};

#[derive(Clone, Copy, Debug, PartialEq)]
struct OrdF64(f64);
impl OrdF64 {
    /// The key of a number: -0.0 files as 0.0 (they compare equal, `total_cmp` would not).
    fn of(x: f64) -> OrdF64 {
        OrdF64(x + 0.0)
    }
}
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

enum FieldIndex {
    Scalar(HashMap<Scalar, HashSet<u64>>),
    Numeric(BTreeMap<OrdF64, HashSet<u64>>),
}

/// A numeric index's buckets in order: each bucket's key as f64 and its points.
pub type OrderBuckets<'a> = Box<dyn Iterator<Item = (f64, &'a HashSet<u64>)> + 'a>;

#[derive(Default)]
pub struct PayloadIndex {
    fields: HashMap<String, (FieldType, FieldIndex)>,
}

impl PayloadIndex {
    /// Creates (or replaces) the index of `key`, filling it from `points`.
    pub fn create<'a>(
        &mut self,
        key: &str,
        kind: FieldType,
        points: impl Iterator<Item = (u64, &'a Payload)>,
    ) {
        let index = match kind {
            FieldType::Keyword | FieldType::Bool => FieldIndex::Scalar(HashMap::new()),
            FieldType::Integer | FieldType::Float => FieldIndex::Numeric(BTreeMap::new()),
        };
        self.fields.insert(key.to_string(), (kind, index));
        for (id, payload) in points {
            self.add_field(key, id, payload);
        }
    }

    pub fn drop_field(&mut self, key: &str) -> bool {
        self.fields.remove(key).is_some()
    }

    pub fn add(&mut self, id: u64, payload: &Payload) {
        let keys: Vec<String> = self.fields.keys().cloned().collect();
        for key in keys {
            self.add_field(&key, id, payload);
        }
    }

    fn add_field(&mut self, key: &str, id: u64, payload: &Payload) {
        let Some((kind, index)) = self.fields.get_mut(key) else { return };
        for v in values_at(payload, key, true) {
            match index {
                FieldIndex::Scalar(map) => {
                    if let Some(s) = Scalar::of(v).filter(|s| kind_accepts(*kind, s)) {
                        map.entry(s).or_default().insert(id);
                    }
                }
                FieldIndex::Numeric(map) => {
                    if let Some(x) = numeric(*kind, v) {
                        map.entry(OrdF64::of(x)).or_default().insert(id);
                    }
                }
            }
        }
    }

    pub fn remove(&mut self, id: u64, payload: &Payload) {
        for (key, (kind, index)) in self.fields.iter_mut() {
            for v in values_at(payload, key, true) {
                match index {
                    FieldIndex::Scalar(map) => {
                        if let Some(set) = Scalar::of(v).and_then(|s| map.get_mut(&s)) {
                            set.remove(&id);
                        }
                    }
                    FieldIndex::Numeric(map) => {
                        if let Some(set) = numeric(*kind, v).and_then(|x| map.get_mut(&OrdF64::of(x))) {
                            set.remove(&id);
                        }
                    }
                }
            }
        }
    }

    /// The points that can match `filter`, from the indexed `must` conditions (their
    /// intersection); `None` when no `must` condition is indexed.
    pub fn candidates(&self, filter: &Filter) -> Option<HashSet<u64>> {
        let mut sets: Vec<HashSet<u64>> = filter.must.iter().filter_map(|c| self.condition(c)).collect();
        sets.sort_by_key(HashSet::len);
        let mut iter = sets.into_iter();
        let first = iter.next()?;
        Some(iter.fold(first, |acc, s| acc.intersection(&s).copied().collect()))
    }

    fn condition(&self, c: &Condition) -> Option<HashSet<u64>> {
        let Condition::Field { key, check } = c else { return None };
        let (kind, index) = self.fields.get(key)?;
        // A keyword / bool index holds only values of its kind: a condition on another kind of
        // value is evaluated on the payloads instead.
        match (check, index) {
            (FieldCheck::Match(Match::Value(s)), FieldIndex::Scalar(map)) if kind_accepts(*kind, s) => {
                Some(map.get(s).cloned().unwrap_or_default())
            }
            (FieldCheck::Match(Match::Any(list)), FieldIndex::Scalar(map))
                if list.iter().all(|s| kind_accepts(*kind, s)) =>
            {
                Some(list.iter().filter_map(|s| map.get(s)).flatten().copied().collect())
            }
            (FieldCheck::Match(Match::Value(Scalar::Integer(i))), FieldIndex::Numeric(map)) => {
                Some(map.get(&OrdF64::of(*i as f64)).cloned().unwrap_or_default())
            }
            (FieldCheck::Range(r), FieldIndex::Numeric(map)) => {
                let lo = r.gte.or(r.gt).map(OrdF64::of).unwrap_or(OrdF64(f64::NEG_INFINITY));
                let hi = r.lte.or(r.lt).map(OrdF64::of).unwrap_or(OrdF64(f64::INFINITY));
                if lo > hi {
                    return Some(HashSet::new());
                }
                Some(
                    map.range(lo..=hi)
                        .filter(|(k, _)| r.contains(k.0))
                        .flat_map(|(_, s)| s)
                        .copied()
                        .collect(),
                )
            }
            _ => None,
        }
    }

    /// The kind of the index on `key`, if it has one.
    pub fn kind(&self, key: &str) -> Option<FieldType> {
        self.fields.get(key).map(|(kind, _)| *kind)
    }

    /// For `order_by`: the points of `key`'s numeric index bucket by bucket (each bucket's key as
    /// f64, its points), ascending or descending, from `from` (inclusive) on; `None` when `key`
    /// has no numeric index. A bucket may hold points whose values only round to its key (or that
    /// the index kind does not order): the caller reads each point's exact values.
    pub fn order_buckets(
        &self,
        key: &str,
        desc: bool,
        from: Option<f64>,
    ) -> Option<OrderBuckets<'_>> {
        let (_, FieldIndex::Numeric(map)) = self.fields.get(key)? else { return None };
        fn bucket<'m>((k, ids): (&'m OrdF64, &'m HashSet<u64>)) -> (f64, &'m HashSet<u64>) {
            (k.0, ids)
        }
        Some(match (desc, from) {
            (false, None) => Box::new(map.iter().map(bucket)),
            (false, Some(x)) => Box::new(map.range(OrdF64::of(x)..).map(bucket)),
            (true, None) => Box::new(map.iter().rev().map(bucket)),
            (true, Some(x)) => Box::new(map.range(..=OrdF64::of(x)).rev().map(bucket)),
        })
    }

    /// For `facet`: the number of points per value of `key`'s keyword or bool index (values no
    /// point holds any more left out); `None` for other kinds.
    pub fn facet_counts(&self, key: &str) -> Option<Vec<(Scalar, usize)>> {
        let (_, FieldIndex::Scalar(map)) = self.fields.get(key)? else { return None };
        Some(map.iter().filter(|(_, ids)| !ids.is_empty()).map(|(s, ids)| (s.clone(), ids.len())).collect())
    }
}

fn kind_accepts(kind: FieldType, s: &Scalar) -> bool {
    matches!((kind, s), (FieldType::Keyword, Scalar::Keyword(_)) | (FieldType::Bool, Scalar::Bool(_)))
}

/// The key a numeric index files a value under. Integer and float indexes both hold every
/// number (as f64), so their candidates are a superset of what `match` / `range` accept
/// whatever mix of integers and floats a field holds.
fn numeric(kind: FieldType, v: &Value) -> Option<f64> {
    match kind {
        FieldType::Integer | FieldType::Float => v.as_f64(),
        FieldType::Keyword | FieldType::Bool => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn candidates_agree_with_the_filter() {
        let payloads: Vec<Payload> = (0..200)
            .map(|i| {
                json!({"g": format!("g{}", i % 7), "n": i % 50, "x": i as f64 / 3.0})
                    .as_object()
                    .unwrap()
                    .clone()
            })
            .collect();
        let mut index = PayloadIndex::default();
        index.create("g", FieldType::Keyword, payloads.iter().enumerate().map(|(i, p)| (i as u64, p)));
        index.create("n", FieldType::Integer, payloads.iter().enumerate().map(|(i, p)| (i as u64, p)));
        index.create("x", FieldType::Float, payloads.iter().enumerate().map(|(i, p)| (i as u64, p)));
        index.remove(3, &payloads[3]);
        let filters = [
            json!({"must": [{"key": "g", "match": {"value": "g3"}}]}),
            json!({"must": [{"key": "g", "match": {"any": ["g1", "g2"]}}, {"key": "n", "range": {"gt": 10, "lte": 20}}]}),
            json!({"must": [{"key": "x", "range": {"gte": 5.0, "lt": 9.5}}]}),
            json!({"must": [{"key": "n", "match": {"value": 4}}]}),
        ];
        for f in filters {
            let filter: Filter = serde_json::from_value(f.clone()).unwrap();
            let got = index.candidates(&filter).unwrap();
            let want: HashSet<u64> = (0..200u64)
                .filter(|&i| i != 3 && filter.matches(&payloads[i as usize], None, &|_| false))
                .collect();
            assert_eq!(got, want, "{f}");
        }
    }
}
