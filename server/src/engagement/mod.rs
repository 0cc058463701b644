//! Engagement: shows, polls, Q&A, giveaways, and the points ledger with its
//! badges and leaderboards. Like the commerce engine, one task owns it all:
//! rooms and the HTTP API send it requests, it decides in arrival order,
//! commits each decision before it answers, and announces the results.
//!
//! Points are never granted twice for one thing: every grant has a
//! reference, and `(account, reason, reference)` is unique in the store.
//! Caps per hour stop idle bots and scripts farming them.

mod engine;
mod errors;
mod giveaways;
#[cfg(test)]
mod group_deal_rewards_tests;
mod group_deals;
mod points;
mod polls;
mod questions;
pub mod rules;
mod shows;
#[cfg(test)]
mod tests;

pub use engine::spawn;
pub use errors::Refusal;
pub use giveaways::{commitment_of, draw_winner};
pub use rules::{GrantKind, RewardRules, RulesError, load_rules_file};
pub use shows::load_one as show_by_id;

use thiserror::Error;
use tokio::sync::{broadcast, mpsc, oneshot};
use vitrine_shared::protocol::{EngagementRefusal as Room, EntryRule};
use vitrine_shared::{AccountId, ChatText, DisplayName, ProductId};
use vitrine_shared::{GiveawayId, PollId, QuestionId, ShowId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Show {
    pub id: ShowId,
    pub title: String,
    /// When it was scheduled to start (or started, if never scheduled).
    pub scheduled_at_ms: i64,
    /// When it went live; `None` while it is only scheduled.
    pub live_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    /// The products the host plans to sell, in order.
    pub lineup: Vec<ProductId>,
    /// The products featured now (at most [`MAX_FEATURED`]).
    pub featured: Vec<ProductId>,
}

pub use vitrine_shared::limits::engagement::MAX_FEATURED;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    pub id: PollId,
    pub question: String,
    pub options: Vec<String>,
    pub counts: Vec<u32>,
    pub closes_at_ms: i64,
    pub closed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub id: QuestionId,
    pub account: AccountId,
    pub name: DisplayName,
    pub text: ChatText,
    pub votes: u32,
    pub answered: bool,
    pub asked_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draw {
    pub draw: u32,
    pub account: AccountId,
    pub name: DisplayName,
    pub claim_by_ms: i64,
    pub claimed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Giveaway {
    pub id: GiveawayId,
    pub prize: String,
    pub rule: EntryRule,
    pub closes_at_ms: i64,
    pub commitment: String,
    /// The seed, hex, once entries have closed.
    pub seed: Option<String>,
    /// Entrants, ascending.
    pub entries: Vec<AccountId>,
    pub draws: Vec<Draw>,
}

/// One line of a shopper's quest list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestProgress {
    pub quest: rules::Quest,
    pub progress: i64,
    pub earned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub points: i64,
    pub reason: String,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewards {
    pub balance: i64,
    pub earned: i64,
    pub earned_this_show: i64,
    pub quests: Vec<QuestProgress>,
    pub recent: Vec<GrantRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Show,
    AllTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    pub account: AccountId,
    pub name: DisplayName,
    pub points: i64,
}

/// What can go wrong in engagement. A refusal a room also sends reads as
/// that refusal does (its text is the protocol's); [`EngagementError::refusal`]
/// is the one table of how each reads outside the engine.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum EngagementError {
    #[error("{0}")]
    Invalid(String),
    #[error("no show is running")]
    NoShow,
    #[error("no such show")]
    UnknownShow,
    #[error("the show has ended")]
    ShowEnded,
    #[error("{}", Room::UnknownPoll)]
    UnknownPoll,
    #[error("{}", Room::PollClosed)]
    PollClosed,
    #[error("{}", Room::BadOption)]
    BadOption,
    #[error("{}", Room::AlreadyVoted)]
    AlreadyVoted,
    #[error("{}", Room::UnknownQuestion)]
    UnknownQuestion,
    #[error("{}", Room::OwnQuestion)]
    OwnQuestion,
    #[error("{}", Room::AlreadyUpvoted)]
    AlreadyUpvoted,
    #[error("you have {0} open questions already; wait for answers")]
    TooManyQuestions(usize),
    #[error("{}", Room::UnknownProduct)]
    UnknownProduct,
    #[error("{}", Room::UnknownGiveaway)]
    UnknownGiveaway,
    #[error("another giveaway is open")]
    GiveawayOpen,
    #[error("{}", Room::GiveawayClosed)]
    GiveawayClosed,
    #[error("{}", Room::AlreadyEntered)]
    AlreadyEntered,
    #[error("{}", Room::NotEligible(.0.clone()))]
    NotEligible(String),
    #[error("you are not the winner of this draw")]
    NotWinner,
    #[error("the time to claim has passed; the prize was drawn again")]
    ClaimExpired,
    #[error("no such reward")]
    UnknownReward,
    #[error("not enough points: you have {balance}, it takes {needed}")]
    NotEnoughPoints { balance: i64, needed: i64 },
    #[error("the coupon could not be made; your points are back")]
    RedeemFailed,
    #[error("no such invite")]
    UnknownInvite,
    #[error("the store failed; nothing was changed")]
    Storage,
    #[error("engagement is not running")]
    Unavailable,
    /// A draw asked for a giveaway that has one already.
    #[error("this giveaway has been drawn already")]
    AlreadyDrawn,
    /// A draw asked for before anyone entered: entries stay open.
    #[error("nobody has entered yet; entries stay open")]
    NoEntrants,
}

/// What every room hears, and what the shopper's own clients hear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngagementEvent {
    PollOpened(Poll),
    PollResults {
        poll_id: PollId,
        counts: Vec<u32>,
        closed: bool,
    },
    QuestionAsked(Question),
    QuestionVotes {
        question_id: QuestionId,
        votes: u32,
    },
    QuestionAnswered {
        question_id: QuestionId,
    },
    GiveawayOpened(Giveaway),
    GiveawayEntries {
        giveaway_id: GiveawayId,
        entries: u32,
    },
    GiveawayDrawn {
        giveaway_id: GiveawayId,
        draw: Draw,
        seed: String,
    },
    /// For the shopper's own clients.
    Points {
        account: AccountId,
        change: i64,
        balance: i64,
        reason: String,
    },
    Badge {
        account: AccountId,
        id: String,
        name: String,
    },
    Leaderboard {
        show: Vec<Leader>,
        all_time: Vec<Leader>,
    },
    /// A show went live (`Some(title)`) or the live one ended (`None`).
    ShowLive {
        title: Option<String>,
    },
    Featured {
        products: Vec<ProductId>,
    },
    /// A product was picked up or examined (for the console's counts).
    Inspected {
        account: AccountId,
        product: ProductId,
    },
    /// A product's card was looked at, or a held product put down.
    ProductSeen {
        product: ProductId,
        /// How long it was held, for a put-down; `None` for a look.
        held_ms: Option<u32>,
    },
}

/// What a room needs to show a newcomer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenState {
    pub show_live: Option<String>,
    pub featured: Vec<ProductId>,
    pub polls: Vec<Poll>,
    pub questions: Vec<Question>,
    pub giveaways: Vec<Giveaway>,
    pub show: Vec<Leader>,
    pub all_time: Vec<Leader>,
}

type Reply<T> = oneshot::Sender<Result<T, EngagementError>>;

pub(crate) enum Request {
    CreateShow {
        by: AccountId,
        title: String,
        scheduled_at_ms: Option<i64>,
        lineup: Vec<ProductId>,
        reply: Reply<Show>,
    },
    GoLive {
        show_id: ShowId,
        reply: Reply<Show>,
    },
    Shows {
        reply: Reply<Vec<Show>>,
    },
    Feature {
        products: Vec<ProductId>,
        reply: Reply<Show>,
    },
    EndShow {
        reply: Reply<Option<Show>>,
    },
    CurrentShow {
        reply: Reply<Option<Show>>,
    },
    Grant {
        account: AccountId,
        kind: GrantKind,
        reference: String,
        reply: Option<Reply<Option<i64>>>,
    },
    Inspect {
        account: AccountId,
        product: ProductId,
        reply: Reply<Option<i64>>,
    },
    ProductSeen {
        product: ProductId,
        held_ms: Option<u32>,
    },
    Invite {
        account: AccountId,
        reply: Reply<String>,
    },
    CreatePoll {
        by: AccountId,
        question: String,
        options: Vec<String>,
        duration_secs: u64,
        reply: Reply<Poll>,
    },
    Vote {
        account: AccountId,
        poll_id: PollId,
        option: u32,
        reply: Reply<Poll>,
    },
    Poll {
        poll_id: PollId,
        reply: Reply<Poll>,
    },
    Ask {
        account: AccountId,
        name: DisplayName,
        text: ChatText,
        reply: Reply<Question>,
    },
    Upvote {
        account: AccountId,
        question_id: QuestionId,
        reply: Reply<Question>,
    },
    Answered {
        question_id: QuestionId,
        reply: Reply<Question>,
    },
    Questions {
        reply: Reply<Vec<Question>>,
    },
    CreateGiveaway {
        by: AccountId,
        prize: String,
        rule: EntryRule,
        closes_in_secs: u64,
        reply: Reply<Giveaway>,
    },
    Enter {
        account: AccountId,
        giveaway_id: GiveawayId,
        reply: Reply<Giveaway>,
    },
    Giveaway {
        giveaway_id: GiveawayId,
        reply: Reply<Giveaway>,
    },
    ClaimPrize {
        account: AccountId,
        giveaway_id: GiveawayId,
        reply: Reply<Draw>,
    },
    Rewards {
        account: AccountId,
        reply: Reply<Rewards>,
    },
    Redeem {
        account: AccountId,
        reward: String,
        reply: Reply<(String, i64)>,
    },
    Leaderboard {
        scope: Scope,
        reply: Reply<Vec<Leader>>,
    },
    OpenState {
        reply: Reply<OpenState>,
    },
    /// Whether a product is on sale (for a party's shared product).
    ProductOnSale {
        product: ProductId,
        reply: Reply<bool>,
    },
    /// The host closes entries now and draws at once.
    DrawNow {
        giveaway_id: GiveawayId,
        reply: Reply<Giveaway>,
    },
}

/// A cheap handle to the engine, for rooms and HTTP handlers.
#[derive(Clone)]
pub struct EngagementHandle {
    requests: mpsc::Sender<Request>,
    events: broadcast::Sender<EngagementEvent>,
}

macro_rules! ask {
    ($self:ident, $variant:ident { $($field:ident),* }) => {{
        let (reply, rx) = oneshot::channel();
        $self
            .requests
            .send(Request::$variant { $($field,)* reply })
            .await
            .map_err(|_| EngagementError::Unavailable)?;
        rx.await.map_err(|_| EngagementError::Unavailable)?
    }};
}

macro_rules! try_ask {
    ($self:ident, $variant:ident { $($field:ident),* }) => {{
        let (reply, rx) = oneshot::channel();
        $self
            .requests
            .try_send(Request::$variant { $($field,)* reply })
            .map_err(|_| EngagementError::Unavailable)?;
        Ok(rx)
    }};
}

/// An answer a room polls for.
pub type Answer<T> = oneshot::Receiver<Result<T, EngagementError>>;

impl EngagementHandle {
    pub fn subscribe(&self) -> broadcast::Receiver<EngagementEvent> {
        self.events.subscribe()
    }

    /// Starts a show now (ending any other).
    pub async fn start_show(&self, by: AccountId, title: String) -> Result<Show, EngagementError> {
        self.create_show(by, title, None, Vec::new()).await
    }

    /// Schedules a show for `scheduled_at_ms` with a line-up, or with
    /// `None` starts it now.
    pub async fn create_show(
        &self,
        by: AccountId,
        title: String,
        scheduled_at_ms: Option<i64>,
        lineup: Vec<ProductId>,
    ) -> Result<Show, EngagementError> {
        ask!(
            self,
            CreateShow {
                by,
                title,
                scheduled_at_ms,
                lineup
            }
        )
    }

    /// Takes a scheduled show live (ending the one live).
    pub async fn go_live(&self, show_id: ShowId) -> Result<Show, EngagementError> {
        ask!(self, GoLive { show_id })
    }

    /// Scheduled and live shows, then the latest ended ones.
    pub async fn shows(&self) -> Result<Vec<Show>, EngagementError> {
        ask!(self, Shows {})
    }

    /// Features up to three products in the live show; every room hears it.
    pub async fn feature(&self, products: Vec<ProductId>) -> Result<Show, EngagementError> {
        ask!(self, Feature { products })
    }

    pub async fn end_show(&self) -> Result<Option<Show>, EngagementError> {
        ask!(self, EndShow {})
    }

    pub async fn current_show(&self) -> Result<Option<Show>, EngagementError> {
        ask!(self, CurrentShow {})
    }

    /// Grants points of `kind` for `reference` (once per account ever),
    /// within the hour's cap. `Some(points)` when any were granted.
    pub async fn grant(
        &self,
        account: AccountId,
        kind: GrantKind,
        reference: String,
    ) -> Result<Option<i64>, EngagementError> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(Request::Grant {
                account,
                kind,
                reference,
                reply: Some(reply),
            })
            .await
            .map_err(|_| EngagementError::Unavailable)?;
        rx.await.map_err(|_| EngagementError::Unavailable)?
    }

    /// For the room loop: a grant it does not wait for.
    pub fn try_grant(&self, account: AccountId, kind: GrantKind, reference: String) {
        let request = Request::Grant {
            account,
            kind,
            reference,
            reply: None,
        };
        if self.requests.try_send(request).is_err() {
            tracing::warn!(%account, kind = kind.as_str(), "engagement queue full; grant dropped");
        }
    }

    pub fn try_inspect(
        &self,
        account: AccountId,
        product: ProductId,
    ) -> Result<Answer<Option<i64>>, EngagementError> {
        try_ask!(self, Inspect { account, product })
    }

    /// For the room loop: a product's card looked at, or a held product put
    /// down after `held_ms`. Counted for the console; no points.
    pub fn try_product_seen(&self, product: ProductId, held_ms: Option<u32>) {
        let _ = self
            .requests
            .try_send(Request::ProductSeen { product, held_ms });
    }

    /// The shopper's invite code (made once).
    pub async fn invite(&self, account: AccountId) -> Result<String, EngagementError> {
        ask!(self, Invite { account })
    }

    pub async fn create_poll(
        &self,
        by: AccountId,
        question: String,
        options: Vec<String>,
        duration_secs: u64,
    ) -> Result<Poll, EngagementError> {
        ask!(
            self,
            CreatePoll {
                by,
                question,
                options,
                duration_secs
            }
        )
    }

    pub async fn vote(
        &self,
        account: AccountId,
        poll_id: PollId,
        option: u32,
    ) -> Result<Poll, EngagementError> {
        ask!(
            self,
            Vote {
                account,
                poll_id,
                option
            }
        )
    }

    pub fn try_vote(
        &self,
        account: AccountId,
        poll_id: PollId,
        option: u32,
    ) -> Result<Answer<Poll>, EngagementError> {
        try_ask!(
            self,
            Vote {
                account,
                poll_id,
                option
            }
        )
    }

    pub async fn poll(&self, poll_id: PollId) -> Result<Poll, EngagementError> {
        ask!(self, Poll { poll_id })
    }

    pub async fn ask(
        &self,
        account: AccountId,
        name: DisplayName,
        text: ChatText,
    ) -> Result<Question, EngagementError> {
        ask!(
            self,
            Ask {
                account,
                name,
                text
            }
        )
    }

    pub fn try_ask(
        &self,
        account: AccountId,
        name: DisplayName,
        text: ChatText,
    ) -> Result<Answer<Question>, EngagementError> {
        try_ask!(
            self,
            Ask {
                account,
                name,
                text
            }
        )
    }

    pub async fn upvote(
        &self,
        account: AccountId,
        question_id: QuestionId,
    ) -> Result<Question, EngagementError> {
        ask!(
            self,
            Upvote {
                account,
                question_id
            }
        )
    }

    pub fn try_upvote(
        &self,
        account: AccountId,
        question_id: QuestionId,
    ) -> Result<Answer<Question>, EngagementError> {
        try_ask!(
            self,
            Upvote {
                account,
                question_id
            }
        )
    }

    pub async fn answered(&self, question_id: QuestionId) -> Result<Question, EngagementError> {
        ask!(self, Answered { question_id })
    }

    /// Open questions by votes, then the answered ones.
    pub async fn questions(&self) -> Result<Vec<Question>, EngagementError> {
        ask!(self, Questions {})
    }

    pub async fn create_giveaway(
        &self,
        by: AccountId,
        prize: String,
        rule: EntryRule,
        closes_in_secs: u64,
    ) -> Result<Giveaway, EngagementError> {
        ask!(
            self,
            CreateGiveaway {
                by,
                prize,
                rule,
                closes_in_secs
            }
        )
    }

    pub async fn enter(
        &self,
        account: AccountId,
        giveaway_id: GiveawayId,
    ) -> Result<Giveaway, EngagementError> {
        ask!(
            self,
            Enter {
                account,
                giveaway_id
            }
        )
    }

    pub fn try_enter(
        &self,
        account: AccountId,
        giveaway_id: GiveawayId,
    ) -> Result<Answer<Giveaway>, EngagementError> {
        try_ask!(
            self,
            Enter {
                account,
                giveaway_id
            }
        )
    }

    pub async fn giveaway(&self, giveaway_id: GiveawayId) -> Result<Giveaway, EngagementError> {
        ask!(self, Giveaway { giveaway_id })
    }

    /// Closes a giveaway's entries now and draws its winner (the console's
    /// "draw now"), rather than waiting for the time it was opened with.
    pub async fn draw_now(&self, giveaway_id: GiveawayId) -> Result<Giveaway, EngagementError> {
        ask!(self, DrawNow { giveaway_id })
    }

    pub async fn claim_prize(
        &self,
        account: AccountId,
        giveaway_id: GiveawayId,
    ) -> Result<Draw, EngagementError> {
        ask!(
            self,
            ClaimPrize {
                account,
                giveaway_id
            }
        )
    }

    pub async fn rewards(&self, account: AccountId) -> Result<Rewards, EngagementError> {
        ask!(self, Rewards { account })
    }

    /// Spends points on a reward: a coupon for the shopper alone.
    pub async fn redeem(
        &self,
        account: AccountId,
        reward: String,
    ) -> Result<(String, i64), EngagementError> {
        ask!(self, Redeem { account, reward })
    }

    pub async fn leaderboard(&self, scope: Scope) -> Result<Vec<Leader>, EngagementError> {
        ask!(self, Leaderboard { scope })
    }

    pub async fn open_state(&self) -> Result<OpenState, EngagementError> {
        ask!(self, OpenState {})
    }

    pub fn try_open_state(&self) -> Result<Answer<OpenState>, EngagementError> {
        try_ask!(self, OpenState {})
    }

    /// For the room loop: whether `product` is on sale (not archived).
    /// Counts nothing and grants nothing.
    pub fn try_product_on_sale(&self, product: ProductId) -> Result<Answer<bool>, EngagementError> {
        try_ask!(self, ProductOnSale { product })
    }
}
