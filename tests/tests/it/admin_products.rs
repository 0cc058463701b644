//! One product at a time over the JSON admin API: hosts and co-hosts create
//! (`POST /api/v1/admin/products`) and update (`PUT …/{id}`) products with
//! the catalog file's rules; a refused request changes nothing.

use serde_json::{Value, json};
use vitrine_shared::Role;
use vitrine_shared::api::ProductView;
use vitrine_tests::raw::{self, JSON, Reply};
use vitrine_tests::{Http, TestServer};

/// A request with a JSON body, as this API's clients send.
fn request(
    server: &TestServer,
    method: &str,
    path: &str,
    body: Option<&str>,
    bearer: Option<&str>,
) -> Reply {
    raw::request(server, method, path, body.map(|text| (JSON, text)), bearer)
}

fn create(server: &TestServer, token: Option<&str>, body: &Value) -> Reply {
    let body = body.to_string();
    request(server, "POST", "/api/v1/admin/products", Some(&body), token)
}

fn update(server: &TestServer, token: Option<&str>, id: &str, body: &Value) -> Reply {
    let body = body.to_string();
    let path = format!("/api/v1/admin/products/{id}");
    request(server, "PUT", &path, Some(&body), token)
}

/// The product as the public catalog shows it; `None` when there is none.
fn shown(server: &TestServer, id: &str) -> Option<ProductView> {
    let reply = request(server, "GET", &format!("/api/v1/products/{id}"), None, None);
    match reply.status {
        200 => Some(reply.product()),
        404 => None,
        other => panic!("GET {id}: {other} {}", reply.body),
    }
}

fn guest(server: &TestServer) -> String {
    vitrine_tests::guest(&Http::new(server), "Shopper")
}

/// A product body without its id (for PUT); `with_id` adds one (for POST).
fn tray_fields() -> Value {
    json!({
        "name": "Oak Serving Tray",
        "category": "home",
        "description": "Solid oak,\noiled by hand.",
        "price": "39.00",
        "currency": "EUR",
        "model": "models/oak-tray.glb",
        "variants": [
            { "sku": "oak-tray-small", "options": { "size": "S" }, "stock": 12 },
            { "sku": "oak-tray-large", "options": { "size": "L" }, "price": "49.50", "stock": 3 },
        ],
    })
}

fn with_id(id: &str, mut fields: Value) -> Value {
    fields["id"] = json!(id);
    fields
}

fn stock_of(product: &ProductView, sku: &str) -> i64 {
    product
        .variants
        .iter()
        .find(|v| v.sku == sku)
        .unwrap_or_else(|| panic!("no variant {sku} in {product:?}"))
        .stock
}

#[test]
fn a_host_creates_a_product_and_the_catalog_shows_it_with_stock() {
    let server = TestServer::start();
    let host = server.sign_in_as("host.products", Role::Host);
    assert_eq!(shown(&server, "oak-tray"), None);

    let created = create(&server, Some(&host), &with_id("oak-tray", tray_fields()));
    assert_eq!(created.status, 201, "{}", created.body);
    let created = created.product();
    let tray = shown(&server, "oak-tray").expect("created product is served");
    assert_eq!(created, tray);
    assert_eq!(
        (
            tray.name.as_str(),
            tray.category.as_str(),
            tray.model.as_str()
        ),
        ("Oak Serving Tray", "home", "models/oak-tray.glb")
    );
    assert_eq!(tray.description, "Solid oak,\noiled by hand.");
    assert_eq!(
        (tray.price.minor, tray.price.currency.as_str()),
        (3900, "EUR")
    );
    assert_eq!(tray.variants.len(), 2);
    let small = &tray.variants[0];
    assert_eq!(
        (small.sku.as_str(), small.options["size"].as_str()),
        ("oak-tray-small", "S")
    );
    assert_eq!((small.price.minor, small.stock), (3900, 12));
    let large = &tray.variants[1];
    assert_eq!((large.price.minor, large.stock), (4950, 3));
    let listed = request(&server, "GET", "/api/v1/products", None, None).json();
    assert!(
        listed["products"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "oak-tray")
    );

    // The same id again is a conflict, whatever the body, and changes nothing.
    let mut again = with_id("oak-tray", tray_fields());
    again["name"] = json!("Another Tray");
    let refused = create(&server, Some(&host), &again);
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (409, "product_exists")
    );
    assert_eq!(shown(&server, "oak-tray"), Some(tray));

    // No description and no options are fine.
    let plain = json!({
        "id": "plain-mug", "name": "Plain Mug", "category": "home", "price": "8",
        "currency": "EUR", "model": "models/mug.gltf",
        "variants": [{ "sku": "plain-mug-one", "stock": 0 }],
    });
    let created = create(&server, Some(&host), &plain);
    assert_eq!(created.status, 201, "{}", created.body);
    let mug = created.product();
    assert_eq!(mug.description, "");
    assert!(mug.variants[0].options.is_empty());
    assert_eq!((mug.price.minor, mug.variants[0].stock), (800, 0));
}

#[test]
fn an_update_changes_fields_sets_stock_and_adds_variants() {
    let server = TestServer::start();
    let host = server.sign_in_as("host.update", Role::Host);
    let created = create(&server, Some(&host), &with_id("oak-tray", tray_fields()));
    assert_eq!(created.status, 201, "{}", created.body);

    let changed = json!({
        "name": "Oak Tray, Oiled",
        "category": "kitchen",
        "price": "35.50",
        "currency": "EUR",
        "model": "models/oak-tray-v2.glb",
        "variants": [
            { "sku": "oak-tray-small", "options": { "size": "S" }, "stock": 40 },
            { "sku": "oak-tray-round", "options": { "shape": "round" }, "price": "42.00", "stock": 7 },
        ],
    });
    let updated = update(&server, Some(&host), "oak-tray", &changed);
    assert_eq!(updated.status, 200, "{}", updated.body);
    let updated = updated.product();
    let tray = shown(&server, "oak-tray").unwrap();
    assert_eq!(updated, tray);
    assert_eq!(
        (
            tray.name.as_str(),
            tray.category.as_str(),
            tray.model.as_str()
        ),
        ("Oak Tray, Oiled", "kitchen", "models/oak-tray-v2.glb")
    );
    assert_eq!(tray.description, "", "an absent description is none");
    assert_eq!(tray.price.minor, 3550);
    // Stock is set, not added; the new variant is there; the one not listed
    // is left as it was.
    assert_eq!(stock_of(&tray, "oak-tray-small"), 40);
    assert_eq!(stock_of(&tray, "oak-tray-round"), 7);
    assert_eq!(stock_of(&tray, "oak-tray-large"), 3);
    assert_eq!(tray.variants.len(), 3);
    let price_of = |sku: &str| {
        tray.variants
            .iter()
            .find(|v| v.sku == sku)
            .unwrap()
            .price
            .minor
    };
    assert_eq!(
        (price_of("oak-tray-small"), price_of("oak-tray-round")),
        (3550, 4200)
    );

    // Stock down to zero is an update like any other.
    let mut sold_out = changed.clone();
    sold_out["variants"] = json!([{ "sku": "oak-tray-round", "stock": 0 }]);
    let updated = update(&server, Some(&host), "oak-tray", &sold_out);
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(stock_of(&updated.product(), "oak-tray-round"), 0);

    // A product that does not exist cannot be updated into being.
    for id in ["no-such-tray", "Not%20An%20Id"] {
        let missing = update(&server, Some(&host), id, &tray_fields());
        assert_eq!(
            (missing.status, missing.code().as_str()),
            (404, "product_not_found"),
            "{id}: {}",
            missing.body
        );
    }
    assert_eq!(shown(&server, "no-such-tray"), None);
}

#[test]
fn a_sku_of_another_product_is_refused_and_nothing_changes() {
    let server = TestServer::start();
    let host = server.sign_in_as("host.skus", Role::Host);
    let serum = shown(&server, "glow-serum").expect("seeded");
    let taken = &serum.variants[0].sku;

    // On create: no product appears.
    let mut body = with_id("oak-tray", tray_fields());
    body["variants"][1]["sku"] = json!(taken);
    let refused = create(&server, Some(&host), &body);
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (409, "sku_taken"),
        "{}",
        refused.body
    );
    assert!(
        refused.message().contains(taken.as_str()),
        "{}",
        refused.body
    );
    assert_eq!(shown(&server, "oak-tray"), None);

    // On update: neither product changes, not even the variants listed
    // before the taken one.
    let created = create(&server, Some(&host), &with_id("oak-tray", tray_fields()));
    assert_eq!(created.status, 201, "{}", created.body);
    let tray = created.product();
    let mut body = tray_fields();
    body["name"] = json!("Renamed");
    body["variants"][0]["stock"] = json!(999);
    body["variants"][1]["sku"] = json!(taken);
    let refused = update(&server, Some(&host), "oak-tray", &body);
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (409, "sku_taken"),
        "{}",
        refused.body
    );
    assert_eq!(shown(&server, "oak-tray"), Some(tray));
    assert_eq!(shown(&server, "glow-serum"), Some(serum));
}

#[test]
fn each_invalid_field_is_refused_with_a_code_and_nothing_changes() {
    let server = TestServer::start();
    let host = server.sign_in_as("host.invalid", Role::Host);
    let created = create(&server, Some(&host), &with_id("oak-tray", tray_fields()));
    assert_eq!(created.status, 201, "{}", created.body);
    let tray = created.product();

    type Change = fn(&mut Value);
    // (what, change, code, field named in the message)
    let cases: [(&str, Change, &str, &str); 17] = [
        (
            "zero price",
            |b| b["price"] = json!("0"),
            "invalid_product",
            "price",
        ),
        (
            "negative price",
            |b| b["price"] = json!("-3.00"),
            "invalid_product",
            "price",
        ),
        (
            "bad decimal",
            |b| b["price"] = json!("24.999"),
            "invalid_product",
            "price",
        ),
        (
            "not a number",
            |b| b["price"] = json!("cheap"),
            "invalid_product",
            "price",
        ),
        (
            "zero variant price",
            |b| b["variants"][1]["price"] = json!("0.00"),
            "invalid_product",
            "variants[1].price",
        ),
        (
            "negative stock",
            |b| b["variants"][0]["stock"] = json!(-1),
            "invalid_product",
            "variants[0].stock",
        ),
        (
            "huge stock",
            |b| b["variants"][1]["stock"] = json!(1_000_001),
            "invalid_product",
            "variants[1].stock",
        ),
        (
            "no variants",
            |b| b["variants"] = json!([]),
            "invalid_product",
            "variants",
        ),
        (
            "duplicate sku",
            |b| b["variants"][1]["sku"] = json!("oak-tray-small"),
            "invalid_product",
            "variants[1].sku",
        ),
        (
            "bad sku",
            |b| b["variants"][0]["sku"] = json!("Oak Tray"),
            "invalid_product",
            "variants[0].sku",
        ),
        (
            "model outside the assets",
            |b| b["model"] = json!("../x.glb"),
            "invalid_product",
            "model",
        ),
        (
            "model not a 3D file",
            |b| b["model"] = json!("models/tray.png"),
            "invalid_product",
            "model",
        ),
        (
            "empty name",
            |b| b["name"] = json!("  "),
            "invalid_product",
            "name",
        ),
        (
            "bad currency",
            |b| b["currency"] = json!("euro"),
            "invalid_product",
            "currency",
        ),
        (
            "too many options",
            |b| {
                b["variants"][0]["options"] =
                    json!({"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"})
            },
            "invalid_product",
            "variants[0].options",
        ),
        (
            "unknown field",
            |b| b["colour"] = json!("red"),
            "invalid_body",
            "colour",
        ),
        (
            "unknown variant field",
            |b| b["variants"][0]["colour"] = json!("red"),
            "invalid_body",
            "colour",
        ),
    ];
    for (what, change, code, field) in cases {
        // Create: no product appears.
        let mut body = with_id("new-tray", tray_fields());
        change(&mut body);
        let refused = create(&server, Some(&host), &body);
        assert_eq!(
            (refused.status, refused.code().as_str()),
            (400, code),
            "create, {what}: {}",
            refused.body
        );
        assert!(
            refused.message().contains(field),
            "create, {what}: {}",
            refused.body
        );
        assert_eq!(shown(&server, "new-tray"), None, "create, {what}");

        // Update: the product stays as it was.
        let mut body = tray_fields();
        body["name"] = json!("Renamed");
        change(&mut body);
        let refused = update(&server, Some(&host), "oak-tray", &body);
        assert_eq!(
            (refused.status, refused.code().as_str()),
            (400, code),
            "update, {what}: {}",
            refused.body
        );
        assert!(
            refused.message().contains(field),
            "update, {what}: {}",
            refused.body
        );
        assert_eq!(shown(&server, "oak-tray").as_ref(), Some(&tray), "{what}");
    }

    // The id, on create only: on update it is the path's.
    for id in ["Oak Tray", "", "tray/1"] {
        let refused = create(&server, Some(&host), &with_id(id, tray_fields()));
        assert_eq!(
            (refused.status, refused.code().as_str()),
            (400, "invalid_product"),
            "{id:?}: {}",
            refused.body
        );
        assert!(refused.message().starts_with("id: "), "{}", refused.body);
    }
    // Bodies that are not a product at all.
    for body in ["{bad", "[]", r#"{"id": "oak-tray"}"#] {
        let refused = request(
            &server,
            "POST",
            "/api/v1/admin/products",
            Some(body),
            Some(&host),
        );
        assert_eq!(refused.status, 400, "{body}: {}", refused.body);
        assert!(
            ["malformed_json", "invalid_body"].contains(&refused.code().as_str()),
            "{body}: {}",
            refused.body
        );
    }
    let stock_as_text = json!({ "stock": "twelve" });
    let mut body = tray_fields();
    body["variants"][0] = stock_as_text;
    let refused = update(&server, Some(&host), "oak-tray", &body);
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (400, "invalid_body")
    );
    assert_eq!(shown(&server, "oak-tray"), Some(tray));
}

#[test]
fn only_hosts_and_co_hosts_write_products() {
    let server = TestServer::start();
    let shopper = guest(&server);
    let body = with_id("oak-tray", tray_fields());

    let refused = create(&server, Some(&shopper), &body);
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (403, "forbidden")
    );
    let refused = create(&server, None, &body);
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (401, "missing_token")
    );
    assert_eq!(shown(&server, "oak-tray"), None);

    let serum = shown(&server, "glow-serum").unwrap();
    let mut change = tray_fields();
    change["variants"] = json!([{ "sku": serum.variants[0].sku, "stock": 1 }]);
    let refused = update(&server, Some(&shopper), "glow-serum", &change);
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (403, "forbidden")
    );
    let refused = update(&server, None, "glow-serum", &change);
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (401, "missing_token")
    );
    let refused = update(&server, Some("vt1.forged"), "glow-serum", &change);
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(shown(&server, "glow-serum"), Some(serum.clone()));

    // A co-host may, like a host.
    let co_host = server.sign_in_as("cohost.products", Role::CoHost);
    assert_eq!(create(&server, Some(&co_host), &body).status, 201);
    let updated = update(&server, Some(&co_host), "glow-serum", &change);
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(
        stock_of(&updated.product(), serum.variants[0].sku.as_str()),
        1
    );
}
