//! The show's live moments in the room, as plain data: the host's poll
//! (question, options, your vote, live results, the closing countdown),
//! the Q&A (ask, upvote, answered ones marked) and the giveaway (its entry
//! rule, entering, the winner). Built by [`build`] from the room mirror and
//! the local UI state; the desktop and XR draw the same buttons.

use super::UiAction;
use super::view::ViewButton;
use crate::net::RoomMirror;
use std::collections::{BTreeMap, BTreeSet};
use vitrine_shared::protocol::{EntryRule, GiveawayNet, PollNet};
use vitrine_shared::{GiveawayId, PollId, QuestionId};

/// Questions the panel lists: the most upvoted open ones, then the
/// answered.
pub const QUESTIONS_SHOWN: usize = 4;
/// A closed poll's results stay this long after its closing time (one
/// the host closed early: after that time, as the room does not say when).
pub const RESULTS_KEPT_MS: i64 = 120_000;
/// Opens the box to type a question (desktop).
pub const ASK_KEY: &str = "Q";
/// A giveaway whose entries closed shows "the draw is next" this long.
pub const DRAW_WAIT_MS: i64 = 60_000;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveView {
    pub poll: Option<PollView>,
    pub questions: Vec<QuestionLine>,
    /// The question being typed, while its box is open.
    pub ask_draft: Option<String>,
    pub giveaway: Option<GiveawayView>,
    /// The last draw while here: "Bea won the Linen Tote".
    pub winner: Option<String>,
    /// "Check the draw": its commitment, seed and recomputed winner.
    pub check: Option<ViewButton>,
    /// What checking the draw found, in words.
    pub checked: Vec<String>,
}

/// "Ask the host (Q)": opens the question box.
pub fn ask_button() -> ViewButton {
    ViewButton::new("Ask the host", UiAction::OpenAsk).with_key(ASK_KEY)
}

#[derive(Debug, Clone, PartialEq)]
pub struct PollView {
    pub id: PollId,
    pub question: String,
    pub options: Vec<PollOptionView>,
    /// "Closes in 42 s", "Closed: final results".
    pub status: String,
    pub votes: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PollOptionView {
    pub label: String,
    pub count: u32,
    /// Of all votes, rounded; 0 when nobody voted.
    pub percent: u8,
    /// This shopper's choice.
    pub yours: bool,
    /// While the poll is open and this shopper has not voted.
    pub vote: Option<ViewButton>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QuestionLine {
    pub text: String,
    pub votes: u32,
    pub answered: bool,
    /// Someone else's open question this shopper has not upvoted.
    pub upvote: Option<ViewButton>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GiveawayView {
    pub id: GiveawayId,
    pub prize: String,
    /// Who may enter, in words.
    pub rule: String,
    /// "Entries close in 1:20".
    pub closes: String,
    pub entries: u32,
    pub entered: bool,
    pub enter: Option<ViewButton>,
}

/// What this shopper did here (the server refuses a second vote, upvote or
/// entry; this only keeps the buttons from offering one).
#[derive(Debug, Clone, Default)]
pub struct LiveLocal {
    pub voted: BTreeMap<PollId, u8>,
    pub upvoted: BTreeSet<QuestionId>,
    pub entered: BTreeSet<GiveawayId>,
    pub ask_draft: Option<String>,
    /// Draws checked, in words (see [`check_lines`]).
    pub checks: BTreeMap<GiveawayId, Vec<String>>,
}

fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

/// A drawn giveaway checked as anyone can, in words: the seed against the
/// commitment published when it opened, then each draw recomputed from the
/// seed and the public entry list.
pub fn check_lines(giveaway: &vitrine_shared::api::GiveawayView) -> Vec<String> {
    let Some(check) = vitrine_shared::giveaway::check(giveaway) else {
        return vec!["Not drawn yet: the seed is revealed when entries close".into()];
    };
    let mut lines = vec![format!(
        "Commitment {}..., published when it opened",
        short(&giveaway.commitment)
    )];
    let seed = giveaway.seed.as_deref().unwrap_or_default();
    lines.push(if check.seed_matches {
        format!("Seed {}...: its SHA-256 is the commitment", short(seed))
    } else {
        format!("Seed {}...: its SHA-256 is NOT the commitment", short(seed))
    });
    let n = giveaway.entries.len();
    let entries = if n == 1 { "entry" } else { "entries" };
    for ((draw, won, again), d) in check.draws.iter().zip(&giveaway.draws) {
        let verdict = if again == &Some(*won) {
            format!("{}, as announced", d.name)
        } else {
            format!("NOT {}", d.name)
        };
        lines.push(format!(
            "Draw {} from {n} {entries}, recomputed: {verdict}",
            draw + 1
        ));
    }
    lines.push(if check.holds() {
        "The draw checks out".into()
    } else {
        "The draw does NOT check out".into()
    });
    lines
}

pub fn rule_words(rule: EntryRule) -> String {
    match rule {
        EntryRule::Everyone => "Open to everyone here".into(),
        EntryRule::PresentMinutes(1) => "For shoppers here and active for a minute".into(),
        EntryRule::PresentMinutes(m) => format!("For shoppers here and active for {m} minutes"),
        EntryRule::BoughtInShow => "For shoppers who bought something in this show".into(),
    }
}

fn seconds_left(until_ms: i64, now_ms: i64) -> i64 {
    until_ms.saturating_sub(now_ms).saturating_add(999) / 1000
}

fn clock(seconds: i64) -> String {
    if seconds >= 60 {
        format!("{}:{:02}", seconds / 60, seconds % 60)
    } else {
        format!("{seconds} s")
    }
}

/// The poll to show: the newest one still open, or else the newest closed
/// one for [`RESULTS_KEPT_MS`] after its closing time.
fn current_poll(m: &RoomMirror, now_ms: i64) -> Option<&PollNet> {
    let open = |p: &&PollNet| !p.closed && p.closes_at_ms > now_ms;
    m.polls.values().rev().find(open).or_else(|| {
        m.polls
            .values()
            .rev()
            .find(|p| p.closes_at_ms.min(now_ms) + RESULTS_KEPT_MS > now_ms)
    })
}

fn poll_view(poll: &PollNet, local: &LiveLocal, now_ms: i64) -> PollView {
    let open = !poll.closed && poll.closes_at_ms > now_ms;
    let votes: u32 = poll.counts.iter().fold(0, |a, c| a.saturating_add(*c));
    let yours = local.voted.get(&poll.id).copied();
    PollView {
        id: poll.id,
        question: poll.question.clone(),
        options: poll
            .options
            .iter()
            .enumerate()
            .map(|(i, label)| {
                let count = poll.counts.get(i).copied().unwrap_or(0);
                let percent = if votes == 0 {
                    0
                } else {
                    ((u64::from(count) * 100 + u64::from(votes) / 2) / u64::from(votes)) as u8
                };
                PollOptionView {
                    label: label.clone(),
                    count,
                    percent,
                    yours: yours == Some(i as u8),
                    vote: (open && yours.is_none() && i <= usize::from(u8::MAX)).then(|| {
                        ViewButton::new(
                            label.clone(),
                            UiAction::Vote {
                                poll: poll.id,
                                option: i as u8,
                            },
                        )
                    }),
                }
            })
            .collect(),
        status: if open {
            format!(
                "Closes in {}",
                clock(seconds_left(poll.closes_at_ms, now_ms))
            )
        } else {
            "Closed: final results".into()
        },
        votes,
    }
}

fn giveaway_view(g: &GiveawayNet, local: &LiveLocal, now_ms: i64) -> GiveawayView {
    let entered = local.entered.contains(&g.id);
    let open = g.closes_at_ms > now_ms;
    GiveawayView {
        id: g.id,
        prize: g.prize.clone(),
        rule: rule_words(g.rule),
        closes: if open {
            format!(
                "Entries close in {}",
                clock(seconds_left(g.closes_at_ms, now_ms))
            )
        } else {
            "Entries closed: the draw is next".into()
        },
        entries: g.entries,
        entered,
        enter: (open && !entered).then(|| ViewButton::new("Enter", UiAction::EnterGiveaway(g.id))),
    }
}

pub fn build(mirror: Option<&RoomMirror>, local: &LiveLocal, now_ms: i64) -> LiveView {
    let Some(m) = mirror else {
        return LiveView::default();
    };
    let me = m.you.and_then(|slot| m.members.get(&slot)).map(|i| &i.name);
    let mut questions: Vec<_> = m.questions.values().collect();
    // Open first, the most upvoted first, then the oldest.
    questions.sort_by_key(|q| (q.answered, std::cmp::Reverse(q.votes), q.id));
    let questions = questions
        .into_iter()
        .take(QUESTIONS_SHOWN)
        .map(|q| QuestionLine {
            text: format!("{}: {}", q.name, q.text),
            votes: q.votes,
            answered: q.answered,
            upvote: (!q.answered && Some(&q.name) != me && !local.upvoted.contains(&q.id))
                .then(|| ViewButton::new("+1", UiAction::Upvote(q.id))),
        })
        .collect();
    // The newest giveaway still open for entries, else the newest one
    // being drawn: for a minute after entries closed, and only with entries
    // (an empty one has no draw to wait for).
    let giveaway = m
        .giveaways
        .values()
        .rev()
        .find(|g| g.closes_at_ms > now_ms)
        .or_else(|| {
            m.giveaways
                .values()
                .rev()
                .find(|g| g.entries > 0 && g.closes_at_ms + DRAW_WAIT_MS > now_ms)
        })
        .map(|g| giveaway_view(g, local, now_ms));
    let last = m.draws.last();
    let winner = last.map(|(id, _, name, _)| match m.drawn_prizes.get(id) {
        Some(prize) => format!("{name} won the {prize}"),
        None => format!("{name} won the giveaway"),
    });
    let checked = last
        .and_then(|(id, ..)| local.checks.get(id))
        .cloned()
        .unwrap_or_default();
    let check = last
        .filter(|_| checked.is_empty())
        .map(|(id, ..)| ViewButton::new("Check the draw", UiAction::CheckDraw(*id)));
    LiveView {
        poll: current_poll(m, now_ms).map(|p| poll_view(p, local, now_ms)),
        questions,
        ask_draft: local.ask_draft.clone(),
        giveaway,
        winner,
        check,
        checked,
    }
}

#[cfg(test)]
mod tests {
    use super::super::view::tests::mirror;
    use super::super::{UiState, shop_command};
    use super::*;
    use vitrine_shared::protocol::QuestionNet;
    use vitrine_shared::{ChatText, DisplayName, RoomCommand};

    const NOW: i64 = 1_000_000;

    fn poll(id: i64, closes_at_ms: i64, counts: Vec<u32>) -> PollNet {
        PollNet {
            id: PollId(id),
            question: "Which colour next?".into(),
            options: vec!["Sage".into(), "Rust".into(), "Ink".into()],
            counts,
            closes_at_ms,
            closed: false,
        }
    }

    fn question(id: i64, name: &str, votes: u32, answered: bool) -> QuestionNet {
        QuestionNet {
            id: QuestionId(id),
            name: DisplayName::new(name).unwrap(),
            text: ChatText::new(format!("Question {id}?")).unwrap(),
            votes,
            answered,
        }
    }

    #[test]
    fn a_poll_offers_its_options_then_shows_the_results_and_your_vote() {
        let mut m = mirror();
        m.polls
            .insert(PollId(1), poll(1, NOW + 42_000, vec![1, 2, 0]));
        let mut ui = UiState::default();
        let view = build(Some(&m), &ui.local.live, NOW);
        let p = view.poll.expect("the poll");
        assert_eq!(p.question, "Which colour next?");
        assert_eq!(p.status, "Closes in 42 s");
        assert_eq!(p.votes, 3);
        let shares: Vec<u8> = p.options.iter().map(|o| o.percent).collect();
        assert_eq!(shares, [33, 67, 0]);
        assert!(p.options.iter().all(|o| o.vote.is_some() && !o.yours));
        // Voting sends the option and takes the buttons away.
        let vote = p.options[1].vote.clone().unwrap().action;
        assert_eq!(
            shop_command(&vote, &mut ui, Some(&m), &[]),
            Some(RoomCommand::Vote {
                poll_id: PollId(1),
                option: 1
            })
        );
        m.polls.get_mut(&PollId(1)).unwrap().counts = vec![1, 3, 0];
        let p = build(Some(&m), &ui.local.live, NOW).poll.unwrap();
        assert!(p.options.iter().all(|o| o.vote.is_none()));
        assert!(p.options[1].yours && !p.options[0].yours);
        assert_eq!(p.options[1].percent, 75);
        // Closed: final results, for a while; a newer open poll comes first.
        m.polls.get_mut(&PollId(1)).unwrap().closed = true;
        let p = build(Some(&m), &ui.local.live, NOW).poll.unwrap();
        assert_eq!(p.status, "Closed: final results");
        assert!(
            build(Some(&m), &ui.local.live, NOW + 42_000 + RESULTS_KEPT_MS)
                .poll
                .is_none()
        );
        m.polls
            .insert(PollId(2), poll(2, NOW + 90_000, vec![0, 0, 0]));
        let p = build(Some(&m), &ui.local.live, NOW).poll.unwrap();
        assert_eq!((p.id, p.status.as_str()), (PollId(2), "Closes in 1:30"));
        assert!(p.options.iter().all(|o| o.percent == 0 && o.vote.is_some()));
    }

    #[test]
    fn questions_list_the_most_upvoted_first_and_mark_the_answered() {
        let mut m = mirror();
        for q in [
            question(1, "Bea", 1, false),
            question(2, "Bea", 5, false),
            question(3, "Me", 3, false),
            question(4, "Bea", 9, true),
            question(5, "Bea", 0, false),
        ] {
            m.questions.insert(q.id, q);
        }
        let mut ui = UiState::default();
        let view = build(Some(&m), &ui.local.live, NOW);
        let shown: Vec<(&str, bool, bool)> = view
            .questions
            .iter()
            .map(|q| (q.text.as_str(), q.answered, q.upvote.is_some()))
            .collect();
        // Your own question has no +1; only QUESTIONS_SHOWN are listed.
        assert_eq!(
            shown,
            [
                ("Bea: Question 2?", false, true),
                ("Me: Question 3?", false, false),
                ("Bea: Question 1?", false, true),
                ("Bea: Question 5?", false, true),
            ]
        );
        let upvote = view.questions[0].upvote.clone().unwrap().action;
        assert_eq!(
            shop_command(&upvote, &mut ui, Some(&m), &[]),
            Some(RoomCommand::Upvote {
                question_id: QuestionId(2)
            })
        );
        assert!(
            build(Some(&m), &ui.local.live, NOW).questions[0]
                .upvote
                .is_none()
        );
        m.questions.remove(&QuestionId(5));
        m.questions.remove(&QuestionId(1));
        let view = build(Some(&m), &ui.local.live, NOW);
        assert_eq!(view.questions.last().unwrap().text, "Bea: Question 4?");
        assert!(view.questions.last().unwrap().answered);
        // Asking: the box opens, an empty question sends nothing, words do.
        assert_eq!(
            shop_command(&UiAction::OpenAsk, &mut ui, Some(&m), &[]),
            None
        );
        assert_eq!(
            build(Some(&m), &ui.local.live, NOW).ask_draft.as_deref(),
            Some("")
        );
        assert_eq!(
            shop_command(&UiAction::SendAsk, &mut ui, Some(&m), &[]),
            None
        );
        ui.local.live.ask_draft = Some("Is it oven safe?".into());
        assert_eq!(
            shop_command(&UiAction::SendAsk, &mut ui, Some(&m), &[]),
            Some(RoomCommand::Ask(ChatText::new("Is it oven safe?").unwrap()))
        );
        assert_eq!(ui.local.live.ask_draft, None);
        // Too long: refused in words, nothing sent.
        ui.local.live.ask_draft = Some("x".repeat(10_000));
        assert_eq!(
            shop_command(&UiAction::SendAsk, &mut ui, Some(&m), &[]),
            None
        );
        assert!(
            ui.local
                .notice
                .as_deref()
                .unwrap()
                .starts_with("Question not sent")
        );
    }

    #[test]
    fn a_giveaway_says_who_may_enter_takes_an_entry_and_names_the_winner() {
        let mut m = mirror();
        m.giveaways.insert(
            GiveawayId(3),
            GiveawayNet {
                id: GiveawayId(3),
                prize: "Linen Tote".into(),
                rule: EntryRule::PresentMinutes(5),
                closes_at_ms: NOW + 80_000,
                commitment: "ab".repeat(32),
                entries: 1,
            },
        );
        let mut ui = UiState::default();
        let g = build(Some(&m), &ui.local.live, NOW).giveaway.unwrap();
        assert_eq!(g.rule, "For shoppers here and active for 5 minutes");
        assert_eq!(g.closes, "Entries close in 1:20");
        let enter = g.enter.expect("Enter").action;
        assert_eq!(
            shop_command(&enter, &mut ui, Some(&m), &[]),
            Some(RoomCommand::EnterGiveaway {
                giveaway_id: GiveawayId(3)
            })
        );
        let g = build(Some(&m), &ui.local.live, NOW).giveaway.unwrap();
        assert!(g.entered && g.enter.is_none());
        let closed = build(Some(&m), &ui.local.live, NOW + 80_000)
            .giveaway
            .unwrap();
        assert_eq!(closed.closes, "Entries closed: the draw is next");
        // Not for ever, and not when nobody entered.
        let later = NOW + 80_000 + DRAW_WAIT_MS;
        assert_eq!(build(Some(&m), &ui.local.live, later).giveaway, None);
        m.giveaways.get_mut(&GiveawayId(3)).unwrap().entries = 0;
        assert_eq!(build(Some(&m), &ui.local.live, NOW + 80_000).giveaway, None);
        m.giveaways.get_mut(&GiveawayId(3)).unwrap().entries = 1;
        // The draw: the winner by name, with the prize.
        m.apply(vitrine_shared::protocol::ServerMessage::Engagement(
            vitrine_shared::protocol::EngagementEventNet::GiveawayDrawn {
                giveaway_id: GiveawayId(3),
                draw: 0,
                winner: DisplayName::new("Bea").unwrap(),
                seed: "00".repeat(32),
            },
        ))
        .unwrap();
        let view = build(Some(&m), &ui.local.live, NOW);
        assert_eq!(view.giveaway, None);
        assert_eq!(view.winner.as_deref(), Some("Bea won the Linen Tote"));
        assert_eq!(
            view.check.map(|b| b.action),
            Some(UiAction::CheckDraw(GiveawayId(3)))
        );
        // Checked: the lines replace the button.
        ui.local
            .live
            .checks
            .insert(GiveawayId(3), vec!["The draw checks out".into()]);
        let view = build(Some(&m), &ui.local.live, NOW);
        assert_eq!((view.check, view.checked.len()), (None, 1));
        for (rule, words) in [
            (EntryRule::Everyone, "Open to everyone here"),
            (
                EntryRule::PresentMinutes(1),
                "For shoppers here and active for a minute",
            ),
            (
                EntryRule::BoughtInShow,
                "For shoppers who bought something in this show",
            ),
        ] {
            assert_eq!(rule_words(rule), words);
        }
    }

    #[test]
    fn a_draw_is_checked_in_words() {
        use vitrine_shared::api::{DrawView, GiveawayView as Api};
        use vitrine_shared::giveaway::{commitment_of, draw_winner, hex};
        let seed = hex(&[9; 32]);
        let entries = vec![4, 8, 15];
        let winner = draw_winner(&seed, &entries, 0, &[]).unwrap();
        let mut api = Api {
            id: GiveawayId(3),
            prize: "Linen Tote".into(),
            entry: "everyone".into(),
            present_minutes: None,
            closes_at_ms: 0,
            commitment: commitment_of(&seed).unwrap(),
            seed: Some(seed.clone()),
            entries,
            draws: vec![DrawView {
                draw: 0,
                account_id: winner,
                name: "Bea".into(),
                claim_by_ms: 0,
                claimed: false,
            }],
        };
        let lines = check_lines(&api);
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[1].ends_with("its SHA-256 is the commitment"));
        assert_eq!(
            lines[2],
            "Draw 1 from 3 entries, recomputed: Bea, as announced"
        );
        assert_eq!(lines[3], "The draw checks out");
        api.draws[0].account_id = winner + 1;
        assert_eq!(check_lines(&api)[3], "The draw does NOT check out");
        api.seed = None;
        assert_eq!(check_lines(&api).len(), 1);
    }
}
