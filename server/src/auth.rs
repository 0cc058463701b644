//! Bearer tokens for the HTTP API: an HMAC-SHA256-signed session id with an
//! expiry. The signature makes forgery impossible without the key; the
//! session row makes revocation possible.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::ops::RangeInclusive;
use thiserror::Error;
use vitrine_shared::limits::accounts::{PASSWORD_CHARS, SIGN_IN_PASSWORD_CHARS, USERNAME_CHARS};

const PREFIX: &str = "vt1";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("bad signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub session_id: String,
    pub expires_at_ms: i64,
}

fn mac(key: &[u8; 32], payload: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(payload.as_bytes());
    mac
}

/// `vt1.<session id>.<expiry ms>.<signature>`.
pub fn sign(key: &[u8; 32], claims: &Claims) -> String {
    let payload = format!("{PREFIX}.{}.{}", claims.session_id, claims.expires_at_ms);
    let signature = URL_SAFE_NO_PAD.encode(mac(key, &payload).finalize().into_bytes());
    format!("{payload}.{signature}")
}

pub fn verify(key: &[u8; 32], token: &str, now_ms: i64) -> Result<Claims, TokenError> {
    if token.len() > 256 {
        return Err(TokenError::Malformed);
    }
    let (payload, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let mut parts = payload.split('.');
    let (Some(PREFIX), Some(session_id), Some(expiry), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    mac(key, payload)
        .verify_slice(&signature)
        .map_err(|_| TokenError::BadSignature)?;
    let expires_at_ms: i64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
    if expires_at_ms <= now_ms {
        return Err(TokenError::Expired);
    }
    Ok(Claims {
        session_id: session_id.to_owned(),
        expires_at_ms,
    })
}

/// Usernames: [`USERNAME_CHARS`] characters of `a-z`, `0-9`, `.`, `_` and `-`.
pub fn check_username(name: &str) -> Result<(), String> {
    let ok = USERNAME_CHARS.contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a username is {} to {} of a-z, 0-9, '.', '_' and '-'",
            USERNAME_CHARS.start(),
            USERNAME_CHARS.end()
        ))
    }
}

/// Passwords: [`PASSWORD_CHARS`] characters; anything else is up to the
/// person.
pub fn check_password(password: &str) -> Result<(), String> {
    password_within(password, &PASSWORD_CHARS)
}

/// A password at sign-in: [`SIGN_IN_PASSWORD_CHARS`], so that every
/// account's password, however old, is checked against its hash (a wrong
/// one is 401), and only one no account can have is a malformed request.
pub fn check_sign_in_password(password: &str) -> Result<(), String> {
    password_within(password, &SIGN_IN_PASSWORD_CHARS)
}

fn password_within(password: &str, chars: &RangeInclusive<usize>) -> Result<(), String> {
    if chars.contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(format!(
            "a password is {} to {} characters long",
            chars.start(),
            chars.end()
        ))
    }
}

/// Argon2id with a random salt, in the PHC string format.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc)
        .map(|hash| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A readable random password for `admin create-user`: 20 characters from
/// an alphabet without look-alikes (about 110 bits).
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY345679";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert_ne!(
            hash,
            hash_password("correct horse battery").unwrap(),
            "salted"
        );
        assert_eq!(generate_password().len(), 20);
        assert!(check_password(&generate_password()).is_ok());
        assert!(check_password("short").is_err());
        assert!(check_username("host.ana").is_ok());
        assert!(check_username("Ana").is_err());
        assert!(check_username("ab").is_err());
    }

    /// The bounds `admin create-user` checks, and sign-in's (which the API
    /// document states), in characters as JSON Schema counts them (a 4-byte
    /// character is one).
    #[test]
    fn usernames_and_passwords_are_checked_at_their_stated_bounds() {
        let (short, long) = (
            *SIGN_IN_PASSWORD_CHARS.start(),
            *SIGN_IN_PASSWORD_CHARS.end(),
        );
        for (password, ok) in [
            ("🔑".repeat(short), true),
            ("🔑".repeat(short - 1), false),
            ("🔑".repeat(long), true),
            ("p".repeat(long + 1), false),
        ] {
            assert_eq!(check_sign_in_password(&password).is_ok(), ok, "{password}");
        }
        let (short, long) = (*PASSWORD_CHARS.start(), *PASSWORD_CHARS.end());
        for (password, ok) in [
            ("🔑".repeat(short), true),
            ("🔑".repeat(short - 1), false),
            ("p".repeat(long), true),
            ("🔑".repeat(long), true),
            ("p".repeat(long + 1), false),
        ] {
            assert_eq!(check_password(&password).is_ok(), ok, "{password}");
        }
        let (short, long) = (*USERNAME_CHARS.start(), *USERNAME_CHARS.end());
        for (username, ok) in [
            ("a".repeat(short), true),
            ("a".repeat(short - 1), false),
            ("a".repeat(long), true),
            ("a".repeat(long + 1), false),
            ("a b".to_owned(), false),
        ] {
            assert_eq!(check_username(&username).is_ok(), ok, "{username}");
        }
    }

    #[test]
    fn signs_and_verifies() {
        let key = [7u8; 32];
        let claims = Claims {
            session_id: "abc123".into(),
            expires_at_ms: 2_000,
        };
        let token = sign(&key, &claims);
        assert_eq!(verify(&key, &token, 1_000), Ok(claims));
        assert_eq!(verify(&key, &token, 2_000), Err(TokenError::Expired));
        assert_eq!(
            verify(&[8u8; 32], &token, 1_000),
            Err(TokenError::BadSignature)
        );
        let tampered = token.replace("2000", "9000");
        assert_eq!(
            verify(&key, &tampered, 1_000),
            Err(TokenError::BadSignature)
        );
        for junk in [
            "",
            "vt1",
            "vt1.a.b",
            "x.y.z.w",
            "vt1.a.1.!!!",
            &"a".repeat(300),
        ] {
            assert!(verify(&key, junk, 0).is_err(), "{junk:?}");
        }
    }
}
