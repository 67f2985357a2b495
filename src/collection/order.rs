//! `order_by` (scroll and `points/query`): the points of a range-capable payload index in the
//! order of their values.
//!
//! As in Qdrant, only the values the index holds take part (an integer index: integer JSON
//! numbers; a float index: every number), a point lacking them is not returned at all, and a
//! point with several values appears once per distinct value. Ties are broken by point id in the
//! direction asked. The index gives its points bucket by bucket in value order, so a page costs
//! the buckets it reads (and the points the filter refuses), not a sort of the collection.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::Value;

use super::filter::{parse_datetime, values_at, Filter, Payload};
use super::payload_index::{FieldType, PayloadIndex};
use super::read::{Hit, PayloadSelector, Record, VectorSelector};
use super::{Collection, Deadline};
use crate::error::{Error, Result};
use crate::id::ExtId;

/// A value a point is ordered by: an integer (integer and datetime indexes; datetimes as
/// microseconds since the epoch) or a float (float indexes). Written as a JSON integer or float.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OrderValue {
    Int(i64),
    Float(f64),
}

impl OrderValue {
    /// The value as f64: the key a numeric index files it under.
    pub fn as_f64(self) -> f64 {
        match self {
            OrderValue::Int(i) => i as f64,
            OrderValue::Float(x) => x,
        }
    }

    /// Qdrant's order: numeric across kinds (`5 == 5.0`), NaN greatest.
    pub fn cmp_value(&self, other: &OrderValue) -> Ordering {
        match (self, other) {
            (OrderValue::Int(a), OrderValue::Int(b)) => a.cmp(b),
            (OrderValue::Int(_) | OrderValue::Float(_), OrderValue::Int(_) | OrderValue::Float(_)) => {
                let (a, b) = (self.as_f64(), other.as_f64());
                match (a.is_nan(), b.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
                }
            }
        }
    }
}

impl serde::Serialize for OrderValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            OrderValue::Int(i) => s.serialize_i64(*i),
            OrderValue::Float(x) => s.serialize_f64(*x),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

/// Where an ordered read starts (inclusive), as the request gives it.
#[derive(Clone, Debug, PartialEq)]
pub enum StartFrom {
    Int(i64),
    Float(f64),
    /// A datetime string: compared as microseconds since the epoch.
    Datetime(String),
}

/// Qdrant's `order_by`.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderBy {
    pub key: String,
    pub direction: Direction,
    pub start_from: Option<StartFrom>,
}

/// The value an index of `kind` holds for a payload value, if it holds one: integers, numbers,
/// or datetime strings as microseconds since the epoch.
pub fn order_value_of(kind: FieldType, v: &Value) -> Option<OrderValue> {
    match kind {
        FieldType::Integer => v.as_i64().map(OrderValue::Int),
        FieldType::Float => v.as_f64().map(OrderValue::Float),
        FieldType::Datetime => v.as_str().and_then(parse_datetime).map(OrderValue::Int),
        FieldType::Keyword | FieldType::Bool | FieldType::Geo | FieldType::Text | FieldType::Uuid => None,
    }
}

/// Qdrant's 400 for a key without a range-capable index (its newest wording).
fn no_range_index(key: &str) -> Error {
    Error::bad(format!(
        "Wrong input: No range index for `order_by` key: `{key}`. Please create one to use `order_by`. \
         Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload \
         schemas support Range conditions"
    ))
}

/// `start_from` as a value to compare with.
fn start_value(s: &StartFrom) -> Result<OrderValue> {
    match s {
        StartFrom::Int(i) => Ok(OrderValue::Int(*i)),
        StartFrom::Float(x) => Ok(OrderValue::Float(*x)),
        StartFrom::Datetime(text) => parse_datetime(text).map(OrderValue::Int).ok_or_else(|| {
            Error::bad(format!(
                "Wrong input: order_by.start_from: '{text}' is not in a supported date/time format, please use RFC 3339"
            ))
        }),
    }
}

/// One ordered entry: a point (internal id, external id) with one of its values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Entry {
    pub id: u64,
    pub ext: ExtId,
    pub value: OrderValue,
}

/// The first `wanted` entries of `key`'s index in the order asked. `point` gives a point's
/// external id and payload when it is admitted (it exists and matches the filter).
pub(super) fn ordered<'a>(
    index: &PayloadIndex,
    order: &OrderBy,
    wanted: usize,
    point: impl Fn(u64) -> Option<(ExtId, &'a Payload)>,
    deadline: Deadline,
) -> Result<Vec<Entry>> {
    let kind = index
        .kind(&order.key)
        .filter(|_| index.orders(&order.key))
        .ok_or_else(|| no_range_index(&order.key))?;
    let start = order.start_from.as_ref().map(start_value).transpose()?;
    let desc = order.direction == Direction::Desc;
    let Some(buckets) = index.order_buckets(&order.key, desc, start) else {
        return Err(no_range_index(&order.key));
    };
    let from_start = |v: &OrderValue| match (&start, desc) {
        (None, _) => true,
        (Some(s), false) => v.cmp_value(s) != Ordering::Less,
        (Some(s), true) => v.cmp_value(s) != Ordering::Greater,
    };
    let mut out: Vec<Entry> = Vec::with_capacity(wanted.min(1024));
    // Each admitted point's distinct values in order, read once however many buckets it is in
    // (`None`: not admitted).
    let mut values_of: HashMap<u64, Option<(ExtId, Vec<OrderValue>)>> = HashMap::new();
    let mut work = 0usize;
    let mut next_check = 0usize;
    for (key, ids) in buckets {
        if out.len() >= wanted {
            break;
        }
        // The bucket's entries: each point's values filed under this key (an integer index
        // files 2.5 here too, and large integers can share a key).
        let mut bucket: Vec<Entry> = Vec::new();
        for &id in ids {
            work += 1;
            if work >= next_check {
                deadline.check()?;
                next_check = work + 256;
            }
            let cached = values_of.entry(id).or_insert_with(|| {
                let (ext, payload) = point(id)?;
                let mut values: Vec<OrderValue> = values_at(payload, &order.key, true)
                    .into_iter()
                    .filter_map(|v| order_value_of(kind, v))
                    .collect();
                work += values.len();
                values.sort_by(OrderValue::cmp_value);
                values.dedup_by(|a, b| a.cmp_value(b) == Ordering::Equal);
                Some((ext, values))
            });
            let Some((ext, values)) = cached else { continue };
            let from = values.partition_point(|v| v.cmp_value(&key) == Ordering::Less);
            for value in values[from..].iter().take_while(|v| v.cmp_value(&key) == Ordering::Equal) {
                if from_start(value) {
                    bucket.push(Entry { id, ext: *ext, value: *value });
                }
            }
        }
        bucket.sort_by(|a, b| {
            let o = a.value.cmp_value(&b.value).then(a.ext.cmp(&b.ext));
            if desc {
                o.reverse()
            } else {
                o
            }
        });
        out.extend(bucket);
    }
    out.truncate(wanted);
    Ok(out)
}

impl Collection {
    fn ordered_entries(
        &self,
        order: &OrderBy,
        filter: Option<&Filter>,
        wanted: usize,
        deadline: Deadline,
    ) -> Result<Vec<Entry>> {
        let filter = filter.map(|f| self.bind(f));
        let points = self.points.read();
        let admit = |id: u64| {
            let m = points.meta.get(&id)?;
            let ok = filter.as_ref().is_none_or(|f| f.matches(&m.payload, Some(m.ext), &self.has_vector(id)));
            ok.then_some((m.ext, &m.payload))
        };
        ordered(&points.payload_index, order, wanted, admit, deadline)
    }

    /// `points/scroll` with `order_by`: up to `limit` records, each with its `order_value`.
    pub fn scroll_ordered(
        &self,
        order: &OrderBy,
        limit: usize,
        filter: Option<&Filter>,
        with_payload: &PayloadSelector,
        with_vector: &VectorSelector,
        deadline: Deadline,
    ) -> Result<Vec<Record>> {
        self.check_selector(with_vector)?;
        let entries = self.ordered_entries(order, filter, limit, deadline)?;
        let points = self.points.read();
        Ok(entries
            .into_iter()
            .filter_map(|e| {
                let mut r = self.record(&points, e.id, with_payload, with_vector)?;
                r.order_value = Some(e.value);
                Some(r)
            })
            .collect())
    }

    /// `points/query` with `{"order_by": …}`: `offset` entries skipped, then up to `limit` hits
    /// scored 1.0 with version 0, as Qdrant answers them.
    pub(super) fn order_hits(
        &self,
        order: &OrderBy,
        s: &super::Search,
        deadline: Deadline,
    ) -> Result<Vec<Hit>> {
        self.check_selector(&s.with_vector)?;
        let wanted = s.offset.saturating_add(s.limit);
        let entries = self.ordered_entries(order, s.filter.as_ref(), wanted, deadline)?;
        let points = self.points.read();
        Ok(entries
            .into_iter()
            .skip(s.offset)
            .filter_map(|e| {
                let r = self.record(&points, e.id, &s.with_payload, &s.with_vector)?;
                Some(Hit {
                    id: r.id,
                    version: 0,
                    score: 1.0,
                    payload: r.payload,
                    vector: r.vector,
                    order_value: Some(e.value),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collection::payload_index::FieldSchema;
    use serde_json::json;

    /// The example of the conventions (§1.5): id1 n=5, id2 n=[1,7], id3 n=5, id4 no n, id5 n=2.5.
    fn example(kind: FieldType) -> (PayloadIndex, Vec<Payload>) {
        let payloads: Vec<Payload> =
            [json!({"n": 5}), json!({"n": [1, 7, 7]}), json!({"n": 5}), json!({"m": 1}), json!({"n": 2.5})]
                .into_iter()
                .map(|v| v.as_object().unwrap().clone())
                .collect();
        let mut index = PayloadIndex::default();
        index.create(
            "n",
            &FieldSchema::Type(kind),
            payloads.iter().enumerate().map(|(i, p)| (i as u64 + 1, p)),
        );
        (index, payloads)
    }

    fn run(kind: FieldType, order: OrderBy, wanted: usize, skip: &[u64]) -> Vec<(u64, OrderValue)> {
        let (index, payloads) = example(kind);
        let point = |id: u64| (!skip.contains(&id)).then(|| (ExtId::Num(id), &payloads[id as usize - 1]));
        ordered(&index, &order, wanted, point, Deadline::NONE)
            .unwrap()
            .into_iter()
            .map(|e| (e.id, e.value))
            .collect()
    }

    fn by(direction: Direction, start_from: Option<StartFrom>) -> OrderBy {
        OrderBy { key: "n".into(), direction, start_from }
    }

    #[test]
    fn integer_index_orders_integers_only_with_ties_by_id_in_the_direction() {
        use OrderValue::Int;
        assert_eq!(
            run(FieldType::Integer, by(Direction::Asc, None), 10, &[]),
            [(2, Int(1)), (1, Int(5)), (3, Int(5)), (2, Int(7))]
        );
        assert_eq!(
            run(FieldType::Integer, by(Direction::Desc, None), 3, &[]),
            [(2, Int(7)), (3, Int(5)), (1, Int(5))]
        );
        // The paging recipe: start_from the last value (inclusive), the ids seen with it left out.
        assert_eq!(
            run(FieldType::Integer, by(Direction::Desc, Some(StartFrom::Int(5))), 3, &[1, 3]),
            [(2, Int(1))]
        );
        assert_eq!(
            run(FieldType::Integer, by(Direction::Asc, Some(StartFrom::Float(4.5))), 10, &[]),
            [(1, Int(5)), (3, Int(5)), (2, Int(7))]
        );
    }

    #[test]
    fn float_index_orders_every_number() {
        use OrderValue::Float;
        assert_eq!(
            run(FieldType::Float, by(Direction::Asc, None), 10, &[]),
            [(2, Float(1.0)), (5, Float(2.5)), (1, Float(5.0)), (3, Float(5.0)), (2, Float(7.0))]
        );
        assert_eq!(
            run(FieldType::Float, by(Direction::Desc, Some(StartFrom::Int(5))), 2, &[]),
            [(3, Float(5.0)), (1, Float(5.0))]
        );
        assert_eq!(serde_json::to_string(&Float(5.0)).unwrap(), "5.0");
        assert_eq!(serde_json::to_string(&OrderValue::Int(5)).unwrap(), "5");
    }

    #[test]
    fn long_arrays_give_one_entry_per_distinct_value() {
        let payloads: Vec<Payload> = (0..3u64)
            .map(|i| {
                let values: Vec<u64> = (0..20_000).map(|v| v * 3 + i).chain([5, 5]).collect();
                json!({"n": values}).as_object().unwrap().clone()
            })
            .collect();
        let mut index = PayloadIndex::default();
        let schema = FieldSchema::Type(FieldType::Integer);
        index.create("n", &schema, payloads.iter().enumerate().map(|(i, p)| (i as u64, p)));
        let point = |id: u64| Some((ExtId::Num(id), &payloads[id as usize]));
        let run = |direction| {
            ordered(&index, &by(direction, None), 5, point, Deadline::NONE)
                .unwrap()
                .into_iter()
                .map(|e| (e.id, e.value))
                .collect::<Vec<_>>()
        };
        use OrderValue::Int;
        assert_eq!(run(Direction::Asc), [(0, Int(0)), (1, Int(1)), (2, Int(2)), (0, Int(3)), (1, Int(4))]);
        assert_eq!(
            run(Direction::Desc),
            [(2, Int(59_999)), (1, Int(59_998)), (0, Int(59_997)), (2, Int(59_996)), (1, Int(59_995))]
        );
    }

    #[test]
    fn keys_without_a_range_index_are_refused() {
        let (mut index, payloads) = example(FieldType::Integer);
        index.create(
            "g",
            &FieldSchema::Type(FieldType::Keyword),
            payloads.iter().enumerate().map(|(i, p)| (i as u64, p)),
        );
        for key in ["g", "missing"] {
            let order = OrderBy { key: key.into(), direction: Direction::Asc, start_from: None };
            let err = ordered(&index, &order, 1, |_| None, Deadline::NONE).unwrap_err().to_string();
            assert!(err.contains(&format!("No range index for `order_by` key: `{key}`")), "{err}");
        }
    }
}
