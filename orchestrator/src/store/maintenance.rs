//! The `maintenance` table: work that one scheduler among many does now and then (the
//! history clean of `[history] keep`), claimed by a conditional update of when it was
//! last done, so that a second scheduler (or one restarted) does not do it again early.

use super::{Result, Store};
use chrono::{DateTime, Utc};

impl Store {
    /// Claims maintenance job `name` if it was last done before `due` (or never); true
    /// when this caller won it (and `now` is recorded as its last time).
    pub async fn claim_maintenance(
        &self,
        name: &str,
        now: DateTime<Utc>,
        due: DateTime<Utc>,
    ) -> Result<bool> {
        let won = with_pool!(self, p => async {
            sqlx::query("INSERT INTO maintenance (name, last_at) VALUES ($1, $2)
                         ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(DateTime::<Utc>::UNIX_EPOCH)
                .execute(p)
                .await?;
            sqlx::query("UPDATE maintenance SET last_at = $2 WHERE name = $1 AND last_at <= $3")
                .bind(name)
                .bind(now)
                .bind(due)
                .execute(p)
                .await
                .map(|done| done.rows_affected() == 1)
        }.await)?;
        Ok(won)
    }
}
