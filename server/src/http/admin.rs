//! Catalog administration for hosts and co-hosts: import a catalog file
//! (products are inserted or updated, stock included), create or update one
//! product as JSON, and archive products. Changes go through the commerce
//! engine, the one writer of stock.

use super::extract::{ApiJson, ApiPath, ApiText, Authenticated};
use super::{ApiError, AppState, ErrorBody};
use crate::catalog::{CatalogError, parse_catalog, product_from_input};
use crate::store::UpsertMode;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use vitrine_shared::ProductId;
use vitrine_shared::api::{CreateProduct, ProductInput, ProductView};

/// The largest catalog file accepted.
pub const MAX_CATALOG_BYTES: usize = 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportSummaryView {
    pub products: usize,
    pub variants: usize,
}

/// Import a catalog file (the format of `assets/catalog.toml`). A file with
/// any error is refused whole, naming the line and field, and changes
/// nothing.
#[utoipa::path(
    post,
    path = "/api/v1/admin/catalog",
    tag = "catalog",
    request_body(content = String, content_type = "application/toml", description = "A catalog file"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Imported", body = ImportSummaryView),
        (status = 400, description = "The file is invalid: line and field in the message", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
    )
)]
pub async fn import_catalog(
    State(state): State<AppState>,
    who: Authenticated,
    ApiText(body): ApiText,
) -> Result<Json<ImportSummaryView>, ApiError> {
    who.require_host()?;
    let products = parse_catalog(&body).map_err(|e| match e {
        CatalogError::Read { .. } => ApiError::bad_request("invalid_catalog", "unreadable catalog"),
        other => ApiError::bad_request("invalid_catalog", other.to_string()),
    })?;
    let summary = state.commerce.import_catalog(products).await?;
    tracing::info!(by = %who.account.id, products = summary.products, "catalog imported");
    Ok(Json(ImportSummaryView {
        products: summary.products,
        variants: summary.variants,
    }))
}

/// Checks `input` as a catalog file's product would be, writes it through
/// the engine and reads it back as the catalog now shows it.
async fn upsert(
    state: &AppState,
    who: &Authenticated,
    id: String,
    input: ProductInput,
    mode: UpsertMode,
) -> Result<ProductView, ApiError> {
    let product = product_from_input(id, input)
        .map_err(|e| ApiError::bad_request("invalid_product", e.to_string()))?;
    let id = product.id.clone();
    state.commerce.upsert_product(product, mode).await?;
    tracing::info!(by = %who.account.id, product = %id, ?mode, "product written");
    let product = state.store.product(&id).await?.ok_or_else(|| {
        // Archived in between: what was written is no longer on sale.
        ApiError::new(
            StatusCode::NOT_FOUND,
            "product_not_found",
            "no such product on sale",
        )
    })?;
    Ok(crate::views::product_view(product))
}

/// Create one product with its variants and stock. Its fields follow the
/// rules of a catalog file; an error names the field, such as
/// `variants[1].stock`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/products",
    tag = "catalog",
    request_body = CreateProduct,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created, as the catalog now shows it", body = ProductView),
        (status = 400, description = "Malformed body or an invalid field (named in the message)", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 409, description = "The id exists already, or a SKU belongs to another product", body = ErrorBody),
    )
)]
pub async fn create_product(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<CreateProduct>,
) -> Result<(StatusCode, Json<ProductView>), ApiError> {
    who.require_host()?;
    let CreateProduct {
        id,
        name,
        category,
        description,
        price,
        currency,
        model,
        variants,
    } = body;
    let input = ProductInput {
        name,
        category,
        description,
        price,
        currency,
        model,
        variants,
    };
    let view = upsert(&state, &who, id, input, UpsertMode::Create).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Update a product: its fields, and the variants listed (inserted or
/// updated, stock set to the units available now). Variants not listed stay
/// as they are.
#[utoipa::path(
    put,
    path = "/api/v1/admin/products/{id}",
    tag = "catalog",
    params(("id" = String, Path, description = "Product id")),
    request_body = ProductInput,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated, as the catalog now shows it", body = ProductView),
        (status = 400, description = "Malformed body or an invalid field (named in the message)", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 409, description = "A SKU belongs to another product", body = ErrorBody),
    )
)]
pub async fn update_product(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ProductInput>,
) -> Result<Json<ProductView>, ApiError> {
    who.require_host()?;
    if ProductId::new(id.as_str()).is_err() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "product_not_found",
            "no such product",
        ));
    }
    Ok(Json(
        upsert(&state, &who, id, body, UpsertMode::Update).await?,
    ))
}

/// Take a product off sale. It leaves the catalog; its orders stay.
#[utoipa::path(
    post,
    path = "/api/v1/admin/products/{id}/archive",
    tag = "catalog",
    params(("id" = String, Path, description = "Product id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Archived"),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "Not a host or co-host", body = ErrorBody),
        (status = 404, description = "No such product on sale", body = ErrorBody),
    )
)]
pub async fn archive_product(
    State(state): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    who.require_host()?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "product_not_found",
            "no such product on sale",
        )
    };
    let id = ProductId::new(id).map_err(|_| not_found())?;
    if !state.commerce.archive(id).await? {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
