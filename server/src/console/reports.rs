//! After the show: its summary (peak and unique viewers, orders, sales,
//! conversion, top products) and CSV exports of its orders and chat, all
//! read from the store over the show's time window.

use super::conversion_bp;
use crate::store::{Store, StoreError};
use sqlx::Row;
use vitrine_shared::api::{ShowSummary, ShowView, TopProduct};
use vitrine_shared::{Currency, Money, ProductId};

/// Orders that count as sales.
const SOLD: &str = "('paid', 'fulfilled', 'delivered')";

/// The show's window: from going live to its end (or `now`).
fn window(show: &ShowView, now: i64) -> (i64, i64) {
    let from = show.live_at_ms.unwrap_or(show.scheduled_at_ms);
    (from, show.ended_at_ms.unwrap_or(now))
}

async fn currency(store: &Store) -> Currency {
    let found: Option<String> =
        sqlx::query_scalar("SELECT currency FROM products ORDER BY position LIMIT 1")
            .fetch_optional(store.pool())
            .await
            .ok()
            .flatten();
    found
        .and_then(|c| Currency::new(&c).ok())
        .unwrap_or(Currency::EUR)
}

pub async fn summary(store: &Store, show: ShowView, now: i64) -> Result<ShowSummary, StoreError> {
    let (from, to) = window(&show, now);
    let currency = currency(store).await;
    let row = sqlx::query(&format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(total_minor), 0) AS BIGINT), COUNT(DISTINCT account_id) \
         FROM orders WHERE created_at >= $1 AND created_at <= $2 AND status IN {SOLD}"
    ))
    .bind(from)
    .bind(to)
    .fetch_one(store.pool())
    .await?;
    let (orders, sales, buyers): (i64, i64, i64) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let peak: i64 = sqlx::query_scalar("SELECT peak_viewers FROM shows WHERE id = $1")
        .bind(show.id.get())
        .fetch_one(store.pool())
        .await?;
    let unique: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM show_viewers WHERE show_id = $1")
        .bind(show.id.get())
        .fetch_one(store.pool())
        .await?;
    let chat_lines: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM chat_log WHERE sent_at >= $1 AND sent_at <= $2")
            .bind(from)
            .bind(to)
            .fetch_one(store.pool())
            .await?;
    let rows = sqlx::query(&format!(
        "SELECT v.product_id, p.name, CAST(SUM(l.quantity) AS BIGINT), \
         CAST(SUM(l.quantity * l.unit_price_minor) AS BIGINT) AS sales \
         FROM order_lines l JOIN orders o ON o.id = l.order_id \
         JOIN variants v ON v.sku = l.sku JOIN products p ON p.id = v.product_id \
         WHERE o.created_at >= $1 AND o.created_at <= $2 AND o.status IN {SOLD} \
         GROUP BY v.product_id, p.name ORDER BY sales DESC, v.product_id LIMIT 5"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(store.pool())
    .await?;
    let mut top_products = Vec::with_capacity(rows.len());
    for row in rows {
        top_products.push(TopProduct {
            product_id: ProductId::new(row.try_get::<String, _>(0)?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            name: row.try_get(1)?,
            units: row.try_get(2)?,
            sales: Money::new(row.try_get(3)?, currency).into(),
        });
    }
    let (buyers, unique) = (buyers as u32, unique as u32);
    Ok(ShowSummary {
        show,
        peak_viewers: peak as u32,
        unique_viewers: unique,
        orders: orders as u32,
        buyers,
        sales: Money::new(sales, currency).into(),
        conversion_bp: conversion_bp(buyers, unique.max(buyers)),
        top_products,
        chat_lines: chat_lines as u32,
    })
}

/// One CSV field: quoted when it holds a comma, quote or line break, and
/// with a leading `'` when a spreadsheet would read it as a formula.
pub fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn csv_row(fields: &[String]) -> String {
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// One line per order line, in the show's window.
pub async fn orders_csv(store: &Store, show: &ShowView, now: i64) -> Result<String, StoreError> {
    let (from, to) = window(show, now);
    let rows = sqlx::query(
        "SELECT o.id, o.created_at, o.account_id, a.display_name, o.status, o.source, l.sku, \
         l.quantity, l.unit_price_minor, o.discount_minor, o.total_minor, o.currency, o.coupon_code \
         FROM orders o JOIN order_lines l ON l.order_id = o.id \
         LEFT JOIN accounts a ON a.id = o.account_id \
         WHERE o.created_at >= $1 AND o.created_at <= $2 ORDER BY o.created_at, o.id, l.sku",
    )
    .bind(from)
    .bind(to)
    .fetch_all(store.pool())
    .await?;
    let mut out = csv_row(
        &[
            "order_id",
            "created_at_ms",
            "account_id",
            "buyer",
            "status",
            "source",
            "sku",
            "quantity",
            "unit_price_minor",
            "discount_minor",
            "total_minor",
            "currency",
            "coupon",
        ]
        .map(String::from),
    );
    for row in rows {
        out.push_str(&csv_row(&[
            row.try_get::<i64, _>(0)?.to_string(),
            row.try_get::<i64, _>(1)?.to_string(),
            row.try_get::<i64, _>(2)?.to_string(),
            row.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
            row.try_get(4)?,
            row.try_get(5)?,
            row.try_get(6)?,
            row.try_get::<i64, _>(7)?.to_string(),
            row.try_get::<i64, _>(8)?.to_string(),
            row.try_get::<i64, _>(9)?.to_string(),
            row.try_get::<i64, _>(10)?.to_string(),
            row.try_get(11)?,
            row.try_get::<Option<String>, _>(12)?.unwrap_or_default(),
        ]));
    }
    Ok(out)
}

/// Every chat line said during the show, in order.
pub async fn chat_csv(store: &Store, show: &ShowView, now: i64) -> Result<String, StoreError> {
    let (from, to) = window(show, now);
    let rows = sqlx::query(
        "SELECT sent_at, room, seq, account_id, name, text FROM chat_log \
         WHERE sent_at >= $1 AND sent_at <= $2 ORDER BY sent_at, room, seq",
    )
    .bind(from)
    .bind(to)
    .fetch_all(store.pool())
    .await?;
    let mut out =
        csv_row(&["sent_at_ms", "room", "seq", "account_id", "name", "text"].map(String::from));
    for row in rows {
        out.push_str(&csv_row(&[
            row.try_get::<i64, _>(0)?.to_string(),
            row.try_get(1)?,
            row.try_get::<i64, _>(2)?.to_string(),
            row.try_get::<i64, _>(3)?.to_string(),
            row.try_get(4)?,
            row.try_get(5)?,
        ]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("+1"), "'+1");
    }
}
