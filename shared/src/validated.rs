//! Validated newtypes: a value of these types is valid by construction, and
//! deserializing one runs the same checks (`serde(try_from)`), so a decoded
//! message can never carry an invalid name, chat line or room id.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// Display names: 1 to 32 characters after trimming.
pub const MAX_DISPLAY_NAME_CHARS: usize = 32;
/// Chat lines: 1 to 280 characters and at most 1 KiB of UTF-8.
pub const MAX_CHAT_CHARS: usize = 280;
pub const MAX_CHAT_BYTES: usize = 1024;
/// Room ids: 1 to 48 bytes of `a-z`, `0-9` and `-`.
pub const MAX_ROOM_ID_BYTES: usize = 48;

#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum ValidationError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is too long: at most {max} {unit}")]
    TooLong {
        field: &'static str,
        max: usize,
        unit: &'static str,
    },
    #[error("{field} contains a character that is not allowed")]
    BadCharacter { field: &'static str },
    #[error("{field} must be {min} to {max} {unit}")]
    Length {
        field: &'static str,
        min: usize,
        max: usize,
        unit: &'static str,
    },
}

fn check_text(
    field: &'static str,
    value: &str,
    max_chars: usize,
    max_bytes: usize,
) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    if value.len() > max_bytes {
        return Err(ValidationError::TooLong {
            field,
            max: max_bytes,
            unit: "bytes",
        });
    }
    if value.chars().count() > max_chars {
        return Err(ValidationError::TooLong {
            field,
            max: max_chars,
            unit: "characters",
        });
    }
    // Control characters break layouts and logs; bidi overrides spoof names.
    let forbidden =
        |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if value.chars().any(forbidden) {
        return Err(ValidationError::BadCharacter { field });
    }
    Ok(())
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                $name::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValidationError;
            fn try_from(value: &str) -> Result<Self, Self::Error> {
                $name::new(value.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Compares with the text it holds, as `String` does.
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

/// A shopper's or host's public name, shown on name tags and in chat.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);
string_newtype!(DisplayName);

impl DisplayName {
    /// Trims surrounding whitespace, then checks length and characters.
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value: String = value.into();
        let trimmed = value.trim();
        check_text(
            "display name",
            trimmed,
            MAX_DISPLAY_NAME_CHARS,
            MAX_DISPLAY_NAME_CHARS * 4,
        )?;
        Ok(DisplayName(trimmed.to_owned()))
    }
}

/// One chat line.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChatText(String);
string_newtype!(ChatText);

impl ChatText {
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value: String = value.into();
        if value.trim().is_empty() {
            return Err(ValidationError::Empty { field: "chat text" });
        }
        check_text("chat text", &value, MAX_CHAT_CHARS, MAX_CHAT_BYTES)?;
        Ok(ChatText(value))
    }
}

/// A room's stable id, used in URLs and tokens.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomId(String);
string_newtype!(RoomId);

impl RoomId {
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        check_slug("room id", value.into(), MAX_ROOM_ID_BYTES).map(RoomId)
    }
}

/// Ids that appear in URLs and files: 1 to `max` bytes of `a-z`, `0-9`, `-`.
fn check_slug(field: &'static str, value: String, max: usize) -> Result<String, ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    if value.len() > max {
        return Err(ValidationError::TooLong {
            field,
            max,
            unit: "bytes",
        });
    }
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    if !value.as_bytes().iter().all(allowed) {
        return Err(ValidationError::BadCharacter { field });
    }
    Ok(value)
}

/// Product ids and SKUs: up to 64 bytes of `a-z`, `0-9` and `-`.
pub const MAX_PRODUCT_ID_BYTES: usize = 64;
/// Category ids, such as `beauty`: up to 32 bytes of `a-z`, `0-9` and `-`.
pub const MAX_CATEGORY_BYTES: usize = 32;

/// A product's stable id, used in URLs, files and orders.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProductId(String);
string_newtype!(ProductId);

impl ProductId {
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        check_slug("product id", value.into(), MAX_PRODUCT_ID_BYTES).map(ProductId)
    }
}

/// A stock-keeping unit: one variant (size, colour) of a product.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);
string_newtype!(Sku);

impl Sku {
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        check_slug("sku", value.into(), MAX_PRODUCT_ID_BYTES).map(Sku)
    }
}

/// A catalog category, such as `beauty` or `home`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Category(String);
string_newtype!(Category);

impl Category {
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        check_slug("category", value.into(), MAX_CATEGORY_BYTES).map(Category)
    }
}

/// Coupon codes: [`COUPON_CODE_CHARS`] of `A-Z`, `0-9` and `-`.
pub const COUPON_CODE_CHARS: std::ops::RangeInclusive<usize> = 3..=32;
/// Payment methods: 1 to this many printable ASCII characters.
pub const MAX_PAYMENT_METHOD_CHARS: usize = 64;

/// Coupon codes: 3 to 32 of `A-Z`, `0-9` and `-`. Shoppers type them in any
/// case; they are kept upper case so `spring10` finds `SPRING10`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CouponCode(String);
string_newtype!(CouponCode);

impl CouponCode {
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let field = "coupon code";
        let value = value.into().trim().to_ascii_uppercase();
        if value.is_empty() {
            return Err(ValidationError::Empty { field });
        }
        if !COUPON_CODE_CHARS.contains(&value.len()) {
            return Err(ValidationError::Length {
                field,
                min: *COUPON_CODE_CHARS.start(),
                max: *COUPON_CODE_CHARS.end(),
                unit: "characters",
            });
        }
        let allowed = |b: &u8| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'-';
        if !value.as_bytes().iter().all(allowed) {
            return Err(ValidationError::BadCharacter { field });
        }
        Ok(CouponCode(value))
    }
}

/// How a shopper pays, as the gateway knows it: a saved-card token, or on
/// the built-in test gateway a test card number. 1 to 64 printable ASCII
/// characters. Its `Debug` shows only the last four, so logs never hold it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PaymentMethod(String);
string_newtype!(PaymentMethod);

impl PaymentMethod {
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let field = "payment method";
        let value: String = value.into();
        if value.trim().is_empty() {
            return Err(ValidationError::Empty { field });
        }
        if value.len() > MAX_PAYMENT_METHOD_CHARS {
            return Err(ValidationError::TooLong {
                field,
                max: MAX_PAYMENT_METHOD_CHARS,
                unit: "characters",
            });
        }
        if !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
            return Err(ValidationError::BadCharacter { field });
        }
        Ok(PaymentMethod(value))
    }
}

impl fmt::Debug for PaymentMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail: String = self
            .0
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        write!(f, "PaymentMethod(…{tail})")
    }
}

/// The reactions a shopper can send. A closed set: no free-form emoji.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reaction {
    Heart,
    Fire,
    Clap,
    Laugh,
    Wow,
}

impl Reaction {
    pub const ALL: [Reaction; 5] = [
        Reaction::Heart,
        Reaction::Fire,
        Reaction::Clap,
        Reaction::Laugh,
        Reaction::Wow,
    ];

    pub fn emoji(self) -> &'static str {
        match self {
            Reaction::Heart => "❤",
            Reaction::Fire => "🔥",
            Reaction::Clap => "👏",
            Reaction::Laugh => "😂",
            Reaction::Wow => "😮",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_trims_and_checks() {
        assert_eq!(DisplayName::new("  Ada ").unwrap().as_str(), "Ada");
        assert_eq!(
            DisplayName::new("   "),
            Err(ValidationError::Empty {
                field: "display name"
            })
        );
        assert!(matches!(
            DisplayName::new("x".repeat(33)),
            Err(ValidationError::TooLong { .. })
        ));
        assert!(DisplayName::new("é".repeat(32)).is_ok());
        assert_eq!(
            DisplayName::new("a\u{202E}b"),
            Err(ValidationError::BadCharacter {
                field: "display name"
            })
        );
        assert_eq!(
            DisplayName::new("a\nb"),
            Err(ValidationError::BadCharacter {
                field: "display name"
            })
        );
    }

    #[test]
    fn chat_text_limits() {
        assert!(ChatText::new("hello").is_ok());
        assert!(ChatText::new(" \t").is_err());
        assert!(ChatText::new("a".repeat(MAX_CHAT_CHARS)).is_ok());
        assert!(ChatText::new("a".repeat(MAX_CHAT_CHARS + 1)).is_err());
        assert!(ChatText::new("bell\u{7}").is_err());
    }

    #[test]
    fn room_id_charset() {
        assert!(RoomId::new("main-stage-2").is_ok());
        for bad in ["", "Main", "a b", "a/b", "é", &"a".repeat(49)] {
            assert!(RoomId::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn catalog_ids_are_slugs() {
        assert!(ProductId::new("glow-serum").is_ok());
        assert!(Sku::new("glow-serum-30ml").is_ok());
        assert!(Category::new("home").is_ok());
        assert!(ProductId::new("Glow Serum").is_err());
        assert!(Sku::new("x".repeat(65)).is_err());
        assert!(Category::new("").is_err());
    }

    #[test]
    fn coupon_codes_are_upper_case_and_payment_methods_stay_out_of_logs() {
        assert_eq!(
            CouponCode::new(" spring-10 ").unwrap().as_str(),
            "SPRING-10"
        );
        for bad in ["", "AB", "SPRING 10", "SPRÏNG", &"A".repeat(33)] {
            assert!(CouponCode::new(bad).is_err(), "{bad:?}");
        }
        let card = PaymentMethod::new("4242 4242 4242 4242").unwrap();
        assert_eq!(format!("{card:?}"), "PaymentMethod(…4242)");
        assert!(!format!("{card:?}").contains("4242 4242"));
        for bad in ["", "  ", "tok\n", &"4".repeat(65), "cärd"] {
            assert!(PaymentMethod::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn length_errors_name_the_real_limits() {
        let short = CouponCode::new("AB").unwrap_err().to_string();
        let (min, max) = (COUPON_CODE_CHARS.start(), COUPON_CODE_CHARS.end());
        assert_eq!(
            short,
            format!("coupon code must be {min} to {max} characters")
        );
        let long = PaymentMethod::new("4".repeat(MAX_PAYMENT_METHOD_CHARS + 1)).unwrap_err();
        assert!(
            long.to_string()
                .ends_with(&format!("at most {MAX_PAYMENT_METHOD_CHARS} characters")),
            "{long}"
        );
        assert!(PaymentMethod::new("4".repeat(MAX_PAYMENT_METHOD_CHARS)).is_ok());
    }

    #[test]
    fn deserializing_runs_validation() {
        let bytes = postcard::to_stdvec(&"bad room!".to_owned()).unwrap();
        assert!(postcard::from_bytes::<RoomId>(&bytes).is_err());
        let bytes = postcard::to_stdvec(&"lobby".to_owned()).unwrap();
        assert_eq!(
            postcard::from_bytes::<RoomId>(&bytes).unwrap().as_str(),
            "lobby"
        );
    }
    #[test]
    fn slugs_encode_exactly_as_their_string_and_refuse_malformed_ones() {
        let raw = "glow-serum-30ml".to_owned();
        let sku = Sku::new(raw.clone()).unwrap();
        let product = ProductId::new("glow-serum").unwrap();
        assert_eq!(
            postcard::to_allocvec(&sku).unwrap(),
            postcard::to_allocvec(&raw).unwrap()
        );
        assert_eq!(
            serde_json::to_string(&sku).unwrap(),
            serde_json::to_string(&raw).unwrap()
        );
        assert_eq!(serde_json::to_string(&product).unwrap(), "\"glow-serum\"");
        let back: Sku = postcard::from_bytes(&postcard::to_allocvec(&raw).unwrap()).unwrap();
        assert_eq!(back, sku);
        // Decoding runs the same check as `new`.
        let bad = postcard::to_allocvec(&"../etc".to_owned()).unwrap();
        assert!(postcard::from_bytes::<Sku>(&bad).is_err());
        assert!(serde_json::from_str::<ProductId>("\"Glow Serum\"").is_err());
    }
}
