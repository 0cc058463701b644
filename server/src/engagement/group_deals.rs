//! Rewards for group deals: points (`group_deal`) and the "shop with a
//! friend" quest when a team completes with someone else.
//!
//! The rule, enforced here with what the server knows: only registered
//! accounts earn, and only in a team holding at least two distinct
//! registered accounts. A guest account costs nothing to make (any name
//! signs in as a new guest), so a shopper who fills their own team from
//! guest accounts earns nothing, on any of them; registered accounts are
//! made by staff (`vitrine-server admin create-user`), not by shoppers.
//! Each member earns once per team (the grant's reference is the team).

use super::engine::Engine;
use super::rules::GrantKind;
use crate::store::StoreError;
use vitrine_shared::{AccountId, TeamId};

/// Members of a team who must be distinct registered accounts for any of
/// them to earn.
const MIN_REGISTERED: usize = 2;

impl Engine {
    pub(super) async fn team_completed(&mut self, team: TeamId, members: Vec<AccountId>) {
        let registered = match registered(&self.store, &members).await {
            Ok(registered) => registered,
            Err(e) => {
                tracing::error!(%e, team = team.get(), "team rewards not decided");
                return;
            }
        };
        if registered.len() < MIN_REGISTERED {
            tracing::info!(
                team = team.get(),
                registered = registered.len(),
                "team complete; no team points (fewer than two registered members)"
            );
            return;
        }
        for account in registered {
            let _ = self
                .grant(account, GrantKind::GroupDeal, format!("team-{team}"))
                .await;
        }
    }
}

/// The distinct registered accounts among `members`, in their order.
async fn registered(
    store: &crate::store::Store,
    members: &[AccountId],
) -> Result<Vec<AccountId>, StoreError> {
    let mut out: Vec<AccountId> = Vec::new();
    for account in members {
        if out.contains(account) {
            continue;
        }
        let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM accounts WHERE id = $1")
            .bind(account.0 as i64)
            .fetch_optional(store.pool())
            .await?;
        if kind.as_deref() == Some("registered") {
            out.push(*account);
        }
    }
    Ok(out)
}
