//! The catalog: products with variants, prices and 3D models, read from a
//! TOML file (`assets/catalog.toml` seeds the demo). A file with any error
//! is refused whole, with the line and field at fault, and changes nothing.
//! A product sent alone as JSON by the admin API is checked by the same
//! rules (`check_product`), its errors naming the field.
//!
//! A product may give its real outer size, `size_mm = [width, height,
//! depth]` in whole millimetres, each 1 to [`ProductSize::MAX_MM`], so XR
//! and AR show it at true scale; without one it has no size. (The JSON
//! admin API has no size field: a product written through it keeps the
//! size it has.)

use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use thiserror::Error;
use toml::Spanned;
use vitrine_shared::api::{ProductInput, ProductSize};
use vitrine_shared::{Category, Currency, Money, ProductId, Sku};

pub use vitrine_shared::limits::catalog::{
    MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_OPTION_CHARS, MAX_OPTIONS, MAX_PRODUCTS, MAX_STOCK,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    pub category: Category,
    pub description: String,
    pub price: Money,
    /// Relative to the assets folder, e.g. `models/glow-serum.glb`.
    pub model: String,
    /// The real outer size, when the catalog gives one.
    pub size: Option<ProductSize>,
    pub variants: Vec<Variant>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub sku: Sku,
    pub options: BTreeMap<String, String>,
    /// The product's price unless the variant sets its own.
    pub price: Money,
    pub stock: i64,
}

#[derive(Debug, Error)]
pub enum CatalogError {
    #[error("cannot read catalog {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("catalog line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("catalog line {line}, {field}: {message}")]
    Invalid {
        line: usize,
        field: String,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogToml {
    currency: Spanned<String>,
    products: Vec<RawProduct>,
}

/// A product as written, each field with where it was written: its byte
/// span in a catalog file, or an empty span when it came as JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProduct {
    id: Spanned<String>,
    name: Spanned<String>,
    category: Spanned<String>,
    #[serde(default)]
    description: Option<Spanned<String>>,
    price: Spanned<String>,
    model: Spanned<String>,
    /// `[width, height, depth]` in millimetres.
    #[serde(default)]
    size_mm: Option<Spanned<Vec<i64>>>,
    variants: Spanned<Vec<RawVariant>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    sku: Spanned<String>,
    #[serde(default)]
    options: Option<Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    price: Option<Spanned<String>>,
    stock: Spanned<i64>,
}

/// A field at fault: where it was written (a byte offset in a catalog file,
/// 0 for JSON), its path, such as `variants[1].stock`, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub at: usize,
    pub field: String,
    pub message: String,
}

/// Ids and SKUs already used earlier in the same input.
#[derive(Default)]
struct Seen {
    ids: HashSet<ProductId>,
    skus: HashSet<Sku>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map(|t| t.matches('\n').count() + 1)
        .unwrap_or(1)
}

fn check_text(value: &str, max: usize, allow_newlines: bool) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if value.chars().count() > max {
        return Err(format!("at most {max} characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !(allow_newlines && c == '\n'))
    {
        return Err("contains a control character".into());
    }
    Ok(())
}

fn check_model(path: &str) -> Result<(), String> {
    let ok_ext = path.ends_with(".glb") || path.ends_with(".gltf");
    let escapes =
        path.starts_with('/') || path.split('/').any(|part| part == ".." || part.is_empty());
    if !ok_ext || escapes || path.len() > 200 || path.contains('\\') {
        return Err("must be a relative .glb or .gltf path inside the assets folder".into());
    }
    Ok(())
}

pub fn load_catalog_file(path: &Path) -> Result<Vec<Product>, CatalogError> {
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_catalog(&text)
}

/// Parses and checks a whole catalog; the first problem found is returned.
pub fn parse_catalog(text: &str) -> Result<Vec<Product>, CatalogError> {
    let file: CatalogToml = toml::from_str(text).map_err(|e| CatalogError::Syntax {
        line: e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
        message: e.message().to_owned(),
    })?;
    let invalid =
        |span: std::ops::Range<usize>, field: String, message: String| CatalogError::Invalid {
            line: line_of(text, span.start),
            field,
            message,
        };
    let currency = Currency::new(file.currency.get_ref())
        .map_err(|e| invalid(file.currency.span(), "currency".into(), e.to_string()))?;
    if file.products.is_empty() || file.products.len() > MAX_PRODUCTS {
        return Err(CatalogError::Syntax {
            line: 1,
            message: format!("a catalog has 1 to {MAX_PRODUCTS} [[products]]"),
        });
    }
    let mut seen = Seen::default();
    let mut products = Vec::with_capacity(file.products.len());
    for (i, p) in file.products.into_iter().enumerate() {
        let product =
            check_product(p, currency, &format!("products[{i}]."), &mut seen).map_err(|e| {
                CatalogError::Invalid {
                    line: line_of(text, e.at),
                    field: e.field,
                    message: e.message,
                }
            })?;
        products.push(product);
    }
    Ok(products)
}

/// A product sent as JSON (`POST`/`PUT /api/v1/admin/products`), checked by
/// the same rules as a catalog file. An empty description is none.
pub fn product_from_input(id: String, input: ProductInput) -> Result<Product, FieldError> {
    fn unplaced<T>(value: T) -> Spanned<T> {
        Spanned::new(0..0, value)
    }
    let currency = Currency::new(&input.currency).map_err(|e| FieldError {
        at: 0,
        field: "currency".into(),
        message: e.to_string(),
    })?;
    let variants = input
        .variants
        .into_iter()
        .map(|v| RawVariant {
            sku: unplaced(v.sku),
            options: Some(unplaced(v.options)),
            price: v.price.map(unplaced),
            stock: unplaced(v.stock),
        })
        .collect();
    let raw = RawProduct {
        id: unplaced(id),
        name: unplaced(input.name),
        category: unplaced(input.category),
        description: Some(input.description)
            .filter(|d| !d.is_empty())
            .map(unplaced),
        price: unplaced(input.price),
        model: unplaced(input.model),
        size_mm: None,
        variants: unplaced(variants),
    };
    check_product(raw, currency, "", &mut Seen::default())
}

/// The rules for one product, wherever it comes from: `prefix` starts each
/// field's path (`products[3].` in a catalog file), `seen` holds the ids and
/// SKUs used before it in the same input. The first problem is returned.
fn check_product(
    p: RawProduct,
    currency: Currency,
    prefix: &str,
    seen: &mut Seen,
) -> Result<Product, FieldError> {
    let at = |name: &str| format!("{prefix}{name}");
    let invalid = |span: std::ops::Range<usize>, field: String, message: String| FieldError {
        at: span.start,
        field,
        message,
    };
    let id = ProductId::new(p.id.get_ref().clone())
        .map_err(|e| invalid(p.id.span(), at("id"), e.to_string()))?;
    if !seen.ids.insert(id.clone()) {
        return Err(invalid(
            p.id.span(),
            at("id"),
            format!("duplicate product id {id}"),
        ));
    }
    check_text(p.name.get_ref(), MAX_NAME_CHARS, false)
        .map_err(|m| invalid(p.name.span(), at("name"), m))?;
    let category = Category::new(p.category.get_ref().clone())
        .map_err(|e| invalid(p.category.span(), at("category"), e.to_string()))?;
    let description = match &p.description {
        Some(d) => {
            check_text(d.get_ref(), MAX_DESCRIPTION_CHARS, true)
                .map_err(|m| invalid(d.span(), at("description"), m))?;
            d.get_ref().clone()
        }
        None => String::new(),
    };
    let parse_price = |s: &Spanned<String>, field: String| {
        let price = Money::parse_decimal(s.get_ref(), currency)
            .map_err(|e| invalid(s.span(), field.clone(), e.to_string()))?;
        if price.minor <= 0 {
            return Err(invalid(
                s.span(),
                field,
                "a price must be above zero".into(),
            ));
        }
        Ok(price)
    };
    let price = parse_price(&p.price, at("price"))?;
    check_model(p.model.get_ref()).map_err(|m| invalid(p.model.span(), at("model"), m))?;
    let size = match &p.size_mm {
        Some(s) => Some(check_size(s.get_ref()).ok_or_else(|| {
            invalid(
                s.span(),
                at("size_mm"),
                format!(
                    "{id}: [width, height, depth] in whole millimetres, each 1 to {}",
                    ProductSize::MAX_MM
                ),
            )
        })?),
        None => None,
    };
    if p.variants.get_ref().is_empty() {
        return Err(invalid(
            p.variants.span(),
            at("variants"),
            "at least one variant is needed".into(),
        ));
    }
    let mut variants = Vec::new();
    for (j, v) in p.variants.into_inner().into_iter().enumerate() {
        let vat = |name: &str| format!("{prefix}variants[{j}].{name}");
        let sku = Sku::new(v.sku.get_ref().clone())
            .map_err(|e| invalid(v.sku.span(), vat("sku"), e.to_string()))?;
        if !seen.skus.insert(sku.clone()) {
            return Err(invalid(
                v.sku.span(),
                vat("sku"),
                format!("duplicate sku {sku}"),
            ));
        }
        let options = v
            .options
            .as_ref()
            .map(|o| o.get_ref().clone())
            .unwrap_or_default();
        let options_span = v.options.as_ref().map(|o| o.span()).unwrap_or(v.sku.span());
        if options.len() > MAX_OPTIONS {
            return Err(invalid(
                options_span,
                vat("options"),
                format!("at most {MAX_OPTIONS} options"),
            ));
        }
        for (key, value) in &options {
            check_text(key, MAX_OPTION_CHARS, false)
                .and_then(|()| check_text(value, MAX_OPTION_CHARS, false))
                .map_err(|m| {
                    invalid(
                        options_span.clone(),
                        vat("options"),
                        format!("{key:?}: {m}"),
                    )
                })?;
        }
        let price = match &v.price {
            Some(s) => parse_price(s, vat("price"))?,
            None => price,
        };
        let stock = *v.stock.get_ref();
        if !(0..=MAX_STOCK).contains(&stock) {
            return Err(invalid(
                v.stock.span(),
                vat("stock"),
                format!("must be 0 to {MAX_STOCK}"),
            ));
        }
        variants.push(Variant {
            sku,
            options,
            price,
            stock,
        });
    }
    Ok(Product {
        id,
        name: p.name.into_inner(),
        category,
        description,
        price,
        model: p.model.into_inner(),
        size,
        variants,
    })
}

/// `[width, height, depth]` in millimetres, each side valid
/// ([`ProductSize::is_valid`]).
fn check_size(sides: &[i64]) -> Option<ProductSize> {
    let mm = |i: usize| u32::try_from(*sides.get(i)?).ok();
    let size = ProductSize {
        width_mm: mm(0)?,
        height_mm: mm(1)?,
        depth_mm: mm(2)?,
    };
    (sides.len() == 3 && size.is_valid()).then_some(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_shared::api::VariantInput;

    #[test]
    fn the_shipped_catalog_is_valid_and_broad() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/catalog.toml");
        let products = load_catalog_file(&path).unwrap();
        assert!(products.len() >= 12, "{}", products.len());
        let categories: HashSet<&str> = products.iter().map(|p| p.category.as_str()).collect();
        assert!(categories.len() >= 4, "{categories:?}");
        assert!(products.iter().all(|p| !p.variants.is_empty()));
    }

    const GOOD: &str = r#"currency = "EUR"

[[products]]
id = "glow-serum"
name = "Glow Serum"
category = "beauty"
description = "Vitamin C serum."
price = "24.90"
model = "models/glow-serum.glb"

[[products.variants]]
sku = "glow-serum-30"
options = { size = "30 ml" }
stock = 12

[[products.variants]]
sku = "glow-serum-50"
options = { size = "50 ml" }
price = "34.90"
stock = 5
"#;

    #[test]
    fn parses_prices_variants_and_overrides() {
        let products = parse_catalog(GOOD).unwrap();
        let p = &products[0];
        assert_eq!(p.price, Money::new(2490, Currency::EUR));
        assert_eq!(p.variants[0].price.minor, 2490);
        assert_eq!(p.variants[1].price.minor, 3490);
        assert_eq!(p.variants[1].options["size"], "50 ml");
        assert_eq!(p.variants[1].stock, 5);
    }

    #[test]
    fn names_the_line_and_field_at_fault() {
        let cases = [
            (
                "price = \"24.90\"",
                "price = \"24.999\"",
                8,
                "products[0].price",
            ),
            (
                "price = \"34.90\"",
                "price = \"-3\"",
                19,
                "products[0].variants[1].price",
            ),
            (
                "stock = 5",
                "stock = -5",
                20,
                "products[0].variants[1].stock",
            ),
            (
                "sku = \"glow-serum-50\"",
                "sku = \"glow-serum-30\"",
                17,
                "products[0].variants[1].sku",
            ),
            (
                "id = \"glow-serum\"",
                "id = \"Glow Serum\"",
                4,
                "products[0].id",
            ),
            (
                "model = \"models/glow-serum.glb\"",
                "model = \"../../etc/passwd.glb\"",
                9,
                "products[0].model",
            ),
            ("currency = \"EUR\"", "currency = \"euro\"", 1, "currency"),
            (
                "name = \"Glow Serum\"",
                "name = \"\"",
                5,
                "products[0].name",
            ),
        ];
        for (from, to, line, field) in cases {
            let text = GOOD.replacen(from, to, 1);
            match parse_catalog(&text) {
                Err(CatalogError::Invalid {
                    line: l, field: f, ..
                }) => {
                    assert_eq!((l, f.as_str()), (line, field), "{to}");
                }
                other => panic!("{to}: expected an invalid-field error, got {other:?}"),
            }
        }
    }

    #[test]
    fn syntax_and_shape_errors_have_a_line() {
        for (text, line) in [
            (GOOD.replacen("stock = 12", "stock = \"twelve\"", 1), 14),
            (GOOD.replacen("stock = 12", "stock = 12\ncolour = 3", 1), 15),
            (GOOD.replacen("name = \"Glow Serum\"\n", "", 1), 3),
            ("currency = \"EUR\"\nproducts = [".to_owned(), 2),
        ] {
            match parse_catalog(&text) {
                Err(CatalogError::Syntax { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("expected a syntax error, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_shipped_catalog_gives_every_product_a_real_size() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/catalog.toml");
        for p in load_catalog_file(&path).unwrap() {
            let size = p.size.unwrap_or_else(|| panic!("{} has no size", p.id));
            assert!(size.is_valid(), "{}: {size:?}", p.id);
        }
    }

    /// `GOOD` with `size_mm = …` after the model (line 10).
    fn sized(size: &str) -> String {
        GOOD.replacen(
            "model = \"models/glow-serum.glb\"\n",
            &format!("model = \"models/glow-serum.glb\"\nsize_mm = {size}\n"),
            1,
        )
    }

    #[test]
    fn sizes_are_whole_millimetres_and_optional() {
        let p = parse_catalog(&sized("[32, 110, 32]")).unwrap().remove(0);
        let size = p.size.unwrap();
        assert_eq!(
            (size.width_mm, size.height_mm, size.depth_mm),
            (32, 110, 32)
        );
        assert_eq!(size.metres(), [0.032, 0.11, 0.032]);
        // The limits themselves are sizes.
        let max = ProductSize::MAX_MM;
        let p = parse_catalog(&sized(&format!("[1, {max}, 1]")))
            .unwrap()
            .remove(0);
        assert_eq!(p.size.unwrap().height_mm, max);
        // Missing: no size, and nothing else changes.
        let bare = parse_catalog(GOOD).unwrap().remove(0);
        assert_eq!(bare.size, None);
        assert_eq!(Product { size: None, ..p }, bare);
    }

    #[test]
    fn an_invalid_size_names_the_product_and_refuses_the_catalog() {
        let max = ProductSize::MAX_MM;
        for bad in [
            "[0, 110, 32]".to_owned(),
            "[32, 0, 32]".to_owned(),
            "[32, 110, 0]".to_owned(),
            format!("[32, {}, 32]", max + 1),
            "[32, 110, 4294967328]".to_owned(),
            "[-32, 110, 32]".to_owned(),
            "[32, 110]".to_owned(),
            "[32, 110, 32, 5]".to_owned(),
            "[]".to_owned(),
        ] {
            match parse_catalog(&sized(&bad)) {
                Err(CatalogError::Invalid {
                    line,
                    field,
                    message,
                }) => {
                    assert_eq!((line, field.as_str()), (10, "products[0].size_mm"), "{bad}");
                    assert!(message.starts_with("glow-serum: "), "{bad}: {message}");
                    assert!(message.contains(&max.to_string()), "{message}");
                }
                other => panic!("{bad}: expected an invalid size, got {other:?}"),
            }
        }
        // Not whole millimetres, or not a list: refused as the file's shape.
        for bad in ["[32.5, 110, 32]", "\"32x110x32\"", "32"] {
            assert!(
                matches!(
                    parse_catalog(&sized(bad)),
                    Err(CatalogError::Syntax { line: 10, .. })
                ),
                "{bad}"
            );
        }
        // In a longer file, the product at fault is named by place and id,
        // and the products before it are not returned either.
        let second = GOOD
            .replacen("currency = \"EUR\"\n", "", 1)
            .replace("glow-serum", "oak-tray");
        let two = format!(
            "{}\n{}",
            sized("[32, 110, 32]"),
            second.replacen(
                "model = \"models/oak-tray.glb\"\n",
                "model = \"models/oak-tray.glb\"\nsize_mm = [380, 0, 260]\n",
                1
            )
        );
        match parse_catalog(&two) {
            Err(e @ CatalogError::Invalid { .. }) => {
                let text = e.to_string();
                assert!(text.contains("products[1].size_mm: oak-tray: "), "{text}");
            }
            other => panic!("expected an invalid size, got {other:?}"),
        }
    }

    /// `GOOD`'s product as the JSON admin API receives it.
    fn input() -> ProductInput {
        let variant = |sku: &str, size: &str, price: Option<&str>, stock| VariantInput {
            sku: sku.into(),
            options: BTreeMap::from([("size".to_owned(), size.to_owned())]),
            price: price.map(str::to_owned),
            stock,
        };
        ProductInput {
            name: "Glow Serum".into(),
            category: "beauty".into(),
            description: "Vitamin C serum.".into(),
            price: "24.90".into(),
            currency: "EUR".into(),
            model: "models/glow-serum.glb".into(),
            variants: vec![
                variant("glow-serum-30", "30 ml", None, 12),
                variant("glow-serum-50", "50 ml", Some("34.90"), 5),
            ],
        }
    }

    #[test]
    fn json_input_gives_the_same_product_as_the_file() {
        let from_file = parse_catalog(GOOD).unwrap().remove(0);
        let from_json = product_from_input("glow-serum".into(), input()).unwrap();
        assert_eq!(from_json, from_file);

        let mut bare = input();
        bare.description = String::new();
        bare.variants[0].options.clear();
        let p = product_from_input("glow-serum".into(), bare).unwrap();
        assert_eq!(p.description, "");
        assert!(p.variants[0].options.is_empty());
    }

    #[test]
    fn json_input_errors_name_the_field() {
        type Change = fn(&mut ProductInput);
        let cases: [(Change, &str); 13] = [
            (
                |p| p.price = "0".into(),
                "price: a price must be above zero",
            ),
            (|p| p.price = "24.999".into(), "price: "),
            (|p| p.currency = "euro".into(), "currency: "),
            (|p| p.name = "".into(), "name: must not be empty"),
            (|p| p.category = "Beauty Stuff".into(), "category: "),
            (
                |p| p.description = " ".into(),
                "description: must not be empty",
            ),
            (|p| p.model = "../x.glb".into(), "model: must be a relative"),
            (
                |p| p.variants.clear(),
                "variants: at least one variant is needed",
            ),
            (
                |p| p.variants[1].sku = "glow-serum-30".into(),
                "variants[1].sku: duplicate sku glow-serum-30",
            ),
            (
                |p| p.variants[0].price = Some("-1".into()),
                "variants[0].price: ",
            ),
            (
                |p| p.variants[0].stock = -1,
                "variants[0].stock: must be 0 to 1000000",
            ),
            (
                |p| p.variants[1].stock = MAX_STOCK + 1,
                "variants[1].stock: must be 0 to 1000000",
            ),
            (
                |p| {
                    p.variants[0].options =
                        (0..5).map(|i| (format!("k{i}"), "v".to_owned())).collect();
                },
                "variants[0].options: at most 4 options",
            ),
        ];
        for (change, expected) in cases {
            let mut p = input();
            change(&mut p);
            let error = product_from_input("glow-serum".into(), p).unwrap_err();
            assert!(
                error.to_string().starts_with(expected),
                "{error} / {expected}"
            );
        }
        let error = product_from_input("Glow Serum".into(), input()).unwrap_err();
        assert_eq!(error.field, "id");
    }
}
