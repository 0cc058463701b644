//! A model (materials and parts) and its glTF 2.0 binary (`.glb`) form.
//!
//! One scene, one node named after the product, one mesh with one
//! primitive per material. Each primitive has its own POSITION (with the
//! `min`/`max` the validator requires) and NORMAL accessors (float VEC3)
//! and unsigned-short indices, each in its own buffer view starting on a
//! 4-byte boundary. Materials are plain metallic-roughness factors: no
//! textures, no extensions.

use super::mesh::{Mesh, V3, pow, v3};

/// glTF's numbers for what the writer uses.
const FLOAT: u32 = 5126;
const UNSIGNED_SHORT: u32 = 5123;
const UNSIGNED_INT: u32 = 5125;
const ARRAY_BUFFER: u32 = 34962;
const ELEMENT_ARRAY_BUFFER: u32 = 34963;
const GLB_MAGIC: u32 = 0x4654_6c67; // "glTF"
const CHUNK_JSON: u32 = 0x4e4f_534a; // "JSON"
const CHUNK_BIN: u32 = 0x004e_4942; // "BIN\0"

#[derive(Clone, Debug)]
pub struct Material {
    pub name: &'static str,
    /// Linear RGBA, as glTF's `baseColorFactor`.
    pub color: [f64; 4],
    pub metallic: f64,
    pub roughness: f64,
    /// Alpha blending (glass).
    pub blend: bool,
    /// Both faces drawn (thin sheets).
    pub double_sided: bool,
}

impl Material {
    /// An opaque material from an sRGB colour such as `0xd4a24c`.
    pub fn new(name: &'static str, srgb: u32, metallic: f64, roughness: f64) -> Material {
        let channel = |shift: u32| linear(f64::from((srgb >> shift) & 0xff) / 255.0);
        Material {
            name,
            color: [channel(16), channel(8), channel(0), 1.0],
            metallic,
            roughness,
            blend: false,
            double_sided: false,
        }
    }

    /// A dielectric (metallic 0).
    pub fn matte(name: &'static str, srgb: u32, roughness: f64) -> Material {
        Material::new(name, srgb, 0.0, roughness)
    }

    /// A metal (metallic 1).
    pub fn metal(name: &'static str, srgb: u32, roughness: f64) -> Material {
        Material::new(name, srgb, 1.0, roughness)
    }

    /// Tinted glass: smooth, alpha-blended.
    pub fn glass(name: &'static str, srgb: u32, alpha: f64) -> Material {
        let mut m = Material::new(name, srgb, 0.0, 0.08);
        m.color[3] = alpha;
        m.blend = true;
        m
    }

    pub fn double_sided(mut self) -> Material {
        self.double_sided = true;
        self
    }
}

/// sRGB to linear, rounded to 4 decimals.
fn linear(c: f64) -> f64 {
    let l = if c <= 0.04045 {
        c / 12.92
    } else {
        pow((c + 0.055) / 1.055, 2.4)
    };
    (l * 10_000.0).round() / 10_000.0
}

/// A named piece of a model in one material.
#[derive(Clone, Debug)]
pub struct Part {
    pub name: &'static str,
    pub material: usize,
    pub mesh: Mesh,
    /// Watertight and facing outwards (the tests check it); false for
    /// sheets and decals.
    #[cfg_attr(not(test), allow(dead_code, reason = "the tests read it"))]
    pub closed: bool,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub name: String,
    pub materials: Vec<Material>,
    pub parts: Vec<Part>,
}

impl Model {
    pub fn new(name: &str) -> Model {
        Model {
            name: name.to_owned(),
            materials: Vec::new(),
            parts: Vec::new(),
        }
    }

    pub fn material(&mut self, m: Material) -> usize {
        self.materials.push(m);
        self.materials.len() - 1
    }

    /// A closed part: watertight, faces outwards.
    pub fn solid(&mut self, name: &'static str, material: usize, mesh: Mesh) {
        self.parts.push(Part {
            name,
            material,
            mesh,
            closed: true,
        });
    }

    /// A sheet, or a part whose pieces overlap rather than join.
    pub fn open(&mut self, name: &'static str, material: usize, mesh: Mesh) {
        self.parts.push(Part {
            name,
            material,
            mesh,
            closed: false,
        });
    }

    pub fn bounds(&self) -> (V3, V3) {
        let mut lo = v3(f64::MAX, f64::MAX, f64::MAX);
        let mut hi = v3(f64::MIN, f64::MIN, f64::MIN);
        for p in &self.parts {
            let (a, b) = p.mesh.bounds();
            lo = v3(lo.x.min(a.x), lo.y.min(a.y), lo.z.min(a.z));
            hi = v3(hi.x.max(b.x), hi.y.max(b.y), hi.z.max(b.z));
        }
        (lo, hi)
    }

    /// Moves the model to stand on y = 0, centred on the Y axis.
    pub fn placed(mut self) -> Model {
        let (lo, hi) = self.bounds();
        let by = v3(-(lo.x + hi.x) / 2.0, -lo.y, -(lo.z + hi.z) / 2.0);
        for p in &mut self.parts {
            p.mesh = std::mem::take(&mut p.mesh).translated(by);
        }
        self
    }

    /// Each material's parts as one mesh, in material order.
    pub fn primitives(&self) -> Vec<(usize, Mesh)> {
        (0..self.materials.len())
            .map(|m| {
                let parts = self.parts.iter().filter(|p| p.material == m);
                (m, Mesh::merged(parts.map(|p| p.mesh.clone())))
            })
            .collect()
    }
}

/// Appends `what` to `buf` as little-endian `f32`s or integers.
fn push_f32s(buf: &mut Vec<u8>, values: impl Iterator<Item = f32>) {
    for v in values {
        buf.extend(v.to_le_bytes());
    }
}

fn pad(buf: &mut Vec<u8>, with: u8) {
    while !buf.len().is_multiple_of(4) {
        buf.push(with);
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_floats(values: &[f32]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
    format!("[{}]", items.join(","))
}

/// The model as a `.glb` file.
///
/// # Panics
/// When a material has no parts or a part is empty: a bug in the model.
pub fn encode(model: &Model) -> Vec<u8> {
    let mut bin = Vec::new();
    let mut views = Vec::new();
    let mut accessors = Vec::new();
    let mut primitives = Vec::new();
    for p in &model.parts {
        assert!(
            !p.mesh.indices.is_empty(),
            "{}: part {} is empty",
            model.name,
            p.name
        );
    }
    for (material, mesh) in model.primitives() {
        assert!(
            !mesh.indices.is_empty(),
            "{}: material {} has no parts",
            model.name,
            model.materials[material].name
        );
        let mut view = |bin: &mut Vec<u8>, start: usize, target: u32| {
            views.push(format!(
                r#"{{"buffer":0,"byteOffset":{start},"byteLength":{},"target":{target}}}"#,
                bin.len() - start
            ));
            pad(bin, 0);
            views.len() - 1
        };
        let positions: Vec<[f32; 3]> = mesh
            .positions
            .iter()
            .map(|p| [p.x as f32, p.y as f32, p.z as f32])
            .collect();
        let count = positions.len();
        let mut lo = [f32::MAX; 3];
        let mut hi = [f32::MIN; 3];
        for p in &positions {
            for k in 0..3 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        let start = bin.len();
        push_f32s(&mut bin, positions.iter().flatten().copied());
        let v = view(&mut bin, start, ARRAY_BUFFER);
        accessors.push(format!(
            r#"{{"bufferView":{v},"componentType":{FLOAT},"count":{count},"type":"VEC3","min":{},"max":{}}}"#,
            json_floats(&lo),
            json_floats(&hi)
        ));
        let position = accessors.len() - 1;

        let start = bin.len();
        push_f32s(
            &mut bin,
            mesh.normals
                .iter()
                .flat_map(|n| [n.x as f32, n.y as f32, n.z as f32]),
        );
        let v = view(&mut bin, start, ARRAY_BUFFER);
        accessors.push(format!(
            r#"{{"bufferView":{v},"componentType":{FLOAT},"count":{count},"type":"VEC3"}}"#
        ));
        let normal = accessors.len() - 1;

        let start = bin.len();
        let kind = if count <= usize::from(u16::MAX) {
            for &i in &mesh.indices {
                bin.extend((i as u16).to_le_bytes());
            }
            UNSIGNED_SHORT
        } else {
            for &i in &mesh.indices {
                bin.extend(i.to_le_bytes());
            }
            UNSIGNED_INT
        };
        let v = view(&mut bin, start, ELEMENT_ARRAY_BUFFER);
        accessors.push(format!(
            r#"{{"bufferView":{v},"componentType":{kind},"count":{},"type":"SCALAR"}}"#,
            mesh.indices.len()
        ));
        primitives.push(format!(
            r#"{{"attributes":{{"POSITION":{position},"NORMAL":{normal}}},"indices":{},"material":{material}}}"#,
            accessors.len() - 1
        ));
    }
    let materials: Vec<String> = model
        .materials
        .iter()
        .map(|m| {
            let color: Vec<f32> = m.color.iter().map(|&c| c as f32).collect();
            let mut s = format!(
                r#"{{"name":{},"pbrMetallicRoughness":{{"baseColorFactor":{},"metallicFactor":{},"roughnessFactor":{}}}"#,
                json_string(m.name),
                json_floats(&color),
                m.metallic as f32,
                m.roughness as f32
            );
            if m.blend {
                s.push_str(r#","alphaMode":"BLEND""#);
            }
            if m.double_sided {
                s.push_str(r#","doubleSided":true"#);
            }
            s.push('}');
            s
        })
        .collect();
    let name = json_string(&model.name);
    let json = format!(
        concat!(
            r#"{{"asset":{{"version":"2.0","generator":"vitrine cargo xtask assets"}},"#,
            r#""scene":0,"scenes":[{{"name":{name},"nodes":[0]}}],"#,
            r#""nodes":[{{"name":{name},"mesh":0}}],"#,
            r#""meshes":[{{"name":{name},"primitives":[{primitives}]}}],"#,
            r#""materials":[{materials}],"#,
            r#""accessors":[{accessors}],"#,
            r#""bufferViews":[{views}],"#,
            r#""buffers":[{{"byteLength":{len}}}]}}"#
        ),
        name = name,
        primitives = primitives.join(","),
        materials = materials.join(","),
        accessors = accessors.join(","),
        views = views.join(","),
        len = bin.len(),
    );
    let mut json = json.into_bytes();
    pad(&mut json, b' ');
    pad(&mut bin, 0);
    let total = 12 + 8 + json.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    for word in [GLB_MAGIC, 2, total as u32, json.len() as u32, CHUNK_JSON] {
        out.extend(word.to_le_bytes());
    }
    out.extend(json);
    for word in [bin.len() as u32, CHUNK_BIN] {
        out.extend(word.to_le_bytes());
    }
    out.extend(bin);
    out
}

/// Reading a `.glb` back, for the tests: a small JSON parser and the
/// accessors' data.
#[cfg(test)]
pub mod read {
    use std::collections::BTreeMap;

    #[derive(Clone, Debug, PartialEq)]
    pub enum Json {
        Null,
        Bool(bool),
        Num(f64),
        Str(String),
        Arr(Vec<Json>),
        Obj(BTreeMap<String, Json>),
    }

    impl Json {
        pub fn get(&self, key: &str) -> &Json {
            match self {
                Json::Obj(m) => m.get(key).unwrap_or(&Json::Null),
                _ => &Json::Null,
            }
        }

        pub fn at(&self, i: usize) -> &Json {
            match self {
                Json::Arr(a) => a.get(i).unwrap_or(&Json::Null),
                _ => &Json::Null,
            }
        }

        pub fn arr(&self) -> &[Json] {
            match self {
                Json::Arr(a) => a,
                _ => &[],
            }
        }

        pub fn num(&self) -> f64 {
            match self {
                Json::Num(n) => *n,
                other => panic!("not a number: {other:?}"),
            }
        }

        pub fn usize(&self) -> usize {
            self.num() as usize
        }

        pub fn str(&self) -> &str {
            match self {
                Json::Str(s) => s,
                other => panic!("not a string: {other:?}"),
            }
        }

        pub fn keys(&self) -> Vec<&str> {
            match self {
                Json::Obj(m) => m.keys().map(String::as_str).collect(),
                _ => Vec::new(),
            }
        }
    }

    pub fn parse_json(text: &str) -> Result<Json, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing text at {}", p.i));
        }
        Ok(v)
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn ws(&mut self) {
            while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }

        fn eat(&mut self, c: u8) -> Result<(), String> {
            self.ws();
            if self.s.get(self.i) == Some(&c) {
                self.i += 1;
                Ok(())
            } else {
                Err(format!("expected {:?} at {}", c as char, self.i))
            }
        }

        fn value(&mut self) -> Result<Json, String> {
            self.ws();
            match self.s.get(self.i) {
                Some(b'{') => {
                    self.i += 1;
                    let mut m = BTreeMap::new();
                    self.ws();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(Json::Obj(m));
                    }
                    loop {
                        self.ws();
                        let Json::Str(k) = self.value()? else {
                            return Err(format!("key expected at {}", self.i));
                        };
                        self.eat(b':')?;
                        let v = self.value()?;
                        if m.insert(k.clone(), v).is_some() {
                            return Err(format!("duplicate key {k}"));
                        }
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                return Ok(Json::Obj(m));
                            }
                            _ => return Err(format!("bad object at {}", self.i)),
                        }
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    let mut a = Vec::new();
                    self.ws();
                    if self.s.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Ok(Json::Arr(a));
                    }
                    loop {
                        a.push(self.value()?);
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                return Ok(Json::Arr(a));
                            }
                            _ => return Err(format!("bad array at {}", self.i)),
                        }
                    }
                }
                Some(b'"') => {
                    self.i += 1;
                    let mut out = String::new();
                    loop {
                        match self.s.get(self.i) {
                            Some(b'"') => {
                                self.i += 1;
                                return Ok(Json::Str(out));
                            }
                            Some(b'\\') => {
                                let c = self.s.get(self.i + 1).ok_or("bad escape")?;
                                out.push(match c {
                                    b'"' => '"',
                                    b'\\' => '\\',
                                    b'n' => '\n',
                                    _ => return Err(format!("escape {} unsupported", *c as char)),
                                });
                                self.i += 2;
                            }
                            Some(&c) => {
                                out.push(c as char);
                                self.i += 1;
                            }
                            None => return Err("unterminated string".into()),
                        }
                    }
                }
                Some(b't') if self.s[self.i..].starts_with(b"true") => {
                    self.i += 4;
                    Ok(Json::Bool(true))
                }
                Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                    self.i += 5;
                    Ok(Json::Bool(false))
                }
                Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                    self.i += 4;
                    Ok(Json::Null)
                }
                Some(_) => {
                    let start = self.i;
                    while self.i < self.s.len()
                        && matches!(
                            self.s[self.i],
                            b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                        )
                    {
                        self.i += 1;
                    }
                    let text =
                        std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                    text.parse()
                        .map(Json::Num)
                        .map_err(|_| format!("bad number {text:?} at {start}"))
                }
                None => Err("unexpected end".into()),
            }
        }
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    /// A parsed `.glb`: its JSON and binary chunk, checked for the
    /// container's rules.
    pub struct Glb {
        pub json: Json,
        pub json_text: String,
        pub bin: Vec<u8>,
    }

    impl Glb {
        pub fn parse(bytes: &[u8]) -> Result<Glb, String> {
            if bytes.len() < 28 || u32_at(bytes, 0) != super::GLB_MAGIC || u32_at(bytes, 4) != 2 {
                return Err("not a glTF 2 binary".into());
            }
            if u32_at(bytes, 8) as usize != bytes.len() {
                return Err("header length is not the file's".into());
            }
            let json_len = u32_at(bytes, 12) as usize;
            if u32_at(bytes, 16) != super::CHUNK_JSON || !json_len.is_multiple_of(4) {
                return Err("first chunk is not 4-aligned JSON".into());
            }
            let json_bytes = &bytes[20..20 + json_len];
            let bin_at = 20 + json_len;
            let bin_len = u32_at(bytes, bin_at) as usize;
            if u32_at(bytes, bin_at + 4) != super::CHUNK_BIN || !bin_len.is_multiple_of(4) {
                return Err("second chunk is not 4-aligned BIN".into());
            }
            if bin_at + 8 + bin_len != bytes.len() {
                return Err("chunks do not fill the file".into());
            }
            let json_text = std::str::from_utf8(json_bytes)
                .map_err(|e| e.to_string())?
                .to_owned();
            if json_text.trim_end() != json_text.trim_end_matches(' ') || json_text.contains('\0') {
                return Err("JSON chunk padded with something other than spaces".into());
            }
            Ok(Glb {
                json: parse_json(&json_text)?,
                json_text,
                bin: bytes[bin_at + 8..].to_vec(),
            })
        }

        /// The bytes of an accessor (tightly packed: the writer never
        /// interleaves), after checking the view lies in the buffer.
        fn accessor_bytes(&self, accessor: usize, width: usize) -> &[u8] {
            let a = self.json.get("accessors").at(accessor);
            let view = self.json.get("bufferViews").at(a.get("bufferView").usize());
            let offset = view.get("byteOffset").usize();
            let len = view.get("byteLength").usize();
            assert_eq!(offset % 4, 0, "buffer view not 4-aligned");
            assert_eq!(len, a.get("count").usize() * width, "view length");
            &self.bin[offset..offset + len]
        }

        pub fn vec3s(&self, accessor: usize) -> Vec<[f32; 3]> {
            let a = self.json.get("accessors").at(accessor);
            assert_eq!(a.get("componentType").usize(), super::FLOAT as usize);
            assert_eq!(a.get("type").str(), "VEC3");
            self.accessor_bytes(accessor, 12)
                .chunks(12)
                .map(|c| [0, 4, 8].map(|k| f32::from_le_bytes(c[k..k + 4].try_into().unwrap())))
                .collect()
        }

        pub fn indices(&self, accessor: usize) -> Vec<u32> {
            let a = self.json.get("accessors").at(accessor);
            assert_eq!(a.get("type").str(), "SCALAR");
            match a.get("componentType").usize() as u32 {
                super::UNSIGNED_SHORT => self
                    .accessor_bytes(accessor, 2)
                    .chunks(2)
                    .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
                    .collect(),
                super::UNSIGNED_INT => self
                    .accessor_bytes(accessor, 4)
                    .chunks(4)
                    .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
                other => panic!("index type {other}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::read::{Glb, Json, parse_json};
    use super::*;
    use crate::assets::mesh::{cylinder, sphere};

    fn sample() -> Model {
        let mut m = Model::new("sample \"one\"");
        let red = m.material(Material::matte("red", 0xff0000, 0.5));
        let glass = m.material(Material::glass("glass", 0x80c0ff, 0.5).double_sided());
        m.solid("ball", red, sphere(0.1, 10, 5));
        m.solid("can", glass, cylinder(0.05, 0.2, 9));
        m.solid(
            "ball 2",
            red,
            sphere(0.02, 6, 3).translated(v3(0.0, 0.3, 0.0)),
        );
        m.placed()
    }

    #[test]
    fn json_parser_reads_what_it_should() {
        let j = parse_json(r#" {"a": [1, -2.5e1, "x\"y"], "b": {"c": true, "d": null}} "#).unwrap();
        assert_eq!(j.get("a").at(1).num(), -25.0);
        assert_eq!(j.get("a").at(2).str(), "x\"y");
        assert_eq!(j.get("b").get("c"), &Json::Bool(true));
        assert!(parse_json("[1,]").is_err());
        assert!(parse_json(r#"{"a":1,"a":2}"#).is_err());
    }

    #[test]
    fn header_and_chunks_are_consistent_and_padded() {
        let bytes = encode(&sample());
        assert_eq!(&bytes[0..4], b"glTF");
        assert_eq!(bytes.len() % 4, 0);
        let glb = Glb::parse(&bytes).unwrap();
        assert!(glb.json_text.len().is_multiple_of(4));
        assert_eq!(
            glb.json.get("buffers").at(0).get("byteLength").usize(),
            glb.bin.len()
        );
        assert_eq!(glb.json.get("asset").get("version").str(), "2.0");
        assert_eq!(
            glb.json.get("nodes").at(0).get("name").str(),
            "sample \"one\""
        );
        assert_eq!(glb.json.get("scenes").arr().len(), 1);
        // Nothing the files must not have.
        for key in [
            "images",
            "textures",
            "samplers",
            "extensionsUsed",
            "extensionsRequired",
        ] {
            assert_eq!(glb.json.get(key), &Json::Null, "{key}");
        }
    }

    #[test]
    fn accessors_match_the_data() {
        let model = sample();
        let glb = Glb::parse(&encode(&model)).unwrap();
        let prims = glb
            .json
            .get("meshes")
            .at(0)
            .get("primitives")
            .arr()
            .to_vec();
        assert_eq!(prims.len(), 2, "one primitive per material");
        let expected = model.primitives();
        for (prim, (material, mesh)) in prims.iter().zip(&expected) {
            assert_eq!(prim.get("material").usize(), *material);
            let pos_id = prim.get("attributes").get("POSITION").usize();
            let positions = glb.vec3s(pos_id);
            let normals = glb.vec3s(prim.get("attributes").get("NORMAL").usize());
            let indices = glb.indices(prim.get("indices").usize());
            assert_eq!(positions.len(), mesh.positions.len());
            assert_eq!(normals.len(), positions.len());
            assert_eq!(indices, mesh.indices);
            assert!(indices.iter().all(|&i| (i as usize) < positions.len()));
            let acc = glb.json.get("accessors").at(pos_id);
            for k in 0..3 {
                let lo = positions.iter().map(|p| p[k]).fold(f32::MAX, f32::min);
                let hi = positions.iter().map(|p| p[k]).fold(f32::MIN, f32::max);
                // The JSON's numbers read back as exactly the data's bounds.
                assert_eq!(acc.get("min").at(k).num() as f32, lo);
                assert_eq!(acc.get("max").at(k).num() as f32, hi);
            }
            for n in &normals {
                let l = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
                assert!((l - 1.0).abs() < 1e-5);
            }
        }
        let glass = glb.json.get("materials").at(1);
        assert_eq!(glass.get("alphaMode").str(), "BLEND");
        assert_eq!(glass.get("doubleSided"), &Json::Bool(true));
        let red = glb.json.get("materials").at(0);
        assert_eq!(red.get("alphaMode"), &Json::Null);
        let color = red.get("pbrMetallicRoughness").get("baseColorFactor");
        assert_eq!(
            color.arr().iter().map(Json::num).collect::<Vec<_>>(),
            [1.0, 0.0, 0.0, 1.0]
        );
    }

    #[test]
    fn placed_models_stand_on_the_ground_centred() {
        let (lo, hi) = sample().bounds();
        assert!(lo.y.abs() < 1e-12);
        assert!((lo.x + hi.x).abs() < 1e-12 && (lo.z + hi.z).abs() < 1e-12);
    }

    #[test]
    fn srgb_converts_to_linear() {
        assert_eq!(linear(0.0), 0.0);
        assert_eq!(linear(1.0), 1.0);
        assert_eq!(linear(0.5), 0.2140);
    }
}
