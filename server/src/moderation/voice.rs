//! Voice-mutes: staff stop a shopper's voice for a time, as chat mutes
//! stop its chat, and on the same terms (stored with its log entry in one
//! transaction, then applied in memory; it survives a restart and ends by
//! the clock). The room thread reads [`Moderation::voice_muted`] for each
//! frame and tells the shopper when it begins and when it is lifted.

use super::{
    Change, MAX_MUTE, MIN_MUTE, Moderation, ModerationError, Mute, Mutes, RoomAction, check_reason,
    lock, with_reason,
};
use crate::store::{Account, StoreError};
use sqlx::Row;
use std::time::Duration;
use vitrine_shared::AccountId;

/// Voice-mutes still running at `now_ms`; ended ones are cleared.
pub(super) async fn load(pool: &sqlx::AnyPool, now_ms: i64) -> Result<Mutes, StoreError> {
    sqlx::query("DELETE FROM moderation_voice_mutes WHERE until_at <= $1")
        .bind(now_ms)
        .execute(pool)
        .await?;
    let mut mutes = Mutes::default();
    for row in sqlx::query(
        "SELECT account_id, name, until_at, reason, muted_by FROM moderation_voice_mutes",
    )
    .fetch_all(pool)
    .await?
    {
        mutes.insert(Mute {
            account: AccountId(row.try_get::<i64, _>(0)? as u64),
            name: row.try_get(1)?,
            until_ms: row.try_get(2)?,
            reason: row.try_get(3)?,
            muted_by: AccountId(row.try_get::<i64, _>(4)? as u64),
        });
    }
    Ok(mutes)
}

impl Moderation {
    /// How long `account`'s voice stays muted after `now_ms`; `None` when
    /// it may speak. Read by the room thread for every frame.
    pub fn voice_muted(&self, account: AccountId, now_ms: i64) -> Option<Duration> {
        lock(&self.voice_mutes).remaining(account, now_ms)
    }

    /// Running voice-mutes, soonest to end first.
    pub fn voice_mutes(&self) -> Vec<Mute> {
        lock(&self.voice_mutes).active(self.clock.now_ms())
    }

    /// Voice-mutes `target` for `duration` from now (replacing any it had).
    pub async fn voice_mute(
        &self,
        actor: &Account,
        target: &Account,
        duration: Duration,
        reason: &str,
    ) -> Result<Mute, ModerationError> {
        if !(MIN_MUTE..=MAX_MUTE).contains(&duration) {
            return Err(ModerationError::Invalid(format!(
                "a voice-mute lasts {} s to {} s",
                MIN_MUTE.as_secs(),
                MAX_MUTE.as_secs()
            )));
        }
        let reason = check_reason(reason)?;
        let mut next = self.writes.lock().await;
        let now = self.clock.now_ms();
        let mute = Mute {
            account: target.id,
            name: target.name.to_string(),
            until_ms: now + duration.as_millis() as i64,
            reason: reason.to_owned(),
            muted_by: actor.id,
        };
        let upsert = sqlx::query(
            "INSERT INTO moderation_voice_mutes (account_id, name, until_at, reason, muted_by, \
             muted_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id) DO UPDATE SET \
             name = excluded.name, until_at = excluded.until_at, reason = excluded.reason, \
             muted_by = excluded.muted_by, muted_at = excluded.muted_at",
        )
        .bind(target.id.0 as i64)
        .bind(mute.name.clone())
        .bind(mute.until_ms)
        .bind(mute.reason.clone())
        .bind(actor.id.0 as i64)
        .bind(now);
        self.commit(
            &mut next,
            vec![upsert],
            Change {
                actor,
                action: "voice_mute",
                room: None,
                target: Some((target.id, target.name.as_str())),
                details: with_reason(format!("for {} s", duration.as_secs()), reason),
            },
        )
        .await?;
        lock(&self.voice_mutes).insert(mute.clone());
        self.tell_rooms(RoomAction::VoiceMute {
            account: target.id,
            muted: Some((duration, reason.to_owned())),
        });
        Ok(mute)
    }

    /// Ends `account`'s voice-mute early.
    pub async fn voice_unmute(
        &self,
        actor: &Account,
        account: AccountId,
    ) -> Result<(), ModerationError> {
        let mut next = self.writes.lock().await;
        let now = self.clock.now_ms();
        let name = lock(&self.voice_mutes)
            .0
            .get(&account)
            .filter(|m| m.until_ms > now)
            .map(|m| m.name.clone())
            .ok_or(ModerationError::NotMuted)?;
        let delete = sqlx::query("DELETE FROM moderation_voice_mutes WHERE account_id = $1")
            .bind(account.0 as i64);
        self.commit(
            &mut next,
            vec![delete],
            Change {
                actor,
                action: "voice_unmute",
                room: None,
                target: Some((account, &name)),
                details: String::new(),
            },
        )
        .await?;
        lock(&self.voice_mutes).remove(account, now);
        self.tell_rooms(RoomAction::VoiceMute {
            account,
            muted: None,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use vitrine_shared::{DisplayName, Role};

    #[tokio::test]
    async fn a_voice_mute_is_logged_survives_a_restart_ends_by_the_clock_and_lifts() {
        for (store, _dir) in crate::store::tests::stores().await {
            let time = ManualClock::starting_now();
            let host = store
                .create_account(&DisplayName::new("Hana").unwrap(), Role::Host, "user")
                .await
                .unwrap();
            let shopper = store
                .create_guest(&DisplayName::new("Sam").unwrap())
                .await
                .unwrap();
            let (moderation, mut rx) = Moderation::load(store.clone(), time.clock()).await.unwrap();
            let target = moderation.target(shopper.id).await.unwrap();
            assert!(matches!(
                moderation
                    .voice_mute(&host, &target, MAX_MUTE + Duration::from_secs(1), "")
                    .await,
                Err(ModerationError::Invalid(_))
            ));
            let minute = Duration::from_secs(60);
            moderation
                .voice_mute(&host, &target, minute, "shouting")
                .await
                .unwrap();
            assert_eq!(
                rx.try_recv().unwrap(),
                RoomAction::VoiceMute {
                    account: shopper.id,
                    muted: Some((minute, "shouting".into()))
                }
            );
            // Voice only: chat is not muted.
            assert_eq!(moderation.screen(shopper.id, "hi", time.now_ms()), None);
            assert_eq!(
                moderation.voice_muted(shopper.id, time.now_ms()),
                Some(minute)
            );
            let entry = &moderation.log(10, None).await.unwrap()[0];
            assert_eq!(entry.action, "voice_mute");
            assert_eq!(entry.target, Some(shopper.id));
            assert_eq!(entry.details, "for 60 s: shouting");

            // A restart keeps it, with its end.
            time.advance(Duration::from_secs(10));
            drop(moderation);
            let (again, mut rx) = Moderation::load(store.clone(), time.clock()).await.unwrap();
            assert_eq!(
                again.voice_muted(shopper.id, time.now_ms()),
                Some(Duration::from_secs(50))
            );
            assert_eq!(again.voice_mutes().len(), 1);

            // Lifted early: logged, and the rooms told.
            again.voice_unmute(&host, shopper.id).await.unwrap();
            assert_eq!(again.voice_muted(shopper.id, time.now_ms()), None);
            assert_eq!(
                rx.try_recv().unwrap(),
                RoomAction::VoiceMute {
                    account: shopper.id,
                    muted: None
                }
            );
            assert_eq!(again.log(10, None).await.unwrap()[0].action, "voice_unmute");
            assert!(matches!(
                again.voice_unmute(&host, shopper.id).await,
                Err(ModerationError::NotMuted)
            ));

            // Another ends by the clock, and a restart clears it from the store.
            again
                .voice_mute(&host, &target, MIN_MUTE, "")
                .await
                .unwrap();
            time.advance(MIN_MUTE);
            assert_eq!(again.voice_muted(shopper.id, time.now_ms()), None);
            assert!(again.voice_mutes().is_empty());
            drop(again);
            let (third, _rx) = Moderation::load(store.clone(), time.clock()).await.unwrap();
            assert!(third.voice_mutes().is_empty());
            let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM moderation_voice_mutes")
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!(rows, 0);
        }
    }
}
