//! Restream outlets: the host adds other platforms (YouTube, Twitch, any
//! RTMP or RTMPS URL with a key) and the relay sends the show to each while
//! it is live (`vitrine_media::restream`: one ffmpeg copying the relay's
//! output, no second encode). The key must be kept to publish, so it is
//! stored sealed (ChaCha20-Poly1305, under `DATA_DIR/outlets.key`, bound to
//! the outlet's id) and shown by its last four characters only; neither
//! the API nor a log gives it back.

use std::path::Path;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sqlx::Row;
use thiserror::Error;
use vitrine_media::restream::{OutletError, OutletState as MediaState, OutletTarget, Restreamer};
use vitrine_shared::DisplayName;
use vitrine_shared::api::{MAX_OUTLETS, NewOutlet, OutletState, OutletView};

use crate::clock::Clock;
use crate::ids::new_id;
use crate::keys::load_or_create_key;
use crate::store::{Account, Store, StoreError};

/// Where the sealing key lives, beside the stream key.
pub const OUTLETS_KEY_FILE: &str = "outlets.key";

#[derive(Debug, Error)]
pub enum RestreamError {
    #[error("this server cannot restream (no relay, or ffmpeg is missing)")]
    Unavailable,
    #[error("{0}")]
    BadName(String),
    #[error(transparent)]
    BadTarget(#[from] OutletError),
    #[error("a show sends to at most {MAX_OUTLETS} outlets; remove one first")]
    Full,
    #[error("no such outlet")]
    Unknown,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RestreamError {
    fn from(e: sqlx::Error) -> Self {
        RestreamError::Store(StoreError::Database(e))
    }
}

/// Seals outlet keys at rest.
struct Sealer(ChaCha20Poly1305);

impl Sealer {
    fn load(data_dir: &Path) -> Result<Self, String> {
        let key =
            load_or_create_key(&data_dir.join(OUTLETS_KEY_FILE)).map_err(|e| e.to_string())?;
        Ok(Self(ChaCha20Poly1305::new(Key::from_slice(&key))))
    }

    /// `nonce || ciphertext` in hex; the id is bound in, so a sealed key
    /// copied to another row does not open.
    fn seal(&self, id: i64, key: &str) -> String {
        use rand::RngCore;
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let aad = id.to_le_bytes();
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: key.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("sealing a short key cannot fail");
        nonce
            .iter()
            .chain(&sealed)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn open(&self, id: i64, hex: &str) -> Option<String> {
        let bytes = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        if bytes.len() < 12 + 16 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(12);
        let aad = id.to_le_bytes();
        let key = self
            .0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .ok()?;
        String::from_utf8(key).ok()
    }
}

struct OutletRow {
    id: i64,
    name: String,
    url: String,
    key_sealed: String,
    key_hint: String,
    created_at_ms: i64,
}

pub struct Outlets {
    store: Store,
    clock: Clock,
    restreamer: Option<Arc<Restreamer>>,
    sealer: Option<Sealer>,
    /// Adds and removals one at a time: each counts the outlets.
    writes: tokio::sync::Mutex<()>,
}

impl Outlets {
    /// Loads the outlets and starts sending to them (while live).
    pub async fn load(
        store: Store,
        clock: Clock,
        restreamer: Option<Arc<Restreamer>>,
        data_dir: &Path,
    ) -> Result<Outlets, RestreamError> {
        let sealer = match &restreamer {
            Some(_) => Some(Sealer::load(data_dir).map_err(|why| {
                RestreamError::Store(StoreError::Corrupt(format!("{OUTLETS_KEY_FILE}: {why}")))
            })?),
            None => None,
        };
        let outlets = Outlets {
            store,
            clock,
            restreamer,
            sealer,
            writes: tokio::sync::Mutex::new(()),
        };
        outlets.sync().await?;
        Ok(outlets)
    }

    fn parts(&self) -> Result<(&Arc<Restreamer>, &Sealer), RestreamError> {
        match (&self.restreamer, &self.sealer) {
            (Some(r), Some(s)) => Ok((r, s)),
            _ => Err(RestreamError::Unavailable),
        }
    }

    async fn rows(&self) -> Result<Vec<OutletRow>, RestreamError> {
        let rows = sqlx::query(
            "SELECT id, name, url, key_sealed, key_hint, created_at FROM restream_outlets \
             ORDER BY created_at, id",
        )
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutletRow {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    url: r.try_get("url")?,
                    key_sealed: r.try_get("key_sealed")?,
                    key_hint: r.try_get("key_hint")?,
                    created_at_ms: r.try_get("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(RestreamError::from)
    }

    /// Makes the restreamer send to exactly the stored outlets.
    async fn sync(&self) -> Result<(), RestreamError> {
        let Ok((restreamer, sealer)) = self.parts() else {
            return Ok(());
        };
        let mut wanted = Vec::new();
        for row in self.rows().await? {
            // A key that does not open (the key file replaced) or a URL
            // that no longer checks is not sent to; the list says so.
            let target = sealer
                .open(row.id, &row.key_sealed)
                .and_then(|key| OutletTarget::new(&row.url, &key).ok());
            match target {
                Some(t) => wanted.push((row.id, t)),
                None => tracing::warn!(outlet = row.id, "restream: an outlet's key does not open"),
            }
        }
        // Stopping a removed outlet waits for its ffmpeg: off the async
        // workers.
        let restreamer = restreamer.clone();
        tokio::task::spawn_blocking(move || restreamer.set_outlets(wanted))
            .await
            .map_err(|e| RestreamError::Store(StoreError::Corrupt(e.to_string())))?;
        Ok(())
    }

    pub fn max(&self) -> u8 {
        if self.restreamer.is_some() {
            MAX_OUTLETS as u8
        } else {
            0
        }
    }

    pub async fn list(&self) -> Result<Vec<OutletView>, RestreamError> {
        let (restreamer, _) = self.parts()?;
        let states = restreamer.states();
        Ok(self
            .rows()
            .await?
            .into_iter()
            .map(|row| {
                let state = match states.get(&row.id) {
                    Some(state) => state.clone(),
                    // Stored but not sent to: its key no longer opens.
                    None => MediaState::Retrying {
                        reason: format!(
                            "its stream key no longer opens ({OUTLETS_KEY_FILE} changed): \
                             remove it and add it again"
                        ),
                        retry_in: std::time::Duration::ZERO,
                    },
                };
                view(row, state)
            })
            .collect())
    }

    /// Adds an outlet; it starts sending at once if the show is live.
    pub async fn add(&self, by: &Account, new: &NewOutlet) -> Result<OutletView, RestreamError> {
        let (_, sealer) = self.parts()?;
        let name =
            DisplayName::new(&new.name).map_err(|e| RestreamError::BadName(e.to_string()))?;
        let target = OutletTarget::new(&new.url, &new.stream_key)?;
        let _one_at_a_time = self.writes.lock().await;
        if self.rows().await?.len() >= MAX_OUTLETS {
            return Err(RestreamError::Full);
        }
        let id = new_id::<i64>();
        // The last four characters tell keys apart; a short key is not
        // given away by them.
        let chars: Vec<char> = target.key.chars().collect();
        let hint: String = if chars.len() >= 12 {
            chars[chars.len() - 4..].iter().collect()
        } else {
            String::new()
        };
        let row = OutletRow {
            id,
            name: name.as_str().to_owned(),
            url: target.url.clone(),
            key_sealed: sealer.seal(id, &target.key),
            key_hint: hint,
            created_at_ms: self.clock.now_ms(),
        };
        sqlx::query(
            "INSERT INTO restream_outlets (id, name, url, key_sealed, key_hint, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(row.id)
        .bind(&row.name)
        .bind(&row.url)
        .bind(&row.key_sealed)
        .bind(&row.key_hint)
        .bind(by.id.0 as i64)
        .bind(row.created_at_ms)
        .execute(self.store.pool())
        .await?;
        self.sync().await?;
        tracing::info!(outlet = id, url = row.url, "restream outlet added");
        Ok(view(row, MediaState::Idle))
    }

    /// Removes an outlet; its ffmpeg stops at once.
    pub async fn remove(&self, id: i64) -> Result<(), RestreamError> {
        self.parts()?;
        let _one_at_a_time = self.writes.lock().await;
        let removed = sqlx::query("DELETE FROM restream_outlets WHERE id = $1")
            .bind(id)
            .execute(self.store.pool())
            .await?;
        if removed.rows_affected() == 0 {
            return Err(RestreamError::Unknown);
        }
        self.sync().await?;
        tracing::info!(outlet = id, "restream outlet removed");
        Ok(())
    }
}

fn view(row: OutletRow, state: MediaState) -> OutletView {
    let (state, reason, retry_in_s) = match state {
        MediaState::Idle => (OutletState::Idle, None, None),
        MediaState::Connecting => (OutletState::Connecting, None, None),
        MediaState::Live => (OutletState::Live, None, None),
        MediaState::Retrying { reason, retry_in } => (
            OutletState::Retrying,
            Some(reason),
            // A wait of nothing is no retry: the outlet is stuck.
            (!retry_in.is_zero()).then(|| retry_in.as_secs_f32().ceil() as u32),
        ),
    };
    OutletView {
        id: row.id,
        name: row.name,
        url: row.url,
        key_hint: row.key_hint,
        state,
        reason,
        retry_in_s,
        added_at_ms: row.created_at_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_under_its_own_id_and_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = Sealer::load(dir.path()).unwrap();
        let sealed = sealer.seal(7, "live_123_secret");
        assert!(!sealed.contains("secret"));
        assert_eq!(sealer.open(7, &sealed).as_deref(), Some("live_123_secret"));
        assert_eq!(sealer.open(8, &sealed), None, "moved to another row");
        assert_eq!(sealer.open(7, "zz"), None);
        assert_eq!(sealer.open(7, &sealed[..20]), None);
        // The same key file opens it after a restart; another does not.
        assert_eq!(
            Sealer::load(dir.path())
                .unwrap()
                .open(7, &sealed)
                .as_deref(),
            Some("live_123_secret")
        );
        let other = tempfile::tempdir().unwrap();
        assert_eq!(Sealer::load(other.path()).unwrap().open(7, &sealed), None);
    }
}
