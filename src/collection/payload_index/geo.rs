//! The geo index: each point's locations, and a grid of one-degree cells → points. A condition's
//! candidates are the points in the cells its area touches, checked against their locations,
//! so they are exactly the points that match.

use std::collections::{HashMap, HashSet};

use crate::collection::filter::{GeoCondition, GeoPoint};

type Cell = (i32, i32);

#[derive(Default)]
pub struct GeoIndex {
    cells: HashMap<Cell, HashSet<u64>>,
    points: HashMap<u64, Vec<GeoPoint>>,
}

fn cell(p: &GeoPoint) -> Cell {
    (p.lat.floor() as i32, p.lon.floor() as i32)
}

impl GeoIndex {
    pub fn add(&mut self, id: u64, locations: impl Iterator<Item = GeoPoint>) {
        for p in locations {
            self.cells.entry(cell(&p)).or_default().insert(id);
            self.points.entry(id).or_default().push(p);
        }
    }

    pub fn remove(&mut self, id: u64) {
        for p in self.points.remove(&id).unwrap_or_default() {
            let c = cell(&p);
            if let Some(set) = self.cells.get_mut(&c) {
                set.remove(&id);
                if set.is_empty() {
                    self.cells.remove(&c);
                }
            }
        }
    }

    pub fn candidates(&self, g: &GeoCondition) -> HashSet<u64> {
        let matches = |id: &u64| self.points.get(id).is_some_and(|ps| ps.iter().any(|p| g.contains(p)));
        let Some((lat0, lat1, lon0, lon1)) = g.bounds() else {
            return self.points.keys().filter(|id| matches(id)).copied().collect();
        };
        if !(lat0 <= lat1 && lon0 <= lon1) {
            return HashSet::new();
        }
        let (r0, r1) = (lat0.floor().max(-91.0) as i32, lat1.floor().min(90.0) as i32);
        let (c0, c1) = (lon0.floor().max(-181.0) as i32, lon1.floor().min(180.0) as i32);
        let area = (i64::from(r1 - r0) + 1) * (i64::from(c1 - c0) + 1);
        let mut ids = HashSet::new();
        if area > self.cells.len() as i64 {
            for (&(r, c), set) in &self.cells {
                if (r0..=r1).contains(&r) && (c0..=c1).contains(&c) {
                    ids.extend(set.iter().filter(|id| matches(id)));
                }
            }
        } else {
            for r in r0..=r1 {
                for c in c0..=c1 {
                    if let Some(set) = self.cells.get(&(r, c)) {
                        ids.extend(set.iter().filter(|id| matches(id)));
                    }
                }
            }
        }
        ids
    }
}
