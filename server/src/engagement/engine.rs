//! The engagement task: loads its state, then decides requests one at a
//! time, each committed before it is answered, and runs the clock that
//! closes polls and draws giveaways.

use super::giveaways::{self, GiveawayState};
use super::points::{self, Ledger};
use super::polls::{self, PollState};
use super::questions::{self, QuestionState};
use super::{EngagementError, EngagementEvent, EngagementHandle, OpenState, Request, Scope, Show};
use crate::clock::Clock;
use crate::commerce::{CommerceEvent, CommerceHandle};
use crate::engagement::rules::{GrantKind, RewardRules};
use crate::store::{Store, StoreError};
use crate::telemetry::ENGAGEMENT_BATCH;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};
use tracing::Instrument;
use vitrine_shared::{AccountId, DisplayName};
use vitrine_shared::{GiveawayId, PollId, QuestionId};

/// How often the engine looks at the clock: polls close and giveaways draw
/// within this of their time.
const CLOCK_EVERY: Duration = Duration::from_millis(250);
/// The leaderboard goes to the rooms at most this often, when it changed.
const LEADERBOARD_EVERY_MS: i64 = 2_000;
/// Leaders shown.
pub(super) const TOP: usize = 10;

pub(super) struct Engine {
    pub store: Store,
    /// Polls close, giveaways draw and rows are stamped by this clock.
    pub clock: Clock,
    pub rules: Arc<RewardRules>,
    pub events: broadcast::Sender<EngagementEvent>,
    pub commerce: CommerceHandle,
    pub show: Option<Show>,
    pub ledgers: HashMap<AccountId, Ledger>,
    pub names: HashMap<AccountId, DisplayName>,
    pub polls: BTreeMap<PollId, PollState>,
    pub questions: BTreeMap<QuestionId, QuestionState>,
    pub giveaways: BTreeMap<GiveawayId, GiveawayState>,
    pub leaderboard_dirty: bool,
    last_leaderboard_ms: i64,
    /// Accounts whose inviter is settled (credited, or nobody to credit),
    /// so a watch minute does not ask the store again.
    pub invites_settled: HashSet<AccountId>,
}

pub(super) fn storage(e: StoreError) -> EngagementError {
    tracing::error!(%e, "engagement store failed");
    EngagementError::Storage
}

/// Loads shows, points, polls, questions and giveaways from the store and
/// starts the engine on this runtime. The store stamps its rows by `clock`
/// too, so deadlines and timestamps agree.
pub async fn spawn(
    store: Store,
    clock: Clock,
    rules: RewardRules,
    commerce: CommerceHandle,
) -> Result<EngagementHandle, StoreError> {
    let store = store.with_clock(clock.clone());
    let now = clock.now_ms();
    let show = super::shows::load_live(&store).await?;
    // Commerce hears which show is live before anything else from here: a
    // deal "until the show ends" whose show ended while the server was
    // down closes now.
    commerce.show_live(show.as_ref().map(|s| s.id)).await;
    let ledgers = points::load(&store, show.as_ref().map(|s| s.id), now).await?;
    let (requests, rx) = mpsc::channel(16 * 1024);
    let (events, _) = broadcast::channel(4096);
    let engine = Engine {
        polls: polls::load(&store, now).await?,
        questions: questions::load(&store).await?,
        giveaways: giveaways::load(&store).await?,
        store,
        clock,
        rules: Arc::new(rules),
        events: events.clone(),
        commerce: commerce.clone(),
        show,
        ledgers,
        names: HashMap::new(),
        leaderboard_dirty: true,
        last_leaderboard_ms: now,
        invites_settled: HashSet::new(),
    };
    tokio::spawn(engine.run(rx, commerce.subscribe()));
    Ok(EngagementHandle { requests, events })
}

/// The span of one decision. The engine decides one request at a time and
/// commits it before answering, so a batch is one request and its commit
/// time is the time to decide and commit it.
fn batch_span(kind: &'static str) -> tracing::Span {
    tracing::info_span!(
        ENGAGEMENT_BATCH,
        kind,
        size = 1usize,
        commit_ms = tracing::field::Empty
    )
}

fn batch_done(span: &tracing::Span, started: Instant) {
    span.record("commit_ms", started.elapsed().as_secs_f64() * 1000.0);
    span.in_scope(|| tracing::debug!("batch committed"));
}

/// What a request is, for its span.
fn request_kind(request: &Request) -> &'static str {
    match request {
        Request::CreateShow { .. } => "create_show",
        Request::GoLive { .. } => "go_live",
        Request::Shows { .. } => "shows",
        Request::Feature { .. } => "feature",
        Request::EndShow { .. } => "end_show",
        Request::CurrentShow { .. } => "current_show",
        Request::Grant { .. } => "grant",
        Request::Inspect { .. } => "inspect",
        Request::ProductSeen { .. } => "product_seen",
        Request::Invite { .. } => "invite",
        Request::CreatePoll { .. } => "create_poll",
        Request::Vote { .. } => "vote",
        Request::Poll { .. } => "poll",
        Request::Ask { .. } => "ask",
        Request::Upvote { .. } => "upvote",
        Request::Answered { .. } => "answered",
        Request::Questions { .. } => "questions",
        Request::CreateGiveaway { .. } => "create_giveaway",
        Request::Enter { .. } => "enter",
        Request::Giveaway { .. } => "giveaway",
        Request::ClaimPrize { .. } => "claim_prize",
        Request::Rewards { .. } => "rewards",
        Request::Redeem { .. } => "redeem",
        Request::Leaderboard { .. } => "leaderboard",
        Request::OpenState { .. } => "open_state",
        Request::ProductOnSale { .. } => "product_on_sale",
        Request::DrawNow { .. } => "draw_now",
    }
}

impl Engine {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Request>,
        mut commerce: broadcast::Receiver<CommerceEvent>,
    ) {
        let mut clock = tokio::time::interval(CLOCK_EVERY);
        clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                request = rx.recv() => {
                    let Some(request) = request else { break };
                    let span = batch_span(request_kind(&request));
                    let started = Instant::now();
                    self.handle(request).instrument(span.clone()).await;
                    batch_done(&span, started);
                }
                news = commerce.recv() => match news {
                    // A paid order earns purchase points, once per order, and
                    // a first one earns the friend who invited the buyer.
                    Ok(CommerceEvent::OrderChanged { buyer, order }) if order.status == "paid" => {
                        let span = batch_span("purchase_points");
                        let started = Instant::now();
                        let _ = self
                            .grant(buyer, GrantKind::Purchase, order.id.to_string())
                            .instrument(span.clone())
                            .await;
                        self.credit_inviter(buyer).instrument(span.clone()).await;
                        batch_done(&span, started);
                    }
                    // A team completed: team points, if the rule allows.
                    Ok(CommerceEvent::TeamCompleted { team, members, .. }) => {
                        let span = batch_span("team_points");
                        let started = Instant::now();
                        let members = members.into_iter().map(|(account, _)| account).collect();
                        self.team_completed(team, members)
                            .instrument(span.clone())
                            .await;
                        batch_done(&span, started);
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "engagement missed commerce news");
                    }
                    // The commerce engine is gone: keep serving the rest.
                    Err(RecvError::Closed) => commerce = broadcast::channel(1).1,
                },
                _ = clock.tick() => self.on_clock().await,
            }
        }
    }

    async fn handle(&mut self, request: Request) {
        match request {
            Request::CreateShow {
                by,
                title,
                scheduled_at_ms,
                lineup,
                reply,
            } => {
                let _ = reply.send(self.create_show(by, title, scheduled_at_ms, lineup).await);
            }
            Request::GoLive { show_id, reply } => {
                let _ = reply.send(self.go_live(show_id).await);
            }
            Request::Shows { reply } => {
                let _ = reply.send(self.list_shows().await);
            }
            Request::Feature { products, reply } => {
                let _ = reply.send(self.feature(products).await);
            }
            Request::EndShow { reply } => {
                let _ = reply.send(self.end_show().await);
            }
            Request::CurrentShow { reply } => {
                let _ = reply.send(Ok(self.show.clone()));
            }
            Request::Grant {
                account,
                kind,
                reference,
                reply,
            } => {
                let granted = self.grant(account, kind, reference).await;
                // A minute watched actively is what a real person does: the
                // friend who invited them earns now (a self-made guest that
                // never watches or buys earns its inviter nothing).
                if kind == GrantKind::Watch && matches!(granted, Ok(Some(_))) {
                    self.credit_inviter(account).await;
                }
                if let Some(reply) = reply {
                    let _ = reply.send(granted);
                }
            }
            Request::Inspect {
                account,
                product,
                reply,
            } => {
                let _ = reply.send(self.inspect(account, product).await);
            }
            Request::ProductSeen { product, held_ms } => {
                // Only products on sale; a held time is at most 10 minutes.
                let exists: Option<String> = sqlx::query_scalar(
                    "SELECT id FROM products WHERE id = $1 AND archived_at IS NULL",
                )
                .bind(product.as_str())
                .fetch_optional(self.store.pool())
                .await
                .ok()
                .flatten();
                if exists.is_some() {
                    let held_ms = held_ms.map(|ms| ms.min(600_000));
                    let _ = self
                        .events
                        .send(EngagementEvent::ProductSeen { product, held_ms });
                }
            }
            Request::Invite { account, reply } => {
                let _ = reply.send(self.invite(account).await);
            }
            Request::CreatePoll {
                by,
                question,
                options,
                duration_secs,
                reply,
            } => {
                let _ = reply.send(self.create_poll(by, question, options, duration_secs).await);
            }
            Request::Vote {
                account,
                poll_id,
                option,
                reply,
            } => {
                let _ = reply.send(self.vote(account, poll_id, option).await);
            }
            Request::Poll { poll_id, reply } => {
                let poll = self
                    .polls
                    .get(&poll_id)
                    .map(|p| p.view(self.clock.now_ms()));
                let _ = reply.send(poll.ok_or(EngagementError::UnknownPoll));
            }
            Request::Ask {
                account,
                name,
                text,
                reply,
            } => {
                let _ = reply.send(self.ask(account, name, text).await);
            }
            Request::Upvote {
                account,
                question_id,
                reply,
            } => {
                let _ = reply.send(self.upvote(account, question_id).await);
            }
            Request::Answered { question_id, reply } => {
                let _ = reply.send(self.answered(question_id).await);
            }
            Request::Questions { reply } => {
                let _ = reply.send(Ok(self.question_list()));
            }
            Request::CreateGiveaway {
                by,
                prize,
                rule,
                closes_in_secs,
                reply,
            } => {
                let made = self.create_giveaway(by, prize, rule, closes_in_secs).await;
                let _ = reply.send(made);
            }
            Request::Enter {
                account,
                giveaway_id,
                reply,
            } => {
                let _ = reply.send(self.enter(account, giveaway_id).await);
            }
            Request::Giveaway { giveaway_id, reply } => {
                let _ = reply.send(self.giveaway_view(giveaway_id).await);
            }
            Request::DrawNow { giveaway_id, reply } => {
                let _ = reply.send(self.draw_now(giveaway_id).await);
            }
            Request::ClaimPrize {
                account,
                giveaway_id,
                reply,
            } => {
                let _ = reply.send(self.claim_prize(account, giveaway_id).await);
            }
            Request::Rewards { account, reply } => {
                let _ = reply.send(self.rewards(account).await);
            }
            Request::Redeem {
                account,
                reward,
                reply,
            } => {
                let _ = reply.send(self.redeem(account, reward).await);
            }
            Request::Leaderboard { scope, reply } => {
                let _ = reply.send(self.leaders(scope).await);
            }
            Request::OpenState { reply } => {
                let _ = reply.send(self.open_state().await);
            }
            Request::ProductOnSale { product, reply } => {
                let exists: Result<Option<String>, _> = sqlx::query_scalar(
                    "SELECT id FROM products WHERE id = $1 AND archived_at IS NULL",
                )
                .bind(product.as_str())
                .fetch_optional(self.store.pool())
                .await;
                let _ = reply.send(
                    exists
                        .map(|found| found.is_some())
                        .map_err(|e| storage(e.into())),
                );
            }
        }
    }

    /// Display names, from memory or the store.
    pub(super) async fn name_of(&mut self, account: AccountId) -> DisplayName {
        if let Some(name) = self.names.get(&account) {
            return name.clone();
        }
        let found: Option<String> =
            sqlx::query_scalar("SELECT display_name FROM accounts WHERE id = $1")
                .bind(account.0 as i64)
                .fetch_optional(self.store.pool())
                .await
                .ok()
                .flatten();
        let name = found
            .and_then(|n| DisplayName::new(n).ok())
            .unwrap_or_else(|| DisplayName::new("Shopper").expect("a valid name"));
        self.names.insert(account, name.clone());
        name
    }

    async fn open_state(&mut self) -> Result<OpenState, EngagementError> {
        let now = self.clock.now_ms();
        let polls = self
            .polls
            .values()
            .filter(|p| !p.closed)
            .map(|p| p.view(now))
            .collect();
        let questions = self
            .question_list()
            .into_iter()
            .filter(|q| !q.answered)
            .take(20)
            .collect();
        let mut giveaways = Vec::new();
        let open: Vec<GiveawayId> = self
            .giveaways
            .values()
            .filter(|g| g.draws.is_empty() && now < g.closes_at_ms)
            .map(|g| g.id)
            .collect();
        for id in open {
            giveaways.push(self.giveaway_view(id).await?);
        }
        Ok(OpenState {
            show_live: self.show.as_ref().map(|s| s.title.clone()),
            featured: self
                .show
                .as_ref()
                .map(|s| s.featured.clone())
                .unwrap_or_default(),
            polls,
            questions,
            giveaways,
            show: self.leaders(Scope::Show).await?,
            all_time: self.leaders(Scope::AllTime).await?,
        })
    }

    async fn on_clock(&mut self) {
        let now = self.clock.now_ms();
        self.close_polls(now);
        self.draw_giveaways(now).await;
        if self.leaderboard_dirty && now - self.last_leaderboard_ms >= LEADERBOARD_EVERY_MS {
            self.leaderboard_dirty = false;
            self.last_leaderboard_ms = now;
            if let (Ok(show), Ok(all_time)) = (
                self.leaders(Scope::Show).await,
                self.leaders(Scope::AllTime).await,
            ) {
                let _ = self
                    .events
                    .send(EngagementEvent::Leaderboard { show, all_time });
            }
        }
    }
}
