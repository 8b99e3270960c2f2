//! `/storage/{key}`: where the presigned links of the memory and local-disk
//! stores point. No bearer token: the link's HMAC signature is the
//! credential (checked by the application, in constant time); a tampered or
//! expired link is 403 in the envelope. Absent with the S3 backend (its
//! links go to S3).

use crate::dto::StorageQuery;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use futures_util::StreamExt;
use portcullis_application::AppError;
use portcullis_application::files::storage::{LinkProof, SelfServedStorage};

fn storage(state: &AppState) -> Result<&SelfServedStorage, ApiError> {
    state.storage.as_ref().ok_or(ApiError::NotFound)
}

fn proof(query: &StorageQuery) -> LinkProof {
    LinkProof { expires: query.expires, signature: query.signature.clone() }
}

pub async fn download(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<StorageQuery>,
) -> Result<HttpResponse, ApiError> {
    let filename = query.filename.clone().ok_or(ApiError::App(AppError::InvalidSignature))?;
    let content = storage(&state)?.download(&path, &filename, &proof(&query)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            header::CONTENT_DISPOSITION,
            portcullis_domain::files::attachment_disposition(&filename),
        ))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .streaming(content))
}

pub async fn upload(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<StorageQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let size = query.size.ok_or(ApiError::App(AppError::InvalidSignature))?;
    let storage = storage(&state)?.clone();
    let (pipe, body) = super::pipe();
    let pump = async move {
        let mut payload = payload;
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(std::io::Error::other);
            let failed = chunk.is_err();
            if pipe.send(chunk).await.is_err() || failed {
                break;
            }
        }
    };
    let proof = proof(&query);
    let (_, stored) = tokio::join!(pump, storage.upload(&path, size, &proof, body));
    stored?;
    Ok(HttpResponse::Ok().finish())
}
