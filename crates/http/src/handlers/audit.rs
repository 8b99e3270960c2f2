//! `GET /api/v1/admin/audit-logs`: the whole trail, filtered (`audit:read`).

use crate::dto::{AuditItem, AuditLogQuery, AuditLogResponse};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Caller, Client, report_to_errors};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use garde::Validate;
use portcullis_application::ports::{AuditCursor, AuditFilter};
use portcullis_domain::audit::{AuditAction, Severity};
use portcullis_domain::ids::{AuditEventId, UserId};
use portcullis_domain::{FieldViolation, ValidationErrors};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// The opaque cursor: `{unix nanoseconds}.{event id}`.
fn encode_cursor(c: &AuditCursor) -> String {
    format!("{}.{}", c.occurred_at.unix_timestamp_nanos(), c.id.as_uuid())
}

fn decode_cursor(raw: &str) -> Option<AuditCursor> {
    let (nanos, id) = raw.split_once('.')?;
    let occurred_at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
    Some(AuditCursor { occurred_at, id: AuditEventId(Uuid::parse_str(id).ok()?) })
}

/// The query as filters, or every field problem at once.
fn parse(q: &AuditLogQuery) -> Result<(AuditFilter, Option<AuditCursor>), ValidationErrors> {
    let mut errors = Vec::new();
    let mut bad = |field: &str, message: &str| errors.push(FieldViolation::new(field, "invalid", message));
    let time = |raw: &Option<String>, field: &str, bad: &mut dyn FnMut(&str, &str)| {
        raw.as_deref().and_then(|t| {
            OffsetDateTime::parse(t, &Rfc3339)
                .map_err(|_| bad(field, "an RFC 3339 time, e.g. 2026-11-27T10:00:00Z"))
                .ok()
        })
    };
    let filter = AuditFilter {
        user_id: q.user_id.map(UserId),
        action: q.action.as_deref().and_then(|a| {
            AuditAction::parse(a).or_else(|| {
                bad("action", "an action name, e.g. auth.login.failed");
                None
            })
        }),
        severity: q.severity.as_deref().and_then(|s| {
            Severity::parse(s).or_else(|| {
                bad("severity", "info, warning or critical");
                None
            })
        }),
        from: time(&q.from, "from", &mut bad),
        to: time(&q.to, "to", &mut bad),
        ip: q.ip.clone(),
    };
    let cursor = q.cursor.as_deref().and_then(|c| {
        decode_cursor(c).or_else(|| {
            bad("cursor", "the next_cursor of a previous page");
            None
        })
    });
    if errors.is_empty() { Ok((filter, cursor)) } else { Err(ValidationErrors(errors)) }
}

/// Every audit event, newest first, filtered by user, action, severity,
/// time range and address; pages follow `next_cursor`.
#[utoipa::path(
    get, path = "/api/v1/admin/audit-logs", tag = "admin",
    security(("bearer" = [])),
    params(AuditLogQuery),
    responses(
        (status = 200, body = AuditLogResponse),
        (status = 400, description = "VALIDATION_ERROR: a filter that does not parse", body = ErrorEnvelope),
        (status = 403, description = "FORBIDDEN: needs audit:read", body = ErrorEnvelope),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    query: web::Query<AuditLogQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    query.validate().map_err(|r| ApiError::from(report_to_errors(&r)))?;
    let (filter, cursor) = parse(&query)?;
    let page =
        state.audit_query.page(&caller.0, &filter, cursor, query.limit.unwrap_or(50), &client.0).await?;
    Ok(HttpResponse::Ok().json(AuditLogResponse {
        items: page.events.iter().map(AuditItem::from).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = AuditCursor {
            occurred_at: OffsetDateTime::from_unix_timestamp_nanos(1_800_000_000_123_456_000).unwrap(),
            id: AuditEventId::new(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&c)), Some(c));
        for bad in [
            "",
            "x.y",
            "12",
            "12.not-a-uuid",
            "99999999999999999999999999.00000000-0000-0000-0000-000000000000",
        ] {
            assert_eq!(decode_cursor(bad), None, "{bad:?}");
        }
    }
}
