//! Group deals (team purchase) in a room: the open deals and their teams
//! with places left, a member's own team news, and why a team command was
//! refused. The commands themselves are `RoomCommand::StartTeam` and
//! `RoomCommand::JoinTeam`.

use super::ShopRefusal;
use crate::ids::{DealId, OrderId, TeamId};
use crate::money::Money;
use crate::validated::{DisplayName, ProductId, Sku};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A team still forming (or being captured) and the places left in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamNet {
    pub id: TeamId,
    pub members: u8,
    pub places_left: u8,
    /// Who started the team ("started by Ada"); `None` if the account is
    /// gone.
    pub started_by: Option<DisplayName>,
}

/// A group deal as a room shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDealNet {
    pub id: DealId,
    pub product: ProductId,
    pub sku: Sku,
    pub team_size: u8,
    pub team_price: Money,
    pub regular_price: Money,
    /// Units the deal may still sell (its cap less what teams hold or bought).
    pub units_left: i64,
    pub ends_at_ms: i64,
    /// The open teams closest to full, at most `MAX_TEAMS_SHOWN`.
    pub teams: Vec<TeamNet>,
    /// Every team forming, shown or not.
    pub open_teams: u32,
}

/// What the server says about group deals (`ServerMessage::GroupDeals`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupDealEventNet {
    /// After `Welcome`: the deals open now.
    Open(Vec<GroupDealNet>),
    /// To everyone: a deal was set, or its teams or units changed.
    Deal(GroupDealNet),
    /// To everyone: the deal's window closed.
    Ended { deal: DealId },
    /// To the member: their place in a team is held (the authorization);
    /// the order `order_id` is placed when the team fills.
    Joined {
        request_id: u32,
        deal: DealId,
        team: TeamNet,
        order_id: OrderId,
        price: Money,
    },
    /// To the member: their team command was refused; nothing changed.
    JoinFailed {
        request_id: u32,
        reason: GroupDealRefusal,
    },
    /// To a member: their team filled and they were charged the team price.
    TeamCompleted {
        deal: DealId,
        team: TeamId,
        order_id: OrderId,
    },
    /// To a member: the window closed first; the authorization was voided
    /// and nothing was charged.
    TeamVoided { deal: DealId, team: TeamId },
    /// To a member: a member's payment was declined when the team filled;
    /// anyone charged was refunded, every other authorization voided, and
    /// no order was placed.
    TeamFailed { deal: DealId, team: TeamId },
}

/// Why a team command was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Error)]
pub enum GroupDealRefusal {
    #[error("no such group deal")]
    UnknownDeal,
    #[error("this group deal is not open")]
    DealClosed,
    #[error("no such team forming")]
    UnknownTeam,
    #[error("this team is full")]
    TeamFull,
    #[error("you are in this team already")]
    AlreadyInTeam,
    #[error("this group deal has sold all its units")]
    SoldOut,
    /// As a purchase would be refused: a declined card, short stock.
    #[error("{0}")]
    Shop(ShopRefusal),
    /// One open team per shopper per deal: leave it to fill or lapse first.
    #[error("you are in a team forming on this deal already")]
    AlreadyInOpenTeam,
    /// The deal has as many teams forming as it allows: join one of them.
    #[error("this group deal has as many teams forming as it allows; join one")]
    TooManyOpenTeams,
}
