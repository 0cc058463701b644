//! What the showroom needs to know of a product model before Bevy loads it:
//! its size, read from the glTF binary's accessor bounds. A file that is not
//! a sound GLB gets a typed error and the display shows a plain box.

use bevy::math::Vec3;
use serde_json::Value;
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum ModelError {
    #[error("cannot read the model: {0}")]
    Io(String),
    #[error("not a glTF binary (.glb): {0}")]
    NotGlb(&'static str),
    #[error("the model's JSON is invalid: {0}")]
    Json(String),
    #[error("the model has no positions with bounds")]
    NoBounds,
    #[error("not a model path inside the assets folder: {0:?}")]
    BadPath(String),
    #[error("the model file is larger than {MAX_MODEL_BYTES} bytes")]
    TooLarge,
}

/// Product models are small (ours are under 40 KB); a file past this is
/// refused before it is read.
pub const MAX_MODEL_BYTES: u64 = 8 * 1024 * 1024;

/// An axis-aligned box in the model's own space (metres, +Y up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelBounds {
    pub min: Vec3,
    pub max: Vec3,
}

impl ModelBounds {
    pub fn size(&self) -> Vec3 {
        self.max - self.min
    }

    pub fn center(&self) -> Vec3 {
        (self.min + self.max) / 2.0
    }

    /// A stand-in for a model that could not be read.
    pub fn fallback() -> Self {
        ModelBounds {
            min: Vec3::new(-0.15, 0.0, -0.15),
            max: Vec3::new(0.15, 0.3, 0.15),
        }
    }

    pub fn read(path: &Path) -> Result<Self, ModelError> {
        let meta = std::fs::metadata(path).map_err(|e| ModelError::Io(e.to_string()))?;
        if !meta.is_file() {
            return Err(ModelError::Io("not a regular file".into()));
        }
        if meta.len() > MAX_MODEL_BYTES {
            return Err(ModelError::TooLarge);
        }
        let bytes = std::fs::read(path).map_err(|e| ModelError::Io(e.to_string()))?;
        Self::parse(&bytes)
    }

    /// Bounds of every mesh the default scene places, with each node's
    /// translation and scale applied (rotations are rare in our models and
    /// only widen the box slightly, so they are ignored).
    pub fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let json = glb_json(bytes)?;
        let doc: Value =
            serde_json::from_slice(json).map_err(|e| ModelError::Json(e.to_string()))?;
        let accessors = doc["accessors"].as_array().cloned().unwrap_or_default();
        let meshes = doc["meshes"].as_array().cloned().unwrap_or_default();
        let nodes = doc["nodes"].as_array().cloned().unwrap_or_default();
        let scene = doc["scene"].as_u64().unwrap_or(0) as usize;
        let roots: Vec<usize> = doc["scenes"][scene]["nodes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_u64())
                    .map(|n| n as usize)
                    .collect()
            })
            .unwrap_or_default();
        let mut bounds: Option<ModelBounds> = None;
        // (node, parent translation, parent scale); depth-capped against cycles.
        let mut stack: Vec<(usize, Vec3, Vec3, u32)> = roots
            .into_iter()
            .map(|n| (n, Vec3::ZERO, Vec3::ONE, 0))
            .collect();
        // glTF nodes form a tree: a node met twice (a cycle, or a child
        // shared to blow the walk up) makes the file invalid.
        let mut visited = vec![false; nodes.len()];
        while let Some((index, offset, scale, depth)) = stack.pop() {
            if depth > 32 {
                return Err(ModelError::Json("node hierarchy too deep".into()));
            }
            match visited.get_mut(index) {
                Some(seen) if *seen => {
                    return Err(ModelError::Json(format!("node {index} appears twice")));
                }
                Some(seen) => *seen = true,
                None => return Err(ModelError::Json(format!("no node {index}"))),
            }
            let node = &nodes
                .get(index)
                .ok_or(ModelError::Json(format!("no node {index}")))?;
            let t = vec3(&node["translation"]).unwrap_or(Vec3::ZERO);
            let s = vec3(&node["scale"]).unwrap_or(Vec3::ONE);
            let here_offset = offset + t * scale;
            let here_scale = scale * s;
            if let Some(mesh) = node["mesh"].as_u64() {
                let primitives = meshes
                    .get(mesh as usize)
                    .and_then(|m| m["primitives"].as_array())
                    .ok_or(ModelError::Json(format!("no mesh {mesh}")))?;
                for p in primitives {
                    let Some(accessor) = p["attributes"]["POSITION"].as_u64() else {
                        continue;
                    };
                    let a = accessors
                        .get(accessor as usize)
                        .ok_or(ModelError::Json(format!("no accessor {accessor}")))?;
                    let (Some(min), Some(max)) = (vec3(&a["min"]), vec3(&a["max"])) else {
                        continue;
                    };
                    let (lo, hi) = (
                        here_offset + min * here_scale,
                        here_offset + max * here_scale,
                    );
                    let part = ModelBounds {
                        min: lo.min(hi),
                        max: lo.max(hi),
                    };
                    bounds = Some(match bounds {
                        None => part,
                        Some(b) => ModelBounds {
                            min: b.min.min(part.min),
                            max: b.max.max(part.max),
                        },
                    });
                }
            }
            if let Some(children) = node["children"].as_array() {
                for c in children.iter().filter_map(|c| c.as_u64()) {
                    stack.push((c as usize, here_offset, here_scale, depth + 1));
                }
            }
        }
        let b = bounds.ok_or(ModelError::NoBounds)?;
        let size = b.size();
        if !size.is_finite() || size.max_element() > 10.0 || size.min_element() < 0.0 {
            return Err(ModelError::NoBounds);
        }
        Ok(b)
    }
}

fn vec3(v: &Value) -> Option<Vec3> {
    let a = v.as_array()?;
    if a.len() != 3 {
        return None;
    }
    let f = |i: usize| a[i].as_f64().map(|x| x as f32);
    Some(Vec3::new(f(0)?, f(1)?, f(2)?))
}

/// The JSON chunk of a GLB container.
fn glb_json(bytes: &[u8]) -> Result<&[u8], ModelError> {
    let word = |at: usize| -> Result<u32, ModelError> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or(ModelError::NotGlb("truncated"))
    };
    if bytes.get(0..4) != Some(b"glTF") {
        return Err(ModelError::NotGlb("bad magic"));
    }
    if word(4)? != 2 {
        return Err(ModelError::NotGlb("not version 2"));
    }
    if word(8)? as usize != bytes.len() {
        return Err(ModelError::NotGlb("length does not match the file"));
    }
    let len = word(12)? as usize;
    if word(16)? != 0x4E4F_534A {
        return Err(ModelError::NotGlb("first chunk is not JSON"));
    }
    bytes
        .get(20..20usize.saturating_add(len))
        .ok_or(ModelError::NotGlb("JSON chunk runs past the end"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glb(json: &str) -> Vec<u8> {
        let mut j = json.as_bytes().to_vec();
        while !j.len().is_multiple_of(4) {
            j.push(b' ');
        }
        let mut out = b"glTF".to_vec();
        out.extend(2u32.to_le_bytes());
        out.extend(((12 + 8 + j.len()) as u32).to_le_bytes());
        out.extend((j.len() as u32).to_le_bytes());
        out.extend(0x4E4F_534Au32.to_le_bytes());
        out.extend(j);
        out
    }

    #[test]
    fn bounds_follow_nodes() {
        let json = r#"{"scene":0,"scenes":[{"nodes":[0]}],
            "nodes":[{"children":[1]},{"mesh":0,"translation":[0,1,0],"scale":[2,2,2]}],
            "meshes":[{"primitives":[{"attributes":{"POSITION":0}}]}],
            "accessors":[{"min":[-0.1,0,-0.1],"max":[0.1,0.5,0.1]}]}"#;
        let b = ModelBounds::parse(&glb(json)).unwrap();
        assert!(
            (b.min - Vec3::new(-0.2, 1.0, -0.2)).length() < 1e-5,
            "{b:?}"
        );
        assert!((b.max - Vec3::new(0.2, 2.0, 0.2)).length() < 1e-5, "{b:?}");
    }

    #[test]
    fn hostile_files_get_typed_errors() {
        assert_eq!(
            ModelBounds::parse(b"nope"),
            Err(ModelError::NotGlb("bad magic"))
        );
        let mut short = glb("{}");
        short.truncate(18);
        assert!(matches!(
            ModelBounds::parse(&short),
            Err(ModelError::NotGlb(_))
        ));
        assert!(matches!(
            ModelBounds::parse(&glb("{not json")),
            Err(ModelError::Json(_))
        ));
        assert_eq!(ModelBounds::parse(&glb("{}")), Err(ModelError::NoBounds));
        // A node that names itself as its child is refused, not looped on;
        // so is a child shared by two parents (2^n walks otherwise).
        let shared = r#"{"scenes":[{"nodes":[0]}],"nodes":[{"children":[1,1]},{}]}"#;
        assert!(matches!(
            ModelBounds::parse(&glb(shared)),
            Err(ModelError::Json(_))
        ));
        let cyclic = r#"{"scenes":[{"nodes":[0]}],"nodes":[{"children":[0]}]}"#;
        assert!(matches!(
            ModelBounds::parse(&glb(cyclic)),
            Err(ModelError::Json(_))
        ));
        let huge = r#"{"scenes":[{"nodes":[0]}],"nodes":[{"mesh":0}],
            "meshes":[{"primitives":[{"attributes":{"POSITION":0}}]}],
            "accessors":[{"min":[0,0,0],"max":[1e30,1,1]}]}"#;
        assert_eq!(ModelBounds::parse(&glb(huge)), Err(ModelError::NoBounds));
    }
}
