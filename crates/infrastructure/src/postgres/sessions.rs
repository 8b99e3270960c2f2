use super::schema::{refresh_tokens, sessions};
use super::{PgPool, conn, db_error};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use portcullis_application::ports::{Purged, RotateOutcome, SessionStore, StoreError};
use portcullis_domain::ids::{DeviceId, SessionId, UserId};
use portcullis_domain::mfa::SecondFactor;
use portcullis_domain::secret::TokenHash;
use portcullis_domain::session::{
    NewRefreshToken, RefreshDecision, RefreshTokenRecord, RotationRules, Session, SignInMethod,
    decide_refresh,
};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    created_at: OffsetDateTime,
    last_used_at: OffsetDateTime,
    revoked_at: Option<OffsetDateTime>,
    ip: Option<String>,
    user_agent: Option<String>,
    sign_in_method: String,
    trust_score: i16,
    device_id: Option<Uuid>,
    second_factor: Option<String>,
    auth_time: OffsetDateTime,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Session {
            id: SessionId(r.id),
            user_id: UserId(r.user_id),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
            ip: r.ip,
            user_agent: r.user_agent,
            // Written from the domain type; an unknown name (a hand edit)
            // reads as the oldest method rather than failing the list.
            sign_in_method: SignInMethod::parse(&r.sign_in_method).unwrap_or(SignInMethod::Password),
            trust_score: r.trust_score.clamp(0, 100) as u8,
            device_id: r.device_id.map(DeviceId),
            second_factor: r.second_factor.as_deref().and_then(SecondFactor::parse),
            auth_time: r.auth_time,
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens, check_for_backend(diesel::pg::Pg))]
struct TokenRow {
    token_hash: Vec<u8>,
    session_id: Uuid,
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    rotated_at: Option<OffsetDateTime>,
    child_hash: Option<Vec<u8>>,
    sealed_child: Option<Vec<u8>>,
}

impl TokenRow {
    fn new(session_id: SessionId, t: &NewRefreshToken, now: OffsetDateTime) -> Self {
        Self {
            token_hash: t.hash.as_bytes().to_vec(),
            session_id: session_id.as_uuid(),
            issued_at: now,
            expires_at: t.expires_at,
            rotated_at: None,
            child_hash: None,
            sealed_child: None,
        }
    }

    fn into_domain(self) -> Option<RefreshTokenRecord> {
        Some(RefreshTokenRecord {
            hash: TokenHash::from_slice(&self.token_hash)?,
            session_id: SessionId(self.session_id),
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            rotated_at: self.rotated_at,
            child_hash: match self.child_hash {
                Some(h) => Some(TokenHash::from_slice(&h)?),
                None => None,
            },
            sealed_child: self.sealed_child,
        })
    }
}

#[derive(Clone)]
pub struct PgSessionStore(PgPool);

impl PgSessionStore {
    pub fn new(pool: PgPool) -> Self {
        Self(pool)
    }
}

fn conflict_or(e: DieselError, what: &'static str) -> StoreError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => StoreError::Conflict(what),
        e => db_error(e),
    }
}

/// The rotation, inside one transaction. Lock order is always token row, then
/// session row, so concurrent presentations of tokens of one family serialise
/// on the session without deadlocking; all writes to a family happen under its
/// session lock, so reading the child unlocked is safe.
/// The three writes of a rotation as one statement: the session's last use,
/// the parent's link to the child and the child token. diesel never caches
/// an `UPDATE` or an insert of a struct as a prepared statement (their SQL
/// may vary with the values); this fixed text is, so a rotation pays neither
/// a parse nor a round trip per write (issue 13).
///
/// It is guarded, so it can run outside a transaction on what an unlocked
/// read decided: the parent is linked only while it is still unrotated
/// (re-checked under the row lock its `UPDATE` takes) and its session not
/// revoked, and the child is inserted and the session touched only if the
/// parent was linked. It inserts one row when the rotation happened, none
/// when another request got there first (then the locked path decides
/// again). It locks the token row before the session row, in the order the
/// locked path does, so the two cannot deadlock. A revocation committed
/// while it runs orders after it: the new tokens belong to a revoked session
/// and are refused.
struct RotationWrites<'a> {
    parent: &'a [u8],
    child: &'a [u8],
    sealed_child: &'a [u8],
    session_id: Uuid,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for RotationWrites<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Bytea, Timestamptz, Uuid as SqlUuid};
        out.push_sql("WITH parent AS (UPDATE refresh_tokens SET rotated_at = ");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(", child_hash = ");
        out.push_bind_param::<Bytea, _>(&self.child)?;
        out.push_sql(", sealed_child = ");
        out.push_bind_param::<Bytea, _>(&self.sealed_child)?;
        out.push_sql(" WHERE token_hash = ");
        out.push_bind_param::<Bytea, _>(&self.parent)?;
        out.push_sql(" AND rotated_at IS NULL AND session_id = ");
        out.push_bind_param::<SqlUuid, _>(&self.session_id)?;
        out.push_sql(
            " AND EXISTS (SELECT 1 FROM sessions WHERE id = refresh_tokens.session_id AND revoked_at IS NULL) \
             RETURNING session_id), \
             used AS (UPDATE sessions SET last_used_at = ",
        );
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(
            " WHERE id IN (SELECT session_id FROM parent)) \
             INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) SELECT ",
        );
        out.push_bind_param::<Bytea, _>(&self.child)?;
        out.push_sql(", session_id, ");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamptz, _>(&self.expires_at)?;
        out.push_sql(" FROM parent");
        Ok(())
    }
}

impl diesel::query_builder::QueryId for RotationWrites<'_> {
    type QueryId = RotationWrites<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

fn rotation_writes<'a>(
    parent: &'a [u8],
    child: &'a NewRefreshToken,
    session: &Session,
    now: OffsetDateTime,
) -> RotationWrites<'a> {
    RotationWrites {
        parent,
        child: child.hash.as_bytes(),
        sealed_child: &child.sealed_for_parent,
        session_id: session.id.as_uuid(),
        now,
        expires_at: child.expires_at,
    }
}

/// What an unlocked rotation attempt found.
enum Attempt {
    /// Final: rotated, or an outcome no concurrent request can change
    /// (unknown token, revoked or expired session or token).
    Done(RotateOutcome),
    /// Grace, reuse, or a race lost: decide again under row locks.
    Locked,
}

/// The common case in two statements and no explicit transaction (issue
/// 13): one read of the token and its session, then the guarded write
/// ([`RotationWrites`]). A refresh answered from here costs
/// PostgreSQL two round trips and one commit that writes.
async fn rotate_unlocked(
    c: &mut AsyncPgConnection,
    presented: &TokenHash,
    child: &NewRefreshToken,
    now: OffsetDateTime,
    rules: &RotationRules,
) -> Result<Attempt, DieselError> {
    let presented_bytes = presented.as_bytes().to_vec();
    // No LIMIT: the token hash is the primary key.
    let found: Option<(TokenRow, SessionRow)> = refresh_tokens::table
        .inner_join(sessions::table)
        .filter(refresh_tokens::token_hash.eq(&presented_bytes))
        .select((TokenRow::as_select(), SessionRow::as_select()))
        .get_result(c)
        .await
        .optional()?;
    let Some((token, session)) = found else {
        return Ok(Attempt::Done(RotateOutcome::Unknown));
    };
    let Some(token) = token.into_domain() else {
        return Ok(Attempt::Done(RotateOutcome::Unknown));
    };
    if token.rotated_at.is_some() {
        // Grace or reuse: the locked path reads the current child.
        return Ok(Attempt::Locked);
    }
    let session: Session = session.into();
    Ok(match decide_refresh(&token, None, &session, now, rules) {
        RefreshDecision::Rotate => {
            match rotation_writes(&presented_bytes, child, &session, now).execute(c).await? {
                1 => Attempt::Done(RotateOutcome::Rotated {
                    session: Session { last_used_at: now, ..session },
                }),
                _ => Attempt::Locked,
            }
        }
        // Final states: a revoked session and an expired token or session
        // stay so.
        RefreshDecision::Expired => Attempt::Done(RotateOutcome::Expired),
        RefreshDecision::Revoked => Attempt::Done(RotateOutcome::Revoked),
        RefreshDecision::Grace { .. } | RefreshDecision::Reuse => Attempt::Locked,
    })
}

async fn rotate_in_tx(
    c: &mut AsyncPgConnection,
    presented: &TokenHash,
    child: &NewRefreshToken,
    now: OffsetDateTime,
    rules: &RotationRules,
) -> Result<RotateOutcome, DieselError> {
    // Three reads in one pipelined round trip, run in order by the server:
    // lock the presented token, lock its session, read its current child.
    let shared: &AsyncPgConnection = c;
    let presented_bytes = presented.as_bytes().to_vec();
    let of_presented = refresh_tokens::table.filter(refresh_tokens::token_hash.eq(presented_bytes.clone()));
    let token = refresh_tokens::table
        .find(presented_bytes.clone())
        .select(TokenRow::as_select())
        .for_update()
        .first::<TokenRow>(&mut &*shared);
    let session = sessions::table
        .filter(sessions::id.nullable().eq(of_presented.select(refresh_tokens::session_id).single_value()))
        .select(SessionRow::as_select())
        .for_update()
        .first::<SessionRow>(&mut &*shared);
    let parent = diesel::alias!(refresh_tokens as parent);
    let child_of_presented = parent
        .filter(parent.field(refresh_tokens::token_hash).eq(presented_bytes.clone()))
        .select(parent.field(refresh_tokens::child_hash))
        .single_value();
    let current_child = refresh_tokens::table
        .filter(refresh_tokens::token_hash.nullable().eq(child_of_presented))
        .select(TokenRow::as_select())
        .first::<TokenRow>(&mut &*shared);
    let (token, session, current_child) = tokio::join!(token, session, current_child);
    let Some(token) = token.optional()?.and_then(TokenRow::into_domain) else {
        return Ok(RotateOutcome::Unknown);
    };
    let session: Session = session?.into();
    let current_child = current_child.optional()?.and_then(TokenRow::into_domain);
    Ok(match decide_refresh(&token, current_child.as_ref(), &session, now, rules) {
        RefreshDecision::Rotate => {
            // Both rows are locked: the guard holds.
            rotation_writes(&presented_bytes, child, &session, now).execute(c).await?;
            RotateOutcome::Rotated { session: Session { last_used_at: now, ..session } }
        }
        RefreshDecision::Grace { sealed_child } => RotateOutcome::Grace { session, sealed_child },
        RefreshDecision::Reuse => {
            let session: SessionRow = diesel::update(sessions::table.find(session.id.as_uuid()))
                .set(sessions::revoked_at.eq(now))
                .returning(SessionRow::as_returning())
                .get_result(c)
                .await?;
            RotateOutcome::Reused { session: session.into() }
        }
        RefreshDecision::Expired => RotateOutcome::Expired,
        RefreshDecision::Revoked => RotateOutcome::Revoked,
    })
}

#[async_trait]
impl SessionStore for PgSessionStore {
    async fn create(&self, session: &Session, first: &NewRefreshToken) -> Result<(), StoreError> {
        let mut c = conn(&self.0).await?;
        let row = SessionRow {
            id: session.id.as_uuid(),
            user_id: session.user_id.as_uuid(),
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            revoked_at: session.revoked_at,
            ip: session.ip.clone(),
            user_agent: session.user_agent.clone(),
            sign_in_method: session.sign_in_method.as_str().to_owned(),
            trust_score: i16::from(session.trust_score),
            device_id: session.device_id.map(|d| d.as_uuid()),
            second_factor: session.second_factor.map(|f| f.as_str().to_owned()),
            auth_time: session.auth_time,
        };
        let token = TokenRow::new(session.id, first, session.created_at);
        c.transaction::<_, DieselError, _>(async |c| {
            diesel::insert_into(sessions::table).values(row).execute(c).await?;
            diesel::insert_into(refresh_tokens::table).values(token).execute(c).await?;
            Ok(())
        })
        .await
        .map_err(|e| conflict_or(e, "session"))
    }

    async fn rotate(
        &self,
        presented: &TokenHash,
        child: &NewRefreshToken,
        now: OffsetDateTime,
        rules: &RotationRules,
    ) -> Result<RotateOutcome, StoreError> {
        let mut c = conn(&self.0).await?;
        match rotate_unlocked(&mut c, presented, child, now, rules).await {
            Ok(Attempt::Done(outcome)) => return Ok(outcome),
            Ok(Attempt::Locked) => {}
            Err(e) => return Err(conflict_or(e, "refresh token")),
        }
        c.transaction::<_, DieselError, _>(async |c| rotate_in_tx(c, presented, child, now, rules).await)
            .await
            .map_err(|e| conflict_or(e, "refresh token"))
    }

    async fn list_active(&self, user_id: UserId) -> Result<Vec<Session>, StoreError> {
        let mut c = conn(&self.0).await?;
        let rows: Vec<SessionRow> = sessions::table
            .filter(sessions::user_id.eq(user_id.as_uuid()))
            .filter(sessions::revoked_at.is_null())
            .order((sessions::created_at.desc(), sessions::id.desc()))
            .select(SessionRow::as_select())
            .load(&mut c)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    async fn revoke_for_device(
        &self,
        user_id: UserId,
        device: DeviceId,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionId>, StoreError> {
        let mut c = conn(&self.0).await?;
        let ids: Vec<Uuid> = diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(user_id.as_uuid()))
                .filter(sessions::device_id.eq(device.as_uuid()))
                .filter(sessions::revoked_at.is_null()),
        )
        .set(sessions::revoked_at.eq(now))
        .returning(sessions::id)
        .get_results(&mut c)
        .await
        .map_err(db_error)?;
        Ok(ids.into_iter().map(SessionId).collect())
    }

    async fn seen_ip(&self, user_id: UserId, ip: &str) -> Result<bool, StoreError> {
        let mut c = conn(&self.0).await?;
        diesel::select(diesel::dsl::exists(
            sessions::table.filter(sessions::user_id.eq(user_id.as_uuid())).filter(sessions::ip.eq(ip)),
        ))
        .get_result(&mut c)
        .await
        .map_err(db_error)
    }

    async fn get(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        let mut c = conn(&self.0).await?;
        Ok(sessions::table
            .find(id.as_uuid())
            .select(SessionRow::as_select())
            .first(&mut c)
            .await
            .optional()
            .map_err(db_error)?
            .map(Session::from))
    }

    async fn reauthenticated(
        &self,
        id: SessionId,
        second_factor: Option<SecondFactor>,
        at: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError> {
        let mut c = conn(&self.0).await?;
        // GREATEST: a late step-up never moves auth_time back; a step-up
        // without a factor keeps the one the sign-in answered.
        let row: Option<SessionRow> = diesel::sql_query(
            "UPDATE sessions SET auth_time = GREATEST(auth_time, $2), second_factor = COALESCE($3, second_factor)
             WHERE id = $1 AND revoked_at IS NULL
             RETURNING id, user_id, created_at, last_used_at, revoked_at, ip, user_agent, sign_in_method,
                       trust_score, device_id, second_factor, auth_time",
        )
        .bind::<diesel::sql_types::Uuid, _>(id.as_uuid())
        .bind::<diesel::sql_types::Timestamptz, _>(at)
        .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(second_factor.map(SecondFactor::as_str))
        .get_result(&mut c)
        .await
        .optional()
        .map_err(db_error)?;
        Ok(row.map(Session::from))
    }

    async fn revoke(&self, id: SessionId, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut c = conn(&self.0).await?;
        let n = diesel::update(sessions::table.find(id.as_uuid()).filter(sessions::revoked_at.is_null()))
            .set(sessions::revoked_at.eq(now))
            .execute(&mut c)
            .await
            .map_err(db_error)?;
        Ok(n > 0)
    }

    async fn revoke_all_for_user(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionId>, StoreError> {
        let mut c = conn(&self.0).await?;
        let keep = keep.map_or(Uuid::nil(), |k| k.as_uuid());
        let mut ids: Vec<Uuid> = diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(user_id.as_uuid()))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::id.ne(keep)),
        )
        .set(sessions::revoked_at.eq(now))
        .returning(sessions::id)
        .get_results(&mut c)
        .await
        .map_err(db_error)?;
        ids.sort();
        Ok(ids.into_iter().map(SessionId).collect())
    }

    async fn revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<(SessionId, OffsetDateTime)>, StoreError> {
        let mut c = conn(&self.0).await?;
        let rows: Vec<(Uuid, Option<OffsetDateTime>)> = sessions::table
            .filter(sessions::revoked_at.ge(since))
            .order(sessions::id)
            .select((sessions::id, sessions::revoked_at))
            .load(&mut c)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().filter_map(|(id, at)| at.map(|at| (SessionId(id), at))).collect())
    }

    async fn purge_expired(
        &self,
        now: OffsetDateTime,
        revoked_before: OffsetDateTime,
    ) -> Result<Purged, StoreError> {
        let mut c = conn(&self.0).await?;
        c.transaction::<_, DieselError, _>(async |c| {
            let tokens_before: i64 = refresh_tokens::table.count().get_result(c).await?;
            let expired = diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.le(now)))
                .execute(c)
                .await?;
            let without_tokens = diesel::dsl::not(diesel::dsl::exists(
                refresh_tokens::table.filter(refresh_tokens::session_id.eq(sessions::id)),
            ));
            let sessions = diesel::delete(
                sessions::table.filter(sessions::revoked_at.le(revoked_before).or(without_tokens)),
            )
            .execute(c)
            .await?;
            let tokens_after: i64 = refresh_tokens::table.count().get_result(c).await?;
            let _ = expired;
            Ok(Purged {
                refresh_tokens: u64::try_from(tokens_before - tokens_after).unwrap_or_default(),
                sessions: sessions as u64,
            })
        })
        .await
        .map_err(db_error)
    }
}
