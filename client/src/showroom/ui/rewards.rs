//! Rewards in the room, as plain data: your points, the quests and the
//! badges they earn, the show's and the all-time leaderboards, and
//! spending points on a coupon for you alone. The points and the
//! leaderboards come with the room; the quests and what points buy from
//! `GET /api/v1/rewards`, asked when the panel opens and after each change
//! of points while it is open.

use super::UiAction;
use super::view::ViewButton;
use crate::net::RoomMirror;
use vitrine_shared::api::RewardsView;
use vitrine_shared::protocol::LeaderNet;

/// Opens and closes the panel (desktop).
pub const REWARDS_KEY: &str = "R";
/// Leaders shown per board.
pub const LEADERS_SHOWN: usize = 5;

#[derive(Debug, Clone, Default)]
pub struct RewardsLocal {
    pub open: bool,
    /// The server's answer, while asked for: `None` before the first.
    pub fetched: Option<Result<RewardsView, String>>,
    /// Coupons bought with points here, newest last.
    pub coupons: Vec<String>,
    /// A purchase is on its way: no *Buy* until it is answered.
    pub buying: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RewardsPanel {
    /// "53 points (12 this show)".
    pub points: String,
    /// "Inspector: 3 of 5", "Regular - badge earned".
    pub quests: Vec<String>,
    /// "1. Ada 120" per line; yours marked.
    pub show_board: Vec<String>,
    pub all_time_board: Vec<String>,
    /// What points buy: a button when affordable, a line otherwise.
    pub offers: Vec<Offer>,
    /// Coupons bought here: "Yours: TWENTY-8K2M (apply it at checkout)".
    pub coupons: Vec<String>,
    /// A failure to ask the server, in words.
    pub problem: Option<String>,
    pub close: ViewButton,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// "20% off for 7 days: 500 points".
    pub text: String,
    pub buy: Option<ViewButton>,
}

fn board(leaders: &[LeaderNet], me: Option<&str>) -> Vec<String> {
    leaders
        .iter()
        .take(LEADERS_SHOWN)
        .enumerate()
        .map(|(i, l)| {
            let you = if Some(l.name.as_str()) == me {
                " (you)"
            } else {
                ""
            };
            format!("{}. {}{you} {}", i + 1, l.name, l.points)
        })
        .collect()
}

/// The panel while open; `None` when closed.
pub fn build(mirror: Option<&RoomMirror>, local: &RewardsLocal) -> Option<RewardsPanel> {
    if !local.open {
        return None;
    }
    let fetched = local.fetched.as_ref().and_then(|f| f.as_ref().ok());
    // The room's balance is the newest; the server's answer may lag it.
    let balance = mirror.and_then(|m| m.points).or(fetched.map(|r| r.balance));
    let me = mirror
        .and_then(|m| m.you.and_then(|slot| m.members.get(&slot)))
        .map(|i| i.name.as_str());
    let (show, all_time) = mirror
        .map(|m| (m.leaderboard.0.as_slice(), m.leaderboard.1.as_slice()))
        .unwrap_or_default();
    Some(RewardsPanel {
        points: match (balance, fetched) {
            (Some(b), Some(r)) => format!("{b} points ({} this show)", r.earned_this_show),
            (Some(b), None) => format!("{b} points"),
            (None, _) => "No points yet: watch, vote, ask and buy to earn them".into(),
        },
        quests: fetched
            .map(|r| {
                r.quests
                    .iter()
                    .map(|q| {
                        if q.earned {
                            format!("{} - badge earned", q.name)
                        } else {
                            let show = if q.per_show { " this show" } else { "" };
                            format!("{}: {} of {}{show}", q.name, q.progress, q.target)
                        }
                    })
                    .collect()
            })
            .unwrap_or_default(),
        show_board: board(show, me),
        all_time_board: board(all_time, me),
        offers: fetched
            .map(|r| {
                r.rewards
                    .iter()
                    .map(|o| {
                        let text = format!(
                            "{}% off for {} days: {} points",
                            o.percent_off, o.valid_days, o.points
                        );
                        let affordable = !local.buying && balance.is_some_and(|b| b >= o.points);
                        Offer {
                            buy: affordable.then(|| {
                                ViewButton::new(
                                    format!("Buy {}% off", o.percent_off),
                                    UiAction::Redeem(o.id.clone()),
                                )
                            }),
                            text,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default(),
        coupons: local
            .coupons
            .iter()
            .map(|c| format!("Yours: {c} (offered at checkout)"))
            .collect(),
        problem: match &local.fetched {
            Some(Err(e)) => Some(format!("Rewards not loaded: {e}")),
            _ => None,
        },
        close: ViewButton::new("Close", UiAction::ToggleRewards).with_key(REWARDS_KEY),
    })
}

#[cfg(test)]
mod tests {
    use super::super::view::tests::mirror;
    use super::*;
    use vitrine_shared::DisplayName;
    use vitrine_shared::api::{QuestView, RewardOffer};

    fn leader(name: &str, points: i64) -> LeaderNet {
        LeaderNet {
            name: DisplayName::new(name).unwrap(),
            points,
        }
    }

    fn answer() -> RewardsView {
        RewardsView {
            balance: 40,
            earned: 300,
            earned_this_show: 12,
            quests: vec![
                QuestView {
                    id: "inspector".into(),
                    name: "Inspector".into(),
                    description: "Inspect 5 products".into(),
                    progress: 3,
                    target: 5,
                    per_show: true,
                    earned: false,
                },
                QuestView {
                    id: "regular".into(),
                    name: "Regular".into(),
                    description: "Watch 3 shows".into(),
                    progress: 3,
                    target: 3,
                    per_show: false,
                    earned: true,
                },
            ],
            recent: Vec::new(),
            rewards: vec![
                RewardOffer {
                    id: "ten-off".into(),
                    points: 200,
                    percent_off: 10,
                    valid_days: 7,
                },
                RewardOffer {
                    id: "twenty-off".into(),
                    points: 500,
                    percent_off: 20,
                    valid_days: 7,
                },
            ],
        }
    }

    #[test]
    fn the_panel_shows_points_quests_boards_and_what_points_buy() {
        let mut m = mirror();
        m.points = Some(250);
        m.leaderboard = (
            vec![leader("Bea", 300), leader("Me", 250)],
            vec![leader("Ada", 9000)],
        );
        let mut local = RewardsLocal::default();
        assert_eq!(build(Some(&m), &local), None, "closed");
        local.open = true;
        let asking = build(Some(&m), &local).unwrap();
        assert_eq!(asking.points, "250 points");
        assert!(asking.quests.is_empty() && asking.offers.is_empty());
        local.fetched = Some(Ok(answer()));
        let panel = build(Some(&m), &local).unwrap();
        // The room's balance (250) is newer than the server's answer (40).
        assert_eq!(panel.points, "250 points (12 this show)");
        assert_eq!(
            panel.quests,
            ["Inspector: 3 of 5 this show", "Regular - badge earned"]
        );
        assert_eq!(panel.show_board, ["1. Bea 300", "2. Me (you) 250"]);
        assert_eq!(panel.all_time_board, ["1. Ada 9000"]);
        // 250 points buy the first offer, not the second.
        assert_eq!(
            panel.offers[0].buy.as_ref().map(|b| &b.action),
            Some(&UiAction::Redeem("ten-off".into()))
        );
        assert_eq!(panel.offers[1].buy, None);
        // While a purchase is on its way, nothing more is offered.
        local.buying = true;
        let panel = build(Some(&m), &local).unwrap();
        assert!(panel.offers.iter().all(|o| o.buy.is_none()));
        local.buying = false;
        assert_eq!(panel.offers[1].text, "20% off for 7 days: 500 points");
        local.coupons.push("TEN-8K2M".into());
        local.fetched = Some(Err("HTTP 503".into()));
        let panel = build(Some(&m), &local).unwrap();
        assert_eq!(panel.coupons, ["Yours: TEN-8K2M (offered at checkout)"]);
        assert_eq!(
            panel.problem.as_deref(),
            Some("Rewards not loaded: HTTP 503")
        );
        assert_eq!(panel.points, "250 points");
    }
}
