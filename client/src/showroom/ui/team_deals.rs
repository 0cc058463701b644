//! Group deals on the product card, as plain data: the team price beside
//! the solo one, the team size, the time left, the teams forming with
//! their places left, and this shopper's own team (waiting, completed with
//! its order, or voided with nobody charged) or why joining was refused.
//! Built by [`build`] from the mirror's `group_deals`, `team_answers` and
//! `teams_settled`, and the request ids this UI sent ([`TeamRequests`]).

use crate::net::RoomMirror;
use std::collections::BTreeMap;
use vitrine_shared::{DealId, ProductId, Sku, TeamId};

/// The team request this UI last sent for each deal (its request id).
pub type TeamRequests = BTreeMap<DealId, u32>;

#[derive(Debug, Clone, PartialEq)]
pub struct TeamDealView {
    pub deal: DealId,
    pub sku: Sku,
    /// "Team price 19.00 EUR (solo 24.90 EUR) - teams of 3".
    pub headline: String,
    /// Seconds until the deal closes.
    pub ends_in_s: i64,
    pub units_left: i64,
    /// Teams forming, oldest first.
    pub teams: Vec<TeamLine>,
    /// No team of yours is forming here: "Start a team" shows.
    pub can_start: bool,
    /// Your team here, in words.
    pub yours: Option<String>,
    /// Why your last team request was refused.
    pub refusal: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TeamLine {
    pub team: TeamId,
    /// "Team 1: 1 place left".
    pub text: String,
    /// Has room, and is not yours: "Join" shows.
    pub can_join: bool,
}

pub fn build(
    mirror: Option<&RoomMirror>,
    product: &ProductId,
    requests: &TeamRequests,
    now_ms: i64,
) -> Vec<TeamDealView> {
    let Some(m) = mirror else {
        return Vec::new();
    };
    m.group_deals
        .values()
        .filter(|d| &d.product == product && d.ends_at_ms > now_ms)
        .map(|d| {
            let answer = requests.get(&d.id).and_then(|r| m.team_answers.get(r));
            let mut yours = None;
            let mut refusal = None;
            let mut forming = None;
            match answer {
                Some(Ok(team)) => match m.teams_settled.get(&team.id) {
                    Some((true, order)) => {
                        yours = Some(match order {
                            Some(order) => format!(
                                "Your team is complete: order {} is paid",
                                order.reference()
                            ),
                            None => "Your team is complete".to_owned(),
                        })
                    }
                    Some((false, _)) => {
                        yours = Some("Your team did not fill in time: nobody was charged".into())
                    }
                    None => {
                        forming = Some(team.id);
                        // The deal's news is newer than the join's answer.
                        let left = d
                            .teams
                            .iter()
                            .find(|t| t.id == team.id)
                            .map(|t| t.places_left)
                            .unwrap_or(team.places_left);
                        yours = Some(format!(
                            "Your team: waiting for {left} more {}",
                            if left == 1 { "shopper" } else { "shoppers" }
                        ));
                    }
                },
                Some(Err(why)) => refusal = Some(format!("Could not join: {why}")),
                None if requests.contains_key(&d.id) => yours = Some("Joining...".into()),
                None => {}
            }
            let waiting = requests.contains_key(&d.id) && answer.is_none();
            TeamDealView {
                deal: d.id,
                sku: d.sku.clone(),
                headline: format!(
                    "Team price {} (solo {}) - teams of {}",
                    d.team_price, d.regular_price, d.team_size
                ),
                ends_in_s: (d.ends_at_ms.saturating_sub(now_ms).saturating_add(999) / 1000).max(0),
                units_left: d.units_left,
                teams: d
                    .teams
                    .iter()
                    .enumerate()
                    .map(|(i, t)| TeamLine {
                        team: t.id,
                        text: format!(
                            "{}{}: {} {} left",
                            if Some(t.id) == forming {
                                "Your team".to_owned()
                            } else {
                                format!("Team {}", i + 1)
                            },
                            t.started_by
                                .as_ref()
                                .map(|n| format!(", started by {n}"))
                                .unwrap_or_default(),
                            t.places_left,
                            if t.places_left == 1 {
                                "place"
                            } else {
                                "places"
                            }
                        ),
                        can_join: t.places_left > 0
                            && forming.is_none()
                            && !waiting
                            && d.units_left > 0,
                    })
                    .collect(),
                can_start: forming.is_none() && !waiting && d.units_left > 0,
                yours,
                refusal,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_shared::protocol::{GroupDealNet, GroupDealRefusal, TeamNet};
    use vitrine_shared::{Currency, Money, OrderId};

    fn deal(teams: &[(i64, u8, u8)]) -> GroupDealNet {
        GroupDealNet {
            id: DealId(5),
            product: ProductId::new("mug").unwrap(),
            sku: Sku::new("mug-s").unwrap(),
            team_size: 3,
            team_price: Money::new(1900, Currency::EUR),
            regular_price: Money::new(2490, Currency::EUR),
            units_left: 30,
            ends_at_ms: 190_500,
            teams: teams
                .iter()
                .map(|(id, members, left)| TeamNet {
                    id: TeamId(*id),
                    members: *members,
                    places_left: *left,
                    started_by: None,
                })
                .collect(),
            open_teams: teams.len() as u32,
        }
    }

    fn mug() -> ProductId {
        ProductId::new("mug").unwrap()
    }

    #[test]
    fn the_card_shows_the_team_price_time_left_and_teams_with_places() {
        let mut m = RoomMirror::default();
        m.group_deals
            .insert(DealId(5), deal(&[(1, 2, 1), (2, 1, 2)]));
        let v = build(Some(&m), &mug(), &TeamRequests::new(), 100_000);
        assert_eq!(v.len(), 1);
        let d = &v[0];
        assert_eq!(
            d.headline,
            "Team price 19.00 EUR (solo 24.90 EUR) - teams of 3"
        );
        assert_eq!(d.ends_in_s, 91);
        let teams: Vec<_> = d
            .teams
            .iter()
            .map(|t| (t.text.as_str(), t.can_join))
            .collect();
        assert_eq!(
            teams,
            [
                ("Team 1: 1 place left", true),
                ("Team 2: 2 places left", true)
            ]
        );
        assert!(d.can_start && d.yours.is_none() && d.refusal.is_none());
        // Another product's card, or a closed deal: nothing.
        assert!(
            build(
                Some(&m),
                &ProductId::new("lamp").unwrap(),
                &TeamRequests::new(),
                0
            )
            .is_empty()
        );
        assert!(build(Some(&m), &mug(), &TeamRequests::new(), 190_500).is_empty());
    }

    #[test]
    fn a_team_names_who_started_it() {
        let mut m = RoomMirror::default();
        let mut d = deal(&[(1, 2, 1), (2, 1, 2)]);
        d.teams[0].started_by = Some(vitrine_shared::DisplayName::new("Ada").unwrap());
        m.group_deals.insert(DealId(5), d);
        let v = build(Some(&m), &mug(), &TeamRequests::new(), 0);
        let texts: Vec<_> = v[0].teams.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Team 1, started by Ada: 1 place left",
                "Team 2: 2 places left"
            ]
        );
    }

    #[test]
    fn your_team_waits_then_completes_or_voids_and_a_refusal_is_in_words() {
        let mut m = RoomMirror::default();
        m.group_deals.insert(DealId(5), deal(&[(1, 2, 1)]));
        let requests: TeamRequests = [(DealId(5), 40)].into();
        // Sent, no answer yet: no second request.
        let d = &build(Some(&m), &mug(), &requests, 0)[0];
        assert_eq!(d.yours.as_deref(), Some("Joining..."));
        assert!(!d.can_start && !d.teams[0].can_join);
        m.team_answers.insert(
            40,
            Ok(TeamNet {
                id: TeamId(1),
                members: 1,
                places_left: 2,
                started_by: None,
            }),
        );
        // The deal's news (1 place left) is newer than the join's answer.
        let d = &build(Some(&m), &mug(), &requests, 0)[0];
        assert_eq!(
            d.yours.as_deref(),
            Some("Your team: waiting for 1 more shopper")
        );
        assert_eq!(d.teams[0].text, "Your team: 1 place left");
        assert!(!d.can_start && !d.teams[0].can_join);
        m.teams_settled.insert(TeamId(1), (true, Some(OrderId(77))));
        let d = &build(Some(&m), &mug(), &requests, 0)[0];
        assert_eq!(
            d.yours.as_deref(),
            Some("Your team is complete: order #77 is paid")
        );
        assert!(d.can_start, "done with that team: another may start");
        m.teams_settled.insert(TeamId(1), (false, None));
        let d = &build(Some(&m), &mug(), &requests, 0)[0];
        assert_eq!(
            d.yours.as_deref(),
            Some("Your team did not fill in time: nobody was charged")
        );
        m.team_answers.insert(40, Err(GroupDealRefusal::TeamFull));
        let d = &build(Some(&m), &mug(), &requests, 0)[0];
        assert_eq!(
            d.refusal.as_deref(),
            Some("Could not join: this team is full")
        );
        assert!(d.yours.is_none() && d.can_start && d.teams[0].can_join);
    }
}
