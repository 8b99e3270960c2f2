//! The HTTP adapter: actix-web routes, DTOs, the error envelope, middleware.
//! This crate alone knows about status codes.

pub mod body_deadline;
pub mod browser;
pub mod caller;
pub mod client_ip;
pub mod dto;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod limits;
pub mod log_throttle;
pub mod openapi;
pub mod policy;
pub mod rate_limit;
pub mod request_context;
pub mod request_id;
pub mod state;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{
    App, FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, Route, middleware, web,
};
use error::ApiError;
use handlers::{
    admin, audit, auth, devices, files, invitations, live, mailed_links, mfa, oauth, operations, pages,
    roles, sessions, storage, user_admin, users, webauthn,
};
use limits::RouteClass::{self, Credential, General};
use openapi::ApiDoc;
use portcullis_application::access::{Permission, permissions as perm};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub use state::AppState;

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let limit = match &err {
        JsonPayloadError::OverflowKnownLength { limit, .. } | JsonPayloadError::Overflow { limit } => {
            Some(*limit)
        }
        _ => None,
    };
    match (err, limit) {
        (_, Some(limit)) => ApiError::PayloadTooLarge { limit },
        (JsonPayloadError::Payload(e), _) if body_deadline::is_timeout(&e) => ApiError::RequestTimeout,
        (JsonPayloadError::ContentType, _) => ApiError::UnsupportedMediaType { expected: "application/json" },
        (JsonPayloadError::Deserialize(e), _) => ApiError::BadRequest(e.to_string()),
        (other, _) => ApiError::BadRequest(other.to_string()),
    }
    .into()
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::BadRequest(err.to_string()).into()
}

fn form_error(err: actix_web::error::UrlencodedError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::BadRequest(err.to_string()).into()
}

async fn not_found() -> Result<(), ApiError> {
    Err(ApiError::NotFound)
}

/// `/docs` → `/docs/`, where the Swagger UI lives.
async fn docs_redirect() -> actix_web::HttpResponse {
    actix_web::HttpResponse::PermanentRedirect().insert_header(("Location", "/docs/")).finish()
}

/// A route's method and handler, so its resource can answer other methods
/// with 405 and an `Allow` header naming the one it serves.
struct Endpoint {
    method: Method,
    route: Route,
    /// The handler reads a streamed body (an upload): no handler deadline,
    /// the body deadline paces it.
    streams_body: bool,
    /// The permission the caller must hold (enforced by [`policy::require`]
    /// before the handler runs); `None`: public, or any signed-in caller.
    requires: Option<Permission>,
}

impl Endpoint {
    /// Declares the permission this endpoint needs.
    fn requires(self, permission: Permission) -> Self {
        Self { requires: Some(permission), ..self }
    }
}

macro_rules! endpoint_fn {
    ($name:ident, $method:ident, $web:ident) => {
        fn $name<F, Args>(handler: F) -> Endpoint
        where
            F: Handler<Args>,
            Args: FromRequest + 'static,
            F::Output: Responder + 'static,
        {
            Endpoint {
                method: Method::$method,
                route: web::$web().to(handler),
                streams_body: false,
                requires: None,
            }
        }
    };
}
endpoint_fn!(get, GET, get);
endpoint_fn!(post, POST, post);
endpoint_fn!(patch, PATCH, patch);
endpoint_fn!(put, PUT, put);
endpoint_fn!(delete, DELETE, delete);

/// An endpoint whose handler streams the request body (see [`Endpoint`]).
fn streaming(endpoint: Endpoint) -> Endpoint {
    Endpoint { streams_body: true, ..endpoint }
}

/// A resource whose other methods answer 405 in the envelope.
fn resource(path: &str, endpoint: Endpoint) -> Resource {
    resource_of(path, vec![endpoint])
}

/// A resource serving several methods; the others answer 405 naming them.
fn resource_of(path: &str, endpoints: Vec<Endpoint>) -> Resource {
    let allow: Vec<&str> = endpoints.iter().map(|e| e.method.as_str()).collect();
    let allow = allow.join(", ");
    endpoints
        .into_iter()
        .fold(web::resource(path), |resource, endpoint| resource.route(endpoint.route))
        .default_service(not_allowed(&allow))
}

/// Answers 405 with the methods a resource serves in `Allow`.
fn not_allowed(allow: &str) -> Route {
    let allow = allow.to_owned();
    web::to(move || {
        let allow = allow.clone();
        async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) }
    })
}

/// A page of the mailed links: the form (GET) and its action (POST, on the
/// route's credential budget).
fn link_page<G, GA, P, PA>(path: &str, route: &'static str, form: G, action: P) -> Resource
where
    G: Handler<GA>,
    GA: FromRequest + 'static,
    G::Output: Responder + 'static,
    P: Handler<PA>,
    PA: FromRequest + 'static,
    P::Output: Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(form))
        .route(limited(Credential(route), web::post().to(action)))
        .default_service(not_allowed("GET, POST"))
}

/// An API route with its rate-limit class, declared here with the route: the
/// limit follows the route that matched (whatever the spelling of the raw
/// path), and a request for a method the route does not serve spends nothing.
fn api(path: &str, class: RouteClass, endpoint: Endpoint) -> Resource {
    api_of(path, class, vec![endpoint])
}

/// [`api`] for a path serving several methods, all in one class.
fn api_of(path: &str, class: RouteClass, endpoints: Vec<Endpoint>) -> Resource {
    let limited = endpoints
        .into_iter()
        .map(|e| {
            // Innermost: the policy runs after the rate limit and inside the deadline.
            let route = match e.requires.clone() {
                Some(permission) => {
                    e.route.wrap(middleware::from_fn(move |req: ServiceRequest, next: Next<BoxBody>| {
                        policy::require(permission.clone(), req, next)
                    }))
                }
                None => e.route,
            };
            Endpoint {
                method: e.method,
                route: if e.streams_body { rate_limited(class, route) } else { limited(class, route) },
                streams_body: e.streams_body,
                requires: e.requires,
            }
        })
        .collect();
    resource_of(path, limited)
}

/// A route on its rate-limit class, cut off at the request deadline.
fn limited(class: RouteClass, route: Route) -> Route {
    rate_limited(class, route.wrap(middleware::from_fn(browser::handler_deadline)))
}

/// A route on its rate-limit class, without a handler deadline (it streams
/// a body; the body deadline paces it).
fn rate_limited(class: RouteClass, route: Route) -> Route {
    route.wrap(middleware::from_fn(move |req: ServiceRequest, next: Next<BoxBody>| {
        rate_limit::per_route(class, req, next)
    }))
}

/// The whole application: middleware, routes, docs.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let json_limit = state.json_limit;
    let magic_link_enabled = state.magic_link_enabled;
    let body_deadline = body_deadline::BodyDeadline(state.body_timeout);
    let cors = browser::cors(&state.browser);
    App::new()
        .app_data(body_deadline)
        .app_data(web::Data::new(state))
        .app_data(web::JsonConfig::default().limit(json_limit).error_handler(json_error))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::FormConfig::default().limit(16 * 1024).error_handler(form_error))
        .service(
            web::scope("/api/v1")
                .service(api("/auth/register", Credential("register"), post(auth::register)))
                .service(api("/auth/login", Credential("login"), post(auth::login)))
                .service(api("/auth/refresh", General, post(auth::refresh)))
                .service(api("/auth/logout", General, post(auth::logout)))
                .service(api("/auth/me", General, get(auth::me)))
                .service(api("/auth/mfa", General, get(mfa::status)))
                .service(api("/auth/mfa/totp/setup", General, post(mfa::totp_setup)))
                .service(api("/auth/mfa/totp/verify", Credential("mfa_verify"), post(mfa::totp_verify)))
                .service(api(
                    "/auth/mfa/backup-codes/regenerate",
                    Credential("mfa_verify"),
                    post(mfa::regenerate_backup_codes),
                ))
                .service(api("/auth/mfa/disable", Credential("mfa_verify"), post(mfa::disable)))
                .service(api("/auth/mfa/challenge", Credential("mfa_challenge"), post(mfa::challenge)))
                .service(api(
                    "/auth/mfa/challenge/sms",
                    Credential("mfa_challenge"),
                    post(mfa::challenge_sms),
                ))
                .service(api("/auth/mfa/sms/setup", General, post(mfa::sms_setup)))
                .service(api("/auth/mfa/sms/verify", Credential("mfa_verify"), post(mfa::sms_verify)))
                .service(api("/auth/mfa/sms/send", General, post(mfa::sms_send)))
                .service(api("/auth/reauthenticate", Credential("reauthenticate"), post(mfa::reauthenticate)))
                .service(api(
                    "/auth/mfa/challenge/security-key",
                    Credential("mfa_challenge"),
                    post(webauthn::challenge_start),
                ))
                .service(api(
                    "/auth/mfa/challenge/security-key/finish",
                    Credential("mfa_challenge"),
                    post(webauthn::challenge_finish),
                ))
                .service(api("/auth/webauthn/register/start", General, post(webauthn::register_start)))
                .service(api(
                    "/auth/webauthn/register/finish",
                    Credential("webauthn_register"),
                    post(webauthn::register_finish),
                ))
                .service(api("/auth/webauthn/credentials", General, get(webauthn::list)))
                .service(api_of(
                    "/auth/webauthn/credentials/{id}",
                    General,
                    vec![patch(webauthn::rename), delete(webauthn::remove)],
                ))
                .service(api(
                    "/auth/passkeys/sign-in/start",
                    Credential("passkey_sign_in"),
                    post(webauthn::sign_in_start),
                ))
                .service(api(
                    "/auth/passkeys/sign-in/finish",
                    Credential("passkey_sign_in"),
                    post(webauthn::sign_in_finish),
                ))
                .service(api("/oauth/accounts", General, get(oauth::accounts)))
                .service(api("/oauth/accounts/{id}", General, delete(oauth::unlink)))
                .service(api("/oauth/link/confirm", Credential("oauth_link"), post(oauth::confirm_link)))
                .service(api("/oauth/{provider}/authorize", Credential("oauth"), get(oauth::authorize)))
                .service(api("/oauth/{provider}/link", General, post(oauth::link)))
                .service(api("/oauth/{provider}/callback", Credential("oauth"), get(oauth::callback)))
                .service(api("/users/me", General, patch(users::update_me)))
                .service(api("/users/me/password", General, post(users::change_password)))
                .service(api("/users/me/activity", General, get(users::activity)))
                .service(api_of(
                    "/sessions",
                    General,
                    vec![get(sessions::list), delete(sessions::revoke_others)],
                ))
                .service(api("/sessions/{id}", General, delete(sessions::revoke)))
                .service(api("/devices", General, get(devices::list)))
                .service(api("/devices/{id}/trust", General, put(devices::trust)))
                .service(api("/devices/{id}", General, delete(devices::remove)))
                .service(api("/auth/verify-email", General, post(mailed_links::verify_email)))
                .service(api(
                    "/auth/verify-email/resend",
                    Credential("verification_resend"),
                    post(mailed_links::resend_verification),
                ))
                .service(api(
                    "/auth/password/forgot",
                    Credential("password_forgot"),
                    post(mailed_links::forgot_password),
                ))
                .service(api(
                    "/auth/password/reset",
                    Credential("password_reset"),
                    post(mailed_links::reset_password),
                ))
                // MAGIC_LINK_ENABLED=false: the method is off, its routes 404.
                .configure(|routes| {
                    if magic_link_enabled {
                        routes
                            .service(api(
                                "/auth/magic-link",
                                Credential("magic_link"),
                                post(mailed_links::request_magic_link),
                            ))
                            .service(api(
                                "/auth/magic-link/verify",
                                Credential("magic_link_verify"),
                                post(mailed_links::verify_magic_link),
                            ));
                    }
                })
                .service(api_of(
                    "/files",
                    General,
                    vec![
                        streaming(post(files::upload)).requires(perm::FILES_WRITE),
                        get(files::list).requires(perm::FILES_READ),
                    ],
                ))
                .service(api(
                    "/files/upload-url",
                    General,
                    post(files::upload_url).requires(perm::FILES_WRITE),
                ))
                .service(api(
                    "/files/{id}/confirm",
                    General,
                    post(files::confirm).requires(perm::FILES_WRITE),
                ))
                .service(api(
                    "/files/{id}/download-url",
                    General,
                    get(files::download_url).requires(perm::FILES_READ),
                ))
                .service(api_of(
                    "/files/{id}",
                    General,
                    vec![
                        get(files::get).requires(perm::FILES_READ),
                        delete(files::delete).requires(perm::FILES_WRITE),
                    ],
                ))
                .service(api("/ws", General, get(live::socket).requires(perm::FILES_READ)))
                .service(api("/admin/queues", General, get(admin::queues).requires(perm::QUEUES_READ)))
                .service(api(
                    "/admin/queues/{queue}/dead/{id}/retry",
                    General,
                    post(admin::retry_dead).requires(perm::QUEUES_WRITE),
                ))
                .service(api("/admin/audit-logs", General, get(audit::list).requires(perm::AUDIT_READ)))
                .service(api("/admin/users", General, get(user_admin::list).requires(perm::USERS_READ)))
                .service(api(
                    "/admin/users/{id}",
                    General,
                    get(user_admin::detail).requires(perm::USERS_READ),
                ))
                .service(api(
                    "/admin/users/{id}/lock",
                    General,
                    post(user_admin::lock).requires(perm::USERS_LOCK),
                ))
                .service(api(
                    "/admin/users/{id}/unlock",
                    General,
                    post(user_admin::unlock).requires(perm::USERS_LOCK),
                ))
                .service(api(
                    "/admin/users/{id}/sessions",
                    General,
                    delete(user_admin::end_sessions).requires(perm::USERS_LOCK),
                ))
                .service(api_of(
                    "/admin/roles",
                    General,
                    vec![
                        get(roles::list).requires(perm::ROLES_READ),
                        post(roles::create).requires(perm::ROLES_WRITE),
                    ],
                ))
                .service(api_of(
                    "/admin/roles/{id}",
                    General,
                    vec![
                        put(roles::update).requires(perm::ROLES_WRITE),
                        delete(roles::delete).requires(perm::ROLES_WRITE),
                    ],
                ))
                .service(api_of(
                    "/admin/invitations",
                    General,
                    vec![
                        get(invitations::list).requires(perm::INVITATIONS_READ),
                        post(invitations::create).requires(perm::INVITATIONS_WRITE),
                    ],
                ))
                .service(api(
                    "/admin/invitations/{id}",
                    General,
                    delete(invitations::revoke).requires(perm::INVITATIONS_WRITE),
                ))
                .service(api(
                    "/auth/invitations/accept",
                    Credential("invitation_accept"),
                    post(invitations::accept),
                ))
                .service(api(
                    "/admin/users/{id}/roles",
                    General,
                    put(roles::set_user_roles).requires(perm::ROLES_ASSIGN),
                ))
                // Unknown API paths are limited like any other request.
                .default_service(limited(General, web::to(not_found))),
        )
        // The pages of the mailed links (served for APP_BASE_URL pointing here).
        .service(link_page(
            "/verify-email",
            "page_verify_email",
            pages::verify_email_page,
            pages::verify_email_submit,
        ))
        .service(link_page(
            "/reset-password",
            "page_reset_password",
            pages::reset_password_page,
            pages::reset_password_submit,
        ))
        .service(link_page(
            "/accept-invitation",
            "page_accept_invitation",
            pages::accept_invitation_page,
            pages::accept_invitation_submit,
        ))
        .configure(|routes| {
            if magic_link_enabled {
                routes
                    .service(link_page(
                        "/magic-link",
                        "page_magic_link",
                        pages::magic_link_page,
                        pages::magic_link_submit,
                    ))
                    .service(
                        web::resource("/magic-link/challenge")
                            .route(limited(
                                Credential("page_mfa_challenge"),
                                web::post().to(pages::magic_link_challenge_submit),
                            ))
                            .default_service(not_allowed("POST")),
                    );
            }
        })
        // Presigned links of the memory and local stores (the signature is
        // the credential); on the general budget per source.
        .service(resource_of(
            "/storage/{key:.*}",
            vec![
                Endpoint {
                    method: Method::GET,
                    route: limited(General, web::get().to(storage::download)),
                    streams_body: false,
                    requires: None,
                },
                Endpoint {
                    method: Method::PUT,
                    route: rate_limited(General, web::put().to(storage::upload)),
                    streams_body: true,
                    requires: None,
                },
            ],
        ))
        .service(resource("/health", get(operations::health)))
        .service(resource("/health/live", get(operations::live)))
        .service(resource("/health/ready", get(operations::ready)))
        .service(resource("/metrics", get(operations::metrics)))
        .service(resource("/.well-known/jwks.json", get(operations::jwks)))
        .service(resource("/docs", get(docs_redirect)))
        .service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", ApiDoc::openapi()))
        .default_service(web::to(not_found))
        .wrap(cors)
        .wrap(middleware::from_fn(body_deadline::body_deadline))
        .wrap(middleware::from_fn(browser::security_headers))
        .wrap(middleware::from_fn(request_context::request_context))
}
