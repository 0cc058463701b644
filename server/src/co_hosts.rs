//! Co-hosts: the host invites up to four people onto the stage, each with a
//! seat and an ingest key of their own, and switches the stage's layout
//! live. The key is shown once, when made; the store keeps its SHA-256
//! digest and last four characters, so neither the database nor a log can
//! give it back. Revoking frees the seat and puts a live co-host out at
//! once (`vitrine_media::stage`).

use std::sync::Arc;

use sqlx::Row;
use thiserror::Error;
use vitrine_media::stage::{HOST_SEAT, Layout, Seat, SeatKey, StageError};
use vitrine_shared::DisplayName;
use vitrine_shared::api::{
    CoHostInvited, CoHostView, MAX_CO_HOSTS, StageLayout, StageSeat, StageView,
};

use crate::clock::Clock;
use crate::ids::new_id;
use crate::media::{Composer, random_key};
use crate::store::{Account, Store, StoreError};

#[derive(Debug, Error)]
pub enum CoHostError {
    #[error("this server has no co-host stage (list co-host listeners under [media] co_hosts)")]
    NoStage,
    #[error("every co-host seat on the stage is taken; revoke one first")]
    Full,
    #[error("{0}")]
    BadName(String),
    #[error("no such co-host")]
    Unknown,
    #[error("this co-host's key is already revoked")]
    AlreadyRevoked,
    #[error("there is no seat {0} (the host's is 0, co-hosts' 1 to {MAX_CO_HOSTS})")]
    NoSuchSeat(u8),
    #[error("nobody is live in seat {0}")]
    NotLive(u8),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CoHostError {
    fn from(e: sqlx::Error) -> Self {
        CoHostError::Store(StoreError::Database(e))
    }
}

/// A co-host as stored.
#[derive(Debug, Clone)]
struct CoHostRow {
    id: i64,
    seat: u8,
    name: String,
    key_digest: [u8; 32],
    key_hint: String,
    created_at_ms: i64,
}

pub struct CoHosts {
    store: Store,
    clock: Clock,
    composer: Option<Arc<Composer>>,
    /// Invitations and revocations one at a time: each picks a free seat.
    writes: tokio::sync::Mutex<()>,
}

fn layout_of(l: StageLayout) -> Layout {
    match l {
        StageLayout::Solo => Layout::Solo,
        StageLayout::SideBySide => Layout::SideBySide,
        StageLayout::PictureInPicture => Layout::PictureInPicture,
        StageLayout::Grid => Layout::Grid,
    }
}

fn stage_layout(l: Layout) -> StageLayout {
    match l {
        Layout::Solo => StageLayout::Solo,
        Layout::SideBySide => StageLayout::SideBySide,
        Layout::PictureInPicture => StageLayout::PictureInPicture,
        Layout::Grid => StageLayout::Grid,
    }
}

fn row(r: &sqlx::any::AnyRow) -> Result<CoHostRow, CoHostError> {
    let digest: String = r.try_get("key_digest")?;
    let key_digest = (0..32)
        .map(|i| u8::from_str_radix(digest.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("co-host key digest {digest:?}")))?;
    let seat: i64 = r.try_get("seat")?;
    Ok(CoHostRow {
        id: r.try_get("id")?,
        seat: u8::try_from(seat)
            .map_err(|_| StoreError::Corrupt(format!("co-host seat {seat}")))?,
        name: r.try_get("name")?,
        key_digest,
        key_hint: r.try_get("key_hint")?,
        created_at_ms: r.try_get("created_at")?,
    })
}

impl CoHosts {
    /// Seats every co-host not revoked.
    pub async fn load(
        store: Store,
        clock: Clock,
        composer: Option<Arc<Composer>>,
    ) -> Result<CoHosts, CoHostError> {
        let co_hosts = CoHosts {
            store,
            clock,
            composer,
            writes: tokio::sync::Mutex::new(()),
        };
        if let Some(composer) = &co_hosts.composer {
            for c in co_hosts.active().await? {
                // A seat beyond what this start configured stays empty
                // until the host revokes it.
                let _ = composer
                    .stage
                    .set_seat(usize::from(c.seat), Some(seat_of(&c)));
            }
        }
        Ok(co_hosts)
    }

    /// How many co-hosts this server's stage seats: the listeners
    /// configured, up to [`MAX_CO_HOSTS`].
    pub fn max(&self) -> u8 {
        self.composer
            .as_ref()
            .map_or(0, |c| c.stage.seats().saturating_sub(1).min(MAX_CO_HOSTS)) as u8
    }

    fn composer(&self) -> Result<&Arc<Composer>, CoHostError> {
        self.composer.as_ref().ok_or(CoHostError::NoStage)
    }

    async fn active(&self) -> Result<Vec<CoHostRow>, CoHostError> {
        sqlx::query(
            "SELECT id, seat, name, key_digest, key_hint, created_at FROM co_hosts \
             WHERE revoked_at IS NULL ORDER BY seat",
        )
        .fetch_all(self.store.pool())
        .await?
        .iter()
        .map(row)
        .collect()
    }

    fn view(&self, composer: &Composer, c: &CoHostRow) -> CoHostView {
        CoHostView {
            id: c.id,
            name: c.name.clone(),
            seat: c.seat,
            srt_url: composer
                .seat_urls
                .get(usize::from(c.seat))
                .cloned()
                .unwrap_or_default(),
            rtmp_url: composer
                .rtmp_urls
                .get(usize::from(c.seat))
                .cloned()
                .flatten(),
            key_hint: c.key_hint.clone(),
            live: composer.stage.live().contains(&usize::from(c.seat)),
            invited_at_ms: c.created_at_ms,
        }
    }

    /// The co-hosts on the stage now.
    pub async fn list(&self) -> Result<Vec<CoHostView>, CoHostError> {
        let composer = self.composer()?;
        Ok(self
            .active()
            .await?
            .iter()
            .map(|c| self.view(composer, c))
            .collect())
    }

    /// Invites a co-host into the lowest free seat, with a new key shown
    /// this once.
    pub async fn invite(&self, by: &Account, name: &str) -> Result<CoHostInvited, CoHostError> {
        let composer = self.composer()?;
        let name = DisplayName::new(name).map_err(|e| CoHostError::BadName(e.to_string()))?;
        let _one_at_a_time = self.writes.lock().await;
        let taken: Vec<u8> = self.active().await?.iter().map(|c| c.seat).collect();
        let seats = composer.stage.seats();
        let seat = (1..seats)
            .filter_map(|s| u8::try_from(s).ok())
            .find(|s| !taken.contains(s))
            .ok_or(CoHostError::Full)?;
        let key = random_key();
        let digest = SeatKey::digest(&key);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let hint = key.as_str()[key.as_str().len() - 4..].to_owned();
        let c = CoHostRow {
            id: new_id::<i64>(),
            seat,
            name: name.as_str().to_owned(),
            key_digest: digest,
            key_hint: hint,
            created_at_ms: self.clock.now_ms(),
        };
        sqlx::query(
            "INSERT INTO co_hosts (id, seat, name, key_digest, key_hint, invited_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(c.id)
        .bind(i64::from(c.seat))
        .bind(&c.name)
        .bind(&hex)
        .bind(&c.key_hint)
        .bind(by.id.0 as i64)
        .bind(c.created_at_ms)
        .execute(self.store.pool())
        .await
        // Another server on the same database took the seat first.
        .map_err(|e| match e.as_database_error() {
            Some(d) if d.is_unique_violation() => CoHostError::Full,
            _ => CoHostError::from(e),
        })?;
        composer
            .stage
            .set_seat(usize::from(seat), Some(seat_of(&c)))
            .map_err(|_| CoHostError::NoSuchSeat(seat))?;
        self.name_host(by);
        tracing::info!(co_host = c.id, seat, "co-host invited");
        Ok(CoHostInvited {
            co_host: self.view(composer, &c),
            stream_key: key.as_str().to_owned(),
        })
    }

    /// Revokes a co-host's key: the seat is freed and, if they are live,
    /// they leave the stage now.
    pub async fn revoke(&self, id: i64) -> Result<(), CoHostError> {
        let composer = self.composer()?;
        let _one_at_a_time = self.writes.lock().await;
        let found = sqlx::query("SELECT seat, revoked_at FROM co_hosts WHERE id = $1")
            .bind(id)
            .fetch_optional(self.store.pool())
            .await?
            .ok_or(CoHostError::Unknown)?;
        let revoked: Option<i64> = found.try_get("revoked_at")?;
        if revoked.is_some() {
            return Err(CoHostError::AlreadyRevoked);
        }
        let seat: i64 = found.try_get("seat")?;
        let revoked =
            sqlx::query("UPDATE co_hosts SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(self.clock.now_ms())
                .bind(id)
                .execute(self.store.pool())
                .await?;
        // Revoked meanwhile by another server on the same database.
        if revoked.rows_affected() == 0 {
            return Err(CoHostError::AlreadyRevoked);
        }
        if let Ok(seat) = usize::try_from(seat) {
            let _ = composer.stage.set_seat(seat, None);
        }
        tracing::info!(co_host = id, seat, "co-host revoked");
        Ok(())
    }

    /// The host's own tag: the name of the host who last ran the stage.
    pub fn name_host(&self, host: &Account) {
        if host.role != vitrine_shared::Role::Host {
            return;
        }
        if let Some(composer) = &self.composer {
            let _ = composer
                .stage
                .set_seat(HOST_SEAT, composer.host_seat(host.name.as_str()));
        }
    }

    pub fn stage(&self) -> Result<StageView, CoHostError> {
        let composer = self.composer()?;
        let stage = &composer.stage;
        let (layout, big) = stage.choice();
        let live = stage.live();
        let placed = stage.placed();
        let names = stage.names();
        let c = stage.config();
        Ok(StageView {
            layout: stage_layout(layout),
            shown: stage_layout(vitrine_media::stage::layout::shown(layout, live.len())),
            big: big.and_then(|b| u8::try_from(b).ok()),
            width: c.width,
            height: c.height,
            seats: names
                .into_iter()
                .enumerate()
                .filter_map(|(seat, name)| {
                    let name = name?;
                    let shown_at = placed
                        .iter()
                        .find(|p| p.seat == seat)
                        .map(|p| [p.rect.x, p.rect.y, p.rect.width, p.rect.height]);
                    Some(StageSeat {
                        seat: u8::try_from(seat).ok()?,
                        name,
                        live: live.contains(&seat),
                        shown_at,
                    })
                })
                .collect(),
            refused: stage.rejected(),
        })
    }

    /// Switches the layout live; the big slot, if named, must be live.
    pub fn set_stage(
        &self,
        by: &Account,
        layout: StageLayout,
        big: Option<u8>,
    ) -> Result<StageView, CoHostError> {
        let composer = self.composer()?;
        composer
            .stage
            .set_layout(layout_of(layout), big.map(usize::from))
            .map_err(|e| match (e, big) {
                (StageError::NotLive(_), Some(b)) => CoHostError::NotLive(b),
                (_, b) => CoHostError::NoSuchSeat(b.unwrap_or(u8::MAX)),
            })?;
        self.name_host(by);
        self.stage()
    }
}

fn seat_of(c: &CoHostRow) -> Seat {
    Seat {
        name: c.name.clone(),
        key: SeatKey::Sha256(c.key_digest),
    }
}
