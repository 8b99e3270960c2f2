//! Objects in any S3-compatible store. Requests are signed by rusty-s3
//! (sans-I/O SigV4, query-string signatures) and sent with reqwest; see ADR
//! 0009 for why not the AWS SDK.
//!
//! A put streams: up to [`PART_SIZE`] bytes are gathered; content that ends
//! within one part is a single `PutObject` with its length, longer content a
//! multipart upload (one part in memory at a time) that only becomes visible
//! when completed, and is aborted on any failure — so a failed put leaves the
//! previous object, as the port requires.

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use portcullis_application::cause::Cause;
use portcullis_application::ports::{
    ByteStream, ObjectInfo, ObjectKey, ObjectStore, ObjectStoreError, PresignedUrl, UrlPresigner,
};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use std::time::Duration;
use time::OffsetDateTime;

/// Bytes gathered per request: S3's smallest part (5 MiB) plus room. One
/// part is the most an upload holds in memory.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// How long the URLs this adapter signs for its own requests stay valid.
const REQUEST_SIGNATURE_TTL: Duration = Duration::from_secs(300);

/// Where the bucket is and how to reach it (`AWS_*`, `S3_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// `AWS_ENDPOINT_URL`, or `https://s3.{region}.amazonaws.com`.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: portcullis_domain::secret::Secret,
    /// `S3_FORCE_PATH_STYLE`: `{endpoint}/{bucket}/{key}` instead of
    /// `{bucket}.{endpoint}/{key}` (most S3-compatible servers want it).
    pub force_path_style: bool,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum S3SetupError {
    #[error("invalid S3 endpoint or bucket: {0}")]
    Bucket(String),
    #[error("HTTP client")]
    Client(#[source] reqwest::Error),
}

pub struct S3ObjectStore {
    bucket: Bucket,
    credentials: Credentials,
    http: reqwest::Client,
}

fn unavailable(context: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> ObjectStoreError {
    ObjectStoreError::Unavailable(Cause::context(context, e))
}

/// An S3 answer that is not a success, with the start of its body (S3 errors
/// are small XML documents naming the code, e.g. `SignatureDoesNotMatch`).
#[derive(Debug, thiserror::Error)]
#[error("S3 answered {status}: {body}")]
pub struct S3Refused {
    pub status: u16,
    pub body: String,
}

async fn refused(response: reqwest::Response) -> ObjectStoreError {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    unavailable("s3", S3Refused { status, body: body.chars().take(500).collect() })
}

impl S3ObjectStore {
    pub fn new(config: &S3Config) -> Result<Self, S3SetupError> {
        let endpoint =
            config.endpoint.parse().map_err(|e: url::ParseError| S3SetupError::Bucket(e.to_string()))?;
        let style = if config.force_path_style { UrlStyle::Path } else { UrlStyle::VirtualHost };
        let bucket = Bucket::new(endpoint, style, config.bucket.clone(), config.region.clone())
            .map_err(|e| S3SetupError::Bucket(e.to_string()))?;
        let credentials =
            Credentials::new(config.access_key_id.clone(), config.secret_access_key.expose().to_owned());
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(config.timeout)
            .build()
            .map_err(S3SetupError::Client)?;
        Ok(Self { bucket, credentials, http })
    }

    /// Sends a signed request; any non-success answer is `Unavailable` with S3's words.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, ObjectStoreError> {
        let response = request.send().await.map_err(|e| unavailable("s3", e))?;
        if response.status().is_success() { Ok(response) } else { Err(refused(response).await) }
    }

    async fn put_whole(&self, key: &ObjectKey, body: Bytes) -> Result<(), ObjectStoreError> {
        let url = self.bucket.put_object(Some(&self.credentials), key.as_str()).sign(REQUEST_SIGNATURE_TTL);
        self.send(self.http.put(url).body(body)).await?;
        Ok(())
    }

    async fn create_upload(&self, key: &ObjectKey) -> Result<String, ObjectStoreError> {
        let action = self.bucket.create_multipart_upload(Some(&self.credentials), key.as_str());
        let response = self.send(self.http.post(action.sign(REQUEST_SIGNATURE_TTL))).await?;
        let body = response.text().await.map_err(|e| unavailable("s3", e))?;
        let parsed = rusty_s3::actions::CreateMultipartUpload::parse_response(&body)
            .map_err(|e| unavailable("s3 CreateMultipartUpload reply", e))?;
        Ok(parsed.upload_id().to_owned())
    }

    async fn upload_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        number: u16,
        body: Bytes,
    ) -> Result<String, ObjectStoreError> {
        let action = self.bucket.upload_part(Some(&self.credentials), key.as_str(), number, upload_id);
        let response = self.send(self.http.put(action.sign(REQUEST_SIGNATURE_TTL)).body(body)).await?;
        let etag = response.headers().get(reqwest::header::ETAG).and_then(|v| v.to_str().ok());
        etag.map(str::to_owned).ok_or_else(|| {
            ObjectStoreError::Unavailable(Cause::from("S3 UploadPart answered without an ETag".to_owned()))
        })
    }

    async fn complete(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        etags: &[String],
    ) -> Result<(), ObjectStoreError> {
        let action = self.bucket.complete_multipart_upload(
            Some(&self.credentials),
            key.as_str(),
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(REQUEST_SIGNATURE_TTL);
        self.send(self.http.post(url).body(action.body())).await?;
        Ok(())
    }

    async fn abort(&self, key: &ObjectKey, upload_id: &str) {
        let action = self.bucket.abort_multipart_upload(Some(&self.credentials), key.as_str(), upload_id);
        if let Err(error) = self.send(self.http.delete(action.sign(REQUEST_SIGNATURE_TTL))).await {
            // The bucket's lifecycle rule for incomplete uploads cleans up after us.
            tracing::warn!(%error, %key, "could not abort a multipart upload");
        }
    }

    /// The parts after the first: streamed into a multipart upload.
    async fn put_parts(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        first: Bytes,
        content: &mut ByteStream,
    ) -> Result<u64, ObjectStoreError> {
        let mut etags = vec![self.upload_part(key, upload_id, 1, first.clone()).await?];
        let mut size = first.len() as u64;
        let mut part = BytesMut::with_capacity(PART_SIZE);
        loop {
            let chunk = content.next().await;
            let done = chunk.is_none();
            if let Some(chunk) = chunk {
                let chunk = chunk.map_err(|e| ObjectStoreError::Content(Cause::new(e)))?;
                part.extend_from_slice(&chunk);
            }
            if (done && !part.is_empty()) || part.len() >= PART_SIZE {
                let number = u16::try_from(etags.len() + 1).map_err(|_| {
                    ObjectStoreError::Unavailable(Cause::from("more than 65535 parts".to_owned()))
                })?;
                size += part.len() as u64;
                etags.push(self.upload_part(key, upload_id, number, part.split().freeze()).await?);
            }
            if done {
                break;
            }
        }
        self.complete(key, upload_id, &etags).await?;
        Ok(size)
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put(&self, key: &ObjectKey, mut content: ByteStream) -> Result<ObjectInfo, ObjectStoreError> {
        let mut first = BytesMut::new();
        while first.len() < PART_SIZE {
            match content.next().await {
                None => {
                    let size = first.len() as u64;
                    self.put_whole(key, first.freeze()).await?;
                    return Ok(ObjectInfo { size });
                }
                Some(chunk) => {
                    first.extend_from_slice(&chunk.map_err(|e| ObjectStoreError::Content(Cause::new(e)))?)
                }
            }
        }
        let upload_id = self.create_upload(key).await?;
        match self.put_parts(key, &upload_id, first.freeze(), &mut content).await {
            Ok(size) => Ok(ObjectInfo { size }),
            Err(e) => {
                self.abort(key, &upload_id).await;
                Err(e)
            }
        }
    }

    async fn get(&self, key: &ObjectKey) -> Result<ByteStream, ObjectStoreError> {
        let url = self.bucket.get_object(Some(&self.credentials), key.as_str()).sign(REQUEST_SIGNATURE_TTL);
        let response = self.http.get(url).send().await.map_err(|e| unavailable("s3", e))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(ObjectStoreError::NotFound);
        }
        if !response.status().is_success() {
            return Err(refused(response).await);
        }
        Ok(Box::pin(response.bytes_stream().map(|chunk| chunk.map_err(std::io::Error::other))))
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, ObjectStoreError> {
        let url = self.bucket.head_object(Some(&self.credentials), key.as_str()).sign(REQUEST_SIGNATURE_TTL);
        let response = self.http.head(url).send().await.map_err(|e| unavailable("s3", e))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(refused(response).await);
        }
        let size = response
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                ObjectStoreError::Unavailable(Cause::from("S3 HEAD without Content-Length".to_owned()))
            })?;
        Ok(Some(ObjectInfo { size }))
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectStoreError> {
        let url =
            self.bucket.delete_object(Some(&self.credentials), key.as_str()).sign(REQUEST_SIGNATURE_TTL);
        let response = self.http.delete(url).send().await.map_err(|e| unavailable("s3", e))?;
        // Deleting a missing object is success in S3; some servers say 404.
        if response.status().is_success() || response.status() == reqwest::StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(refused(response).await)
        }
    }
}

/// Seconds from `now` to `expires_at`, within what S3 accepts (1 s – 7 days).
fn lifetime(expires_at: OffsetDateTime, now: OffsetDateTime) -> Duration {
    let seconds = (expires_at - now).whole_seconds().clamp(1, 7 * 24 * 3600);
    Duration::from_secs(seconds as u64)
}

/// S3's own presigned URLs (query-string SigV4). A PUT signs its
/// `Content-Length`, so S3 refuses a body of any other size.
#[async_trait]
impl UrlPresigner for S3ObjectStore {
    async fn presign_put(
        &self,
        key: &ObjectKey,
        size: u64,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<PresignedUrl, ObjectStoreError> {
        let mut action = self.bucket.put_object(Some(&self.credentials), key.as_str());
        action.headers_mut().insert("content-length", size.to_string());
        Ok(PresignedUrl {
            url: action.sign(lifetime(expires_at, now)).to_string(),
            method: "PUT",
            headers: vec![("Content-Length".into(), size.to_string())],
            expires_at,
        })
    }

    async fn presign_get(
        &self,
        key: &ObjectKey,
        filename: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<PresignedUrl, ObjectStoreError> {
        let mut action = self.bucket.get_object(Some(&self.credentials), key.as_str());
        action.query_mut().insert(
            "response-content-disposition",
            portcullis_domain::files::attachment_disposition(filename),
        );
        Ok(PresignedUrl {
            url: action.sign(lifetime(expires_at, now)).to_string(),
            method: "GET",
            headers: Vec::new(),
            expires_at,
        })
    }
}

/// `/health/ready`: the bucket answers a signed HEAD.
#[async_trait]
impl portcullis_application::ports::HealthCheck for S3ObjectStore {
    fn name(&self) -> &'static str {
        "s3"
    }

    async fn check(&self) -> Result<(), portcullis_application::ports::StoreError> {
        let url = self.bucket.head_bucket(Some(&self.credentials)).sign(REQUEST_SIGNATURE_TTL);
        let response =
            self.http.head(url).send().await.map_err(|e| {
                portcullis_application::ports::StoreError::Unavailable(Cause::context("s3", e))
            })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(portcullis_application::ports::StoreError::Unavailable(Cause::from(format!(
                "S3 bucket HEAD answered {}",
                response.status()
            ))))
        }
    }
}
