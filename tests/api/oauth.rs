//! The OAuth 2.0 / OpenID Connect adapter against a small provider the test
//! starts on a free port (discovery, JWKS, authorize, token, and GitHub's
//! profile calls): the whole code flow with PKCE and a nonce, and each way it
//! must fail.

use crate::stand_ins::{Misbehaviour, OAuthStandIn, Profile};
use portcullis_application::ports::{IdentityProviders, OAuthRefusal, ProviderError};
use portcullis_domain::secret::Secret;
use portcullis_infrastructure::oauth::{OAuthProviders, ProviderConfig, ProviderKind};
use std::collections::HashMap;
use std::time::Duration;

const REDIRECT: &str = "http://localhost:8080/api/v1/oauth/test/callback";

fn providers(stand_in: &OAuthStandIn) -> OAuthProviders {
    let config = |name: &str, kind: ProviderKind, scopes: &[&str]| ProviderConfig {
        name: name.into(),
        client_id: stand_in.client_id.clone(),
        client_secret: Secret::new(stand_in.client_secret.clone()),
        kind,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    };
    let i = &stand_in.issuer;
    OAuthProviders::new(
        vec![
            config("test", ProviderKind::Oidc { issuer: i.clone() }, &["openid", "email", "profile"]),
            config(
                "github",
                ProviderKind::GitHub {
                    authorize_url: format!("{i}/authorize"),
                    token_url: format!("{i}/token"),
                    api_url: i.clone(),
                },
                &["read:user", "user:email"],
            ),
        ],
        Duration::from_secs(5),
    )
    .unwrap()
}

/// What the browser does: follow the authorization URL to the provider,
/// which signs the user in and redirects back; returns the callback's query.
async fn authorize(url: &str) -> HashMap<String, String> {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 302, "{url}");
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    url::Url::parse(&location).unwrap().query_pairs().into_owned().collect()
}

#[tokio::test]
async fn the_code_flow_with_pkce_and_a_nonce_says_who_signed_in() {
    let stand_in = OAuthStandIn::start();
    let providers = providers(&stand_in);
    assert_eq!(providers.names(), vec!["github", "test"]);
    let start = providers.start("test", REDIRECT).await.unwrap();
    let query: HashMap<String, String> =
        url::Url::parse(&start.url).unwrap().query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["state"], start.state.expose());
    assert_eq!(query["nonce"], start.nonce.clone().unwrap().expose());
    assert!(query["scope"].contains("openid"));
    assert_ne!(query["code_challenge"], start.pkce_verifier.expose(), "only the hash travels");

    let callback = authorize(&start.url).await;
    assert_eq!(callback["state"], start.state.expose());
    let code = Secret::new(callback["code"].clone());
    let (identity, tokens) =
        providers.finish("test", REDIRECT, &code, &start.pkce_verifier, start.nonce.clone()).await.unwrap();
    assert_eq!(identity.subject, "1001");
    assert_eq!(identity.email.as_deref(), Some("ada@example.com"));
    assert!(identity.email_verified);
    assert_eq!(identity.name.as_deref(), Some("Ada Lovelace"));
    assert!(!tokens.access_token.expose().is_empty());
    assert!(tokens.refresh_token.is_some());

    // A code is exchanged once.
    let again = providers.finish("test", REDIRECT, &code, &start.pkce_verifier, start.nonce.clone()).await;
    assert_eq!(again.unwrap_err(), ProviderError::Refused(OAuthRefusal::CodeRejected));
}

#[tokio::test]
async fn a_wrong_verifier_nonce_key_or_audience_is_refused() {
    let stand_in = OAuthStandIn::start();
    let providers = providers(&stand_in);

    // PKCE: a code intercepted without its verifier is worthless.
    let start = providers.start("test", REDIRECT).await.unwrap();
    let code = Secret::new(authorize(&start.url).await["code"].clone());
    let err =
        providers.finish("test", REDIRECT, &code, &Secret::new("x".repeat(43)), start.nonce.clone()).await;
    assert_eq!(err.unwrap_err(), ProviderError::Refused(OAuthRefusal::CodeRejected));

    let cases = [
        (Misbehaviour::WrongNonce, OAuthRefusal::NonceMismatch),
        (Misbehaviour::ForeignKey, OAuthRefusal::InvalidIdToken),
        (Misbehaviour::WrongAudience, OAuthRefusal::InvalidIdToken),
    ];
    for (how, refusal) in cases {
        stand_in.misbehave(how);
        let start = providers.start("test", REDIRECT).await.unwrap();
        let code = Secret::new(authorize(&start.url).await["code"].clone());
        let err = providers.finish("test", REDIRECT, &code, &start.pkce_verifier, start.nonce.clone()).await;
        assert_eq!(err.unwrap_err(), ProviderError::Refused(refusal), "{how:?}");
    }
    stand_in.misbehave(Misbehaviour::None);

    // A nonce that was never sent cannot be matched by any token.
    let start = providers.start("test", REDIRECT).await.unwrap();
    let code = Secret::new(authorize(&start.url).await["code"].clone());
    let err =
        providers.finish("test", REDIRECT, &code, &start.pkce_verifier, Some(Secret::new("other"))).await;
    assert_eq!(err.unwrap_err(), ProviderError::Refused(OAuthRefusal::NonceMismatch));
}

#[tokio::test]
async fn an_unverified_address_is_reported_as_such() {
    let stand_in = OAuthStandIn::start();
    let providers = providers(&stand_in);
    stand_in.sign_in_as(Profile {
        subject: "2002".into(),
        email: "bob@example.com".into(),
        email_verified: false,
    });
    let start = providers.start("test", REDIRECT).await.unwrap();
    let code = Secret::new(authorize(&start.url).await["code"].clone());
    let (identity, _) =
        providers.finish("test", REDIRECT, &code, &start.pkce_verifier, start.nonce.clone()).await.unwrap();
    assert_eq!((identity.subject.as_str(), identity.email_verified), ("2002", false));
}

#[tokio::test]
async fn github_says_who_signed_in_through_its_api() {
    let stand_in = OAuthStandIn::start();
    let providers = providers(&stand_in);
    let start = providers.start("github", REDIRECT).await.unwrap();
    assert!(start.nonce.is_none(), "plain OAuth: no nonce");
    let code = Secret::new(authorize(&start.url).await["code"].clone());
    let (identity, _) =
        providers.finish("github", REDIRECT, &code, &start.pkce_verifier, None).await.unwrap();
    assert_eq!(identity.subject, "1001");
    assert_eq!((identity.email.as_deref(), identity.email_verified), (Some("ada@example.com"), true));

    // Only an unverified address: reported, flagged unverified.
    stand_in.set_github_emails(
        serde_json::json!([{ "email": "ada@old.example", "primary": true, "verified": false }]),
    );
    let start = providers.start("github", REDIRECT).await.unwrap();
    let code = Secret::new(authorize(&start.url).await["code"].clone());
    let (identity, _) =
        providers.finish("github", REDIRECT, &code, &start.pkce_verifier, None).await.unwrap();
    assert!(!identity.email_verified);
}

#[tokio::test]
async fn a_provider_that_is_down_or_unknown_is_told_apart() {
    let stand_in = OAuthStandIn::start();
    let providers = providers(&stand_in);
    stand_in.misbehave(Misbehaviour::Down);
    let err = providers.start("test", REDIRECT).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
    assert_eq!(providers.start("nope", REDIRECT).await.unwrap_err(), ProviderError::UnknownProvider);

    // Discovered while up; its token endpoint then goes down.
    stand_in.misbehave(Misbehaviour::None);
    let start = providers.start("test", REDIRECT).await.unwrap();
    let code = Secret::new(authorize(&start.url).await["code"].clone());
    stand_in.misbehave(Misbehaviour::Down);
    let err = providers.finish("test", REDIRECT, &code, &start.pkce_verifier, start.nonce.clone()).await;
    assert!(matches!(err, Err(ProviderError::Unavailable(_))), "{err:?}");

    // Nobody listening at all.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let nowhere = OAuthProviders::new(
        vec![ProviderConfig {
            name: "gone".into(),
            client_id: "c".into(),
            client_secret: Secret::new("s"),
            kind: ProviderKind::Oidc { issuer: format!("http://127.0.0.1:{port}") },
            scopes: vec!["openid".into()],
        }],
        Duration::from_secs(2),
    )
    .unwrap();
    assert!(matches!(nowhere.start("gone", REDIRECT).await, Err(ProviderError::Unavailable(_))));
}
