//! Request and response bodies. Requests are checked for shape and bounds by
//! garde, then turned into domain values by the use cases (which check the
//! business rules and report every violation together).

use garde::Validate;
use portcullis_application::auth::{ActivityPage, Authenticated, Challenge, MfaStatus, SignIn};
use portcullis_application::ports::TotpProvisioning;
use portcullis_domain::audit::AuditEvent;
use portcullis_domain::mfa::SecondFactor;
use portcullis_domain::user::User;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Upper bound on any password field before the policy sees it: keeps
/// hashing and strength estimation cheap (the policy's own maximum is lower).
const MAX_SECRET: usize = 1024;

/// A non-negative whole number, also when written `5122.0` (JSON has one
/// number type; the schema says integer, and so is that).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(v) = n.as_u64() {
        return Ok(v);
    }
    match n.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => Ok(f as u64),
        _ => Err(serde::de::Error::custom(format!("expected a non-negative whole number, got {n}"))),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[garde(length(chars, max = 320))]
    #[schema(max_length = 320)]
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[garde(length(chars, max = MAX_SECRET))]
    #[schema(max_length = 1024)]
    #[schema(example = "Correct-Horse-Battery-9")]
    pub password: String,
    #[garde(length(chars, max = 400))]
    #[schema(max_length = 400)]
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[garde(length(chars, max = 320))]
    #[schema(max_length = 320)]
    pub email: String,
    #[garde(length(chars, max = MAX_SECRET))]
    #[schema(max_length = 1024)]
    pub password: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[garde(length(chars, min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub refresh_token: String,
}

/// Fields absent from the body are left unchanged; `"display_name": null`
/// clears the name.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    #[garde(skip)]
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
}

/// Distinguishes "absent" (outer None, via `default`) from `null` (Some(None)).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[garde(length(chars, max = MAX_SECRET))]
    #[schema(max_length = 1024)]
    pub current_password: String,
    #[garde(length(chars, max = MAX_SECRET))]
    #[schema(max_length = 1024)]
    pub new_password: String,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// Page size, 1–100 (default 20).
    #[garde(range(min = 1, max = 100))]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[garde(skip)]
    pub cursor: Option<Uuid>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    #[garde(length(chars, max = 320))]
    #[schema(max_length = 320)]
    pub email: String,
}

/// A token from a mailed link.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[garde(length(chars, min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub token: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    #[garde(length(chars, min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub token: String,
    #[garde(length(chars, max = MAX_SECRET))]
    #[schema(max_length = 1024)]
    pub new_password: String,
}

/// 202 answer of the mail-sending endpoints: identical whether or not the
/// address has an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedResponse {
    pub status: &'static str,
    pub message: &'static str,
}

impl AcceptedResponse {
    pub const MAIL: Self = Self {
        status: "accepted",
        message: "If the address belongs to an account, a message is on its way.",
    };
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    pub email: String,
    /// False until the address is verified (link or magic link).
    pub email_verified: bool,
    pub display_name: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
}

impl From<&User> for UserResponse {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.as_uuid(),
            email: u.email.as_str().to_owned(),
            email_verified: u.email_verified_at.is_some(),
            display_name: u.display_name.as_ref().map(|d| d.as_str().to_owned()),
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterResponse {
    pub user: UserResponse,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access-token lifetime in seconds.
    pub expires_in: i64,
    pub refresh_token: String,
    pub user: UserResponse,
}

impl From<&Authenticated> for TokenResponse {
    fn from(a: &Authenticated) -> Self {
        Self {
            access_token: a.tokens.access_token.expose().to_owned(),
            token_type: "Bearer",
            expires_in: a.tokens.expires_in.whole_seconds(),
            refresh_token: a.tokens.refresh_token.expose().to_owned(),
            user: UserResponse::from(&a.user),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityItem {
    pub id: Uuid,
    /// e.g. `auth.login.succeeded`.
    pub action: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub occurred_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
}

impl From<&AuditEvent> for ActivityItem {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id.as_uuid(),
            action: e.action.as_str().to_owned(),
            severity: e.severity.as_str().to_owned(),
            occurred_at: rfc3339(e.occurred_at),
            ip: e.ip.clone(),
            user_agent: e.user_agent.clone(),
            details: e.details.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityResponse {
    pub items: Vec<ActivityItem>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<Uuid>,
}

impl From<&ActivityPage> for ActivityResponse {
    fn from(p: &ActivityPage) -> Self {
        Self {
            items: p.events.iter().map(ActivityItem::from).collect(),
            next_cursor: p.next_cursor.map(|c| c.as_uuid()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    pub status: &'static str,
    #[schema(value_type = Object)]
    pub checks: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadJobItem {
    pub id: Uuid,
    pub kind: String,
    pub attempt: u32,
    pub last_error: Option<String>,
    pub died_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueReport {
    pub name: String,
    pub pending: u64,
    pub scheduled: u64,
    pub running: u64,
    pub completed: u64,
    pub dead: u64,
    /// The 20 most recent dead jobs.
    pub dead_jobs: Vec<DeadJobItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueuesResponse {
    pub queues: Vec<QueueReport>,
}

impl DeadJobItem {
    pub fn from_dead(d: &portcullis_application::ports::DeadJob) -> Self {
        Self {
            id: d.job.id.0,
            kind: d.job.kind.clone(),
            attempt: d.job.attempt,
            last_error: d.job.last_error.clone(),
            died_at: rfc3339(d.died_at),
        }
    }
}

/// A file as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileResponse {
    pub id: Uuid,
    /// The client's file name, path parts stripped, at most 255 characters.
    pub name: String,
    /// Decided from the bytes: pdf, csv, xls or xlsx (null until a presigned
    /// upload is confirmed).
    #[serde(rename = "type")]
    pub file_type: Option<&'static str>,
    pub content_type: Option<&'static str>,
    pub size: u64,
    /// SHA-256 of the bytes, hex.
    pub sha256: Option<String>,
    /// awaiting_upload, stored, scanning, scan_failed, infected, processing, ready, failed.
    pub status: &'static str,
    /// Why it is where it is: the signature found, the processing failure.
    pub message: Option<String>,
    /// What processing found, once `ready` (`kind`: table, workbook, document).
    #[schema(value_type = Option<Object>)]
    pub summary: Option<Value>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&portcullis_domain::files::FileRecord> for FileResponse {
    fn from(f: &portcullis_domain::files::FileRecord) -> Self {
        Self {
            id: f.id.0,
            name: f.display_name.clone(),
            file_type: f.file_type.map(|t| t.name()),
            content_type: f.file_type.map(|t| t.content_type()),
            size: f.size,
            sha256: f.digest.map(|d| d.to_string()),
            status: f.status.as_str(),
            message: f.message.clone(),
            summary: f.summary.as_ref().and_then(|s| serde_json::to_value(s).ok()),
            created_at: rfc3339(f.created_at),
            updated_at: rfc3339(f.updated_at),
        }
    }
}

/// An accepted upload: the new file (201), or the caller's file with the same
/// bytes (200, `duplicate: true`).
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResponse {
    #[serde(flatten)]
    pub file: FileResponse,
    pub duplicate: bool,
}

/// A file's place in the pipeline.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileStatusName {
    AwaitingUpload,
    Stored,
    Scanning,
    ScanFailed,
    Infected,
    Processing,
    Ready,
    Failed,
}

impl From<FileStatusName> for portcullis_domain::files::FileStatus {
    fn from(s: FileStatusName) -> Self {
        use portcullis_domain::files::FileStatus as S;
        match s {
            FileStatusName::AwaitingUpload => S::AwaitingUpload,
            FileStatusName::Stored => S::Stored,
            FileStatusName::Scanning => S::Scanning,
            FileStatusName::ScanFailed => S::ScanFailed,
            FileStatusName::Infected => S::Infected,
            FileStatusName::Processing => S::Processing,
            FileStatusName::Ready => S::Ready,
            FileStatusName::Failed => S::Failed,
        }
    }
}

/// The multipart body of an upload (schema for the API docs).
#[derive(ToSchema)]
pub struct UploadForm {
    /// The file's bytes; its name is kept as the display name.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FileListQuery {
    /// Only files in this status.
    #[garde(skip)]
    pub status: Option<FileStatusName>,
    /// Page size, 1–100 (default 20).
    #[garde(range(min = 1, max = 100))]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[garde(skip)]
    pub cursor: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FileListResponse {
    /// Newest first.
    pub files: Vec<FileResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<Uuid>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadUrlRequest {
    /// Kept only as the display name.
    #[garde(length(chars, min = 1, max = 1024))]
    #[schema(min_length = 1, max_length = 1024, example = "report.xlsx")]
    pub filename: String,
    /// Informative only: the type is decided from the bytes at confirm.
    #[garde(length(chars, max = 255))]
    #[schema(max_length = 255)]
    pub content_type: Option<String>,
    /// Exact size in bytes; the URL accepts a body of this size only (at
    /// most MAX_FILE_SIZE, which is at most 1 GiB).
    #[garde(range(min = 1, max = 1_073_741_824))]
    #[schema(minimum = 1, maximum = 1_073_741_824)]
    #[serde(deserialize_with = "whole_number")]
    pub size: u64,
}

/// Where and how to send the bytes (or fetch them).
#[derive(Debug, Serialize, ToSchema)]
pub struct PresignedResponse {
    pub url: String,
    /// `PUT` for uploads, `GET` for downloads.
    pub method: &'static str,
    /// Headers to send exactly as given (signed).
    #[schema(value_type = Object)]
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_at: String,
}

impl From<&portcullis_application::ports::PresignedUrl> for PresignedResponse {
    fn from(p: &portcullis_application::ports::PresignedUrl) -> Self {
        Self {
            url: p.url.clone(),
            method: p.method,
            headers: p.headers.iter().cloned().collect(),
            expires_at: rfc3339(p.expires_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadUrlResponse {
    pub file_id: Uuid,
    #[serde(flatten)]
    pub request: PresignedResponse,
}

/// A signed `/storage` link's query.
#[derive(Debug, Deserialize)]
pub struct StorageQuery {
    pub expires: i64,
    pub signature: String,
    pub size: Option<u64>,
    pub filename: Option<String>,
}

/// A role as an admin writes it (`POST` creates, `PUT` replaces).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// Lower-case letters, digits, `_`, `-`, `.`; 1–64 characters.
    #[garde(length(chars, min = 1, max = 64))]
    #[schema(example = "auditor")]
    pub name: String,
    #[garde(inner(length(chars, max = 500)))]
    pub description: Option<String>,
    /// `resource:action` patterns; `*` for either part or for everything.
    #[garde(length(max = 100), inner(length(chars, min = 1, max = 130)))]
    #[schema(example = json!(["audit:read", "users:*"]))]
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleResponse {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    /// `admin`, `moderator`, `user`: cannot be deleted, renamed or stripped
    /// of their defining permissions.
    pub system: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl RoleResponse {
    pub fn from_role(r: &portcullis_domain::role::Role) -> Self {
        Self {
            id: r.id.0,
            name: r.name.as_str().to_owned(),
            description: r.description.clone(),
            permissions: r.permissions.iter().map(ToString::to_string).collect(),
            system: r.system,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RolesResponse {
    pub roles: Vec<RoleResponse>,
}

/// The complete set of roles a user should hold, by name.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRolesRequest {
    #[garde(length(max = 50), inner(length(chars, min = 1, max = 64)))]
    #[schema(example = json!(["user", "moderator"]))]
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserRolesResponse {
    pub user_id: Uuid,
    pub roles: Vec<String>,
}

/// One of the caller's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionItem {
    pub id: Uuid,
    /// The client address at sign-in.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: String,
    /// The last sign-in or token refresh.
    pub last_seen_at: String,
    /// When it ends unless used again (`SESSION_IDLE_TIMEOUT`,
    /// `SESSION_ABSOLUTE_TIMEOUT`).
    pub expires_at: String,
    /// `password`, `magic_link` or `invitation`.
    pub sign_in_method: String,
    /// 0–100, given at sign-in (70 and above: high trust).
    pub trust_score: u8,
    /// The session of the token that asked.
    pub current: bool,
    /// The device it was opened from, when known.
    pub device: Option<DeviceItem>,
}

impl SessionItem {
    pub fn from_view(v: &portcullis_application::sessions::SessionView) -> Self {
        let s = &v.session;
        Self {
            id: s.id.0,
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_used_at),
            expires_at: rfc3339(v.expires_at),
            sign_in_method: s.sign_in_method.as_str().to_owned(),
            trust_score: s.trust_score,
            current: v.current,
            device: v.device.as_ref().map(DeviceItem::from_device),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsResponse {
    pub sessions: Vec<SessionItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedResponse {
    /// How many sessions were ended.
    pub revoked: usize,
}

/// A device you signed in from.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceItem {
    pub id: Uuid,
    /// "Firefox on Linux", from the user agent.
    pub name: String,
    /// Sessions opened from a trusted device get a higher trust score.
    pub trusted: bool,
    /// Recognised by the `X-Device-Id` the client sent (else by its user agent).
    pub by_client_id: bool,
    pub first_seen_at: String,
    pub last_seen_at: String,
    pub last_ip: Option<String>,
}

impl DeviceItem {
    pub fn from_device(d: &portcullis_domain::device::Device) -> Self {
        Self {
            id: d.id.0,
            name: d.name.clone(),
            trusted: d.trusted,
            by_client_id: d.key.starts_with("id:"),
            first_seen_at: rfc3339(d.first_seen_at),
            last_seen_at: rfc3339(d.last_seen_at),
            last_ip: d.last_ip.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DevicesResponse {
    pub devices: Vec<DeviceItem>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceTrustRequest {
    #[garde(skip)]
    pub trusted: bool,
}

/// Filters and paging of the admin audit query.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditLogQuery {
    /// Events of this user (the actor, or the user refused).
    #[garde(skip)]
    pub user_id: Option<Uuid>,
    /// An action name, e.g. `auth.login.failed`.
    #[garde(length(max = 64))]
    pub action: Option<String>,
    /// `info`, `warning` or `critical`.
    #[garde(length(max = 16))]
    pub severity: Option<String>,
    /// RFC 3339; events at or after it.
    #[garde(length(max = 64))]
    pub from: Option<String>,
    /// RFC 3339; events before it.
    #[garde(length(max = 64))]
    pub to: Option<String>,
    /// The client address recorded with the event.
    #[garde(length(max = 64))]
    pub ip: Option<String>,
    /// `next_cursor` of the previous page.
    #[garde(length(max = 80))]
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[garde(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// One audit event, as the admin sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditItem {
    pub id: Uuid,
    pub occurred_at: String,
    pub action: String,
    pub severity: String,
    pub user_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
}

impl From<&AuditEvent> for AuditItem {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id.as_uuid(),
            occurred_at: rfc3339(e.occurred_at),
            action: e.action.as_str().to_owned(),
            severity: e.severity.as_str().to_owned(),
            user_id: e.user_id.map(|u| u.as_uuid()),
            ip: e.ip.clone(),
            user_agent: e.user_agent.clone(),
            request_id: e.request_id.clone(),
            details: e.details.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLogResponse {
    pub items: Vec<AuditItem>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Filters and paging of the admin user list.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserListQuery {
    /// Part of the email address.
    #[garde(length(min = 1, max = 320))]
    pub email: Option<String>,
    /// Holders of this role (by name).
    #[garde(length(min = 1, max = 64))]
    pub role: Option<String>,
    /// `active` or `locked`.
    #[garde(pattern("^(active|locked)$"))]
    pub status: Option<String>,
    /// Address verified or not.
    #[garde(skip)]
    pub verified: Option<bool>,
    /// `next_cursor` of the previous page.
    #[garde(skip)]
    pub cursor: Option<Uuid>,
    /// Page size, 1–200 (default 50).
    #[garde(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// An account, as the admin list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserItem {
    pub id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub email_verified: bool,
    /// `active` or `locked`.
    pub status: String,
    pub created_at: String,
}

impl From<&User> for AdminUserItem {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.as_uuid(),
            email: u.email.as_str().to_owned(),
            display_name: u.display_name.as_ref().map(|d| d.as_str().to_owned()),
            email_verified: u.email_verified_at.is_some(),
            status: if u.locked_at.is_some() { "locked" } else { "active" }.to_owned(),
            created_at: rfc3339(u.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUsersResponse {
    pub users: Vec<AdminUserItem>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<Uuid>,
}

/// One account in detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserDetail {
    #[serde(flatten)]
    pub user: AdminUserItem,
    pub locked_at: Option<String>,
    pub roles: Vec<String>,
    pub sessions: Vec<SessionItem>,
    pub devices: Vec<DeviceItem>,
    pub last_sign_in_at: Option<String>,
}

/// Invite an address, with the roles its account gets.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationRequest {
    #[garde(length(chars, max = 320))]
    #[schema(max_length = 320, example = "grace@example.com")]
    pub email: String,
    /// Role names (every account holds `user` anyway); a role beyond `user`
    /// needs `roles:assign`.
    #[garde(length(max = 50), inner(length(chars, min = 1, max = 64)))]
    #[schema(example = json!(["moderator"]))]
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationResponse {
    pub id: Uuid,
    pub email: String,
    pub roles: Vec<String>,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub state: &'static str,
    pub invited_by: Option<Uuid>,
    pub created_at: String,
    pub expires_at: String,
    pub accepted_at: Option<String>,
    pub accepted_by: Option<Uuid>,
    pub revoked_at: Option<String>,
}

impl InvitationResponse {
    pub fn at(i: &portcullis_domain::invitation::Invitation, now: OffsetDateTime) -> Self {
        Self {
            id: i.id.as_uuid(),
            email: i.email.as_str().to_owned(),
            roles: i.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            state: i.state(now).as_str(),
            invited_by: i.invited_by.map(|u| u.as_uuid()),
            created_at: rfc3339(i.created_at),
            expires_at: rfc3339(i.expires_at),
            accepted_at: i.accepted_at.map(rfc3339),
            accepted_by: i.accepted_by.map(|u| u.as_uuid()),
            revoked_at: i.revoked_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationsResponse {
    /// Newest first.
    pub invitations: Vec<InvitationResponse>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvitationsQuery {
    /// How many, newest first, 1–200 (default 50).
    #[garde(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Accept an invitation: the token from the mail; for a new account its
/// password (and display name). For an address that has an account, send
/// the request signed in to it (`Authorization: Bearer`), without a password.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    #[garde(length(chars, min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub token: String,
    #[garde(inner(length(chars, max = MAX_SECRET)))]
    #[schema(max_length = 1024, example = "Correct-Horse-Battery-9")]
    pub password: Option<String>,
    #[garde(inner(length(chars, max = 400)))]
    #[schema(max_length = 400)]
    pub display_name: Option<String>,
}

/// An accepted invitation. A new account (201) comes signed in: the token
/// fields are present; roles added to an existing account (200) leave them
/// out (the caller is signed in already).
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptInvitationResponse {
    /// True when the account was created now.
    pub account_created: bool,
    /// The roles the invitation granted.
    pub roles: Vec<String>,
    pub user: UserResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl From<&portcullis_application::invitations::Accepted> for AcceptInvitationResponse {
    fn from(a: &portcullis_application::invitations::Accepted) -> Self {
        use portcullis_application::invitations::Accepted;
        let names = |roles: &[portcullis_domain::role::RoleName]| {
            roles.iter().map(|r| r.as_str().to_owned()).collect()
        };
        match a {
            Accepted::NewAccount { signed_in, roles } => Self {
                account_created: true,
                roles: names(roles),
                user: UserResponse::from(&signed_in.user),
                access_token: Some(signed_in.tokens.access_token.expose().to_owned()),
                token_type: Some("Bearer"),
                expires_in: Some(signed_in.tokens.expires_in.whole_seconds()),
                refresh_token: Some(signed_in.tokens.refresh_token.expose().to_owned()),
            },
            Accepted::ExistingAccount { user, roles } => Self {
                account_created: false,
                roles: names(roles),
                user: UserResponse::from(user),
                access_token: None,
                token_type: None,
                expires_in: None,
                refresh_token: None,
            },
        }
    }
}

/// A first factor succeeded but the account has a second one: answer the
/// challenge at `POST /api/v1/auth/mfa/challenge` within `expires_in`
/// seconds, from the same client. No tokens yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaChallengeResponse {
    /// Always `true`.
    pub mfa_required: bool,
    /// Single use; shown once.
    pub challenge_id: String,
    /// The factors that can answer: `totp`, `sms` (ask for the text at
    /// `POST /api/v1/auth/mfa/challenge/sms` first), `backup_code`.
    #[schema(example = json!(["totp", "backup_code"]))]
    pub methods: Vec<String>,
    pub expires_in: i64,
}

impl From<&Challenge> for MfaChallengeResponse {
    fn from(c: &Challenge) -> Self {
        Self {
            mfa_required: true,
            challenge_id: c.id.expose().to_owned(),
            methods: c.methods.iter().map(|m| m.as_str().to_owned()).collect(),
            expires_in: c.expires_in.whole_seconds(),
        }
    }
}

/// What a first factor (password, magic link) answers: the tokens, or a
/// second-factor challenge.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SignInResponse {
    Tokens(TokenResponse),
    MfaRequired(MfaChallengeResponse),
}

impl From<&SignIn> for SignInResponse {
    fn from(s: &SignIn) -> Self {
        match s {
            SignIn::Complete(a) => Self::Tokens(TokenResponse::from(a)),
            SignIn::MfaRequired(c) => Self::MfaRequired(MfaChallengeResponse::from(c)),
        }
    }
}

/// A second factor: `totp` (authenticator app), `sms` (a texted code) or
/// `backup_code`.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FactorName {
    Totp,
    Sms,
    BackupCode,
}

impl From<FactorName> for SecondFactor {
    fn from(f: FactorName) -> Self {
        match f {
            FactorName::Totp => SecondFactor::Totp,
            FactorName::Sms => SecondFactor::Sms,
            FactorName::BackupCode => SecondFactor::BackupCode,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaChallengeRequest {
    #[garde(length(chars, min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub challenge_id: String,
    #[garde(skip)]
    pub method: FactorName,
    /// Six digits from the app or the text message, or a backup code
    /// (`xxxx-xxxx-xxxx-xxxx`).
    #[garde(length(chars, min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64, example = "123456")]
    pub code: String,
}

/// A code: from the authenticator app, or the one texted to the phone.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    #[garde(length(chars, min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64, example = "123456")]
    pub code: String,
}

/// A code and the factor it comes from (default `totp`): turning the second
/// factor off, new backup codes.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactorCodeRequest {
    #[garde(length(chars, min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64, example = "123456")]
    pub code: String,
    #[garde(skip)]
    pub method: Option<FactorName>,
}

/// Enrolment data for an authenticator app: scan `qr_svg` or enter `secret`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpSetupResponse {
    /// Base32, as apps take it when typed.
    pub secret: String,
    /// `otpauth://totp/...`
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

impl From<TotpProvisioning> for TotpSetupResponse {
    fn from(p: TotpProvisioning) -> Self {
        Self { secret: p.secret_base32, otpauth_uri: p.otpauth_uri, qr_svg: p.qr_svg }
    }
}

/// Backup codes, shown this once: each works once in place of an app code.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupCodesResponse {
    #[schema(example = json!(["abcd-efgh-ijkl-mnop"]))]
    pub backup_codes: Vec<String>,
}

/// A phone for texted codes, in international form.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsSetupRequest {
    /// E.164, or international form with spaces: `+44 7911 123456`.
    #[garde(length(chars, min = 1, max = 32))]
    #[schema(min_length = 1, max_length = 32, example = "+447911123456")]
    pub phone: String,
}

/// A code is being texted.
#[derive(Debug, Serialize, ToSchema)]
pub struct SmsSentResponse {
    /// The number, masked.
    #[schema(example = "+44••••••••56")]
    pub phone: String,
    /// Seconds the code works once it arrives.
    pub expires_in: i64,
}

impl From<portcullis_application::auth::SmsSent> for SmsSentResponse {
    fn from(s: portcullis_application::auth::SmsSent) -> Self {
        Self { phone: s.phone, expires_in: s.expires_in.whole_seconds() }
    }
}

/// An open sign-in challenge (to text a code for, or to answer with a security key).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeIdRequest {
    #[garde(length(chars, min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub challenge_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatusResponse {
    /// An authenticator app is on.
    pub totp_enabled: bool,
    /// An enrolment waits for its first code.
    pub totp_pending: bool,
    /// A phone is confirmed for texted codes.
    pub sms_enabled: bool,
    /// A phone waits for its texted code.
    pub sms_pending: bool,
    /// The phone, masked.
    pub phone: Option<String>,
    /// Registered security keys (`/auth/webauthn/credentials`).
    pub security_keys: usize,
    pub backup_codes_remaining: usize,
    /// What a sign-in challenge accepts now.
    pub methods: Vec<String>,
}

impl From<MfaStatus> for MfaStatusResponse {
    fn from(s: MfaStatus) -> Self {
        Self {
            totp_enabled: s.totp,
            totp_pending: s.totp_pending,
            sms_enabled: s.sms,
            sms_pending: s.sms_pending,
            phone: s.phone,
            security_keys: s.security_keys,
            backup_codes_remaining: s.backup_codes_left,
            methods: s.methods.iter().map(|m| m.as_str().to_owned()).collect(),
        }
    }
}

/// Step-up: the password, or a second-factor code (`method` + `code`) —
/// exactly one of the two shapes.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(untagged)]
pub enum ReauthenticateRequest {
    Password(#[garde(dive)] PasswordProof),
    Code(#[garde(dive)] CodeProof),
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordProof {
    #[garde(length(chars, max = MAX_SECRET))]
    #[schema(max_length = 1024)]
    pub password: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeProof {
    /// Default `totp`.
    #[garde(skip)]
    pub method: Option<FactorName>,
    #[garde(length(chars, min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub code: String,
}

/// A new access token for the same session, with `auth_time` now.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessTokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// A WebAuthn credential's kind.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKindName {
    /// Signs in without a password (user verification required).
    Passkey,
    /// A second factor.
    SecurityKey,
}

impl From<CredentialKindName> for portcullis_domain::webauthn::CredentialKind {
    fn from(k: CredentialKindName) -> Self {
        match k {
            CredentialKindName::Passkey => Self::Passkey,
            CredentialKindName::SecurityKey => Self::SecurityKey,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebauthnRegisterStartRequest {
    #[garde(skip)]
    pub kind: CredentialKindName,
}

/// A begun ceremony: send `options` to the browser's WebAuthn API, then the
/// answer with `ceremony_id` to the matching `finish` route.
#[derive(Debug, Serialize, ToSchema)]
pub struct CeremonyResponse {
    /// Single use; shown once.
    pub ceremony_id: String,
    /// `{publicKey: …}` for `navigator.credentials.create` or `.get`.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    pub expires_in: i64,
}

impl From<portcullis_application::auth::Ceremony> for CeremonyResponse {
    fn from(c: portcullis_application::auth::Ceremony) -> Self {
        Self {
            ceremony_id: c.id.expose().to_owned(),
            options: c.options,
            expires_in: c.expires_in.whole_seconds(),
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebauthnRegisterFinishRequest {
    #[garde(length(chars, min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub ceremony_id: String,
    #[garde(skip)]
    pub kind: CredentialKindName,
    /// Default: "Passkey" or "Security key".
    #[garde(length(chars, min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub name: Option<String>,
    /// The `PublicKeyCredential` from `navigator.credentials.create`, as JSON.
    #[garde(skip)]
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebauthnCredentialItem {
    pub id: uuid::Uuid,
    /// `passkey` or `security_key`.
    pub kind: &'static str,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<time::OffsetDateTime>,
}

impl From<&portcullis_application::ports::WebauthnCredential> for WebauthnCredentialItem {
    fn from(c: &portcullis_application::ports::WebauthnCredential) -> Self {
        Self {
            id: c.id,
            kind: c.kind.as_str(),
            name: c.name.clone(),
            created_at: c.created_at,
            last_used_at: c.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebauthnRegisteredResponse {
    pub credential: WebauthnCredentialItem,
    /// Ten backup codes with the account's first second factor; else empty.
    pub backup_codes: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebauthnCredentialsResponse {
    pub credentials: Vec<WebauthnCredentialItem>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameCredentialRequest {
    #[garde(length(chars, min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignInFinishRequest {
    #[garde(length(chars, min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get`, as JSON.
    #[garde(skip)]
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityKeyAnswerRequest {
    #[garde(length(chars, min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub challenge_id: String,
    #[garde(length(chars, min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get`, as JSON.
    #[garde(skip)]
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// The provider's redirect back: `code` and `state`, or `error`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OAuthCallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by the provider when the user declined (`access_denied`).
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub authuser: Option<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub session_state: Option<String>,
    #[serde(default)]
    pub hd: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizeUrlResponse {
    pub authorize_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedAccountItem {
    pub id: uuid::Uuid,
    pub provider: String,
    /// The address the provider gave when linking.
    pub email: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<time::OffsetDateTime>,
}

impl From<&portcullis_application::ports::LinkedAccount> for LinkedAccountItem {
    fn from(a: &portcullis_application::ports::LinkedAccount) -> Self {
        Self {
            id: a.id,
            provider: a.provider.clone(),
            email: a.email.clone(),
            created_at: a.created_at,
            last_used_at: a.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedAccountsResponse {
    pub accounts: Vec<LinkedAccountItem>,
}

/// An account has the provider's verified address: its owner confirms the
/// link with the password within `expires_in` seconds.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkRequiredResponse {
    /// Always `true`.
    pub link_required: bool,
    /// Single use; shown once.
    pub link_id: String,
    pub provider: String,
    pub email: String,
    pub expires_in: i64,
}

/// What a callback answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum OAuthCallbackResponse {
    SignedIn(SignInResponse),
    Linked { linked: LinkedAccountItem },
    LinkRequired(LinkRequiredResponse),
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmLinkRequest {
    #[garde(length(chars, min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub link_id: String,
    #[garde(length(chars, max = MAX_SECRET))]
    #[schema(max_length = 1024)]
    pub password: String,
}
