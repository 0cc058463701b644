//! Engagement on the wire: polls, questions, giveaways, points and the
//! leaderboard.

use crate::ids::{GiveawayId, PollId, QuestionId};
use crate::validated::{ChatText, DisplayName, ProductId};
use serde::{Deserialize, Serialize};

/// A poll as rooms see it: counts are live until it closes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollNet {
    pub id: PollId,
    pub question: String,
    pub options: Vec<String>,
    pub counts: Vec<u32>,
    /// Unix milliseconds.
    pub closes_at_ms: i64,
    pub closed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestionNet {
    pub id: QuestionId,
    pub name: DisplayName,
    pub text: ChatText,
    pub votes: u32,
    pub answered: bool,
}

/// Who may enter a giveaway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryRule {
    Everyone,
    /// Present and active in the show for at least this many minutes.
    PresentMinutes(u32),
    /// Bought something in this show.
    BoughtInShow,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiveawayNet {
    pub id: GiveawayId,
    pub prize: String,
    pub rule: EntryRule,
    /// Unix milliseconds: entries close then, and the draw follows.
    pub closes_at_ms: i64,
    /// SHA-256 of the secret seed, hex: published before entries close.
    pub commitment: String,
    pub entries: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderNet {
    pub name: DisplayName,
    pub points: i64,
}

/// Engagement news: polls, questions and giveaways for every room of the
/// show; points and badges for their shopper only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EngagementEventNet {
    PollOpened(PollNet),
    /// Live results, at most a few times a second.
    PollResults {
        poll_id: PollId,
        counts: Vec<u32>,
        closed: bool,
    },
    QuestionAsked(QuestionNet),
    QuestionVotes {
        question_id: QuestionId,
        votes: u32,
    },
    QuestionAnswered {
        question_id: QuestionId,
    },
    GiveawayOpened(GiveawayNet),
    GiveawayEntries {
        giveaway_id: GiveawayId,
        entries: u32,
    },
    /// The draw: `seed` (hex) is revealed so that anyone can check it
    /// against the commitment and recompute the winner.
    GiveawayDrawn {
        giveaway_id: GiveawayId,
        draw: u32,
        winner: DisplayName,
        seed: String,
    },
    /// To the shopper: points earned (or spent) and the balance after.
    Points {
        change: i64,
        balance: i64,
        reason: String,
    },
    /// To the shopper: a badge earned.
    Badge {
        id: String,
        name: String,
    },
    /// The top of the show's and the all-time leaderboards.
    Leaderboard {
        show: Vec<LeaderNet>,
        all_time: Vec<LeaderNet>,
    },
    /// The show went live (`Some(title)`) or ended (`None`).
    ShowLive {
        title: Option<String>,
    },
    /// The products the host features now (at most
    /// [`MAX_FEATURED`](crate::limits::engagement::MAX_FEATURED)), in order.
    Featured {
        products: Vec<ProductId>,
    },
}
