//! `GET /api/v1/products` and `GET /api/v1/products/{id}`: the catalog with
//! live stock and review counts, for everyone.

use super::extract::ApiPath;
use super::{ApiError, AppState, ErrorBody};
use crate::views::product_view;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use vitrine_shared::ProductId;
use vitrine_shared::api::{ProductList, ProductView};

/// The catalog: every product on sale, with variants, prices and stock.
#[utoipa::path(
    get,
    path = "/api/v1/products",
    tag = "catalog",
    responses((status = 200, description = "Products in catalog order", body = ProductList))
)]
pub async fn list_products(State(state): State<AppState>) -> Result<Json<ProductList>, ApiError> {
    let products = state.store.products().await?;
    let mut tallies = state.reviews.tallies(None).await?;
    Ok(Json(ProductList {
        products: products
            .into_iter()
            .map(|p| {
                let reviews = tallies.remove(&p.id).unwrap_or_default();
                ProductView {
                    reviews,
                    ..product_view(p)
                }
            })
            .collect(),
    }))
}

/// One product.
#[utoipa::path(
    get,
    path = "/api/v1/products/{id}",
    tag = "catalog",
    params(("id" = String, Path, description = "Product id")),
    responses(
        (status = 200, description = "The product", body = ProductView),
        (status = 404, description = "No such product", body = ErrorBody),
    )
)]
pub async fn get_product(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ProductView>, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "product_not_found",
            "no such product",
        )
    };
    let id = ProductId::new(id).map_err(|_| not_found())?;
    let product = state.store.product(&id).await?.ok_or_else(not_found)?;
    let reviews = state
        .reviews
        .tallies(Some(&id))
        .await?
        .remove(&id)
        .unwrap_or_default();
    Ok(Json(ProductView {
        reviews,
        ..product_view(product)
    }))
}
