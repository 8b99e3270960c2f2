//! `/api/v1/files`: streamed multipart upload, listing, reading, deleting.
//! The upload is piped part-by-part to the use case (never buffered whole);
//! everything about the content (size, type, digest, dedupe, quota) is
//! decided there.

use super::Chunk;
use crate::dto::{
    FileListQuery, FileListResponse, FileResponse, PresignedResponse, UploadForm, UploadResponse,
    UploadUrlRequest, UploadUrlResponse,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Caller, Client, ValidJson, report_to_errors};
use crate::state::AppState;
use actix_multipart::{Field, Multipart, MultipartError};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use garde::Validate;
use portcullis_application::AppError;
use portcullis_domain::files::FileStatus;
use portcullis_domain::ids::FileId;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Bytes the parts other than `file` may take together (they are ignored).
const OTHER_PARTS_LIMIT: usize = 64 * 1024;

fn multipart_error(e: MultipartError) -> ApiError {
    match e {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible => {
            ApiError::UnsupportedMediaType { expected: "multipart/form-data" }
        }
        MultipartError::Payload(p) if crate::body_deadline::is_timeout(&p) => ApiError::RequestTimeout,
        other => ApiError::MalformedUpload(other.to_string()),
    }
}

/// Reads and forgets a part that is not the file, within the shared budget.
async fn skip(mut part: Field, budget: &mut usize) -> Result<(), ApiError> {
    while let Some(chunk) = part.next().await {
        let chunk = chunk.map_err(multipart_error)?;
        *budget = budget.checked_sub(chunk.len()).ok_or_else(|| {
            ApiError::MalformedUpload(format!("parts other than `file` exceed {OTHER_PARTS_LIMIT} bytes"))
        })?;
    }
    Ok(())
}

/// Feeds the file part into the pipe, then reads the rest of the body: a
/// second file part or a broken body ends the pipe with an error, so the use
/// case keeps nothing. Only a complete, single-file body closes it cleanly.
async fn pump(
    mut file: Field,
    mut rest: Multipart,
    mut budget: usize,
    pipe: mpsc::Sender<Chunk>,
) -> Result<(), ApiError> {
    let fail = |pipe: &mpsc::Sender<Chunk>, why: &str| {
        // The reader may be gone already (it refused the content); fine.
        let _ = pipe.try_send(Err(std::io::Error::other(why.to_owned())));
    };
    while let Some(chunk) = file.next().await {
        match chunk {
            Ok(bytes) => {
                if pipe.send(Ok(bytes)).await.is_err() {
                    // The use case stopped reading: it refused the content.
                    return Ok(());
                }
            }
            Err(e) => {
                fail(&pipe, "the file part broke off");
                return Err(multipart_error(e));
            }
        }
    }
    drop(file);
    while let Some(part) = rest.next().await {
        let outcome = match part {
            Ok(part) if part.name() == Some("file") => Err(ApiError::MultipleFileParts),
            Ok(part) => skip(part, &mut budget).await,
            Err(e) => Err(multipart_error(e)),
        };
        if let Err(e) = outcome {
            fail(&pipe, "the body after the file part was refused");
            return Err(e);
        }
    }
    Ok(())
}

/// Upload one file (`multipart/form-data`, one part named `file`).
///
/// The body is streamed: the size is capped at `MAX_FILE_SIZE`, the type is
/// decided from the bytes (not the name or the part's content type), and the
/// SHA-256 is computed on the way to the store. The same bytes uploaded again
/// by the same user answer 200 with the existing file.
#[utoipa::path(
    post, path = "/api/v1/files", tag = "files",
    security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data", description = "One part named `file`"),
    responses(
        (status = 201, description = "Stored; the scan is queued", body = UploadResponse),
        (status = 200, description = "The caller already has a file with these bytes (`duplicate: true`)", body = UploadResponse),
        (status = 400, description = "EMPTY_FILE, FILE_PART_MISSING, MULTIPLE_FILE_PARTS, UPLOAD_INCOMPLETE", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 408, description = "REQUEST_TIMEOUT", body = ErrorEnvelope),
        (status = 409, description = "QUOTA_EXCEEDED (details.quota)", body = ErrorEnvelope),
        (status = 413, description = "PAYLOAD_TOO_LARGE (details.limit_bytes)", body = ErrorEnvelope),
        (status = 415, description = "UNSUPPORTED_FILE_TYPE (details.allowed), or UNSUPPORTED_MEDIA_TYPE: not multipart/form-data", body = ErrorEnvelope),
        (status = 503, description = "SERVICE_UNAVAILABLE: the store is unreachable", body = ErrorEnvelope),
    )
)]
pub async fn upload(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let outcome = receive(&state, caller, client, req, payload).await;
    let result = match &outcome {
        Ok(response) if response.status() == actix_web::http::StatusCode::OK => "duplicate",
        Ok(_) => "created",
        Err(e) => e.code().as_str(),
    };
    state.metrics.uploads.with_label_values(&[result]).inc();
    outcome
}

async fn receive(
    state: &AppState,
    caller: Caller,
    client: Client,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut body = Multipart::new(req.headers(), payload);
    let mut budget = OTHER_PARTS_LIMIT;
    let file = loop {
        match body.next().await {
            None => return Err(ApiError::FilePartMissing),
            Some(Err(e)) => return Err(multipart_error(e)),
            Some(Ok(part)) if part.name() == Some("file") => break part,
            Some(Ok(part)) => skip(part, &mut budget).await?,
        }
    };
    let name = file.content_disposition().and_then(|cd| cd.get_filename()).unwrap_or_default().to_owned();
    let (pipe, piped) = super::pipe();
    let (pumped, uploaded) =
        tokio::join!(pump(file, body, budget, pipe), state.files.upload(&caller.0, &name, piped, &client.0));
    // A broken body explains an interrupted upload better than the use case can.
    pumped?;
    let upload = uploaded?;
    let body = UploadResponse { file: FileResponse::from(&upload.file), duplicate: upload.duplicate };
    Ok(if upload.duplicate {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::Created()
            .insert_header((header::LOCATION, format!("/api/v1/files/{}", upload.file.id)))
            .json(body)
    })
}

fn file_id(raw: &str) -> Result<FileId, ApiError> {
    // An id that cannot exist is simply not found (as another user's file is).
    Uuid::parse_str(raw).map(FileId).map_err(|_| ApiError::App(AppError::NotFound("file")))
}

/// The caller's files, newest first.
#[utoipa::path(
    get, path = "/api/v1/files", tag = "files",
    security(("bearer" = [])),
    params(FileListQuery),
    responses(
        (status = 200, body = FileListResponse),
        (status = 400, description = "VALIDATION_ERROR (limit out of range) or BAD_REQUEST (unknown status)", body = ErrorEnvelope),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<FileListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    query.validate().map_err(|r| ApiError::from(report_to_errors(&r)))?;
    let status = query.status.map(FileStatus::from);
    let limit = query.limit.unwrap_or(20) as usize;
    let page = state.files.list(&caller.0, status, query.cursor.map(FileId), limit).await?;
    Ok(HttpResponse::Ok().json(FileListResponse {
        files: page.files.iter().map(FileResponse::from).collect(),
        next_cursor: page.next.map(|id| id.0),
    }))
}

/// One of the caller's files (another user's is 404).
#[utoipa::path(
    get, path = "/api/v1/files/{id}", tag = "files",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "File id")),
    responses(
        (status = 200, body = FileResponse),
        (status = 404, description = "NOT_FOUND", body = ErrorEnvelope),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let file = state.files.get(&caller.0, file_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(FileResponse::from(&file)))
}

/// Delete one of the caller's files: its bytes, its record, its dedupe entry.
#[utoipa::path(
    delete, path = "/api/v1/files/{id}", tag = "files",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "File id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "NOT_FOUND", body = ErrorEnvelope),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.files.delete(&caller.0, file_id(&path)?, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ask for a presigned upload: the file is recorded `awaiting_upload` (it
/// counts toward the quota) and the answer says where to PUT exactly `size`
/// bytes before `expires_at`. Then call `/confirm`.
#[utoipa::path(
    post, path = "/api/v1/files/upload-url", tag = "files",
    security(("bearer" = [])),
    request_body = UploadUrlRequest,
    responses(
        (status = 201, body = UploadUrlResponse),
        (status = 400, description = "EMPTY_FILE (size 0) or VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 409, description = "QUOTA_EXCEEDED", body = ErrorEnvelope),
        (status = 413, description = "PAYLOAD_TOO_LARGE: size over MAX_FILE_SIZE", body = ErrorEnvelope),
    )
)]
pub async fn upload_url(
    state: web::Data<AppState>,
    caller: Caller,
    body: ValidJson<UploadUrlRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.0;
    let ticket = state.files.request_upload(&caller.0, &request.filename, request.size).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/files/{}", ticket.file.id)))
        .json(UploadUrlResponse { file_id: ticket.file.id.0, request: PresignedResponse::from(&ticket.url) }))
}

/// Confirm a presigned upload: the server reads the bytes back (size, type,
/// digest — nothing declared is trusted) and queues the scan.
#[utoipa::path(
    post, path = "/api/v1/files/{id}/confirm", tag = "files",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "File id")),
    responses(
        (status = 202, description = "Stored; the scan is queued (or the file, if confirmed before)", body = UploadResponse),
        (status = 200, description = "The caller already has a file with these bytes (`duplicate: true`); this one is removed", body = UploadResponse),
        (status = 400, description = "EMPTY_FILE", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "UPLOAD_MISSING: nothing was PUT to the URL yet", body = ErrorEnvelope),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorEnvelope),
        (status = 415, description = "UNSUPPORTED_FILE_TYPE (the upload is removed)", body = ErrorEnvelope),
    )
)]
pub async fn confirm(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let upload = state.files.confirm(&caller.0, file_id(&path)?, &client.0).await?;
    let body = UploadResponse { file: FileResponse::from(&upload.file), duplicate: upload.duplicate };
    Ok(if upload.duplicate { HttpResponse::Ok().json(body) } else { HttpResponse::Accepted().json(body) })
}

/// A short-lived URL to download a `ready` file (its owner only).
#[utoipa::path(
    get, path = "/api/v1/files/{id}/download-url", tag = "files",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "File id")),
    responses(
        (status = 200, body = PresignedResponse),
        (status = 404, description = "NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "FILE_NOT_READY (details.status): infected, failed or still in the pipeline", body = ErrorEnvelope),
    )
)]
pub async fn download_url(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let url = state.files.download_url(&caller.0, file_id(&path)?).await?;
    Ok(crate::handlers::no_store(HttpResponse::Ok().json(PresignedResponse::from(&url))))
}
