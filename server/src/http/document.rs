//! What the OpenAPI document states once for many operations, and the
//! limits its schemas carry. Both are read from the code that decides them
//! (the extractors, the rate limiter, the validators' constants), so a
//! generated client expects exactly the answers the server gives.

use crate::{catalog, commerce, moderation};
use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use vitrine_shared::limits;
use vitrine_shared::limits::commerce::MAX_IDEMPOTENCY_KEY;

/// Adds the answers that the shared machinery gives, to every operation
/// that can meet it, each with the `ErrorBody`:
/// - 401 where a bearer session is required (missing, malformed, expired or
///   revoked token);
/// - 429 where a signed-in call changes something (the account's bucket);
/// - 400, 413 and 415 where there is a body (malformed, over the limit, not
///   JSON);
/// - 400 where there are path or query parameters;
/// - 500 and 503 wherever the store or an engine is reached.
///
/// 403 stays with each route: only the handler knows who may call it.
pub struct SharedAnswers;

impl Modify for SharedAnswers {
    fn modify(&self, doc: &mut OpenApi) {
        // The scheme the routes' `security(("bearer" = []))` names.
        let scheme = Http::new(HttpAuthScheme::Bearer);
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
        for item in doc.paths.paths.values_mut() {
            for (method, op) in operations(item) {
                add_shared_answers(method, op);
            }
        }
    }
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
        ("head", item.head.as_mut()),
        ("options", item.options.as_mut()),
        ("trace", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
    .collect()
}

fn add_shared_answers(method: &str, op: &mut Operation) {
    let signed_in = op
        .security
        .as_ref()
        .is_some_and(|s| !s.is_empty() && *s != [Default::default()]);
    let body = op.request_body.as_ref();
    let json_body = body.is_some_and(|b| b.content.contains_key("application/json"));
    let has_body = body.is_some();
    let has_params = op.parameters.as_ref().is_some_and(|ps| {
        ps.iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Query | ParameterIn::Path))
    });
    let operations_only = op
        .tags
        .as_ref()
        .is_some_and(|t| t.iter().any(|t| t == "operations"));
    let mut answers: Vec<(&str, &str)> = Vec::new();
    if signed_in {
        answers.push((
            "401",
            "No valid session: the bearer token is missing, malformed, expired or revoked",
        ));
        if !matches!(method, "get" | "head") {
            answers.push((
                "429",
                "Too many changes from this account; `Retry-After` says when to try again",
            ));
        }
    }
    if has_body {
        answers.push((
            "400",
            "Malformed body, or a field outside its schema (named in the message)",
        ));
        answers.push(("413", "The body is over the size limit"));
    }
    if json_body {
        answers.push(("415", "The body is not `application/json`"));
    }
    if has_params {
        answers.push(("400", "A missing or malformed parameter"));
    }
    if !operations_only {
        answers.push(("500", "Internal error (the detail is in the server's log)"));
        answers.push((
            "503",
            "An engine is busy or shutting down; nothing changed, try again",
        ));
    }
    for (status, description) in answers {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error_answer(description));
    }
}

/// An error answer: its body is always `ErrorBody`.
fn error_answer(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

/// A limit a validator enforces on one field.
#[derive(Debug, Clone, Copy)]
enum Limit {
    /// Characters (as JSON Schema counts them), at least and at most.
    Chars(usize, usize),
    /// An integer range, inclusive.
    Range(i64, i64),
    /// At least this much, with no upper bound of its own.
    AtLeast(i64),
    /// An array's length, inclusive.
    Items(usize, usize),
    /// An object's number of entries, at most.
    Entries(usize),
    /// A string from this list.
    OneOf(&'static [&'static str]),
    /// 1 to this many bytes of `a-z`, `0-9` and `-` (ids and SKUs).
    Slug(usize),
}

/// Where a limit goes: a component schema, then property names; `[]` steps
/// into an array's items.
type Field = (&'static str, &'static [&'static str]);

/// Every limit the request schemas carry that is not written on the shared
/// type itself (its constant lives in the server, beside its validator).
/// Literals are limits that the validator writes inline; `server/tests/
/// openapi.rs` probes each one against the server, so none can drift.
fn limits() -> Vec<(Field, Limit)> {
    let claim = commerce::MAX_CLAIM_QUANTITY;
    let countdown = commerce::COUNTDOWN_SECS;
    let duration = commerce::DURATION_SECS;
    let mute = (
        moderation::MIN_MUTE.as_secs() as i64,
        moderation::MAX_MUTE.as_secs() as i64,
    );
    let reason = moderation::MAX_REASON_CHARS;
    let code = vitrine_shared::validated::COUPON_CODE_CHARS;
    let options = limits::engagement::POLL_OPTIONS;
    let poll = limits::engagement::POLL_DURATION_SECS;
    let closes = limits::engagement::GIVEAWAY_CLOSES_IN_SECS;
    use limits::group_deals as group;
    let mut limits = vec![
        // Commerce.
        (
            ("RefundRequest", &["reason"][..]),
            Limit::Chars(1, limits::commerce::MAX_RETURN_REASON_CHARS),
        ),
        (
            ("VariantInput", &["sku"][..]),
            Limit::Slug(vitrine_shared::validated::MAX_PRODUCT_ID_BYTES),
        ),
        (
            ("StartFlashSale", &["countdown_secs"][..]),
            Limit::Range(*countdown.start() as i64, *countdown.end() as i64),
        ),
        (
            ("StartFlashSale", &["duration_secs"][..]),
            Limit::Range(*duration.start() as i64, *duration.end() as i64),
        ),
        (
            ("StartFlashSale", &["quantity"][..]),
            Limit::Range(1, limits::catalog::MAX_STOCK),
        ),
        (
            ("StartFlashSale", &["per_buyer_limit"][..]),
            Limit::AtLeast(1),
        ),
        (("ClaimRequest", &["quantity"][..]), Limit::Range(1, claim)),
        (("AddToCart", &["quantity"][..]), Limit::Range(1, claim)),
        (
            ("SetCartQuantity", &["quantity"][..]),
            Limit::Range(0, claim),
        ),
        (("BuyNowItem", &["quantity"][..]), Limit::Range(1, claim)),
        (
            ("CreateCoupon", &["code"][..]),
            Limit::Chars(*code.start(), *code.end()),
        ),
        (
            ("CreateCoupon", &["percent_off"][..]),
            Limit::Range(1, limits::commerce::MAX_PERCENT_OFF),
        ),
        (
            ("CreateCoupon", &["amount_off_minor"][..]),
            Limit::Range(1, limits::commerce::MAX_AMOUNT_OFF_MINOR),
        ),
        (
            ("CreateCoupon", &["min_order_minor"][..]),
            Limit::Range(0, limits::commerce::MAX_AMOUNT_OFF_MINOR),
        ),
        (
            ("CreateCoupon", &["max_redemptions"][..]),
            Limit::Range(1, limits::commerce::MAX_COUPON_REDEMPTIONS),
        ),
        (
            ("CreateCoupon", &["per_buyer_limit"][..]),
            Limit::Range(1, limits::commerce::MAX_COUPON_PER_BUYER),
        ),
        // Group deals.
        (
            ("CreateGroupDeal", &["team_size"][..]),
            Limit::Range(*group::TEAM_SIZE.start(), *group::TEAM_SIZE.end()),
        ),
        (
            ("CreateGroupDeal", &["window_secs"][..]),
            Limit::Range(group::MIN_WINDOW_MS / 1000, group::MAX_WINDOW_MS / 1000),
        ),
        (
            ("CreateGroupDeal", &["stock_cap"][..]),
            Limit::Range(1, group::MAX_STOCK_CAP),
        ),
        // Engagement.
        (
            ("StartShow", &["title"][..]),
            Limit::Chars(1, limits::engagement::MAX_SHOW_TITLE_CHARS),
        ),
        (
            ("StartShow", &["lineup"][..]),
            Limit::Items(0, limits::engagement::MAX_LINEUP),
        ),
        (
            ("FeatureProducts", &["products"][..]),
            Limit::Items(0, crate::engagement::MAX_FEATURED),
        ),
        (
            ("AskQuestion", &["text"][..]),
            Limit::Chars(1, vitrine_shared::validated::MAX_CHAT_CHARS),
        ),
        (
            ("CreatePoll", &["question"][..]),
            Limit::Chars(1, limits::engagement::MAX_POLL_QUESTION_CHARS),
        ),
        (
            ("CreatePoll", &["options"][..]),
            Limit::Items(*options.start(), *options.end()),
        ),
        (
            ("CreatePoll", &["options", "[]"][..]),
            Limit::Chars(1, limits::engagement::MAX_POLL_OPTION_CHARS),
        ),
        (
            ("CreatePoll", &["duration_secs"][..]),
            Limit::Range(*poll.start() as i64, *poll.end() as i64),
        ),
        (
            ("CreateGiveaway", &["prize"][..]),
            Limit::Chars(1, limits::engagement::MAX_PRIZE_CHARS),
        ),
        (
            ("CreateGiveaway", &["entry"][..]),
            Limit::OneOf(&["everyone", "present", "bought_in_show"]),
        ),
        (
            ("CreateGiveaway", &["present_minutes"][..]),
            Limit::Range(1, limits::engagement::MAX_PRESENT_MINUTES.into()),
        ),
        (
            ("CreateGiveaway", &["closes_in_secs"][..]),
            Limit::Range(*closes.start() as i64, *closes.end() as i64),
        ),
        // Moderation.
        (
            ("MuteRequest", &["seconds"][..]),
            Limit::Range(mute.0, mute.1),
        ),
        (("MuteRequest", &["reason"][..]), Limit::Chars(0, reason)),
        (("KickRequest", &["reason"][..]), Limit::Chars(0, reason)),
        (("BanRequest", &["reason"][..]), Limit::Chars(0, reason)),
        (("HideReview", &["reason"][..]), Limit::Chars(0, reason)),
        // Reviews.
        (("NewReview", &["stars"][..]), Limit::Range(1, 5)),
        (
            ("NewReview", &["text"][..]),
            Limit::Chars(0, vitrine_shared::api::MAX_REVIEW_CHARS),
        ),
        (
            ("FilterRequest", &["terms"][..]),
            Limit::Items(0, moderation::MAX_TERMS),
        ),
        (
            ("FilterRequest", &["terms", "[]"][..]),
            Limit::Chars(1, moderation::MAX_TERM_CHARS),
        ),
    ];
    limits.push((
        ("CreateProduct", &["id"][..]),
        Limit::Slug(vitrine_shared::validated::MAX_PRODUCT_ID_BYTES),
    ));
    // A product, new or updated, follows the catalog file's rules.
    for product in ["CreateProduct", "ProductInput"] {
        limits.extend([
            (
                (product, &["name"][..]),
                Limit::Chars(1, catalog::MAX_NAME_CHARS),
            ),
            (
                (product, &["description"][..]),
                Limit::Chars(0, catalog::MAX_DESCRIPTION_CHARS),
            ),
            (
                (product, &["category"][..]),
                Limit::Slug(vitrine_shared::validated::MAX_CATEGORY_BYTES),
            ),
            ((product, &["variants"][..]), Limit::Items(1, usize::MAX)),
        ]);
    }
    limits.extend([
        (
            ("VariantInput", &["options"][..]),
            Limit::Entries(catalog::MAX_OPTIONS),
        ),
        (
            ("VariantInput", &["stock"][..]),
            Limit::Range(0, catalog::MAX_STOCK),
        ),
    ]);
    limits
}

/// Examples for fields whose format the types alone do not give (a
/// currency, a decimal price, a test card, an existing SKU): with them, the
/// required fields and the limits, a client can build a valid body.
fn examples() -> Vec<(Field, serde_json::Value)> {
    use serde_json::json;
    let sku = json!("glow-serum-30ml");
    let card = json!("4242 4242 4242 4242");
    let mut examples = vec![
        (("StartFlashSale", &["sku"][..]), sku.clone()),
        (("StartFlashSale", &["currency"][..]), json!("EUR")),
        (("StartFlashSale", &["sale_price_minor"][..]), json!(1990)),
        (("AddToCart", &["sku"][..]), sku.clone()),
        (("BuyNowItem", &["sku"][..]), sku),
        (("CheckoutRequest", &["card"][..]), card.clone()),
        (("PayRequest", &["card"][..]), card.clone()),
        (("JoinTeamRequest", &["card"][..]), card),
        (("CreateGroupDeal", &["sku"][..]), json!("glow-serum-30ml")),
        (("CreateGroupDeal", &["currency"][..]), json!("EUR")),
        // Below the serum's 24.90, as a team price must be.
        (("CreateGroupDeal", &["team_price_minor"][..]), json!(1990)),
        (("CreateCoupon", &["code"][..]), json!("SPRING10")),
        (("CreateCoupon", &["percent_off"][..]), json!(10)),
        (("CreateCoupon", &["currency"][..]), json!("EUR")),
        // A month from when the document was made: well inside the longest window
        // (`MAX_COUPON_WINDOW_MS`).
        (
            ("CreateCoupon", &["ends_at_ms"][..]),
            json!(crate::clock::Clock::system().now_ms() + 30 * 24 * 3600 * 1000),
        ),
        (("PinCoupon", &["code"][..]), json!("SPRING10")),
        (
            ("RefundRequest", &["reason"][..]),
            json!("It arrived broken"),
        ),
        (("StartShow", &["title"][..]), json!("Spring drop")),
        (
            ("CreatePoll", &["question"][..]),
            json!("Which colour next?"),
        ),
        (("CreatePoll", &["options"][..]), json!(["Red", "Blue"])),
        (("CreateGiveaway", &["prize"][..]), json!("A signed poster")),
        (
            ("AskQuestion", &["text"][..]),
            json!("Does it come in blue?"),
        ),
        (("MuteRequest", &["seconds"][..]), json!(600)),
        (("NewReview", &["stars"][..]), json!(4)),
        (
            ("NewReview", &["text"][..]),
            json!("Sturdy and a lovely green."),
        ),
        (("FilterRequest", &["terms"][..]), json!(["spoiler"])),
        (("VariantInput", &["sku"][..]), json!("oak-lamp-1")),
        (("SendFriendRequest", &["code"][..]), json!("K7QM-3XPD")),
    ];
    examples.push((("CreateProduct", &["id"][..]), json!("oak-lamp")));
    for product in ["CreateProduct", "ProductInput"] {
        examples.extend([
            ((product, &["name"][..]), json!("Oak lamp")),
            ((product, &["category"][..]), json!("home")),
            ((product, &["price"][..]), json!("24.90")),
            ((product, &["currency"][..]), json!("EUR")),
            ((product, &["model"][..]), json!("models/oak-lamp.glb")),
        ]);
    }
    examples
}

/// The fields that [`limits`] constrains or [`examples`] illustrates, as
/// (schema, property path), so a test can check that each one reached the
/// document (a renamed field would otherwise lose its limit silently).
pub fn annotated_fields() -> Vec<(&'static str, Vec<&'static str>)> {
    let limited = limits().into_iter().map(|(field, _)| field);
    let illustrated = examples().into_iter().map(|(field, _)| field);
    limited
        .chain(illustrated)
        .map(|(name, path)| (name, path.to_vec()))
        .collect()
}

/// Writes [`limits`] and [`examples`] into the document's component schemas.
pub struct SchemaLimits;

impl Modify for SchemaLimits {
    fn modify(&self, doc: &mut OpenApi) {
        let Some(components) = doc.components.as_mut() else {
            return;
        };
        for ((name, path), limit) in limits() {
            let field = components
                .schemas
                .get_mut(name)
                .and_then(|schema| field_mut(schema, path));
            match field {
                Some(schema) => apply(schema, limit),
                // A renamed field must not silently lose its limit.
                None => tracing::error!(name, ?path, "no such schema field for a limit"),
            }
        }
        for ((name, path), example) in examples() {
            let field = components
                .schemas
                .get_mut(name)
                .and_then(|schema| field_mut(schema, path));
            match field {
                Some(Schema::Object(o)) => o.examples = vec![example],
                Some(Schema::Array(a)) => a.examples = vec![example],
                _ => tracing::error!(name, ?path, "no such schema field for an example"),
            }
        }
    }
}

fn field_mut<'a>(schema: &'a mut RefOr<Schema>, path: &[&str]) -> Option<&'a mut Schema> {
    let RefOr::T(schema) = schema else {
        return None;
    };
    let Some((step, rest)) = path.split_first() else {
        return Some(schema);
    };
    let next = match (schema, *step) {
        (Schema::Array(array), "[]") => match &mut array.items {
            ArrayItems::RefOrSchema(items) => items.as_mut(),
            ArrayItems::False => return None,
        },
        (Schema::Object(object), name) => object.properties.get_mut(name)?,
        _ => return None,
    };
    field_mut(next, rest)
}

fn apply(schema: &mut Schema, limit: Limit) {
    match (schema, limit) {
        (Schema::Object(o), Limit::Chars(min, max)) => {
            o.min_length = (min > 0).then_some(min);
            o.max_length = Some(max);
        }
        (Schema::Object(o), Limit::Range(min, max)) => {
            o.minimum = Some((min as isize).into());
            o.maximum = Some((max as isize).into());
        }
        (Schema::Object(o), Limit::AtLeast(min)) => o.minimum = Some((min as isize).into()),
        (Schema::Object(o), Limit::Entries(max)) => o.max_properties = Some(max),
        (Schema::Object(o), Limit::Slug(max)) => {
            o.min_length = Some(1);
            o.max_length = Some(max);
            o.pattern = Some("^[a-z0-9-]+$".to_owned());
        }
        (Schema::Object(o), Limit::OneOf(values)) => {
            o.enum_values = Some(values.iter().map(|v| (*v).into()).collect());
        }
        (Schema::Array(a), Limit::Items(min, max)) => {
            a.min_items = (min > 0).then_some(min);
            a.max_items = (max < usize::MAX).then_some(max);
        }
        (schema, limit) => {
            tracing::error!(?limit, kind = ?schema_kind(schema), "a limit that does not fit its field");
        }
    }
}

fn schema_kind(schema: &Schema) -> &'static str {
    match schema {
        Schema::Array(_) => "array",
        Schema::Object(_) => "object",
        Schema::OneOf(_) => "oneOf",
        Schema::AllOf(_) => "allOf",
        Schema::AnyOf(_) => "anyOf",
        _ => "other",
    }
}

/// One alternative of a body whose fields come in alternatives: the body
/// with only this shape's fields of the group (which it requires) and some
/// fields narrowed to the values that go with them.
struct Shape {
    description: &'static str,
    requires: &'static [&'static str],
    drops: &'static [&'static str],
    narrows: &'static [(&'static str, &'static [&'static str])],
}

/// The bodies whose fields come in alternatives, with the shapes the
/// handlers accept (`http::coupons::create_coupon`,
/// `http::group_deals::create_group_deal` and
/// `http::engagement::create_giveaway` refuse any other combination).
fn alternatives() -> Vec<(&'static str, Vec<Shape>)> {
    vec![
        (
            "CreateCoupon",
            vec![
                Shape {
                    description: "A percentage off",
                    requires: &["percent_off"],
                    drops: &["amount_off_minor"],
                    narrows: &[],
                },
                Shape {
                    description: "A fixed amount off, in the coupon's currency",
                    requires: &["amount_off_minor"],
                    drops: &["percent_off"],
                    narrows: &[],
                },
            ],
        ),
        (
            "CreateGroupDeal",
            vec![
                Shape {
                    description: "Teams may form for `window_secs` from now",
                    requires: &["window_secs"],
                    drops: &["until_show_ends"],
                    narrows: &[],
                },
                Shape {
                    description: "Teams may form until the show live now ends (24 h at most)",
                    requires: &["until_show_ends"],
                    drops: &["window_secs"],
                    narrows: &[("until_show_ends", &["true"])],
                },
            ],
        ),
        (
            "CreateGiveaway",
            vec![
                Shape {
                    description: "Anyone, or those who bought in the show, may enter",
                    requires: &[],
                    drops: &["present_minutes"],
                    narrows: &[("entry", &["everyone", "bought_in_show"])],
                },
                Shape {
                    description: "Those present in the show for `present_minutes` may enter",
                    requires: &["present_minutes"],
                    drops: &[],
                    narrows: &[("entry", &["present"])],
                },
            ],
        ),
    ]
}

/// Turns each body of [`alternatives`] into a `oneOf` of its shapes. Runs
/// after [`SchemaLimits`], so each shape keeps its fields' limits.
pub struct Alternatives;

impl Modify for Alternatives {
    fn modify(&self, doc: &mut OpenApi) {
        let Some(components) = doc.components.as_mut() else {
            return;
        };
        for (name, shapes) in alternatives() {
            let Some(RefOr::T(Schema::Object(body))) = components.schemas.get(name) else {
                tracing::error!(name, "no such object schema for alternatives");
                continue;
            };
            let mut one_of = OneOfBuilder::new().description(body.description.clone());
            for shape in shapes {
                let mut object = body.clone();
                object.description = Some(shape.description.to_owned());
                // Each shape is whole: it refuses the others' fields.
                object.additional_properties =
                    Some(Box::new(AdditionalProperties::FreeForm(false)));
                for field in shape.drops {
                    object.properties.retain(|k, _| k != field);
                    object.required.retain(|r| r != field);
                }
                for field in shape.requires {
                    if let Some(RefOr::T(Schema::Object(o))) = object.properties.get_mut(*field) {
                        o.schema_type = non_null(&o.schema_type);
                    }
                    object.required.push((*field).to_owned());
                }
                for (field, values) in shape.narrows {
                    if let Some(RefOr::T(Schema::Object(o))) = object.properties.get_mut(*field) {
                        // A flag narrowed to one value lists it as a JSON
                        // boolean, which is what the body must carry.
                        let flag = matches!(o.schema_type, SchemaType::Type(Type::Boolean));
                        o.enum_values = Some(
                            values
                                .iter()
                                .map(|v| match (flag, *v) {
                                    (true, "true") => true.into(),
                                    (true, "false") => false.into(),
                                    _ => (*v).into(),
                                })
                                .collect(),
                        );
                    }
                }
                one_of = one_of.item(Schema::Object(object));
            }
            components
                .schemas
                .insert(name.to_owned(), Schema::OneOf(one_of.build()).into());
        }
    }
}

/// A field's type without `null`: a shape requires a value there.
fn non_null(kind: &SchemaType) -> SchemaType {
    match kind {
        SchemaType::Array(types) => {
            let mut types: Vec<Type> = types
                .iter()
                .filter(|t| **t != Type::Null)
                .cloned()
                .collect();
            if types.len() == 1 {
                SchemaType::Type(types.remove(0))
            } else {
                SchemaType::Array(types)
            }
        }
        other => other.clone(),
    }
}

/// Documents the `Idempotency-Key` header where an operation reads it:
/// 1 to [`MAX_IDEMPOTENCY_KEY`] visible ASCII characters, the check
/// `http::flash_sales::idempotency_key` makes.
pub struct HeaderLimits;

impl Modify for HeaderLimits {
    fn modify(&self, doc: &mut OpenApi) {
        for item in doc.paths.paths.values_mut() {
            for (_, op) in operations(item) {
                let params = op.parameters.iter_mut().flatten();
                for param in params.filter(|p| {
                    p.parameter_in == ParameterIn::Header
                        && p.name.eq_ignore_ascii_case("Idempotency-Key")
                }) {
                    match param.schema.as_mut() {
                        Some(RefOr::T(Schema::Object(o))) => {
                            o.min_length = Some(1);
                            o.max_length = Some(MAX_IDEMPOTENCY_KEY);
                            o.pattern = Some("^[!-~]+$".to_owned());
                        }
                        _ => {
                            tracing::error!(name = %param.name, "a header without a string schema")
                        }
                    }
                }
            }
        }
    }
}

/// The document as served: the routes' own answers plus the shared ones,
/// and the schemas' limits and alternatives.
pub fn complete(doc: &mut OpenApi) {
    SharedAnswers.modify(doc);
    SchemaLimits.modify(doc);
    Alternatives.modify(doc);
    HeaderLimits.modify(doc);
}
