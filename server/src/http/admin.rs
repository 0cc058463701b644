//! Catalog administration for hosts and co-hosts: import a catalog file
//! (products are inserted or updated, stock included) and archive products.
//! Changes go through the commerce engine, the one writer of stock.

use super::extract::Authenticated;
use super::{ApiError, AppState, ErrorBody};
use crate::catalog::{CatalogError, parse_catalog};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use vitrine_shared::{ProductId, Role};

/// The largest catalog file accepted.
pub const MAX_CATALOG_BYTES: usize = 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportSummaryView {
    pub products: usize,
    pub variants: usize,
}

fn staff_only(who: &Authenticated) -> Result<(), ApiError> {
    if matches!(who.account.role, Role::Host | Role::CoHost) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only hosts and co-hosts manage the catalog",
        ))
    }
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
    body: String,
) -> Result<Json<ImportSummaryView>, ApiError> {
    staff_only(&who)?;
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
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    staff_only(&who)?;
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
