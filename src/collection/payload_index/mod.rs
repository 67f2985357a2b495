//! Payload indexes (`PUT /collections/{c}/index`): value → points maps that give a filter's
//! candidate set without evaluating it on every point. The planner uses them to choose between
//! an exact scan of the candidates and a filtered graph walk (see `read.rs`). Candidates may be
//! a superset of the matches (callers evaluate the filter on them); they never miss one.
//!
//! Kinds: keyword / bool (value → points), integer / float (number → points, ordered),
//! text (token → points, tokenized by the index's settings), geo (`geo.rs`: a one-degree grid),
//! datetime (microseconds → points, ordered), uuid (UUID → points).

mod geo;
mod schema;

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use serde_json::Value;

use super::facet::FacetValue;
use super::filter::text::{TextKind, TextMatch, TextParams};
use super::filter::{
    parse_datetime, parse_uuid, values_at, Condition, DatetimeRange, FieldCheck, Filter, Match, Payload,
    Scalar,
};
use super::order::OrderValue;
pub use schema::{
    DiskParams, FieldParams, FieldSchema, FieldType, IntegerParams, PrincipalParams, TenantParams,
    TextIndexParams,
};

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
    Text { params: TextParams, tokens: HashMap<String, HashSet<u64>> },
    Geo(geo::GeoIndex),
    Datetime(BTreeMap<i64, HashSet<u64>>),
    Uuid(HashMap<u128, HashSet<u64>>),
}

#[derive(Default)]
pub struct PayloadIndex {
    fields: HashMap<String, (FieldType, FieldIndex)>,
    /// What each index may serve beside filters, from its schema.
    uses: HashMap<String, Uses>,
}

/// Whether an index orders (`order_by`) and facets, from its schema.
#[derive(Clone, Copy, Debug)]
struct Uses {
    order: bool,
    facet: bool,
}

/// `order_by`'s walk over a range index: each bucket's value and its points, in value order.
pub type Buckets<'a> = Box<dyn Iterator<Item = (OrderValue, &'a HashSet<u64>)> + 'a>;

impl PayloadIndex {
    /// Creates (or replaces) the index of `key`, filling it from `points`.
    pub fn create<'a>(
        &mut self,
        key: &str,
        schema: &FieldSchema,
        points: impl Iterator<Item = (u64, &'a Payload)>,
    ) {
        let kind = schema.kind();
        let index = match kind {
            FieldType::Keyword | FieldType::Bool => FieldIndex::Scalar(HashMap::new()),
            FieldType::Integer | FieldType::Float => FieldIndex::Numeric(BTreeMap::new()),
            FieldType::Text => FieldIndex::Text { params: schema.text_params(), tokens: HashMap::new() },
            FieldType::Geo => FieldIndex::Geo(geo::GeoIndex::default()),
            FieldType::Datetime => FieldIndex::Datetime(BTreeMap::new()),
            FieldType::Uuid => FieldIndex::Uuid(HashMap::new()),
        };
        self.fields.insert(key.to_string(), (kind, index));
        self.uses.insert(key.to_string(), Uses { order: schema.orders(), facet: schema.facets() });
        for (id, payload) in points {
            self.add_field(key, id, payload);
        }
    }

    pub fn drop_field(&mut self, key: &str) -> bool {
        self.uses.remove(key);
        self.fields.remove(key).is_some()
    }

    /// The kind of the index on `key`, if there is one.
    pub fn kind(&self, key: &str) -> Option<FieldType> {
        self.fields.get(key).map(|(kind, _)| *kind)
    }

    /// A datetime index's entries as (microseconds since the epoch, internal point id) in
    /// ascending `(value, id)` order (`.rev()` for descending), a point once per distinct value
    /// it holds; `None` when `key` has no datetime index.
    pub fn datetime_pairs(&self, key: &str) -> Option<impl DoubleEndedIterator<Item = (i64, u64)> + '_> {
        match self.fields.get(key) {
            Some((_, FieldIndex::Datetime(map))) => Some(map.iter().flat_map(|(t, ids)| {
                let mut ids: Vec<u64> = ids.iter().copied().collect();
                ids.sort_unstable();
                ids.into_iter().map(move |id| (*t, id))
            })),
            Some(_) | None => None,
        }
    }

    /// A uuid index's values (`uuid::Uuid::from_u128` prints them) with their points; `None`
    /// when `key` has no uuid index.
    pub fn uuid_values(&self, key: &str) -> Option<impl Iterator<Item = (u128, &HashSet<u64>)> + '_> {
        match self.fields.get(key) {
            Some((_, FieldIndex::Uuid(map))) => Some(map.iter().map(|(u, ids)| (*u, ids))),
            Some(_) | None => None,
        }
    }

    /// Whether `key` has an index `order_by` can use (integer with `range`, float, datetime).
    pub fn orders(&self, key: &str) -> bool {
        self.uses.get(key).is_some_and(|u| u.order)
    }

    /// Whether `key` has an index `facet` can use (keyword, integer with `lookup`, uuid, bool).
    pub fn facets(&self, key: &str) -> bool {
        self.uses.get(key).is_some_and(|u| u.facet)
    }

    /// For `order_by`: the points of `key`'s numeric or datetime index bucket by bucket,
    /// ascending or descending, from about `from` on (the caller compares exactly); `None` for
    /// other kinds. A numeric bucket may hold points whose values only round to its key (or that
    /// the index kind does not order): the caller reads each point's exact values.
    pub fn order_buckets(&self, key: &str, desc: bool, from: Option<OrderValue>) -> Option<Buckets<'_>> {
        fn walk<'a, K: Ord + Copy>(
            map: &'a BTreeMap<K, HashSet<u64>>,
            desc: bool,
            from: Option<K>,
            value: fn(K) -> OrderValue,
        ) -> Buckets<'a> {
            let bucket = move |(k, ids): (&K, &'a HashSet<u64>)| (value(*k), ids);
            match (desc, from) {
                (false, None) => Box::new(map.iter().map(bucket)),
                (false, Some(x)) => Box::new(map.range(x..).map(bucket)),
                (true, None) => Box::new(map.iter().rev().map(bucket)),
                (true, Some(x)) => Box::new(map.range(..=x).rev().map(bucket)),
            }
        }
        match &self.fields.get(key)?.1 {
            FieldIndex::Numeric(map) => {
                Some(walk(map, desc, from.map(|v| OrdF64::of(v.as_f64())), |k| OrderValue::Float(k.0)))
            }
            FieldIndex::Datetime(map) => {
                // A fractional start: the bucket at or before it ascending, after it descending.
                let from = from.map(|v| match v {
                    OrderValue::Int(i) => i,
                    OrderValue::Float(x) if desc => x.ceil() as i64,
                    OrderValue::Float(x) => x.floor() as i64,
                });
                Some(walk(map, desc, from, OrderValue::Int))
            }
            FieldIndex::Scalar(_) | FieldIndex::Text { .. } | FieldIndex::Geo(_) | FieldIndex::Uuid(_) => {
                None
            }
        }
    }

    /// For `facet`: the number of points per value of `key`'s keyword, bool or uuid index;
    /// `None` for other kinds (the caller counts from the payloads).
    pub fn facet_counts(&self, key: &str) -> Option<Vec<(FacetValue, usize)>> {
        match &self.fields.get(key)?.1 {
            FieldIndex::Scalar(map) => Some(
                map.iter()
                    .filter(|(_, ids)| !ids.is_empty())
                    .map(|(s, ids)| (FacetValue::of(s.clone()), ids.len()))
                    .collect(),
            ),
            FieldIndex::Uuid(map) => Some(
                map.iter()
                    .filter(|(_, ids)| !ids.is_empty())
                    .map(|(u, ids)| (FacetValue::Uuid(*u), ids.len()))
                    .collect(),
            ),
            FieldIndex::Numeric(_)
            | FieldIndex::Text { .. }
            | FieldIndex::Geo(_)
            | FieldIndex::Datetime(_) => None,
        }
    }

    pub fn add(&mut self, id: u64, payload: &Payload) {
        let keys: Vec<String> = self.fields.keys().cloned().collect();
        for key in keys {
            self.add_field(&key, id, payload);
        }
    }

    fn add_field(&mut self, key: &str, id: u64, payload: &Payload) {
        let Some((kind, index)) = self.fields.get_mut(key) else { return };
        let values = values_at(payload, key, true);
        if let FieldIndex::Geo(g) = index {
            g.add(id, values.iter().filter_map(|v| super::filter::GeoPoint::of(v)));
            return;
        }
        for v in values {
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
                FieldIndex::Text { params, tokens } => {
                    for t in v.as_str().map(|s| params.doc_tokens(s)).unwrap_or_default() {
                        tokens.entry(t).or_default().insert(id);
                    }
                }
                FieldIndex::Datetime(map) => {
                    if let Some(t) = v.as_str().and_then(parse_datetime) {
                        map.entry(t).or_default().insert(id);
                    }
                }
                FieldIndex::Uuid(map) => {
                    if let Some(u) = v.as_str().and_then(parse_uuid) {
                        map.entry(u).or_default().insert(id);
                    }
                }
                FieldIndex::Geo(_) => {}
            }
        }
    }

    pub fn remove(&mut self, id: u64, payload: &Payload) {
        fn take<K: std::hash::Hash + Eq>(map: &mut HashMap<K, HashSet<u64>>, k: K, id: u64) {
            if let Some(set) = map.get_mut(&k) {
                set.remove(&id);
                if set.is_empty() {
                    map.remove(&k);
                }
            }
        }
        for (key, (kind, index)) in self.fields.iter_mut() {
            if let FieldIndex::Geo(g) = index {
                g.remove(id);
                continue;
            }
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
                    FieldIndex::Text { params, tokens } => {
                        for t in v.as_str().map(|s| params.doc_tokens(s)).unwrap_or_default() {
                            take(tokens, t, id);
                        }
                    }
                    FieldIndex::Datetime(map) => {
                        if let Some(t) = v.as_str().and_then(parse_datetime) {
                            if let Some(set) = map.get_mut(&t) {
                                set.remove(&id);
                                if set.is_empty() {
                                    map.remove(&t);
                                }
                            }
                        }
                    }
                    FieldIndex::Uuid(map) => {
                        if let Some(u) = v.as_str().and_then(parse_uuid) {
                            take(map, u, id);
                        }
                    }
                    FieldIndex::Geo(_) => {}
                }
            }
        }
    }

    /// The points that can match `filter`, from the indexed `must` conditions (their
    /// intersection); `None` when no `must` condition is indexed. A text condition uses the
    /// index only when it was bound to the same settings (see `Filter::bind`).
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
            (FieldCheck::Match(Match::Text(t)), FieldIndex::Text { params, tokens })
                if t.index.as_ref() == Some(params) =>
            {
                Some(text_candidates(t, params, tokens))
            }
            (FieldCheck::Match(Match::Uuid(u)), FieldIndex::Uuid(map)) => Some(if u.except {
                map.iter().filter(|(k, _)| !u.ids.contains(k)).flat_map(|(_, s)| s).copied().collect()
            } else {
                u.ids.iter().filter_map(|k| map.get(k)).flatten().copied().collect()
            }),
            (FieldCheck::DatetimeRange(r), FieldIndex::Datetime(map)) => Some(datetime_candidates(r, map)),
            (FieldCheck::Geo(g), FieldIndex::Geo(index)) => Some(index.candidates(g)),
            _ => None,
        }
    }
}

fn text_candidates(
    t: &TextMatch,
    params: &TextParams,
    tokens: &HashMap<String, HashSet<u64>>,
) -> HashSet<u64> {
    let query = params.query_tokens(&t.query);
    if query.is_empty() || (t.kind == TextKind::Phrase && !params.phrase_matching) {
        return HashSet::new();
    }
    match t.kind {
        TextKind::Any => query.iter().filter_map(|q| tokens.get(q)).flatten().copied().collect(),
        // A phrase's points hold all its tokens; their order is checked on the payloads.
        TextKind::All | TextKind::Phrase => {
            let mut sets: Vec<&HashSet<u64>> = Vec::with_capacity(query.len());
            for q in &query {
                match tokens.get(q) {
                    Some(s) => sets.push(s),
                    None => return HashSet::new(),
                }
            }
            sets.sort_by_key(|s| s.len());
            let (first, rest) = sets.split_first().expect("a non-empty query has a set per token");
            first.iter().filter(|id| rest.iter().all(|s| s.contains(id))).copied().collect()
        }
    }
}

fn datetime_candidates(r: &DatetimeRange, map: &BTreeMap<i64, HashSet<u64>>) -> HashSet<u64> {
    let lo = match (r.gt, r.gte) {
        (Some(a), Some(b)) if a >= b => Bound::Excluded(a),
        (_, Some(b)) => Bound::Included(b),
        (Some(a), None) => Bound::Excluded(a),
        (None, None) => Bound::Unbounded,
    };
    let hi = match (r.lt, r.lte) {
        (Some(a), Some(b)) if a <= b => Bound::Excluded(a),
        (_, Some(b)) => Bound::Included(b),
        (Some(a), None) => Bound::Excluded(a),
        (None, None) => Bound::Unbounded,
    };
    let empty = match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => a >= b,
        (Bound::Unbounded, _) | (_, Bound::Unbounded) => false,
    };
    if empty {
        return HashSet::new();
    }
    map.range((lo, hi)).flat_map(|(_, s)| s).copied().collect()
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
        FieldType::Keyword
        | FieldType::Bool
        | FieldType::Geo
        | FieldType::Text
        | FieldType::Datetime
        | FieldType::Uuid => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> FieldSchema {
        FieldSchema::parse(&v).unwrap()
    }

    /// Every filter's candidates hold all its matches, and (where `exact`) nothing else.
    fn check(
        index: &PayloadIndex,
        payloads: &[Payload],
        removed: u64,
        schema: &super::super::filter::Schema,
        filters: &[(Value, bool)],
    ) {
        for (f, exact) in filters {
            let filter: Filter = serde_json::from_value::<Filter>(f.clone()).unwrap().bind(schema);
            let got = index.candidates(&filter).unwrap_or_else(|| panic!("no candidates for {f}"));
            let want: HashSet<u64> = (0..payloads.len() as u64)
                .filter(|&i| i != removed && filter.matches(&payloads[i as usize], None, &|_| false))
                .collect();
            let kept: HashSet<u64> = got
                .iter()
                .copied()
                .filter(|&i| filter.matches(&payloads[i as usize], None, &|_| false))
                .collect();
            assert_eq!(kept, want, "{f}");
            if *exact {
                assert_eq!(got, want, "{f}");
            }
            assert!(!want.is_empty() || f.to_string().contains("\"zzz") || got.is_empty(), "{f}");
        }
    }

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
        let mut kinds = super::super::filter::Schema::new();
        for (key, kind) in [("g", "keyword"), ("n", "integer"), ("x", "float")] {
            kinds.insert(key.into(), schema(json!(kind)));
            index.create(key, &kinds[key], payloads.iter().enumerate().map(|(i, p)| (i as u64, p)));
        }
        index.remove(3, &payloads[3]);
        let filters = [
            (json!({"must": [{"key": "g", "match": {"value": "g3"}}]}), true),
            (
                json!({"must": [{"key": "g", "match": {"any": ["g1", "g2"]}}, {"key": "n", "range": {"gt": 10, "lte": 20}}]}),
                true,
            ),
            (json!({"must": [{"key": "x", "range": {"gte": 5.0, "lt": 9.5}}]}), true),
            (json!({"must": [{"key": "n", "match": {"value": 4}}]}), true),
        ];
        check(&index, &payloads, 3, &kinds, &filters);
    }

    const WORDS: [&str; 8] = ["red", "Green", "blue", "cheap", "FOOD", "good", "qdrant", "rust"];
    const UUIDS: [&str; 3] = [
        "550e8400-e29b-41d4-a716-446655440000",
        "6BA7B810-9DAD-11D1-80B4-00C04FD430C8",
        "6ba7b8119dad11d180b400c04fd430c8",
    ];

    fn special_payloads() -> Vec<Payload> {
        (0..300u64)
            .map(|i| {
                let word = |k: u64| WORDS[((i * 7 + k * 3) % 8) as usize];
                let text = if i % 5 == 0 {
                    json!([format!("{} {}", word(0), word(1)), word(2)])
                } else {
                    json!(format!("{} {}, {}", word(0), word(1), word(2)))
                };
                let lat = (i as f64 * 7.31) % 170.0 - 85.0;
                let lon = (i as f64 * 13.7) % 358.0 - 179.0;
                let geo = match i % 4 {
                    0 => json!([{"lon": lon, "lat": lat}, {"lon": 13.4 + i as f64 / 1000.0, "lat": 52.52}]),
                    1 => json!({"lat": lat, "lon": lon}),
                    2 => json!({"lon": 13.4 + i as f64 / 1000.0, "lat": 52.5 + i as f64 / 2000.0}),
                    _ => json!({"lon": 500.0, "lat": 0.0}),
                };
                let when = match i % 4 {
                    0 => json!(format!("2024-01-{:02}T{:02}:00:00Z", 1 + i % 28, i % 24)),
                    1 => json!(format!("2024-01-{:02}", 1 + i % 28)),
                    2 => json!([format!("2024-01-{:02} 12:30", 1 + i % 28), 1704067200]),
                    _ => json!(1704067200 + i),
                };
                let id = match i % 4 {
                    0 => json!(UUIDS[(i % 3) as usize]),
                    1 => json!(UUIDS[(i % 3) as usize].to_uppercase()),
                    2 => json!([UUIDS[(i % 3) as usize].replace('-', ""), "not-a-uuid"]),
                    _ => json!(7),
                };
                json!({"t": text, "loc": geo, "when": when, "u": id}).as_object().unwrap().clone()
            })
            .collect()
    }

    #[test]
    fn special_index_candidates_agree_with_the_filter() {
        let payloads = special_payloads();
        let mut kinds = super::super::filter::Schema::new();
        kinds.insert("t".into(), schema(json!({"type": "text", "phrase_matching": true})));
        kinds.insert("loc".into(), schema(json!("geo")));
        kinds.insert("when".into(), schema(json!("datetime")));
        kinds.insert("u".into(), schema(json!("uuid")));
        let mut index = PayloadIndex::default();
        for (key, s) in &kinds {
            index.create(key, s, payloads.iter().enumerate().map(|(i, p)| (i as u64, p)));
        }
        index.remove(8, &payloads[8]);
        let ring = |c: &[(f64, f64)]| {
            let mut r: Vec<Value> = c.iter().map(|(lon, lat)| json!({"lon": lon, "lat": lat})).collect();
            r.push(r[0].clone());
            json!({"points": r})
        };
        let filters = [
            (json!({"must": [{"key": "t", "match": {"text": "red green"}}]}), false),
            (json!({"must": [{"key": "t", "match": {"text": "RED"}}]}), true),
            (json!({"must": [{"key": "t", "match": {"text_any": "blue zzz food"}}]}), true),
            (json!({"must": [{"key": "t", "match": {"text": "zzz"}}]}), true),
            (json!({"must": [{"key": "t", "match": {"text": " , "}}]}), true),
            (json!({"must": [{"key": "t", "match": {"phrase": "red cheap"}}]}), false),
            (
                json!({"must": [{"key": "loc", "geo_radius": {"center": {"lon": 13.4, "lat": 52.52}, "radius": 20000.0}}]}),
                true,
            ),
            (
                json!({"must": [{"key": "loc", "geo_radius": {"center": {"lon": 170.0, "lat": 80.0}, "radius": 2000000.0}}]}),
                true,
            ),
            (
                json!({"must": [{"key": "loc", "geo_bounding_box": {"top_left": {"lon": -50.0, "lat": 40.0}, "bottom_right": {"lon": 60.0, "lat": -30.0}}}]}),
                true,
            ),
            (
                json!({"must": [{"key": "loc", "geo_bounding_box": {"top_left": {"lon": 150.0, "lat": 80.0}, "bottom_right": {"lon": -150.0, "lat": -80.0}}}]}),
                true,
            ),
            (
                json!({"must": [{"key": "loc", "geo_polygon": {"exterior": ring(&[(13.0, 52.0), (14.0, 52.0), (14.0, 53.0), (13.0, 53.0)]),
                "interiors": [ring(&[(13.45, 52.0), (13.5, 52.0), (13.5, 53.0), (13.45, 53.0)])]}}]}),
                true,
            ),
            (
                json!({"must": [{"key": "when", "range": {"gte": "2024-01-10T00:00:00Z", "lt": "2024-01-20"}}]}),
                true,
            ),
            (json!({"must": [{"key": "when", "range": {"gt": "2024-01-05 12:30"}}]}), true),
            (
                json!({"must": [{"key": "when", "range": {"lte": "2024-01-03T05:00:00+02:00", "gte": "2024-01-03T05:00:00+02:00"}}]}),
                true,
            ),
            (json!({"must": [{"key": "when", "range": {"gt": "2024-01-03", "lt": "2024-01-03"}}]}), true),
            (json!({"must": [{"key": "u", "match": {"value": UUIDS[0]}}]}), true),
            (json!({"must": [{"key": "u", "match": {"any": [UUIDS[1].to_lowercase(), "nope"]}}]}), true),
            (json!({"must": [{"key": "u", "match": {"except": [UUIDS[2]]}}]}), true),
            (json!({"must": [{"key": "u", "match": {"value": "not-a-uuid"}}]}), true),
        ];
        check(&index, &payloads, 8, &kinds, &filters);
    }

    #[test]
    fn text_conditions_use_the_index_only_with_its_settings() {
        let payloads = special_payloads();
        let mut index = PayloadIndex::default();
        let prefix = schema(json!({"type": "text", "tokenizer": "prefix"}));
        index.create("t", &prefix, payloads.iter().enumerate().map(|(i, p)| (i as u64, p)));
        let f: Filter =
            serde_json::from_value(json!({"must": [{"key": "t", "match": {"text": "qdr"}}]})).unwrap();
        assert_eq!(index.candidates(&f), None, "an unbound text condition is evaluated on payloads");
        let mut kinds = super::super::filter::Schema::new();
        kinds.insert("t".into(), prefix);
        let bound = f.bind(&kinds);
        let got = index.candidates(&bound).unwrap();
        assert!(!got.is_empty());
        assert!(got.iter().all(|&i| bound.matches(&payloads[i as usize], None, &|_| false)));
        let phrase: Filter =
            serde_json::from_value(json!({"must": [{"key": "t", "match": {"phrase": "red cheap"}}]}))
                .unwrap();
        assert_eq!(
            index.candidates(&phrase.bind(&kinds)),
            Some(HashSet::new()),
            "no phrase_matching: nothing"
        );
        assert!(payloads.iter().any(|p| phrase.matches(p, None, &|_| false)), "unindexed phrase works");
    }

    #[test]
    fn datetime_pairs_are_in_value_order() {
        let payloads: Vec<Payload> = ["2024-01-02", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00+00:00", "x"]
            .iter()
            .map(|w| json!({"w": w}).as_object().unwrap().clone())
            .collect();
        let mut index = PayloadIndex::default();
        index.create(
            "w",
            &schema(json!("datetime")),
            payloads.iter().enumerate().map(|(i, p)| (i as u64, p)),
        );
        let day = 86_400_000_000i64;
        let jan1 = 1_704_067_200_000_000i64;
        assert_eq!(
            index.datetime_pairs("w").unwrap().collect::<Vec<_>>(),
            [(jan1, 1), (jan1 + day, 0), (jan1 + day, 2)]
        );
        assert_eq!(index.datetime_pairs("w").unwrap().next_back(), Some((jan1 + day, 2)));
        assert!(index.datetime_pairs("nope").is_none());
        assert_eq!(index.kind("w"), Some(FieldType::Datetime));
    }
}
