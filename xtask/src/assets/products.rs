//! The catalog's products as models: their parts, sizes and materials.
//!
//! Sizes are real, in metres; +Y is up and +Z the product's front.
//! [`Model::placed`] then stands each model on y = 0, centred on the Y axis.

use super::glb::{Material, Model};
use super::mesh::{
    Loop, Mesh, Profile, TAU, V3, Xf, band, bezier2, bezier3, cap, cuboid, cylinder, ellipse, grid,
    lathe, lathe_capped, lathe_flat, pow, ring, rounded_box, rounded_plate, sin_cos, sin_cos_deg,
    sphere, sweep, torus, tube, v3,
};

/// Makes one product's model, as built (not yet placed).
pub type Make = fn() -> Model;

/// Every product the generator can make, by catalog id.
pub const PRODUCTS: &[(&str, Make)] = &[
    ("glow-serum", glow_serum),
    ("velvet-lipstick", velvet_lipstick),
    ("amber-perfume", amber_perfume),
    ("cloud-sneaker", cloud_sneaker),
    ("canvas-tote", canvas_tote),
    ("aviator-sunglasses", aviator_sunglasses),
    ("silk-scarf", silk_scarf),
    ("studio-headphones", studio_headphones),
    ("pulse-smartwatch", pulse_smartwatch),
    ("pocket-speaker", pocket_speaker),
    ("arc-lamp", arc_lamp),
    ("stoneware-mug", stoneware_mug),
    ("soy-candle", soy_candle),
];

/// The model of the product `id`, standing on the ground; `None` when the
/// generator does not know it.
pub fn build(id: &str) -> Option<Model> {
    PRODUCTS
        .iter()
        .find(|(known, _)| *known == id)
        .map(|(_, make)| make().placed())
}

/// `sign(v) |v|^e`: superellipse coordinates.
fn spow(v: f64, e: f64) -> f64 {
    if v < 0.0 { -pow(-v, e) } else { pow(v, e) }
}

/// A smooth bump: `exp(-((x - at) / width)²)`.
fn bump(x: f64, at: f64, width: f64) -> f64 {
    let t = (x - at) / width;
    pow(std::f64::consts::E, -t * t)
}

/// Piecewise cosine interpolation through `(x, y)` knots (sorted by x).
fn eased(x: f64, knots: &[(f64, f64)]) -> f64 {
    if x <= knots[0].0 {
        return knots[0].1;
    }
    for w in knots.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            let (_, c) = sin_cos(TAU / 2.0 * (x - x0) / (x1 - x0));
            return y0 + (y1 - y0) * (1.0 - c) / 2.0;
        }
    }
    knots[knots.len() - 1].1
}

/// Points joined into one path, dropping each piece's first point where it
/// repeats the previous piece's last.
fn path(pieces: &[Vec<V3>]) -> Vec<V3> {
    let mut out: Vec<V3> = Vec::new();
    for piece in pieces {
        for p in piece {
            if out.last().is_none_or(|l| (*l - *p).len() > 1e-9) {
                out.push(*p);
            }
        }
    }
    out
}

// --- Beauty ------------------------------------------------------------------

/// A 30 ml amber Boston-round bottle of serum, label, gold collar and a
/// black rubber dropper bulb; the glass pipette shows through.
fn glow_serum() -> Model {
    let mut m = Model::new("glow-serum");
    let glass = m.material(Material::glass("amber glass", 0x8a3d08, 0.55));
    let serum = m.material(Material::new("serum", 0xe8a23c, 0.0, 0.15));
    let label = m.material(Material::matte("label", 0xf4efe6, 0.8));
    let gold = m.material(Material::metal("gold collar", 0xc9a24a, 0.3));
    let rubber = m.material(Material::matte("rubber bulb", 0x141414, 0.55));
    let round = Loop::circle(20);
    let r = 0.016;
    m.solid(
        "bottle",
        glass,
        lathe(
            &round,
            &Profile::start(0.0, 0.0)
                .to(r - 0.002, 0.0)
                .arc(r - 0.002, 0.002, 0.002, -90.0, 0.0, 2)
                .to(r, 0.050)
                .arc(0.006, 0.050, 0.010, 0.0, 90.0, 5)
                .corner()
                .to(0.006, 0.066)
                .corner()
                .to(0.0, 0.066),
        ),
    );
    m.solid(
        "pipette",
        glass,
        cylinder(0.0026, 0.056, 10).translated(v3(0.0, 0.008, 0.0)),
    );
    m.solid(
        "serum",
        serum,
        lathe(
            &round,
            &Profile::start(0.0, 0.0025)
                .to(0.0145, 0.0025)
                .corner()
                .to(0.0145, 0.044)
                .corner()
                .to(0.0, 0.044),
        ),
    );
    m.solid("label", label, band(&round, 0.0159, 0.0164, 0.012, 0.040));
    m.solid(
        "collar",
        gold,
        lathe(
            &round,
            &Profile::start(0.0, 0.058)
                .to(0.0088, 0.058)
                .corner()
                .to(0.0088, 0.0715)
                .arc(0.0073, 0.0715, 0.0015, 0.0, 90.0, 2)
                .to(0.0, 0.073),
        ),
    );
    m.solid(
        "bulb",
        rubber,
        lathe(
            &round,
            &Profile::start(0.0, 0.073)
                .to(0.0072, 0.073)
                .corner()
                .to(0.0072, 0.077)
                .to(0.0058, 0.081)
                .to(0.0070, 0.086)
                .to(0.0070, 0.097)
                .arc(0.0, 0.097, 0.0070, 0.0, 90.0, 4),
        ),
    );
    m
}

/// An open lipstick: gold case with a black band, the red bullet cut on a
/// slant towards the front, and its cap lying beside it.
fn velvet_lipstick() -> Model {
    let mut m = Model::new("velvet-lipstick");
    let gold = m.material(Material::metal("gold case", 0xd4af37, 0.22));
    let red = m.material(Material::matte("ruby bullet", 0x9b1b30, 0.55));
    let black = m.material(Material::matte("black band", 0x161616, 0.35));
    let round = Loop::circle(22);
    m.solid(
        "case",
        gold,
        lathe(
            &round,
            &Profile::start(0.0, 0.0)
                .to(0.0095, 0.0)
                .arc(0.0095, 0.001, 0.001, -90.0, 0.0, 2)
                .to(0.0105, 0.038)
                .arc(0.0095, 0.038, 0.001, 0.0, 90.0, 2)
                .to(0.0, 0.039),
        ),
    );
    m.solid("band", black, band(&round, 0.0100, 0.0107, 0.029, 0.033));
    m.solid(
        "sleeve",
        gold,
        cylinder(0.0092, 0.013, 22).translated(v3(0.0, 0.038, 0.0)),
    );
    // The bullet: a cylinder cut by the plane y = 0.064 - k z.
    let (r, k) = (0.0076, 0.9);
    let bottom = ring(&round, r, 0.049);
    let top: Vec<V3> = bottom
        .iter()
        .map(|p| v3(p.x, 0.064 - k * p.z, p.z))
        .collect();
    let mut bullet = grid(&[bottom.clone(), top.clone()], false, true);
    bullet.append(cap(&bottom, -V3::Y));
    bullet.append(cap(&top, v3(0.0, 1.0, k)));
    m.solid("bullet", red, bullet);
    // The cap, lying on its side to the right, open end towards the case.
    let cap_mesh = lathe(
        &round,
        &Profile::start(0.0, 0.0)
            .to(0.0108, 0.0)
            .corner()
            .to(0.0108, 0.045)
            .arc(0.0098, 0.045, 0.001, 0.0, 90.0, 2)
            .to(0.0, 0.046),
    )
    .rotated_z(-90.0)
    .translated(v3(0.022, 0.0108, 0.012));
    m.solid("cap", gold, cap_mesh);
    m
}

/// A faceted octagonal bottle of amber perfume with a gold collar and a
/// faceted gold stopper.
fn amber_perfume() -> Model {
    let mut m = Model::new("amber-perfume");
    let glass = m.material(Material::glass("glass", 0xf6d9a0, 0.35));
    let perfume = m.material(Material::new("amber perfume", 0xb5561a, 0.0, 0.1));
    let gold = m.material(Material::metal("gold", 0xcfa64a, 0.2));
    let octagon = Loop::circle(8);
    let flat_front = |mesh: Mesh| mesh.rotated_y(22.5).scaled(v3(1.0, 1.0, 0.55));
    m.solid(
        "bottle",
        glass,
        flat_front(lathe_flat(
            &octagon,
            &Profile::start(0.0, 0.0)
                .to(0.030, 0.0)
                .to(0.036, 0.006)
                .to(0.036, 0.072)
                .to(0.026, 0.084)
                .to(0.009, 0.088)
                .to(0.0, 0.088),
        )),
    );
    m.solid(
        "perfume",
        perfume,
        flat_front(lathe_flat(
            &octagon,
            &Profile::start(0.0, 0.004)
                .to(0.029, 0.004)
                .to(0.033, 0.008)
                .to(0.033, 0.062)
                .to(0.0, 0.062),
        )),
    );
    m.solid(
        "collar",
        gold,
        cylinder(0.0095, 0.010, 16).translated(v3(0.0, 0.084, 0.0)),
    );
    m.solid(
        "stopper",
        gold,
        lathe_flat(
            &Loop::circle(6),
            &Profile::start(0.0, 0.093)
                .to(0.013, 0.093)
                .to(0.019, 0.100)
                .to(0.019, 0.113)
                .to(0.012, 0.121)
                .to(0.0, 0.123),
        )
        .scaled(v3(1.0, 1.0, 0.75)),
    );
    m
}

// --- Fashion -----------------------------------------------------------------

/// A knit running shoe, toe to +Z: white foam midsole on a grey outsole,
/// a dark knit upper with its collar and lining, white laces and an orange
/// heel tab.
fn cloud_sneaker() -> Model {
    let mut m = Model::new("cloud-sneaker");
    let foam = m.material(Material::matte("foam sole", 0xf2f2ee, 0.7));
    let rubber = m.material(Material::matte("outsole", 0x5f6368, 0.85));
    let knit = m.material(Material::matte("knit upper", 0x2e3f57, 0.9));
    let laces = m.material(Material::matte("laces", 0xfafafa, 0.8));
    let lining = m.material(Material::matte("lining", 0x1a1a1a, 0.9));
    let accent = m.material(Material::matte("heel tab", 0xff6a3d, 0.6));

    const LENGTH: f64 = 0.29;
    const SOLE: f64 = 0.030;
    // Half the sole's width along the foot (u = 0 at the heel, 1 at the
    // toe), and the outline at the angle whose cos and sin are c and s: its
    // ends blunt and round.
    let half_width = |u: f64| 0.033 + 0.014 * bump(u, 0.70, 0.22) + 0.004 * bump(u, 0.08, 0.12);
    let outline = |c: f64, s: f64| {
        let u = (1.0 - c) / 2.0;
        (half_width(u) * spow(s, 0.45), -LENGTH / 2.0 * c)
    };
    let foot = Loop::curve(
        (0..28)
            .map(|k| {
                let (s, c) = sin_cos(TAU * k as f64 / 28.0);
                let (x, z) = outline(c, s);
                (x, -z)
            })
            .collect(),
    );
    m.solid(
        "outsole",
        rubber,
        lathe_capped(
            &foot,
            &Profile::start(-0.003, 0.0).to(0.0, 0.003).to(0.0, 0.006),
        ),
    );
    m.solid(
        "midsole",
        foam,
        lathe_capped(
            &foot,
            &Profile::start(0.0, 0.006).to(0.0, SOLE - 0.004).arc(
                -0.004,
                SOLE - 0.004,
                0.004,
                0.0,
                90.0,
                2,
            ),
        ),
    );

    // The upper: cross-sections from heel to toe, a rounded top over a
    // boxy bottom tucked into the sole.
    let height = |u: f64| {
        eased(
            u,
            &[
                (0.0, 0.080),
                (0.10, 0.082),
                (0.30, 0.066),
                (0.42, 0.082),
                (0.62, 0.068),
                (0.85, 0.042),
                (1.0, 0.032),
            ],
        )
    };
    let base = SOLE - 0.003;
    // (z, half width, centre y, half height above, below) at cos c.
    let station = |c: f64| {
        let s = (1.0 - c * c).max(0.0).sqrt();
        let u = (1.0 - c) / 2.0;
        let h = height(u);
        let end = pow(s, 0.3);
        (
            -LENGTH / 2.0 * 0.96 * c,
            0.93 * half_width(u) * spow(s, 0.45),
            base + h / 2.0,
            h / 2.0 * end,
            (h / 2.0 + 0.004) * end,
        )
    };
    const TOP: f64 = 2.5;
    let stations = 16;
    let around = 16;
    let rows: Vec<Vec<V3>> = (0..=stations)
        .map(|i| {
            let (_, c) = sin_cos(TAU / 2.0 * i as f64 / stations as f64);
            let (z, w, yc, up, down) = station(c);
            (0..around)
                .map(|j| {
                    let (s, c) = sin_cos(TAU * j as f64 / around as f64);
                    let y = if s >= 0.0 {
                        yc + up * spow(s, 2.0 / TOP)
                    } else {
                        yc + down * spow(s, 0.5)
                    };
                    v3(w * spow(c, 2.0 / if s >= 0.0 { TOP } else { 4.0 }), y, z)
                })
                .collect()
        })
        .collect();
    m.solid("upper", knit, grid(&rows, false, true));
    // The top of the upper at u, x.
    let top = |u: f64, x: f64| {
        let (z, w, yc, up, _) = station(1.0 - 2.0 * u);
        let t = (x.abs() / w).min(1.0);
        (z, w, yc + up * pow(1.0 - pow(t, TOP), 1.0 / TOP))
    };

    // Laces across the instep.
    for k in 0..5 {
        let u = 0.42 + 0.055 * k as f64;
        let (z, w, _) = top(u, 0.0);
        let lace: Vec<V3> = (0..5)
            .map(|i| {
                let x = w * 0.55 * (i as f64 / 2.0 - 1.0);
                v3(x, top(u, x).2 + 0.0012, z)
            })
            .collect();
        m.solid("lace", laces, tube(&lace, false, 0.0022, 5, V3::Z));
    }
    // The opening: the dark lining in a plane sloping from the heel to the
    // tongue just above the upper, ringed by a padded collar.
    let (back, front) = (0.09, 0.33);
    let (z0, _, y0) = top(back, 0.0);
    let (z1, _, y1) = top(front, 0.0);
    let slope = (y1 - y0) / (z1 - z0);
    let lift = (0..=24)
        .map(|k| {
            let (z, _, y) = top(back + (front - back) * k as f64 / 24.0, 0.0);
            y - (y0 + slope * (z - z0))
        })
        .fold(0.0, f64::max)
        + 0.0015;
    let (_, w_mid, _) = top((back + front) / 2.0, 0.0);
    let (zc, rz, rx) = ((z0 + z1) / 2.0, (z1 - z0) / 2.0 * 0.95, w_mid * 0.62);
    let yc = y0 + slope * (zc - z0) + lift;
    m.solid(
        "lining",
        lining,
        lathe_capped(
            &ellipse(rx, rz, 20),
            &Profile::start(0.0, -0.004).edge(0.0, 0.0),
        )
        .transformed(&Xf::shear_y_by_z(slope))
        .translated(v3(0.0, yc, zc)),
    );
    let rim: Vec<V3> = (0..16)
        .map(|k| {
            let (s, c) = sin_cos(TAU * k as f64 / 16.0);
            v3(rx * c, yc - 0.0025 + slope * rz * s, zc + rz * s)
        })
        .collect();
    m.solid("collar", knit, tube(&rim, true, 0.0055, 5, V3::Y));
    // The tongue, leaning back out of the front of the opening.
    let (zt, wt, yt) = top(front + 0.02, 0.0);
    m.solid(
        "tongue",
        knit,
        rounded_box(v3(wt * 1.1, 0.032, 0.007), 0.003, 1)
            .rotated_x(-22.0)
            .translated(v3(0.0, yt - 0.020, zt - 0.004)),
    );
    // The heel tab, on the back.
    let (zb, _, yb) = top(0.012, 0.0);
    m.solid(
        "heel tab",
        accent,
        rounded_box(v3(0.016, 0.030, 0.008), 0.003, 1)
            .rotated_x(-12.0)
            .translated(v3(0.0, yb - 0.020, zb - 0.004)),
    );
    m
}

/// An open canvas tote: natural canvas body, two brown leather handles
/// riveted to the front and back, and a leather patch.
fn canvas_tote() -> Model {
    let mut m = Model::new("canvas-tote");
    let canvas = m.material(Material::matte("canvas", 0xe4d8bd, 0.95));
    let leather = m.material(Material::matte("leather", 0x7a4a2a, 0.55));
    let brass = m.material(Material::metal("rivets", 0xc9a25a, 0.35));
    let (w, h, d, r) = (0.38, 0.40, 0.12, 0.012);
    let plan = Loop::rounded_rect(w - 2.0 * r, d - 2.0 * r, 3);
    let wall = 0.003;
    m.solid(
        "bag",
        canvas,
        lathe_capped(
            &plan,
            &Profile::start(0.0, 0.0)
                .to(r, 0.0)
                .corner()
                .to(r, h)
                .corner()
                .to(r - wall, h)
                .corner()
                .to(r - wall, wall)
                .corner()
                .to(0.0, wall),
        ),
    );
    let face = d / 2.0;
    let (x, low, high) = (0.085, 0.27, 0.60);
    let strap = path(&[
        vec![v3(-x, low, 0.0), v3(-x, h, 0.0)],
        bezier3(
            v3(-x, h, 0.0),
            v3(-x, high, 0.0),
            v3(x, high, 0.0),
            v3(x, h, 0.0),
            12,
        ),
        vec![v3(x, low, 0.0)],
    ]);
    let section = Loop::rounded_rect(0.020, 0.001, 2);
    let handle = sweep(&strap, false, &section, &|_| 0.002, V3::Z, true).translated(v3(
        0.0,
        0.0,
        face + 0.003,
    ));
    let rivets = Mesh::merged([-x, x].map(|x| {
        cylinder(0.0042, 0.003, 10)
            .rotated_x(90.0)
            .translated(v3(x, low + 0.015, face + 0.0045))
    }));
    m.solid("front handle", leather, handle.clone());
    m.solid("back handle", leather, handle.scaled(v3(1.0, 1.0, -1.0)));
    m.solid("front rivets", brass, rivets.clone());
    m.solid("back rivets", brass, rivets.scaled(v3(1.0, 1.0, -1.0)));
    m.solid(
        "patch",
        leather,
        rounded_plate(0.075, 0.045, 0.003, 0.006, 2)
            .rotated_x(90.0)
            .translated(v3(0.0, 0.15, face - 0.001)),
    );
    m
}

/// Aviators, open: two teardrop lenses in gold rims, a brow bar and a
/// bridge, temples with dark tips running back to -Z.
fn aviator_sunglasses() -> Model {
    let mut m = Model::new("aviator-sunglasses");
    let gold = m.material(Material::metal("gold frame", 0xd4af37, 0.25));
    let lens = m.material(Material::glass("polarised lens", 0x2f4a3c, 0.78));
    let tips = m.material(Material::matte("temple tips", 0x2a1f1a, 0.45));
    // The right lens's outline about its centre; -u is towards the nose.
    let (a, top, bottom) = (0.029, 0.020, 0.027);
    let outline = |deg: f64| {
        let (s, c) = sin_cos_deg(deg);
        if s >= 0.0 {
            (a * c, top * pow(s, 0.7))
        } else {
            (a * c - 0.3 * a * -s * (1.0 + c) / 2.0, bottom * s)
        }
    };
    let (cx, cy) = (0.036, 0.030);
    let n = 28;
    let points: Vec<(f64, f64)> = (0..n)
        .map(|k| outline(360.0 * k as f64 / n as f64))
        .collect();
    for side in [1.0, -1.0] {
        let place = |mesh: Mesh| {
            let mesh = mesh.translated(v3(cx, cy, 0.0));
            if side < 0.0 { mesh.mirrored_x() } else { mesh }
        };
        let plate = lathe_capped(
            &Loop::curve(points.clone()),
            &Profile::start(-0.0004, -0.001).edge(-0.0004, 0.001),
        )
        .rotated_x(90.0);
        m.solid("lens", lens, place(plate));
        let rim: Vec<V3> = points.iter().map(|&(u, v)| v3(u, v, 0.0)).collect();
        m.solid("rim", gold, place(tube(&rim, true, 0.0013, 6, V3::Z)));
        // The temple: from the hinge at the lens's outer top, back and
        // down behind the ear.
        let (hu, hv) = outline(25.0);
        let hinge = v3(cx + hu + 0.002, cy + hv, -0.002);
        let temple = path(&[
            bezier3(
                hinge,
                hinge + v3(0.004, 0.0, -0.04),
                hinge + v3(0.005, -0.002, -0.09),
                hinge + v3(0.003, -0.006, -0.118),
                8,
            ),
            bezier2(
                hinge + v3(0.003, -0.006, -0.118),
                hinge + v3(0.002, -0.012, -0.140),
                hinge + v3(0.001, -0.032, -0.146),
                4,
            ),
        ]);
        let metal = if side < 0.0 {
            tube(&temple, false, 0.0011, 6, V3::Y).mirrored_x()
        } else {
            tube(&temple, false, 0.0011, 6, V3::Y)
        };
        m.solid("temple", gold, metal);
        let tip = tube(&temple[7..], false, 0.0021, 6, V3::Y);
        m.solid(
            "temple tip",
            tips,
            if side < 0.0 { tip.mirrored_x() } else { tip },
        );
        let block = cuboid(v3(0.004, 0.004, 0.006)).translated(hinge + v3(-0.001, -0.002, 0.001));
        m.solid(
            "hinge",
            gold,
            if side < 0.0 {
                block.mirrored_x()
            } else {
                block
            },
        );
    }
    // The brow bar across the tops and the bridge between the lenses.
    let (bu, bv) = outline(118.0);
    let brow = v3(cx + bu, cy + bv + 0.0015, 0.0);
    m.solid(
        "brow bar",
        gold,
        tube(&[v3(-brow.x, brow.y, 0.0), brow], false, 0.0012, 6, V3::Y),
    );
    let (nu, nv) = outline(160.0);
    let nose = v3(cx + nu, cy + nv, 0.0);
    m.solid(
        "bridge",
        gold,
        tube(
            &bezier2(
                v3(-nose.x, nose.y, 0.0),
                v3(0.0, nose.y + 0.010, 0.0),
                nose,
                6,
            ),
            false,
            0.0012,
            6,
            V3::Z,
        ),
    );
    m
}

/// A silk scarf folded in three with its end draped forward over the
/// fold, printed in lengthwise bands.
fn silk_scarf() -> Model {
    let mut m = Model::new("silk-scarf");
    let colours = [
        Material::matte("navy border", 0x1f2a5a, 0.35),
        Material::matte("gold stripe", 0xd9a441, 0.35),
        Material::matte("rose", 0xd24f6b, 0.35),
        Material::matte("ivory", 0xf3e6cf, 0.35),
    ]
    .map(|c| m.material(c.double_sided()));
    // Across the width: band edges and each band's colour.
    let edges = [-0.11, -0.098, -0.085, -0.045, 0.045, 0.085, 0.098, 0.11];
    let band_colour = [0, 1, 2, 3, 2, 1, 0];
    // Along the scarf, in the side view (z, y): three layers joined by two
    // folds, then the end lifting over the front fold and down.
    let (gap, front, back) = (0.016, 0.11, -0.11);
    let fold = |cz: f64, cy: f64, from: f64, to: f64| -> Vec<V3> {
        (0..=6)
            .map(|k| {
                let (s, c) = sin_cos_deg(from + (to - from) * k as f64 / 6.0);
                v3(0.0, cy + gap / 2.0 * s, cz + gap / 2.0 * c)
            })
            .collect()
    };
    let line = |z0: f64, z1: f64, y: f64, n: usize| -> Vec<V3> {
        (0..=n)
            .map(|k| {
                let t = k as f64 / n as f64;
                let z = z0 + (z1 - z0) * t;
                // A soft ripple in the silk, none where the folds start.
                let (s, _) = sin_cos(z * 60.0);
                let (envelope, _) = sin_cos(TAU / 2.0 * t);
                v3(0.0, y + 0.0012 * s * envelope, z)
            })
            .collect()
    };
    let spine = path(&[
        line(back - 0.02, front, 0.001, 6),
        fold(front, 0.001 + gap / 2.0, -90.0, 90.0),
        line(front, back, 0.001 + gap, 6),
        fold(back, 0.001 + 1.5 * gap, 270.0, 90.0),
        line(back, 0.03, 0.001 + 2.0 * gap, 4),
        bezier3(
            v3(0.0, 0.001 + 2.0 * gap, 0.03),
            v3(0.0, 0.04, 0.09),
            v3(0.0, 0.05, 0.14),
            v3(0.0, 0.001, 0.20),
            8,
        ),
    ]);
    for (b, colour) in band_colour.iter().enumerate() {
        // Each row is a cross-section: the band's two edges.
        let rows: Vec<Vec<V3>> = spine
            .iter()
            .map(|p| [edges[b], edges[b + 1]].map(|x| v3(x, p.y, p.z)).to_vec())
            .collect();
        // The ends have a navy border across.
        let n = rows.len();
        m.open("silk end", colours[0], grid(&rows[..2], false, false));
        m.open(
            "silk",
            colours[*colour],
            grid(&rows[1..n - 1], false, false),
        );
        m.open("silk end", colours[0], grid(&rows[n - 2..], false, false));
    }
    m
}

// --- Electronics ---------------------------------------------------------------

/// Over-ear headphones standing up: a sand headband over a dark padded
/// cushion, silver sliders and yokes, oval ear cups with leather cushions.
fn studio_headphones() -> Model {
    let mut m = Model::new("studio-headphones");
    let shell = m.material(Material::matte("sand shell", 0xcbb896, 0.5));
    let leather = m.material(Material::matte("leather cushions", 0x2b2522, 0.7));
    let metal = m.material(Material::metal("silver", 0xc4c6c8, 0.3));
    let (cx, cy) = (0.071, 0.046);
    for side in [1.0, -1.0] {
        let place = |mesh: Mesh| {
            // Built with the cup's axis on +Y: squash it front to back,
            // turn the axis to +X and move it out.
            let mesh = mesh
                .scaled(v3(1.0, 1.0, 0.82))
                .rotated_z(-90.0)
                .translated(v3(cx, cy, 0.0));
            if side < 0.0 { mesh.mirrored_x() } else { mesh }
        };
        m.solid(
            "ear cup",
            shell,
            place(lathe(
                &Loop::circle(20),
                &Profile::start(0.0, 0.0)
                    .to(0.036, 0.0)
                    .arc(0.036, 0.004, 0.004, -90.0, 0.0, 2)
                    .to(0.039, 0.022)
                    .arc(0.031, 0.022, 0.008, 0.0, 90.0, 2)
                    .to(0.0, 0.032),
            )),
        );
        m.solid(
            "cushion",
            leather,
            place(torus(0.027, 0.011, 18, 6).translated(v3(0.0, -0.006, 0.0))),
        );
        let yoke: Vec<V3> = (0..=10)
            .map(|k| {
                let (s, c) = sin_cos_deg(180.0 * k as f64 / 10.0);
                v3(cx + 0.012, cy + 0.049 * s, -0.037 * c)
            })
            .collect();
        let slider = [v3(cx + 0.012, cy + 0.049, 0.0), v3(cx + 0.012, 0.13, 0.0)];
        let (mut yoke, mut slider) = (
            tube(&yoke, false, 0.0028, 6, V3::X),
            tube(&slider, false, 0.0026, 8, V3::Z),
        );
        if side < 0.0 {
            yoke = yoke.mirrored_x();
            slider = slider.mirrored_x();
        }
        m.solid("yoke", metal, yoke);
        m.solid("slider", metal, slider);
    }
    let arch = |r: f64, from: f64, to: f64, n: usize| -> Vec<V3> {
        (0..=n)
            .map(|k| {
                let (s, c) = sin_cos_deg(from + (to - from) * k as f64 / n as f64);
                v3(r * c, 0.115 + r * 0.98 * s, 0.0)
            })
            .collect()
    };
    let x = cx + 0.012;
    let band = path(&[
        vec![v3(x, 0.108, 0.0)],
        arch(x, 0.0, 180.0, 14),
        vec![v3(-x, 0.108, 0.0)],
    ]);
    m.solid(
        "headband",
        shell,
        sweep(
            &band,
            false,
            &Loop::rounded_rect(0.003, 0.027, 1),
            &|_| 0.0022,
            V3::Z,
            true,
        ),
    );
    m.solid(
        "headband pad",
        leather,
        sweep(
            &arch(x - 0.0085, 30.0, 150.0, 10),
            false,
            &Loop::rounded_rect(0.004, 0.018, 1),
            &|_| 0.003,
            V3::Z,
            true,
        ),
    );
    m
}

/// A smartwatch on its closed sport band: aluminium case, black screen
/// with a green activity ring, crown and side button.
fn pulse_smartwatch() -> Model {
    let mut m = Model::new("pulse-smartwatch");
    let alu = m.material(Material::metal("aluminium", 0xb8bcc2, 0.35));
    let screen = m.material(Material::new("screen", 0x08080a, 0.0, 0.05));
    let strap = m.material(Material::matte("sport band", 0x2e3440, 0.8));
    let ring_mat = m.material(Material::matte("activity ring", 0x7ed957, 0.3));
    let (cy, ry, rz) = (0.034, 0.032, 0.026);
    let band: Vec<V3> = (0..24)
        .map(|k| {
            let (s, c) = sin_cos(TAU * k as f64 / 24.0);
            v3(0.0, cy + ry * s, rz * c)
        })
        .collect();
    m.solid(
        "band",
        strap,
        sweep(
            &band,
            true,
            &Loop::rounded_rect(0.0014, 0.019, 1),
            &|_| 0.001,
            V3::X,
            false,
        ),
    );
    let front = rz + 0.0018;
    let (w, h, t) = (0.036, 0.044, 0.0105);
    let face = |mesh: Mesh, z: f64| mesh.rotated_x(90.0).translated(v3(0.0, cy, z));
    m.solid(
        "case",
        alu,
        face(rounded_box(v3(w, t, h), 0.0042, 2), front),
    );
    m.solid(
        "screen",
        screen,
        face(
            rounded_plate(w - 0.005, h - 0.005, 0.0012, 0.006, 2),
            front + t - 0.0008,
        ),
    );
    m.solid(
        "activity ring",
        ring_mat,
        torus(0.0085, 0.0011, 20, 5).rotated_x(90.0).translated(v3(
            0.0,
            cy + 0.002,
            front + t + 0.0004,
        )),
    );
    m.solid(
        "crown",
        alu,
        cylinder(0.0032, 0.004, 12).rotated_z(-90.0).translated(v3(
            w / 2.0 - 0.001,
            cy + 0.007,
            front + t / 2.0,
        )),
    );
    m.solid(
        "button",
        alu,
        rounded_box(v3(0.003, 0.002, 0.010), 0.0008, 1)
            .rotated_z(-90.0)
            .translated(v3(w / 2.0 - 0.001, cy - 0.008, front + t / 2.0)),
    );
    m
}

/// A can-sized speaker: fabric grille between rounded teal bumpers,
/// buttons on top, a lanyard loop and a logo badge.
fn pocket_speaker() -> Model {
    let mut m = Model::new("pocket-speaker");
    let teal = m.material(Material::matte("teal rubber", 0x1f8a8a, 0.6));
    let grille = m.material(Material::matte("grille fabric", 0x2f3b40, 1.0));
    let buttons = m.material(Material::matte("buttons", 0xeeeeee, 0.5));
    let lanyard = m.material(Material::matte("lanyard", 0x1c1c1c, 0.9));
    let round = Loop::circle(22);
    let (r, h) = (0.036, 0.105);
    m.solid(
        "bottom bumper",
        teal,
        lathe(
            &round,
            &Profile::start(0.0, 0.0)
                .to(r - 0.006, 0.0)
                .arc(r - 0.006, 0.006, 0.006, -90.0, 0.0, 2)
                .to(r, 0.016)
                .corner()
                .to(0.0, 0.016),
        ),
    );
    m.solid(
        "top bumper",
        teal,
        lathe(
            &round,
            &Profile::start(0.0, h - 0.016)
                .to(r, h - 0.016)
                .corner()
                .to(r, h - 0.006)
                .arc(r - 0.006, h - 0.006, 0.006, 0.0, 90.0, 2)
                .to(0.0, h),
        ),
    );
    m.solid(
        "grille",
        grille,
        lathe_capped(
            &round,
            &Profile::start(r - 0.0012, 0.0155).edge(r - 0.0012, h - 0.0155),
        ),
    );
    for (x, rb) in [(-0.013, 0.0045), (0.0, 0.0058), (0.013, 0.0045)] {
        m.solid(
            "button",
            buttons,
            cylinder(rb, 0.0025, 12).translated(v3(x, h - 0.001, 0.004)),
        );
    }
    m.solid(
        "badge",
        teal,
        rounded_plate(0.020, 0.007, 0.004, 0.002, 1)
            .rotated_x(90.0)
            .translated(v3(0.0, 0.050, r - 0.0025)),
    );
    m.solid(
        "lanyard",
        lanyard,
        tube(
            &bezier3(
                v3(-0.007, h - 0.010, -r + 0.004),
                v3(-0.012, h + 0.030, -r - 0.030),
                v3(0.012, h + 0.030, -r - 0.030),
                v3(0.007, h - 0.010, -r + 0.004),
                10,
            ),
            false,
            0.0022,
            6,
            V3::X,
        ),
    );
    m
}

// --- Home --------------------------------------------------------------------

/// A table lamp: black marble base, a brass arc rising from it and curving
/// over, a linen dome shade over a warm bulb.
fn arc_lamp() -> Model {
    let mut m = Model::new("arc-lamp");
    let marble = m.material(Material::matte("black marble", 0x2a2a2c, 0.25));
    let brass = m.material(Material::metal("brass", 0xc9a25a, 0.3));
    let linen = m.material(Material::matte("linen shade", 0xece4d3, 0.95));
    let bulb = m.material(Material::matte("warm bulb", 0xfff1c9, 0.3));
    let (bx, sx) = (-0.10, 0.13);
    m.solid(
        "base",
        marble,
        lathe(
            &Loop::circle(24),
            &Profile::start(0.0, 0.0)
                .to(0.080, 0.0)
                .corner()
                .to(0.080, 0.016)
                .arc(0.072, 0.016, 0.008, 0.0, 90.0, 3)
                .to(0.0, 0.024),
        )
        .translated(v3(bx, 0.0, 0.0)),
    );
    m.solid(
        "dimmer",
        brass,
        cylinder(0.008, 0.008, 12).translated(v3(bx + 0.045, 0.022, 0.03)),
    );
    let (top, rim) = (0.50, 0.37);
    let arc = bezier3(
        v3(bx, 0.02, 0.0),
        v3(bx, 0.56, 0.0),
        v3(sx, 0.68, 0.0),
        v3(sx, top + 0.02, 0.0),
        20,
    );
    m.solid("arc", brass, tube(&arc, false, 0.0055, 8, V3::Z));
    // The dome: inside from the top down to the rim, round the rim, and
    // back up the outside.
    let (rx, ry, t) = (0.10, top - rim, 0.003);
    let mut shade = Profile::start(0.0, rim + ry - t);
    for k in 1..=5 {
        let (s, c) = sin_cos_deg(90.0 * k as f64 / 5.0);
        shade = shade.to((rx - t) * s, rim + (ry - t) * c);
    }
    shade = shade.corner().to(rx, rim).corner();
    for k in (0..5).rev() {
        let (s, c) = sin_cos_deg(90.0 * k as f64 / 5.0);
        shade = shade.to(rx * s, rim + ry * c);
    }
    m.solid(
        "shade",
        linen,
        lathe(&Loop::circle(22), &shade).translated(v3(sx, 0.0, 0.0)),
    );
    m.solid(
        "bulb",
        bulb,
        sphere(0.024, 12, 6).translated(v3(sx, rim + 0.028, 0.0)),
    );
    m
}

/// A 350 ml stoneware mug glazed sage, with an unglazed foot ring and a
/// handle on the right.
fn stoneware_mug() -> Model {
    let mut m = Model::new("stoneware-mug");
    let glaze = m.material(Material::matte("sage glaze", 0x9cae88, 0.4));
    let clay = m.material(Material::matte("raw clay", 0xb9a58a, 0.9));
    let speckle = m.material(Material::matte("speckles", 0x4a3b2c, 0.6));
    let round = Loop::circle(24);
    m.solid(
        "body",
        glaze,
        lathe(
            &round,
            &Profile::start(0.0, 0.005)
                .to(0.0385, 0.005)
                .arc(0.0385, 0.009, 0.004, -90.0, 0.0, 2)
                .to(0.0445, 0.092)
                .arc(0.0425, 0.092, 0.002, 0.0, 180.0, 3)
                .to(0.0385, 0.016)
                .arc(0.0305, 0.016, 0.008, 0.0, -90.0, 2)
                .to(0.0, 0.008),
        ),
    );
    m.solid(
        "foot",
        clay,
        lathe(
            &round,
            &Profile::start(0.0, 0.0)
                .to(0.0345, 0.0)
                .arc(0.0345, 0.0025, 0.0025, -90.0, 0.0, 2)
                .to(0.037, 0.006)
                .corner()
                .to(0.0, 0.006),
        ),
    );
    let handle = bezier3(
        v3(0.040, 0.078, 0.0),
        v3(0.086, 0.088, 0.0),
        v3(0.088, 0.020, 0.0),
        v3(0.040, 0.030, 0.0),
        12,
    );
    m.solid(
        "handle",
        glaze,
        sweep(
            &handle,
            false,
            &ellipse(0.0038, 0.0075, 10),
            &|_| 0.0,
            V3::Z,
            true,
        ),
    );
    // Iron speckles in the glaze, scattered by a fixed sequence.
    let mut seed: u32 = 0x9e37_79b9;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        f64::from(seed) / f64::from(u32::MAX)
    };
    let mut dots = Mesh::default();
    for _ in 0..24 {
        let (deg, y) = (360.0 * next(), 0.015 + 0.07 * next());
        // Just off the outer wall, which runs from r 0.0425 at y 0.009 to
        // 0.0445 at y 0.092.
        let r = 0.0425 + 0.002 * (y - 0.009) / 0.083 + 0.0002;
        let dot: Vec<V3> = (0..5)
            .map(|k| {
                let (s, c) = sin_cos(TAU * k as f64 / 5.0);
                v3(r, y + 0.0011 * s, 0.0011 * c)
            })
            .collect();
        dots.append(cap(&dot, V3::X).rotated_y(deg));
    }
    m.open("speckles", speckle, dots);
    m
}

/// A soy candle in a clear glass tumbler with a kraft label, its wick
/// showing, and the wooden lid set down beside it.
fn soy_candle() -> Model {
    let mut m = Model::new("soy-candle");
    let glass = m.material(Material::glass("glass", 0xdfe7e2, 0.35));
    let wax = m.material(Material::matte("soy wax", 0xf1e7d3, 0.6));
    let label = m.material(Material::matte("kraft label", 0xc49c6c, 0.85));
    let wick = m.material(Material::matte("wick", 0x1a1a1a, 0.9));
    let wood = m.material(Material::matte("oak lid", 0xb58b5a, 0.65));
    let round = Loop::circle(24);
    m.solid(
        "jar",
        glass,
        lathe(
            &round,
            &Profile::start(0.0, 0.0)
                .to(0.037, 0.0)
                .arc(0.037, 0.003, 0.003, -90.0, 0.0, 2)
                .to(0.040, 0.088)
                .arc(0.0385, 0.088, 0.0015, 0.0, 180.0, 3)
                .to(0.037, 0.008)
                .arc(0.033, 0.008, 0.004, 0.0, -90.0, 2)
                .to(0.0, 0.004),
        ),
    );
    m.solid(
        "wax",
        wax,
        lathe(
            &round,
            &Profile::start(0.0, 0.0045)
                .to(0.033, 0.0045)
                .arc(0.033, 0.008, 0.0035, -90.0, 0.0, 2)
                .to(0.0365, 0.066)
                .corner()
                .to(0.0, 0.066),
        ),
    );
    m.solid("label", label, band(&round, 0.0398, 0.0404, 0.026, 0.062));
    m.solid(
        "wick",
        wick,
        tube(
            &bezier2(
                v3(0.0, 0.060, 0.0),
                v3(0.0, 0.074, 0.0),
                v3(0.003, 0.080, 0.0),
                5,
            ),
            false,
            0.0011,
            6,
            V3::Z,
        ),
    );
    m.solid(
        "lid",
        wood,
        lathe(
            &round,
            &Profile::start(0.0, 0.0)
                .to(0.0355, 0.0)
                .corner()
                .to(0.0355, 0.006)
                .corner()
                .to(0.0415, 0.006)
                .corner()
                .to(0.0415, 0.014)
                .arc(0.0395, 0.014, 0.002, 0.0, 90.0, 2)
                .to(0.0, 0.016),
        )
        .translated(v3(0.095, 0.0, 0.01)),
    );
    m
}
