//! Money in integer minor units with an ISO 4217 currency. No floats, ever.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("currency code must be three upper-case letters (ISO 4217), got {0:?}")]
    BadCurrency(String),
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount overflow")]
    Overflow,
    #[error(
        "{0:?} is not an amount: write digits with at most {1} after the point, like \"24.90\""
    )]
    BadAmount(String, u32),
}

/// An ISO 4217 alphabetic code, such as `EUR` or `USD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const EUR: Currency = Currency(*b"EUR");
    pub const USD: Currency = Currency(*b"USD");
    pub const JPY: Currency = Currency(*b"JPY");

    pub fn new(code: &str) -> Result<Self, MoneyError> {
        let bytes = code.as_bytes();
        if bytes.len() == 3 && bytes.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([bytes[0], bytes[1], bytes[2]]))
        } else {
            Err(MoneyError::BadCurrency(code.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point (ISO 4217 minor unit).
    pub fn minor_digits(&self) -> u32 {
        match &self.0 {
            b"JPY" | b"KRW" | b"VND" | b"CLP" | b"ISK" => 0,
            b"BHD" | b"KWD" | b"OMR" | b"JOD" | b"TND" => 3,
            _ => 2,
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::new(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount in minor units (cents for EUR) of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// Parses a non-negative decimal amount such as `"24.90"` exactly, in
    /// the currency's minor units. More decimals than the currency has (a
    /// third for EUR) are refused rather than rounded.
    pub fn parse_decimal(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let digits = currency.minor_digits();
        let bad = || MoneyError::BadAmount(text.to_owned(), digits);
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
            return Err(bad());
        }
        if text.contains('.') && (fraction.is_empty() || fraction.len() > digits as usize) {
            return Err(bad());
        }
        let scale = 10i64.pow(digits);
        let whole: i64 = whole.parse().map_err(|_| MoneyError::Overflow)?;
        let padded = format!("{fraction:0<width$}", width = digits as usize);
        let fraction: i64 = if padded.is_empty() {
            0
        } else {
            padded.parse().map_err(|_| bad())?
        };
        let minor = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(fraction))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, currency))
    }

    pub fn checked_mul(self, quantity: i64) -> Result<Money, MoneyError> {
        let minor = self
            .minor
            .checked_mul(quantity)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.currency.minor_digits();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if digits == 0 {
            return write!(f, "{sign}{abs} {}", self.currency);
        }
        let scale = 10u64.pow(digits);
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            abs / scale,
            abs % scale,
            self.currency,
            width = digits as usize
        )
    }
}

/// `percent` of `minor`, rounded down to the minor unit: what a percentage
/// coupon takes off. The server prices with it and the showroom previews
/// with it, so the two never disagree.
pub fn percent_of(minor: i64, percent: i64) -> i64 {
    (i128::from(minor) * i128::from(percent) / 100) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_minor_units_per_currency() {
        assert_eq!(Money::new(1999, Currency::EUR).to_string(), "19.99 EUR");
        assert_eq!(Money::new(-5, Currency::USD).to_string(), "-0.05 USD");
        assert_eq!(Money::new(1200, Currency::JPY).to_string(), "1200 JPY");
    }

    #[test]
    fn parses_decimal_amounts_exactly() {
        let eur = Currency::EUR;
        assert_eq!(Money::parse_decimal("24.90", eur).unwrap().minor, 2490);
        assert_eq!(Money::parse_decimal("24.9", eur).unwrap().minor, 2490);
        assert_eq!(Money::parse_decimal("7", eur).unwrap().minor, 700);
        assert_eq!(Money::parse_decimal("0.05", eur).unwrap().minor, 5);
        assert_eq!(
            Money::parse_decimal("1500", Currency::JPY).unwrap().minor,
            1500
        );
        for bad in ["", ".5", "1.", "1.234", "-1", "1e3", "1,50", " 1", "0x10"] {
            assert!(
                matches!(
                    Money::parse_decimal(bad, eur),
                    Err(MoneyError::BadAmount(..))
                ),
                "{bad:?}"
            );
        }
        assert!(Money::parse_decimal("1.5", Currency::JPY).is_err());
        assert_eq!(
            Money::parse_decimal("99999999999999999999", eur),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn refuses_bad_currency_codes() {
        for code in ["eur", "EU", "EURO", "E1R", ""] {
            assert!(Currency::new(code).is_err(), "{code}");
        }
        assert_eq!(Currency::new("GBP").unwrap().as_str(), "GBP");
    }

    #[test]
    fn arithmetic_checks_currency_and_overflow() {
        let eur = Money::new(100, Currency::EUR);
        assert_eq!(eur.checked_add(eur).unwrap().minor, 200);
        assert_eq!(
            eur.checked_add(Money::new(1, Currency::USD)),
            Err(MoneyError::CurrencyMismatch(Currency::EUR, Currency::USD))
        );
        assert_eq!(
            Money::new(i64::MAX, Currency::EUR).checked_mul(2),
            Err(MoneyError::Overflow)
        );
    }
}
