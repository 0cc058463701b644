//! The products on display: the server's catalog once joined, or the local
//! `assets/catalog.toml` when rendering offline. Each carries its model's
//! size, so displays, colliders and held products fit the model.

use super::models::{ModelBounds, ModelError};
use super::session::Session;
use super::{AppState, Options};
use bevy::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use thiserror::Error;
use vitrine_shared::api::{MoneyView, ProductSize, ProductView, VariantView};
use vitrine_shared::money::{Currency, Money};
use vitrine_shared::validated::MAX_PRODUCT_ID_BYTES;
use vitrine_shared::{ProductId, Sku};

/// Stock on cards goes stale; the catalog is fetched again this often.
const REFRESH_SECS: f32 = 20.0;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Catalog>()
        .add_systems(OnEnter(AppState::Showroom), load)
        .add_systems(Update, refresh.run_if(in_state(AppState::Showroom)));
}

#[derive(Debug, Clone)]
pub struct CatalogProduct {
    pub view: ProductView,
    pub bounds: ModelBounds,
    /// Why the model could not be used, if it could not.
    pub model_error: Option<String>,
}

impl CatalogProduct {
    /// The scale that shows the model at the product's real size (its
    /// largest side), or 1 when the catalog gives no size.
    pub fn true_scale(&self) -> f32 {
        let model = self.bounds.size().max_element();
        match self.view.size {
            Some(size) if model > 1e-4 => {
                (size.metres().into_iter().fold(0.0, f32::max) / model).clamp(0.01, 100.0)
            }
            _ => 1.0,
        }
    }
}

#[derive(Resource, Default)]
pub struct Catalog {
    pub products: Vec<CatalogProduct>,
    /// Set when the list of products changed (displays are rebuilt).
    pub generation: u64,
    refresh_in: f32,
    pending: Option<Mutex<Receiver<Vec<ProductView>>>>,
}

impl Catalog {
    pub fn get(&self, id: &ProductId) -> Option<&CatalogProduct> {
        self.products.iter().find(|p| &p.view.id == id)
    }

    pub fn set(&mut self, views: Vec<ProductView>, assets: &Path) {
        self.products = views
            .into_iter()
            .map(|view| {
                let read =
                    model_path(&view.model).and_then(|path| ModelBounds::read(&assets.join(path)));
                let (bounds, model_error) = match read {
                    Ok(b) => (b, None),
                    Err(e) => {
                        warn!("product {}: model {}: {e}", view.id, view.model);
                        (ModelBounds::fallback(), Some(e.to_string()))
                    }
                };
                CatalogProduct {
                    view,
                    bounds,
                    model_error,
                }
            })
            .collect();
        self.generation += 1;
    }

    /// Updates prices and stock without rebuilding displays when the same
    /// products come back.
    fn update(&mut self, views: Vec<ProductView>, assets: &Path) {
        let same = views.len() == self.products.len()
            && views
                .iter()
                .zip(&self.products)
                .all(|(v, p)| v.id == p.view.id);
        if same {
            for (v, p) in views.into_iter().zip(&mut self.products) {
                p.view = v;
            }
        } else {
            self.set(views, assets);
        }
    }
}

fn load(options: Res<Options>, session: Res<Session>, mut catalog: ResMut<Catalog>) {
    let assets = options.assets_dir();
    let mut views = match &session.catalog {
        Some(views) => views.clone(),
        None => match read_local(&assets.join("catalog.toml")) {
            Ok(views) => views,
            Err(e) => {
                error!("local catalog: {e}");
                Vec::new()
            }
        },
    };
    if options.bench && !views.is_empty() {
        views = repeat_to(views, options.products);
    }
    catalog.set(views, &assets);
    catalog.refresh_in = REFRESH_SECS;
}

fn refresh(
    time: Res<Time>,
    options: Res<Options>,
    session: Res<Session>,
    mut catalog: ResMut<Catalog>,
) {
    if let Some(rx) = &catalog.pending {
        let got = match rx.lock().map(|rx| rx.try_recv()) {
            Ok(Ok(views)) => Some(views),
            Ok(Err(TryRecvError::Empty)) => return,
            // The fetch failed (its thread is gone): try again next round.
            _ => None,
        };
        catalog.pending = None;
        if let Some(views) = got {
            catalog.update(views, &options.assets_dir());
        }
        return;
    }
    catalog.refresh_in -= time.delta_secs();
    if catalog.refresh_in > 0.0 || !session.connected() {
        return;
    }
    catalog.refresh_in = REFRESH_SECS;
    let Some(server) = session.server.clone() else {
        return;
    };
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        if let Ok(views) = crate::net::ApiClient::new(&server).products() {
            let _ = tx.send(views);
        }
    });
    catalog.pending = Some(Mutex::new(rx));
}

/// A model path from the catalog, checked before it touches the disk: the
/// server sends it, so it must stay inside the assets folder (relative, no
/// `..`) and name a `.glb`.
pub fn model_path(model: &str) -> Result<&Path, ModelError> {
    use std::path::Component;
    let path = Path::new(model);
    let inside = !model.is_empty()
        && path.components().all(|c| matches!(c, Component::Normal(_)))
        && path.extension().is_some_and(|e| e == "glb");
    if inside {
        Ok(path)
    } else {
        Err(ModelError::BadPath(model.chars().take(80).collect()))
    }
}

/// The bench's many displays: the catalog again and again, ids made unique.
fn repeat_to(views: Vec<ProductView>, n: usize) -> Vec<ProductView> {
    (0..n)
        .map(|i| {
            let mut v = views[i % views.len()].clone();
            if i >= views.len() {
                // Cut the base so that the suffixed id stays a valid slug.
                let suffix = format!("-{}", i / views.len());
                let base = v.id.as_str();
                let keep = MAX_PRODUCT_ID_BYTES
                    .saturating_sub(suffix.len())
                    .min(base.len());
                if let Ok(id) = ProductId::new(format!("{}{suffix}", &base[..keep])) {
                    v.id = id;
                }
            }
            v
        })
        .collect()
}

#[derive(Debug, Error)]
pub enum LocalCatalogError {
    #[error("cannot read {0}: {1}")]
    Io(String, String),
    #[error("catalog.toml: {0}")]
    Toml(String),
    #[error("catalog.toml: product {product}: {message}")]
    Product { product: ProductId, message: String },
}

#[derive(Deserialize)]
struct LocalCatalog {
    currency: String,
    products: Vec<LocalProduct>,
}

#[derive(Deserialize)]
struct LocalProduct {
    id: ProductId,
    name: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    description: String,
    price: String,
    model: String,
    /// Width, height and depth in millimetres.
    size_mm: Option<[u32; 3]>,
    #[serde(default)]
    variants: Vec<LocalVariant>,
}

#[derive(Deserialize)]
struct LocalVariant {
    sku: Sku,
    #[serde(default)]
    options: BTreeMap<String, String>,
    price: Option<String>,
    #[serde(default)]
    stock: i64,
}

/// Reads the catalog file the server also reads, for offline rendering.
pub fn read_local(path: &Path) -> Result<Vec<ProductView>, LocalCatalogError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| LocalCatalogError::Io(path.display().to_string(), e.to_string()))?;
    let file: LocalCatalog =
        toml::from_str(&text).map_err(|e| LocalCatalogError::Toml(e.to_string()))?;
    let currency =
        Currency::new(&file.currency).map_err(|e| LocalCatalogError::Toml(e.to_string()))?;
    let money = |product: &ProductId, text: &str| -> Result<MoneyView, LocalCatalogError> {
        Money::parse_decimal(text, currency)
            .map(MoneyView::from)
            .map_err(|e| LocalCatalogError::Product {
                product: product.clone(),
                message: e.to_string(),
            })
    };
    file.products
        .into_iter()
        .map(|p| {
            let price = money(&p.id, &p.price)?;
            let variants = p
                .variants
                .into_iter()
                .map(|v| {
                    Ok(VariantView {
                        price: match &v.price {
                            Some(text) => money(&p.id, text)?,
                            None => price.clone(),
                        },
                        sku: v.sku,
                        options: v.options,
                        stock: v.stock,
                    })
                })
                .collect::<Result<Vec<_>, LocalCatalogError>>()?;
            let size = p
                .size_mm
                .map(|[width_mm, height_mm, depth_mm]| ProductSize {
                    width_mm,
                    height_mm,
                    depth_mm,
                });
            if size.is_some_and(|s| !s.is_valid()) {
                return Err(LocalCatalogError::Product {
                    product: p.id.clone(),
                    message: format!("size_mm must be 1 to {} mm a side", ProductSize::MAX_MM),
                });
            }
            Ok(ProductView {
                id: p.id,
                name: p.name,
                category: p.category,
                description: p.description,
                price,
                model: p.model,
                size,
                variants,
                reviews: Default::default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_reads_and_repeats() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../assets/catalog.toml"
        ));
        let views = read_local(path).unwrap();
        assert!(views.len() >= 10, "{}", views.len());
        assert!(views.iter().all(|v| !v.variants.is_empty()));
        let many = repeat_to(views.clone(), 40);
        assert_eq!(many.len(), 40);
        let mut ids: Vec<_> = many.iter().map(|v| v.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 40, "ids must stay unique");
    }

    #[test]
    fn model_paths_stay_inside_the_assets_folder() {
        assert!(model_path("models/mug.glb").is_ok());
        for bad in [
            "/dev/zero",
            "../secret.glb",
            "models/../../x.glb",
            "models/mug.gltf",
            "",
            "./m.glb",
        ] {
            assert!(
                matches!(model_path(bad), Err(ModelError::BadPath(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_bad_price_names_the_product() {
        let dir = tempfile_dir();
        let path = dir.join("catalog.toml");
        std::fs::write(
            &path,
            "currency = \"EUR\"\n[[products]]\nid = \"x\"\nname = \"X\"\nprice = \"1.2.3\"\nmodel = \"m.glb\"\n",
        )
        .unwrap();
        match read_local(&path) {
            Err(LocalCatalogError::Product { product, .. }) => assert_eq!(product, "x"),
            other => panic!("expected a product error, got {other:?}"),
        }
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("vitrine-catalog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
