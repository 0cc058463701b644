//! Payments go through a gateway trait: authorize, capture and refund, each
//! idempotent by a key the caller chooses. The built-in test gateway behaves
//! like a real one: it declines some test cards, never answers for another
//! (so the caller's timeout fires), and charges once per key however often
//! it is asked.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;
use thiserror::Error;
use vitrine_shared::Money;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaymentError {
    #[error("the payment was declined: {reason}")]
    Declined { reason: String },
    #[error("the payment provider did not answer in time")]
    Timeout,
    #[error("the payment provider failed: {0}")]
    Unavailable(String),
}

pub trait PaymentGateway: Send + Sync + 'static {
    /// Reserves `amount` on the payment method; returns an authorization id.
    fn authorize<'a>(
        &'a self,
        key: &'a str,
        amount: Money,
        method: &'a str,
    ) -> BoxFuture<'a, Result<String, PaymentError>>;
    /// Takes the authorized money.
    fn capture<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), PaymentError>>;
    /// Gives money back on a captured authorization.
    fn refund<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
        amount: Money,
    ) -> BoxFuture<'a, Result<(), PaymentError>>;
}

/// Test card numbers, as payment providers document theirs.
pub mod cards {
    pub const APPROVED: &str = "4242424242424242";
    pub const DECLINED: &str = "4000000000000002";
    pub const INSUFFICIENT_FUNDS: &str = "4000000000009995";
    /// The provider never answers: the caller's timeout decides.
    pub const NO_ANSWER: &str = "4000000000000119";
}

fn luhn_ok(number: &str) -> bool {
    let digits: Option<Vec<u32>> = number.chars().map(|c| c.to_digit(10)).collect();
    let Some(digits) = digits else { return false };
    if !(12..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                *d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[derive(Default)]
struct Ledger {
    authorizations: HashMap<String, Result<(String, Money), PaymentError>>,
    captures: HashMap<String, String>,
    refunds: HashMap<String, (String, Money)>,
    next: u64,
}

/// The built-in gateway for tests and the demo. No money moves.
pub struct TestGateway {
    ledger: Mutex<Ledger>,
    /// How long a `NO_ANSWER` card keeps the caller waiting.
    pub hang: Duration,
}

impl Default for TestGateway {
    fn default() -> Self {
        TestGateway {
            ledger: Mutex::new(Ledger::default()),
            hang: Duration::from_secs(3600),
        }
    }
}

impl TestGateway {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Authorizations that reserved money (declines excluded).
    pub fn authorized(&self) -> usize {
        self.ledger()
            .authorizations
            .values()
            .filter(|r| r.is_ok())
            .count()
    }

    pub fn captured(&self) -> usize {
        self.ledger().captures.len()
    }

    pub fn refunded(&self) -> usize {
        self.ledger().refunds.len()
    }
}

impl PaymentGateway for TestGateway {
    fn authorize<'a>(
        &'a self,
        key: &'a str,
        amount: Money,
        method: &'a str,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        Box::pin(async move {
            let card: String = method.chars().filter(|c| !c.is_whitespace()).collect();
            if card == cards::NO_ANSWER {
                tokio::time::sleep(self.hang).await;
                return Err(PaymentError::Timeout);
            }
            let mut ledger = self.ledger();
            if let Some(seen) = ledger.authorizations.get(key) {
                return seen.clone().map(|(id, _)| id);
            }
            let outcome = if card == cards::DECLINED {
                Err(PaymentError::Declined {
                    reason: "card_declined".into(),
                })
            } else if card == cards::INSUFFICIENT_FUNDS {
                Err(PaymentError::Declined {
                    reason: "insufficient_funds".into(),
                })
            } else if !luhn_ok(&card) {
                Err(PaymentError::Declined {
                    reason: "invalid_card_number".into(),
                })
            } else if amount.minor <= 0 {
                Err(PaymentError::Declined {
                    reason: "invalid_amount".into(),
                })
            } else {
                ledger.next += 1;
                Ok((format!("auth_test_{}", ledger.next), amount))
            };
            ledger
                .authorizations
                .insert(key.to_owned(), outcome.clone());
            outcome.map(|(id, _)| id)
        })
    }

    fn capture<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), PaymentError>> {
        Box::pin(async move {
            let mut ledger = self.ledger();
            let known = ledger
                .authorizations
                .values()
                .any(|r| matches!(r, Ok((id, _)) if id == authorization));
            if !known {
                return Err(PaymentError::Unavailable(format!(
                    "no authorization {authorization}"
                )));
            }
            ledger
                .captures
                .entry(key.to_owned())
                .or_insert_with(|| authorization.to_owned());
            Ok(())
        })
    }

    fn refund<'a>(
        &'a self,
        key: &'a str,
        authorization: &'a str,
        amount: Money,
    ) -> BoxFuture<'a, Result<(), PaymentError>> {
        Box::pin(async move {
            let mut ledger = self.ledger();
            if !ledger.captures.values().any(|a| a == authorization) {
                return Err(PaymentError::Unavailable(format!(
                    "nothing captured on {authorization}"
                )));
            }
            ledger
                .refunds
                .entry(key.to_owned())
                .or_insert_with(|| (authorization.to_owned(), amount));
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_shared::Currency;

    #[tokio::test]
    async fn approves_declines_and_charges_once_per_key() {
        let gw = TestGateway::default();
        let eur = Money::new(1990, Currency::EUR);
        let a = gw
            .authorize("k1", eur, "4242 4242 4242 4242")
            .await
            .unwrap();
        let again = gw.authorize("k1", eur, cards::APPROVED).await.unwrap();
        assert_eq!(a, again, "same key, same authorization");
        assert_eq!(gw.authorized(), 1);
        gw.capture("c1", &a).await.unwrap();
        gw.capture("c1", &a).await.unwrap();
        assert_eq!(gw.captured(), 1);
        gw.refund("r1", &a, eur).await.unwrap();
        gw.refund("r1", &a, eur).await.unwrap();
        assert_eq!(gw.refunded(), 1);

        let declined = gw.authorize("k2", eur, cards::DECLINED).await;
        assert_eq!(
            declined,
            Err(PaymentError::Declined {
                reason: "card_declined".into()
            })
        );
        let poor = gw.authorize("k3", eur, cards::INSUFFICIENT_FUNDS).await;
        assert_eq!(
            poor,
            Err(PaymentError::Declined {
                reason: "insufficient_funds".into()
            })
        );
        let typo = gw.authorize("k4", eur, "4242424242424241").await;
        assert_eq!(
            typo,
            Err(PaymentError::Declined {
                reason: "invalid_card_number".into()
            })
        );
        assert!(gw.capture("c2", "auth_made_up").await.is_err());
        assert_eq!(gw.authorized(), 1);
    }

    #[tokio::test]
    async fn the_no_answer_card_hangs_until_the_caller_gives_up() {
        let gw = TestGateway::default();
        let eur = Money::new(100, Currency::EUR);
        let waited = tokio::time::timeout(
            Duration::from_millis(50),
            gw.authorize("k", eur, cards::NO_ANSWER),
        )
        .await;
        assert!(waited.is_err(), "no answer within the caller's timeout");
    }
}
