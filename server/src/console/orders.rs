//! The console's order desk: a show's orders, filtered and paged, with the
//! labels a host reads (buyer's name, product and variant names) rather
//! than ids. Moving an order along stays with the commerce engine; this
//! only reads the store. Queries are plain SQL that SQLite and PostgreSQL
//! both run through sqlx `Any`.

use crate::store::{Store, StoreError};
use sqlx::Row;
use std::collections::HashMap;
use vitrine_shared::{Currency, Money};

/// The statuses an order can be in, as stored.
pub const STATUSES: [&str; 6] = [
    "pending",
    "paid",
    "fulfilled",
    "delivered",
    "refunded",
    "cancelled",
];

/// The most orders one page holds, and the default.
pub const MAX_PAGE: u32 = 100;
pub const DEFAULT_PAGE: u32 = 25;
/// The longest search text.
pub const MAX_SEARCH_CHARS: usize = 80;

/// Checked filters (see `http::console_show` for how each is refused).
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Created within this window (a show's), inclusive.
    pub window: Option<(i64, i64)>,
    pub status: Option<&'static str>,
    pub product: Option<String>,
    pub buyer: Option<i64>,
    /// Lower-case; matched against the buyer's name, the order's number,
    /// product names and SKUs.
    pub search: Option<String>,
    /// Orders strictly older than this (created_at, id): the next page.
    pub before: Option<(i64, i64)>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct DeskLine {
    pub sku: String,
    pub product_id: Option<String>,
    pub product_name: Option<String>,
    /// The variant's options in words ("Sage", "M, Blue"); empty for a
    /// product with one variant.
    pub variant: String,
    pub quantity: i64,
    pub unit_price: Money,
}

#[derive(Debug, Clone)]
pub struct DeskOrder {
    pub id: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub buyer_id: i64,
    pub buyer_name: String,
    pub status: String,
    pub source: String,
    pub total: Money,
    pub discount: Money,
    pub coupon: Option<String>,
    pub return_reason: Option<String>,
    pub failure: Option<String>,
    pub lines: Vec<DeskLine>,
}

pub struct DeskPage {
    pub orders: Vec<DeskOrder>,
    /// How many orders match the filters, over every page.
    pub matching: u64,
    /// The cursor of the next page, if there is one.
    pub next: Option<(i64, i64)>,
}

enum Bind {
    Int(i64),
    Text(String),
}

/// Adds a bound value; answers its placeholder.
fn next_param(binds: &mut Vec<Bind>, value: Bind) -> String {
    binds.push(value);
    format!("${}", binds.len())
}

/// `%` and `_` in what the host typed are meant literally.
fn like_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The console shows an order as `#` and its id's last digits, so a search
/// for digits (with or without the `#`) matches the end of the id; anything
/// else matches the whole id only (escaped, so it is taken literally).
fn number_pattern(text: &str) -> String {
    let digits = text.strip_prefix('#').unwrap_or(text);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return format!("%{digits}");
    }
    let mut out = String::new();
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn currency(code: &str) -> Result<Currency, StoreError> {
    Currency::new(code).map_err(|e| StoreError::Corrupt(format!("currency {code}: {e}")))
}

/// A variant's options (`{"colour":"Sage"}`) in words: the values, in order.
pub fn variant_words(options: &str) -> String {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(options) {
        Ok(map) => map
            .values()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        Err(_) => String::new(),
    }
}

pub async fn orders(store: &Store, filter: &OrderFilter) -> Result<DeskPage, StoreError> {
    let mut binds: Vec<Bind> = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    if let Some((from, to)) = filter.window {
        let a = next_param(&mut binds, Bind::Int(from));
        let b = next_param(&mut binds, Bind::Int(to));
        conditions.push(format!("o.created_at >= {a} AND o.created_at <= {b}"));
    }
    if let Some(status) = filter.status {
        let p = next_param(&mut binds, Bind::Text(status.to_owned()));
        conditions.push(format!("o.status = {p}"));
    }
    if let Some(buyer) = filter.buyer {
        let p = next_param(&mut binds, Bind::Int(buyer));
        conditions.push(format!("o.account_id = {p}"));
    }
    if let Some(product) = &filter.product {
        let p = next_param(&mut binds, Bind::Text(product.clone()));
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM order_lines pl JOIN variants pv ON pv.sku = pl.sku \
             WHERE pl.order_id = o.id AND pv.product_id = {p})"
        ));
    }
    if let Some(search) = &filter.search {
        let pattern = like_pattern(search);
        let name = next_param(&mut binds, Bind::Text(pattern.clone()));
        let number = next_param(&mut binds, Bind::Text(number_pattern(search)));
        let product = next_param(&mut binds, Bind::Text(pattern.clone()));
        let sku = next_param(&mut binds, Bind::Text(pattern));
        conditions.push(format!(
            "(LOWER(COALESCE(a.display_name, '')) LIKE {name} ESCAPE '\\' \
             OR CAST(o.id AS TEXT) LIKE {number} ESCAPE '\\' \
             OR EXISTS (SELECT 1 FROM order_lines sl JOIN variants sv ON sv.sku = sl.sku \
             JOIN products sp ON sp.id = sv.product_id WHERE sl.order_id = o.id \
             AND (LOWER(sp.name) LIKE {product} ESCAPE '\\' OR LOWER(sl.sku) LIKE {sku} ESCAPE '\\')))"
        ));
    }
    let filtered = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let from = "FROM orders o LEFT JOIN accounts a ON a.id = o.account_id";

    // How many match, over all pages.
    let count_sql = format!("SELECT COUNT(*) {from} {filtered}");
    let mut count = sqlx::query(&count_sql);
    for bind in &binds {
        count = match bind {
            Bind::Int(v) => count.bind(*v),
            Bind::Text(v) => count.bind(v.clone()),
        };
    }
    let matching: i64 = count.fetch_one(store.pool()).await?.try_get(0)?;

    // This page: newest first, ties broken by id, one more than asked to
    // know whether another page follows.
    let mut page_conditions = conditions;
    if let Some((at, id)) = filter.before {
        let a = next_param(&mut binds, Bind::Int(at));
        let b = next_param(&mut binds, Bind::Int(at));
        let c = next_param(&mut binds, Bind::Int(id));
        page_conditions.push(format!(
            "(o.created_at < {a} OR (o.created_at = {b} AND o.id < {c}))"
        ));
    }
    let page_filter = if page_conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", page_conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT o.id, o.created_at, o.updated_at, o.account_id, a.display_name, o.status, o.source, \
         o.total_minor, o.discount_minor, o.currency, o.coupon_code, o.return_reason, o.failure \
         {from} {page_filter} ORDER BY o.created_at DESC, o.id DESC LIMIT {}",
        filter.limit + 1
    );
    let mut query = sqlx::query(&sql);
    for bind in &binds {
        query = match bind {
            Bind::Int(v) => query.bind(*v),
            Bind::Text(v) => query.bind(v.clone()),
        };
    }
    let rows = query.fetch_all(store.pool()).await?;
    let mut orders = Vec::with_capacity(rows.len());
    for row in rows.iter().take(filter.limit as usize) {
        let currency = currency(&row.try_get::<String, _>(9)?)?;
        orders.push(DeskOrder {
            id: row.try_get(0)?,
            created_at_ms: row.try_get(1)?,
            updated_at_ms: row.try_get(2)?,
            buyer_id: row.try_get(3)?,
            buyer_name: row
                .try_get::<Option<String>, _>(4)?
                .unwrap_or_else(|| "a deleted account".to_owned()),
            status: row.try_get(5)?,
            source: row.try_get(6)?,
            total: Money::new(row.try_get(7)?, currency),
            discount: Money::new(row.try_get(8)?, currency),
            coupon: row.try_get(10)?,
            return_reason: row.try_get(11)?,
            failure: row.try_get(12)?,
            lines: Vec::new(),
        });
    }
    let next = (rows.len() > filter.limit as usize)
        .then(|| orders.last().map(|o| (o.created_at_ms, o.id)))
        .flatten();

    // Their lines, with product and variant names.
    if !orders.is_empty() {
        let params: Vec<String> = (1..=orders.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT l.order_id, l.sku, l.quantity, l.unit_price_minor, v.product_id, p.name, v.options \
             FROM order_lines l LEFT JOIN variants v ON v.sku = l.sku \
             LEFT JOIN products p ON p.id = v.product_id \
             WHERE l.order_id IN ({}) ORDER BY l.order_id, l.sku",
            params.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for order in &orders {
            query = query.bind(order.id);
        }
        let at: HashMap<i64, usize> = orders.iter().enumerate().map(|(i, o)| (o.id, i)).collect();
        for row in query.fetch_all(store.pool()).await? {
            let order_id: i64 = row.try_get(0)?;
            let Some(&i) = at.get(&order_id) else {
                continue;
            };
            let currency = orders[i].total.currency;
            let options: Option<String> = row.try_get(6)?;
            orders[i].lines.push(DeskLine {
                sku: row.try_get(1)?,
                quantity: row.try_get(2)?,
                unit_price: Money::new(row.try_get(3)?, currency),
                product_id: row.try_get(4)?,
                product_name: row.try_get(5)?,
                variant: options.as_deref().map(variant_words).unwrap_or_default(),
            });
        }
    }
    Ok(DeskPage {
        orders,
        matching: matching as u64,
        next,
    })
}

/// Whether a product with this id exists (archived ones too: their orders
/// stay).
pub async fn product_exists(store: &Store, id: &str) -> Result<bool, StoreError> {
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM products WHERE id = $1")
        .bind(id)
        .fetch_optional(store.pool())
        .await?;
    Ok(found.is_some())
}

/// A giveaway's entrants by name, newest first, at most `limit`.
pub async fn entrants(
    store: &Store,
    giveaway: i64,
    limit: u32,
) -> Result<Vec<(i64, String)>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT e.account_id, a.display_name FROM giveaway_entries e \
         LEFT JOIN accounts a ON a.id = e.account_id WHERE e.giveaway_id = $1 \
         ORDER BY e.entered_at DESC, e.account_id LIMIT {limit}"
    ))
    .bind(giveaway)
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push((
            row.try_get(0)?,
            row.try_get::<Option<String>, _>(1)?
                .unwrap_or_else(|| "Shopper".to_owned()),
        ));
    }
    Ok(out)
}

/// The newest giveaways' ids, newest first.
pub async fn latest_giveaways(store: &Store, limit: u32) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT id FROM giveaways ORDER BY created_at DESC, id DESC LIMIT {limit}"
    ))
    .fetch_all(store.pool())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_literal_and_options_read_as_words() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(variant_words(r#"{"colour":"Sage"}"#), "Sage");
        assert_eq!(variant_words(r#"{"colour":"Blue","size":"M"}"#), "Blue, M");
        assert_eq!(variant_words("{}"), "");
        assert_eq!(variant_words("not json"), "");
    }
}
