//! Domain records as the API shows them: the JSON views of products, sales, claims,
//! orders, carts and coupons; of shows, polls, questions, giveaways, rewards
//! and leaders; of mutes, bans, the moderation log and chat lines. The HTTP
//! API and the host console both speak these, so the conversions live here,
//! beside neither.

use crate::catalog::Product;
use crate::commerce::{CartLine, Claimed, CouponInfo, Discount, FlashSale, OrderRecord};
use crate::engagement::rules::RewardOfferRule;
use crate::engagement::{Draw, Giveaway, Leader, Poll, Question, Rewards, Show};
use crate::moderation::{Ban, ChatEntry, LogEntry, Mute};
use vitrine_shared::Money;
use vitrine_shared::api::{
    BanView, CartLineView, CartView, ClaimView, CouponView, DrawView, FlashSaleView, GiveawayView,
    GrantView, LeaderView, ModChatLine, ModLogEntry, MuteView, OrderLineView, OrderView, PollView,
    ProductView, QuestView, QuestionView, RewardOffer, RewardsView, ShowView, VariantView,
};
use vitrine_shared::protocol::EntryRule;

pub fn product_view(p: Product) -> ProductView {
    ProductView {
        id: p.id,
        name: p.name,
        category: p.category.to_string(),
        description: p.description,
        price: p.price.into(),
        model: p.model,
        size: p.size,
        variants: p
            .variants
            .into_iter()
            .map(|v| VariantView {
                sku: v.sku,
                options: v.options,
                price: v.price.into(),
                stock: v.stock,
            })
            .collect(),
        reviews: Default::default(),
    }
}

pub fn flash_sale_view(s: FlashSale) -> FlashSaleView {
    let units_left = s.units_left();
    FlashSaleView {
        id: s.id,
        product_id: s.product,
        sku: s.sku,
        sale_price: s.price.into(),
        quantity: s.quantity,
        sold: s.sold,
        units_left,
        per_buyer_limit: s.per_buyer_limit,
        starts_at_ms: s.starts_at_ms,
        ends_at_ms: s.ends_at_ms,
        state: s.state.as_str().to_owned(),
    }
}

pub fn claim_view(c: Claimed) -> ClaimView {
    ClaimView {
        order_id: c.order_id,
        sale_id: c.sale_id,
        sku: c.sku,
        quantity: c.quantity,
        unit_price: c.unit_price.into(),
        total: c.total.into(),
        units_left: c.units_left,
    }
}

pub fn order_view(o: OrderRecord) -> OrderView {
    OrderView {
        id: o.id,
        status: o.status,
        total: o.total.into(),
        flash_sale_id: o.flash_sale_id,
        source: o.source,
        discount: o.discount.into(),
        coupon: o.coupon,
        created_at_ms: o.created_at_ms,
        return_reason: o.return_reason,
        failure: o.failure,
        lines: o
            .lines
            .into_iter()
            .map(|l| OrderLineView {
                sku: l.sku,
                quantity: l.quantity,
                unit_price: l.unit_price.into(),
            })
            .collect(),
    }
}

pub fn cart_view(lines: Vec<CartLine>) -> CartView {
    let subtotal = lines.first().map(|first| {
        let minor = lines.iter().map(|l| l.unit_price.minor * l.quantity).sum();
        Money::new(minor, first.unit_price.currency).into()
    });
    CartView {
        lines: lines
            .into_iter()
            .map(|l| CartLineView {
                sku: l.sku,
                product_id: l.product,
                name: l.name,
                unit_price: l.unit_price.into(),
                quantity: l.quantity,
                held_until_ms: l.held_until_ms,
            })
            .collect(),
        subtotal,
    }
}

pub fn coupon_view(info: CouponInfo) -> CouponView {
    let c = info.coupon;
    let (percent_off, amount_off) = match c.discount {
        Discount::Percent(p) => (Some(p), None),
        Discount::Amount(a) => (None, Some(Money::new(a, c.currency).into())),
    };
    CouponView {
        code: c.code.to_string(),
        percent_off,
        amount_off,
        min_order: Money::new(c.min_order_minor, c.currency).into(),
        max_redemptions: c.max_redemptions,
        per_buyer_limit: c.per_buyer_limit,
        redeemed: info.redeemed,
        starts_at_ms: c.starts_at_ms,
        ends_at_ms: c.ends_at_ms,
        pinned: info.pinned,
    }
}

pub fn show_view(s: Show) -> ShowView {
    let status = match (s.live_at_ms, s.ended_at_ms) {
        (_, Some(_)) => "ended",
        (Some(_), None) => "live",
        (None, None) => "scheduled",
    };
    ShowView {
        id: s.id,
        title: s.title,
        status: status.to_owned(),
        scheduled_at_ms: s.scheduled_at_ms,
        live_at_ms: s.live_at_ms,
        ended_at_ms: s.ended_at_ms,
        lineup: s.lineup,
        featured: s.featured,
    }
}

// Engagement.

pub fn poll_view(p: Poll) -> PollView {
    PollView {
        id: p.id,
        question: p.question,
        options: p.options,
        counts: p.counts,
        closes_at_ms: p.closes_at_ms,
        closed: p.closed,
    }
}

pub fn question_view(q: Question) -> QuestionView {
    QuestionView {
        id: q.id,
        name: q.name.to_string(),
        text: q.text.to_string(),
        votes: q.votes,
        answered: q.answered,
        asked_at_ms: q.asked_at_ms,
    }
}

pub fn draw_view(d: Draw) -> DrawView {
    DrawView {
        draw: d.draw,
        account_id: d.account.0,
        name: d.name.to_string(),
        claim_by_ms: d.claim_by_ms,
        claimed: d.claimed,
    }
}

pub fn giveaway_view(g: Giveaway) -> GiveawayView {
    let (entry, present_minutes) = match g.rule {
        EntryRule::Everyone => ("everyone", None),
        EntryRule::PresentMinutes(m) => ("present", Some(m)),
        EntryRule::BoughtInShow => ("bought_in_show", None),
    };
    GiveawayView {
        id: g.id,
        prize: g.prize,
        entry: entry.to_owned(),
        present_minutes,
        closes_at_ms: g.closes_at_ms,
        commitment: g.commitment,
        seed: g.seed,
        entries: g.entries.iter().map(|a| a.0).collect(),
        draws: g.draws.into_iter().map(draw_view).collect(),
    }
}

pub fn rewards_view(r: Rewards, offers: &[RewardOfferRule]) -> RewardsView {
    RewardsView {
        balance: r.balance,
        earned: r.earned,
        earned_this_show: r.earned_this_show,
        quests: r
            .quests
            .into_iter()
            .map(|q| QuestView {
                id: q.quest.id,
                name: q.quest.name,
                description: q.quest.description,
                progress: q.progress,
                target: q.quest.target,
                per_show: q.quest.per_show,
                earned: q.earned,
            })
            .collect(),
        recent: r
            .recent
            .into_iter()
            .map(|g| GrantView {
                points: g.points,
                reason: g.reason,
                at_ms: g.at_ms,
            })
            .collect(),
        rewards: offers
            .iter()
            .map(|o| RewardOffer {
                id: o.id.clone(),
                points: o.points,
                percent_off: o.percent_off,
                valid_days: o.valid_days,
            })
            .collect(),
    }
}

pub fn leader_view(l: Leader) -> LeaderView {
    LeaderView {
        account_id: l.account.0,
        name: l.name.to_string(),
        points: l.points,
    }
}

// Moderation.

pub fn mute_view(m: Mute) -> MuteView {
    MuteView {
        account_id: m.account.0,
        name: m.name,
        until_ms: m.until_ms,
        reason: m.reason,
        muted_by: m.muted_by.0,
    }
}

pub fn ban_view(b: Ban) -> BanView {
    BanView {
        account_id: b.account.0,
        name: b.name,
        reason: b.reason,
        banned_by: b.banned_by.0,
        banned_at_ms: b.banned_at_ms,
    }
}

pub fn log_view(e: LogEntry) -> ModLogEntry {
    ModLogEntry {
        seq: e.seq,
        at_ms: e.at_ms,
        actor_id: e.actor.0,
        actor_name: e.actor_name,
        action: e.action,
        room: e.room,
        target_account_id: e.target.map(|a| a.0),
        target_name: e.target_name,
        details: e.details,
    }
}

pub fn mod_chat_line(l: ChatEntry) -> ModChatLine {
    ModChatLine {
        seq: l.seq,
        slot: l.slot.0,
        account_id: l.account.0,
        name: l.name.to_string(),
        text: l.text.to_string(),
        at_ms: l.at_ms,
    }
}
