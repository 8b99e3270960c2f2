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
async fn an_address_missing_from_the_id_token_comes_from_userinfo() {
    let stand_in = OAuthStandIn::start();
    let providers = providers(&stand_in);
    stand_in.misbehave(Misbehaviour::EmailOnlyFromUserinfo);
    let start = providers.start("test", REDIRECT).await.unwrap();
    let code = Secret::new(authorize(&start.url).await["code"].clone());
    let (identity, _) =
        providers.finish("test", REDIRECT, &code, &start.pkce_verifier, start.nonce.clone()).await.unwrap();
    assert_eq!((identity.email.as_deref(), identity.email_verified), (Some("ada@example.com"), true));
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

mod flow {
    //! The whole sign-in through the app's routes, the browser played by
    //! the test: authorize (302 to the stand-in), the stand-in's 302 back,
    //! the callback.
    use crate::helpers::*;
    use crate::mfa::{claims, enable};
    use crate::stand_ins::{Misbehaviour, OAuthStandIn, Profile};
    use serde_json::{Value, json};
    use time::Duration;

    async fn app_with(stand_in: &OAuthStandIn) -> TestApp {
        // The redirect base must be the app's own address, known only once it
        // listens: route through a fixed base and rewrite below.
        let i = stand_in.issuer.clone();
        let vars: Vec<(&str, String)> = vec![
            ("RATE_LIMIT_AUTH_MAX_REQUESTS", "100".into()),
            ("OAUTH_PROVIDERS", "corp,github".into()),
            ("OAUTH_CORP_CLIENT_ID", stand_in.client_id.clone()),
            ("OAUTH_CORP_CLIENT_SECRET", stand_in.client_secret.clone()),
            ("OAUTH_CORP_ISSUER", i.clone()),
            ("OAUTH_GITHUB_CLIENT_ID", stand_in.client_id.clone()),
            ("OAUTH_GITHUB_CLIENT_SECRET", stand_in.client_secret.clone()),
            ("OAUTH_GITHUB_AUTHORIZE_URL", format!("{i}/authorize")),
            ("OAUTH_GITHUB_TOKEN_URL", format!("{i}/token")),
            ("OAUTH_GITHUB_API_URL", i),
            ("OAUTH_REDIRECT_BASE_URL", "http://app.invalid".into()),
        ];
        let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        spawn_app_with(&borrowed).await
    }

    /// Follows authorize (or link, with a bearer) → provider; returns the
    /// callback URL the provider sends the browser to.
    async fn callback_url(app: &TestApp, provider: &str, bearer: Option<&str>) -> String {
        let to_provider = match bearer {
            None => {
                let res =
                    app.client.get(app.url(&format!("/api/v1/oauth/{provider}/authorize"))).send().await;
                let res = res.unwrap();
                assert_eq!(res.status(), 302);
                res.headers()["location"].to_str().unwrap().to_owned()
            }
            Some(token) => {
                let res = app.post_auth(&format!("/api/v1/oauth/{provider}/link"), token, &json!({})).await;
                assert_eq!(res.status(), 200);
                let body: Value = res.json().await.unwrap();
                body["authorize_url"].as_str().unwrap().to_owned()
            }
        };
        let res = app.client.get(&to_provider).send().await.unwrap();
        assert_eq!(res.status(), 302, "the stand-in signs in at once");
        res.headers()["location"].to_str().unwrap().replace("http://app.invalid", &app.address)
    }

    /// Follows authorize → provider → callback; returns the callback's answer.
    async fn sign_in_with(app: &TestApp, provider: &str, bearer: Option<&str>) -> reqwest::Response {
        let back = callback_url(app, provider, bearer).await;
        app.client.get(&back).send().await.unwrap()
    }

    #[tokio::test]
    async fn a_new_user_is_created_and_a_linked_user_signs_in() {
        let stand_in = OAuthStandIn::start();
        let app = app_with(&stand_in).await;
        let res = sign_in_with(&app, "corp", None).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body: Value = res.json().await.unwrap();
        let access = str_of(&body, "access_token").to_owned();
        assert_eq!(claims(&access)["amr"], json!(["fed"]));
        assert_eq!(body["user"]["email"], "ada@example.com");
        let accounts: Value = app.get_auth("/api/v1/oauth/accounts", &access).await.json().await.unwrap();
        assert_eq!(accounts["accounts"][0]["provider"], "corp");
        // No password was set: the password route refuses, the provider signs in again.
        expect_error(app.login("ada@example.com", PASSWORD).await, 401, "INVALID_CREDENTIALS").await;
        let again: Value = sign_in_with(&app, "corp", None).await.json().await.unwrap();
        assert_eq!(again["user"]["id"], body["user"]["id"], "the same user");
        // The only way in cannot be removed.
        let id = accounts["accounts"][0]["id"].as_str().unwrap();
        let res = app.delete_auth(&format!("/api/v1/oauth/accounts/{id}"), &access).await;
        expect_error(res, 409, "LAST_SIGN_IN_METHOD").await;
    }

    #[tokio::test]
    async fn forged_replayed_and_refused_callbacks() {
        let stand_in = OAuthStandIn::start();
        let app = app_with(&stand_in).await;
        let callback =
            |query: &str| app.client.get(app.url(&format!("/api/v1/oauth/corp/callback?{query}"))).send();
        expect_error(callback("code=x&state=forged").await.unwrap(), 401, "OAUTH_STATE_INVALID").await;
        let body =
            expect_error(callback("error=access_denied&state=s").await.unwrap(), 401, "OAUTH_REFUSED").await;
        assert_eq!(body["error"]["details"]["reason"], "denied");
        expect_error(callback("state=only").await.unwrap(), 400, "BAD_REQUEST").await;
        expect_error(
            app.client.get(app.url("/api/v1/oauth/nope/authorize")).send().await.unwrap(),
            404,
            "NOT_FOUND",
        )
        .await;

        // A callback is answered once: replaying it finds no state.
        let back = callback_url(&app, "corp", None).await;
        assert_eq!(app.client.get(&back).send().await.unwrap().status(), 200);
        expect_error(app.client.get(&back).send().await.unwrap(), 401, "OAUTH_STATE_INVALID").await;
        // A state issued for one provider does not complete another's callback.
        let back = callback_url(&app, "corp", None).await.replace("/corp/", "/github/");
        expect_error(app.client.get(&back).send().await.unwrap(), 401, "OAUTH_STATE_INVALID").await;

        // The ID token's nonce is not the one sent.
        stand_in.misbehave(Misbehaviour::WrongNonce);
        let body = expect_error(sign_in_with(&app, "corp", None).await, 401, "OAUTH_REFUSED").await;
        assert_eq!(body["error"]["details"]["reason"], "nonce_mismatch");
        // The provider goes down between its redirect and the code exchange.
        stand_in.misbehave(Misbehaviour::None);
        let back = callback_url(&app, "corp", None).await;
        stand_in.misbehave(Misbehaviour::Down);
        expect_error(app.client.get(&back).send().await.unwrap(), 503, "SERVICE_UNAVAILABLE").await;
    }

    #[tokio::test]
    async fn an_existing_account_is_linked_only_by_its_owner() {
        let stand_in = OAuthStandIn::start();
        let app = app_with(&stand_in).await;
        assert_eq!(app.register("ada@example.com").await.status(), 201);

        // Unverified at the provider: no link offered, and no account made
        // for an address nobody has registered either (it could be anyone's).
        stand_in.sign_in_as(Profile {
            subject: "1001".into(),
            email: "ada@example.com".into(),
            email_verified: false,
        });
        expect_error(sign_in_with(&app, "corp", None).await, 409, "OAUTH_EMAIL_UNVERIFIED").await;
        stand_in.sign_in_as(Profile {
            subject: "3003".into(),
            email: "eve@example.com".into(),
            email_verified: false,
        });
        expect_error(sign_in_with(&app, "corp", None).await, 409, "OAUTH_EMAIL_UNVERIFIED").await;
        assert_eq!(app.register("eve@example.com").await.status(), 201, "no account was made for eve");

        // Verified: the owner proves it with the password.
        stand_in.sign_in_as(Profile {
            subject: "1001".into(),
            email: "ada@example.com".into(),
            email_verified: true,
        });
        let offer: Value = sign_in_with(&app, "corp", None).await.json().await.unwrap();
        assert_eq!(offer["link_required"], true, "{offer}");
        assert!(offer.get("access_token").is_none());
        let confirm = |password: &str| json!({ "link_id": offer["link_id"], "password": password });
        expect_error(
            app.post("/api/v1/oauth/link/confirm", &confirm("not-it")).await,
            401,
            "INVALID_CREDENTIALS",
        )
        .await;
        let res = app.post("/api/v1/oauth/link/confirm", &confirm(PASSWORD)).await;
        assert_eq!(res.status(), 200);
        let signed_in: Value = res.json().await.unwrap();
        let access = str_of(&signed_in, "access_token").to_owned();
        expect_error(
            app.post("/api/v1/oauth/link/confirm", &confirm(PASSWORD)).await,
            401,
            "OAUTH_STATE_INVALID",
        )
        .await;
        // From now on the provider signs ada in directly.
        let direct: Value = sign_in_with(&app, "corp", None).await.json().await.unwrap();
        assert_eq!(direct["user"]["email"], "ada@example.com");

        // Linking GitHub while signed in; a password remains, so unlinking is fine.
        let linked: Value = sign_in_with(&app, "github", Some(&access)).await.json().await.unwrap();
        assert_eq!(linked["linked"]["provider"], "github", "{linked}");
        let accounts: Value = app.get_auth("/api/v1/oauth/accounts", &access).await.json().await.unwrap();
        assert_eq!(accounts["accounts"].as_array().unwrap().len(), 2);
        let id = accounts["accounts"][1]["id"].as_str().unwrap();
        let res = app.delete_auth(&format!("/api/v1/oauth/accounts/{id}"), &access).await;
        assert_eq!(res.status(), 204);

        // Another user cannot take the corp account over by linking it.
        let bob = app.signed_in("bob@example.com").await;
        let res = sign_in_with(&app, "corp", Some(str_of(&bob, "access_token"))).await;
        expect_error(res, 409, "OAUTH_ACCOUNT_LINKED").await;
        // Linking needs a recent sign-in.
        app.clock.advance(Duration::minutes(6));
        let res = app.post_auth("/api/v1/oauth/github/link", str_of(&bob, "access_token"), &json!({})).await;
        expect_error(res, 401, "REAUTHENTICATION_REQUIRED").await;
    }

    #[tokio::test]
    async fn a_provider_sign_in_still_asks_for_the_second_factor() {
        let stand_in = OAuthStandIn::start();
        let app = app_with(&stand_in).await;
        let body: Value = sign_in_with(&app, "corp", None).await.json().await.unwrap();
        let access = str_of(&body, "access_token").to_owned();
        enable(&app, &access).await;
        let challenge: Value = sign_in_with(&app, "corp", None).await.json().await.unwrap();
        assert_eq!(challenge["mfa_required"], true, "{challenge}");
        assert!(challenge.get("access_token").is_none());
    }
}
