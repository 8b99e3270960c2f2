//! `GET /api/v1/ws`: live file status over a WebSocket (protocol in
//! docs/files.md). Authenticated before the upgrade (401 in the envelope
//! otherwise); afterwards the token is checked again at every ping, and the
//! socket is closed with a documented code when it expired or its session
//! was revoked.

use crate::error::ApiError;
use crate::extract::{Caller, Client, credential};
use crate::state::{AppState, LiveSettings};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use futures_util::StreamExt;
use portcullis_application::access::Principal;
use portcullis_application::files::event_of;
use portcullis_application::ports::{BusMessage, FileEvent};
use portcullis_domain::audit::RequestContext;
use portcullis_domain::ids::FileId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Instant;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// Close codes (4000–4999 are the application's).
pub mod close {
    /// The access token expired or its session was revoked: sign in again.
    pub const UNAUTHORIZED: u16 = 4001;
    /// No pong within `WS_PING_TIMEOUT` of a ping.
    pub const PING_TIMEOUT: u16 = 4002;
    /// The client did not read its messages in time (the send buffer is bounded).
    pub const TOO_SLOW: u16 = 4003;
}

/// Most file ids one subscribe/unsubscribe may name, and most one socket may watch.
const MAX_IDS_PER_MESSAGE: usize = 100;
const MAX_SUBSCRIBED: usize = 1000;
/// Largest client message (bytes).
const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Subscribe { file_ids: Vec<Uuid> },
    Unsubscribe { file_ids: Vec<Uuid> },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerMessage<'a> {
    FileStatus {
        file_id: Uuid,
        status: &'a str,
        progress: u8,
        message: Option<&'a str>,
        timestamp: String,
    },
    Error {
        code: &'static str,
        message: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        file_ids: Vec<Uuid>,
    },
}

fn status_of(event: &FileEvent) -> String {
    let message = ServerMessage::FileStatus {
        file_id: event.file_id.0,
        status: event.status.as_str(),
        progress: event.progress,
        message: event.message.as_deref(),
        timestamp: event.at.format(&Rfc3339).unwrap_or_default(),
    };
    serde_json::to_string(&message).unwrap_or_default()
}

fn error(code: &'static str, message: impl Into<String>, file_ids: Vec<Uuid>) -> String {
    serde_json::to_string(&ServerMessage::Error { code, message: message.into(), file_ids })
        .unwrap_or_default()
}

/// Open a status socket.
///
/// Authenticated by `Authorization: Bearer` or `?access_token=`. Messages:
/// `{"type":"subscribe","file_ids":[…]}` / `unsubscribe`; the server sends
/// `{"type":"file_status",…}` at once for each subscribed file and on every
/// change, `{"type":"error",…}` for ids that are not the caller's. Close
/// codes: 4001 token expired or session revoked, 4002 no pong, 4003 too slow.
#[utoipa::path(
    get, path = "/api/v1/ws", tag = "files",
    security(("bearer" = [])),
    params(("access_token" = Option<String>, Query, description = "The access token, for clients that cannot send headers")),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "BAD_REQUEST: not a WebSocket handshake", body = crate::error::ErrorEnvelope),
        (status = 401, body = crate::error::ErrorEnvelope),
    )
)]
pub async fn socket(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    caller: Caller,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    // Verified by the route's policy already; kept to re-check it at each ping.
    let token = credential(&req)?;
    let (caller, ctx) = (caller.0, client.0);
    let events = state.files.live(&caller).await?;
    let (response, session, messages) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::BadRequest(format!("not a WebSocket handshake: {e}")))?;
    let messages =
        messages.max_frame_size(MAX_MESSAGE).aggregate_continuations().max_continuation_size(MAX_MESSAGE);
    let connection =
        Connection { state: state.clone(), caller, token, ctx, session, subscribed: BTreeSet::new() };
    actix_web::rt::spawn(connection.run(messages, events));
    Ok(response)
}

struct Connection {
    state: web::Data<AppState>,
    caller: Principal,
    token: String,
    ctx: RequestContext,
    session: Session,
    subscribed: BTreeSet<FileId>,
}

/// Why the loop ended.
enum End {
    /// The client went away or closed; nothing more to send.
    Gone,
    Close(u16, &'static str),
}

impl Connection {
    async fn run(
        mut self,
        mut messages: actix_ws::AggregatedMessageStream,
        mut events: portcullis_application::ports::EventStream,
    ) {
        let gauge = self.state.metrics.ws_connections.clone();
        gauge.inc();
        let settings = self.state.live;
        let mut ticks = tokio::time::interval(settings.ping_interval);
        ticks.tick().await;
        let mut last_pong = Instant::now();
        let end = loop {
            let step = tokio::select! {
                message = messages.next() => match message {
                    None | Some(Ok(AggregatedMessage::Close(_))) => Err(End::Gone),
                    Some(Ok(AggregatedMessage::Text(text))) => self.on_text(&text).await,
                    Some(Ok(AggregatedMessage::Binary(_))) => {
                        self.send(error("BAD_REQUEST", "messages are JSON text", Vec::new())).await
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        self.session.pong(&bytes).await.map_err(|_| End::Gone)
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {
                        last_pong = Instant::now();
                        Ok(())
                    }
                    Some(Err(_)) => Err(End::Close(1002, "protocol error")),
                },
                event = events.next() => match event {
                    Some(BusMessage::File(event)) if self.subscribed.contains(&event.file_id) => {
                        self.send(status_of(&event)).await
                    }
                    Some(BusMessage::File(_)) => Ok(()),
                    Some(BusMessage::SessionEnded(id)) if id == self.caller.session_id => {
                        Err(End::Close(close::UNAUTHORIZED, "the session was revoked"))
                    }
                    Some(BusMessage::SessionEnded(_)) => Ok(()),
                    Some(BusMessage::Missed) => self.resend_all().await,
                    None => Err(End::Close(1011, "event stream ended")),
                },
                _ = ticks.tick() => self.on_tick(last_pong, settings).await,
            };
            if let Err(end) = step {
                break end;
            }
        };
        if let End::Close(code, why) = end {
            let reason = CloseReason { code: CloseCode::Other(code), description: Some(why.to_owned()) };
            let _ = self.session.close(Some(reason)).await;
        }
        gauge.dec();
    }

    /// Sends one message; a client that does not take it within the ping
    /// timeout is closed (the buffer in front of it is bounded).
    async fn send(&mut self, text: String) -> Result<(), End> {
        match tokio::time::timeout(self.state.live.ping_timeout, self.session.text(text)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::Close(close::TOO_SLOW, "the client does not read its messages")),
        }
    }

    async fn on_tick(&mut self, last_pong: Instant, settings: LiveSettings) -> Result<(), End> {
        if last_pong.elapsed() > settings.ping_interval + settings.ping_timeout {
            return Err(End::Close(close::PING_TIMEOUT, "no pong"));
        }
        if self.state.sign_in.authenticate(&self.token, &self.ctx).await.is_err() {
            return Err(End::Close(
                close::UNAUTHORIZED,
                "the access token expired or its session was revoked",
            ));
        }
        self.session.ping(b"").await.map_err(|_| End::Gone)
    }

    async fn on_text(&mut self, text: &str) -> Result<(), End> {
        let message: ClientMessage = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(e) => {
                return self.send(error("BAD_REQUEST", format!("unreadable message: {e}"), Vec::new())).await;
            }
        };
        match message {
            ClientMessage::Subscribe { file_ids } => self.subscribe(file_ids).await,
            ClientMessage::Unsubscribe { file_ids } => {
                for id in file_ids {
                    self.subscribed.remove(&FileId(id));
                }
                Ok(())
            }
        }
    }

    async fn subscribe(&mut self, ids: Vec<Uuid>) -> Result<(), End> {
        if ids.len() > MAX_IDS_PER_MESSAGE {
            let why = format!("at most {MAX_IDS_PER_MESSAGE} file ids per message");
            return self.send(error("VALIDATION_ERROR", why, Vec::new())).await;
        }
        let ids: Vec<FileId> = ids.into_iter().map(FileId).collect();
        let (found, missing) = match self.state.files.owned(&self.caller, &ids).await {
            Ok(outcome) => outcome,
            Err(e) => {
                let code = ApiError::App(e).code().as_str();
                return self.send(error(code, "could not read the files now", Vec::new())).await;
            }
        };
        if !missing.is_empty() {
            let ids = missing.iter().map(|id| id.0).collect();
            self.send(error("NOT_FOUND", "no such file among yours", ids)).await?;
        }
        for file in found {
            if self.subscribed.len() >= MAX_SUBSCRIBED && !self.subscribed.contains(&file.id) {
                let why = format!("at most {MAX_SUBSCRIBED} files per socket");
                return self.send(error("VALIDATION_ERROR", why, vec![file.id.0])).await;
            }
            self.subscribed.insert(file.id);
            // The state now: a late subscriber misses nothing that matters.
            self.send(status_of(&event_of(&file))).await?;
        }
        Ok(())
    }

    /// After lost events: the state of every watched file, from the database.
    async fn resend_all(&mut self) -> Result<(), End> {
        let ids: Vec<FileId> = self.subscribed.iter().copied().collect();
        let Ok((found, _)) = self.state.files.owned(&self.caller, &ids).await else { return Ok(()) };
        for file in found {
            self.send(status_of(&event_of(&file))).await?;
        }
        Ok(())
    }
}
