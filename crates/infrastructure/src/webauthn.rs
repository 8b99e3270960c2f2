//! The WebAuthn ceremonies with webauthn-rs: passkeys (user verification
//! required; a first factor) and security keys (a second factor). Ceremony
//! state is serialised (the `danger-allow-state-serialisation` feature) so
//! it can wait in the ephemeral store between the two requests; it holds the
//! challenge and the allowed credentials, nothing that signs.

use portcullis_application::Cause;
use portcullis_application::ports::{
    Assertion, CeremonyError, CeremonyRefusal, CeremonyStart, CredentialOwner, NewCredential,
    WebauthnCeremonies, WebauthnCredential,
};
use portcullis_domain::webauthn::CredentialKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use webauthn_rs::prelude::{
    CredentialID, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey, SecurityKeyAuthentication,
    SecurityKeyRegistration, Url, Webauthn, WebauthnBuilder, WebauthnError,
};

/// The relying party: `WEBAUTHN_RP_ID` (a registrable domain, e.g.
/// `example.com`), `WEBAUTHN_RP_ORIGIN` (where the pages run, e.g.
/// `https://app.example.com`) and a display name.
#[derive(Debug, Clone)]
pub struct RelyingParty {
    pub id: String,
    pub origin: String,
    pub name: String,
}

/// The setting is unusable (an origin that is no URL, an RP id that is not
/// the origin's domain or a parent of it).
#[derive(Debug, thiserror::Error)]
#[error("WEBAUTHN_RP_ID / WEBAUTHN_RP_ORIGIN: {0}")]
pub struct RelyingPartyError(String);

pub struct WebauthnRs(Webauthn);

/// What waits between start and finish.
#[derive(Serialize, Deserialize)]
enum State {
    PasskeyRegistration(PasskeyRegistration),
    SecurityKeyRegistration(SecurityKeyRegistration),
    PasskeyAuthentication(PasskeyAuthentication),
    SecurityKeyAuthentication(SecurityKeyAuthentication),
    Discoverable(DiscoverableAuthentication),
}

/// A stored credential's `data`: webauthn-rs's own serialisation.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", content = "credential", rename_all = "snake_case")]
enum Stored {
    Passkey(Passkey),
    SecurityKey(SecurityKey),
}

fn internal(what: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> CeremonyError {
    CeremonyError::Internal(Cause::context(what, e))
}

/// The client's answer was refused: why, in the port's words.
fn refusal(e: WebauthnError) -> CeremonyError {
    use WebauthnError as W;
    let reason = match e {
        W::InvalidRPOrigin | W::InvalidRPIDHash => CeremonyRefusal::WrongOrigin,
        W::CredentialPossibleCompromise => CeremonyRefusal::CounterWentBack,
        W::UserNotVerified => CeremonyRefusal::UserNotVerified,
        W::AuthenticationFailure | W::AttestationStatementSigInvalid => CeremonyRefusal::BadSignature,
        W::CredentialNotFound => CeremonyRefusal::UnknownCredential,
        _ => CeremonyRefusal::Malformed,
    };
    CeremonyError::Refused(reason)
}

fn malformed() -> CeremonyError {
    CeremonyError::Refused(CeremonyRefusal::Malformed)
}

fn start(options: impl Serialize, state: State) -> Result<CeremonyStart, CeremonyError> {
    Ok(CeremonyStart {
        options: serde_json::to_value(options)
            .map_err(|e| internal("could not encode ceremony options", e))?,
        state: serde_json::to_vec(&state).map_err(|e| internal("could not encode ceremony state", e))?,
    })
}

fn stored(credential: &WebauthnCredential) -> Result<Stored, CeremonyError> {
    serde_json::from_str(&credential.data).map_err(|e| internal("a stored credential does not decode", e))
}

fn encode(stored: &Stored) -> Result<String, CeremonyError> {
    serde_json::to_string(stored).map_err(|e| internal("could not encode a credential", e))
}

impl WebauthnRs {
    pub fn new(rp: &RelyingParty) -> Result<Self, RelyingPartyError> {
        let origin =
            Url::parse(&rp.origin).map_err(|e| RelyingPartyError(format!("origin {:?}: {e}", rp.origin)))?;
        let webauthn =
            WebauthnBuilder::new(&rp.id, &origin).and_then(|b| b.rp_name(&rp.name).build()).map_err(|e| {
                RelyingPartyError(format!(
                    "{e} (the RP id must be the origin's host or a parent domain of it)"
                ))
            })?;
        Ok(Self(webauthn))
    }
}

impl WebauthnCeremonies for WebauthnRs {
    fn start_registration(
        &self,
        kind: CredentialKind,
        owner: &CredentialOwner,
        exclude: &[Vec<u8>],
    ) -> Result<CeremonyStart, CeremonyError> {
        let exclude: Vec<CredentialID> = exclude.iter().map(|id| CredentialID::from(id.clone())).collect();
        let exclude = (!exclude.is_empty()).then_some(exclude);
        match kind {
            CredentialKind::Passkey => {
                let (options, state) = self
                    .0
                    .start_passkey_registration(owner.handle, &owner.name, &owner.display_name, exclude)
                    .map_err(|e| internal("could not start a passkey registration", e))?;
                start(options, State::PasskeyRegistration(state))
            }
            CredentialKind::SecurityKey => {
                let (options, state) = self
                    .0
                    .start_securitykey_registration(
                        owner.handle,
                        &owner.name,
                        &owner.display_name,
                        exclude,
                        None,
                        None,
                    )
                    .map_err(|e| internal("could not start a security key registration", e))?;
                start(options, State::SecurityKeyRegistration(state))
            }
        }
    }

    fn finish_registration(
        &self,
        kind: CredentialKind,
        response: &Value,
        state: &[u8],
    ) -> Result<NewCredential, CeremonyError> {
        let response: RegisterPublicKeyCredential =
            serde_json::from_value(response.clone()).map_err(|_| malformed())?;
        let state: State =
            serde_json::from_slice(state).map_err(|e| internal("ceremony state does not decode", e))?;
        let stored = match (kind, state) {
            (CredentialKind::Passkey, State::PasskeyRegistration(s)) => {
                Stored::Passkey(self.0.finish_passkey_registration(&response, &s).map_err(refusal)?)
            }
            (CredentialKind::SecurityKey, State::SecurityKeyRegistration(s)) => {
                Stored::SecurityKey(self.0.finish_securitykey_registration(&response, &s).map_err(refusal)?)
            }
            _ => return Err(malformed()),
        };
        let (credential_id, sign_count) = match &stored {
            Stored::Passkey(p) => (p.cred_id().to_vec(), 0),
            Stored::SecurityKey(k) => (k.cred_id().to_vec(), 0),
        };
        Ok(NewCredential { credential_id, data: encode(&stored)?, sign_count })
    }

    fn start_authentication(
        &self,
        kind: CredentialKind,
        credentials: &[WebauthnCredential],
    ) -> Result<CeremonyStart, CeremonyError> {
        let all: Vec<Stored> =
            credentials.iter().filter(|c| c.kind == kind).map(stored).collect::<Result<_, _>>()?;
        match kind {
            CredentialKind::Passkey => {
                let keys: Vec<Passkey> = all
                    .into_iter()
                    .filter_map(|s| if let Stored::Passkey(p) = s { Some(p) } else { None })
                    .collect();
                let (options, state) = self
                    .0
                    .start_passkey_authentication(&keys)
                    .map_err(|e| internal("could not start a passkey assertion", e))?;
                start(options, State::PasskeyAuthentication(state))
            }
            CredentialKind::SecurityKey => {
                let keys: Vec<SecurityKey> = all
                    .into_iter()
                    .filter_map(|s| if let Stored::SecurityKey(k) = s { Some(k) } else { None })
                    .collect();
                let (options, state) = self
                    .0
                    .start_securitykey_authentication(&keys)
                    .map_err(|e| internal("could not start a security key assertion", e))?;
                start(options, State::SecurityKeyAuthentication(state))
            }
        }
    }

    fn start_discoverable(&self) -> Result<CeremonyStart, CeremonyError> {
        let (options, state) = self
            .0
            .start_discoverable_authentication()
            .map_err(|e| internal("could not start a discoverable assertion", e))?;
        start(options, State::Discoverable(state))
    }

    fn credential_id_of(&self, response: &Value) -> Result<Vec<u8>, CeremonyError> {
        let response: PublicKeyCredential =
            serde_json::from_value(response.clone()).map_err(|_| malformed())?;
        Ok(response.get_credential_id().to_vec())
    }

    fn finish_authentication(
        &self,
        credential: &WebauthnCredential,
        response: &Value,
        state: &[u8],
    ) -> Result<Assertion, CeremonyError> {
        let response: PublicKeyCredential =
            serde_json::from_value(response.clone()).map_err(|_| malformed())?;
        let state: State =
            serde_json::from_slice(state).map_err(|e| internal("ceremony state does not decode", e))?;
        let mut stored = stored(credential)?;
        let result = match (&stored, state) {
            (Stored::Passkey(_), State::PasskeyAuthentication(s)) => {
                self.0.finish_passkey_authentication(&response, &s)
            }
            (Stored::Passkey(p), State::Discoverable(s)) => {
                self.0.finish_discoverable_authentication_v2(&response, s, p)
            }
            (Stored::SecurityKey(_), State::SecurityKeyAuthentication(s)) => {
                self.0.finish_securitykey_authentication(&response, &s)
            }
            _ => return Err(CeremonyError::Refused(CeremonyRefusal::UnknownCredential)),
        }
        .map_err(refusal)?;
        if result.cred_id().to_vec() != credential.credential_id {
            return Err(CeremonyError::Refused(CeremonyRefusal::UnknownCredential));
        }
        match &mut stored {
            Stored::Passkey(p) => p.update_credential(&result),
            Stored::SecurityKey(k) => k.update_credential(&result),
        };
        Ok(Assertion { sign_count: result.counter(), data: encode(&stored)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_domain::ids::UserId;
    use webauthn_authenticator_rs::prelude::{
        CreationChallengeResponse, RequestChallengeResponse, WebauthnAuthenticator,
    };
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_authenticator_rs::softtoken::SoftToken;

    const ORIGIN: &str = "https://app.example.com";

    fn rp() -> WebauthnRs {
        WebauthnRs::new(&RelyingParty {
            id: "example.com".into(),
            origin: ORIGIN.into(),
            name: "Portcullis".into(),
        })
        .unwrap()
    }

    fn owner() -> CredentialOwner {
        CredentialOwner {
            handle: uuid::Uuid::new_v4(),
            name: "ada@example.com".into(),
            display_name: "Ada".into(),
        }
    }

    fn url(origin: &str) -> Url {
        Url::parse(origin).unwrap()
    }

    /// Registers a credential of `kind` with `authenticator`; returns it as the store would keep it.
    fn register(
        rp: &WebauthnRs,
        authenticator: &mut impl WebauthnAuthenticator,
        kind: CredentialKind,
        owner: &CredentialOwner,
    ) -> WebauthnCredential {
        let start = rp.start_registration(kind, owner, &[]).unwrap();
        let options: CreationChallengeResponse = serde_json::from_value(start.options).unwrap();
        let response = authenticator.do_registration(url(ORIGIN), options).unwrap();
        let new =
            rp.finish_registration(kind, &serde_json::to_value(response).unwrap(), &start.state).unwrap();
        WebauthnCredential {
            id: uuid::Uuid::new_v4(),
            user_id: UserId(owner.handle),
            kind,
            credential_id: new.credential_id,
            name: kind.default_name().into(),
            data: new.data,
            sign_count: new.sign_count,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            last_used_at: None,
        }
    }

    fn assert_with(
        rp: &WebauthnRs,
        authenticator: &mut impl WebauthnAuthenticator,
        credential: &WebauthnCredential,
        origin: &str,
    ) -> Result<Assertion, CeremonyError> {
        let start = rp.start_authentication(credential.kind, std::slice::from_ref(credential)).unwrap();
        let options: RequestChallengeResponse = serde_json::from_value(start.options).unwrap();
        let response = authenticator.do_authentication(url(origin), options).unwrap();
        rp.finish_authentication(credential, &serde_json::to_value(response).unwrap(), &start.state)
    }

    #[test]
    fn a_passkey_registers_and_signs_in() {
        let rp = rp();
        let mut passkey = SoftPasskey::new(true);
        let credential = register(&rp, &mut passkey, CredentialKind::Passkey, &owner());
        assert!(!credential.credential_id.is_empty());
        let first = assert_with(&rp, &mut passkey, &credential, ORIGIN).unwrap();
        assert!(first.sign_count > 0, "SoftPasskey counts");
        let data: Value = serde_json::from_str(&first.data).unwrap();
        assert_eq!(data["type"], "passkey");
    }

    /// Another page under the RP id's domain (which the browser lets ask
    /// for the credential) is not the configured origin: the origin in the
    /// signed client data gives it away. (A page on an unrelated domain
    /// cannot get a signature for this RP id at all; the client refuses.)
    #[test]
    fn an_assertion_for_another_origin_is_refused() {
        let rp = rp();
        let mut passkey = SoftPasskey::new(true);
        let credential = register(&rp, &mut passkey, CredentialKind::Passkey, &owner());
        let err = assert_with(&rp, &mut passkey, &credential, "https://evil.example.com").unwrap_err();
        assert_eq!(err, CeremonyError::Refused(CeremonyRefusal::WrongOrigin));
    }

    /// A security key copied (its secrets and counter) signs with a counter
    /// the original already used: the second one is refused.
    #[test]
    fn a_cloned_security_key_is_caught_by_its_counter() {
        let rp = rp();
        let (mut key, _) = SoftToken::new(true).unwrap();
        let mut credential = register(&rp, &mut key, CredentialKind::SecurityKey, &owner());
        let mut clone = SoftToken::from_cbor(&key.to_cbor().unwrap()).unwrap();
        let used = assert_with(&rp, &mut key, &credential, ORIGIN).unwrap();
        assert!(used.sign_count > 0);
        credential.sign_count = used.sign_count;
        credential.data = used.data;
        let err = assert_with(&rp, &mut clone, &credential, ORIGIN).unwrap_err();
        assert_eq!(err, CeremonyError::Refused(CeremonyRefusal::CounterWentBack));
        // The original goes on.
        assert!(assert_with(&rp, &mut key, &credential, ORIGIN).unwrap().sign_count > used.sign_count);
    }

    /// Sign-in with no account named. The software passkey keeps no resident
    /// credentials, so the test plays the platform's part: it offers the
    /// credential it holds and returns the user handle, as a discoverable
    /// authenticator does.
    #[test]
    fn a_discoverable_passkey_names_its_user() {
        let rp = rp();
        let mut passkey = SoftPasskey::new(true);
        let owner = owner();
        let credential = register(&rp, &mut passkey, CredentialKind::Passkey, &owner);
        let start = rp.start_discoverable().unwrap();
        let mut options = start.options.clone();
        assert_eq!(options["publicKey"]["allowCredentials"], serde_json::json!([]), "no account named");
        use base64::Engine;
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&credential.credential_id);
        options["publicKey"]["allowCredentials"] = serde_json::json!([{ "type": "public-key", "id": id }]);
        let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
        let mut response = passkey.do_authentication(url(ORIGIN), options).unwrap();
        response.response.user_handle = Some(owner.handle.as_bytes().to_vec());
        let response = serde_json::to_value(response).unwrap();
        assert_eq!(rp.credential_id_of(&response).unwrap(), credential.credential_id);
        assert!(rp.finish_authentication(&credential, &response, &start.state).is_ok());
        // Replaying the answer to a new ceremony fails (another challenge).
        let again = rp.start_discoverable().unwrap();
        let err = rp.finish_authentication(&credential, &response, &again.state).unwrap_err();
        assert_eq!(err, CeremonyError::Refused(CeremonyRefusal::Malformed));
    }

    #[test]
    fn answers_that_are_not_webauthn_are_malformed() {
        let rp = rp();
        let start = rp.start_registration(CredentialKind::Passkey, &owner(), &[]).unwrap();
        let err =
            rp.finish_registration(CredentialKind::Passkey, &serde_json::json!({"id": 1}), &start.state);
        assert_eq!(err.unwrap_err(), CeremonyError::Refused(CeremonyRefusal::Malformed));
        let err = rp.finish_registration(CredentialKind::SecurityKey, &serde_json::json!({}), &start.state);
        assert_eq!(err.unwrap_err(), CeremonyError::Refused(CeremonyRefusal::Malformed));
        assert_eq!(
            rp.credential_id_of(&serde_json::json!("x")).unwrap_err(),
            CeremonyError::Refused(CeremonyRefusal::Malformed)
        );
        assert!(
            WebauthnRs::new(&RelyingParty {
                id: "other.org".into(),
                origin: ORIGIN.into(),
                name: "x".into()
            })
            .is_err()
        );
        assert!(
            WebauthnRs::new(&RelyingParty {
                id: "example.com".into(),
                origin: "not a url".into(),
                name: "x".into()
            })
            .is_err()
        );
    }
}
