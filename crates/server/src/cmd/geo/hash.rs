//! Redis's geohash arithmetic (geohash.c and geohash_helper.c of 7.0.15): 52-bit interleaved
//! cells, their neighbours, the cells a search covers, and the haversine distance. The
//! constants, the order of the floating-point operations and C's conversions are Redis's, so
//! scores, coordinates and distances agree bit for bit (both use the platform's libm).

/// 26 steps of longitude and latitude: 52 bits.
pub(super) const STEP_MAX: u8 = 26;
pub(super) const LAT_MIN: f64 = -85.05112878;
pub(super) const LAT_MAX: f64 = 85.05112878;
pub(super) const LONG_MIN: f64 = -180.0;
pub(super) const LONG_MAX: f64 = 180.0;

/// geohash_helper.c's D_R (M_PI / 180.0).
const D_R: f64 = std::f64::consts::PI / 180.0;
/// Earth's quadratic mean radius for WGS-84.
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;

/// Redis's coordinate ranges for scores (EPSG:900913 latitudes).
const WGS84: Ranges = Ranges {
    lon: Range {
        min: LONG_MIN,
        max: LONG_MAX,
    },
    lat: Range {
        min: LAT_MIN,
        max: LAT_MAX,
    },
};

/// The ranges of a standard geohash string (GEOHASH re-encodes with them).
pub(super) const STANDARD: Ranges = Ranges {
    lon: Range {
        min: -180.0,
        max: 180.0,
    },
    lat: Range {
        min: -90.0,
        max: 90.0,
    },
};

/// A cell: `step` bits of each coordinate, interleaved (latitude in the even bits).
/// All zero is "no cell" (Redis's GZERO).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Bits {
    pub(super) bits: u64,
    pub(super) step: u8,
}

impl Bits {
    pub(super) fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Range {
    pub(super) min: f64,
    pub(super) max: f64,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Ranges {
    lon: Range,
    lat: Range,
}

/// A decoded cell: the rectangle it covers.
#[derive(Clone, Copy, Debug, Default)]
struct Area {
    lon: Range,
    lat: Range,
}

/// C's `(long long)` conversion of a double on x86-64: truncation toward zero, and
/// 0x8000000000000000 (the "integer indefinite") for NaN and values out of range.
pub(super) fn c_i64(x: f64) -> i64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if (-TWO63..TWO63).contains(&x) {
        x as i64
    } else {
        i64::MIN
    }
}

/// C's `(uint64_t)` conversion of a double as gcc emits it on x86-64: below 2^63 a signed
/// conversion (so -5 becomes 2^64 - 5), from 2^63 a signed conversion of `x - 2^63` with the
/// top bit flipped.
pub(super) fn c_u64(x: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if x >= TWO63 {
        (c_i64(x - TWO63) as u64) ^ (1 << 63)
    } else {
        c_i64(x) as u64
    }
}

/// C's `llrint`: rounds to nearest, ties to even; the integer indefinite when out of range.
pub(super) fn c_llrint(x: f64) -> i64 {
    c_i64(x.round_ties_even())
}

/// Spreads the 32 bits of `v` over the even bits of a u64.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bits of `x` into a u32 (the inverse of `spread`).
fn gather(x: u64) -> u32 {
    let mut x = x & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// geohashEncode: None when the point is outside Redis's limits or the ranges.
pub(super) fn encode(r: &Ranges, lon: f64, lat: f64, step: u8) -> Option<Bits> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < r.lat.min || lat > r.lat.max || lon < r.lon.min || lon > r.lon.max {
        return None;
    }
    let cells = (1u64 << step) as f64;
    let lat_offset = (lat - r.lat.min) / (r.lat.max - r.lat.min) * cells;
    let lon_offset = (lon - r.lon.min) / (r.lon.max - r.lon.min) * cells;
    // C converts the doubles to the uint32_t parameters of interleave64.
    let bits = spread(c_i64(lat_offset) as u32) | (spread(c_i64(lon_offset) as u32) << 1);
    Some(Bits { bits, step })
}

/// geohashDecode: the rectangle a cell covers.
fn decode(r: &Ranges, hash: Bits) -> Area {
    let ilat = gather(hash.bits);
    let ilon = gather(hash.bits >> 1);
    let cells = (1u64 << hash.step) as f64;
    let lat_scale = r.lat.max - r.lat.min;
    let lon_scale = r.lon.max - r.lon.min;
    // (ilato + 1) is uint32_t arithmetic in C: it wraps.
    Area {
        lat: Range {
            min: r.lat.min + (f64::from(ilat) / cells) * lat_scale,
            max: r.lat.min + (f64::from(ilat.wrapping_add(1)) / cells) * lat_scale,
        },
        lon: Range {
            min: r.lon.min + (f64::from(ilon) / cells) * lon_scale,
            max: r.lon.min + (f64::from(ilon.wrapping_add(1)) / cells) * lon_scale,
        },
    }
}

/// The centre of a cell, clamped to Redis's limits (geohashDecodeAreaToLongLat).
fn centre(a: &Area) -> [f64; 2] {
    let lon = ((a.lon.min + a.lon.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

/// The 52-bit score of a point Redis accepts (GEOADD's geohashEncodeWGS84 + align).
pub(super) fn score_of(lon: f64, lat: f64) -> u64 {
    encode(&WGS84, lon, lat, STEP_MAX).map_or(0, align52)
}

/// The longitude and latitude a score stands for (decodeGeohash): any score decodes, as in
/// Redis, through C's conversion to uint64_t.
pub(super) fn decode_score(score: f64) -> [f64; 2] {
    let hash = Bits {
        bits: c_u64(score),
        step: STEP_MAX,
    };
    centre(&decode(&WGS84, hash))
}

/// geohashAlign52Bits.
pub(super) fn align52(hash: Bits) -> u64 {
    hash.bits << (52 - u32::from(hash.step) * 2)
}

/// The score interval [min, max) holding every point of a cell (scoresOfGeoHashBox).
pub(super) fn score_span(hash: Bits) -> (f64, f64) {
    let next = Bits {
        bits: hash.bits.wrapping_add(1),
        step: hash.step,
    };
    (align52(hash) as f64, align52(next) as f64)
}

fn move_x(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> (64 - u32::from(hash.step) * 2);
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - u32::from(hash.step) * 2);
    hash.bits = x | y;
}

fn move_y(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - u32::from(hash.step) * 2);
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> (64 - u32::from(hash.step) * 2);
    hash.bits = x | y;
}

/// The cell moved by (dx, dy), wrapping around as Redis's bit arithmetic does.
fn moved(hash: Bits, dx: i8, dy: i8) -> Bits {
    let mut h = hash;
    move_x(&mut h, dx);
    move_y(&mut h, dy);
    h
}

// Indexes into the nine cells of a search, in the order Redis visits them.
const CENTRE: usize = 0;
const NORTH: usize = 1;
const SOUTH: usize = 2;
const EAST: usize = 3;
const WEST: usize = 4;
const NORTH_EAST: usize = 5;
const NORTH_WEST: usize = 6;
const SOUTH_EAST: usize = 7;
const SOUTH_WEST: usize = 8;

/// A cell and its eight neighbours, in membersOfAllNeighbors's order.
fn with_neighbours(hash: Bits) -> [Bits; 9] {
    let mut cells = [hash; 9];
    for (i, (dx, dy)) in [
        (0, 0),
        (0, 1),
        (0, -1),
        (1, 0),
        (-1, 0),
        (1, 1),
        (-1, 1),
        (1, -1),
        (-1, -1),
    ]
    .into_iter()
    .enumerate()
    {
        cells[i] = moved(hash, dx, dy);
    }
    cells[CENTRE] = hash;
    cells
}

/// geohashEstimateStepsByRadius.
fn estimate_steps(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    // Wider cells towards the poles.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// What a search covers.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// A search shape: centre, size in its unit, and the unit's size in meters.
#[derive(Clone, Copy, Debug)]
pub(super) struct Shape {
    pub(super) xy: [f64; 2],
    pub(super) conversion: f64,
    pub(super) kind: Kind,
}

impl Shape {
    /// geohashBoundingBox: [min_lon, min_lat, max_lon, max_lat].
    fn bounding_box(&self) -> [f64; 4] {
        let [lon, lat] = self.xy;
        let (h, w) = match self.kind {
            Kind::Radius(r) => (r, r),
            Kind::Box { width, height } => (height / 2.0, width / 2.0),
        };
        let height = self.conversion * h;
        let width = self.conversion * w;
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat + lat_delta).cos());
        let long_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat - lat_delta).cos());
        // North and south of the equator the widest edge is not the same one.
        let delta = if lat < 0.0 {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [lon - delta, lat - lat_delta, lon + delta, lat + lat_delta]
    }

    /// The distance of a point from the centre when the point is inside (geoWithinShape).
    pub(super) fn contains(&self, x: f64, y: f64) -> Option<f64> {
        let [cx, cy] = self.xy;
        match self.kind {
            Kind::Radius(r) => {
                let d = distance(cx, cy, x, y);
                // A NaN distance is not "> radius": Redis keeps the point.
                (d.partial_cmp(&(r * self.conversion)) != Some(std::cmp::Ordering::Greater))
                    .then_some(d)
            }
            Kind::Box { width, height } => in_rectangle(
                width * self.conversion,
                height * self.conversion,
                [cx, cy],
                [x, y],
            ),
        }
    }

    /// The cells to scan, in Redis's order, zero ones included (geohashCalculateAreasByShapeWGS84).
    pub(super) fn cells(&self) -> [Bits; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let [lon, lat] = self.xy;
        let radius_meters = match self.kind {
            Kind::Radius(r) => r,
            Kind::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.conversion;
        let mut steps = estimate_steps(radius_meters, lat);
        let at = |steps: u8| {
            let hash = encode(&WGS84, lon, lat, steps).unwrap_or(Bits {
                bits: 0,
                step: steps,
            });
            (with_neighbours(hash), decode(&WGS84, hash))
        };
        let (mut cells, mut area) = at(steps);
        // Near the edge of the area a neighbour may not reach far enough: one step coarser.
        let north = decode(&WGS84, cells[NORTH]);
        let south = decode(&WGS84, cells[SOUTH]);
        let east = decode(&WGS84, cells[EAST]);
        let west = decode(&WGS84, cells[WEST]);
        let decrease = north.lat.max < max_lat
            || south.lat.min > min_lat
            || east.lon.max < max_lon
            || west.lon.min > min_lon;
        if steps > 1 && decrease {
            steps -= 1;
            (cells, area) = at(steps);
        }
        // Leave out the neighbours the search cannot reach.
        if steps >= 2 {
            let mut drop = |which: [usize; 3]| {
                for i in which {
                    cells[i] = Bits::default();
                }
            };
            if area.lat.min < min_lat {
                drop([SOUTH, SOUTH_WEST, SOUTH_EAST]);
            }
            if area.lat.max > max_lat {
                drop([NORTH, NORTH_EAST, NORTH_WEST]);
            }
            if area.lon.min < min_lon {
                drop([WEST, SOUTH_WEST, NORTH_WEST]);
            }
            if area.lon.max > max_lon {
                drop([EAST, SOUTH_EAST, NORTH_EAST]);
            }
        }
        cells
    }
}

/// geohashGetLatDistance.
fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// The haversine distance in meters (geohashGetDistance).
pub(super) fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    // The same longitude: the latitude difference alone.
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// geohashGetDistanceIfInRectangle: `c` the centre, `p` the point.
fn in_rectangle(width_m: f64, height_m: f64, c: [f64; 2], p: [f64; 2]) -> Option<f64> {
    let [x1, y1] = c;
    let [x2, y2] = p;
    if lat_distance(y2, y1) > height_m / 2.0 {
        return None;
    }
    if distance(x2, y2, x1, y2) > width_m / 2.0 {
        return None;
    }
    Some(distance(x1, y1, x2, y2))
}

/// The 11-character standard geohash of a score (GEOHASH): decoded with Redis's ranges,
/// re-encoded with the standard ones; the 11th character stands for bits Redis does not
/// have, so it is always '0'.
pub(super) fn geohash_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let [lon, lat] = decode_score(score);
    let bits = encode(&STANDARD, lon, lat, 26).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().take(10).enumerate() {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_redis() {
        // From Redis's unit/geo.tcl ("Check geoset values").
        assert_eq!(score_of(-74.0131604, 40.7126674), 1791873972053020);
        assert_eq!(score_of(-73.9903085, 40.7362513), 1791875485187452);
        assert_eq!(score_of(-73.7858139, 40.6428986), 1791895905559723);
    }

    #[test]
    fn geohash_matches_wikipedia() {
        let s = score_of(-5.6, 42.6) as f64;
        assert_eq!(&geohash_string(s), b"ezs42e44yx0");
    }

    #[test]
    fn interleave_round_trips() {
        for v in [0u32, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(gather(spread(v)), v);
            assert_eq!(gather(spread(v) << 1 >> 1), v);
        }
    }

    #[test]
    fn c_conversions() {
        assert_eq!(c_u64(-5.0), u64::MAX - 4);
        assert_eq!(c_u64(f64::INFINITY), 0);
        assert_eq!(c_u64(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(c_u64(1e19), 10_000_000_000_000_000_000);
        assert_eq!(c_u64(2e19), 0);
        assert_eq!(c_llrint(2.5), 2);
        assert_eq!(c_llrint(f64::NAN), i64::MIN);
    }

    #[test]
    fn neighbours_wrap_at_step_one() {
        let c = with_neighbours(Bits {
            bits: 0b00,
            step: 1,
        });
        assert_eq!(c[NORTH], c[SOUTH]);
        assert_eq!(c[EAST], c[WEST]);
        assert_ne!(c[NORTH], c[CENTRE]);
    }

    #[test]
    fn palermo_catania() {
        let p = decode_score(score_of(13.361389, 38.115556) as f64);
        let c = decode_score(score_of(15.087269, 37.502669) as f64);
        let d = distance(p[0], p[1], c[0], c[1]);
        assert!((166274.0..166275.0).contains(&d), "{d}");
    }
}
