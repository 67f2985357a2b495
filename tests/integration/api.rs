//! Correctness over HTTP on small generated data: searches and recommendations against brute
//! force, filters, payload updates, deletes, scroll, count and the OpenAPI document.

use std::collections::{BTreeSet, HashMap, HashSet};

use axum::http::Method;
use serde_json::{json, Value};

use crate::common::{assert_hits, dataset, ids, load, top_k, Metric, Pt, Rng, Server};

const METRICS: [Metric; 3] = [Metric::Cosine, Metric::Dot, Metric::Euclid];

fn scores(what: &str, hits: &Value) -> Vec<f32> {
    hits.as_array()
        .unwrap_or_else(|| panic!("{what}: {hits}"))
        .iter()
        .map(|h| h["score"].as_f64().unwrap() as f32)
        .collect()
}

/// Brute-force reported scores of `query` against `points` (minus `skip`, restricted by `keep`).
fn brute(metric: Metric, points: &[Pt], query: &[f32], keep: impl Fn(&Pt) -> bool) -> HashMap<u64, f32> {
    points.iter().filter(|p| keep(p)).map(|p| (p.id, metric.reported(query, &p.vector))).collect()
}

fn best(metric: Metric, all: &HashMap<u64, f32>, k: usize) -> Vec<(u64, f32)> {
    top_k(all.iter().map(|(id, s)| (*id, *s)).collect(), k, metric.ascending())
}

#[tokio::test]
async fn exact_search_equals_brute_force() {
    let s = Server::new();
    let dim = 12;
    let points = dataset(300, dim, 1);
    for metric in METRICS {
        let name = metric.name().to_lowercase();
        s.create(&name, dim, metric.name()).await;
        load(&s, &name, &points).await;
        let mut rng = Rng::new(99);
        for q in 0..6 {
            let query = rng.vector(dim);
            let all = brute(metric, &points, &query, |_| true);
            let what = format!("{name} query {q}");
            // points/query, exact.
            let r = s
                .post(
                    &format!("/collections/{name}/points/query"),
                    json!({"query": query, "limit": 10, "params": {"exact": true}}),
                )
                .await;
            assert_hits(&what, &r["points"], &best(metric, &all, 10), &all);
            let sc = scores(&what, &r["points"]);
            assert!(
                sc.windows(2).all(|w| if metric.ascending() { w[0] <= w[1] } else { w[0] >= w[1] }),
                "{what}: scores out of order {sc:?}"
            );
            // The nearest form and the legacy search route agree; offset skips the first hits.
            let r = s
                .post(
                    &format!("/collections/{name}/points/query"),
                    json!({"query": {"nearest": query}, "limit": 7, "offset": 3, "params": {"exact": true}}),
                )
                .await;
            assert_hits(&format!("{what} offset"), &r["points"], &best(metric, &all, 10)[3..], &all);
            let r = s
                .post(
                    &format!("/collections/{name}/points/search"),
                    json!({"vector": query, "limit": 10, "params": {"exact": true}}),
                )
                .await;
            assert_hits(&format!("{what} legacy"), &r, &best(metric, &all, 10), &all);
            // The graph finds (nearly) the same on data this small.
            let r = s
                .post(&format!("/collections/{name}/points/query"), json!({"query": query, "limit": 10}))
                .await;
            let want: HashSet<u64> = best(metric, &all, 10).iter().map(|(id, _)| *id).collect();
            let found = ids(&r["points"]).into_iter().filter(|id| want.contains(id)).count();
            assert!(found >= 9, "{what}: HNSW recall {found}/10");
            // score_threshold keeps exactly the points on the near side of it.
            let near = best(metric, &all, 21);
            let threshold = (near[19].1 + near[20].1) / 2.0;
            let r = s
                .post(
                    &format!("/collections/{name}/points/query"),
                    json!({"query": query, "limit": 100, "score_threshold": threshold, "params": {"exact": true}}),
                )
                .await;
            let n = all
                .values()
                .filter(|s| if metric.ascending() { **s <= threshold } else { **s >= threshold })
                .count();
            assert_eq!(r["points"].as_array().unwrap().len(), n, "{what}: score_threshold {threshold}");
        }
        // Payloads and vectors come back when asked for.
        let r = s
            .post(
                &format!("/collections/{name}/points/query"),
                json!({"query": points[5].vector, "limit": 1, "with_payload": true, "with_vector": true, "params": {"exact": true}}),
            )
            .await;
        let hit = &r["points"][0];
        assert_eq!(hit["id"], json!(points[5].id), "{name}: a point's own vector finds it");
        assert_eq!(hit["payload"], points[5].payload);
        let stored: Vec<f32> = serde_json::from_value(hit["vector"].clone()).unwrap();
        let want = metric.prepare(&points[5].vector);
        assert!(
            stored.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{name}: vector {stored:?} vs {want:?}"
        );
    }
}

/// Filters with about 1%, 10% and 50% of the points matching: `limit` hits whenever that many
/// match, each one matching, with or without payload indexes, with or without the graph.
#[tokio::test]
async fn filtered_search_returns_limit_hits() {
    let s = Server::new();
    let dim = 8;
    let points = dataset(1000, dim, 2);
    // `graph` never scans the whole collection for being small, so filtered searches walk the
    // graph unless the planner picks a scan for selectivity.
    s.create("plain", dim, "Cosine").await;
    s.create_with("graph", json!({"vectors": {"size": dim, "distance": "Cosine"}, "hnsw_config": {"full_scan_threshold": 0, "m": 8}}))
        .await;
    load(&s, "plain", &points).await;
    load(&s, "graph", &points).await;
    type Keep = Box<dyn Fn(&Value) -> bool>;
    let filters: Vec<(Value, Keep)> = vec![
        (
            json!({"must": [{"key": "rare", "match": {"value": true}}]}),
            Box::new(|p: &Value| p["rare"] == json!(true)),
        ),
        (
            json!({"must": [{"key": "group", "match": {"value": "g3"}}]}),
            Box::new(|p: &Value| p["group"] == "g3"),
        ),
        (
            json!({"must": [{"key": "even", "match": {"value": true}}]}),
            Box::new(|p: &Value| p["even"] == json!(true)),
        ),
        (
            json!({"must": [{"key": "n", "range": {"gte": 100, "lt": 130}}]}),
            Box::new(|p: &Value| (100..130).contains(&p["n"].as_i64().unwrap())),
        ),
        (
            json!({"must": [{"key": "group", "match": {"any": ["g1", "g2"]}}], "must_not": [{"key": "even", "match": {"value": true}}]}),
            Box::new(|p: &Value| (p["group"] == "g1" || p["group"] == "g2") && p["even"] == json!(false)),
        ),
        (
            json!({"should": [{"key": "rare", "match": {"value": true}}, {"key": "n", "range": {"lt": 3}}]}),
            Box::new(|p: &Value| p["rare"] == json!(true) || p["n"].as_i64().unwrap() < 3),
        ),
    ];
    let mut rng = Rng::new(5);
    for indexed in [false, true] {
        if indexed {
            for (field, kind) in [("rare", "bool"), ("group", "keyword"), ("even", "bool"), ("n", "integer")]
            {
                for c in ["plain", "graph"] {
                    s.put(
                        &format!("/collections/{c}/index?wait=true"),
                        json!({"field_name": field, "field_schema": kind}),
                    )
                    .await;
                }
            }
        }
        for (filter, keep) in &filters {
            let matching: HashSet<u64> = points.iter().filter(|p| keep(&p.payload)).map(|p| p.id).collect();
            assert!(!matching.is_empty());
            for c in ["plain", "graph"] {
                let n = s.count_filtered(c, filter.clone()).await;
                assert_eq!(n as usize, matching.len(), "{c} count {filter}");
                for limit in [1, 5, 10, 50, 100] {
                    let query = rng.vector(dim);
                    let what = format!("{c} indexed={indexed} limit={limit} {filter}");
                    let r = s
                        .post(
                            &format!("/collections/{c}/points/query"),
                            json!({"query": query, "limit": limit, "filter": filter}),
                        )
                        .await;
                    let got = ids(&r["points"]);
                    assert_eq!(got.len(), limit.min(matching.len()), "{what}: {} hits", got.len());
                    assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len(), "{what}: duplicate hits");
                    assert!(got.iter().all(|id| matching.contains(id)), "{what}: a hit does not match");
                    // Exact filtered search is the brute force over the matching points.
                    let all = brute(Metric::Cosine, &points, &query, |p| keep(&p.payload));
                    let r = s
                        .post(
                            &format!("/collections/{c}/points/query"),
                            json!({"query": query, "limit": limit, "filter": filter, "params": {"exact": true}}),
                        )
                        .await;
                    assert_hits(
                        &format!("{what} exact"),
                        &r["points"],
                        &best(Metric::Cosine, &all, limit),
                        &all,
                    );
                    // The 1% filter is answered exactly by the planner even without `exact`.
                    if matching.len() <= 20 {
                        let r = s
                            .post(
                                &format!("/collections/{c}/points/query"),
                                json!({"query": query, "limit": limit, "filter": filter}),
                            )
                            .await;
                        assert_hits(
                            &format!("{what} selective"),
                            &r["points"],
                            &best(Metric::Cosine, &all, limit),
                            &all,
                        );
                    }
                }
            }
        }
    }
    let info = s.get("/collections/graph").await;
    assert_eq!(info["payload_schema"]["rare"], json!({"data_type": "bool", "points": 1000}));
}

#[tokio::test]
async fn query_by_id_excludes_the_point_itself() {
    let s = Server::new();
    let dim = 10;
    let mut points = dataset(200, dim, 3);
    let uuid = "6f1c2a34-0000-4000-8000-00000000abcd";
    s.create("c", dim, "Dot").await;
    load(&s, "c", &points).await;
    let uvec = Rng::new(77).vector(dim);
    s.upsert("c", json!([{"id": uuid, "vector": uvec}])).await;
    // Brute force knows the UUID point as u64::MAX.
    points.push(Pt { id: u64::MAX, vector: uvec.clone(), payload: json!({}) });
    let as_u64 = |hits: &Value| -> Value {
        let mut hits = hits.clone();
        for h in hits.as_array_mut().unwrap() {
            if h["id"] == uuid {
                h["id"] = json!(u64::MAX);
            }
        }
        hits
    };
    for p in points.iter().step_by(37).take(6) {
        let all = brute(Metric::Dot, &points, &p.vector, |o| o.id != p.id);
        for body in [
            json!({"query": p.id, "limit": 10, "params": {"exact": true}}),
            json!({"query": {"nearest": p.id}, "limit": 10, "params": {"exact": true}}),
        ] {
            let r = s.post("/collections/c/points/query", body).await;
            assert!(!ids(&r["points"]).contains(&p.id), "query by {} returned itself", p.id);
            assert_hits(
                &format!("query by id {}", p.id),
                &as_u64(&r["points"]),
                &best(Metric::Dot, &all, 10),
                &all,
            );
        }
        // Without `exact` too, and with a limit covering every other point.
        let r = s.post("/collections/c/points/query", json!({"query": p.id, "limit": 500})).await;
        let got = ids(&as_u64(&r["points"]));
        assert_eq!(got.len(), 200, "query by id {} with a large limit", p.id);
        assert!(!got.contains(&p.id));
    }
    let r = s
        .post("/collections/c/points/query", json!({"query": uuid, "limit": 300, "params": {"exact": true}}))
        .await;
    assert!(
        r["points"].as_array().unwrap().iter().all(|h| h["id"] != uuid),
        "query by a UUID returned itself"
    );
    let all = brute(Metric::Dot, &points, &uvec, |o| o.id != u64::MAX);
    assert_hits("query by uuid", &r["points"], &best(Metric::Dot, &all, 200), &all);
}

fn ids_any(hits: &Value) -> Vec<Value> {
    hits.as_array().unwrap().iter().map(|h| h["id"].clone()).collect()
}

fn scaled_sigmoid(x: f32) -> f32 {
    0.5 * (x / (1.0 + x.abs()) + 1.0)
}

/// Brute-force recommendation scores (see `src/collection/read.rs`): examples as the request
/// gives them (a point id: its stored form), candidates in their stored form; average_vector
/// averages the examples as given and reports like a search, the others score the prepared
/// examples with the metric's internal similarity.
fn recommend_scores(
    metric: Metric,
    strategy: &str,
    pos: &[Vec<f32>],
    neg: &[Vec<f32>],
    candidates: &[&Pt],
) -> HashMap<u64, f32> {
    let (pos_given, neg_given) = (pos, neg);
    let pos: Vec<Vec<f32>> = pos.iter().map(|v| metric.prepare(v)).collect();
    let neg: Vec<Vec<f32>> = neg.iter().map(|v| metric.prepare(v)).collect();
    let avg = |vs: &[Vec<f32>]| -> Vec<f32> {
        let mut out = vec![0.0f32; vs[0].len()];
        for v in vs {
            out.iter_mut().zip(v).for_each(|(o, x)| *o += x);
        }
        out.iter_mut().for_each(|o| *o /= vs.len() as f32);
        out
    };
    candidates
        .iter()
        .map(|p| {
            let x = metric.prepare(&p.vector);
            let score = match strategy {
                "average_vector" => {
                    let a = avg(pos_given);
                    let q: Vec<f32> = if neg.is_empty() {
                        a
                    } else {
                        let n = avg(neg_given);
                        a.iter().zip(&n).map(|(a, n)| a + (a - n)).collect()
                    };
                    metric.reported(&q, &p.vector)
                }
                "best_score" => {
                    let bp = pos.iter().map(|e| metric.similarity(e, &x)).fold(f32::NEG_INFINITY, f32::max);
                    let bn = neg.iter().map(|e| metric.similarity(e, &x)).fold(f32::NEG_INFINITY, f32::max);
                    if bp > bn {
                        scaled_sigmoid(bp)
                    } else {
                        -scaled_sigmoid(bn)
                    }
                }
                "sum_scores" => {
                    pos.iter().map(|e| metric.similarity(e, &x)).sum::<f32>()
                        - neg.iter().map(|e| metric.similarity(e, &x)).sum::<f32>()
                }
                other => panic!("{other}"),
            };
            (p.id, score)
        })
        .collect()
}

#[tokio::test]
async fn recommend_strategies_equal_brute_force() {
    let s = Server::new();
    let dim = 8;
    let points = dataset(300, dim, 4);
    let by_id: HashMap<u64, &Pt> = points.iter().map(|p| (p.id, p)).collect();
    let mut rng = Rng::new(11);
    for metric in METRICS {
        let name = metric.name().to_lowercase();
        s.create(&name, dim, metric.name()).await;
        load(&s, &name, &points).await;
        let extra = rng.vector(dim);
        let cases: Vec<(Vec<Value>, Vec<Value>)> = vec![
            (vec![json!(points[0].id), json!(points[1].id)], vec![json!(points[2].id)]),
            (vec![json!(points[10].id)], vec![]),
            (vec![json!(points[20].id), json!(extra)], vec![json!(points[21].id), json!(points[22].id)]),
            (vec![], vec![json!(points[30].id)]),
        ];
        for strategy in ["average_vector", "best_score", "sum_scores"] {
            for (case, (pos, neg)) in cases.iter().enumerate() {
                if pos.is_empty() && strategy == "average_vector" {
                    continue;
                }
                let vector_of = |v: &Value| -> Vec<f32> {
                    match v.as_u64() {
                        Some(id) => metric.prepare(&by_id[&id].vector),
                        None => serde_json::from_value(v.clone()).unwrap(),
                    }
                };
                let excluded: HashSet<u64> = pos.iter().chain(neg).filter_map(Value::as_u64).collect();
                let pv: Vec<Vec<f32>> = pos.iter().map(vector_of).collect();
                let nv: Vec<Vec<f32>> = neg.iter().map(vector_of).collect();
                for filtered in [false, true] {
                    let keep =
                        |p: &&Pt| !excluded.contains(&p.id) && (!filtered || p.payload["group"] != "g1");
                    let candidates: Vec<&Pt> = points.iter().filter(keep).collect();
                    let all = recommend_scores(metric, strategy, &pv, &nv, &candidates);
                    let ascending = metric.ascending() && strategy == "average_vector";
                    let want = top_k(all.iter().map(|(i, s)| (*i, *s)).collect(), 10, ascending);
                    let filter = if filtered {
                        json!({"must_not": [{"key": "group", "match": {"value": "g1"}}]})
                    } else {
                        Value::Null
                    };
                    let what = format!("{name} {strategy} case {case} filtered={filtered}");
                    let r = s
                        .post(
                            &format!("/collections/{name}/points/query"),
                            json!({"query": {"recommend": {"positive": pos, "negative": neg, "strategy": strategy}},
                                   "limit": 10, "filter": filter, "params": {"exact": true}}),
                        )
                        .await;
                    assert_hits(&what, &r["points"], &want, &all);
                    let r = s
                        .post(
                            &format!("/collections/{name}/points/recommend"),
                            json!({"positive": pos, "negative": neg, "strategy": strategy, "limit": 10, "filter": filter,
                                   "params": {"exact": true}}),
                        )
                        .await;
                    assert_hits(&format!("{what} legacy"), &r, &want, &all);
                    // Without `exact`: the examples never come back.
                    let r = s
                        .post(
                            &format!("/collections/{name}/points/recommend"),
                            json!({"positive": pos, "negative": neg, "strategy": strategy, "limit": 20, "filter": filter}),
                        )
                        .await;
                    let got = ids(&r);
                    assert_eq!(got.len(), 20, "{what} approximate");
                    assert!(got.iter().all(|id| !excluded.contains(id)), "{what}: an example came back");
                }
            }
        }
    }
}

#[tokio::test]
async fn payload_updates_then_retrieve() {
    let s = Server::new();
    s.create("c", 4, "Dot").await;
    let uuid = "00000000-0000-0000-0000-0000000000aa";
    s.upsert(
        "c",
        json!([
            {"id": 1, "vector": [1, 0, 0, 0], "payload": {"a": 1, "b": "x"}},
            {"id": 2, "vector": [0, 1, 0, 0], "payload": {"a": 2, "b": "y"}},
            {"id": 3, "vector": [0, 0, 1, 0]},
            {"id": uuid, "vector": [0, 0, 0, 1], "payload": {"a": 4}},
        ]),
    )
    .await;
    let payload = |id: &'static str| {
        let s = &s;
        async move { s.point("c", id).await.expect("point")["payload"].clone() }
    };
    assert_eq!(payload("3").await, json!({}));
    // Set merges.
    s.post(
        "/collections/c/points/payload?wait=true",
        json!({"payload": {"b": "z", "c": [1, 2]}, "points": [1, 3]}),
    )
    .await;
    assert_eq!(payload("1").await, json!({"a": 1, "b": "z", "c": [1, 2]}));
    assert_eq!(payload("3").await, json!({"b": "z", "c": [1, 2]}));
    assert_eq!(payload("2").await, json!({"a": 2, "b": "y"}));
    // Set under a nested key.
    s.post("/collections/c/points/payload", json!({"payload": {"deep": true}, "points": [1], "key": "o.p"}))
        .await;
    assert_eq!(payload("1").await, json!({"a": 1, "b": "z", "c": [1, 2], "o": {"p": {"deep": true}}}));
    // Overwrite replaces.
    s.put("/collections/c/points/payload", json!({"payload": {"only": "this"}, "points": [2, uuid]})).await;
    assert_eq!(payload("2").await, json!({"only": "this"}));
    assert_eq!(payload(uuid).await, json!({"only": "this"}));
    // Delete keys (missing keys are fine).
    s.post("/collections/c/points/payload/delete", json!({"keys": ["b", "nope", "o"], "points": [1]})).await;
    assert_eq!(payload("1").await, json!({"a": 1, "c": [1, 2]}));
    // Clear.
    s.post("/collections/c/points/payload/clear", json!({"points": [1]})).await;
    assert_eq!(payload("1").await, json!({}));
    // By filter.
    s.post(
        "/collections/c/points/payload",
        json!({"payload": {"tagged": 1}, "filter": {"must": [{"key": "only", "match": {"value": "this"}}]}}),
    )
    .await;
    assert_eq!(payload("2").await, json!({"only": "this", "tagged": 1}));
    assert_eq!(payload(uuid).await, json!({"only": "this", "tagged": 1}));
    assert_eq!(payload("3").await, json!({"b": "z", "c": [1, 2]}));
    s.post("/collections/c/points/payload/clear", json!({"filter": {"must": [{"has_id": [2]}]}})).await;
    assert_eq!(payload("2").await, json!({}));
    // Retrieve with payload selectors; vectors are unchanged by payload updates.
    let r = s
        .post(
            "/collections/c/points",
            json!({"ids": [3, uuid, 99], "with_payload": ["c"], "with_vector": true}),
        )
        .await;
    assert_eq!(
        r,
        json!([{"id": 3, "payload": {"c": [1, 2]}, "vector": [0.0, 0.0, 1.0, 0.0]},
                         {"id": uuid, "payload": {}, "vector": [0.0, 0.0, 0.0, 1.0]}])
    );
    let r = s.post("/collections/c/points", json!({"ids": [3], "with_payload": {"exclude": ["c"]}})).await;
    assert_eq!(r, json!([{"id": 3, "payload": {"b": "z"}}]));
    let r = s.post("/collections/c/points", json!({"ids": [3], "with_payload": false})).await;
    assert_eq!(r[0]["payload"], Value::Null);
    // Filters and payload indexes see the updates.
    s.put("/collections/c/index", json!({"field_name": "b", "field_schema": "keyword"})).await;
    assert_eq!(s.count_filtered("c", json!({"must": [{"key": "b", "match": {"value": "z"}}]})).await, 1);
    s.post("/collections/c/points/payload", json!({"payload": {"b": "z"}, "points": [2]})).await;
    assert_eq!(s.count_filtered("c", json!({"must": [{"key": "b", "match": {"value": "z"}}]})).await, 2);
    s.put("/collections/c/points/payload", json!({"payload": {}, "points": [3]})).await;
    assert_eq!(s.count_filtered("c", json!({"must": [{"key": "b", "match": {"value": "z"}}]})).await, 1);
    // Upserting a point replaces its payload.
    s.upsert("c", json!([{"id": 2, "vector": [0, 1, 0, 0]}])).await;
    assert_eq!(payload("2").await, json!({}));
    assert_eq!(s.count_filtered("c", json!({"must": [{"key": "b", "match": {"value": "z"}}]})).await, 0);
}

#[tokio::test]
async fn delete_by_filter_and_by_ids() {
    let s = Server::new();
    let dim = 8;
    let points = dataset(300, dim, 6);
    s.create("c", dim, "Euclid").await;
    load(&s, "c", &points).await;
    s.put("/collections/c/index", json!({"field_name": "group", "field_schema": "keyword"})).await;
    let g3 = json!({"must": [{"key": "group", "match": {"value": "g3"}}]});
    let doomed: HashSet<u64> = points.iter().filter(|p| p.payload["group"] == "g3").map(|p| p.id).collect();
    assert_eq!(doomed.len(), 30);
    s.post("/collections/c/points/delete?wait=true", json!({ "filter": g3 })).await;
    assert_eq!(s.count("c").await, 270);
    assert_eq!(s.count_filtered("c", g3.clone()).await, 0);
    // And by ids, some already gone.
    let more = [points[0].id, points[1].id, points[3].id];
    s.post("/collections/c/points/delete", json!({"points": [more[0], more[1], more[2], 999_999]})).await;
    let gone: HashSet<u64> = doomed.iter().copied().chain(more.iter().copied()).collect();
    assert_eq!(s.count("c").await, 300 - gone.len() as u64);
    for id in gone.iter().take(10) {
        assert!(s.point("c", &id.to_string()).await.is_none(), "{id} still there");
    }
    let retrieved = s.post("/collections/c/points", json!({"ids": gone.iter().collect::<Vec<_>>()})).await;
    assert_eq!(retrieved, json!([]));
    let scrolled: HashSet<u64> =
        s.scroll_all("c", 64, None).await.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert!(scrolled.is_disjoint(&gone));
    assert_eq!(scrolled.len(), 300 - gone.len());
    // Searches never return deleted points, exact or not, and the rest matches brute force.
    let mut rng = Rng::new(8);
    for _ in 0..5 {
        let query = rng.vector(dim);
        let all = brute(Metric::Euclid, &points, &query, |p| !gone.contains(&p.id));
        let r = s.post("/collections/c/points/query", json!({"query": query, "limit": 300})).await;
        let got = ids(&r["points"]);
        assert_eq!(got.len(), 300 - gone.len());
        assert!(got.iter().all(|id| !gone.contains(id)));
        let r = s
            .post(
                "/collections/c/points/query",
                json!({"query": query, "limit": 15, "params": {"exact": true}}),
            )
            .await;
        assert_hits("after deletes", &r["points"], &best(Metric::Euclid, &all, 15), &all);
    }
    // Deleting by a filter that matches nothing is a no-op.
    s.post("/collections/c/points/delete", json!({ "filter": g3 })).await;
    assert_eq!(s.count("c").await, 300 - gone.len() as u64);
    // A deleted id can be upserted again.
    s.upsert("c", json!([{"id": points[0].id, "vector": points[0].vector, "payload": {"back": true}}])).await;
    assert_eq!(s.point("c", &points[0].id.to_string()).await.unwrap()["payload"], json!({"back": true}));
}

#[tokio::test]
async fn scroll_covers_every_id_once_in_order() {
    let s = Server::new();
    s.create("c", 4, "Cosine").await;
    let mut rng = Rng::new(12);
    let mut nums: Vec<u64> = (0..150).map(|_| rng.below(1 << 40)).collect();
    nums.extend([0, 1, 255, 256, 65_536, u64::MAX]);
    let uuids: Vec<String> = (0..40)
        .map(|_| {
            let x = ((rng.next_u64() as u128) << 64) | rng.next_u64() as u128;
            uuid::Uuid::from_u128(x).hyphenated().to_string()
        })
        .collect();
    // Interleave numbers and UUIDs, in no particular order.
    let mut all_ids: Vec<Value> =
        nums.iter().map(|n| json!(n)).chain(uuids.iter().map(|u| json!(u))).collect();
    for i in (1..all_ids.len()).rev() {
        all_ids.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for chunk in all_ids.chunks(50) {
        let pts: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| json!({"id": id, "vector": [1.0, i as f32, 0.5, 0.25], "payload": {"odd": i % 2 == 1}}))
            .collect();
        s.upsert("c", Value::Array(pts)).await;
    }
    let mut want: Vec<Value> = nums.iter().collect::<BTreeSet<_>>().into_iter().map(|n| json!(n)).collect();
    let mut sorted_uuids = uuids.clone();
    sorted_uuids.sort();
    want.extend(sorted_uuids.iter().map(|u| json!(u)));
    assert_eq!(s.count("c").await, want.len() as u64);
    for page in [1, 7, 50, 1000] {
        let got: Vec<Value> = s.scroll_all("c", page, None).await.iter().map(|p| p["id"].clone()).collect();
        assert_eq!(got, want, "scroll with pages of {page}");
    }
    // Resuming from any id (inclusive), and a filtered scroll in id order.
    let from = &want[100];
    let r = s.post("/collections/c/points/scroll", json!({"offset": from, "limit": 5})).await;
    assert_eq!(ids_any(&r["points"]), want[100..105].to_vec());
    assert_eq!(r["next_page_offset"], want[105]);
    let odd = json!({"must": [{"key": "odd", "match": {"value": true}}]});
    let got: Vec<Value> =
        s.scroll_all("c", 9, Some(odd.clone())).await.iter().map(|p| p["id"].clone()).collect();
    assert_eq!(got.len() as u64, s.count_filtered("c", odd).await);
    let positions: Vec<usize> = got.iter().map(|id| want.iter().position(|w| w == id).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "filtered scroll out of order");
    // Default page and payload: 10 points with payloads, no vectors.
    let r = s.post("/collections/c/points/scroll", json!({})).await;
    assert_eq!(r["points"].as_array().unwrap().len(), 10);
    assert!(r["points"][0]["payload"].is_object() && r["points"][0]["vector"].is_null());
}

#[tokio::test]
async fn count_with_filters() {
    let s = Server::new();
    let points = dataset(500, 4, 13);
    s.create("c", 4, "Dot").await;
    load(&s, "c", &points).await;
    s.upsert("c", json!([{"id": 5000, "vector": [1, 1, 1, 1], "payload": {"tags": ["a", "b"], "o": {"k": 3}, "z": null}}])).await;
    let filters: Vec<(Value, usize)> = vec![
        (json!({}), 501),
        (json!({"must": [{"key": "group", "match": {"value": "g0"}}]}), 50),
        (json!({"must": [{"key": "group", "match": {"except": ["g0", "g1"]}}]}), 400),
        (json!({"must_not": [{"key": "group", "match": {"value": "g0"}}]}), 451),
        (json!({"must": [{"key": "x", "range": {"gte": 10.0, "lt": 20.0}}]}), 40),
        (json!({"must": [{"key": "n", "range": {"gt": 490}}]}), 9),
        (
            json!({"should": [{"key": "rare", "match": {"value": true}}, {"key": "group", "match": {"value": "g7"}}]}),
            50,
        ),
        (
            json!({"min_should": {"conditions": [{"key": "even", "match": {"value": true}}, {"key": "group", "match": {"any": ["g0", "g2"]}}], "min_count": 2}}),
            100,
        ),
        (json!({"must": [{"has_id": [1, 4, 5000, 2]}]}), 3),
        (json!({"must": [{"key": "tags", "match": {"value": "b"}}]}), 1),
        (json!({"must": [{"key": "o.k", "match": {"value": 3}}]}), 1),
        (json!({"must": [{"is_null": {"key": "z"}}]}), 1),
        (json!({"must": [{"is_empty": {"key": "group"}}]}), 1),
        (json!({"must": [{"key": "tags", "values_count": {"gte": 2}}]}), 1),
    ];
    for indexed in [false, true] {
        if indexed {
            for (field, kind) in
                [("group", "keyword"), ("x", "float"), ("n", "integer"), ("rare", "bool"), ("even", "bool")]
            {
                s.put("/collections/c/index", json!({"field_name": field, "field_schema": {"type": kind}}))
                    .await;
            }
        }
        for (filter, n) in &filters {
            assert_eq!(
                s.count_filtered("c", filter.clone()).await as usize,
                *n,
                "indexed={indexed} {filter}"
            );
            let scrolled = s.scroll_all("c", 100, Some(filter.clone())).await.len();
            assert_eq!(scrolled, *n, "scroll indexed={indexed} {filter}");
        }
    }
    let info = s.get("/collections/c").await;
    assert_eq!(info["points_count"], json!(501));
    assert_eq!(info["payload_schema"]["group"]["points"], json!(500));
    s.ok(Method::DELETE, "/collections/c/index/group", None).await;
    assert!(info["payload_schema"].get("group").is_some());
    assert!(s.get("/collections/c").await["payload_schema"].get("group").is_none());
    assert_eq!(
        s.count_filtered("c", json!({"must": [{"key": "group", "match": {"value": "g0"}}]})).await,
        50
    );
}

#[tokio::test]
async fn service_routes_answer() {
    let s = Server::new();
    let (status, v) = s.call(Method::GET, "/", None).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    assert!(v["version"].is_string());
    // Built from this checkout: the commit is git's (Qdrant reports it the same way).
    let head = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output().unwrap();
    if head.status.success() {
        assert_eq!(v["commit"], json!(String::from_utf8(head.stdout).unwrap().trim()), "{v}");
    }
    // The probes answer plain text, as Qdrant's.
    for (path, text) in [
        ("/healthz", "healthz check passed"),
        ("/livez", "healthz check passed"),
        ("/readyz", "all shards are ready"),
    ] {
        let (status, body) = s.raw_text(path).await;
        assert_eq!((status, body.as_str()), (axum::http::StatusCode::OK, text), "{path}");
    }
    s.create("c", 4, "Dot").await;
    assert_eq!(s.get("/collections").await, json!({"collections": [{"name": "c"}]}));
    assert!(s.exists("c").await);
    assert_eq!(s.ok(Method::DELETE, "/collections/c", None).await, json!(true));
    assert!(!s.exists("c").await);
}

/// A payload index only speeds filters up: an index whose type does not fit the values (or the
/// condition) must not change what matches.
#[tokio::test]
async fn mismatched_payload_indexes_do_not_change_results() {
    let s = Server::new();
    s.create("c", 4, "Dot").await;
    let values = [
        json!(1),
        json!(2.5),
        json!("2"),
        json!(true),
        json!(3),
        json!(-0.5),
        json!([1, "a", 2.0]),
        json!(null),
        json!(7),
    ];
    let points: Vec<Value> = (0..90)
        .map(|i| json!({"id": i, "vector": [1, i, 0, 1], "payload": {"v": values[i % values.len()], "w": i % 3}}))
        .collect();
    s.upsert("c", Value::Array(points)).await;
    s.upsert("c", json!([{"id": 1000, "vector": [1, 1, 1, 1], "payload": {"v": -0.0, "w": 0}}])).await;
    let filters = [
        json!({"must": [{"key": "v", "match": {"value": 1}}]}),
        json!({"must": [{"key": "v", "match": {"value": "2"}}]}),
        json!({"must": [{"key": "v", "match": {"value": "a"}}]}),
        json!({"must": [{"key": "v", "match": {"value": true}}]}),
        json!({"must": [{"key": "v", "match": {"any": [1, "2", 7]}}]}),
        json!({"must": [{"key": "v", "range": {"gte": 2}}]}),
        json!({"must": [{"key": "v", "range": {"lt": 0}}]}),
        json!({"must": [{"key": "v", "range": {"gt": 0.9, "lte": 2.5}}]}),
        json!({"must": [{"key": "w", "match": {"value": 1}}]}),
        json!({"must": [{"key": "w", "range": {"gt": 0.5}}]}),
        json!({"must": [{"key": "v", "range": {"gte": 0, "lte": 0}}]}),
        json!({"must": [{"key": "v", "range": {"gte": -0.0, "lte": -0.0}}]}),
    ];
    let mut unindexed = Vec::new();
    for f in &filters {
        unindexed.push(s.count_filtered("c", f.clone()).await);
    }
    assert_eq!(unindexed, [20, 10, 10, 10, 40, 40, 10, 30, 30, 60, 1, 1]);
    for kinds in [["integer", "keyword"], ["float", "bool"], ["keyword", "integer"], ["bool", "float"]] {
        s.put("/collections/c/index", json!({"field_name": "v", "field_schema": kinds[0]})).await;
        s.put("/collections/c/index", json!({"field_name": "w", "field_schema": kinds[1]})).await;
        for (f, want) in filters.iter().zip(&unindexed) {
            assert_eq!(s.count_filtered("c", f.clone()).await, *want, "{kinds:?} {f}");
            let r = s
                .post(
                    "/collections/c/points/query",
                    json!({"query": [1, 1, 1, 1], "limit": 100, "filter": f}),
                )
                .await;
            assert_eq!(r["points"].as_array().unwrap().len() as u64, *want, "query {kinds:?} {f}");
        }
    }
}

/// Vectors read back print each f32 in its shortest form (`0.15`, not the f64 widening
/// `0.15000000596046448`), as Qdrant's do, on every route that returns them.
#[tokio::test]
async fn vectors_read_back_in_their_shortest_f32_form() {
    let s = Server::new();
    s.create("c", 3, "Dot").await;
    s.upsert("c", json!([{"id": 1, "vector": [0.15, -0.3, 7.1]}])).await;
    let want = json!([0.15, -0.3, 7.1]);
    let retrieved = s.post("/collections/c/points", json!({"ids": [1], "with_vector": true})).await;
    assert_eq!(retrieved[0]["vector"], want, "{retrieved}");
    assert_eq!(s.get("/collections/c/points/1").await["vector"], want);
    let page = s.post("/collections/c/points/scroll", json!({"with_vector": true})).await;
    assert_eq!(page["points"][0]["vector"], want, "{page}");
    let hits = s.post("/collections/c/points/query", json!({"query": [1, 0, 0], "with_vector": true})).await;
    assert_eq!(hits["points"][0]["vector"], want, "{hits}");
    let legacy = s
        .post("/collections/c/points/search", json!({"vector": [1, 0, 0], "limit": 1, "with_vector": true}))
        .await;
    assert_eq!(legacy[0]["vector"], want, "{legacy}");
}

/// `points/query` without a query lists the matching points in id order, as Qdrant does: each
/// scored 1.0 with version 0, numbers before UUIDs, `offset` counting points (unlike scroll's).
#[tokio::test]
async fn a_query_without_a_query_lists_points_in_id_order() {
    let s = Server::new();
    s.create("c", 2, "Dot").await;
    let uuid = "550e8400-e29b-41d4-a716-446655440000";
    s.upsert(
        "c",
        json!([
            {"id": 5, "vector": [1, 0], "payload": {"g": 1}},
            {"id": uuid, "vector": [1, 1], "payload": {"g": 1}},
            {"id": 2, "vector": [0, 1], "payload": {"g": 2}},
            {"id": 9, "vector": [1, 2], "payload": {"g": 1}},
        ]),
    )
    .await;
    let ids = |v: &Value| v["points"].as_array().unwrap().iter().map(|h| h["id"].clone()).collect::<Vec<_>>();
    let all = s.post("/collections/c/points/query", json!({})).await;
    assert_eq!(ids(&all), [json!(2), json!(5), json!(9), json!(uuid)], "{all}");
    for hit in all["points"].as_array().unwrap() {
        assert_eq!((hit["score"].as_f64(), hit["version"].as_u64()), (Some(1.0), Some(0)), "{hit}");
        assert_eq!(hit["payload"], Value::Null, "{hit}");
    }
    assert_eq!(s.post("/collections/c/points/query", json!({"query": null})).await, all);
    let page = json!({"filter": {"must": [{"key": "g", "match": {"value": 1}}]}, "limit": 2, "offset": 1, "with_payload": true});
    let page = s.post("/collections/c/points/query", page).await;
    assert_eq!(ids(&page), [json!(9), json!(uuid)], "{page}");
    assert_eq!(page["points"][0]["payload"], json!({"g": 1}), "{page}");
    // In a batch too, beside a nearest query.
    let batch = json!({"searches": [{"limit": 1}, {"query": [1, 0], "limit": 1}]});
    let batch = s.post("/collections/c/points/query/batch", batch).await;
    assert_eq!(ids(&batch[0]), [json!(2)], "{batch}");
    assert_eq!(batch[1]["points"].as_array().unwrap().len(), 1, "{batch}");
}

/// Qdrant's conditional upsert: `update_filter` replaces only the existing points it matches
/// (new ids are inserted regardless); `update_mode` restricts an upsert to new or to existing
/// points.
#[tokio::test]
async fn conditional_upserts_follow_update_filter_and_update_mode() {
    let s = Server::new();
    s.create("c", 2, "Dot").await;
    s.upsert("c", json!([{"id": 6, "vector": [1, 0], "payload": {"version": 5}}])).await;
    let put = |body: Value| async { s.put("/collections/c/points?wait=true", body).await };
    let version = |p: Option<Value>| p.map(|p| p["payload"]["version"].clone());
    let older = |v: i64, below: i64| {
        json!({"points": [{"id": 6, "vector": [1, 0], "payload": {"version": v}}],
               "update_filter": {"must": [{"key": "version", "range": {"lt": below}}]}})
    };
    // The stored point does not match: it stays; a new id in the same request is inserted.
    let mut body = older(4, 4);
    body["points"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": 7, "vector": [0, 1], "payload": {"version": 1}}));
    put(body).await;
    assert_eq!(version(s.point("c", "6").await), Some(json!(5)));
    assert_eq!(version(s.point("c", "7").await), Some(json!(1)));
    // It matches: replaced.
    put(older(6, 6)).await;
    assert_eq!(version(s.point("c", "6").await), Some(json!(6)));

    let point = |id: u64, v: i64| json!({"id": id, "vector": [1, 1], "payload": {"version": v}});
    put(json!({"points": [point(6, 60), point(8, 80)], "update_mode": "insert_only"})).await;
    assert_eq!(version(s.point("c", "6").await), Some(json!(6)), "insert_only replaced an existing point");
    assert_eq!(version(s.point("c", "8").await), Some(json!(80)));
    put(json!({"points": [point(6, 61), point(9, 90)], "update_mode": "update_only"})).await;
    assert_eq!(version(s.point("c", "6").await), Some(json!(61)));
    assert_eq!(s.point("c", "9").await, None, "update_only inserted a new point");
    put(json!({"points": [point(6, 62)], "update_mode": "upsert"})).await;
    assert_eq!(version(s.point("c", "6").await), Some(json!(62)));
    // Nothing admitted: the answer is still a success, and nothing changed.
    put(json!({"points": [point(9, 91)], "update_mode": "update_only"})).await;
    assert_eq!(s.count("c").await, 3);
    let (status, _) = s
        .call(
            Method::PUT,
            "/collections/c/points",
            Some(json!({"points": [point(1, 1)], "update_mode": "sometimes"})),
        )
        .await;
    assert_eq!(status, axum::http::StatusCode::BAD_REQUEST);
}
