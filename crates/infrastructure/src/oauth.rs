//! Sign-in with OAuth 2.0 / OpenID Connect providers. The oauth2 crate
//! builds the authorization URL (state, PKCE S256) and exchanges the code,
//! through a closure over the project's reqwest client (no second HTTP
//! stack, no redirects followed). OpenID Connect providers are found by
//! discovery (`{issuer}/.well-known/openid-configuration`) and their ID
//! tokens verified with jsonwebtoken against the provider's JWKS: signature,
//! `iss`, `aud`, `exp`, then the `nonce`. GitHub has no ID token: its REST
//! API says who signed in and which addresses are verified.

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use portcullis_application::Cause;
use portcullis_application::ports::{
    AuthorizationStart, IdentityProviders, OAuthRefusal, ProviderError, ProviderIdentity, ProviderTokens,
};
use portcullis_domain::secret::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// How a provider is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenID Connect: endpoints and keys by discovery from the issuer.
    Oidc { issuer: String },
    /// GitHub: OAuth 2.0 and its REST API (no ID token).
    GitHub { authorize_url: String, token_url: String, api_url: String },
}

/// One entry of `OAUTH_PROVIDERS`.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub kind: ProviderKind,
    pub scopes: Vec<String>,
}

/// Discovery and keys, kept for an hour (keys again on an unknown `kid`).
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Clock skew allowed on `exp`/`iat`.
const LEEWAY_SECONDS: u64 = 60;

struct Discovered {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks: JwkSet,
    fetched_at: Instant,
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
}

/// The ID token riding along with the token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type Tokens = StandardTokenResponse<IdTokenField, BasicTokenType>;
type Client = oauth2::Client<
    BasicErrorResponse,
    Tokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The claims of an ID token that are read (the rest is checked by
/// jsonwebtoken's validation).
#[derive(Deserialize)]
struct IdClaims {
    sub: String,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
    /// A boolean, or (some providers) the string "true".
    #[serde(default)]
    email_verified: Option<Value>,
    #[serde(default)]
    name: Option<String>,
}

/// The reqwest failure the oauth2 crate sees.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpFailure(String);

pub struct OAuthProviders {
    http: reqwest::Client,
    providers: HashMap<String, ProviderConfig>,
    discovered: Mutex<HashMap<String, Arc<Discovered>>>,
}

fn unavailable(what: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> ProviderError {
    ProviderError::Unavailable(Cause::context(what, e))
}

fn misconfigured(what: String) -> ProviderError {
    ProviderError::Unavailable(Cause::from(what))
}

/// One HTTP exchange for the oauth2 crate, through our client.
async fn send(
    http: reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, HttpFailure> {
    let (parts, body) = request.into_parts();
    let mut builder = http.request(parts.method, parts.uri.to_string()).body(body);
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let response = builder.send().await.map_err(|e| HttpFailure(e.to_string()))?;
    let mut out = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        out = out.header(name, value);
    }
    let body = response.bytes().await.map_err(|e| HttpFailure(e.to_string()))?;
    out.body(body.to_vec()).map_err(|e| HttpFailure(e.to_string()))
}

impl OAuthProviders {
    pub fn new(providers: Vec<ProviderConfig>, timeout: Duration) -> Result<Self, OAuthSetupError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // A provider's answers are read where they land; a redirect is
            // never followed (no request is steered elsewhere).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(OAuthSetupError)?;
        Ok(Self {
            http,
            providers: providers.into_iter().map(|p| (p.name.clone(), p)).collect(),
            discovered: Mutex::default(),
        })
    }

    fn provider(&self, name: &str) -> Result<&ProviderConfig, ProviderError> {
        self.providers.get(name).ok_or(ProviderError::UnknownProvider)
    }

    async fn get_json(&self, url: &str, bearer: Option<&str>) -> Result<Value, ProviderError> {
        let mut request =
            self.http.get(url).header("accept", "application/json").header("user-agent", "Portcullis");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response =
            request.send().await.map_err(|e| unavailable("the provider could not be reached", e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(misconfigured(format!("the provider answered {status} to GET {url}")));
        }
        response.json().await.map_err(|e| unavailable("the provider's answer is not JSON", e))
    }

    /// The issuer's metadata and keys (cached; `refresh` fetches again).
    async fn discover(
        &self,
        name: &str,
        issuer: &str,
        refresh: bool,
    ) -> Result<Arc<Discovered>, ProviderError> {
        if !refresh {
            let cached = super::memory::lock(&self.discovered).get(name).cloned();
            if let Some(d) = cached.filter(|d| d.fetched_at.elapsed() < METADATA_TTL) {
                return Ok(d);
            }
        }
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let metadata: Metadata = serde_json::from_value(self.get_json(&url, None).await?)
            .map_err(|e| unavailable("the discovery document lacks an endpoint", e))?;
        // The document must be the issuer's own (OpenID Connect Discovery §4.3).
        if metadata.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(misconfigured(format!(
                "the discovery document names issuer {:?}, not {issuer:?}",
                metadata.issuer
            )));
        }
        let jwks: JwkSet = serde_json::from_value(self.get_json(&metadata.jwks_uri, None).await?)
            .map_err(|e| unavailable("the provider's JWKS does not parse", e))?;
        let discovered = Arc::new(Discovered {
            issuer: metadata.issuer,
            authorization_endpoint: metadata.authorization_endpoint,
            token_endpoint: metadata.token_endpoint,
            userinfo_endpoint: metadata.userinfo_endpoint,
            jwks,
            fetched_at: Instant::now(),
        });
        super::memory::lock(&self.discovered).insert(name.to_owned(), discovered.clone());
        Ok(discovered)
    }

    /// The endpoints of `provider`.
    async fn endpoints(&self, provider: &ProviderConfig) -> Result<(String, String), ProviderError> {
        Ok(match &provider.kind {
            ProviderKind::Oidc { issuer } => {
                let d = self.discover(&provider.name, issuer, false).await?;
                (d.authorization_endpoint.clone(), d.token_endpoint.clone())
            }
            ProviderKind::GitHub { authorize_url, token_url, .. } => {
                (authorize_url.clone(), token_url.clone())
            }
        })
    }

    fn client(
        provider: &ProviderConfig,
        endpoints: &(String, String),
        redirect_uri: &str,
    ) -> Result<Client, ProviderError> {
        let url = |what: &str, u: &str| misconfigured(format!("{what} {u:?} is not a URL"));
        Ok(oauth2::Client::new(ClientId::new(provider.client_id.clone()))
            .set_client_secret(ClientSecret::new(provider.client_secret.expose().to_owned()))
            .set_auth_uri(
                AuthUrl::new(endpoints.0.clone()).map_err(|_| url("authorization endpoint", &endpoints.0))?,
            )
            .set_token_uri(
                TokenUrl::new(endpoints.1.clone()).map_err(|_| url("token endpoint", &endpoints.1))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(redirect_uri.to_owned()).map_err(|_| url("redirect URI", redirect_uri))?,
            ))
    }

    /// Verifies an ID token against the issuer's keys and the nonce sent.
    async fn verify_id_token(
        &self,
        provider: &ProviderConfig,
        issuer: &str,
        token: &str,
        nonce: Option<&Secret>,
    ) -> Result<ProviderIdentity, ProviderError> {
        let invalid = ProviderError::Refused(OAuthRefusal::InvalidIdToken);
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid.clone())?;
        // Public-key algorithms only: an HMAC token would be "signed" with the
        // client secret, and `none` with nothing.
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
                | Algorithm::PS256
        ) {
            return Err(invalid);
        }
        let mut discovered = self.discover(&provider.name, issuer, false).await?;
        let find = |d: &Discovered| match &header.kid {
            Some(kid) => d.jwks.find(kid).cloned(),
            None => (d.jwks.keys.len() == 1).then(|| d.jwks.keys[0].clone()),
        };
        let jwk = match find(&discovered) {
            Some(jwk) => jwk,
            None => {
                // Keys rotate: fetch them again once.
                discovered = self.discover(&provider.name, issuer, true).await?;
                find(&discovered).ok_or(invalid.clone())?
            }
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid.clone())?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[provider.client_id.as_str()]);
        validation.set_issuer(&[discovered.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation).map_err(|_| invalid)?.claims;
        let nonce_matches = match (nonce, &claims.nonce) {
            (Some(sent), Some(got)) => bool::from(sent.expose().as_bytes().ct_eq(got.as_bytes())),
            (None, _) => true,
            (Some(_), None) => false,
        };
        if !nonce_matches {
            return Err(ProviderError::Refused(OAuthRefusal::NonceMismatch));
        }
        let verified = match claims.email_verified {
            Some(Value::Bool(b)) => b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        Ok(ProviderIdentity {
            subject: claims.sub,
            email: claims.email,
            email_verified: verified,
            name: claims.name,
        })
    }

    /// Fills the address (and name) from the UserInfo endpoint, when the
    /// provider has one and it speaks of the ID token's subject.
    async fn with_userinfo(
        &self,
        provider: &ProviderConfig,
        issuer: &str,
        mut identity: ProviderIdentity,
        access_token: &str,
    ) -> Result<ProviderIdentity, ProviderError> {
        let discovered = self.discover(&provider.name, issuer, false).await?;
        let Some(endpoint) = discovered.userinfo_endpoint.as_deref() else { return Ok(identity) };
        let info = self.get_json(endpoint, Some(access_token)).await?;
        if info["sub"].as_str() != Some(identity.subject.as_str()) {
            return Err(ProviderError::Refused(OAuthRefusal::NoIdentity));
        }
        identity.email = info["email"].as_str().map(str::to_owned);
        identity.email_verified = matches!(&info["email_verified"], Value::Bool(true))
            || info["email_verified"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"));
        identity.name = identity.name.or_else(|| info["name"].as_str().map(str::to_owned));
        Ok(identity)
    }

    /// GitHub's user and its best address: the primary one if verified,
    /// else any verified one, else the profile's (unverified).
    async fn github_identity(
        &self,
        api_url: &str,
        access_token: &str,
    ) -> Result<ProviderIdentity, ProviderError> {
        let api = api_url.trim_end_matches('/');
        let user = self.get_json(&format!("{api}/user"), Some(access_token)).await?;
        let subject = match &user["id"] {
            Value::Number(n) => n.to_string(),
            Value::String(s) if !s.is_empty() => s.clone(),
            _ => return Err(ProviderError::Refused(OAuthRefusal::NoIdentity)),
        };
        let emails = self.get_json(&format!("{api}/user/emails"), Some(access_token)).await?;
        let emails = emails.as_array().cloned().unwrap_or_default();
        let verified = |e: &&Value| e["verified"] == Value::Bool(true);
        let chosen = emails
            .iter()
            .filter(verified)
            .find(|e| e["primary"] == Value::Bool(true))
            .or_else(|| emails.iter().find(verified));
        let (email, email_verified) = match chosen {
            Some(e) => (e["email"].as_str().map(str::to_owned), true),
            None => (user["email"].as_str().map(str::to_owned), false),
        };
        let name = user["name"].as_str().or(user["login"].as_str()).map(str::to_owned);
        Ok(ProviderIdentity { subject, email, email_verified, name })
    }
}

/// The HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("the HTTP client for OAuth providers could not be built")]
pub struct OAuthSetupError(#[source] reqwest::Error);

#[async_trait]
impl IdentityProviders for OAuthProviders {
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.providers.keys().cloned().collect();
        names.sort();
        names
    }

    async fn start(&self, provider: &str, redirect_uri: &str) -> Result<AuthorizationStart, ProviderError> {
        let provider = self.provider(provider)?;
        let endpoints = self.endpoints(provider).await?;
        let client = Self::client(provider, &endpoints, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let oidc = matches!(provider.kind, ProviderKind::Oidc { .. });
        let nonce = oidc.then(|| CsrfToken::new_random().secret().to_owned());
        let mut request = client.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge);
        for scope in &provider.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(nonce) = &nonce {
            request = request.add_extra_param("nonce", nonce.clone());
        }
        let (url, state) = request.url();
        Ok(AuthorizationStart {
            url: url.to_string(),
            state: Secret::new(state.secret().to_owned()),
            pkce_verifier: Secret::new(verifier.secret().to_owned()),
            nonce: nonce.map(Secret::new),
        })
    }

    async fn finish(
        &self,
        provider: &str,
        redirect_uri: &str,
        code: &Secret,
        pkce_verifier: &Secret,
        nonce: Option<Secret>,
    ) -> Result<(ProviderIdentity, ProviderTokens), ProviderError> {
        let provider = self.provider(provider)?;
        let endpoints = self.endpoints(provider).await?;
        let client = Self::client(provider, &endpoints, redirect_uri)?;
        let http = self.http.clone();
        let send = move |request| send(http.clone(), request);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.expose().to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.expose().to_owned()))
            .request_async(&send)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(_) => ProviderError::Refused(OAuthRefusal::CodeRejected),
                RequestTokenError::Request(e) => unavailable("the token endpoint could not be reached", e),
                other => misconfigured(format!("the token endpoint answered nonsense: {other}")),
            })?;
        let identity = match &provider.kind {
            ProviderKind::Oidc { issuer } => {
                let id_token = tokens
                    .extra_fields()
                    .id_token
                    .as_deref()
                    .ok_or(ProviderError::Refused(OAuthRefusal::InvalidIdToken))?;
                let identity = self.verify_id_token(provider, issuer, id_token, nonce.as_ref()).await?;
                match identity.email {
                    Some(_) => identity,
                    // Some providers leave the address out of the ID token:
                    // ask the UserInfo endpoint, for the same subject only.
                    None => {
                        self.with_userinfo(provider, issuer, identity, tokens.access_token().secret()).await?
                    }
                }
            }
            ProviderKind::GitHub { api_url, .. } => {
                self.github_identity(api_url, tokens.access_token().secret()).await?
            }
        };
        let provider_tokens = ProviderTokens {
            access_token: Secret::new(tokens.access_token().secret().to_owned()),
            refresh_token: tokens.refresh_token().map(|t| Secret::new(t.secret().to_owned())),
            expires_in: tokens.expires_in().and_then(|d| time::Duration::try_from(d).ok()),
        };
        Ok((identity, provider_tokens))
    }
}
