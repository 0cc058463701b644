//! The one table of how each engagement refusal reads outside the engine:
//! the HTTP API's status and code, and the refusal a room sends.
//! `http::engagement` and `rooms::engagement` both derive theirs from it,
//! as commerce's do from `CommerceError::refusal`.

use super::EngagementError;
use axum::http::StatusCode;
use vitrine_shared::protocol::EngagementRefusal;

/// How one refusal reads to each audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    /// The stable `code` of the API's error body.
    pub code: &'static str,
    /// To a vote, question, upvote or giveaway entry made in a room.
    pub room: EngagementRefusal,
}

impl EngagementError {
    /// The one table of what each error is outside the engine. It has no
    /// wildcard, so a new variant does not compile until it says how it
    /// reads everywhere. A refusal a room's command cannot meet reads as
    /// `Unavailable` there.
    pub fn refusal(&self) -> Refusal {
        use EngagementError as E;
        use EngagementRefusal as Room;
        use StatusCode as S;
        let (status, code, room) = match self.clone() {
            E::Invalid(_) => (S::BAD_REQUEST, "invalid_request", Room::Unavailable),
            E::NoShow => (S::NOT_FOUND, "no_show", Room::Unavailable),
            E::UnknownShow => (S::NOT_FOUND, "show_not_found", Room::Unavailable),
            E::ShowEnded => (S::CONFLICT, "show_ended", Room::Unavailable),
            E::UnknownPoll => (S::NOT_FOUND, "poll_not_found", Room::UnknownPoll),
            E::PollClosed => (S::CONFLICT, "poll_closed", Room::PollClosed),
            E::BadOption => (S::BAD_REQUEST, "bad_option", Room::BadOption),
            E::AlreadyVoted => (S::CONFLICT, "already_voted", Room::AlreadyVoted),
            E::UnknownQuestion => (S::NOT_FOUND, "question_not_found", Room::UnknownQuestion),
            E::OwnQuestion => (S::CONFLICT, "own_question", Room::OwnQuestion),
            E::AlreadyUpvoted => (S::CONFLICT, "already_upvoted", Room::AlreadyUpvoted),
            // The protocol has no refusal of its own for it: the room says
            // why in the shopper's words.
            e @ E::TooManyQuestions(_) => (
                S::CONFLICT,
                "too_many_questions",
                Room::NotEligible(e.to_string()),
            ),
            E::UnknownProduct => (S::NOT_FOUND, "product_not_found", Room::UnknownProduct),
            E::UnknownGiveaway => (S::NOT_FOUND, "giveaway_not_found", Room::UnknownGiveaway),
            E::GiveawayOpen => (S::CONFLICT, "giveaway_open", Room::Unavailable),
            E::GiveawayClosed => (S::CONFLICT, "giveaway_closed", Room::GiveawayClosed),
            E::AlreadyEntered => (S::CONFLICT, "already_entered", Room::AlreadyEntered),
            E::NotEligible(why) => (S::FORBIDDEN, "not_eligible", Room::NotEligible(why)),
            E::NotWinner => (S::FORBIDDEN, "not_winner", Room::Unavailable),
            E::ClaimExpired => (S::GONE, "claim_expired", Room::Unavailable),
            E::UnknownReward => (S::NOT_FOUND, "reward_not_found", Room::Unavailable),
            E::NotEnoughPoints { .. } => (S::CONFLICT, "not_enough_points", Room::Unavailable),
            E::UnknownInvite => (S::NOT_FOUND, "invite_not_found", Room::Unavailable),
            E::AlreadyDrawn => (S::CONFLICT, "already_drawn", Room::Unavailable),
            E::NoEntrants => (S::CONFLICT, "no_entrants", Room::Unavailable),
            E::RedeemFailed | E::Storage | E::Unavailable => (
                S::SERVICE_UNAVAILABLE,
                "engagement_unavailable",
                Room::Unavailable,
            ),
        };
        Refusal { status, code, room }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ApiError;

    /// One of each variant.
    fn one_of_each() -> Vec<EngagementError> {
        use EngagementError as E;
        let all = vec![
            E::Invalid("prize: 1 to 200 characters".into()),
            E::NoShow,
            E::UnknownShow,
            E::ShowEnded,
            E::UnknownPoll,
            E::PollClosed,
            E::BadOption,
            E::AlreadyVoted,
            E::UnknownQuestion,
            E::OwnQuestion,
            E::AlreadyUpvoted,
            E::TooManyQuestions(5),
            E::UnknownProduct,
            E::UnknownGiveaway,
            E::GiveawayOpen,
            E::GiveawayClosed,
            E::AlreadyEntered,
            E::NotEligible("be present for 10 minutes".into()),
            E::NotWinner,
            E::ClaimExpired,
            E::UnknownReward,
            E::NotEnoughPoints {
                balance: 3,
                needed: 40,
            },
            E::RedeemFailed,
            E::UnknownInvite,
            E::Storage,
            E::Unavailable,
            E::AlreadyDrawn,
            E::NoEntrants,
        ];
        // No wildcard: a new variant does not compile until it is named here,
        // which is the reminder to add it to the list above too.
        for e in &all {
            match e {
                E::Invalid(_)
                | E::NoShow
                | E::UnknownShow
                | E::ShowEnded
                | E::UnknownPoll
                | E::PollClosed
                | E::BadOption
                | E::AlreadyVoted
                | E::UnknownQuestion
                | E::OwnQuestion
                | E::AlreadyUpvoted
                | E::TooManyQuestions(_)
                | E::UnknownProduct
                | E::UnknownGiveaway
                | E::GiveawayOpen
                | E::GiveawayClosed
                | E::AlreadyEntered
                | E::NotEligible(_)
                | E::NotWinner
                | E::ClaimExpired
                | E::UnknownReward
                | E::NotEnoughPoints { .. }
                | E::RedeemFailed
                | E::UnknownInvite
                | E::Storage
                | E::Unavailable
                | E::AlreadyDrawn
                | E::NoEntrants => {}
            }
        }
        all
    }

    /// The API's answers as they were before the table existed (the mapping
    /// `http::engagement` had), written out: a change to the table, or a
    /// variant it reads wrongly, fails here.
    #[test]
    fn the_api_answers_each_error_as_before() {
        use EngagementError as E;
        let expected: Vec<(E, u16, &str)> = vec![
            (E::Invalid("prize".into()), 400, "invalid_request"),
            (E::NoShow, 404, "no_show"),
            (E::UnknownShow, 404, "show_not_found"),
            (E::ShowEnded, 409, "show_ended"),
            (E::UnknownPoll, 404, "poll_not_found"),
            (E::PollClosed, 409, "poll_closed"),
            (E::BadOption, 400, "bad_option"),
            (E::AlreadyVoted, 409, "already_voted"),
            (E::UnknownQuestion, 404, "question_not_found"),
            (E::OwnQuestion, 409, "own_question"),
            (E::AlreadyUpvoted, 409, "already_upvoted"),
            (E::TooManyQuestions(5), 409, "too_many_questions"),
            (E::UnknownProduct, 404, "product_not_found"),
            (E::UnknownGiveaway, 404, "giveaway_not_found"),
            (E::GiveawayOpen, 409, "giveaway_open"),
            (E::GiveawayClosed, 409, "giveaway_closed"),
            (E::AlreadyEntered, 409, "already_entered"),
            (E::NotEligible("why".into()), 403, "not_eligible"),
            (E::NotWinner, 403, "not_winner"),
            (E::ClaimExpired, 410, "claim_expired"),
            (E::UnknownReward, 404, "reward_not_found"),
            (
                E::NotEnoughPoints {
                    balance: 3,
                    needed: 40,
                },
                409,
                "not_enough_points",
            ),
            (E::UnknownInvite, 404, "invite_not_found"),
            (E::RedeemFailed, 503, "engagement_unavailable"),
            (E::Storage, 503, "engagement_unavailable"),
            (E::Unavailable, 503, "engagement_unavailable"),
            (E::AlreadyDrawn, 409, "already_drawn"),
            (E::NoEntrants, 409, "no_entrants"),
        ];
        // Every variant `one_of_each` knows is pinned.
        assert_eq!(expected.len(), one_of_each().len());
        for (e, status, code) in expected {
            let api = ApiError::from(e.clone());
            assert_eq!((api.status.as_u16(), api.code), (status, code), "{e:?}");
            assert_eq!(api.message, e.to_string(), "{e:?}");
        }
    }

    #[test]
    fn a_refusal_a_room_also_sends_reads_the_same_to_both() {
        for e in one_of_each() {
            let room = e.refusal().room;
            match (&e, &room) {
                // The room's own words for a refusal it has no name for.
                (EngagementError::TooManyQuestions(_), EngagementRefusal::NotEligible(why)) => {
                    assert_eq!(why, &e.to_string());
                }
                (_, EngagementRefusal::Unavailable) => {}
                _ => assert_eq!(e.to_string(), room.to_string(), "{e:?}"),
            }
            // Only a failure of the engine itself reads as a 5xx, and then
            // the room says the same.
            if e.refusal().status.is_server_error() {
                assert_eq!(room, EngagementRefusal::Unavailable, "{e:?}");
            }
        }
    }
}
