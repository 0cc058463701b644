//! The reward rules, from a TOML file (`assets/rewards.toml`): points per
//! kind of grant with a cap per hour, what counts as active, what points
//! buy, and the quests that earn badges. A bad file is refused whole with
//! the field at fault.

use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;
use thiserror::Error;

/// What a grant is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantKind {
    /// A minute present and active in a room.
    Watch,
    Chat,
    /// A product picked up or examined (once per product per show).
    Inspect,
    PollAnswer,
    /// A paid order.
    Purchase,
    /// A friend who came in with your invite and joined a room.
    Invite,
    /// A group deal's team completed with at least two distinct registered
    /// accounts in it (see `engagement::group_deals`).
    GroupDeal,
}

impl GrantKind {
    pub const ALL: [GrantKind; 7] = [
        GrantKind::Watch,
        GrantKind::Chat,
        GrantKind::Inspect,
        GrantKind::PollAnswer,
        GrantKind::Purchase,
        GrantKind::Invite,
        GrantKind::GroupDeal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantKind::Watch => "watch",
            GrantKind::Chat => "chat",
            GrantKind::Inspect => "inspect",
            GrantKind::PollAnswer => "poll_answer",
            GrantKind::Purchase => "purchase",
            GrantKind::Invite => "invite",
            GrantKind::GroupDeal => "group_deal",
        }
    }

    pub fn parse(s: &str) -> Option<GrantKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantRule {
    pub points: i64,
    /// Points of this kind one shopper may earn in any hour.
    pub max_per_hour: i64,
}

/// What a quest counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuestCount {
    Grants(GrantKind),
    /// Shows in which the shopper earned watch points.
    ShowsWatched,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quest {
    pub id: String,
    pub name: String,
    pub description: String,
    pub counts: QuestCount,
    pub target: i64,
    /// Counted within the current show; the badge is earned once ever.
    pub per_show: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardOfferRule {
    pub id: String,
    pub points: i64,
    pub percent_off: i64,
    pub valid_days: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardRules {
    pub grants: BTreeMap<GrantKind, GrantRule>,
    /// A member who has neither moved nor sent a command for this long is
    /// idle, and earns no watch points.
    pub idle_after: Duration,
    /// A giveaway winner's time to claim before the prize is drawn again.
    pub giveaway_claim: Duration,
    pub rewards: Vec<RewardOfferRule>,
    pub quests: Vec<Quest>,
}

impl RewardRules {
    pub fn rule(&self, kind: GrantKind) -> GrantRule {
        self.grants.get(&kind).copied().unwrap_or(GrantRule {
            points: 0,
            max_per_hour: 0,
        })
    }
}

#[derive(Debug, Error)]
pub enum RulesError {
    #[error("cannot read reward rules {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("reward rules line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("reward rules, {field}: {message}")]
    Invalid { field: String, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesToml {
    idle_after_secs: u64,
    giveaway_claim_hours: u64,
    points: BTreeMap<String, GrantToml>,
    #[serde(default)]
    rewards: Vec<RewardToml>,
    #[serde(default)]
    quests: Vec<QuestToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantToml {
    points: i64,
    max_per_hour: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RewardToml {
    id: String,
    points: i64,
    percent_off: i64,
    valid_days: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestToml {
    id: String,
    name: String,
    #[serde(default)]
    description: String,
    counts: String,
    target: i64,
    #[serde(default)]
    per_show: bool,
}

/// `Ok` when `value` lies in `range`; otherwise a refusal naming the range,
/// so each limit is written once.
fn within<T: PartialOrd + std::fmt::Display>(
    field: impl Into<String>,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), RulesError> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(RulesError::Invalid {
        field: field.into(),
        message: format!("must be {} to {}", range.start(), range.end()),
    })
}

fn slug_ok(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub fn load_rules_file(path: &Path) -> Result<RewardRules, RulesError> {
    let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_rules(&text)
}

pub fn parse_rules(text: &str) -> Result<RewardRules, RulesError> {
    let file: RulesToml = toml::from_str(text).map_err(|e| RulesError::Syntax {
        line: e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(1),
        message: e.message().to_owned(),
    })?;
    let invalid = |field: String, message: &str| RulesError::Invalid {
        field,
        message: message.to_owned(),
    };
    within("idle_after_secs", file.idle_after_secs, 10..=3600)?;
    within(
        "giveaway_claim_hours",
        file.giveaway_claim_hours,
        1..=24 * 30,
    )?;
    let mut grants = BTreeMap::new();
    for (name, rule) in &file.points {
        let field = |f: &str| format!("points.{name}.{f}");
        let kind = GrantKind::parse(name).ok_or_else(|| {
            invalid(
                format!("points.{name}"),
                "unknown kind: watch, chat, inspect, poll_answer, purchase, invite or group_deal",
            )
        })?;
        within(field("points"), rule.points, 0..=10_000)?;
        within(field("max_per_hour"), rule.max_per_hour, 0..=1_000_000)?;
        grants.insert(
            kind,
            GrantRule {
                points: rule.points,
                max_per_hour: rule.max_per_hour,
            },
        );
    }
    let mut ids = HashSet::new();
    let mut rewards = Vec::new();
    for (i, r) in file.rewards.into_iter().enumerate() {
        let field = |f: &str| format!("rewards[{i}].{f}");
        if !slug_ok(&r.id) || !ids.insert(r.id.clone()) {
            return Err(invalid(
                field("id"),
                "must be a unique id of a-z, 0-9 and -",
            ));
        }
        within(field("points"), r.points, 1..=1_000_000)?;
        // A reward is a coupon: its discount obeys the coupons' limit.
        let max_percent = vitrine_shared::limits::commerce::MAX_PERCENT_OFF;
        within(field("percent_off"), r.percent_off, 1..=max_percent)?;
        within(field("valid_days"), r.valid_days, 1..=365)?;
        rewards.push(RewardOfferRule {
            id: r.id,
            points: r.points,
            percent_off: r.percent_off,
            valid_days: r.valid_days,
        });
    }
    let mut ids = HashSet::new();
    let mut quests = Vec::new();
    for (i, q) in file.quests.into_iter().enumerate() {
        let field = |f: &str| format!("quests[{i}].{f}");
        if !slug_ok(&q.id) || !ids.insert(q.id.clone()) {
            return Err(invalid(
                field("id"),
                "must be a unique id of a-z, 0-9 and -",
            ));
        }
        const MAX_QUEST_NAME_CHARS: usize = 60;
        const MAX_QUEST_DESCRIPTION_CHARS: usize = 200;
        if q.name.trim().is_empty() || q.name.chars().count() > MAX_QUEST_NAME_CHARS {
            let message = format!("must be 1 to {MAX_QUEST_NAME_CHARS} characters");
            return Err(invalid(field("name"), &message));
        }
        if q.description.chars().count() > MAX_QUEST_DESCRIPTION_CHARS {
            let message = format!("at most {MAX_QUEST_DESCRIPTION_CHARS} characters");
            return Err(invalid(field("description"), &message));
        }
        let counts = match q.counts.as_str() {
            "shows_watched" => QuestCount::ShowsWatched,
            other => QuestCount::Grants(GrantKind::parse(other).ok_or_else(|| {
                invalid(field("counts"), "must be a kind of grant, or shows_watched")
            })?),
        };
        if counts == QuestCount::ShowsWatched && q.per_show {
            return Err(invalid(field("per_show"), "shows_watched spans shows"));
        }
        within(field("target"), q.target, 1..=100_000)?;
        quests.push(Quest {
            id: q.id,
            name: q.name,
            description: q.description,
            counts,
            target: q.target,
            per_show: q.per_show,
        });
    }
    Ok(RewardRules {
        grants,
        idle_after: Duration::from_secs(file.idle_after_secs),
        giveaway_claim: Duration::from_secs(file.giveaway_claim_hours * 3600),
        rewards,
        quests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_are_valid_and_cover_every_kind() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/rewards.toml");
        let rules = load_rules_file(&path).unwrap();
        for kind in GrantKind::ALL {
            assert!(rules.rule(kind).points > 0, "{kind:?}");
        }
        assert!(!rules.rewards.is_empty());
        assert!(rules.quests.len() >= 3);
    }

    #[test]
    fn bad_rules_name_their_field() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/rewards.toml");
        let good = std::fs::read_to_string(path).unwrap();
        for (from, to, field) in [
            (
                "idle_after_secs = 120",
                "idle_after_secs = 1",
                "idle_after_secs",
            ),
            ("[points.chat]", "[points.chatter]", "points.chatter"),
            ("target = 5", "target = 0", "quests[0].target"),
            (
                "counts = \"inspect\"",
                "counts = \"staring\"",
                "quests[0].counts",
            ),
            (
                "percent_off = 10",
                "percent_off = 200",
                "rewards[0].percent_off",
            ),
        ] {
            assert!(good.contains(from), "{from}");
            match parse_rules(&good.replacen(from, to, 1)) {
                Err(RulesError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{to}: {other:?}"),
            }
        }
        assert!(matches!(
            parse_rules("idle_after_secs = \"soon\""),
            Err(RulesError::Syntax { line: 1, .. })
        ));
    }
}
