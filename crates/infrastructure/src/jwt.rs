//! Access tokens: JWTs signed with an asymmetric key (EdDSA by default, RS256
//! selectable), with a `kid` header and a JWKS carrying the public key.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use portcullis_application::ports::{AccessClaims, AccessTokenIssuer, IssuedAccessToken, TokenError};
use portcullis_domain::ids::{SessionId, UserId};
use portcullis_domain::secret::Secret;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::str::FromStr;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Signing algorithm for access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    EdDsa,
    Rs256,
}

impl FromStr for SigningAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "EDDSA" | "ED25519" => Ok(Self::EdDsa),
            "RS256" => Ok(Self::Rs256),
            other => Err(format!("unsupported algorithm {other:?} (use EdDSA or RS256)")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("could not read key file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid {algorithm} private key: {reason}")]
    Invalid { algorithm: &'static str, reason: String },
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    sid: Uuid,
    jti: Uuid,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
}

/// Everything needed to sign and verify, built once at start-up.
pub struct JwtIssuer {
    algorithm: Algorithm,
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

/// RFC 7638 thumbprint of the public key: a stable `kid`.
fn thumbprint(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

impl JwtIssuer {
    /// Builds an issuer from a PEM private key (PKCS#8 for Ed25519; PKCS#1 or
    /// PKCS#8 for RSA).
    pub fn from_pem(
        algorithm: SigningAlgorithm,
        pem: &[u8],
        issuer: &str,
        audience: &str,
        ttl: Duration,
    ) -> Result<Self, KeyError> {
        match algorithm {
            SigningAlgorithm::EdDsa => {
                let encoding = EncodingKey::from_ed_pem(pem)
                    .map_err(|e| KeyError::Invalid { algorithm: "EdDSA", reason: e.to_string() })?;
                Self::ed25519(encoding, issuer, audience, ttl)
            }
            SigningAlgorithm::Rs256 => {
                let encoding = EncodingKey::from_rsa_pem(pem)
                    .map_err(|e| KeyError::Invalid { algorithm: "RS256", reason: e.to_string() })?;
                let invalid = |e: jsonwebtoken::errors::Error| KeyError::Invalid {
                    algorithm: "RS256",
                    reason: e.to_string(),
                };
                let jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).map_err(invalid)?;
                let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
                    return Err(KeyError::Invalid { algorithm: "RS256", reason: "not an RSA key".into() });
                };
                let decoding = DecodingKey::from_rsa_components(&rsa.n, &rsa.e).map_err(invalid)?;
                let kid = thumbprint(&format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, rsa.e, rsa.n));
                let jwk =
                    json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": rsa.n, "e": rsa.e});
                Ok(Self::assemble(Algorithm::RS256, kid, encoding, decoding, jwk, issuer, audience, ttl))
            }
        }
    }

    /// Reads the PEM at `path`.
    pub fn from_pem_file(
        algorithm: SigningAlgorithm,
        path: &str,
        issuer: &str,
        audience: &str,
        ttl: Duration,
    ) -> Result<Self, KeyError> {
        let pem = std::fs::read(path).map_err(|source| KeyError::Read { path: path.to_owned(), source })?;
        Self::from_pem(algorithm, &pem, issuer, audience, ttl)
    }

    /// A fresh Ed25519 key, for development: tokens die with the process.
    pub fn generate_ed25519(issuer: &str, audience: &str, ttl: Duration) -> Result<Self, KeyError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|e| KeyError::Invalid { algorithm: "EdDSA", reason: e.to_string() })?;
        Self::ed25519(EncodingKey::from_ed_der(pkcs8.as_ref()), issuer, audience, ttl)
    }

    fn ed25519(encoding: EncodingKey, issuer: &str, audience: &str, ttl: Duration) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8(encoding.inner())
            .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(encoding.inner()))
            .map_err(|e| KeyError::Invalid { algorithm: "EdDSA", reason: e.to_string() })?;
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let decoding = DecodingKey::from_ed_components(&x)
            .map_err(|e| KeyError::Invalid { algorithm: "EdDSA", reason: e.to_string() })?;
        let kid = thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid, "x": x});
        Ok(Self::assemble(Algorithm::EdDSA, kid, encoding, decoding, jwk, issuer, audience, ttl))
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        algorithm: Algorithm,
        kid: String,
        encoding: EncodingKey,
        decoding: DecodingKey,
        jwk: Value,
        issuer: &str,
        audience: &str,
        ttl: Duration,
    ) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Expiry is checked against the injected clock below, not the system's.
        validation.validate_exp = false;
        validation.leeway = 0;
        Self {
            algorithm,
            kid,
            encoding,
            decoding,
            jwk,
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }
}

fn at(seconds: i64) -> Result<OffsetDateTime, TokenError> {
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| TokenError::Invalid)
}

impl AccessTokenIssuer for JwtIssuer {
    fn issue(
        &self,
        user_id: UserId,
        session_id: SessionId,
        now: OffsetDateTime,
    ) -> Result<IssuedAccessToken, TokenError> {
        let iat = now.unix_timestamp();
        let exp = (now + self.ttl).unix_timestamp();
        let jti = Uuid::new_v4();
        let claims = Claims {
            sub: user_id.as_uuid(),
            sid: session_id.as_uuid(),
            jti,
            iat,
            exp,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(IssuedAccessToken {
            token: Secret::new(token),
            claims: AccessClaims {
                user_id,
                session_id,
                token_id: jti.to_string(),
                issued_at: at(iat)?,
                expires_at: at(exp)?,
            },
            expires_in: self.ttl,
        })
    }

    fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(TokenError::Invalid);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        if now.unix_timestamp() >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(AccessClaims {
            user_id: UserId(claims.sub),
            session_id: SessionId(claims.sid),
            token_id: claims.jti.to_string(),
            issued_at: at(claims.iat)?,
            expires_at: at(claims.exp)?,
        })
    }

    fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    fn ttl(&self) -> Duration {
        self.ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::minutes(15);

    fn issuer() -> JwtIssuer {
        JwtIssuer::generate_ed25519("portcullis", "portcullis-api", TTL).unwrap()
    }

    #[test]
    fn issues_and_verifies_eddsa() {
        let jwt = issuer();
        let now = OffsetDateTime::now_utc();
        let (user, session) = (UserId::new(), SessionId::new());
        let issued = jwt.issue(user, session, now).unwrap();
        let header = jsonwebtoken::decode_header(issued.token.expose()).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(jwt.kid()));
        let claims = jwt.verify(issued.token.expose(), now).unwrap();
        assert_eq!((claims.user_id, claims.session_id), (user, session));
        assert_eq!(claims.expires_at.unix_timestamp() - claims.issued_at.unix_timestamp(), 900);
        let keys = jwt.jwks();
        assert_eq!(keys["keys"][0]["kid"], jwt.kid());
        assert_eq!(keys["keys"][0]["crv"], "Ed25519");
    }

    #[test]
    fn expiry_follows_the_given_clock() {
        let jwt = issuer();
        let now = OffsetDateTime::now_utc();
        let token = jwt.issue(UserId::new(), SessionId::new(), now).unwrap().token;
        assert_eq!(jwt.verify(token.expose(), now + TTL), Err(TokenError::Expired));
    }

    #[test]
    fn rejects_foreign_and_tampered_tokens() {
        let (a, b) = (issuer(), issuer());
        let now = OffsetDateTime::now_utc();
        let token = a.issue(UserId::new(), SessionId::new(), now).unwrap().token;
        assert_eq!(b.verify(token.expose(), now), Err(TokenError::Invalid));
        // Flip one character of the signature's first (fully significant)
        // base64 digit; the last digit carries padding bits and may not count.
        let signature_start = token.expose().rfind('.').unwrap() + 1;
        let mut tampered = token.expose().as_bytes().to_vec();
        tampered[signature_start] = if tampered[signature_start] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(a.verify(&tampered, now), Err(TokenError::Invalid));
        assert_eq!(a.verify("not-a-jwt", now), Err(TokenError::Invalid));
        let other_audience =
            JwtIssuer::from_pem(SigningAlgorithm::EdDsa, TEST_ED_PEM.as_bytes(), "portcullis", "other", TTL)
                .unwrap();
        let same_key = JwtIssuer::from_pem(
            SigningAlgorithm::EdDsa,
            TEST_ED_PEM.as_bytes(),
            "portcullis",
            "portcullis-api",
            TTL,
        )
        .unwrap();
        let t = other_audience.issue(UserId::new(), SessionId::new(), now).unwrap().token;
        assert_eq!(same_key.verify(t.expose(), now), Err(TokenError::Invalid));
    }

    #[test]
    fn loads_pem_keys_for_both_algorithms() {
        let now = OffsetDateTime::now_utc();
        for (alg, pem, kty) in
            [(SigningAlgorithm::EdDsa, TEST_ED_PEM, "OKP"), (SigningAlgorithm::Rs256, TEST_RSA_PEM, "RSA")]
        {
            let jwt = JwtIssuer::from_pem(alg, pem.as_bytes(), "iss", "aud", TTL).unwrap();
            let token = jwt.issue(UserId::new(), SessionId::new(), now).unwrap().token;
            assert!(jwt.verify(token.expose(), now).is_ok());
            assert_eq!(jwt.jwks()["keys"][0]["kty"], kty);
        }
        assert!(
            JwtIssuer::from_pem(SigningAlgorithm::Rs256, TEST_ED_PEM.as_bytes(), "iss", "aud", TTL).is_err()
        );
        assert!("HS256".parse::<SigningAlgorithm>().is_err());
    }

    // Test-only keys (generated with `openssl genpkey`); never used outside tests.
    const TEST_ED_PEM: &str = include_str!("../testdata/ed25519.pem");
    const TEST_RSA_PEM: &str = include_str!("../testdata/rsa2048.pem");
}
