//! The HTTP half: sign in, list rooms, join; and for bots and tools,
//! starting a flash sale and paying an order.

use std::time::Duration;
use thiserror::Error;
use vitrine_shared::OrderId;
use vitrine_shared::api::{
    CouponView, CreateCoupon, CreatePoll, CreateSession, ErrorBody, FlashSaleView, GiveawayView,
    JoinTicket, OrderView, PayRequest, PinCoupon, PollView, ProductList, ProductView, RoomInfo,
    RoomList, SessionCreated, ShowView, StartFlashSale, StartShow,
};

#[derive(Debug, Error)]
pub enum ApiError {
    /// The server answered with an error body.
    #[error("{status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot reach the server: {0}")]
    Transport(String),
    #[error("unexpected response: {0}")]
    Protocol(String),
}

impl ApiError {
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A blocking client for the HTTP API.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    agent: ureq::Agent,
    /// Each guest sign-in from its own loopback address (see
    /// [`ApiClient::with_loopback_guests`]).
    loopback_guests: bool,
}

/// A signed-in account.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub account_id: u64,
    pub display_name: String,
}

impl ApiClient {
    /// `base` is the server's HTTP root, such as `http://127.0.0.1:8080`.
    pub fn new(base: &str) -> Self {
        ApiClient {
            base: base.trim_end_matches('/').to_owned(),
            agent: Self::config().into(),
            loopback_guests: false,
        }
    }

    fn config() -> ureq::config::Config {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
    }

    /// Every request from `local` (a loopback address when the server is on
    /// loopback): one shopper's network, as a test names it.
    pub fn from_address(mut self, local: std::net::IpAddr) -> Self {
        self.agent = super::local_address::agent_from(local, Self::config());
        self.loopback_guests = false;
        self
    }

    /// When the server is on IPv4 loopback, signs in each guest from a
    /// loopback address of its own (127.0.1.1, 127.0.1.2, …), so that bots
    /// and tests stay distinct shoppers: the server counts guests by the
    /// network they come from. Elsewhere it changes nothing.
    pub fn with_loopback_guests(mut self) -> Self {
        self.loopback_guests = super::local_address::is_loopback_v4(&self.base);
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn read<T: serde::de::DeserializeOwned>(
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, ApiError> {
        let mut response = result.map_err(|e| ApiError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return response
                .body_mut()
                .read_json()
                .map_err(|e| ApiError::Protocol(e.to_string()));
        }
        match response.body_mut().read_json::<ErrorBody>() {
            Ok(body) => Err(ApiError::Refused {
                status,
                code: body.code,
                message: body.message,
            }),
            Err(_) => Err(ApiError::Refused {
                status,
                code: "unknown".into(),
                message: format!("HTTP {status} without an error body"),
            }),
        }
    }

    fn create_session(&self, body: CreateSession) -> Result<SignedIn, ApiError> {
        let url = format!("{}/api/v1/sessions", self.base);
        let bound = (self.loopback_guests && body.display_name.is_some()).then(|| {
            let local = super::local_address::next_loopback();
            super::local_address::agent_from(local, Self::config())
        });
        let sent = match bound.map(|agent| agent.post(&url).send_json(&body)) {
            // Where only 127.0.0.1 exists (macOS), the guest signs in from it.
            Some(Err(e)) if super::local_address::address_unavailable(&e) => {
                self.agent.post(&url).send_json(&body)
            }
            Some(sent) => sent,
            None => self.agent.post(&url).send_json(&body),
        };
        let created: SessionCreated = Self::read(sent)?;
        Ok(SignedIn {
            token: created.token,
            account_id: created.account_id,
            display_name: created.display_name,
        })
    }

    /// Signs in as a guest.
    pub fn sign_in(&self, display_name: &str) -> Result<SignedIn, ApiError> {
        self.create_session(CreateSession {
            display_name: Some(display_name.to_owned()),
            ..Default::default()
        })
    }

    /// Signs in to a registered account.
    pub fn sign_in_with_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<SignedIn, ApiError> {
        self.create_session(CreateSession {
            username: Some(username.to_owned()),
            password: Some(password.to_owned()),
            ..Default::default()
        })
    }

    fn authorized(
        &self,
        path: &str,
        session: &SignedIn,
    ) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        self.agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", session.token))
    }

    /// Staff: announce a flash sale.
    pub fn start_flash_sale(
        &self,
        session: &SignedIn,
        sale: &StartFlashSale,
    ) -> Result<FlashSaleView, ApiError> {
        Self::read(
            self.authorized("/api/v1/flash-sales", session)
                .send_json(sale),
        )
    }

    /// Staff: set a group deal on a variant.
    pub fn create_group_deal(
        &self,
        session: &SignedIn,
        deal: &vitrine_shared::api::CreateGroupDeal,
    ) -> Result<vitrine_shared::api::GroupDealView, ApiError> {
        Self::read(
            self.authorized("/api/v1/group-deals", session)
                .send_json(deal),
        )
    }

    /// Staff: create a coupon.
    pub fn create_coupon(
        &self,
        session: &SignedIn,
        coupon: &CreateCoupon,
    ) -> Result<CouponView, ApiError> {
        Self::read(
            self.authorized("/api/v1/coupons", session)
                .send_json(coupon),
        )
    }

    /// Staff: pin a coupon in the show; every room shows it.
    pub fn pin_coupon(&self, session: &SignedIn, code: &str) -> Result<CouponView, ApiError> {
        let url = format!("{}/api/v1/show/pinned-coupon", self.base);
        let body = PinCoupon {
            code: code.to_owned(),
        };
        Self::read(
            self.agent
                .put(url)
                .header("Authorization", format!("Bearer {}", session.token))
                .send_json(&body),
        )
    }

    /// Staff: start a show (ending any other).
    pub fn start_show(&self, session: &SignedIn, title: &str) -> Result<ShowView, ApiError> {
        let body = StartShow {
            title: title.to_owned(),
            scheduled_at_ms: None,
            lineup: Vec::new(),
        };
        Self::read(self.authorized("/api/v1/shows", session).send_json(&body))
    }

    /// Staff: open a poll.
    pub fn create_poll(&self, session: &SignedIn, poll: &CreatePoll) -> Result<PollView, ApiError> {
        Self::read(self.authorized("/api/v1/polls", session).send_json(poll))
    }

    /// Pays a pending order.
    pub fn pay(
        &self,
        session: &SignedIn,
        order_id: OrderId,
        card: &str,
    ) -> Result<OrderView, ApiError> {
        let body = PayRequest {
            card: card.to_owned(),
        };
        Self::read(
            self.authorized(&format!("/api/v1/orders/{order_id}/pay"), session)
                .send_json(&body),
        )
    }

    pub fn rooms(&self) -> Result<Vec<RoomInfo>, ApiError> {
        let list: RoomList =
            Self::read(self.agent.get(format!("{}/api/v1/rooms", self.base)).call())?;
        Ok(list.rooms)
    }

    /// A coupon's terms by its code (a `CouponCode`: letters, digits and
    /// dashes, so it goes in the path as it is).
    pub fn coupon(&self, code: &vitrine_shared::CouponCode) -> Result<CouponView, ApiError> {
        Self::read(
            self.agent
                .get(format!("{}/api/v1/coupons/{}", self.base, code.as_str()))
                .call(),
        )
    }

    /// A product's visible reviews: the average, the count and the latest;
    /// signed in, this shopper's own stars too.
    pub fn product_reviews(
        &self,
        product: &vitrine_shared::ProductId,
        session: Option<&SignedIn>,
    ) -> Result<vitrine_shared::api::ReviewSummary, ApiError> {
        let mut request = self.agent.get(format!(
            "{}/api/v1/products/{}/reviews",
            self.base,
            product.as_str()
        ));
        if let Some(session) = session {
            request = request.header("Authorization", format!("Bearer {}", session.token));
        }
        Self::read(request.call())
    }

    /// Your points, quests (the badges they earn) and what points buy.
    pub fn rewards(
        &self,
        session: &SignedIn,
    ) -> Result<vitrine_shared::api::RewardsView, ApiError> {
        Self::read(
            self.agent
                .get(format!("{}/api/v1/rewards", self.base))
                .header("Authorization", format!("Bearer {}", session.token))
                .call(),
        )
    }

    /// Spends points on a reward: a coupon for this account alone.
    pub fn redeem(
        &self,
        session: &SignedIn,
        reward: &str,
    ) -> Result<vitrine_shared::api::Redeemed, ApiError> {
        let body = vitrine_shared::api::RedeemRequest {
            reward: reward.to_owned(),
        };
        Self::read(
            self.authorized("/api/v1/rewards/redeem", session)
                .send_json(&body),
        )
    }

    /// A giveaway with its commitment, entries, seed and draws.
    pub fn giveaway(&self, id: vitrine_shared::GiveawayId) -> Result<GiveawayView, ApiError> {
        Self::read(
            self.agent
                .get(format!("{}/api/v1/giveaways/{id}", self.base))
                .call(),
        )
    }

    /// The catalog, with stock now.
    pub fn products(&self) -> Result<Vec<ProductView>, ApiError> {
        let list: ProductList = Self::read(
            self.agent
                .get(format!("{}/api/v1/products", self.base))
                .call(),
        )?;
        Ok(list.products)
    }

    pub fn join(&self, session: &SignedIn, room: &str) -> Result<JoinTicket, ApiError> {
        Self::read(
            self.agent
                .post(format!("{}/api/v1/rooms/{room}/join", self.base))
                .header("Authorization", format!("Bearer {}", session.token))
                .send_empty(),
        )
    }

    /// "Join friend": a ticket for the room the friend is in.
    pub fn join_friend(
        &self,
        session: &SignedIn,
        friend: vitrine_shared::AccountId,
    ) -> Result<JoinTicket, ApiError> {
        Self::read(
            self.authorized(&format!("/api/v1/friends/{}/join", friend.0), session)
                .send_empty(),
        )
    }

    /// Accepts a friend request from `account`: both hear of it in the room.
    pub fn accept_friend_request(
        &self,
        session: &SignedIn,
        account: vitrine_shared::AccountId,
    ) -> Result<(), ApiError> {
        self.authorized(
            &format!("/api/v1/friends/requests/{}/accept", account.0),
            session,
        )
        .send_empty()
        .map_err(|e| ApiError::Transport(e.to_string()))
        .and_then(Self::ok_or_refused)
    }

    /// Declines a friend request from `account` (they are not told).
    pub fn decline_friend_request(
        &self,
        session: &SignedIn,
        account: vitrine_shared::AccountId,
    ) -> Result<(), ApiError> {
        self.authorized(
            &format!("/api/v1/friends/requests/{}/decline", account.0),
            session,
        )
        .send_empty()
        .map_err(|e| ApiError::Transport(e.to_string()))
        .and_then(Self::ok_or_refused)
    }

    /// Your friend code and the link that carries it.
    pub fn friend_code(
        &self,
        session: &SignedIn,
    ) -> Result<vitrine_shared::friends::FriendCodeView, ApiError> {
        Self::read(
            self.agent
                .get(format!("{}/api/v1/friends/code", self.base))
                .header("Authorization", format!("Bearer {}", session.token))
                .call(),
        )
    }

    /// Asks the owner of a friend code (or link) to be friends; refused by
    /// name (unknown code, your own, already friends, limits).
    pub fn send_friend_request(
        &self,
        session: &SignedIn,
        code: &str,
    ) -> Result<vitrine_shared::friends::FriendRequestSent, ApiError> {
        let body = vitrine_shared::friends::SendFriendRequest {
            code: code.to_owned(),
        };
        Self::read(
            self.authorized("/api/v1/friends/requests", session)
                .send_json(&body),
        )
    }

    /// Friend requests waiting: to you (`incoming`) and from you.
    pub fn friend_requests(
        &self,
        session: &SignedIn,
    ) -> Result<vitrine_shared::friends::FriendRequests, ApiError> {
        Self::read(
            self.agent
                .get(format!("{}/api/v1/friends/requests", self.base))
                .header("Authorization", format!("Bearer {}", session.token))
                .call(),
        )
    }

    /// A success whose body is not needed (or is empty: 204), or the refusal.
    fn ok_or_refused(response: ureq::http::Response<ureq::Body>) -> Result<(), ApiError> {
        if response.status().is_success() {
            return Ok(());
        }
        Self::read::<serde_json::Value>(Ok(response)).map(|_| ())
    }
}
