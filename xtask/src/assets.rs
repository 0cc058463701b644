//! `cargo xtask assets [--check]`: the products' 3D models.
//!
//! Every product in `assets/catalog.toml` names a model,
//! `model = "models/<id>.glb"`. This task makes each one from code
//! ([`products`]: lathes, sweeps and rounded boxes in real sizes, one
//! material per part) and writes it as glTF 2.0 binary under
//! `assets/models/`. The files are committed; the same code makes the same
//! bytes on every machine, and `--check` (and a test) fails when a
//! committed file is not what the code makes.

mod glb;
mod mesh;
mod products;

use std::path::{Path, PathBuf};

use crate::Result;

/// Each file stays small enough to load in a blink and to commit.
pub const MAX_FILE_BYTES: usize = 40 * 1024;
pub const MAX_TOTAL_BYTES: usize = 400 * 1024;

const CATALOG: &str = "assets/catalog.toml";
const MODELS: &str = "assets/models";

/// A product in the catalog and its model's path under `assets/`.
#[derive(Debug, PartialEq)]
struct Entry {
    id: String,
    model: String,
}

/// The value of a `key = "value"` line, if the line sets `key`.
fn string_value(line: &str, key: &str) -> Option<std::result::Result<String, String>> {
    let (k, v) = line.split_once('=')?;
    if k.trim() != key {
        return None;
    }
    let v = v.trim();
    let quoted = v
        .strip_prefix('"')
        .and_then(|rest| rest.split_once('"'))
        .filter(|(_, after)| after.trim().is_empty() || after.trim().starts_with('#'))
        .map(|(value, _)| value.to_owned());
    Some(quoted.ok_or_else(|| format!("{key} is not a plain \"string\"")))
}

/// The `id` and `model` of each `[[products]]` table: a line-based read
/// of the catalog (the server parses it properly; this only needs two
/// keys).
fn catalog_entries(text: &str) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    // (id, model, line of the table header)
    let mut current: Option<(Option<String>, Option<String>, usize)> = None;
    let mut finish = |current: Option<(Option<String>, Option<String>, usize)>| -> Result<()> {
        if let Some((id, model, line)) = current {
            let at = format!("{CATALOG}:{line}");
            let id = id.ok_or(format!("{at}: a product without an id"))?;
            let model = model.ok_or(format!("{at}: product {id} has no model"))?;
            let name = model
                .strip_prefix("models/")
                .and_then(|m| m.strip_suffix(".glb"))
                .filter(|m| {
                    !m.is_empty()
                        && m.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                });
            if name.is_none() {
                return Err(format!(
                    "{at}: product {id}: model {model:?} is not models/<name>.glb"
                ));
            }
            entries.push(Entry { id, model });
        }
        Ok(())
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            if line == "[[products]]" {
                finish(current.take())?;
                current = Some((None, None, n + 1));
            } else if !line.starts_with("[[products.") {
                // A table that is not a product's nor inside one.
                finish(current.take())?;
            }
            continue;
        }
        let Some((id, model, _)) = current.as_mut() else {
            continue;
        };
        // Keys of a product's sub-tables (variants) come after their own
        // header; only the product's own lines count.
        for (key, slot) in [("id", id), ("model", model)] {
            if let Some(value) = string_value(line, key) {
                if slot.is_some() {
                    continue;
                }
                *slot = Some(value.map_err(|e| format!("{CATALOG}:{}: {e}", n + 1))?);
            }
        }
    }
    finish(current.take())?;
    Ok(entries)
}

/// Every model the catalog names, made: `(path from the workspace root,
/// bytes)`, in catalog order.
fn generate(root: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let text = std::fs::read_to_string(root.join(CATALOG))
        .map_err(|e| format!("cannot read {CATALOG}: {e}"))?;
    let entries = catalog_entries(&text)?;
    if entries.is_empty() {
        return Err(format!("{CATALOG} has no products"));
    }
    let mut files = Vec::new();
    let mut total = 0;
    for Entry { id, model } in entries {
        let made = products::build(&id).ok_or_else(|| {
            let known: Vec<&str> = products::PRODUCTS.iter().map(|(id, _)| *id).collect();
            format!(
                "{CATALOG} names product {id:?} with model {model}, and xtask has no generator \
                 for it: add one to PRODUCTS in xtask/src/assets/products.rs (it knows {})",
                known.join(", ")
            )
        })?;
        let bytes = glb::encode(&made);
        if bytes.len() > MAX_FILE_BYTES {
            return Err(format!(
                "{model}: {} bytes, over the {MAX_FILE_BYTES}-byte budget",
                bytes.len()
            ));
        }
        total += bytes.len();
        files.push((Path::new("assets").join(&model), bytes));
    }
    if total > MAX_TOTAL_BYTES {
        return Err(format!(
            "the models add up to {total} bytes, over the {MAX_TOTAL_BYTES}-byte budget"
        ));
    }
    Ok(files)
}

/// `.glb` files in `assets/models` that the catalog does not name.
fn strays(root: &Path, files: &[(PathBuf, Vec<u8>)]) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(root.join(MODELS)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = dir
        .filter_map(|e| e.ok())
        .map(|e| Path::new(MODELS).join(e.file_name()))
        .filter(|p| p.extension().is_some_and(|x| x == "glb"))
        .filter(|p| !files.iter().any(|(f, _)| f == p))
        .collect();
    out.sort();
    out
}

/// What differs between the committed models and what the code makes.
fn differences(root: &Path, files: &[(PathBuf, Vec<u8>)]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, bytes) in files {
        match std::fs::read(root.join(path)) {
            Ok(committed) if committed == *bytes => {}
            Ok(_) => out.push(format!(
                "{} differs from what the code makes",
                path.display()
            )),
            Err(_) => out.push(format!("{} is missing", path.display())),
        }
    }
    for path in strays(root, files) {
        out.push(format!("{} is not named in {CATALOG}", path.display()));
    }
    out
}

pub fn run(args: &[String]) -> Result<()> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => return Err("usage: cargo xtask assets [--check]".into()),
    };
    let root = crate::workspace_root();
    let files = generate(&root)?;
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    if check {
        let diffs = differences(&root, &files);
        if !diffs.is_empty() {
            return Err(format!(
                "{}\nrun `cargo xtask assets` and commit {MODELS}",
                diffs.join("\n")
            ));
        }
        println!(
            "xtask: the {} models in {MODELS} are up to date ({total} bytes)",
            files.len()
        );
        return Ok(());
    }
    std::fs::create_dir_all(root.join(MODELS)).map_err(|e| format!("cannot make {MODELS}: {e}"))?;
    for (path, bytes) in &files {
        let unchanged = std::fs::read(root.join(path)).is_ok_and(|old| old == *bytes);
        if !unchanged {
            std::fs::write(root.join(path), bytes)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        println!(
            "xtask: {} {:>6} bytes{}",
            path.display(),
            bytes.len(),
            if unchanged { "" } else { " (written)" }
        );
    }
    println!("xtask: {} models, {total} bytes", files.len());
    for path in strays(&root, &files) {
        println!(
            "xtask: warning: {} is not named in {CATALOG}",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::glb::read::Glb;
    use super::mesh::V3;
    use super::*;

    #[test]
    fn committed_models_are_what_the_code_makes() {
        let root = crate::workspace_root();
        let files = generate(&root).unwrap();
        let diffs = differences(&root, &files);
        assert!(
            diffs.is_empty(),
            "{}\nrun `cargo xtask assets` and commit {MODELS}",
            diffs.join("\n")
        );
    }

    #[test]
    fn the_catalog_is_read_for_ids_and_models() {
        let text = r#"
currency = "EUR"
[[products]]
id = "mug"   # a comment
name = "Mug = cup"
model = "models/mug.glb"

[[products.variants]]
sku = "mug-1"
options = { id = "x" }

[[products]]
model = "models/tote.glb"
id = "tote"
[other]
id = "not a product"
"#;
        assert_eq!(
            catalog_entries(text).unwrap(),
            [
                Entry {
                    id: "mug".into(),
                    model: "models/mug.glb".into()
                },
                Entry {
                    id: "tote".into(),
                    model: "models/tote.glb".into()
                },
            ]
        );
        let err = catalog_entries("[[products]]\nid = \"a\"\n").unwrap_err();
        assert!(err.contains(":1: product a has no model"), "{err}");
        let err = catalog_entries("[[products]]\nid = \"a\"\nmodel = \"../a.glb\"\n").unwrap_err();
        assert!(err.contains("is not models/<name>.glb"), "{err}");
        let err = catalog_entries("[[products]]\nid = a\n").unwrap_err();
        assert!(err.contains(":2: id is not a plain"), "{err}");
    }

    #[test]
    fn a_product_without_a_generator_fails_by_name() {
        let root = std::env::temp_dir().join(format!("xtask-assets-{}", std::process::id()));
        std::fs::create_dir_all(root.join("assets")).unwrap();
        std::fs::write(
            root.join(CATALOG),
            "[[products]]\nid = \"glow-serum\"\nmodel = \"models/glow-serum.glb\"\n\
             [[products]]\nid = \"garden-gnome\"\nmodel = \"models/garden-gnome.glb\"\n",
        )
        .unwrap();
        let err = generate(&root).unwrap_err();
        std::fs::remove_dir_all(&root).unwrap();
        assert!(err.contains("\"garden-gnome\""), "{err}");
        assert!(err.contains("no generator"), "{err}");
    }

    #[test]
    fn every_catalog_product_has_a_generator_and_the_files_fit_the_budget() {
        let root = crate::workspace_root();
        let files = generate(&root).unwrap();
        // Every generator is used: the catalog names each product once.
        assert_eq!(files.len(), products::PRODUCTS.len());
        let total: usize = files.iter().map(|(_, b)| b.len()).sum();
        assert!(total <= MAX_TOTAL_BYTES, "{total}");
        for (path, bytes) in &files {
            assert!(bytes.len() <= MAX_FILE_BYTES, "{}", path.display());
        }
    }

    /// Exact positions as keys (with -0 as 0).
    fn key(p: V3) -> [u64; 3] {
        [p.x + 0.0, p.y + 0.0, p.z + 0.0].map(f64::to_bits)
    }

    #[test]
    fn parts_face_outwards_and_closed_parts_are_watertight() {
        for (id, _) in products::PRODUCTS {
            let model = products::build(id).unwrap();
            for part in &model.parts {
                let what = format!("{id}: {}", part.name);
                let mesh = &part.mesh;
                assert!(!mesh.indices.is_empty(), "{what}: empty");
                assert_eq!(mesh.positions.len(), mesh.normals.len(), "{what}");
                for n in &mesh.normals {
                    assert!((n.len() - 1.0).abs() < 1e-9, "{what}: normal {n:?}");
                }
                // Each triangle's winding agrees with its vertices' normals.
                let mut volume = 0.0;
                let mut edges: HashMap<([u64; 3], [u64; 3]), i64> = HashMap::new();
                for t in mesh.indices.chunks(3) {
                    let [a, b, c] = [0, 1, 2].map(|k| mesh.positions[t[k] as usize]);
                    let g = (b - a).cross(c - a);
                    assert!(g.len() > 0.0, "{what}: degenerate triangle");
                    for &v in t {
                        let n = mesh.normals[v as usize];
                        assert!(
                            n.dot(g.normalized()) > 0.0,
                            "{what}: triangle {a:?} {b:?} {c:?} winds against its normal {n:?}"
                        );
                    }
                    volume += a.dot(b.cross(c)) / 6.0;
                    for (p, q) in [(a, b), (b, c), (c, a)] {
                        *edges.entry((key(p), key(q))).or_default() += 1;
                    }
                }
                if part.closed {
                    // Every edge is met once each way round: no holes, and
                    // the neighbours wind the same way.
                    for ((p, q), n) in &edges {
                        assert_eq!(
                            edges.get(&(*q, *p)),
                            Some(n),
                            "{what}: open or inconsistent edge {:?} -> {:?}",
                            p.map(f64::from_bits),
                            q.map(f64::from_bits)
                        );
                    }
                    assert!(volume > 0.0, "{what}: inside out (volume {volume})");
                }
            }
        }
    }

    #[test]
    fn models_are_real_size_standing_on_the_ground_facing_front() {
        // Product: (width x, height y, depth z) ranges in metres.
        type Range = (f64, f64);
        let sizes: &[(&str, Range, Range, Range)] = &[
            ("glow-serum", (0.025, 0.04), (0.09, 0.12), (0.025, 0.04)),
            ("velvet-lipstick", (0.04, 0.08), (0.06, 0.09), (0.015, 0.05)),
            ("amber-perfume", (0.06, 0.08), (0.10, 0.14), (0.03, 0.05)),
            ("cloud-sneaker", (0.08, 0.12), (0.08, 0.13), (0.27, 0.32)),
            ("canvas-tote", (0.35, 0.42), (0.50, 0.70), (0.10, 0.15)),
            (
                "aviator-sunglasses",
                (0.13, 0.16),
                (0.04, 0.07),
                (0.12, 0.17),
            ),
            ("silk-scarf", (0.15, 0.30), (0.02, 0.08), (0.20, 0.40)),
            (
                "studio-headphones",
                (0.16, 0.23),
                (0.17, 0.23),
                (0.06, 0.10),
            ),
            ("pulse-smartwatch", (0.03, 0.05), (0.05, 0.08), (0.05, 0.08)),
            ("pocket-speaker", (0.06, 0.09), (0.10, 0.16), (0.06, 0.12)),
            ("arc-lamp", (0.25, 0.45), (0.50, 0.75), (0.15, 0.25)),
            ("stoneware-mug", (0.11, 0.14), (0.09, 0.11), (0.08, 0.10)),
            ("soy-candle", (0.15, 0.20), (0.08, 0.10), (0.08, 0.10)),
        ];
        assert_eq!(sizes.len(), products::PRODUCTS.len());
        for (id, x, y, z) in sizes {
            let model = products::build(id).unwrap();
            let (lo, hi) = model.bounds();
            assert!(lo.y.abs() < 1e-9, "{id} floats or sinks: {}", lo.y);
            assert!(
                (lo.x + hi.x).abs() < 1e-9 && (lo.z + hi.z).abs() < 1e-9,
                "{id}"
            );
            let size = hi - lo;
            for (axis, got, (min, max)) in [("x", size.x, x), ("y", size.y, y), ("z", size.z, z)] {
                assert!(
                    (*min..=*max).contains(&got),
                    "{id}: {axis} size {got:.3} m not in {min}..{max}"
                );
            }
        }
    }

    #[test]
    fn files_hold_the_models_parts_exactly() {
        for (id, _) in products::PRODUCTS {
            let model = products::build(id).unwrap();
            let bytes = glb::encode(&model);
            assert_eq!(
                bytes,
                glb::encode(&products::build(id).unwrap()),
                "{id}: not deterministic"
            );
            let glb = Glb::parse(&bytes).unwrap();
            let j = &glb.json;
            assert_eq!(j.get("scenes").arr().len(), 1, "{id}");
            assert_eq!(j.get("scenes").at(0).get("nodes").arr().len(), 1, "{id}");
            assert_eq!(j.get("nodes").at(0).get("name").str(), *id);
            assert_eq!(j.get("meshes").arr().len(), 1, "{id}");
            let prims = j.get("meshes").at(0).get("primitives").arr();
            assert_eq!(
                prims.len(),
                model.materials.len(),
                "{id}: a primitive per material"
            );
            for (prim, (m, mesh)) in prims.iter().zip(model.primitives()) {
                assert_eq!(prim.get("material").usize(), m);
                let attrs = prim.get("attributes");
                assert_eq!(attrs.keys(), ["NORMAL", "POSITION"], "{id}");
                let pos_acc = attrs.get("POSITION").usize();
                let positions = glb.vec3s(pos_acc);
                let normals = glb.vec3s(attrs.get("NORMAL").usize());
                let indices = glb.indices(prim.get("indices").usize());
                assert_eq!(positions.len(), mesh.positions.len(), "{id}");
                assert_eq!(normals.len(), positions.len(), "{id}");
                assert_eq!(indices, mesh.indices, "{id}");
                let acc = j.get("accessors").at(pos_acc);
                for k in 0..3 {
                    let lo = positions.iter().map(|p| p[k]).fold(f32::MAX, f32::min);
                    let hi = positions.iter().map(|p| p[k]).fold(f32::MIN, f32::max);
                    assert_eq!(acc.get("min").at(k).num() as f32, lo, "{id}");
                    assert_eq!(acc.get("max").at(k).num() as f32, hi, "{id}");
                }
            }
            for mat in j.get("materials").arr() {
                let pbr = mat.get("pbrMetallicRoughness");
                assert_eq!(pbr.get("baseColorFactor").arr().len(), 4, "{id}");
                let alpha = pbr.get("baseColorFactor").at(3).num();
                let blend =
                    matches!(mat.get("alphaMode"), super::glb::read::Json::Str(s) if s == "BLEND");
                assert_eq!(blend, alpha < 1.0, "{id}: {}", mat.get("name").str());
            }
        }
    }
}
