//! The functions the fuzz targets (`fuzz/`, `cargo +nightly fuzz`) call, so
//! that the targets and the stable test that replays their corpus
//! (`tests/tests/it/fuzz_corpus.rs`) run one and the same code. Each must
//! return for any input: a panic here is a bug.

use crate::catalog;
use crate::engagement::rules;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::time::Duration;
use vitrine_shared::api::{
    AddToCart, AskQuestion, BanRequest, CheckoutRequest, ClaimRequest, CreateCoupon,
    CreateGiveaway, CreateGroupDeal, CreatePoll, CreateProduct, CreateSession, FeatureProducts,
    FilterRequest, JoinTeamRequest, KickRequest, MuteRequest, PayRequest, PinCoupon, ProductInput,
    RedeemRequest, RefundRequest, SetCartQuantity, StartFlashSale, StartShow, VoteRequest,
};
use vitrine_shared::friends::{FriendCode, SendFriendRequest};
use vitrine_shared::{ChatText, CouponCode, Currency, DisplayName, PaymentMethod, ProductId, Sku};

/// Every JSON body a handler in `http/` takes (`ApiJson<T>`), in the order
/// the first byte of an `http_json` input picks them. Append only: the
/// corpus names bodies by this index.
pub const HTTP_BODIES: [&str; 26] = [
    "CreateSession",
    "AddToCart",
    "SetCartQuantity",
    "CheckoutRequest",
    "PayRequest",
    "RefundRequest",
    "StartFlashSale",
    "ClaimRequest",
    "CreateCoupon",
    "PinCoupon",
    "CreateProduct",
    "ProductInput",
    "StartShow",
    "FeatureProducts",
    "CreatePoll",
    "VoteRequest",
    "AskQuestion",
    "CreateGiveaway",
    "RedeemRequest",
    "MuteRequest",
    "KickRequest",
    "BanRequest",
    "FilterRequest",
    "CreateGroupDeal",
    "JoinTeamRequest",
    "SendFriendRequest",
];

fn body<T: DeserializeOwned>(json: &[u8]) -> Option<T> {
    serde_json::from_slice(json).ok()
}

fn parsed<T>(body: Option<T>) -> bool {
    body.is_some()
}

/// The `http_json` target: `[body index][JSON]`. The JSON is parsed as the
/// body type the index names (as `ApiJson` parses it), and a body that
/// parses goes through the synchronous checks its handler makes before it
/// reaches a service: the validated newtypes and the catalog's product
/// rules.
pub fn http_json(data: &[u8]) {
    http_body_parses(data);
}

/// [`http_json`], saying whether the body parsed as its type (the seed
/// corpus is checked with it).
pub fn http_body_parses(data: &[u8]) -> bool {
    let Some((&index, json)) = data.split_first() else {
        return false;
    };
    match usize::from(index) % HTTP_BODIES.len() {
        0 => {
            let Some(b) = body::<CreateSession>(json) else {
                return false;
            };
            b.display_name.map(DisplayName::new);
            true
        }
        1 => parsed(body::<AddToCart>(json)),
        2 => parsed(body::<SetCartQuantity>(json)),
        3 => {
            let Some(b) = body::<CheckoutRequest>(json) else {
                return false;
            };
            b.coupon.map(CouponCode::new);
            let _ = PaymentMethod::new(b.card);
            true
        }
        4 => parsed(body::<PayRequest>(json)),
        5 => parsed(body::<RefundRequest>(json)),
        6 => {
            let Some(b) = body::<StartFlashSale>(json) else {
                return false;
            };
            let _ = Sku::new(b.sku);
            let _ = Currency::new(&b.currency);
            true
        }
        7 => parsed(body::<ClaimRequest>(json)),
        8 => {
            let Some(b) = body::<CreateCoupon>(json) else {
                return false;
            };
            let _ = CouponCode::new(b.code);
            let _ = Currency::new(&b.currency);
            true
        }
        9 => parsed(body::<PinCoupon>(json)),
        10 => {
            let Some(b) = body::<CreateProduct>(json) else {
                return false;
            };
            let input = ProductInput {
                name: b.name,
                category: b.category,
                description: b.description,
                price: b.price,
                currency: b.currency,
                model: b.model,
                variants: b.variants,
            };
            let _ = catalog::product_from_input(b.id, input);
            true
        }
        11 => {
            let Some(b) = body::<ProductInput>(json) else {
                return false;
            };
            let _ = catalog::product_from_input("fuzzed".into(), b);
            true
        }
        12 => {
            let Some(b) = body::<StartShow>(json) else {
                return false;
            };
            b.lineup.into_iter().for_each(|p| drop(ProductId::new(p)));
            true
        }
        13 => {
            let Some(b) = body::<FeatureProducts>(json) else {
                return false;
            };
            b.products.into_iter().for_each(|p| drop(ProductId::new(p)));
            true
        }
        14 => parsed(body::<CreatePoll>(json)),
        15 => parsed(body::<VoteRequest>(json)),
        16 => {
            let Some(b) = body::<AskQuestion>(json) else {
                return false;
            };
            let _ = ChatText::new(b.text);
            true
        }
        17 => parsed(body::<CreateGiveaway>(json)),
        18 => parsed(body::<RedeemRequest>(json)),
        19 => parsed(body::<MuteRequest>(json)),
        20 => parsed(body::<KickRequest>(json)),
        21 => parsed(body::<BanRequest>(json)),
        22 => parsed(body::<FilterRequest>(json)),
        23 => {
            let Some(b) = body::<CreateGroupDeal>(json) else {
                return false;
            };
            let _ = Sku::new(b.sku);
            let _ = Currency::new(&b.currency);
            true
        }
        24 => parsed(body::<JoinTeamRequest>(json)),
        _ => {
            let Some(b) = body::<SendFriendRequest>(json) else {
                return false;
            };
            let _ = FriendCode::parse(&b.code);
            true
        }
    }
}

/// The `catalog_toml` target: a catalog file's text (`catalog::parse_catalog`).
pub fn catalog_toml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = catalog::parse_catalog(text);
    }
}

/// The `rewards_toml` target: a rewards file's text (`rules::parse_rules`).
pub fn rewards_toml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rules::parse_rules(text);
    }
}

/// The private key the `netcode_packet` target's server uses; its corpus
/// holds connection requests made with tokens signed by it.
pub const NETCODE_FUZZ_KEY: [u8; 32] = [7; 32];
/// The protocol version whose id the target's server accepts, fixed
/// rather than the current one: the id only gates the handshake, and the
/// committed corpus (grown for an hour) holds requests made with it, which
/// a newer id would refuse at the door.
pub const NETCODE_FUZZ_PROTOCOL_VERSION: u32 = 9;
/// The public address those tokens name.
pub const NETCODE_FUZZ_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40_000);

/// The `netcode_packet` target: datagrams cut from `data`, each
/// `[source and wait: u8][length: u16 LE][bytes]` (the low two bits pick
/// one of four sources, the rest is milliseconds to let pass first),
/// through the room server's UDP transport as it receives them
/// (netcode's `process_packet`, then renet, then the protocol decoder).
pub fn netcode_packet(data: &[u8]) {
    let mut datagrams = Vec::new();
    let mut rest = data;
    while let [head, lo, hi, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (bytes, after) = tail.split_at(len);
        rest = after;
        let wait = Duration::from_millis(u64::from(head >> 2));
        datagrams.push((usize::from(head & 3), wait, bytes));
    }
    crate::rooms::fuzz_datagrams(
        NETCODE_FUZZ_KEY,
        vitrine_shared::protocol::protocol_id(NETCODE_FUZZ_PROTOCOL_VERSION),
        NETCODE_FUZZ_ADDR,
        &datagrams,
    )
    .expect("loopback sockets bind");
}
