//! The showroom's UI. [`view`] turns the room into plain data each frame;
//! [`desktop`] draws it as screen panels and [`start`] is the start screen.
//! Every button and key becomes a [`UiAction`]; this module turns shop and
//! chat actions into room commands (products handle their own).

pub mod checkout_review;
pub mod desktop;
pub mod live;
pub mod rewards;
pub mod shared_cart;
pub mod start;
pub mod team_deals;
pub mod together;
pub mod together_actions;
pub mod view;
pub mod voice;

use super::catalog::Catalog;
use super::focus::{FocusDecided, UiFocus};
use super::holding::{Hands, Pointer};
use super::session::{RoomChangeMessage, SendCommand, Session};
use super::{AppState, ShowroomSystems};
use crate::net::{ApiClient, RoomChange};
use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;
use checkout_review::Review;
use view::{LocalUi, ShowroomView, ViewInputs};
use vitrine_shared::protocol::{
    CheckoutCommand, CommerceEventNet, EngagementEventNet, GroupDealEventNet, OrderStatus,
    PartyCommand, Purchase, SharedCartCommand, SharedLineId, SharedPayment,
};
use vitrine_shared::validated::MAX_CHAT_BYTES;
use vitrine_shared::{
    AccountId, ChatText, CouponCode, DealId, GiveawayId, PartyId, PaymentMethod, PollId, ProductId,
    QuestionId, Reaction, RoomCommand, RoomId, SaleId, Sku, TeamId,
};

/// The saved card the showroom pays with. The built-in test gateway accepts
/// it; a real deployment would keep the shopper's card with the gateway.
pub const SAVED_CARD: &str = "4242 4242 4242 4242";
/// Notices fade after this long.
const NOTICE_SECS: f32 = 5.0;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<UiFocus>()
        .init_resource::<UiState>()
        .init_resource::<crate::showroom::voice::VoiceStatus>()
        .init_resource::<CurrentView>()
        .init_resource::<CouponCalls>()
        .init_resource::<ReviewCalls>()
        .init_resource::<DrawChecks>()
        .init_resource::<RewardsCalls>()
        .add_message::<UiAction>()
        .add_plugins((
            desktop::plugin,
            start::plugin,
            together_actions::plugin,
            voice::plugin,
        ))
        .add_systems(
            Update,
            (chat_keys.in_set(FocusDecided), shortcut_keys)
                .chain()
                .in_set(ShowroomSystems::Input)
                .run_if(in_state(AppState::Showroom)),
        )
        .add_systems(
            Update,
            (
                shop_actions,
                hear_shop,
                ask_reviews,
                hear_workers,
                build_view.in_set(ViewBuilt),
            )
                .chain()
                .in_set(ShowroomSystems::Present)
                .run_if(in_state(AppState::Showroom)),
        );
}

/// The system that builds this frame's [`CurrentView`]: whatever draws it
/// (the desktop's panels, XR's world-space ones) runs after.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ViewBuilt;

/// Everything a shopper can ask for, from a key, a click or an XR ray on a
/// world-space panel.
#[derive(Message, Debug, Clone, PartialEq)]
pub enum UiAction {
    Select(ProductId),
    SelectVariant {
        product: ProductId,
        index: usize,
    },
    PickUpOrPutBack,
    Drop,
    LookClosely,
    AddToCart {
        sku: Sku,
    },
    BuyNow {
        sku: Sku,
    },
    SetQuantity {
        sku: Sku,
        quantity: u16,
    },
    Checkout,
    /// Applies a coupon to the order under review, or removes it.
    ApplyCoupon(Option<CouponCode>),
    /// Opens the box to type a coupon code into the review (desktop).
    TypeCoupon,
    /// Applies a typed code: its terms are asked of the server.
    ApplyCouponCode(String),
    /// Pays for the order under review, as shown.
    Pay,
    /// Closes the review without paying.
    CancelReview,
    ClaimFlashSale(SaleId),
    /// A vote in the host's poll: the option's index.
    Vote {
        poll: PollId,
        option: u8,
    },
    /// Opens the box to type a question for the host (desktop).
    OpenAsk,
    /// Sends the typed question.
    SendAsk,
    /// One more voice behind someone else's question.
    Upvote(QuestionId),
    EnterGiveaway(GiveawayId),
    /// Checks a drawn giveaway's draw against its commitment.
    CheckDraw(GiveawayId),
    /// Opens or closes the rewards panel.
    ToggleRewards,
    /// Spends points on a reward (its id): a coupon for this shopper.
    Redeem(String),
    /// Rates a product bought and delivered, 1 to 5 stars.
    Review {
        product: ProductId,
        stars: u8,
    },
    React(Reaction),
    OpenChat,
    SendChat,
    ToggleCart,
    DismissConfirmation,
    /// Opens or closes the "Together" panel (friends and party).
    ToggleTogether,
    AcceptPartyInvite(PartyId),
    DeclinePartyInvite(PartyId),
    /// Joins the room the party's leader moved to.
    FollowLeader(RoomId),
    /// Turns the follow prompt away.
    DismissFollow,
    LeaveParty,
    /// Joins the room a friend is in.
    JoinFriend(AccountId),
    /// Invites a shopper (the one pointed at) into the party.
    InviteToParty(AccountId),
    /// Shares the product on the card with the party.
    ShareProduct(ProductId),
    AcceptFriend(AccountId),
    DeclineFriend(AccountId),
    /// Adds one of a variant to the party's shared cart.
    AddToSharedCart {
        sku: Sku,
    },
    SetSharedQuantity {
        line: SharedLineId,
        quantity: u16,
    },
    /// Marks a shared-cart line as paid for by this shopper.
    MarkSharedMine(SharedLineId),
    /// Checks out the shared cart: this shopper's lines, or every line.
    PaySharedCart(SharedPayment),
    /// Starts a team of a group deal, paying with the saved card.
    StartTeam(DealId),
    /// Joins a team forming in a group deal, paying with the saved card.
    JoinTeam {
        deal: DealId,
        team: TeamId,
    },
    /// Opens the box to type a friend's code or link (desktop).
    OpenFriendCode,
    /// Adds a friend by their code or link, as typed.
    AddFriendByCode(String),
    /// The leader removes a member from the party.
    RemoveFromParty(AccountId),
    /// The leader hands the lead to another member.
    MakePartyLeader(AccountId),
    /// The talk mode switch: push-to-talk, open mic, muted, and round.
    CycleTalkMode,
    SetTalkMode(crate::showroom::voice::TalkMode),
    /// Talk to the party, or to those nearby (only in a party).
    ToggleVoiceTarget,
    /// Mutes (or unmutes) a person's voice for this shopper; the server
    /// stops forwarding it.
    MuteVoice {
        account: AccountId,
        muted: bool,
    },
    /// A person's volume for this shopper, in percent.
    SetVoiceVolume {
        account: AccountId,
        volume: u16,
    },
}

#[derive(Resource, Default)]
pub struct UiState {
    pub local: LocalUi,
    next_request: u32,
    notice_age: f32,
}

/// The view built this frame.
#[derive(Resource, Default, Debug, Clone, PartialEq)]
pub struct CurrentView(pub ShowroomView);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn build_view(
    time: Res<Time>,
    session: Res<Session>,
    catalog: Res<Catalog>,
    pointer: Res<Pointer>,
    hands: Res<Hands>,
    voice_status: Res<crate::showroom::voice::VoiceStatus>,
    mut ui: ResMut<UiState>,
    mut current: ResMut<CurrentView>,
) {
    if ui.local.notice.is_some() {
        ui.notice_age += time.delta_secs();
        if ui.notice_age > NOTICE_SECS {
            ui.local.notice = None;
        }
    }
    let mut view = view::build(&ViewInputs {
        link: &session.link,
        mirror: session.mirror(),
        catalog: &catalog.products,
        card_product: pointer.card_product(),
        holding: hands.held.as_ref().map(|h| &h.product),
        ui: &ui.local,
        now_ms: now_ms(),
    });
    view.voice = voice::build(&voice_status, session.mirror(), ui.local.together.pointed);
    // A review with nothing left to pay for (the cart's holds ran out, the
    // product left the catalog) is dropped, not kept to pop up later.
    if ui.local.review.is_some() && view.confirmation.is_none() {
        ui.local.review = None;
    }
    if current.0 != view {
        current.0 = view;
    }
}

impl UiState {
    fn notice(&mut self, text: impl Into<String>) {
        self.local.notice = Some(text.into());
        self.notice_age = 0.0;
    }

    fn request_id(&mut self) -> u32 {
        if self.next_request == 0 {
            // Request ids are idempotency keys per account: start somewhere
            // a previous run of the app is unlikely to have used.
            self.next_request = rand::random::<u32>() | 1;
        }
        self.next_request = self.next_request.wrapping_add(1).max(1);
        self.next_request
    }
}

/// Answers of HTTP calls made on worker threads, for a system to take.
#[derive(Resource)]
struct WorkerAnswers<T> {
    tx: std::sync::mpsc::Sender<T>,
    rx: std::sync::Mutex<std::sync::mpsc::Receiver<T>>,
}

impl<T> Default for WorkerAnswers<T> {
    fn default() -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        WorkerAnswers {
            tx,
            rx: std::sync::Mutex::new(rx),
        }
    }
}

impl<T> WorkerAnswers<T> {
    fn drain(&self) -> Vec<T> {
        self.rx
            .lock()
            .map(|rx| rx.try_iter().collect())
            .unwrap_or_default()
    }
}

/// Typed coupons' terms.
type CouponCalls = WorkerAnswers<(CouponCode, checkout_review::CouponLookup)>;
/// Giveaway draws checked.
type DrawChecks = WorkerAnswers<(GiveawayId, Vec<String>)>;

/// Products' latest reviews, asked for the card.
type ReviewCalls = WorkerAnswers<(ProductId, view::ReviewsLookup)>;

/// Asks for a product's latest reviews when its card opens, and again once
/// this shopper's own rating of it is answered: the card quotes them. A
/// product nobody reviewed (by the catalog, refreshed now and then) is not
/// asked about.
fn ask_reviews(
    session: Res<Session>,
    catalog: Res<Catalog>,
    pointer: Res<Pointer>,
    calls: Res<ReviewCalls>,
    mut ui: ResMut<UiState>,
    time: Res<Time>,
    mut asked: Local<std::collections::HashMap<ProductId, (f64, Option<u8>)>>,
) {
    /// A card reopened sooner than this shows what it was told.
    const FRESH_FOR_S: f64 = 60.0;
    let Some(product) = pointer.card_product().cloned() else {
        return;
    };
    let rated = session
        .mirror()
        .and_then(|m| m.reviews.get(&product))
        .and_then(|r| r.as_ref().ok().copied());
    let now = time.elapsed_secs_f64();
    let stale = match asked.get(&product) {
        None => true,
        // Your own rating just landed, or it is a while since.
        Some((at, seen)) => *seen != rated || now - at > FRESH_FOR_S,
    };
    // Reviews to quote, or a delivered buyer's own stars to look up.
    let reviewed = catalog.products.iter().any(|p| {
        p.view.id == product
            && (p.view.reviews.count > 0
                || session
                    .mirror()
                    .is_some_and(|m| view::delivered(m, &p.view)))
    });
    // One ask at a time; a stale one waits for it and goes next.
    let asking = ui.local.reviews.get(&product) == Some(&view::ReviewsLookup::Asking);
    if !stale || asking || (!reviewed && rated.is_none()) {
        return;
    }
    let Some(server) = session.server.clone() else {
        return;
    };
    let signed_in = session.signed_in.clone();
    asked.insert(product.clone(), (now, rated));
    ui.local
        .reviews
        .insert(product.clone(), view::ReviewsLookup::Asking);
    let tx = calls.tx.clone();
    std::thread::spawn(move || {
        let lookup = match ApiClient::new(&server).product_reviews(&product, signed_in.as_ref()) {
            Ok(summary) => view::ReviewsLookup::Got {
                latest: summary.latest,
                mine: summary.mine,
            },
            Err(_) => view::ReviewsLookup::Failed,
        };
        let _ = tx.send((product, lookup));
    });
}

/// What the rewards calls came back with.
enum RewardsAnswer {
    Fetched(Result<vitrine_shared::api::RewardsView, String>),
    Redeemed(Result<vitrine_shared::api::Redeemed, String>),
}
type RewardsCalls = WorkerAnswers<RewardsAnswer>;

/// Asks for the shopper's quests and offers on a worker thread.
fn fetch_rewards(session: &Session, calls: &RewardsCalls) {
    let (Some(server), Some(signed_in)) = (session.server.clone(), session.signed_in.clone())
    else {
        return;
    };
    let tx = calls.tx.clone();
    std::thread::spawn(move || {
        let answer = ApiClient::new(&server)
            .rewards(&signed_in)
            .map_err(|e| e.to_string());
        let _ = tx.send(RewardsAnswer::Fetched(answer));
    });
}

fn redeem(reward: String, session: &Session, calls: &RewardsCalls, ui: &mut UiState) {
    let (Some(server), Some(signed_in)) = (session.server.clone(), session.signed_in.clone())
    else {
        ui.notice("Not signed in");
        return;
    };
    // One at a time: a double click spends once.
    if std::mem::replace(&mut ui.local.rewards.buying, true) {
        return;
    }
    let tx = calls.tx.clone();
    std::thread::spawn(move || {
        let answer = ApiClient::new(&server)
            .redeem(&signed_in, &reward)
            .map_err(|e| e.to_string());
        let _ = tx.send(RewardsAnswer::Redeemed(answer));
    });
}

/// Asks the server for a coupon's terms on a worker thread, one ask per
/// code at a time (the pinned one's come with the room).
fn look_up_coupon(code: &CouponCode, session: &Session, calls: &CouponCalls, ui: &mut UiState) {
    let pinned = session
        .mirror()
        .and_then(|m| m.pinned_coupon.as_ref())
        .is_some_and(|c| &c.code == code);
    // Asked again on each apply, even when known: its uses left change.
    let asking = ui.local.coupons.get(code) == Some(&checkout_review::CouponLookup::Asking);
    if pinned || asking {
        return;
    }
    let Some(server) = session.server.clone() else {
        return;
    };
    ui.local
        .coupons
        .insert(code.clone(), checkout_review::CouponLookup::Asking);
    let (tx, code) = (calls.tx.clone(), code.clone());
    std::thread::spawn(move || {
        let lookup = match ApiClient::new(&server).coupon(&code) {
            Ok(view) => checkout_review::from_view(&view, now_ms()),
            Err(e) if e.status() == Some(404) => checkout_review::CouponLookup::Refused(
                vitrine_shared::protocol::ShopRefusal::UnknownCoupon.to_string(),
            ),
            // Asked again when applied again.
            Err(e) => checkout_review::CouponLookup::Refused(format!("not checked ({e})")),
        };
        let _ = tx.send((code, lookup));
    });
}

/// Fetches a drawn giveaway (`GET /api/v1/giveaways/{id}`) on a worker
/// thread and checks its draw as anyone can (`vitrine_shared::giveaway`).
fn check_draw(giveaway: GiveawayId, session: &Session, calls: &DrawChecks, ui: &mut UiState) {
    let Some(server) = session.server.clone() else {
        return;
    };
    ui.local
        .live
        .checks
        .insert(giveaway, vec!["Checking the draw...".into()]);
    let tx = calls.tx.clone();
    std::thread::spawn(move || {
        let lines = match ApiClient::new(&server).giveaway(giveaway) {
            Ok(view) => live::check_lines(&view),
            Err(e) => vec![format!("Not checked: {e}")],
        };
        let _ = tx.send((giveaway, lines));
    });
}

fn hear_workers(
    session: Res<Session>,
    coupons: Res<CouponCalls>,
    checks: Res<DrawChecks>,
    rewards: Res<RewardsCalls>,
    reviews: Res<ReviewCalls>,
    mut ui: ResMut<UiState>,
) {
    for (product, lookup) in reviews.drain() {
        ui.local.reviews.insert(product, lookup);
    }
    for (code, lookup) in coupons.drain() {
        ui.local.coupons.insert(code, lookup);
    }
    for (giveaway, lines) in checks.drain() {
        ui.local.live.checks.insert(giveaway, lines);
    }
    for answer in rewards.drain() {
        match answer {
            RewardsAnswer::Fetched(fetched) => ui.local.rewards.fetched = Some(fetched),
            RewardsAnswer::Redeemed(Ok(bought)) => {
                ui.local.rewards.buying = false;
                ui.notice(format!(
                    "Bought with points: coupon {}, offered at checkout",
                    bought.coupon
                ));
                ui.local.rewards.coupons.push(bought.coupon.clone());
                // Its terms, so that the review can offer it.
                if let Ok(code) = CouponCode::new(&bought.coupon) {
                    look_up_coupon(&code, &session, &coupons, &mut ui);
                }
                fetch_rewards(&session, &rewards);
            }
            RewardsAnswer::Redeemed(Err(e)) => {
                ui.local.rewards.buying = false;
                ui.notice(format!("Not bought: {e}"));
            }
        }
    }
}

fn shop_actions(
    mut actions: MessageReader<UiAction>,
    session: Res<Session>,
    catalog: Res<Catalog>,
    coupon_calls: Res<CouponCalls>,
    draw_checks: Res<DrawChecks>,
    rewards_calls: Res<RewardsCalls>,
    mut send: MessageWriter<SendCommand>,
    mut ui: ResMut<UiState>,
) {
    for action in actions.read() {
        match action {
            UiAction::CheckDraw(giveaway) => {
                check_draw(*giveaway, &session, &draw_checks, &mut ui);
                continue;
            }
            UiAction::ToggleRewards => {
                ui.local.rewards.open = !ui.local.rewards.open;
                if ui.local.rewards.open {
                    fetch_rewards(&session, &rewards_calls);
                }
                continue;
            }
            UiAction::Redeem(reward) => {
                redeem(reward.clone(), &session, &rewards_calls, &mut ui);
                continue;
            }
            _ => {}
        }
        if let UiAction::ApplyCouponCode(_) | UiAction::ApplyCoupon(Some(_)) = action {
            // Applied first (a typed code is read there), then looked up.
            shop_command(action, &mut ui, session.mirror(), &catalog.products);
            let applied = ui.local.review.as_ref().and_then(|r| r.coupon.clone());
            if let Some(code) = applied {
                look_up_coupon(&code, &session, &coupon_calls, &mut ui);
            }
            continue;
        }
        if let Some(command) = shop_command(action, &mut ui, session.mirror(), &catalog.products) {
            if session.can_send() {
                send.write(SendCommand(command));
            } else {
                ui.notice("Not connected: try again in a moment");
            }
        }
    }
}

/// The room command a shop or chat action sends, if any, after what it
/// changes in the UI's own state: the same for a click, a key or an XR
/// ray.
pub(crate) fn shop_command(
    action: &UiAction,
    ui: &mut UiState,
    mirror: Option<&crate::net::RoomMirror>,
    catalog: &[super::catalog::CatalogProduct],
) -> Option<RoomCommand> {
    match action {
        UiAction::SelectVariant { product, index } => {
            ui.local.variant.insert(product.clone(), *index);
            None
        }
        UiAction::AddToCart { sku } => Some(RoomCommand::AddToCart {
            sku: sku.clone(),
            quantity: 1,
        }),
        // Stars only from the card: a text needs a keyboard, which XR
        // lacks. A review with words goes through the API instead.
        UiAction::Review { product, stars } => Some(RoomCommand::Review {
            product: product.clone(),
            stars: *stars,
            text: String::new(),
        }),
        UiAction::SetQuantity { sku, quantity } => Some(RoomCommand::SetCartQuantity {
            sku: sku.clone(),
            quantity: *quantity,
        }),
        // Buying opens the review; only "Pay" there sends anything.
        UiAction::BuyNow { sku } => {
            ui.local.checkout = None;
            ui.local.review = Some(Review::of(Purchase::BuyNow {
                sku: sku.clone(),
                quantity: 1,
            }));
            None
        }
        UiAction::Checkout => {
            if mirror.is_none_or(|m| m.cart.is_empty()) {
                ui.notice("Your cart is empty");
                return None;
            }
            ui.local.checkout = None;
            ui.local.cart_open = false;
            ui.local.review = Some(Review::of(Purchase::Cart));
            None
        }
        UiAction::ApplyCoupon(code) => {
            if let Some(review) = &mut ui.local.review {
                review.coupon = code.clone();
            }
            None
        }
        UiAction::TypeCoupon => {
            if let Some(review) = &mut ui.local.review {
                review.draft.get_or_insert_with(String::new);
            }
            None
        }
        UiAction::ApplyCouponCode(typed) => {
            let review = ui.local.review.as_mut()?;
            match CouponCode::new(typed.trim()) {
                Ok(code) => {
                    review.draft = None;
                    review.coupon = Some(code);
                }
                Err(e) => ui.notice(format!("Not a coupon code: {e}")),
            }
            None
        }
        UiAction::CancelReview => {
            ui.local.review = None;
            None
        }
        UiAction::Pay => {
            let review = ui.local.review.as_ref()?;
            let Some(m) = mirror else {
                ui.notice("Not connected: try again in a moment");
                return None;
            };
            let asking = review.coupon.as_ref().is_some_and(|code| {
                ui.local.coupons.get(code) == Some(&checkout_review::CouponLookup::Asking)
                    && m.pinned_coupon.as_ref().is_none_or(|c| &c.code != code)
            });
            if asking {
                ui.notice("Checking the coupon: a moment");
                return None;
            }
            let review = ui.local.review.take()?;
            let coupons = &ui.local.coupons;
            let coupon = checkout_review::coupon_to_send(&review, coupons, m, catalog, now_ms());
            let request_id = ui.request_id();
            ui.local.checkout = Some(request_id);
            Some(RoomCommand::Checkout(CheckoutCommand {
                request_id,
                items: review.items,
                coupon,
                payment: saved_card(),
            }))
        }
        UiAction::AddToSharedCart { sku } => {
            Some(RoomCommand::SharedCart(SharedCartCommand::Add {
                sku: sku.clone(),
                quantity: 1,
            }))
        }
        UiAction::SetSharedQuantity { line, quantity } => {
            Some(RoomCommand::SharedCart(SharedCartCommand::SetQuantity {
                line: *line,
                quantity: *quantity,
            }))
        }
        UiAction::MarkSharedMine(line) => {
            Some(RoomCommand::SharedCart(SharedCartCommand::MarkMine {
                line: *line,
            }))
        }
        UiAction::PaySharedCart(pays_for) => {
            let request_id = ui.request_id();
            // The total shown is what the server checks the cart
            // against: a change since refuses it (`CartChanged`).
            match mirror.and_then(|m| m.shared_checkout(request_id, *pays_for, saved_card())) {
                Some(checkout) => {
                    ui.local.checkout = Some(request_id);
                    ui.local.cart_open = false;
                    Some(RoomCommand::SharedCart(SharedCartCommand::Checkout(
                        checkout,
                    )))
                }
                None => {
                    ui.notice("Nothing in the shared cart for you to pay");
                    None
                }
            }
        }
        UiAction::StartTeam(deal) => {
            let request_id = ui.request_id();
            ui.local.team_requests.insert(*deal, request_id);
            Some(RoomCommand::StartTeam {
                deal: *deal,
                request_id,
                payment: saved_card(),
            })
        }
        UiAction::JoinTeam { deal, team } => {
            let request_id = ui.request_id();
            ui.local.team_requests.insert(*deal, request_id);
            Some(RoomCommand::JoinTeam {
                team: *team,
                request_id,
                payment: saved_card(),
            })
        }
        UiAction::ClaimFlashSale(sale_id) => Some(RoomCommand::ClaimFlashSale {
            sale_id: *sale_id,
            quantity: 1,
        }),
        UiAction::Vote { poll, option } => {
            ui.local.live.voted.insert(*poll, *option);
            Some(RoomCommand::Vote {
                poll_id: *poll,
                option: *option,
            })
        }
        UiAction::Upvote(question_id) => {
            ui.local.live.upvoted.insert(*question_id);
            Some(RoomCommand::Upvote {
                question_id: *question_id,
            })
        }
        UiAction::EnterGiveaway(giveaway_id) => {
            ui.local.live.entered.insert(*giveaway_id);
            Some(RoomCommand::EnterGiveaway {
                giveaway_id: *giveaway_id,
            })
        }
        UiAction::OpenAsk => {
            ui.local.live.ask_draft.get_or_insert_with(String::new);
            None
        }
        UiAction::SendAsk => {
            let text = ui.local.live.ask_draft.take().unwrap_or_default();
            if text.trim().is_empty() {
                return None;
            }
            match ChatText::new(text) {
                Ok(text) => Some(RoomCommand::Ask(text)),
                Err(e) => {
                    ui.notice(format!("Question not sent: {e}"));
                    None
                }
            }
        }
        UiAction::React(reaction) => Some(RoomCommand::React(*reaction)),
        UiAction::ToggleCart => {
            ui.local.cart_open = !ui.local.cart_open;
            None
        }
        UiAction::DismissConfirmation => {
            ui.local.checkout = None;
            None
        }
        UiAction::OpenChat => {
            ui.local.chat_draft.get_or_insert_with(String::new);
            None
        }
        UiAction::SendChat => {
            let text = ui.local.chat_draft.take().unwrap_or_default();
            // "/p hello" goes to party chat.
            let (party, text) = match text.strip_prefix(together::PARTY_CHAT_PREFIX) {
                Some(rest) => (true, rest.to_owned()),
                None => (false, text),
            };
            if text.trim().is_empty() {
                None
            } else {
                match ChatText::new(text) {
                    Ok(text) if party => Some(RoomCommand::Party(PartyCommand::Chat(text))),
                    Ok(text) => Some(RoomCommand::Chat(text)),
                    Err(e) => {
                        ui.notice(e.to_string());
                        None
                    }
                }
            }
        }
        _ => None,
    }
}

fn saved_card() -> PaymentMethod {
    PaymentMethod::new(SAVED_CARD).expect("the saved card is a valid method")
}

/// Refusals become notices; a flash-sale claim is paid with the saved card
/// at once (over HTTP, on a worker thread), and its order confirmed.
fn hear_shop(
    mut changes: MessageReader<RoomChangeMessage>,
    session: Res<Session>,
    rewards_calls: Res<RewardsCalls>,
    mut ui: ResMut<UiState>,
) {
    for RoomChangeMessage(change) in changes.read() {
        // A coupon an order used may be used up: its terms are asked again
        // before it is offered.
        if let RoomChange::Commerce(
            CommerceEventNet::CheckoutDone { order, .. } | CommerceEventNet::Order(order),
        ) = change
            && let Some(code) = &order.coupon
        {
            ui.local.coupons.remove(code);
        }
        match change {
            // The moment a badge is earned: a notice, and the panel's
            // quests asked again while it is open.
            RoomChange::Engagement(EngagementEventNet::Badge { name, .. }) => {
                ui.notice(format!("Badge earned: {name}!"));
                if ui.local.rewards.open {
                    fetch_rewards(&session, &rewards_calls);
                }
            }
            RoomChange::Engagement(EngagementEventNet::Points { .. }) if ui.local.rewards.open => {
                fetch_rewards(&session, &rewards_calls);
            }
            // A redraw (the winner did not claim) is checked afresh.
            RoomChange::Engagement(EngagementEventNet::GiveawayDrawn { giveaway_id, .. }) => {
                ui.local.live.checks.remove(giveaway_id);
            }
            RoomChange::Rejected(r) => ui.notice(r.reason.to_string()),
            RoomChange::Commerce(CommerceEventNet::Claimed { order_id, .. }) => {
                ui.notice(format!(
                    "You got one! Paying order {}...",
                    order_id.reference()
                ));
                if let (Some(server), Some(signed_in)) =
                    (session.server.clone(), session.signed_in.clone())
                {
                    let order_id = *order_id;
                    std::thread::spawn(move || {
                        if let Err(e) =
                            ApiClient::new(&server).pay(&signed_in, order_id, SAVED_CARD)
                        {
                            warn!("paying order {order_id}: {e}");
                        }
                    });
                }
            }
            RoomChange::GroupDeals(GroupDealEventNet::JoinFailed { reason, .. }) => {
                ui.notice(format!("Team deal: {reason}"))
            }
            RoomChange::GroupDeals(GroupDealEventNet::TeamCompleted { order_id, .. }) => {
                ui.notice(format!(
                    "Your team is complete: order {} is paid",
                    order_id.reference()
                ))
            }
            RoomChange::GroupDeals(GroupDealEventNet::TeamVoided { .. }) => {
                ui.notice("Your team did not fill in time: nobody was charged")
            }
            RoomChange::Commerce(CommerceEventNet::Order(order)) if ui.local.checkout.is_none() => {
                ui.notice(match order.status {
                    OrderStatus::Delivered => format!(
                        "Order {} was delivered: rate what you bought on its card",
                        order.id.reference()
                    ),
                    status => format!(
                        "Order {} is {}",
                        order.id.reference(),
                        view::order_state(status)
                    ),
                });
            }
            RoomChange::Commerce(CommerceEventNet::Reviewed {
                refused: Some(why), ..
            }) => ui.notice(format!("Review not posted: {why}")),
            RoomChange::Commerce(CommerceEventNet::Reviewed { stars, .. }) => {
                ui.notice(format!("Thank you: your {stars}-star review is posted"))
            }
            _ => {}
        }
    }
}

/// Enter opens the chat box; typed text goes into it; Enter sends, Esc
/// closes. While the friend-code box is open, it takes the keys instead.
pub fn chat_keys(
    mut keyboard: MessageReader<KeyboardInput>,
    mut ui: ResMut<UiState>,
    mut focus: ResMut<UiFocus>,
    mut actions: MessageWriter<UiAction>,
) {
    // A key a box took (Esc closing it too) is not the room's this frame:
    // the cart and the follow offer read Esc after this.
    let mut consumed = false;
    for key in keyboard.read() {
        if key.state != ButtonState::Pressed {
            continue;
        }
        if let Some(draft) = ui.local.review.as_mut().and_then(|r| r.draft.as_mut()) {
            consumed = true;
            match &key.logical_key {
                Key::Enter => {
                    actions.write(UiAction::ApplyCouponCode(draft.clone()));
                }
                Key::Escape => {
                    if let Some(review) = &mut ui.local.review {
                        review.draft = None;
                    }
                }
                Key::Backspace => {
                    draft.pop();
                }
                Key::Character(c)
                    if draft.len() + c.len()
                        <= *vitrine_shared::validated::COUPON_CODE_CHARS.end() =>
                {
                    draft.push_str(c);
                }
                _ => {}
            }
            continue;
        }
        if let Some(draft) = &mut ui.local.live.ask_draft {
            consumed = true;
            match &key.logical_key {
                Key::Enter => {
                    actions.write(UiAction::SendAsk);
                }
                Key::Escape => ui.local.live.ask_draft = None,
                Key::Backspace => {
                    draft.pop();
                }
                Key::Space => draft.push(' '),
                Key::Character(c) if draft.len() + c.len() <= MAX_CHAT_BYTES => {
                    draft.push_str(c);
                }
                _ => {}
            }
            continue;
        }
        if let Some(draft) = &mut ui.local.together.code_draft {
            consumed = true;
            match &key.logical_key {
                Key::Enter => {
                    actions.write(UiAction::AddFriendByCode(draft.clone()));
                }
                Key::Escape => ui.local.together.code_draft = None,
                Key::Backspace => {
                    draft.pop();
                }
                Key::Character(c) if draft.len() + c.len() <= together_actions::MAX_CODE_TYPED => {
                    draft.push_str(c);
                }
                _ => {}
            }
            continue;
        }
        consumed |= ui.local.chat_draft.is_some();
        match (&mut ui.local.chat_draft, &key.logical_key) {
            // Opened here, not through an action, so that the keys typed
            // right after it in the same frame land in the box.
            (None, Key::Enter) => {
                ui.local.chat_draft = Some(String::new());
                consumed = true;
            }
            (None, Key::Character(c)) if c.eq_ignore_ascii_case(live::ASK_KEY) => {
                ui.local.live.ask_draft = Some(String::new());
                consumed = true;
            }
            (Some(_), Key::Enter) => {
                actions.write(UiAction::SendChat);
            }
            (Some(_), Key::Escape) => ui.local.chat_draft = None,
            (Some(draft), Key::Backspace) => {
                draft.pop();
            }
            (Some(draft), Key::Space) => draft.push(' '),
            (Some(draft), Key::Character(c)) if draft.len() + c.len() <= MAX_CHAT_BYTES => {
                draft.push_str(c);
            }
            _ => {}
        }
    }
    focus.typing = consumed
        || ui.local.chat_draft.is_some()
        || ui.local.together.code_draft.is_some()
        || ui.local.review.as_ref().is_some_and(|r| r.draft.is_some())
        || ui.local.live.ask_draft.is_some();
}

/// 1–5 react, C opens the cart, Esc closes what is open.
fn shortcut_keys(
    keys: Res<ButtonInput<KeyCode>>,
    focus: Res<UiFocus>,
    mut actions: MessageWriter<UiAction>,
    mut ui: ResMut<UiState>,
) {
    if focus.typing {
        return;
    }
    for (i, key) in [
        KeyCode::Digit1,
        KeyCode::Digit2,
        KeyCode::Digit3,
        KeyCode::Digit4,
        KeyCode::Digit5,
    ]
    .into_iter()
    .enumerate()
    {
        if keys.just_pressed(key) {
            actions.write(UiAction::React(Reaction::ALL[i]));
        }
    }
    if keys.just_pressed(KeyCode::KeyC) {
        actions.write(UiAction::ToggleCart);
    }
    if keys.just_pressed(KeyCode::KeyR) {
        actions.write(UiAction::ToggleRewards);
    }
    if keys.just_pressed(KeyCode::Escape) {
        ui.local.cart_open = false;
        ui.local.checkout = None;
        ui.local.review = None;
        ui.local.rewards.open = false;
    }
}
