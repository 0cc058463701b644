//! Geometry for the product models: vectors, a few surface builders
//! (grids, lathes, sweeps, cap fans) and affine transforms.
//!
//! Every builder winds its triangles counter-clockwise seen from outside
//! (glTF's front face) and computes its normals from the surface: smooth
//! builders average the faces around each vertex, flat ones give each face
//! its own vertices. The arithmetic is `+ - * /` and `sqrt` only (see
//! [`sin_cos`] and [`pow`]), so the files are the same bytes on every
//! platform.

use std::ops::{Add, AddAssign, Mul, Neg, Sub};

pub const TAU: f64 = std::f64::consts::TAU;
const FRAC_PI_2: f64 = std::f64::consts::FRAC_PI_2;
const LN_2: f64 = std::f64::consts::LN_2;

/// Triangles with less area than this (twice the area, in m²) are dropped:
/// they are the slivers at a lathe's pole or a rounded box's corner.
const DEGENERATE: f64 = 1e-14;

#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct V3 {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

pub const fn v3(x: f64, y: f64, z: f64) -> V3 {
    V3 { x, y, z }
}

impl V3 {
    pub const ZERO: V3 = v3(0.0, 0.0, 0.0);
    pub const X: V3 = v3(1.0, 0.0, 0.0);
    pub const Y: V3 = v3(0.0, 1.0, 0.0);
    pub const Z: V3 = v3(0.0, 0.0, 1.0);

    pub fn dot(self, o: V3) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }

    pub fn cross(self, o: V3) -> V3 {
        v3(
            self.y * o.z - self.z * o.y,
            self.z * o.x - self.x * o.z,
            self.x * o.y - self.y * o.x,
        )
    }

    pub fn len(self) -> f64 {
        self.dot(self).sqrt()
    }

    /// The unit vector along `self`, or zero for the zero vector.
    pub fn normalized(self) -> V3 {
        let l = self.len();
        if l > 0.0 { self * (1.0 / l) } else { V3::ZERO }
    }

    pub fn lerp(self, o: V3, t: f64) -> V3 {
        self + (o - self) * t
    }
}

impl Add for V3 {
    type Output = V3;
    fn add(self, o: V3) -> V3 {
        v3(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}

impl AddAssign for V3 {
    fn add_assign(&mut self, o: V3) {
        *self = *self + o;
    }
}

impl Sub for V3 {
    type Output = V3;
    fn sub(self, o: V3) -> V3 {
        v3(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}

impl Mul<f64> for V3 {
    type Output = V3;
    fn mul(self, s: f64) -> V3 {
        v3(self.x * s, self.y * s, self.z * s)
    }
}

impl Neg for V3 {
    type Output = V3;
    fn neg(self) -> V3 {
        v3(-self.x, -self.y, -self.z)
    }
}

/// `(sin x, cos x)` from a Taylor series after reducing to a quarter turn:
/// platform `sin`s differ in the last bit, and the files must not.
pub fn sin_cos(x: f64) -> (f64, f64) {
    let q = (x / FRAC_PI_2).round();
    let r = x - q * FRAC_PI_2;
    let r2 = r * r;
    let (mut s, mut c) = (r, 1.0);
    let (mut ts, mut tc) = (r, 1.0);
    for k in 1..=10 {
        let k = f64::from(k);
        ts *= -r2 / ((2.0 * k) * (2.0 * k + 1.0));
        tc *= -r2 / ((2.0 * k - 1.0) * (2.0 * k));
        s += ts;
        c += tc;
    }
    match (q as i64).rem_euclid(4) {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

/// `(sin, cos)` of an angle in degrees.
pub fn sin_cos_deg(deg: f64) -> (f64, f64) {
    sin_cos(deg * (TAU / 360.0))
}

/// `x^y` for `x >= 0`, as `exp(y ln x)` with series of our own, for the
/// same reason as [`sin_cos`].
pub fn pow(x: f64, y: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    // ln x = e ln 2 + ln m with m in [1, 2), and ln m = 2 atanh((m-1)/(m+1)).
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52));
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let (mut term, mut sum) = (z, z);
    for k in 1..40 {
        term *= z2;
        sum += term / f64::from(2 * k + 1);
    }
    let ln = e as f64 * LN_2 + 2.0 * sum;
    // exp t = 2^k exp r with |r| <= ln 2 / 2.
    let t = y * ln;
    let k = (t / LN_2).round();
    let r = t - k * LN_2;
    let (mut term, mut sum) = (1.0, 1.0);
    for i in 1..25 {
        term *= r / f64::from(i);
        sum += term;
    }
    sum * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

/// A triangle mesh: positions in metres, unit normals, counter-clockwise
/// triangles.
#[derive(Clone, Debug, Default)]
pub struct Mesh {
    pub positions: Vec<V3>,
    pub normals: Vec<V3>,
    pub indices: Vec<u32>,
}

impl Mesh {
    pub fn append(&mut self, other: Mesh) {
        let base = self.positions.len() as u32;
        self.positions.extend(other.positions);
        self.normals.extend(other.normals);
        self.indices.extend(other.indices.iter().map(|i| i + base));
    }

    pub fn merged(meshes: impl IntoIterator<Item = Mesh>) -> Mesh {
        let mut out = Mesh::default();
        for m in meshes {
            out.append(m);
        }
        out
    }

    pub fn transformed(mut self, xf: &Xf) -> Mesh {
        let cof = xf.cofactor();
        let flip = xf.det() < 0.0;
        for p in &mut self.positions {
            *p = xf.apply(*p);
        }
        for n in &mut self.normals {
            let m = mat_mul(&cof, *n);
            *n = if flip { -m } else { m }.normalized();
        }
        if flip {
            for t in self.indices.chunks_mut(3) {
                t.swap(1, 2);
            }
        }
        self
    }

    pub fn translated(self, by: V3) -> Mesh {
        self.transformed(&Xf::translate(by))
    }

    pub fn scaled(self, by: V3) -> Mesh {
        self.transformed(&Xf::scale(by))
    }

    pub fn rotated_x(self, deg: f64) -> Mesh {
        self.transformed(&Xf::rot_x(deg))
    }

    pub fn rotated_y(self, deg: f64) -> Mesh {
        self.transformed(&Xf::rot_y(deg))
    }

    pub fn rotated_z(self, deg: f64) -> Mesh {
        self.transformed(&Xf::rot_z(deg))
    }

    /// Mirrors across the plane `x = 0` (keeping the winding outward).
    pub fn mirrored_x(self) -> Mesh {
        self.scaled(v3(-1.0, 1.0, 1.0))
    }

    pub fn bounds(&self) -> (V3, V3) {
        let mut lo = v3(f64::MAX, f64::MAX, f64::MAX);
        let mut hi = v3(f64::MIN, f64::MIN, f64::MIN);
        for p in &self.positions {
            lo = v3(lo.x.min(p.x), lo.y.min(p.y), lo.z.min(p.z));
            hi = v3(hi.x.max(p.x), hi.y.max(p.y), hi.z.max(p.z));
        }
        (lo, hi)
    }
}

fn mat_mul(m: &[[f64; 3]; 3], v: V3) -> V3 {
    v3(
        m[0][0] * v.x + m[0][1] * v.y + m[0][2] * v.z,
        m[1][0] * v.x + m[1][1] * v.y + m[1][2] * v.z,
        m[2][0] * v.x + m[2][1] * v.y + m[2][2] * v.z,
    )
}

/// An affine transform `p -> m p + t`.
#[derive(Clone, Debug)]
pub struct Xf {
    m: [[f64; 3]; 3],
    t: V3,
}

impl Xf {
    pub fn identity() -> Xf {
        Xf {
            m: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            t: V3::ZERO,
        }
    }

    pub fn translate(by: V3) -> Xf {
        Xf {
            t: by,
            ..Xf::identity()
        }
    }

    pub fn scale(by: V3) -> Xf {
        Xf {
            m: [[by.x, 0.0, 0.0], [0.0, by.y, 0.0], [0.0, 0.0, by.z]],
            t: V3::ZERO,
        }
    }

    /// `y += k z`: tilts a flat shape to a slope without stretching it in
    /// plan.
    pub fn shear_y_by_z(k: f64) -> Xf {
        Xf {
            m: [[1.0, 0.0, 0.0], [0.0, 1.0, k], [0.0, 0.0, 1.0]],
            t: V3::ZERO,
        }
    }

    pub fn rot_x(deg: f64) -> Xf {
        let (s, c) = sin_cos_deg(deg);
        Xf {
            m: [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]],
            t: V3::ZERO,
        }
    }

    pub fn rot_y(deg: f64) -> Xf {
        let (s, c) = sin_cos_deg(deg);
        Xf {
            m: [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]],
            t: V3::ZERO,
        }
    }

    pub fn rot_z(deg: f64) -> Xf {
        let (s, c) = sin_cos_deg(deg);
        Xf {
            m: [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]],
            t: V3::ZERO,
        }
    }

    pub fn apply(&self, p: V3) -> V3 {
        mat_mul(&self.m, p) + self.t
    }

    fn det(&self) -> f64 {
        let m = &self.m;
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    }

    /// The cofactor matrix, `det · m⁻ᵀ`: it carries normals.
    fn cofactor(&self) -> [[f64; 3]; 3] {
        let m = &self.m;
        let c = |r0: usize, r1: usize, c0: usize, c1: usize| {
            m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0]
        };
        [
            [c(1, 2, 1, 2), -c(1, 2, 0, 2), c(1, 2, 0, 1)],
            [-c(0, 2, 1, 2), c(0, 2, 0, 2), -c(0, 2, 0, 1)],
            [c(0, 1, 1, 2), -c(0, 1, 0, 2), c(0, 1, 0, 1)],
        ]
    }
}

fn tri_normal(a: V3, b: V3, c: V3) -> V3 {
    (b - a).cross(c - a)
}

/// A smooth surface through a grid of points `rows[i][j]`. A cell faces
/// `(p[i][j+1] - p[i][j]) × (p[i+1][j] - p[i][j])`: along a row, then to
/// the next row, counter-clockwise. Rows and columns may
/// wrap around (no seam vertices are needed: there are no texture
/// coordinates). Rows whose points all coincide (a lathe's pole) share one
/// normal.
pub fn grid(rows: &[Vec<V3>], wrap_rows: bool, wrap_cols: bool) -> Mesh {
    let nr = rows.len();
    let nc = rows[0].len();
    assert!(rows.iter().all(|r| r.len() == nc), "ragged grid");
    let positions: Vec<V3> = rows.iter().flatten().copied().collect();
    let idx = |i: usize, j: usize| ((i % nr) * nc + (j % nc)) as u32;
    let mut normals = vec![V3::ZERO; positions.len()];
    let mut indices = Vec::new();
    let cells_r = if wrap_rows { nr } else { nr - 1 };
    let cells_c = if wrap_cols { nc } else { nc - 1 };
    for i in 0..cells_r {
        for j in 0..cells_c {
            let (a, b, c, d) = (idx(i, j), idx(i, j + 1), idx(i + 1, j + 1), idx(i + 1, j));
            for t in [[a, b, c], [a, c, d]] {
                let n = tri_normal(
                    positions[t[0] as usize],
                    positions[t[1] as usize],
                    positions[t[2] as usize],
                );
                if n.len() <= DEGENERATE {
                    continue;
                }
                indices.extend(t);
                for v in t {
                    normals[v as usize] += n;
                }
            }
        }
    }
    for (i, row) in rows.iter().enumerate() {
        if row.iter().all(|p| (*p - row[0]).len() < 1e-12) {
            let sum = (0..nc).fold(V3::ZERO, |s, j| s + normals[idx(i, j) as usize]);
            for j in 0..nc {
                normals[idx(i, j) as usize] = sum;
            }
        }
    }
    Mesh {
        positions,
        normals: normals.into_iter().map(V3::normalized).collect(),
        indices,
    }
}

/// Like [`grid`], but faceted: every cell gets its own vertices and the
/// normal of its plane.
pub fn grid_flat(rows: &[Vec<V3>], wrap_rows: bool, wrap_cols: bool) -> Mesh {
    let nr = rows.len();
    let nc = rows[0].len();
    let at = |i: usize, j: usize| rows[i % nr][j % nc];
    let mut mesh = Mesh::default();
    let cells_r = if wrap_rows { nr } else { nr - 1 };
    let cells_c = if wrap_cols { nc } else { nc - 1 };
    for i in 0..cells_r {
        for j in 0..cells_c {
            let quad = [at(i, j), at(i, j + 1), at(i + 1, j + 1), at(i + 1, j)];
            mesh.append(polygon(&quad));
        }
    }
    mesh
}

/// A flat convex (or star-shaped about its first point) polygon, wound as
/// given; its normal comes from the winding. Coincident corners are fine.
pub fn polygon(points: &[V3]) -> Mesh {
    let mut pts: Vec<V3> = Vec::with_capacity(points.len());
    for p in points {
        if pts.last().is_none_or(|l| (*l - *p).len() > 1e-12) {
            pts.push(*p);
        }
    }
    while pts.len() > 1 && (pts[0] - pts[pts.len() - 1]).len() <= 1e-12 {
        pts.pop();
    }
    let mut n = V3::ZERO;
    for k in 1..pts.len().saturating_sub(1) {
        n += tri_normal(pts[0], pts[k], pts[k + 1]);
    }
    if n.len() <= DEGENERATE {
        return Mesh::default();
    }
    let n = n.normalized();
    let mut indices = Vec::new();
    for k in 1..pts.len() - 1 {
        if tri_normal(pts[0], pts[k], pts[k + 1]).len() > DEGENERATE {
            indices.extend([0, k as u32, k as u32 + 1]);
        }
    }
    Mesh {
        normals: vec![n; pts.len()],
        positions: pts,
        indices,
    }
}

/// A flat cap over a closed ring (convex, or star-shaped about its
/// centroid), facing `normal`: a fan from the centroid, wound to match.
pub fn cap(ring: &[V3], normal: V3) -> Mesh {
    let centre = ring.iter().fold(V3::ZERO, |s, p| s + *p) * (1.0 / ring.len() as f64);
    let mut area = V3::ZERO;
    for k in 0..ring.len() {
        area += tri_normal(centre, ring[k], ring[(k + 1) % ring.len()]);
    }
    let forward = area.dot(normal) >= 0.0;
    let n = normal.normalized();
    let mut mesh = Mesh {
        positions: vec![centre],
        normals: vec![n],
        indices: Vec::new(),
    };
    mesh.positions.extend_from_slice(ring);
    mesh.normals.extend(std::iter::repeat_n(n, ring.len()));
    let count = ring.len() as u32;
    for k in 0..count {
        let (a, b) = (1 + k, 1 + (k + 1) % count);
        if tri_normal(centre, ring[k as usize], ring[((k + 1) % count) as usize]).len()
            <= DEGENERATE
        {
            continue;
        }
        mesh.indices
            .extend(if forward { [0, a, b] } else { [0, b, a] });
    }
    mesh
}

/// A closed loop in a plane, counter-clockwise, as core points and outward
/// unit normals: the curve at offset `d` is `point + d · normal`. A circle
/// of radius `r` is the loop [`Loop::circle`] at offset `r`; a rounded
/// rectangle is a rectangle's corners at offset `r`.
#[derive(Clone, Debug)]
pub struct Loop {
    pub points: Vec<(f64, f64)>,
    pub normals: Vec<(f64, f64)>,
}

impl Loop {
    /// Radius 0 around the origin: the offset is the radius.
    pub fn circle(segments: usize) -> Loop {
        let normals: Vec<(f64, f64)> = (0..segments)
            .map(|k| {
                let (s, c) = sin_cos(TAU * k as f64 / segments as f64);
                (c, s)
            })
            .collect();
        Loop {
            points: vec![(0.0, 0.0); segments],
            normals,
        }
    }

    /// A `w` × `h` rectangle centred on the origin whose corners become
    /// quarter circles of `corner` segments at a positive offset.
    pub fn rounded_rect(w: f64, h: f64, corner: usize) -> Loop {
        let mut l = Loop {
            points: Vec::new(),
            normals: Vec::new(),
        };
        let corners = [(w, h), (-w, h), (-w, -h), (w, -h)];
        for (q, (cx, cy)) in corners.iter().enumerate() {
            for k in 0..=corner {
                let (s, c) = sin_cos(FRAC_PI_2 * (q as f64 + k as f64 / corner as f64));
                l.points.push((cx / 2.0, cy / 2.0));
                l.normals.push((c, s));
            }
        }
        l
    }

    /// A smooth closed curve through `points` (either way round: it is
    /// made counter-clockwise), with normals from its neighbours; offset 0
    /// is the curve itself.
    pub fn curve(mut points: Vec<(f64, f64)>) -> Loop {
        let n = points.len();
        let twice_area: f64 = (0..n)
            .map(|k| {
                let (p, q) = (points[k], points[(k + 1) % n]);
                p.0 * q.1 - q.0 * p.1
            })
            .sum();
        if twice_area < 0.0 {
            points.reverse();
        }
        let normals = (0..n)
            .map(|k| {
                let (a, b) = (points[(k + n - 1) % n], points[(k + 1) % n]);
                let (dx, dy) = (b.0 - a.0, b.1 - a.1);
                let l = (dx * dx + dy * dy).sqrt();
                (dy / l, -dx / l)
            })
            .collect();
        Loop { points, normals }
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn at(&self, k: usize, d: f64) -> (f64, f64) {
        let (p, n) = (self.points[k], self.normals[k]);
        (p.0 + d * n.0, p.1 + d * n.1)
    }
}

/// A profile for [`lathe`]: runs of `(offset, y)` points; within a run the
/// surface is smooth, where runs meet it has a crease. Trace it with the
/// solid on the left going up the outside (bottom centre → out → up → in at
/// the top), and the faces point outwards.
#[derive(Clone, Debug)]
pub struct Profile {
    runs: Vec<Vec<(f64, f64)>>,
}

impl Profile {
    pub fn start(d: f64, y: f64) -> Profile {
        Profile {
            runs: vec![vec![(d, y)]],
        }
    }

    fn last(&self) -> (f64, f64) {
        *self.runs.last().and_then(|r| r.last()).expect("non-empty")
    }

    /// A straight segment to `(d, y)`, smooth with what comes before.
    pub fn to(mut self, d: f64, y: f64) -> Profile {
        self.runs.last_mut().expect("non-empty").push((d, y));
        self
    }

    /// A sharp corner here: the next segment starts a new run.
    pub fn corner(mut self) -> Profile {
        let last = self.last();
        self.runs.push(vec![last]);
        self
    }

    /// A straight line to `(d, y)` with a crease at both ends.
    pub fn edge(self, d: f64, y: f64) -> Profile {
        self.corner().to(d, y).corner()
    }

    /// An arc about `(cd, cy)` of radius `r` from the angle `from` to `to`
    /// (degrees; 0 points along +offset, 90 up), in `n` steps; the current
    /// point should be the arc's start.
    pub fn arc(mut self, cd: f64, cy: f64, r: f64, from: f64, to: f64, n: usize) -> Profile {
        for k in 1..=n {
            let (s, c) = sin_cos_deg(from + (to - from) * k as f64 / n as f64);
            self = self.to(cd + r * c, cy + r * s);
        }
        self
    }

    /// Where the profile ends.
    pub fn end(&self) -> (f64, f64) {
        self.last()
    }

    pub fn first(&self) -> (f64, f64) {
        self.runs[0][0]
    }

    fn runs(&self) -> impl Iterator<Item = &Vec<(f64, f64)>> {
        self.runs.iter().filter(|r| r.len() > 1)
    }
}

/// One ring of a lathe: the loop at offset `d`, height `y`. The loop's
/// `(a, b)` plane is the ground seen from above with +Z towards the
/// viewer: `x = a`, `z = -b`.
pub fn ring(lp: &Loop, d: f64, y: f64) -> Vec<V3> {
    (0..lp.len())
        .map(|k| {
            let (a, b) = lp.at(k, d);
            v3(a, y, -b)
        })
        .collect()
}

/// A surface of revolution (or of translation along a loop: a rounded box
/// is a lathe over a rectangle) around +Y, smooth within each run.
pub fn lathe(lp: &Loop, profile: &Profile) -> Mesh {
    Mesh::merged(profile.runs().map(|run| {
        let rows: Vec<Vec<V3>> = run.iter().map(|&(d, y)| ring(lp, d, y)).collect();
        grid(&rows, false, true)
    }))
}

/// Like [`lathe`], faceted.
pub fn lathe_flat(lp: &Loop, profile: &Profile) -> Mesh {
    Mesh::merged(profile.runs().map(|run| {
        let rows: Vec<Vec<V3>> = run.iter().map(|&(d, y)| ring(lp, d, y)).collect();
        grid_flat(&rows, false, true)
    }))
}

/// A lathe closed with flat caps where its profile starts and ends off
/// the axis: the start cap faces down, the end cap up.
pub fn lathe_capped(lp: &Loop, profile: &Profile) -> Mesh {
    let mut mesh = lathe(lp, profile);
    add_caps(&mut mesh, lp, profile);
    mesh
}

fn add_caps(mesh: &mut Mesh, lp: &Loop, profile: &Profile) {
    let (d0, y0) = profile.first();
    let (d1, y1) = profile.end();
    for (d, y, n) in [(d0, y0, -V3::Y), (d1, y1, V3::Y)] {
        let r = ring(lp, d, y);
        if r.iter().any(|p| (*p - r[0]).len() > 1e-12) {
            mesh.append(cap(&r, n));
        }
    }
}

/// A box `size` big, standing on y = 0 centred on the Y axis, with its
/// edges rounded to radius `r` in `n` steps per quarter.
pub fn rounded_box(size: V3, r: f64, n: usize) -> Mesh {
    let lp = Loop::rounded_rect(size.x - 2.0 * r, size.z - 2.0 * r, n);
    let profile = Profile::start(0.0, 0.0)
        .arc(0.0, r, r, -90.0, 0.0, n)
        .to(r, size.y - r)
        .arc(0.0, size.y - r, r, 0.0, 90.0, n);
    lathe_capped(&lp, &profile)
}

/// A flat box `size` big standing on y = 0 centred on the Y axis.
pub fn cuboid(size: V3) -> Mesh {
    let lp = Loop::rounded_rect(size.x, size.z, 1);
    let sq = Loop {
        points: lp.points.iter().step_by(2).copied().collect(),
        normals: vec![(0.0, 0.0); 4],
    };
    let profile = Profile::start(0.0, 0.0).to(0.0, size.y);
    let mut mesh = lathe_flat(&sq, &profile);
    add_caps(&mut mesh, &sq, &profile);
    mesh
}

/// A cylinder of radius `r` and height `h` standing on y = 0, with flat
/// ends.
pub fn cylinder(r: f64, h: f64, segments: usize) -> Mesh {
    lathe_capped(&Loop::circle(segments), &Profile::start(r, 0.0).edge(r, h))
}

/// A band (a short thick-walled pipe) around the Y axis, between offsets
/// `inner` and `outer`, from `y0` to `y1`: a label round a bottle.
pub fn band(lp: &Loop, inner: f64, outer: f64, y0: f64, y1: f64) -> Mesh {
    lathe(
        lp,
        &Profile::start(inner, y0)
            .edge(outer, y0)
            .edge(outer, y1)
            .edge(inner, y1)
            .edge(inner, y0),
    )
}

/// A plate `w` × `d` (x × z) and `h` tall standing on y = 0, its corners
/// rounded to radius `corner` in plan.
pub fn rounded_plate(w: f64, d: f64, h: f64, corner: f64, n: usize) -> Mesh {
    lathe_capped(
        &Loop::rounded_rect(w - 2.0 * corner, d - 2.0 * corner, n),
        &Profile::start(corner, 0.0).edge(corner, h),
    )
}

/// An ellipse with semi-axes `a` and `b` as a loop at offset 0.
pub fn ellipse(a: f64, b: f64, n: usize) -> Loop {
    Loop::curve(
        (0..n)
            .map(|k| {
                let (s, c) = sin_cos(TAU * k as f64 / n as f64);
                (a * c, b * s)
            })
            .collect(),
    )
}

/// A sphere of radius `r` centred on the origin.
pub fn sphere(r: f64, segments: usize, rings: usize) -> Mesh {
    lathe(
        &Loop::circle(segments),
        &Profile::start(0.0, -r).arc(0.0, 0.0, r, -90.0, 90.0, rings),
    )
}

/// A tube of cross-section `section` at offset `radius(t)` (t from 0 to 1
/// along the path) swept along `path`, its section kept square to the path
/// by parallel transport from `up` (the section's `b` axis at the start is
/// the part of `up` square to the path; `a` is `b × tangent`). Open paths
/// get flat end caps when `caps`.
pub fn sweep(
    path: &[V3],
    closed: bool,
    section: &Loop,
    radius: &dyn Fn(f64) -> f64,
    up: V3,
    caps: bool,
) -> Mesh {
    let n = path.len();
    let tangents: Vec<V3> = (0..n)
        .map(|i| {
            let (prev, next) = if closed {
                (path[(i + n - 1) % n], path[(i + 1) % n])
            } else {
                (path[i.saturating_sub(1)], path[(i + 1).min(n - 1)])
            };
            (next - prev).normalized()
        })
        .collect();
    let mut b = (up - tangents[0] * up.dot(tangents[0])).normalized();
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let t = tangents[i];
        b = (b - t * b.dot(t)).normalized();
        let a = b.cross(t);
        let span = if closed { n } else { n - 1 };
        let d = radius(i as f64 / span as f64);
        rows.push(
            (0..section.len())
                .map(|k| {
                    let (sa, sb) = section.at(k, d);
                    path[i] + a * sa + b * sb
                })
                .collect::<Vec<V3>>(),
        );
    }
    let mut mesh = grid(&rows, closed, true);
    if caps && !closed {
        mesh.append(cap(&rows[0], -tangents[0]));
        mesh.append(cap(&rows[n - 1], tangents[n - 1]));
    }
    mesh
}

/// A round tube of constant radius.
pub fn tube(path: &[V3], closed: bool, r: f64, segments: usize, up: V3) -> Mesh {
    sweep(path, closed, &Loop::circle(segments), &|_| r, up, true)
}

/// A torus around the Y axis: ring radius `big`, tube radius `small`.
pub fn torus(big: f64, small: f64, segments: usize, sides: usize) -> Mesh {
    let path: Vec<V3> = (0..segments)
        .map(|k| {
            let (s, c) = sin_cos(TAU * k as f64 / segments as f64);
            v3(big * c, 0.0, -big * s)
        })
        .collect();
    sweep(&path, true, &Loop::circle(sides), &|_| small, V3::Y, false)
}

/// `n + 1` points along a quadratic Bézier curve.
pub fn bezier2(p0: V3, p1: V3, p2: V3, n: usize) -> Vec<V3> {
    (0..=n)
        .map(|k| {
            let t = k as f64 / n as f64;
            p0.lerp(p1, t).lerp(p1.lerp(p2, t), t)
        })
        .collect()
}

/// `n + 1` points along a cubic Bézier curve.
pub fn bezier3(p0: V3, p1: V3, p2: V3, p3: V3, n: usize) -> Vec<V3> {
    (0..=n)
        .map(|k| {
            let t = k as f64 / n as f64;
            let a = p0.lerp(p1, t).lerp(p1.lerp(p2, t), t);
            let b = p1.lerp(p2, t).lerp(p2.lerp(p3, t), t);
            a.lerp(b, t)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sin_cos_matches_the_library_closely() {
        for k in -100..=100 {
            let x = k as f64 * 0.173;
            let (s, c) = sin_cos(x);
            assert!((s - x.sin()).abs() < 1e-14, "sin {x}");
            assert!((c - x.cos()).abs() < 1e-14, "cos {x}");
        }
    }

    #[test]
    fn pow_matches_the_library_closely() {
        for &(x, y) in &[
            (0.5, 2.4),
            (0.04, 2.4),
            (2.0, 0.5),
            (0.3, 0.25),
            (7.5, 3.0),
            (1.0, 9.0),
        ] {
            let want: f64 = f64::powf(x, y);
            assert!((pow(x, y) - want).abs() < 1e-13 * want.max(1.0), "{x}^{y}");
        }
        assert_eq!(pow(0.0, 2.0), 0.0);
    }

    #[test]
    fn transforms_keep_normals_unit_and_faces_outward() {
        let s = sphere(1.0, 12, 6);
        for xf in [
            Xf::scale(v3(2.0, 0.5, 1.0)),
            Xf::scale(v3(-1.0, 1.0, 1.0)),
            Xf::rot_x(30.0),
            Xf::translate(v3(1.0, 2.0, 3.0)),
        ] {
            let t = s.clone().transformed(&xf);
            let centre = xf.apply(V3::ZERO);
            for tri in t.indices.chunks(3) {
                let [a, b, c] = [0, 1, 2].map(|k| t.positions[tri[k] as usize]);
                let g = tri_normal(a, b, c);
                assert!(g.dot(a - centre) > 0.0);
                for &v in tri {
                    assert!((t.normals[v as usize].len() - 1.0).abs() < 1e-9);
                    assert!(t.normals[v as usize].dot(g) > 0.0);
                }
            }
        }
    }
}
