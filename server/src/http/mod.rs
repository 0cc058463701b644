//! The HTTP API (axum): sign-in, room list, join, health, metrics and the
//! OpenAPI document. Every route is registered through `utoipa_axum`, so the
//! document is built from the same list as the router and cannot drift.

mod admin;
mod cart;
mod console;
mod console_show;
mod coupons;
mod document;
mod engagement;
mod error;
mod extract;
mod flash_sales;
mod friends;
mod group_deals;
mod moderation;
mod ops;
mod orders;
mod payments;
mod products;
mod reviews;
mod rooms;
mod sessions;
mod stream;
mod trace;
mod voice;

pub use document::annotated_fields;
pub use error::{ApiError, ErrorBody};
// The views moved to `crate::views`; these paths stay for callers.
pub use crate::views::{flash_sale_view, show_view};

use crate::config::RateConfig;
use crate::directory::RoomDirectory;
use crate::keys::Keys;
use crate::metrics::Metrics;
use crate::rate_limit::Buckets;
use crate::store::Store;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Request bodies are small JSON documents.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Clone)]
pub struct AppState(pub Arc<AppStateInner>);

pub struct AppStateInner {
    pub store: Store,
    /// The server's one clock: sessions expire and defaults start by it.
    pub clock: crate::clock::Clock,
    pub commerce: crate::commerce::CommerceHandle,
    pub engagement: crate::engagement::EngagementHandle,
    pub console: crate::console::ConsoleHandle,
    /// Mutes, bans, the keyword filter and the log (staff only).
    pub moderation: Arc<crate::moderation::Moderation>,
    /// Friend codes, requests, friendships, blocks and presence.
    pub friends: Arc<crate::friends::Friends>,
    /// Verified buyers' reviews of products.
    pub reviews: Arc<crate::reviews::Reviews>,
    /// Co-hosts' seats and keys, and the stage's layout.
    pub co_hosts: Arc<crate::co_hosts::CoHosts>,
    pub outlets: Arc<crate::restream::Outlets>,
    /// What points buy, from the reward rules.
    pub reward_offers: Vec<crate::engagement::rules::RewardOfferRule>,
    pub directory: Arc<RoomDirectory>,
    pub metrics: Arc<Metrics>,
    pub keys: Keys,
    pub game_addr: SocketAddr,
    pub session_ttl: Duration,
    /// Guests one network may create a day (`crate::fair`).
    pub guests_per_network_per_day: u32,
    pub connect_token_ttl: Duration,
    pub client_timeout_secs: i32,
    pub rate: RateConfig,
    /// Per client address (IPv6 per /64), the least recently used
    /// dropped past a bound.
    pub buckets: Mutex<Buckets<IpAddr>>,
    pub account_rate: RateConfig,
    pub account_buckets: Mutex<Buckets<vitrine_shared::AccountId>>,
    pub started: Instant,
    /// Password sign-in: the bound on Argon2 checks, and username locks.
    pub sign_in: crate::sign_in::SignInGuard,
    /// Tickets that open the console's live feed.
    pub feed_tickets: crate::console::tickets::FeedTickets,
    /// Refused requests since the last summary line in the log.
    pub http_refusals: Mutex<crate::refused::Summary>,
    pub openapi: OnceLock<utoipa::openapi::OpenApi>,
    /// The relay's URLs, key and HLS directory, when it runs.
    pub media: Option<crate::media::MediaInfo>,
    /// Stripe's webhook signing secret, when Stripe takes the money.
    pub stripe_webhook_secret: Option<crate::commerce::stripe::Secret>,
    /// Benchmarks only: a baseline in place of the engine for claims.
    pub claims_decided_by: Option<crate::commerce::baseline::ClaimDesk>,
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

impl AppState {
    /// Takes one request from `ip`'s bucket (its /64 for IPv6), or says
    /// how long to wait.
    pub fn rate_limit(&self, ip: IpAddr) -> Result<(), ApiError> {
        let now = self.started.elapsed();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets
            .try_take(crate::rate_limit::ip_key(ip), self.rate, now)
            .map_err(ApiError::rate_limited)
    }

    /// Takes one request from an account's bucket: every signed-in request
    /// that changes something pays, so one script cannot flood the engines.
    pub fn account_rate_limit(&self, account: vitrine_shared::AccountId) -> Result<(), ApiError> {
        let now = self.started.elapsed();
        let mut buckets = self
            .account_buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        buckets
            .try_take(account, self.account_rate, now)
            .map_err(ApiError::rate_limited)
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Vitrine API", description = "Sign in, find a room, join it over the game link."),
    tags(
        (name = "sessions", description = "Sign-in"),
        (name = "rooms", description = "Rooms and joining"),
        (name = "catalog", description = "Products, variants, prices and stock"),
        (name = "commerce", description = "Carts, checkout, coupons, flash sales and orders"),
        (name = "engagement", description = "Shows, polls, Q&A, giveaways, points, badges and leaderboards"),
        (name = "console", description = "The host console's live feed, summaries and exports"),
        (name = "friends", description = "Friend codes, requests, blocks, the friends list with presence, and joining a friend's room"),
        (name = "moderation", description = "Chat deletion, mutes, kicks, bans, the keyword filter and the log (staff only)"),
        (name = "media", description = "The host's live video: its URLs and state, and the host's ingest settings"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
struct ApiDoc;

/// The whole HTTP API with its OpenAPI document.
pub fn router(state: AppState) -> Router {
    // Catalog files are bigger than any other body; so may be one product
    // with many variants and a long description.
    let admin = OpenApiRouter::new()
        .routes(routes!(admin::import_catalog))
        .routes(routes!(admin::create_product))
        .routes(routes!(admin::update_product))
        .routes(routes!(admin::archive_product))
        .layer(DefaultBodyLimit::max(admin::MAX_CATALOG_BYTES));
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(sessions::create_session))
        .routes(routes!(sessions::end_session))
        .routes(routes!(rooms::list_rooms))
        .routes(routes!(rooms::join_room))
        .routes(routes!(products::list_products))
        .routes(routes!(products::get_product))
        .routes(routes!(reviews::post_review, reviews::product_reviews))
        .routes(routes!(reviews::newest_reviews))
        .routes(routes!(reviews::hide_review))
        .routes(routes!(flash_sales::start_flash_sale))
        .routes(routes!(flash_sales::get_flash_sale))
        .routes(routes!(flash_sales::claim_flash_sale))
        .routes(routes!(
            group_deals::create_group_deal,
            group_deals::list_group_deals
        ))
        .routes(routes!(group_deals::get_group_deal))
        .routes(routes!(group_deals::start_team))
        .routes(routes!(group_deals::join_team))
        .routes(routes!(orders::list_orders))
        .routes(routes!(orders::get_order))
        .routes(routes!(orders::pay_order))
        .routes(routes!(orders::fulfil_order))
        .routes(routes!(orders::deliver_order))
        .routes(routes!(orders::refund_order))
        .routes(routes!(cart::get_cart))
        .routes(routes!(cart::add_to_cart))
        .routes(routes!(cart::set_cart_quantity, cart::remove_from_cart))
        .routes(routes!(cart::checkout))
        .routes(routes!(coupons::create_coupon))
        .routes(routes!(coupons::get_coupon))
        .routes(routes!(
            coupons::get_pinned_coupon,
            coupons::pin_coupon,
            coupons::unpin_coupon
        ))
        .routes(routes!(engagement::start_show, engagement::list_shows))
        .routes(routes!(engagement::show_calendar))
        .routes(routes!(engagement::go_live))
        .routes(routes!(engagement::feature))
        .routes(routes!(console::feed))
        .routes(routes!(console::create_ticket))
        .routes(routes!(console::dashboard))
        .routes(routes!(console::summary))
        .routes(routes!(console::orders_csv))
        .routes(routes!(console::chat_csv))
        .routes(routes!(engagement::current_show))
        .routes(routes!(engagement::end_show))
        .routes(routes!(engagement::create_poll))
        .routes(routes!(engagement::get_poll))
        .routes(routes!(engagement::vote))
        .routes(routes!(
            engagement::list_questions,
            engagement::ask_question
        ))
        .routes(routes!(engagement::upvote_question))
        .routes(routes!(engagement::answer_question))
        .routes(routes!(engagement::create_giveaway))
        .routes(routes!(engagement::get_giveaway))
        .routes(routes!(engagement::enter_giveaway))
        .routes(routes!(engagement::claim_prize))
        .routes(routes!(console_show::list_orders))
        .routes(routes!(console_show::list_giveaways))
        .routes(routes!(console_show::draw_now))
        .routes(routes!(engagement::my_rewards))
        .routes(routes!(engagement::redeem))
        .routes(routes!(engagement::leaderboard))
        .routes(routes!(engagement::invite))
        .routes(routes!(moderation::room_chat))
        .routes(routes!(moderation::delete_chat_line))
        .routes(routes!(moderation::list_mutes))
        .routes(routes!(moderation::mute, moderation::unmute))
        .routes(routes!(voice::list_voice_mutes))
        .routes(routes!(voice::voice_mute, voice::voice_unmute))
        .routes(routes!(moderation::kick))
        .routes(routes!(moderation::list_bans))
        .routes(routes!(moderation::ban, moderation::unban))
        .routes(routes!(moderation::get_filter, moderation::set_filter))
        .routes(routes!(moderation::log))
        .routes(routes!(friends::list_friends))
        .routes(routes!(friends::my_code))
        .routes(routes!(friends::rotate_code))
        .routes(routes!(friends::list_requests, friends::send_request))
        .routes(routes!(friends::accept_request))
        .routes(routes!(friends::decline_request))
        .routes(routes!(friends::remove_friend))
        .routes(routes!(friends::join_friend))
        .routes(routes!(friends::list_blocks))
        .routes(routes!(friends::block, friends::unblock))
        .merge(admin)
        .routes(routes!(stream::get_stream))
        .routes(routes!(stream::get_ingest))
        .routes(routes!(stream::list_co_hosts, stream::invite_co_host))
        .routes(routes!(stream::revoke_co_host))
        .routes(routes!(stream::list_outlets, stream::add_outlet))
        .routes(routes!(stream::remove_outlet))
        .routes(routes!(stream::get_stage, stream::set_stage))
        .routes(routes!(stream::start_preview))
        .routes(routes!(stream::stop_preview))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
        .split_for_parts();
    document::complete(&mut openapi);
    let _ = state.openapi.set(openapi);
    router
        .route("/console", axum::routing::get(console::index))
        .route("/console/app.js", axum::routing::get(console::script))
        .route("/console/app.css", axum::routing::get(console::style))
        .route("/hls/{file}", axum::routing::get(stream::hls_file))
        // Called by Stripe, not by our clients: outside the API document.
        .route(
            "/api/v1/payments/stripe/webhook",
            axum::routing::post(payments::stripe_webhook),
        )
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::count_responses,
        ))
        // Outermost, so the latency is the whole request's.
        .layer(axum::middleware::from_fn(trace::trace_request))
        .with_state(state)
}
