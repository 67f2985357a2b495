//! Qdrant's geo conditions: `geo_radius` (haversine distance strictly below the radius),
//! `geo_bounding_box` (strict edges; a box whose left edge is east of its right edge crosses the
//! antimeridian) and `geo_polygon` (planar lon/lat containment, boundary excluded, interior
//! rings are holes). A payload location is `{"lon": …, "lat": …}` or a list of them.

use serde_json::Value;

/// Mean Earth radius in meters (what Qdrant's haversine uses).
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Most points one polygon may hold over all its rings, and most interior rings.
pub const MAX_POLYGON_POINTS: usize = 10_000;
pub const MAX_POLYGON_INTERIORS: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeoPoint {
    pub lon: f64,
    pub lat: f64,
}

impl GeoPoint {
    /// A point with coordinates in range, or Qdrant's message for one that is not.
    pub fn new(lon: f64, lat: f64) -> Result<GeoPoint, String> {
        if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) {
            Ok(GeoPoint { lon, lat })
        } else {
            Err(format!(
                "Wrong format of GeoPoint payload: expected `lat` = {lat} within [-90;90] and `lon` = {lon} within [-180;180]"
            ))
        }
    }

    /// The location a payload value holds, if it is an object with numeric `lon` and `lat` in
    /// range (other keys are ignored).
    pub fn of(v: &Value) -> Option<GeoPoint> {
        let o = v.as_object()?;
        let (lon, lat) = (o.get("lon")?.as_f64()?, o.get("lat")?.as_f64()?);
        GeoPoint::new(lon, lat).ok()
    }

    /// Haversine distance in meters.
    pub fn distance(&self, other: &GeoPoint) -> f64 {
        let (t1, t2) = (self.lat.to_radians(), other.lat.to_radians());
        let dt = (other.lat - self.lat).to_radians();
        let dl = (other.lon - self.lon).to_radians();
        let a = (dt / 2.0).sin().powi(2) + t1.cos() * t2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().asin()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum GeoCondition {
    Radius {
        center: GeoPoint,
        radius: f64,
    },
    BoundingBox {
        top_left: GeoPoint,
        bottom_right: GeoPoint,
    },
    /// `bounds`: the exterior's `(min_lat, max_lat, min_lon, max_lon)`, tested first.
    Polygon {
        exterior: Vec<GeoPoint>,
        interiors: Vec<Vec<GeoPoint>>,
        bounds: (f64, f64, f64, f64),
    },
}

impl GeoCondition {
    pub fn polygon(exterior: Vec<GeoPoint>, interiors: Vec<Vec<GeoPoint>>) -> GeoCondition {
        let fold =
            |f: fn(f64, f64) -> f64, init: f64, g: fn(&GeoPoint) -> f64| exterior.iter().map(g).fold(init, f);
        let bounds = (
            fold(f64::min, f64::INFINITY, |p| p.lat),
            fold(f64::max, f64::NEG_INFINITY, |p| p.lat),
            fold(f64::min, f64::INFINITY, |p| p.lon),
            fold(f64::max, f64::NEG_INFINITY, |p| p.lon),
        );
        GeoCondition::Polygon { exterior, interiors, bounds }
    }

    pub fn contains(&self, p: &GeoPoint) -> bool {
        match self {
            GeoCondition::Radius { center, radius } => center.distance(p) < *radius,
            GeoCondition::BoundingBox { top_left, bottom_right } => {
                let lat = bottom_right.lat < p.lat && p.lat < top_left.lat;
                let lon = if top_left.lon > bottom_right.lon {
                    p.lon > top_left.lon || p.lon < bottom_right.lon
                } else {
                    top_left.lon < p.lon && p.lon < bottom_right.lon
                };
                lat && lon
            }
            GeoCondition::Polygon { exterior, interiors, bounds: (lat0, lat1, lon0, lon1) } => {
                (*lat0..=*lat1).contains(&p.lat)
                    && (*lon0..=*lon1).contains(&p.lon)
                    && ring_position(exterior, p) == Position::Inside
                    && interiors.iter().all(|ring| ring_position(ring, p) == Position::Outside)
            }
        }
    }

    /// Whether any location a payload value holds (an object or a list of them) is inside.
    pub fn matches(&self, v: &Value) -> bool {
        GeoPoint::of(v).is_some_and(|p| self.contains(&p))
    }

    /// A lat / lon box (`(min_lat, max_lat, min_lon, max_lon)`) holding every point inside, for
    /// the index's grid; `None` when the area may reach any longitude.
    pub fn bounds(&self) -> Option<(f64, f64, f64, f64)> {
        match self {
            GeoCondition::Radius { center, radius } => {
                // One degree of latitude is at least 110.5 km; longitude degrees shrink by cos(lat).
                let dlat = radius.max(0.0) / 110_000.0;
                let (lo, hi) = (center.lat - dlat, center.lat + dlat);
                if lo <= -89.0 || hi >= 89.0 {
                    return Some((lo, hi, -180.0, 180.0));
                }
                let cos = lo.to_radians().cos().min(hi.to_radians().cos());
                let dlon = dlat / cos;
                if dlon >= 180.0 || center.lon - dlon < -180.0 || center.lon + dlon > 180.0 {
                    return None;
                }
                Some((lo, hi, center.lon - dlon, center.lon + dlon))
            }
            GeoCondition::BoundingBox { top_left, bottom_right } => {
                if top_left.lon > bottom_right.lon {
                    return None;
                }
                Some((bottom_right.lat, top_left.lat, top_left.lon, bottom_right.lon))
            }
            GeoCondition::Polygon { bounds, .. } => Some(*bounds),
        }
    }
}

/// Qdrant's checks of one polygon ring: at least 4 points, closed.
pub fn check_ring(points: &[GeoPoint]) -> Result<(), String> {
    if points.len() < 4 {
        return Err(format!(
            "Validation failed: polygon invalid, the size must be at least 4, got {}",
            points.len()
        ));
    }
    let (first, last) = (points[0], points[points.len() - 1]);
    if (first.lat - last.lat).abs() > f64::EPSILON || (first.lon - last.lon).abs() > f64::EPSILON {
        return Err(
            "Validation failed: polygon invalid, the first and the last points should be the same to form a closed line"
                .into(),
        );
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Position {
    Inside,
    Boundary,
    Outside,
}

/// Where `p` lies relative to a closed ring (planar, x = lon, y = lat).
fn ring_position(ring: &[GeoPoint], p: &GeoPoint) -> Position {
    let mut inside = false;
    for w in ring.windows(2) {
        let (a, b) = (w[0], w[1]);
        let cross = (b.lon - a.lon) * (p.lat - a.lat) - (b.lat - a.lat) * (p.lon - a.lon);
        let within = p.lon >= a.lon.min(b.lon)
            && p.lon <= a.lon.max(b.lon)
            && p.lat >= a.lat.min(b.lat)
            && p.lat <= a.lat.max(b.lat);
        if cross == 0.0 && within {
            return Position::Boundary;
        }
        if (a.lat > p.lat) != (b.lat > p.lat) {
            let x = a.lon + (p.lat - a.lat) * (b.lon - a.lon) / (b.lat - a.lat);
            if p.lon < x {
                inside = !inside;
            }
        }
    }
    if inside {
        Position::Inside
    } else {
        Position::Outside
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pt(lon: f64, lat: f64) -> GeoPoint {
        GeoPoint { lon, lat }
    }

    fn ring(corners: &[(f64, f64)]) -> Vec<GeoPoint> {
        let mut r: Vec<GeoPoint> = corners.iter().map(|(lon, lat)| pt(*lon, *lat)).collect();
        r.push(r[0]);
        r
    }

    #[test]
    fn radius_is_strict_haversine() {
        let berlin = pt(13.40, 52.52);
        let d = berlin.distance(&pt(13.41, 52.521));
        assert!((d - 686.0).abs() < 5.0, "{d}");
        assert!(GeoCondition::Radius { center: berlin, radius: d + 0.001 }.contains(&pt(13.41, 52.521)));
        assert!(!GeoCondition::Radius { center: berlin, radius: d }.contains(&pt(13.41, 52.521)));
        assert!(!GeoCondition::Radius { center: berlin, radius: -1.0 }.contains(&berlin));
        // Paris – London, about 343.5 km.
        let km = pt(2.3522, 48.8566).distance(&pt(-0.1276, 51.5072)) / 1000.0;
        assert!((km - 343.5).abs() < 1.0, "{km}");
    }

    #[test]
    fn bounding_box_edges_and_antimeridian() {
        let b = GeoCondition::BoundingBox { top_left: pt(13.0, 53.0), bottom_right: pt(14.0, 52.0) };
        assert!(b.contains(&pt(13.4, 52.5)));
        assert!(!b.contains(&pt(13.0, 52.5)));
        assert!(!b.contains(&pt(13.5, 53.0)));
        let across = GeoCondition::BoundingBox { top_left: pt(170.0, 10.0), bottom_right: pt(-170.0, -10.0) };
        assert!(across.contains(&pt(175.0, 0.0)));
        assert!(across.contains(&pt(-175.0, 0.0)));
        assert!(!across.contains(&pt(0.0, 0.0)));
        assert!(!across.contains(&pt(170.0, 0.0)));
    }

    #[test]
    fn polygon_with_a_hole_excludes_its_boundaries() {
        let poly = GeoCondition::polygon(
            ring(&[(13.0, 52.0), (14.0, 52.0), (14.0, 53.0), (13.0, 53.0)]),
            vec![ring(&[(13.39, 52.51), (13.405, 52.51), (13.405, 52.53), (13.39, 52.53)])],
        );
        assert!(!poly.contains(&pt(13.40, 52.52)), "in the hole");
        assert!(poly.contains(&pt(13.41, 52.521)));
        assert!(!poly.contains(&pt(13.0, 52.5)), "on the exterior edge");
        assert!(!poly.contains(&pt(13.39, 52.52)), "on the hole's edge");
        assert!(!poly.contains(&pt(14.0, 53.0)), "a corner");
        assert!(!poly.contains(&pt(100.0, 10.0)));
        assert!(poly.matches(&json!({"lat": 52.521, "lon": 13.41, "name": "x"})));
        assert!(!poly.matches(&json!({"lat": 52.521})));
        assert!(!poly.matches(&json!({"lat": 152.5, "lon": 13.41})));
    }

    #[test]
    fn ring_checks_and_point_ranges() {
        assert!(check_ring(&ring(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)])).is_ok());
        let e = check_ring(&[pt(0.0, 0.0), pt(1.0, 0.0), pt(0.0, 0.0)]).unwrap_err();
        assert!(e.contains("the size must be at least 4, got 3"), "{e}");
        let e = check_ring(&[pt(0.0, 0.0), pt(1.0, 0.0), pt(1.0, 1.0), pt(0.0, 1.0)]).unwrap_err();
        assert!(e.contains("should be the same to form a closed line"), "{e}");
        let e = GeoPoint::new(10.0, 91.0).unwrap_err();
        assert_eq!(e, "Wrong format of GeoPoint payload: expected `lat` = 91 within [-90;90] and `lon` = 10 within [-180;180]");
    }
}
