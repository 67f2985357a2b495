//! Payload key paths as Qdrant defines them: `a.b`, `a."b.c"` (a quoted key, no escapes),
//! `a[0]` (one element), `a[]` (every element). A key step never descends into an array on its
//! own: `cities.population` selects nothing when `cities` is an array; `cities[].population`
//! does.

use serde_json::Value;

use super::filter::Payload;

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
    All,
}

/// Whether `path` is one plain key (the common case, read without parsing).
fn plain(path: &str) -> bool {
    !path.is_empty() && path.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// Parses a path; the error is Qdrant's `Invalid json path: '…'`.
pub fn parse(path: &str) -> Result<Vec<Step>, String> {
    let invalid = || format!("Invalid json path: '{path}'");
    let mut steps = Vec::new();
    let mut rest = path;
    let mut first = true;
    while !rest.is_empty() || first {
        if rest.starts_with('[') {
            if first {
                return Err(invalid());
            }
            let end = rest.find(']').ok_or_else(invalid)?;
            let inside = &rest[1..end];
            steps.push(if inside.is_empty() {
                Step::All
            } else if inside.bytes().all(|b| b.is_ascii_digit()) {
                Step::Index(inside.parse().map_err(|_| invalid())?)
            } else {
                return Err(invalid());
            });
            rest = &rest[end + 1..];
            continue;
        }
        if !first {
            rest = rest.strip_prefix('.').ok_or_else(invalid)?;
        }
        first = false;
        let key = if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').ok_or_else(invalid)?;
            let key = &quoted[..end];
            if key.contains('\\') {
                return Err(invalid());
            }
            rest = &quoted[end + 1..];
            key.to_string()
        } else {
            let end =
                rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-')).unwrap_or(rest.len());
            if end == 0 {
                return Err(invalid());
            }
            let key = &rest[..end];
            rest = &rest[end..];
            key.to_string()
        };
        steps.push(Step::Key(key));
        if !(rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')) {
            return Err(invalid());
        }
    }
    Ok(steps)
}

/// The values `path` selects, each one value (an array reached at the end stays one value). An
/// invalid path selects nothing (requests are checked when they are parsed).
pub fn select<'a>(payload: &'a Payload, path: &str) -> Vec<&'a Value> {
    if plain(path) {
        return payload.get(path).into_iter().collect();
    }
    match parse(path) {
        Ok(steps) => select_steps(payload, &steps),
        Err(_) => Vec::new(),
    }
}

pub fn select_steps<'a>(payload: &'a Payload, steps: &[Step]) -> Vec<&'a Value> {
    let Some((Step::Key(first), rest)) = steps.split_first() else { return Vec::new() };
    let mut current: Vec<&Value> = payload.get(first).into_iter().collect();
    for step in rest {
        current = current
            .into_iter()
            .flat_map(|v| -> Vec<&Value> {
                match (step, v) {
                    (Step::Key(k), Value::Object(o)) => o.get(k).into_iter().collect(),
                    (Step::Index(n), Value::Array(items)) => items.get(*n).into_iter().collect(),
                    (Step::All, Value::Array(items)) => items.iter().collect(),
                    _ => Vec::new(),
                }
            })
            .collect();
    }
    current
}

/// Merges `source` into `target` as Qdrant's set-payload does: a `null` removes the key.
fn merge(target: &mut Payload, source: &Payload) {
    for (k, v) in source {
        if v.is_null() {
            target.remove(k);
        } else {
            target.insert(k.clone(), v.clone());
        }
    }
}

/// Set-payload under `steps`: each key step makes its value an object (replacing anything
/// else), each index step an array (an index out of range writes nothing), `[]` goes into every
/// element; the value reached becomes an object that `source` is merged into.
pub fn set(payload: &mut Payload, steps: &[Step], source: &Payload) {
    let Some((Step::Key(first), rest)) = steps.split_first() else { return };
    let slot = payload.entry(first.clone()).or_insert(Value::Null);
    set_value(slot, rest, source);
}

fn set_value(value: &mut Value, steps: &[Step], source: &Payload) {
    match steps.split_first() {
        None => {
            if !value.is_object() {
                *value = Value::Object(Payload::new());
            }
            if let Value::Object(o) = value {
                merge(o, source);
            }
        }
        Some((Step::Key(k), rest)) => {
            if !value.is_object() {
                *value = Value::Object(Payload::new());
            }
            if let Value::Object(o) = value {
                set_value(o.entry(k.clone()).or_insert(Value::Null), rest, source);
            }
        }
        Some((Step::Index(n), rest)) => match value {
            Value::Array(items) => {
                if let Some(item) = items.get_mut(*n) {
                    set_value(item, rest, source);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => {
                *value = Value::Array(Vec::new())
            }
        },
        Some((Step::All, rest)) => match value {
            Value::Array(items) => items.iter_mut().for_each(|item| set_value(item, rest, source)),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => {
                *value = Value::Array(Vec::new())
            }
        },
    }
}

/// Set-payload without a key: merged at the top, a `null` removing its key.
pub fn set_top(payload: &mut Payload, source: &Payload) {
    merge(payload, source);
}

/// Delete-payload of `steps`: a final key is removed, a final `[]` empties the array, a final
/// `[N]` does nothing (as in Qdrant: removing by position is not idempotent).
pub fn remove(payload: &mut Payload, steps: &[Step]) {
    match steps {
        [Step::Key(k)] => {
            payload.remove(k);
        }
        [Step::Key(k), rest @ ..] => {
            if let Some(v) = payload.get_mut(k) {
                remove_value(v, rest);
            }
        }
        _ => {}
    }
}

fn remove_value(value: &mut Value, steps: &[Step]) {
    match (steps, value) {
        ([Step::Key(k)], Value::Object(o)) => {
            o.remove(k);
        }
        ([Step::All], Value::Array(items)) => items.clear(),
        ([Step::Key(k), rest @ ..], Value::Object(o)) => {
            if let Some(v) = o.get_mut(k) {
                remove_value(v, rest);
            }
        }
        ([Step::Index(n), rest @ ..], Value::Array(items)) if !rest.is_empty() => {
            if let Some(v) = items.get_mut(*n) {
                remove_value(v, rest);
            }
        }
        ([Step::All, rest @ ..], Value::Array(items)) if !rest.is_empty() => {
            items.iter_mut().for_each(|v| remove_value(v, rest));
        }
        _ => {}
    }
}

/// A node's position as selectors see it: keys, and `[]` for any array element.
#[derive(Clone, Copy, PartialEq)]
enum At<'a> {
    Key(&'a str),
    Element,
}

fn agrees(pattern: &[Step], node: &[At]) -> bool {
    pattern.iter().zip(node).all(|(p, n)| match (p, n) {
        (Step::Key(a), At::Key(b)) => a == b,
        (Step::All, At::Element) => true,
        _ => false,
    })
}

/// The payload with only what `include` keeps (all when `None`) and nothing `exclude` names,
/// nested as it was: a node is kept when an include pattern and its position agree on every
/// step both have, and dropped when an exclude pattern is a prefix of its position. Array
/// elements are at `[]` (never `[N]`).
pub fn filter(payload: &Payload, include: Option<&[Vec<Step>]>, exclude: &[Vec<Step>]) -> Payload {
    let mut at = Vec::new();
    filter_object(payload, include, exclude, &mut at)
}

fn keep(include: Option<&[Vec<Step>]>, exclude: &[Vec<Step>], at: &[At]) -> bool {
    let included = include.is_none_or(|patterns| patterns.iter().any(|p| agrees(p, at)));
    let excluded = exclude.iter().any(|p| p.len() <= at.len() && agrees(p, at));
    included && !excluded
}

fn filter_object<'a>(
    o: &'a Payload,
    include: Option<&[Vec<Step>]>,
    exclude: &[Vec<Step>],
    at: &mut Vec<At<'a>>,
) -> Payload {
    let mut out = Payload::new();
    for (k, v) in o {
        at.push(At::Key(k));
        if keep(include, exclude, at) {
            out.insert(k.clone(), filter_value(v, include, exclude, at));
        }
        at.pop();
    }
    out
}

fn filter_value<'a>(
    v: &'a Value,
    include: Option<&[Vec<Step>]>,
    exclude: &[Vec<Step>],
    at: &mut Vec<At<'a>>,
) -> Value {
    match v {
        Value::Object(o) => Value::Object(filter_object(o, include, exclude, at)),
        Value::Array(items) => {
            at.push(At::Element);
            let kept = if keep(include, exclude, at) {
                items.iter().map(|item| filter_value(item, include, exclude, at)).collect()
            } else {
                Vec::new()
            };
            at.pop();
            Value::Array(kept)
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> Payload {
        v.as_object().unwrap().clone()
    }

    fn steps(path: &str) -> Vec<Step> {
        parse(path).unwrap()
    }

    #[test]
    fn the_grammar() {
        assert_eq!(steps("a.b"), vec![Step::Key("a".into()), Step::Key("b".into())]);
        assert_eq!(
            steps("a.\"b.c\"[0][]"),
            vec![Step::Key("a".into()), Step::Key("b.c".into()), Step::Index(0), Step::All]
        );
        assert_eq!(steps("\"a b\".c"), vec![Step::Key("a b".into()), Step::Key("c".into())]);
        assert_eq!(steps("Müesli.foo_1-x"), vec![Step::Key("Müesli".into()), Step::Key("foo_1-x".into())]);
        for bad in
            ["", "a b", "a..b", ".a", "a.", "a[x]", "a.\"b", "a[", "$.a", "a[-1]", "a.[0]", "a[0]b", "[0]"]
        {
            assert_eq!(parse(bad), Err(format!("Invalid json path: '{bad}'")), "{bad:?}");
        }
    }

    #[test]
    fn keys_do_not_descend_into_arrays() {
        let doc = p(
            json!({"country": {"cities": [{"name": "Berlin", "population": 3.7}, {"name": "Munich", "population": 1.5}]},
            "arr": [{"a": [1, 2, 3]}, {"a": 4}, {"b": 5}], "a": {"b.c": 5, "b": {"c": 6}}}),
        );
        assert!(select(&doc, "country.cities.population").is_empty());
        assert_eq!(select(&doc, "country.cities[].population"), vec![&json!(3.7), &json!(1.5)]);
        assert_eq!(select(&doc, "country.cities[1].name"), vec![&json!("Munich")]);
        assert_eq!(select(&doc, "arr[].a"), vec![&json!([1, 2, 3]), &json!(4)]);
        assert_eq!(select(&doc, "arr[].a[]"), vec![&json!(1), &json!(2), &json!(3)]);
        assert_eq!(select(&doc, "a.\"b.c\""), vec![&json!(5)]);
        assert_eq!(select(&doc, "a.b.c"), vec![&json!(6)]);
    }

    #[test]
    fn set_payload_under_a_key() {
        let base = json!({"a": {"b": [{"c": 1, "d": 1}, {"c": 2, "d": 2}, {"x": {"e": 3}}], "s": "str"}, "f": 3, "g": ["g0", "g1"], "sc": 5});
        let cases = [
            (
                "a.b[0]",
                json!({"c": 9}),
                json!({"a": {"b": [{"c": 9, "d": 1}, {"c": 2, "d": 2}, {"x": {"e": 3}}], "s": "str"}}),
            ),
            ("a.b[5]", json!({"c": 9}), base.clone()),
            ("a.b", json!({"v": 1}), json!({"a": {"b": {"v": 1}, "s": "str"}})),
            ("new.deep", json!({"v": 1}), json!({"new": {"deep": {"v": 1}}})),
            ("sc.x.y", json!({"v": 1}), json!({"sc": {"x": {"y": {"v": 1}}}})),
            ("f[0]", json!({"v": 1}), json!({"f": []})),
            ("g[]", json!({"v": 1}), json!({"g": [{"v": 1}, {"v": 1}]})),
            ("a", json!({"s": null}), json!({"a": {"b": base["a"]["b"].clone()}})),
        ];
        for (key, source, want) in cases {
            let mut doc = p(base.clone());
            set(&mut doc, &steps(key), &p(source));
            for (k, v) in p(want) {
                assert_eq!(doc[&k], v, "{key}: {k}");
            }
        }
        let mut doc = p(base.clone());
        set(&mut doc, &steps("a.b[]"), &p(json!({"n": 1})));
        assert!(doc["a"]["b"].as_array().unwrap().iter().all(|e| e["n"] == 1));
    }

    #[test]
    fn delete_payload_paths() {
        let base = json!({"a": {"b": [{"c": 1, "d": 1}, {"c": 2}]}, "g": [1, 2]});
        for (key, want) in [
            ("a.b[].c", json!({"a": {"b": [{"d": 1}, {}]}, "g": [1, 2]})),
            ("a.b[0].c", json!({"a": {"b": [{"d": 1}, {"c": 2}]}, "g": [1, 2]})),
            ("g[]", json!({"a": base["a"].clone(), "g": []})),
            ("g[0]", base.clone()),
            ("a.b.c", base.clone()),
            ("a", json!({"g": [1, 2]})),
        ] {
            let mut doc = p(base.clone());
            remove(&mut doc, &steps(key));
            assert_eq!(Value::Object(doc), want, "{key}");
        }
    }

    #[test]
    fn include_and_exclude_keep_the_nesting() {
        let doc = p(
            json!({"a": {"b": [{"c": 1, "d": 1}, {"c": 2, "d": 2}, {"x": {"e": 3}}], "s": "str"}, "f": 3, "g": ["g0", "g1"], "k": {"b.c": 7, "z": 1}, "sc": 5}),
        );
        let inc = |paths: &[&str]| {
            let pats: Vec<Vec<Step>> = paths.iter().map(|p| steps(p)).collect();
            Value::Object(filter(&doc, Some(&pats), &[]))
        };
        let exc = |paths: &[&str]| {
            let pats: Vec<Vec<Step>> = paths.iter().map(|p| steps(p)).collect();
            Value::Object(filter(&doc, None, &pats))
        };
        assert_eq!(inc(&["a.b[].c"]), json!({"a": {"b": [{"c": 1}, {"c": 2}, {}]}}));
        assert_eq!(inc(&["a.b.c"]), json!({"a": {"b": []}}));
        assert_eq!(inc(&["a.b[0]"]), json!({"a": {"b": []}}));
        assert_eq!(inc(&["a.s", "f"]), json!({"a": {"s": "str"}, "f": 3}));
        assert_eq!(inc(&["sc.x"]), json!({"sc": 5}));
        assert_eq!(inc(&["k.\"b.c\""]), json!({"k": {"b.c": 7}}));
        assert_eq!(inc(&["g[]"]), json!({"g": ["g0", "g1"]}));
        assert_eq!(inc(&["nope"]), json!({}));
        assert_eq!(exc(&["a.b[].c"])["a"]["b"], json!([{"d": 1}, {"d": 2}, {"x": {"e": 3}}]));
        assert_eq!(exc(&["a.b.c"]), Value::Object(doc.clone()));
        assert_eq!(exc(&["g[]"])["g"], json!([]));
        assert_eq!(exc(&["k.\"b.c\""])["k"], json!({"z": 1}));
        assert!(exc(&["a"]).get("a").is_none());
    }
}
