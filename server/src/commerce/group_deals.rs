//! Group deals (team purchase): a host sets a team price on a variant for a
//! window; a shopper starts a team or joins an open one, paying the team
//! price by an authorization that is not yet captured, and holding one unit
//! taken from the variant's stock. When the team is full every member's
//! authorization is captured and their orders are placed; when the window
//! closes first every authorization is voided and the units go back.
//!
//! Each step is committed before anyone hears of it, and the state machine
//! lives in the store (`group_teams.status`, `group_members.status`), so a
//! restart resumes it: full teams are captured again under the same gateway
//! keys (the provider charges once per key), lapsed teams are voided, and
//! an authorization the crash cut off is dropped with its unit (nothing was
//! captured on it; a retry with the same idempotency key starts afresh).

use super::engine::Engine;
use super::group_ledger::{self, DealRow, MemberRow, TeamRow};
use super::{CommerceError, CommerceEvent, PaymentError, Request};
use crate::ids::new_id;
use crate::store::StoreError;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::sync::oneshot;
use vitrine_shared::limits::group_deals::{
    MAX_OPEN_TEAMS, MAX_STOCK_CAP, MAX_WINDOW_MS, MIN_WINDOW_MS, TEAM_SIZE,
};
use vitrine_shared::{
    AccountId, DealId, DisplayName, Money, OrderId, PaymentMethod, ProductId, ShowId, Sku, TeamId,
};

/// How long a failed capture or void first waits before the engine tries
/// again; each further failure doubles it, up to [`MAX_BACKOFF`].
const RETRY: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Tries at capturing a full team before the provider's silence counts as
/// a refusal and the team is unwound (refunds and voids), so that nothing
/// stays held forever.
const MAX_CAPTURE_ATTEMPTS: u32 = 8;

/// What a host asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDealSpec {
    pub sku: Sku,
    /// Members a team needs: [`TEAM_SIZE`].
    pub team_size: i64,
    /// What each member pays: below the variant's price, above nothing.
    pub team_price: Money,
    /// How long teams may form.
    pub window: DealWindow,
    /// Units the deal may sell in all.
    pub stock_cap: i64,
}

/// How long a deal's teams may form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealWindow {
    /// From now, in seconds: one minute to 24 hours.
    Secs(u64),
    /// Until the show live now ends, and at most 24 hours: only while a
    /// show is live.
    UntilShowEnds,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamStatus {
    Open,
    /// Full: every authorization is being captured.
    Capturing,
    Complete,
    Voided,
    /// A capture was declined: the members charged are being refunded and
    /// the others voided.
    Failing,
    /// Unwound: nobody charged, the units back.
    Failed,
}

impl TeamStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TeamStatus::Open => "open",
            TeamStatus::Capturing => "capturing",
            TeamStatus::Complete => "complete",
            TeamStatus::Voided => "voided",
            TeamStatus::Failing => "failing",
            TeamStatus::Failed => "failed",
        }
    }

    pub(super) fn parse(s: &str) -> Option<TeamStatus> {
        Some(match s {
            "open" => TeamStatus::Open,
            "capturing" => TeamStatus::Capturing,
            "complete" => TeamStatus::Complete,
            "voided" => TeamStatus::Voided,
            "failing" => TeamStatus::Failing,
            "failed" => TeamStatus::Failed,
            _ => return None,
        })
    }
}

/// A team as others see it: how many have joined and how many places are
/// left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamInfo {
    pub id: TeamId,
    pub deal: DealId,
    pub status: TeamStatus,
    pub members: i64,
    pub places_left: i64,
    /// Who started it, as their display name reads (`None`: not known,
    /// an account the store does not have).
    pub started_by: Option<DisplayName>,
}

/// A deal with its open teams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDeal {
    pub id: DealId,
    pub product: ProductId,
    pub sku: Sku,
    pub team_size: i64,
    pub team_price: Money,
    pub regular_price: Money,
    pub stock_cap: i64,
    /// Units held by open teams plus units sold.
    pub taken: i64,
    pub sold: i64,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    /// The deal closes when this show ends (or at `ends_at_ms`, 24 h at
    /// most, whichever comes first).
    pub until_show_ends: Option<ShowId>,
    /// Teams still forming or being captured, oldest first.
    pub teams: Vec<TeamInfo>,
}

impl GroupDeal {
    pub fn units_left(&self) -> i64 {
        self.stock_cap - self.taken
    }

    pub fn is_open(&self, now_ms: i64) -> bool {
        now_ms >= self.starts_at_ms && now_ms < self.ends_at_ms
    }
}

/// Start a team on a deal, or join a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TeamTarget {
    Start(DealId),
    Join(TeamId),
}

/// A member's place in a team: their authorization is held; the order
/// (`order_id`) is placed when the team completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub team: TeamInfo,
    pub order_id: OrderId,
    pub price: Money,
}

pub(super) type JoinReply = oneshot::Sender<Result<Joined, CommerceError>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MemberStatus {
    Authorizing,
    Authorized,
    /// Charged, recorded as each capture succeeds.
    Captured,
}

#[derive(Debug, Clone)]
pub(super) struct Member {
    pub account: AccountId,
    pub order_id: OrderId,
    pub status: MemberStatus,
    pub payment_ref: Option<String>,
}

#[derive(Debug)]
pub(super) struct Team {
    pub id: TeamId,
    pub deal: DealId,
    pub status: TeamStatus,
    pub members: Vec<Member>,
    /// A capture or void task is out for this team.
    pub busy: bool,
    /// The next capture or void may start at this instant (after a failure).
    pub retry_at_ms: i64,
    /// Failed tries at settling since the last step forward (for backoff).
    pub attempts: u32,
    /// The starter's display name, for "started by Ada".
    pub started_by: Option<DisplayName>,
}

/// What a settling task does with each member's authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    /// A full team: capture each member not captured yet.
    Capture,
    /// A lapsed team: void each authorization.
    Void,
    /// A failing team: refund each captured member, void the others.
    Unwind,
}

/// The engine's group-deal state: every deal, the teams not yet settled,
/// and the idempotency keys of joins.
#[derive(Default)]
pub(super) struct GroupDeals {
    pub deals: HashMap<DealId, DealRow>,
    pub teams: BTreeMap<TeamId, Team>,
    /// (buyer, key) → (request hash, the member's order id).
    pub keys: HashMap<(AccountId, String), (u64, OrderId)>,
    /// Answers owed for authorizations under way, by the member's order id.
    pub replies: HashMap<OrderId, Vec<JoinReply>>,
    /// Deals whose end the rooms have heard of.
    pub ended: std::collections::HashSet<DealId>,
    /// How settled teams ended, so a late join reads "full" or "closed".
    pub settled: HashMap<TeamId, TeamStatus>,
    /// Authorizations given up on whose void the provider has not confirmed,
    /// by the member's order id; the sweep tries each until it is.
    pub voids: BTreeMap<OrderId, PendingVoid>,
    /// Members who left their team that way: a retry under their key is
    /// answered as the first was, and asks for no second hold.
    pub abandoned: std::collections::HashSet<OrderId>,
    /// The show live now as the engagement engine last said (`Some(None)`:
    /// none); `None` until it has said, when no deal may run "until the
    /// show ends" and none is closed for its show.
    pub live_show: Option<Option<ShowId>>,
}

/// A void recorded as pending (`group_void_pending`).
#[derive(Debug)]
pub(super) struct PendingVoid {
    pub amount: Money,
    /// Unknown when the authorization's answer was lost: asked again under
    /// the same key first.
    pub payment_ref: Option<String>,
    pub busy: bool,
    pub retry_at_ms: i64,
    pub attempts: u32,
}

impl GroupDeals {
    fn team_info(&self, team: &Team) -> TeamInfo {
        let size = self.deals.get(&team.deal).map_or(0, |d| d.team_size);
        let members = team.members.len() as i64;
        TeamInfo {
            id: team.id,
            deal: team.deal,
            status: team.status,
            members,
            places_left: (size - members).max(0),
            started_by: team.started_by.clone(),
        }
    }

    pub(super) fn view(&self, deal: DealId) -> Option<GroupDeal> {
        let row = self.deals.get(&deal)?;
        let teams = self
            .teams
            .values()
            .filter(|t| {
                t.deal == deal
                    && !t.members.is_empty()
                    && matches!(t.status, TeamStatus::Open | TeamStatus::Capturing)
            })
            .map(|t| self.team_info(t))
            .collect();
        Some(row.view(teams))
    }

    fn member(&self, order_id: OrderId) -> Option<(&Team, &Member)> {
        self.teams.values().find_map(|t| {
            t.members
                .iter()
                .find(|m| m.order_id == order_id)
                .map(|m| (t, m))
        })
    }
}

/// Loads every deal and the teams not yet settled. Authorizations a crash
/// cut off are dropped first (their units go back): nothing was captured
/// on them, and without the card they cannot be finished.
pub(super) async fn load(store: &crate::store::Store) -> Result<GroupDeals, StoreError> {
    let cut_off =
        group_ledger::abandon_interrupted(store, &group_ledger::deals(store).await?).await?;
    if cut_off > 0 {
        tracing::warn!(
            cut_off,
            "group deals: authorizations cut off by a restart leave their teams; their voids are pending"
        );
    }
    let mut groups = GroupDeals::default();
    for row in group_ledger::voids(store).await? {
        groups
            .keys
            .insert((row.account, row.key), (row.hash, row.order_id));
        groups.abandoned.insert(row.order_id);
        if row.pending {
            groups.voids.insert(
                row.order_id,
                PendingVoid {
                    amount: row.amount,
                    payment_ref: row.payment_ref,
                    busy: false,
                    retry_at_ms: 0,
                    attempts: 0,
                },
            );
        }
    }
    for deal in group_ledger::deals(store).await? {
        groups.deals.insert(deal.id, deal);
    }
    for TeamRow {
        id,
        deal,
        status,
        started_by,
    } in group_ledger::teams(store).await?
    {
        if matches!(
            status,
            TeamStatus::Complete | TeamStatus::Voided | TeamStatus::Failed
        ) {
            groups.settled.insert(id, status);
            continue;
        }
        groups.teams.insert(
            id,
            Team {
                id,
                deal,
                status,
                members: Vec::new(),
                busy: false,
                retry_at_ms: 0,
                attempts: 0,
                started_by,
            },
        );
    }
    for MemberRow {
        team,
        member,
        key,
        hash,
    } in group_ledger::members(store).await?
    {
        if let Some(key) = key {
            groups
                .keys
                .insert((member.account, key), (hash, member.order_id));
        }
        if let Some(t) = groups.teams.get_mut(&team) {
            t.members.push(member);
        }
    }
    Ok(groups)
}

impl Engine {
    pub(super) async fn create_group_deal(
        &mut self,
        by: AccountId,
        spec: GroupDealSpec,
    ) -> Result<GroupDeal, CommerceError> {
        let invalid = |why: String| Err(CommerceError::InvalidGroupDeal(why));
        if !TEAM_SIZE.contains(&spec.team_size) {
            return invalid(format!(
                "a team needs {} to {} members",
                TEAM_SIZE.start(),
                TEAM_SIZE.end()
            ));
        }
        let (window_ms, show) = match spec.window {
            DealWindow::Secs(secs) => {
                let window_ms = (secs as i64).saturating_mul(1000);
                if !(MIN_WINDOW_MS..=MAX_WINDOW_MS).contains(&window_ms) {
                    return invalid(format!(
                        "the window must be {} to {} seconds",
                        MIN_WINDOW_MS / 1000,
                        MAX_WINDOW_MS / 1000
                    ));
                }
                (window_ms, None)
            }
            // The show's end closes it; 24 h bounds it all the same, as a
            // show left running must not hold authorizations for days.
            DealWindow::UntilShowEnds => match self.groups.live_show {
                Some(Some(show)) => (MAX_WINDOW_MS, Some(show)),
                _ => return Err(CommerceError::NoShowLive),
            },
        };
        if !(1..=MAX_STOCK_CAP).contains(&spec.stock_cap) {
            return invalid(format!("the stock cap must be 1 to {MAX_STOCK_CAP} units"));
        }
        let (product, regular, _stock) = super::ledger::variant(&self.store, &spec.sku)
            .await
            .map_err(|e| {
                tracing::error!(%e, "group deal not created");
                CommerceError::Storage
            })?
            .ok_or(CommerceError::UnknownSku)?;
        if spec.team_price.currency != regular.currency {
            return invalid(format!(
                "the team price must be in the product's currency, {}",
                regular.currency
            ));
        }
        if spec.team_price.minor <= 0 || spec.team_price.minor >= regular.minor {
            return invalid(format!(
                "the team price must be above zero and below the regular price, {regular}, \
                 or a team buys nothing a shopper alone could not"
            ));
        }
        let now = self.clock.now_ms();
        let deal = DealRow {
            id: new_id(),
            product,
            sku: spec.sku,
            team_size: spec.team_size,
            team_price: spec.team_price,
            regular_price: regular,
            stock_cap: spec.stock_cap,
            taken: 0,
            sold: 0,
            starts_at_ms: now,
            ends_at_ms: now + window_ms,
            show,
        };
        group_ledger::insert_deal(&self.store, &deal, by)
            .await
            .map_err(|e| {
                tracing::error!(%e, "group deal not created");
                CommerceError::Storage
            })?;
        tracing::info!(deal = deal.id.get(), sku = %deal.sku, team_size = deal.team_size, price = %deal.team_price, until_show_ends = ?deal.show.map(|s| s.get()), "group deal set");
        let id = deal.id;
        self.groups.deals.insert(id, deal);
        let view = self
            .groups
            .view(id)
            .ok_or(CommerceError::UnknownGroupDeal)?;
        let _ = self
            .events
            .send(CommerceEvent::GroupDealChanged(view.clone()));
        Ok(view)
    }

    /// Deals whose window is open, for rooms and newcomers.
    pub(super) fn open_group_deals(&self) -> Vec<GroupDeal> {
        let now = self.clock.now_ms();
        let mut open: Vec<GroupDeal> = self
            .groups
            .deals
            .values()
            .filter(|d| now < d.ends_at_ms)
            .filter_map(|d| self.groups.view(d.id))
            .collect();
        open.sort_by_key(|d| d.id);
        open
    }

    /// Starts or joins a team: decides, commits the member with their unit,
    /// then asks the gateway for the authorization on a task of its own.
    pub(super) async fn join_team(
        &mut self,
        buyer: AccountId,
        target: TeamTarget,
        method: PaymentMethod,
        (key, hash): (String, u64),
        reply: JoinReply,
    ) {
        if let Some(&(seen, order_id)) = self.groups.keys.get(&(buyer, key.clone())) {
            if seen != hash {
                let _ = reply.send(Err(CommerceError::IdempotencyConflict));
                return;
            }
            self.replay_join(order_id, reply).await;
            return;
        }
        let decided = self.decide_join(buyer, target);
        let (deal, team_id, new_team) = match decided {
            Ok(d) => d,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let order_id: OrderId = new_id();
        let written = group_ledger::insert_member(
            &self.store,
            &deal,
            team_id,
            new_team,
            buyer,
            order_id,
            (&key, hash),
        )
        .await;
        match written {
            Ok(true) => {}
            Ok(false) => {
                let available = super::ledger::variant(&self.store, &deal.sku)
                    .await
                    .ok()
                    .flatten()
                    .map_or(0, |v| v.2);
                let _ = reply.send(Err(CommerceError::NotEnoughStock { available }));
                return;
            }
            Err(e) => {
                tracing::error!(%e, "team member not written; nothing changed");
                let _ = reply.send(Err(CommerceError::Storage));
                return;
            }
        }
        if let Some(d) = self.groups.deals.get_mut(&deal.id) {
            d.taken += 1;
        }
        // The starter's name, once per team: rooms show "started by Ada".
        let started_by = if new_team {
            group_ledger::display_name(&self.store, buyer)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(%e, "starter's name not read; the team shows none");
                    None
                })
        } else {
            None
        };
        let team = self.groups.teams.entry(team_id).or_insert_with(|| Team {
            id: team_id,
            deal: deal.id,
            status: TeamStatus::Open,
            members: Vec::new(),
            busy: false,
            retry_at_ms: 0,
            attempts: 0,
            started_by,
        });
        team.members.push(Member {
            account: buyer,
            order_id,
            status: MemberStatus::Authorizing,
            payment_ref: None,
        });
        self.groups.keys.insert((buyer, key), (hash, order_id));
        self.groups.replies.entry(order_id).or_default().push(reply);
        self.announce_deal(deal.id);
        let Some(inbox) = self.inbox.upgrade() else {
            return;
        };
        let (gateway, timeout) = (self.gateway.clone(), self.settings.payment_timeout);
        let price = deal.team_price;
        tokio::spawn(async move {
            let key = format!("group-authorize-{order_id}");
            let mut call = gateway.authorize(&key, price, method.as_str());
            let outcome = tokio::time::timeout(timeout, &mut call)
                .await
                .unwrap_or(Err(PaymentError::Timeout));
            let timed_out = outcome == Err(PaymentError::Timeout);
            let _ = inbox
                .send(Request::GroupAuthorized { order_id, outcome })
                .await;
            drop(inbox);
            if timed_out {
                // The member was let go; a hold the provider makes after
                // all (even after the engine's look-up by key found none)
                // is voided here, never kept.
                super::payments::void_late_hold(gateway.clone(), timeout, order_id, price, call)
                    .await;
            }
        });
    }

    /// The checks of a join, against the engine's state; nothing changes.
    fn decide_join(
        &self,
        buyer: AccountId,
        target: TeamTarget,
    ) -> Result<(DealRow, TeamId, bool), CommerceError> {
        let now = self.clock.now_ms();
        let (deal_id, team) = match target {
            TeamTarget::Start(deal) => (deal, None),
            TeamTarget::Join(team_id) => {
                match self.groups.settled.get(&team_id) {
                    Some(TeamStatus::Complete) => return Err(CommerceError::TeamFull),
                    Some(_) => return Err(CommerceError::GroupDealClosed),
                    None => {}
                }
                let team = self
                    .groups
                    .teams
                    .get(&team_id)
                    .filter(|t| !t.members.is_empty())
                    .ok_or(CommerceError::UnknownTeam)?;
                (team.deal, Some(team))
            }
        };
        let deal = self
            .groups
            .deals
            .get(&deal_id)
            .ok_or(CommerceError::UnknownGroupDeal)?;
        if !deal.is_open(now) {
            return Err(CommerceError::GroupDealClosed);
        }
        if let Some(team) = team {
            if team.members.iter().any(|m| m.account == buyer) {
                return Err(CommerceError::AlreadyInTeam);
            }
            if team.status != TeamStatus::Open || team.members.len() as i64 >= deal.team_size {
                return Err(CommerceError::TeamFull);
            }
        }
        // Each membership holds a unit and an authorization: one open team
        // per shopper per deal, and a bounded number of teams forming.
        let open: Vec<&Team> = self
            .groups
            .teams
            .values()
            .filter(|t| t.deal == deal_id && t.status == TeamStatus::Open && !t.members.is_empty())
            .collect();
        if open
            .iter()
            .any(|t| t.members.iter().any(|m| m.account == buyer))
        {
            return Err(CommerceError::AlreadyInOpenTeam);
        }
        if team.is_none() && open.len() >= MAX_OPEN_TEAMS {
            return Err(CommerceError::TooManyOpenTeams);
        }
        if deal.taken >= deal.stock_cap {
            return Err(CommerceError::GroupDealSoldOut);
        }
        let (team_id, new_team) = match team {
            Some(t) => (t.id, false),
            None => (new_id(), true),
        };
        Ok((deal.clone(), team_id, new_team))
    }

    /// The same join again: wait for its authorization, or answer where the
    /// member stands now.
    async fn replay_join(&mut self, order_id: OrderId, reply: JoinReply) {
        if let Some((team, member)) = self.groups.member(order_id) {
            if member.status == MemberStatus::Authorizing {
                self.groups.replies.entry(order_id).or_default().push(reply);
                return;
            }
            let answer = self.joined(team.id, order_id);
            let _ = reply.send(answer);
            return;
        }
        if self.groups.abandoned.contains(&order_id) {
            // Its authorization went unanswered; the same key asks again for
            // nothing (a new key starts afresh).
            let _ = reply.send(Err(CommerceError::PaymentTimeout));
            return;
        }
        // Settled since: the team completed or was voided.
        let answer = match group_ledger::settled_member(&self.store, order_id).await {
            Ok(Some((team, deal, status, members))) => {
                let price = self.groups.deals.get(&deal).map(|d| d.team_price);
                match price {
                    Some(price) => Ok(Joined {
                        team: TeamInfo {
                            id: team,
                            deal,
                            status,
                            members,
                            places_left: 0,
                            started_by: None,
                        },
                        order_id,
                        price,
                    }),
                    None => Err(CommerceError::UnknownGroupDeal),
                }
            }
            Ok(None) => Err(CommerceError::UnknownTeam),
            Err(_) => Err(CommerceError::Storage),
        };
        let _ = reply.send(answer);
    }

    fn joined(&self, team: TeamId, order_id: OrderId) -> Result<Joined, CommerceError> {
        let team = self
            .groups
            .teams
            .get(&team)
            .ok_or(CommerceError::UnknownTeam)?;
        let price = self
            .groups
            .deals
            .get(&team.deal)
            .map(|d| d.team_price)
            .ok_or(CommerceError::UnknownGroupDeal)?;
        Ok(Joined {
            team: self.groups.team_info(team),
            order_id,
            price,
        })
    }

    /// The gateway answered a member's authorization: held (and, when it
    /// fills the team, the captures start), or refused (the member leaves,
    /// their unit goes back, the team stays open for others).
    pub(super) async fn group_authorized(
        &mut self,
        order_id: OrderId,
        outcome: Result<String, PaymentError>,
    ) {
        let replies = self.groups.replies.remove(&order_id).unwrap_or_default();
        let answer = self.record_authorization(order_id, outcome).await;
        for reply in replies {
            let _ = reply.send(answer.clone());
        }
    }

    async fn record_authorization(
        &mut self,
        order_id: OrderId,
        outcome: Result<String, PaymentError>,
    ) -> Result<Joined, CommerceError> {
        let Some((team_id, deal_id, size)) = self.groups.member(order_id).map(|(t, _)| {
            let size = self.groups.deals.get(&t.deal).map_or(0, |d| d.team_size);
            (t.id, t.deal, size)
        }) else {
            return Err(CommerceError::UnknownTeam);
        };
        let storage = |e: StoreError| {
            tracing::error!(%e, order_id = order_id.get(), "authorization not recorded");
            CommerceError::Storage
        };
        match outcome {
            Ok(authorization) => {
                let team = self.groups.teams.get(&team_id).expect("found above");
                let others_held = team
                    .members
                    .iter()
                    .filter(|m| m.order_id != order_id)
                    .all(|m| m.status == MemberStatus::Authorized);
                let full = others_held && team.members.len() as i64 == size;
                let marked = group_ledger::mark_authorized(
                    &self.store,
                    team_id,
                    order_id,
                    &authorization,
                    full,
                )
                .await;
                if let Err(e) = marked {
                    // Not recorded: release the hold and the place, so that
                    // nothing is held that the store does not know of.
                    let error = storage(e);
                    self.abandon_member(team_id, deal_id, order_id, Some(authorization))
                        .await;
                    return Err(error);
                }
                let team = self.groups.teams.get_mut(&team_id).expect("found above");
                if let Some(m) = team.members.iter_mut().find(|m| m.order_id == order_id) {
                    m.status = MemberStatus::Authorized;
                    m.payment_ref = Some(authorization);
                }
                if full {
                    team.status = TeamStatus::Capturing;
                    tracing::info!(team = team_id.get(), "team full; capturing");
                }
                let joined = self.joined(team_id, order_id);
                self.announce_deal(deal_id);
                if full {
                    self.settle(team_id);
                }
                joined
            }
            Err(failure) => {
                if matches!(failure, PaymentError::Declined { .. }) {
                    // Refused: nothing is held, and a retry under the same
                    // key may try another card.
                    self.drop_member(team_id, deal_id, order_id).await;
                } else {
                    // No answer: the provider may hold money all the same.
                    self.abandon_member(team_id, deal_id, order_id, None).await;
                }
                tracing::info!(order_id = order_id.get(), %failure, "team authorization refused; member not added");
                Err(match failure {
                    PaymentError::Declined { reason } => CommerceError::PaymentDeclined { reason },
                    PaymentError::Timeout | PaymentError::Unavailable(_) => {
                        CommerceError::PaymentTimeout
                    }
                })
            }
        }
    }

    /// A member leaves before their place was held: their unit goes back,
    /// the team stays open for others (or is voided, left empty), and a
    /// retry with the same key tries again (another card, say). Should the
    /// store fail here, the member is dropped from memory all the same: the
    /// store still says `authorizing`, which the next start drops.
    async fn drop_member(&mut self, team_id: TeamId, deal_id: DealId, order_id: OrderId) {
        let emptied = self
            .groups
            .teams
            .get(&team_id)
            .is_some_and(|t| t.members.len() == 1);
        let Some(sku) = self.groups.deals.get(&deal_id).map(|d| d.sku.clone()) else {
            return;
        };
        let removed =
            group_ledger::remove_member(&self.store, team_id, order_id, &sku, deal_id, emptied)
                .await;
        if let Err(e) = removed {
            tracing::error!(%e, order_id = order_id.get(), "team member not removed; the next start drops it");
        }
        if let Some(d) = self.groups.deals.get_mut(&deal_id) {
            d.taken -= 1;
        }
        if let Some(team) = self.groups.teams.get_mut(&team_id) {
            team.members.retain(|m| m.order_id != order_id);
        }
        self.groups.keys.retain(|_, (_, o)| *o != order_id);
        if emptied {
            self.groups.teams.remove(&team_id);
            self.groups.settled.insert(team_id, TeamStatus::Voided);
        }
        self.announce_deal(deal_id);
    }

    /// A member whose authorization may hold money the engine will not use
    /// leaves the team (their unit back); the void is recorded as pending
    /// and tried by the sweep until the provider confirms it. Should the
    /// store fail, the row still says `authorizing`, which the next start
    /// turns into a pending void; this run tries the void all the same.
    async fn abandon_member(
        &mut self,
        team_id: TeamId,
        deal_id: DealId,
        order_id: OrderId,
        payment_ref: Option<String>,
    ) {
        let emptied = self
            .groups
            .teams
            .get(&team_id)
            .is_some_and(|t| t.members.len() == 1);
        let Some(deal) = self.groups.deals.get(&deal_id).cloned() else {
            return;
        };
        let written = group_ledger::abandon_member(
            &self.store,
            team_id,
            order_id,
            &deal,
            emptied,
            payment_ref.as_deref(),
        )
        .await;
        if let Err(e) = written {
            tracing::error!(%e, order_id = order_id.get(), "pending void not recorded; the next start records it");
        }
        if let Some(d) = self.groups.deals.get_mut(&deal_id) {
            d.taken -= 1;
        }
        if let Some(team) = self.groups.teams.get_mut(&team_id) {
            team.members.retain(|m| m.order_id != order_id);
        }
        if emptied {
            self.groups.teams.remove(&team_id);
            self.groups.settled.insert(team_id, TeamStatus::Voided);
        }
        self.groups.abandoned.insert(order_id);
        self.groups.voids.insert(
            order_id,
            PendingVoid {
                amount: deal.team_price,
                payment_ref,
                busy: false,
                retry_at_ms: 0,
                attempts: 0,
            },
        );
        self.release_hold(order_id);
        self.announce_deal(deal_id);
    }

    /// Tries a pending void on a task of its own: when the authorization is
    /// unknown it is asked again under its key first (the provider answers
    /// the hold it made, or refuses: then nothing is held). Reports back as
    /// `GroupVoidTried`.
    fn release_hold(&mut self, order_id: OrderId) {
        let Some(inbox) = self.inbox.upgrade() else {
            return;
        };
        let Some(pending) = self.groups.voids.get_mut(&order_id) else {
            return;
        };
        if pending.busy {
            return;
        }
        pending.busy = true;
        let (amount, known) = (pending.amount, pending.payment_ref.clone());
        let void_key =
            super::payments::give_back_key(&format!("group-void-{order_id}"), pending.attempts);
        let (gateway, timeout) = (self.gateway.clone(), self.settings.payment_timeout);
        tokio::spawn(async move {
            let outcome = async {
                let authorization = match known {
                    Some(a) => a,
                    None => {
                        let key = format!("group-authorize-{order_id}");
                        // No card: the key alone finds the hold, if any.
                        let asked =
                            tokio::time::timeout(timeout, gateway.authorize(&key, amount, ""))
                                .await
                                .unwrap_or(Err(PaymentError::Timeout));
                        match asked {
                            Ok(a) => a,
                            Err(PaymentError::Declined { .. }) => return Ok(()),
                            Err(e) => return Err(e),
                        }
                    }
                };
                within(timeout, gateway.void(&void_key, &authorization)).await
            }
            .await;
            let _ = inbox
                .send(Request::GroupVoidTried { order_id, outcome })
                .await;
        });
    }

    /// A pending void's answer: done (recorded), or tried again later,
    /// waiting longer each time, until the provider confirms it.
    pub(super) async fn group_void_tried(
        &mut self,
        order_id: OrderId,
        outcome: Result<(), PaymentError>,
    ) {
        let now = self.clock.now_ms();
        let Some(pending) = self.groups.voids.get_mut(&order_id) else {
            return;
        };
        pending.busy = false;
        let failed = match outcome {
            Ok(()) => match group_ledger::void_done(&self.store, order_id).await {
                Ok(()) => None,
                Err(e) => Some(e.to_string()),
            },
            Err(e) => Some(e.to_string()),
        };
        match failed {
            None => {
                self.groups.voids.remove(&order_id);
                tracing::info!(order_id = order_id.get(), "unused authorization voided");
            }
            Some(e) => {
                pending.attempts += 1;
                let backoff = RETRY
                    .saturating_mul(1 << pending.attempts.min(16))
                    .min(MAX_BACKOFF);
                pending.retry_at_ms = now + backoff.as_millis() as i64;
                tracing::warn!(order_id = order_id.get(), %e, attempts = pending.attempts, "unused authorization not voided; trying again");
            }
        }
    }

    /// Starts capturing (a full team), voiding (a lapsed one) or unwinding
    /// (a failing one) every member's authorization, on a task of its own;
    /// each gateway call has its own timeout, each capture is reported as it
    /// succeeds (`GroupMemberCaptured`, recorded at once), and the task ends
    /// with `GroupSettled`. The keys come from each member's order id, so a
    /// second attempt (after a failure or a restart) charges, voids or
    /// refunds once.
    fn settle(&mut self, team_id: TeamId) {
        let Some(team) = self.groups.teams.get_mut(&team_id) else {
            return;
        };
        if team.busy {
            return;
        }
        let Some(inbox) = self.inbox.upgrade() else {
            return;
        };
        let Some(price) = self.groups.deals.get(&team.deal).map(|d| d.team_price) else {
            return;
        };
        let mode = match team.status {
            TeamStatus::Capturing => Settle::Capture,
            TeamStatus::Failing => Settle::Unwind,
            _ => Settle::Void,
        };
        team.busy = true;
        let held: Vec<(OrderId, String, bool)> = team
            .members
            .iter()
            .filter_map(|m| {
                let captured = m.status == MemberStatus::Captured;
                m.payment_ref.clone().map(|a| (m.order_id, a, captured))
            })
            .collect();
        let (gateway, timeout) = (self.gateway.clone(), self.settings.payment_timeout);
        // Voids and refunds tried again after a failure go under fresh keys
        // (a saved 500 would answer the old one for a day); captures keep
        // theirs.
        let failed = team.attempts;
        let give_back_key = move |kind: &str, order_id: &OrderId| {
            super::payments::give_back_key(&format!("group-{kind}-{order_id}"), failed)
        };
        tokio::spawn(async move {
            let mut outcome = Ok(());
            for (order_id, authorization, captured) in &held {
                let step = match (mode, captured) {
                    (Settle::Capture, true) => continue,
                    (Settle::Capture, false) => {
                        let key = format!("group-capture-{order_id}");
                        let done = within(timeout, gateway.capture(&key, authorization)).await;
                        if done.is_ok() {
                            let _ = inbox
                                .send(Request::GroupMemberCaptured {
                                    team: team_id,
                                    order_id: *order_id,
                                })
                                .await;
                        }
                        done
                    }
                    (Settle::Unwind, true) => {
                        let key = give_back_key("refund", order_id);
                        within(timeout, gateway.refund(&key, authorization, price)).await
                    }
                    (Settle::Unwind, false) => {
                        let key = give_back_key("void", order_id);
                        match within(timeout, gateway.void(&key, authorization)).await {
                            // Captured at the provider after all (a capture
                            // whose answer was lost): give the money back.
                            Err(PaymentError::Declined { .. }) => {
                                let key = give_back_key("refund", order_id);
                                within(timeout, gateway.refund(&key, authorization, price)).await
                            }
                            done => done,
                        }
                    }
                    (Settle::Void, _) => {
                        let key = give_back_key("void", order_id);
                        within(timeout, gateway.void(&key, authorization)).await
                    }
                };
                if let Err(e) = step {
                    outcome = Err(e);
                    break;
                }
            }
            let _ = inbox
                .send(Request::GroupSettled {
                    team: team_id,
                    mode,
                    outcome,
                })
                .await;
        });
    }

    /// A member's capture went through: recorded now, so a retry or a
    /// restart skips it, and an unwinding refunds it. Should the store fail,
    /// the next try captures again under the same key (charged once).
    pub(super) async fn group_member_captured(&mut self, team_id: TeamId, order_id: OrderId) {
        if let Err(e) = group_ledger::mark_captured(&self.store, order_id).await {
            tracing::error!(%e, order_id = order_id.get(), "member capture not recorded; the next try captures again under its key");
            return;
        }
        if let Some(m) = self
            .groups
            .teams
            .get_mut(&team_id)
            .and_then(|t| t.members.iter_mut().find(|m| m.order_id == order_id))
        {
            m.status = MemberStatus::Captured;
        }
    }

    /// Records a team's captures (orders placed, paid), voids (units back)
    /// or unwinding (refunds and voids, units back), in one transaction.
    /// A capture declined turns the team to failing; any other failure
    /// tries again later, waiting longer each time.
    pub(super) async fn group_settled(
        &mut self,
        team_id: TeamId,
        mode: Settle,
        outcome: Result<(), PaymentError>,
    ) {
        let now = self.clock.now_ms();
        let Some(team) = self.groups.teams.get_mut(&team_id) else {
            return;
        };
        team.busy = false;
        if let Err(e) = outcome {
            team.attempts += 1;
            let attempts = team.attempts;
            let gave_up = mode == Settle::Capture
                && (matches!(e, PaymentError::Declined { .. }) || attempts >= MAX_CAPTURE_ATTEMPTS);
            if gave_up {
                tracing::warn!(team = team_id.get(), %e, attempts, "team capture refused; refunding and voiding");
                self.begin_failing(team_id).await;
                return;
            }
            let backoff = RETRY.saturating_mul(1 << attempts.min(16)).min(MAX_BACKOFF);
            team.retry_at_ms = now + backoff.as_millis() as i64;
            tracing::warn!(team = team_id.get(), ?mode, %e, attempts, retry_in_ms = backoff.as_millis() as u64, "team not settled; trying again");
            return;
        }
        let deal = self.groups.deals[&team.deal].clone();
        let members: Vec<Member> = team.members.clone();
        let written = match mode {
            Settle::Capture => group_ledger::complete_team(&self.store, &deal, team_id).await,
            Settle::Void => group_ledger::void_team(&self.store, &deal, team_id).await,
            Settle::Unwind => group_ledger::fail_team(&self.store, &deal, team_id).await,
        };
        let n = match written {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(%e, team = team_id.get(), "team outcome not recorded; trying again");
                if let Some(team) = self.groups.teams.get_mut(&team_id) {
                    team.retry_at_ms = now + RETRY.as_millis() as i64;
                }
                return;
            }
        };
        self.groups.teams.remove(&team_id);
        let outcome = match mode {
            Settle::Capture => TeamStatus::Complete,
            Settle::Void => TeamStatus::Voided,
            Settle::Unwind => TeamStatus::Failed,
        };
        self.groups.settled.insert(team_id, outcome);
        if let Some(d) = self.groups.deals.get_mut(&deal.id) {
            if mode == Settle::Capture {
                d.sold += n;
            } else {
                d.taken -= n;
            }
        }
        match mode {
            Settle::Capture => {
                tracing::info!(
                    team = team_id.get(),
                    members = n,
                    "team complete; orders placed"
                );
                for m in &members {
                    self.announce_order(m.account, m.order_id).await;
                }
                let _ = self.events.send(CommerceEvent::TeamCompleted {
                    deal: deal.id,
                    team: team_id,
                    members: members.iter().map(|m| (m.account, m.order_id)).collect(),
                });
            }
            Settle::Void => {
                tracing::info!(
                    team = team_id.get(),
                    members = n,
                    "team lapsed; authorizations voided, units back"
                );
                let _ = self.events.send(CommerceEvent::TeamVoided {
                    deal: deal.id,
                    team: team_id,
                    members: members.iter().map(|m| m.account).collect(),
                });
            }
            Settle::Unwind => {
                tracing::info!(
                    team = team_id.get(),
                    members = n,
                    "team failed; captures refunded, authorizations voided, units back"
                );
                let _ = self.events.send(CommerceEvent::TeamFailed {
                    deal: deal.id,
                    team: team_id,
                    members: members.iter().map(|m| m.account).collect(),
                });
            }
        }
        self.announce_deal(deal.id);
    }

    /// A capture was refused for good: the team turns to failing (in the
    /// store first, so a restart goes on unwinding it) and the unwinding
    /// starts. Should the store fail, the team stays capturing and the next
    /// try meets the same refusal.
    async fn begin_failing(&mut self, team_id: TeamId) {
        let now = self.clock.now_ms();
        if let Err(e) = group_ledger::mark_failing(&self.store, team_id).await {
            tracing::error!(%e, team = team_id.get(), "failing team not recorded; trying again");
            if let Some(team) = self.groups.teams.get_mut(&team_id) {
                team.retry_at_ms = now + RETRY.as_millis() as i64;
            }
            return;
        }
        let Some(team) = self.groups.teams.get_mut(&team_id) else {
            return;
        };
        team.status = TeamStatus::Failing;
        team.attempts = 0;
        team.retry_at_ms = 0;
        let deal = team.deal;
        self.settle(team_id);
        self.announce_deal(deal);
    }

    /// The engagement engine says which show is live now (at its start, and
    /// whenever a show goes live or ends). Every deal "until the show ends"
    /// of another show closes now: its end is brought forward (in the store
    /// first), so the sweep voids its open teams (nobody charged, units
    /// back) exactly as a lapsed window's, while full teams are captured as
    /// ever. At start-up this closes the deals whose show ended while the
    /// server was down.
    pub(super) async fn show_live(&mut self, live: Option<ShowId>) {
        self.groups.live_show = Some(live);
        let now = self.clock.now_ms();
        let ending: Vec<DealId> = self
            .groups
            .deals
            .values()
            .filter(|d| d.show.is_some_and(|s| Some(s) != live) && now < d.ends_at_ms)
            .map(|d| d.id)
            .collect();
        for deal in ending {
            if let Err(e) = group_ledger::close_deal(&self.store, deal, now).await {
                // Left open, the deal still closes at its 24 h end; the
                // next word from engagement (a restart's) tries again.
                tracing::error!(%e, deal = deal.get(), "deal of an ended show not closed");
                continue;
            }
            if let Some(d) = self.groups.deals.get_mut(&deal) {
                d.ends_at_ms = now;
            }
            tracing::info!(deal = deal.get(), "the show ended; the group deal closes");
        }
    }

    /// The clock's part: full teams are captured (again, after a failure or
    /// a restart), lapsed teams voided, and ended deals announced.
    pub(super) fn sweep_group_deals(&mut self, now: i64) {
        let mut due = Vec::new();
        for team in self.groups.teams.values_mut() {
            if team.busy || team.retry_at_ms > now {
                continue;
            }
            let Some(deal) = self.groups.deals.get(&team.deal) else {
                continue;
            };
            let settling = match team.status {
                TeamStatus::Capturing | TeamStatus::Failing => true,
                // Wait for authorizations under way: their answer decides.
                TeamStatus::Open => {
                    now >= deal.ends_at_ms
                        && team
                            .members
                            .iter()
                            .all(|m| m.status == MemberStatus::Authorized)
                }
                TeamStatus::Complete | TeamStatus::Voided | TeamStatus::Failed => false,
            };
            if settling {
                due.push(team.id);
            }
        }
        for team in due {
            self.settle(team);
        }
        let voids: Vec<OrderId> = self
            .groups
            .voids
            .iter()
            .filter(|(_, v)| !v.busy && v.retry_at_ms <= now)
            .map(|(o, _)| *o)
            .collect();
        for order_id in voids {
            self.release_hold(order_id);
        }
        let ended: Vec<DealId> = self
            .groups
            .deals
            .values()
            .filter(|d| now >= d.ends_at_ms && !self.groups.ended.contains(&d.id))
            .map(|d| d.id)
            .collect();
        for deal in ended {
            self.groups.ended.insert(deal);
            let _ = self.events.send(CommerceEvent::GroupDealEnded { deal });
        }
    }

    /// Tells every room of the deal as it now stands; an ended deal's
    /// rooms were told it ended, and teams settling after that change
    /// nothing they show.
    fn announce_deal(&self, deal: DealId) {
        if self.groups.ended.contains(&deal) {
            return;
        }
        if let Some(view) = self.groups.view(deal) {
            let _ = self.events.send(CommerceEvent::GroupDealChanged(view));
        }
    }
}

/// One gateway call under its own timeout: a silent provider reads as a
/// timeout, which is tried again.
async fn within(
    timeout: Duration,
    call: impl std::future::Future<Output = Result<(), PaymentError>>,
) -> Result<(), PaymentError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(PaymentError::Timeout))
}

impl DealRow {
    pub(super) fn view(&self, teams: Vec<TeamInfo>) -> GroupDeal {
        GroupDeal {
            id: self.id,
            product: self.product.clone(),
            sku: self.sku.clone(),
            team_size: self.team_size,
            team_price: self.team_price,
            regular_price: self.regular_price,
            stock_cap: self.stock_cap,
            taken: self.taken,
            sold: self.sold,
            starts_at_ms: self.starts_at_ms,
            ends_at_ms: self.ends_at_ms,
            until_show_ends: self.show,
            teams,
        }
    }

    pub(super) fn is_open(&self, now: i64) -> bool {
        now >= self.starts_at_ms && now < self.ends_at_ms
    }
}
