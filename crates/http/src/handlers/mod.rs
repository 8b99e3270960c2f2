//! Route handlers, one module per area.

pub mod admin;
pub mod auth;
pub mod files;
pub mod live;
pub mod mailed_links;
pub mod operations;
pub mod pages;
pub mod storage;
pub mod users;

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};

/// Token-bearing answers must not be cached by browsers or proxies.
pub(crate) fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
