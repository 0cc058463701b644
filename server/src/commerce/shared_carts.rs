//! Shared carts: one per group (a party), beside each member's own cart.
//! Every member adds, changes and removes lines; each line records who
//! added it and who will pay for it (the adder, until a member marks it as
//! theirs). Holds work as for a personal cart: units leave the variant's
//! stock when added, a line's hold restarts when it changes, and a line
//! whose hold runs out goes back to stock.
//!
//! Membership is not the engine's to know: the caller (the rooms' party
//! plugin) passes the acting member and the group's members with every
//! request, and a request from anyone else changes nothing. Groups live in
//! memory and end with the process, so at start every shared-cart line
//! goes back to stock; so does every line of a group that ends.
//!
//! Checkout makes one order of the lines marked as the payer's (or of every
//! line), paid as a personal checkout is and under the same idempotency
//! keys. The lines keep their rows while the order is paid, marked with it:
//! a declined payment puts exactly those lines back in the cart (while the
//! payer is still in the group), and other members' orders are never
//! touched. A payment with no answer leaves the order pending with its
//! lines, for the retry to settle: the provider may have charged.
//!
//! Nobody pays for what they did not see: a checkout names the total its
//! payer was shown, and a cart that changed since is refused, typed.

use super::carts::variant_info;
use super::engine::Engine;
use super::ledger::{Origin, PendingOrder, Release};
use super::{
    CheckoutSpec, CommerceError, CommerceEvent, CommerceHandle, MAX_CART_LINES, MAX_CLAIM_QUANTITY,
    OrderRecord, Purchase, Request,
};
use crate::ids::new_id;
use crate::store::{Store, StoreError};
use sqlx::{Any, Row, Transaction};
use std::collections::{BTreeMap, HashMap};
use tokio::sync::oneshot;
use vitrine_shared::protocol::{CartGroupId, SharedCartChange, SharedLineId, SharedPayment};
use vitrine_shared::{AccountId, DisplayName, Money, OrderId, PaymentMethod, ProductId, Sku};

/// A member of a group, as the caller knows them: the name is what the
/// other members see beside the lines this member added or pays for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub account: AccountId,
    pub name: DisplayName,
}

/// A line of a shared cart: units reserved from stock until `held_until_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedCartLine {
    pub id: SharedLineId,
    pub sku: Sku,
    pub product: ProductId,
    pub name: String,
    pub unit_price: Money,
    pub quantity: i64,
    pub held_until_ms: i64,
    pub added_by: GroupMember,
    pub payer: GroupMember,
}

/// A change a member makes to the group's shared cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedEdit {
    /// Adds 1 to [`MAX_CLAIM_QUANTITY`] units to the actor's own line of
    /// `sku` (added and paid by them), or starts one.
    Add { sku: Sku, quantity: i64 },
    /// Sets any line to 0 to [`MAX_CLAIM_QUANTITY`] units; 0 removes it.
    Set { line: SharedLineId, quantity: i64 },
    /// The actor will pay for the line: `payer` must be the actor, as
    /// nobody puts a line on someone else's bill.
    Mark {
        line: SharedLineId,
        payer: AccountId,
    },
}

type LinesReply = oneshot::Sender<Result<Vec<SharedCartLine>, CommerceError>>;
type OrderReply = oneshot::Sender<Result<OrderRecord, CommerceError>>;

/// Who asks, for which group, and who is in it now.
pub(crate) struct Actor {
    group: CartGroupId,
    actor: AccountId,
    members: Vec<GroupMember>,
}

pub(crate) enum SharedRequest {
    View {
        who: Actor,
        reply: LinesReply,
    },
    Edit {
        who: Actor,
        edit: SharedEdit,
        reply: LinesReply,
    },
    Checkout {
        who: Actor,
        pays_for: SharedPayment,
        /// What the payer was shown for it: a cart that costs anything
        /// else now is refused.
        shown: Money,
        method: PaymentMethod,
        idempotency: (String, u64),
        reply: OrderReply,
    },
    End {
        group: CartGroupId,
        reply: oneshot::Sender<Result<i64, CommerceError>>,
    },
}

/// The engine's shared carts.
#[derive(Default)]
pub(super) struct SharedCarts {
    groups: HashMap<CartGroupId, Group>,
    /// Orders made from a shared cart and not yet settled: their group and
    /// lines, to go back into the cart if the payment fails.
    orders: HashMap<OrderId, (CartGroupId, Vec<SharedCartLine>)>,
    /// The last line id given: ids grow, so a cart's lines read in the
    /// order they were added.
    last_line: i64,
}

/// A group the engine has heard of and that has not ended.
struct Group {
    /// As the caller last listed them; the group's news goes to them.
    members: Vec<GroupMember>,
    lines: BTreeMap<SharedLineId, SharedCartLine>,
}

impl SharedCarts {
    /// Line ids start after `last_line`, the largest the store holds.
    pub(super) fn starting_after(last_line: i64) -> SharedCarts {
        SharedCarts {
            last_line,
            ..SharedCarts::default()
        }
    }

    fn next_line(&mut self) -> SharedLineId {
        self.last_line += 1;
        SharedLineId(self.last_line)
    }

    /// Whether a declined payment of `order_id` can put its lines back:
    /// the order came from a group's cart, the group has not ended and its
    /// payer is still in it (else nobody would pay for them). Answers the
    /// group and how many lines come back.
    pub(super) fn restorable(
        &self,
        order_id: OrderId,
        payer: AccountId,
    ) -> Option<(CartGroupId, usize)> {
        let (group, lines) = self.orders.get(&order_id)?;
        let g = self.groups.get(group)?;
        g.members
            .iter()
            .any(|m| m.account == payer)
            .then_some((*group, lines.len()))
    }

    /// How many of the order's lines have rows, if the engine knows.
    pub(super) fn order_lines(&self, order_id: OrderId) -> Option<usize> {
        self.orders.get(&order_id).map(|(_, lines)| lines.len())
    }

    /// Lines of `group` inside orders being paid: they may come back, so
    /// they count as the cart's for its currency and its line limit.
    fn pending_lines(&self, group: CartGroupId) -> impl Iterator<Item = &SharedCartLine> {
        self.orders
            .values()
            .filter(move |(g, _)| *g == group)
            .flat_map(|(_, lines)| lines)
    }

    /// The order is settled (paid, or cancelled and its units given back).
    pub(super) fn forget(&mut self, order_id: OrderId) {
        self.orders.remove(&order_id);
    }
}

fn storage(e: StoreError) -> CommerceError {
    tracing::error!(%e, "shared cart not changed");
    CommerceError::Storage
}

impl Engine {
    pub(super) async fn shared_request(&mut self, request: SharedRequest) {
        match request {
            SharedRequest::View { who, reply } => {
                let answer = self.admit(&who).map(|()| {
                    self.touch_group(&who);
                    self.shared_lines(who.group)
                });
                let _ = reply.send(answer);
            }
            SharedRequest::Edit { who, edit, reply } => {
                let _ = reply.send(self.edit_shared(who, edit).await);
            }
            SharedRequest::Checkout {
                who,
                pays_for,
                shown,
                method,
                idempotency,
                reply,
            } => {
                self.shared_checkout(who, (pays_for, shown), method, idempotency, reply)
                    .await
            }
            SharedRequest::End { group, reply } => {
                let _ = reply.send(self.end_shared_cart(group).await);
            }
        }
    }

    /// A request from outside the group changes nothing.
    fn admit(&self, who: &Actor) -> Result<(), CommerceError> {
        if who.members.iter().any(|m| m.account == who.actor) {
            Ok(())
        } else {
            Err(CommerceError::NotGroupMember)
        }
    }

    /// Starts the group if it is new, and takes the caller's member list as
    /// the current one.
    fn touch_group(&mut self, who: &Actor) {
        let group = self
            .shared
            .groups
            .entry(who.group)
            .or_insert_with(|| Group {
                members: Vec::new(),
                lines: BTreeMap::new(),
            });
        group.members = who.members.clone();
    }

    pub(super) fn shared_lines(&self, group: CartGroupId) -> Vec<SharedCartLine> {
        self.shared
            .groups
            .get(&group)
            .map(|g| g.lines.values().cloned().collect())
            .unwrap_or_default()
    }

    fn announce_shared(&self, group: CartGroupId, change: SharedCartChange) {
        let members = self
            .shared
            .groups
            .get(&group)
            .map(|g| g.members.iter().map(|m| m.account).collect())
            .unwrap_or_default();
        let _ = self.events.send(CommerceEvent::SharedCartChanged {
            group,
            members,
            lines: self.shared_lines(group),
            change,
        });
    }

    async fn edit_shared(
        &mut self,
        who: Actor,
        edit: SharedEdit,
    ) -> Result<Vec<SharedCartLine>, CommerceError> {
        self.admit(&who)?;
        let me = who
            .members
            .iter()
            .find(|m| m.account == who.actor)
            .cloned()
            .ok_or(CommerceError::NotGroupMember)?;
        let held_until = self.clock.now_ms() + self.settings.cart_hold.as_millis() as i64;
        let lines = self
            .shared
            .groups
            .get(&who.group)
            .map(|g| &g.lines)
            .cloned()
            .unwrap_or_default();
        let changed = match edit {
            SharedEdit::Add { sku, quantity } => {
                if !(1..=MAX_CLAIM_QUANTITY).contains(&quantity) {
                    return Err(CommerceError::BadQuantity);
                }
                let own = lines.values().find(|l| {
                    l.sku == sku
                        && l.added_by.account == me.account
                        && l.payer.account == me.account
                });
                let old = own.map_or(0, |l| l.quantity);
                if old + quantity > MAX_CLAIM_QUANTITY {
                    return Err(CommerceError::BadQuantity);
                }
                let pending = self.shared.pending_lines(who.group).count();
                if own.is_none() && lines.len() + pending >= MAX_CART_LINES {
                    return Err(CommerceError::CartFull);
                }
                let info = variant_info(&self.store, &sku)
                    .await
                    .map_err(storage)?
                    .filter(|v| !v.archived)
                    .ok_or(CommerceError::UnknownSku)?;
                if lines
                    .values()
                    .chain(self.shared.pending_lines(who.group))
                    .any(|l| l.unit_price.currency != info.price.currency)
                {
                    return Err(CommerceError::CurrencyMismatch);
                }
                let line = SharedCartLine {
                    id: own.map_or_else(|| self.shared.next_line(), |l| l.id),
                    sku,
                    product: info.product,
                    name: info.name,
                    unit_price: info.price,
                    quantity: old + quantity,
                    held_until_ms: held_until,
                    added_by: own.map_or_else(|| me.clone(), |l| l.added_by.clone()),
                    payer: own.map_or_else(|| me.clone(), |l| l.payer.clone()),
                };
                if !set_line(&self.store, who.group, &line, old)
                    .await
                    .map_err(storage)?
                {
                    return Err(CommerceError::NotEnoughStock {
                        available: old + info.stock,
                    });
                }
                let _ = self.events.send(CommerceEvent::AddedToCart {
                    buyer: me.account,
                    sku: line.sku.clone(),
                    quantity,
                });
                Some(line)
            }
            SharedEdit::Set { line, quantity } => {
                if !(0..=MAX_CLAIM_QUANTITY).contains(&quantity) {
                    return Err(CommerceError::BadQuantity);
                }
                let current = lines.get(&line).ok_or(CommerceError::UnknownLine)?;
                let old = current.quantity;
                if quantity == old {
                    None
                } else {
                    // Growing a line needs the variant on sale; shrinking one never does.
                    let stock = if quantity > old {
                        variant_info(&self.store, &current.sku)
                            .await
                            .map_err(storage)?
                            .filter(|v| !v.archived)
                            .ok_or(CommerceError::UnknownSku)?
                            .stock
                    } else {
                        0
                    };
                    // Whoever grows a line pays for it: another member's
                    // bill only ever grows by their own hand (or their own
                    // mark), never by someone else's change.
                    let payer = if quantity > old {
                        me.clone()
                    } else {
                        current.payer.clone()
                    };
                    let next = SharedCartLine {
                        quantity,
                        held_until_ms: held_until,
                        payer,
                        ..current.clone()
                    };
                    if !set_line(&self.store, who.group, &next, old)
                        .await
                        .map_err(storage)?
                    {
                        return Err(CommerceError::NotEnoughStock {
                            available: old + stock,
                        });
                    }
                    if quantity > old {
                        let _ = self.events.send(CommerceEvent::AddedToCart {
                            buyer: me.account,
                            sku: next.sku.clone(),
                            quantity: quantity - old,
                        });
                    }
                    Some(next)
                }
            }
            SharedEdit::Mark { line, payer } => {
                let payer = who
                    .members
                    .iter()
                    .find(|m| m.account == payer)
                    .cloned()
                    .ok_or(CommerceError::PayerNotInGroup)?;
                // Nobody puts a line on another member's bill.
                if payer.account != me.account {
                    return Err(CommerceError::NotYourMark);
                }
                let current = lines.get(&line).ok_or(CommerceError::UnknownLine)?;
                if current.payer == payer {
                    None
                } else {
                    mark_payer(&self.store, line, &payer)
                        .await
                        .map_err(storage)?;
                    Some(SharedCartLine {
                        payer,
                        ..current.clone()
                    })
                }
            }
        };
        self.touch_group(&who);
        if let Some(line) = changed {
            let group = self.shared.groups.get_mut(&who.group).expect("touched");
            if line.quantity == 0 {
                group.lines.remove(&line.id);
            } else {
                group.lines.insert(line.id, line);
            }
            self.announce_shared(who.group, SharedCartChange::Updated);
        }
        Ok(self.shared_lines(who.group))
    }

    /// Returns lines whose hold has run out to stock, and tells their groups.
    pub(super) async fn expire_shared_carts(&mut self, now: i64) {
        let expired: Vec<(CartGroupId, SharedLineId, Sku, i64)> = self
            .shared
            .groups
            .iter()
            .flat_map(|(group, g)| {
                g.lines
                    .values()
                    .filter(|l| l.held_until_ms <= now)
                    .map(|l| (*group, l.id, l.sku.clone(), l.quantity))
            })
            .collect();
        if expired.is_empty() {
            return;
        }
        let rows: Vec<_> = expired
            .iter()
            .map(|(_, id, sku, q)| (*id, sku.clone(), *q))
            .collect();
        if let Err(e) = release_lines(&self.store, &rows, Some(now)).await {
            // Tried again on the next clock tick.
            tracing::error!(%e, "expired shared-cart lines not released");
            return;
        }
        let mut groups: Vec<CartGroupId> = Vec::new();
        for (group, id, _, _) in &expired {
            if let Some(g) = self.shared.groups.get_mut(group) {
                g.lines.remove(id);
            }
            if !groups.contains(group) {
                groups.push(*group);
            }
        }
        tracing::info!(
            lines = expired.len(),
            "shared-cart holds ran out; units back in stock"
        );
        for group in groups {
            self.announce_shared(group, SharedCartChange::Expired);
        }
    }

    /// The group ended: every line goes back to stock and its members are
    /// told. Answers the units returned. An order being paid keeps its
    /// units; if its payment fails they go to stock, the group being gone.
    async fn end_shared_cart(&mut self, group: CartGroupId) -> Result<i64, CommerceError> {
        let Some(g) = self.shared.groups.get(&group) else {
            return Ok(0);
        };
        let rows: Vec<_> = g
            .lines
            .values()
            .map(|l| (l.id, l.sku.clone(), l.quantity))
            .collect();
        release_lines(&self.store, &rows, None)
            .await
            .map_err(storage)?;
        if let Some(g) = self.shared.groups.get_mut(&group) {
            g.lines.clear();
        }
        self.announce_shared(group, SharedCartChange::Ended);
        self.shared.groups.remove(&group);
        let units = rows.iter().map(|(_, _, q)| q).sum();
        tracing::info!(
            group = group.0,
            units,
            "group ended; its shared cart is back in stock"
        );
        Ok(units)
    }

    async fn shared_checkout(
        &mut self,
        who: Actor,
        (pays_for, shown): (SharedPayment, Money),
        method: PaymentMethod,
        (key, hash): (String, u64),
        reply: OrderReply,
    ) {
        // The personal checkout's keys: the same key and request answer the
        // same order, across restarts too. Looked up before membership: a
        // retry is the payer's own order, and after a restart their group
        // is gone (or re-formed under another id), yet the order may have
        // been charged and must be settled.
        let id = (who.actor, key);
        if self.keys.contains_key(&id) {
            let _ = reply.send(Err(CommerceError::IdempotencyConflict));
            return;
        }
        if let Some(&(seen, order_id)) = self.checkouts.get(&id) {
            if seen != hash {
                let _ = reply.send(Err(CommerceError::IdempotencyConflict));
                return;
            }
            let spec = CheckoutSpec {
                purchase: Purchase::Cart,
                coupon: None,
                method,
            };
            self.replay(who.actor, order_id, spec, reply).await;
            return;
        }
        // Only a member starts a new checkout.
        if let Err(e) = self.admit(&who) {
            let _ = reply.send(Err(e));
            return;
        }
        let key = id.1;
        match self
            .decide_shared_checkout(&who, (pays_for, shown), key, hash)
            .await
        {
            Ok(order_id) => {
                self.pay(who.actor, order_id, method.as_str().to_owned(), reply)
                    .await
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Prices the lines being bought and writes the pending order, marking
    /// those lines as its own.
    async fn decide_shared_checkout(
        &mut self,
        who: &Actor,
        (pays_for, shown): (SharedPayment, Money),
        key: String,
        hash: u64,
    ) -> Result<OrderId, CommerceError> {
        let now = self.clock.now_ms();
        // A line whose hold ran out a moment ago is not bought by surprise.
        let stale = self
            .shared_lines(who.group)
            .iter()
            .any(|l| l.held_until_ms <= now);
        if stale {
            self.expire_shared_carts(now).await;
        }
        let bought: Vec<SharedCartLine> = self
            .shared_lines(who.group)
            .into_iter()
            .filter(|l| pays_for == SharedPayment::Everyone || l.payer.account == who.actor)
            .collect();
        if bought.is_empty() {
            return Err(match pays_for {
                SharedPayment::Mine => CommerceError::NothingMarkedYours,
                SharedPayment::Everyone => CommerceError::EmptyCart,
            });
        }
        // Today's prices, from the catalog; one order line per variant.
        let mut priced: BTreeMap<Sku, (i64, Money)> = BTreeMap::new();
        let mut repriced = false;
        for line in &bought {
            let info = variant_info(&self.store, &line.sku)
                .await
                .map_err(storage)?
                .filter(|v| !v.archived)
                .ok_or(CommerceError::UnknownSku)?;
            if info.price != line.unit_price {
                // The members are shown today's price from now on, so the
                // payer's next look can match it.
                repriced = true;
                if let Some(l) = self
                    .shared
                    .groups
                    .get_mut(&who.group)
                    .and_then(|g| g.lines.get_mut(&line.id))
                {
                    l.unit_price = info.price;
                }
            }
            priced.entry(line.sku.clone()).or_insert((0, info.price)).0 += line.quantity;
        }
        let currency = bought[0].unit_price.currency;
        if priced.values().any(|(_, p)| p.currency != currency) {
            return Err(CommerceError::CurrencyMismatch);
        }
        let total = Money::new(priced.values().map(|(q, p)| q * p.minor).sum(), currency);
        // Another member's change (or a new price) since the payer looked:
        // they look again rather than pay for what they did not see.
        if total != shown {
            if repriced {
                self.announce_shared(who.group, SharedCartChange::Updated);
            }
            return Err(CommerceError::CartChanged);
        }
        let order_id: OrderId = new_id();
        insert_order(
            &self.store,
            order_id,
            (who.actor, who.group),
            &bought,
            &priced,
            total,
            (&key, hash),
        )
        .await
        .map_err(storage)?;
        tracing::info!(order_id = order_id.get(), %total, group = who.group.0, "order made from a shared cart");
        self.touch_group(who);
        if let Some(group) = self.shared.groups.get_mut(&who.group) {
            for line in &bought {
                group.lines.remove(&line.id);
            }
        }
        self.shared.orders.insert(order_id, (who.group, bought));
        self.announce_shared(who.group, SharedCartChange::CheckedOut);
        self.checkouts.insert((who.actor, key), (hash, order_id));
        self.orders.insert(
            order_id,
            PendingOrder {
                buyer: who.actor,
                origin: Origin::SharedCart,
                lines: priced.iter().map(|(s, (q, _))| (s.clone(), *q)).collect(),
                total,
                coupon: None,
                created_at_ms: now,
            },
        );
        self.announce_order(who.actor, order_id).await;
        Ok(order_id)
    }

    /// A failed payment's lines are back in their group's cart (the store
    /// has done so already), held again until `held_until`.
    pub(super) fn restore_shared_cart(&mut self, order_id: OrderId, held_until: i64) {
        let Some((group, lines)) = self.shared.orders.remove(&order_id) else {
            return;
        };
        let Some(g) = self.shared.groups.get_mut(&group) else {
            return;
        };
        for line in lines {
            g.lines.insert(
                line.id,
                SharedCartLine {
                    held_until_ms: held_until,
                    ..line
                },
            );
        }
        self.announce_shared(group, SharedCartChange::Restored);
    }

    /// A shared-cart order was paid: its lines' rows are no longer needed
    /// (also for an order made before a restart).
    pub(super) async fn settle_shared_order(&mut self, order_id: OrderId) {
        self.shared.forget(order_id);
        let done = sqlx::query("DELETE FROM shared_cart_lines WHERE order_id = $1")
            .bind(order_id.get())
            .execute(self.store.pool())
            .await;
        if let Err(e) = done {
            // Harmless: the start's sweep removes rows of settled orders.
            tracing::warn!(%e, order_id = order_id.get(), "paid shared-cart lines not removed");
        }
    }
}

/// Moves a line from `old` units to `line.quantity`, taking the difference
/// from stock or giving it back, in one transaction. `false` (nothing
/// written) when the stock is short.
async fn set_line(
    store: &Store,
    group: CartGroupId,
    line: &SharedCartLine,
    old: i64,
) -> Result<bool, StoreError> {
    let mut tx = store.pool().begin().await?;
    let delta = line.quantity - old;
    let stock =
        sqlx::query("UPDATE variants SET stock = stock - $1 WHERE sku = $2 AND stock - $1 >= 0")
            .bind(delta)
            .bind(line.sku.as_str())
            .execute(&mut *tx)
            .await?;
    if stock.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    let query = if line.quantity == 0 {
        sqlx::query("DELETE FROM shared_cart_lines WHERE id = $1").bind(line.id.0)
    } else if old == 0 {
        sqlx::query(
            "INSERT INTO shared_cart_lines (id, group_id, sku, quantity, held_until, added_by, \
             added_by_name, payer, payer_name, order_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
        )
        .bind(line.id.0)
        .bind(group.0 as i64)
        .bind(line.sku.as_str())
        .bind(line.quantity)
        .bind(line.held_until_ms)
        .bind(line.added_by.account.0 as i64)
        .bind(line.added_by.name.as_str())
        .bind(line.payer.account.0 as i64)
        .bind(line.payer.name.as_str())
    } else {
        sqlx::query(
            "UPDATE shared_cart_lines SET quantity = $1, held_until = $2, payer = $3, \
             payer_name = $4 WHERE id = $5",
        )
        .bind(line.quantity)
        .bind(line.held_until_ms)
        .bind(line.payer.account.0 as i64)
        .bind(line.payer.name.as_str())
        .bind(line.id.0)
    };
    query.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(true)
}

async fn mark_payer(
    store: &Store,
    line: SharedLineId,
    payer: &GroupMember,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE shared_cart_lines SET payer = $1, payer_name = $2 WHERE id = $3")
        .bind(payer.account.0 as i64)
        .bind(payer.name.as_str())
        .bind(line.0)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Deletes lines in the cart (those past their hold at `expired_by`, or
/// all given) and returns their units to stock, in one transaction.
async fn release_lines(
    store: &Store,
    lines: &[(SharedLineId, Sku, i64)],
    expired_by: Option<i64>,
) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    for (id, sku, quantity) in lines {
        let gone = sqlx::query(
            "DELETE FROM shared_cart_lines WHERE id = $1 AND order_id IS NULL AND held_until <= $2",
        )
        .bind(id.0)
        .bind(expired_by.unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        if gone.rows_affected() == 1 {
            sqlx::query("UPDATE variants SET stock = stock + $1 WHERE sku = $2")
                .bind(*quantity)
                .bind(sku.as_str())
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Writes the order and its lines, and marks the shared-cart lines it was
/// made of as its own, in one transaction. Their units were held already.
async fn insert_order(
    store: &Store,
    order_id: OrderId,
    (buyer, group): (AccountId, CartGroupId),
    bought: &[SharedCartLine],
    priced: &BTreeMap<Sku, (i64, Money)>,
    total: Money,
    (key, hash): (&str, u64),
) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    let now = store.clock().now_ms();
    sqlx::query(
        "INSERT INTO orders (id, account_id, status, total_minor, currency, flash_sale_id, \
         idempotency_key, request_hash, created_at, updated_at, source, coupon_code, discount_minor) \
         VALUES ($1, $2, 'pending', $3, $4, NULL, $5, $6, $7, $7, $8, NULL, 0)",
    )
    .bind(order_id.get())
    .bind(buyer.0 as i64)
    .bind(total.minor)
    .bind(total.currency.as_str())
    .bind(key)
    .bind(format!("{hash:016x}"))
    .bind(now)
    .bind(Origin::SharedCart.as_str())
    .execute(&mut *tx)
    .await?;
    for (sku, (quantity, price)) in priced {
        sqlx::query(
            "INSERT INTO order_lines (order_id, sku, quantity, unit_price_minor) VALUES ($1, $2, $3, $4)",
        )
        .bind(order_id.get())
        .bind(sku.as_str())
        .bind(*quantity)
        .bind(price.minor)
        .execute(&mut *tx)
        .await?;
    }
    for line in bought {
        // Only a line still in this group's cart: one the store holds
        // otherwise is not the engine's to sell, and nothing is written.
        let marked = sqlx::query(
            "UPDATE shared_cart_lines SET order_id = $1 \
             WHERE id = $2 AND order_id IS NULL AND group_id = $3",
        )
        .bind(order_id.get())
        .bind(line.id.0)
        .bind(group.0 as i64)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(StoreError::Corrupt(format!(
                "shared-cart line {} is not in group {group}'s cart",
                line.id
            )));
        }
    }
    tx.commit().await?;
    Ok(())
}

/// A cancelled shared-cart order's lines, inside its cancelling
/// transaction: back in the cart (unmarked, held again), or gone when the
/// units go elsewhere (to stock, the group having ended).
///
/// Exactly the rows expected must change (`rows`, when the engine knows how
/// many; after a restart it does not, and they only go): otherwise the
/// store disagrees with the engine, an error rolls the whole cancellation
/// back (the transaction is dropped uncommitted), and the order stays
/// pending.
pub(super) async fn release_order_lines(
    tx: &mut Transaction<'_, Any>,
    order_id: OrderId,
    release: Release,
    rows: Option<usize>,
) -> Result<(), StoreError> {
    let (query, expected) = match release {
        Release::SharedCart {
            held_until,
            group,
            lines,
        } => (
            sqlx::query(
                "UPDATE shared_cart_lines SET order_id = NULL, held_until = $1 \
                 WHERE order_id = $2 AND group_id = $3",
            )
            .bind(held_until)
            .bind(order_id.get())
            .bind(group.0 as i64),
            Some(lines),
        ),
        _ => (
            sqlx::query("DELETE FROM shared_cart_lines WHERE order_id = $1").bind(order_id.get()),
            rows,
        ),
    };
    let changed = query.execute(&mut **tx).await?.rows_affected();
    match expected {
        Some(n) if n as u64 != changed => Err(StoreError::Corrupt(format!(
            "order {order_id} has {changed} shared-cart rows, not {n}"
        ))),
        _ => Ok(()),
    }
}

/// At start: groups ended with the last process, so every line in a cart
/// goes back to stock; rows of orders no longer pending are let go. Lines
/// in a pending order stay with it (a retried checkout finishes paying
/// it; if that fails, its units go to stock). One transaction. Answers
/// the largest line id left, for new ids to follow.
pub(super) async fn release_all(store: &Store) -> Result<i64, StoreError> {
    let mut tx = store.pool().begin().await?;
    let rows =
        sqlx::query("SELECT id, sku, quantity FROM shared_cart_lines WHERE order_id IS NULL")
            .fetch_all(&mut *tx)
            .await?;
    let mut units = 0;
    for row in rows {
        let (id, sku, quantity): (i64, String, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        sqlx::query("DELETE FROM shared_cart_lines WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE variants SET stock = stock + $1 WHERE sku = $2")
            .bind(quantity)
            .bind(&sku)
            .execute(&mut *tx)
            .await?;
        units += quantity;
    }
    sqlx::query(
        "DELETE FROM shared_cart_lines WHERE order_id IS NOT NULL AND order_id NOT IN \
         (SELECT id FROM orders WHERE status = 'pending')",
    )
    .execute(&mut *tx)
    .await?;
    let last: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM shared_cart_lines")
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    if units > 0 {
        tracing::info!(units, "shared carts of the last run are back in stock");
    }
    Ok(last)
}

impl Actor {
    fn new(group: CartGroupId, actor: AccountId, members: Vec<GroupMember>) -> Actor {
        Actor {
            group,
            actor,
            members,
        }
    }
}

/// The shared-cart requests. Each names the acting member and the group's
/// members now (the party's to know): a request from anyone outside the
/// list is refused with `NotGroupMember` and changes nothing.
impl CommerceHandle {
    /// The group's shared cart, lines in line order.
    pub async fn shared_cart(
        &self,
        group: CartGroupId,
        actor: AccountId,
        members: Vec<GroupMember>,
    ) -> Result<Vec<SharedCartLine>, CommerceError> {
        let who = Actor::new(group, actor, members);
        self.ask(|reply| Request::SharedCart(SharedRequest::View { who, reply }))
            .await?
    }

    /// Adds to, changes or marks a line; units are reserved or freed at
    /// once. Answers the whole cart.
    pub async fn edit_shared_cart(
        &self,
        group: CartGroupId,
        actor: AccountId,
        members: Vec<GroupMember>,
        edit: SharedEdit,
    ) -> Result<Vec<SharedCartLine>, CommerceError> {
        let who = Actor::new(group, actor, members);
        self.ask(|reply| Request::SharedCart(SharedRequest::Edit { who, edit, reply }))
            .await?
    }

    /// Makes an order of the lines marked as the actor's (or of every
    /// line) and pays it, if they cost what the actor was `shown`
    /// (`CartChanged` otherwise). The same key with the same request
    /// answers the same order; with another request, `IdempotencyConflict`.
    /// A retry of a checkout already made needs no group: with an empty
    /// member list, only such a retry gets through.
    pub async fn checkout_shared_cart(
        &self,
        group: CartGroupId,
        actor: AccountId,
        members: Vec<GroupMember>,
        (pays_for, shown): (SharedPayment, Money),
        method: PaymentMethod,
        idempotency: (String, u64),
    ) -> Result<OrderRecord, CommerceError> {
        let who = Actor::new(group, actor, members);
        self.ask(|reply| {
            Request::SharedCart(SharedRequest::Checkout {
                who,
                pays_for,
                shown,
                method,
                idempotency,
                reply,
            })
        })
        .await?
    }

    /// The group ended (the party dissolved): every unit in its cart goes
    /// back to stock. Answers how many.
    pub async fn end_shared_cart(&self, group: CartGroupId) -> Result<i64, CommerceError> {
        self.ask(|reply| Request::SharedCart(SharedRequest::End { group, reply }))
            .await?
    }

    /// For the room loop: [`CommerceHandle::shared_cart`] without waiting.
    #[allow(clippy::type_complexity)]
    pub fn try_shared_cart(
        &self,
        group: CartGroupId,
        actor: AccountId,
        members: Vec<GroupMember>,
    ) -> Result<oneshot::Receiver<Result<Vec<SharedCartLine>, CommerceError>>, CommerceError> {
        let who = Actor::new(group, actor, members);
        self.try_ask(|reply| Request::SharedCart(SharedRequest::View { who, reply }))
    }

    /// For the room loop: [`CommerceHandle::edit_shared_cart`] without waiting.
    #[allow(clippy::type_complexity)]
    pub fn try_edit_shared_cart(
        &self,
        group: CartGroupId,
        actor: AccountId,
        members: Vec<GroupMember>,
        edit: SharedEdit,
    ) -> Result<oneshot::Receiver<Result<Vec<SharedCartLine>, CommerceError>>, CommerceError> {
        let who = Actor::new(group, actor, members);
        self.try_ask(|reply| Request::SharedCart(SharedRequest::Edit { who, edit, reply }))
    }

    /// For the room loop: [`CommerceHandle::checkout_shared_cart`] without
    /// waiting.
    #[allow(clippy::type_complexity)]
    pub fn try_checkout_shared_cart(
        &self,
        group: CartGroupId,
        actor: AccountId,
        members: Vec<GroupMember>,
        (pays_for, shown): (SharedPayment, Money),
        method: PaymentMethod,
        idempotency: (String, u64),
    ) -> Result<oneshot::Receiver<Result<OrderRecord, CommerceError>>, CommerceError> {
        let who = Actor::new(group, actor, members);
        self.try_ask(|reply| {
            Request::SharedCart(SharedRequest::Checkout {
                who,
                pays_for,
                shown,
                method,
                idempotency,
                reply,
            })
        })
    }

    /// For the room loop, for a sender in no group (after a restart, say):
    /// a shared checkout that can only be a retry of one already made.
    /// With nobody in the group, `admit` refuses anything new.
    pub fn try_replay_shared_checkout(
        &self,
        actor: AccountId,
        pays_for: (SharedPayment, Money),
        method: PaymentMethod,
        idempotency: (String, u64),
    ) -> Result<oneshot::Receiver<Result<OrderRecord, CommerceError>>, CommerceError> {
        // No group exists for it; the id is never looked at.
        let nowhere = CartGroupId(0);
        self.try_checkout_shared_cart(nowhere, actor, Vec::new(), pays_for, method, idempotency)
    }

    /// For the room loop: [`CommerceHandle::end_shared_cart`] without waiting.
    pub fn try_end_shared_cart(
        &self,
        group: CartGroupId,
    ) -> Result<oneshot::Receiver<Result<i64, CommerceError>>, CommerceError> {
        self.try_ask(|reply| Request::SharedCart(SharedRequest::End { group, reply }))
    }
}
