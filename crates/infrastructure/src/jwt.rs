//! Access tokens: JWTs signed with an asymmetric key (EdDSA by default, RS256
//! selectable), with a `kid` header and a JWKS carrying the public key.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use portcullis_application::ports::{
    AccessClaims, AccessGrant, AccessTokenIssuer, IssuedAccessToken, TokenError,
};
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
    /// The session's trust score (0–100); absent in tokens issued before it
    /// existed (read as 0, the least trust).
    #[serde(default)]
    trs: u8,
    /// RFC 8176 method references; absent in tokens issued before them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    amr: Vec<String>,
    /// OpenID Connect's `auth_time`; absent in older tokens (read as `iat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
}

/// A key that verifies tokens: the current one, or a previous (or next) one
/// during a rotation. Each pins its own algorithm.
struct Verifier {
    kid: String,
    decoding: DecodingKey,
    validation: Validation,
    jwk: Value,
}

/// Everything needed to sign and verify, built once at start-up: one signing
/// key, and every key that verifies (the signing key's first), by `kid`.
pub struct JwtIssuer {
    algorithm: Algorithm,
    kid: String,
    encoding: EncodingKey,
    verifiers: Vec<Verifier>,
    issuer: String,
    audience: String,
    ttl: Duration,
    /// Claims of tokens whose signature already checked out, by SHA-256 of
    /// the token (issue 13): a client presents the same access token for
    /// its whole life, and an Ed25519 verify costs ~27 µs where the hash
    /// costs ~1 µs. Expiry is still checked against `now` on every use; a
    /// token that differs in any byte has another key and is verified in
    /// full. Never holds the tokens themselves.
    verified: std::sync::Mutex<std::collections::HashMap<[u8; 32], AccessClaims>>,
}

/// Entries kept in the verified-token cache; past it, lapsed ones are swept
/// and, if still full, the cache is cleared (it is only a shortcut).
const VERIFIED_CACHE: usize = 100_000;

fn validation(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    // Expiry is checked against the injected clock, not the system's.
    validation.validate_exp = false;
    validation.leeway = 0;
    validation
}

/// The public half of a key, as the JWKS and the verifier need it.
struct PublicKey {
    algorithm: Algorithm,
    decoding: DecodingKey,
    kid: String,
    jwk: Value,
}

fn ed25519_public(x_raw: &[u8]) -> Result<PublicKey, String> {
    let x = URL_SAFE_NO_PAD.encode(x_raw);
    let decoding = DecodingKey::from_ed_components(&x).map_err(|e| e.to_string())?;
    let kid = thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid, "x": x});
    Ok(PublicKey { algorithm: Algorithm::EdDSA, decoding, kid, jwk })
}

fn rsa_public(n: &str, e: &str) -> Result<PublicKey, String> {
    let decoding = DecodingKey::from_rsa_components(n, e).map_err(|e| e.to_string())?;
    let kid = thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
    let jwk = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e});
    Ok(PublicKey { algorithm: Algorithm::RS256, decoding, kid, jwk })
}

/// Minimal DER reading for public keys: one TLV, returning (tag, content, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

const ED25519_OID: &[u8] = &[0x2b, 0x65, 0x70];
const RSA_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// PKCS#1 `RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER }`.
fn rsa_pkcs1(der: &[u8]) -> Option<(String, String)> {
    let (0x30, body, _) = tlv(der)? else { return None };
    let (0x02, n, rest) = tlv(body)? else { return None };
    let (0x02, e, _) = tlv(rest)? else { return None };
    let strip = |b: &[u8]| -> Vec<u8> { b.iter().skip_while(|x| **x == 0).copied().collect() };
    Some((URL_SAFE_NO_PAD.encode(strip(n)), URL_SAFE_NO_PAD.encode(strip(e))))
}

/// A PEM public key: SPKI (`PUBLIC KEY`, Ed25519 or RSA) or PKCS#1
/// (`RSA PUBLIC KEY`).
fn parse_public_pem(pem: &str) -> Result<PublicKey, String> {
    let mut lines = pem.lines().map(str::trim).filter(|l| !l.is_empty());
    let label = lines
        .next()
        .and_then(|l| l.strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
        .ok_or("not a PEM file")?
        .to_owned();
    let body: String = lines.take_while(|l| !l.starts_with("-----END")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).map_err(|e| e.to_string())?;
    match label.as_str() {
        "RSA PUBLIC KEY" => {
            let (n, e) = rsa_pkcs1(&der).ok_or("malformed RSA public key")?;
            rsa_public(&n, &e)
        }
        "PUBLIC KEY" => {
            let malformed = || "malformed public key".to_owned();
            let (0x30, spki, _) = tlv(&der).ok_or_else(malformed)? else { return Err(malformed()) };
            let (0x30, algorithm, rest) = tlv(spki).ok_or_else(malformed)? else { return Err(malformed()) };
            let (0x06, oid, _) = tlv(algorithm).ok_or_else(malformed)? else { return Err(malformed()) };
            let (0x03, bits, _) = tlv(rest).ok_or_else(malformed)? else { return Err(malformed()) };
            let key = bits.strip_prefix(&[0u8]).ok_or_else(malformed)?;
            if oid == ED25519_OID && key.len() == 32 {
                ed25519_public(key)
            } else if oid == RSA_OID {
                let (n, e) = rsa_pkcs1(key).ok_or_else(malformed)?;
                rsa_public(&n, &e)
            } else {
                Err("unsupported key type (use Ed25519 or RSA)".into())
            }
        }
        other => Err(format!("expected a PUBLIC KEY PEM, got {other:?}")),
    }
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
                let public = rsa_public(&rsa.n, &rsa.e)
                    .map_err(|reason| KeyError::Invalid { algorithm: "RS256", reason })?;
                Ok(Self::assemble(encoding, public, issuer, audience, ttl))
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
        let public = ed25519_public(pair.public_key().as_ref())
            .map_err(|reason| KeyError::Invalid { algorithm: "EdDSA", reason })?;
        Ok(Self::assemble(encoding, public, issuer, audience, ttl))
    }

    fn assemble(
        encoding: EncodingKey,
        public: PublicKey,
        issuer: &str,
        audience: &str,
        ttl: Duration,
    ) -> Self {
        let mut issuer_ = Self {
            algorithm: public.algorithm,
            kid: public.kid.clone(),
            encoding,
            verifiers: Vec::new(),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
            verified: std::sync::Mutex::default(),
        };
        issuer_.add_verifier(public);
        issuer_
    }

    fn add_verifier(&mut self, public: PublicKey) {
        if self.verifiers.iter().any(|v| v.kid == public.kid) {
            return;
        }
        self.verifiers.push(Verifier {
            kid: public.kid,
            validation: validation(public.algorithm, &self.issuer, &self.audience),
            decoding: public.decoding,
            jwk: public.jwk,
        });
    }

    /// Adds keys that verify but do not sign (PEM public keys, Ed25519 or RSA):
    /// the previous key after a rotation, or the next one before it. They are
    /// published in the JWKS too. Returns their `kid`s.
    pub fn add_verification_keys(&mut self, paths: &[String]) -> Result<Vec<String>, KeyError> {
        let mut kids = Vec::new();
        for path in paths {
            let pem = std::fs::read_to_string(path)
                .map_err(|source| KeyError::Read { path: path.clone(), source })?;
            let public = parse_public_pem(&pem).map_err(|reason| KeyError::Invalid {
                algorithm: "public",
                reason: format!("{path}: {reason}"),
            })?;
            kids.push(public.kid.clone());
            self.add_verifier(public);
        }
        Ok(kids)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }
}

fn at(seconds: i64) -> Result<OffsetDateTime, TokenError> {
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| TokenError::Invalid)
}

impl AccessTokenIssuer for JwtIssuer {
    fn issue(&self, grant: &AccessGrant, now: OffsetDateTime) -> Result<IssuedAccessToken, TokenError> {
        let (user_id, session_id) = (grant.user_id, grant.session_id);
        let iat = now.unix_timestamp();
        let expires = (now + self.ttl).min(grant.not_after).max(now);
        let exp = expires.unix_timestamp();
        let jti = Uuid::new_v4();
        let claims = Claims {
            sub: user_id.as_uuid(),
            sid: session_id.as_uuid(),
            jti,
            iat,
            exp,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            trs: grant.trust_score.min(100),
            amr: grant.authentication.amr().into_iter().map(str::to_owned).collect(),
            auth_time: Some(grant.authentication.at.unix_timestamp()),
        };
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| TokenError::Signing(portcullis_application::Cause::new(e)))?;
        Ok(IssuedAccessToken {
            token: Secret::new(token),
            claims: AccessClaims {
                user_id,
                session_id,
                token_id: jti.to_string(),
                issued_at: at(iat)?,
                expires_at: at(exp)?,
                trust_score: grant.trust_score.min(100),
                amr: claims.amr.clone(),
                auth_time: at(grant.authentication.at.unix_timestamp())?,
            },
            expires_in: expires - now,
        })
    }

    fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, TokenError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let known =
            self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key).cloned();
        let claims = match known {
            Some(claims) => claims,
            None => {
                let claims = self.verify_signed(token)?;
                let mut cache = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                crate::bounded::make_room(&mut cache, VERIFIED_CACHE, |_, c| c.expires_at > now);
                cache.insert(key, claims.clone());
                claims
            }
        };
        if now >= claims.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    fn jwks(&self) -> Value {
        json!({ "keys": self.verifiers.iter().map(|v| v.jwk.clone()).collect::<Vec<_>>() })
    }

    fn ttl(&self) -> Duration {
        self.ttl
    }
}

impl JwtIssuer {
    /// The full check: known key, signature, issuer and audience; the claims
    /// as signed (expiry is the caller's to check).
    fn verify_signed(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let kid = header.kid.as_deref().ok_or(TokenError::Invalid)?;
        let verifier = self.verifiers.iter().find(|v| v.kid == kid).ok_or(TokenError::Invalid)?;
        let data = jsonwebtoken::decode::<Claims>(token, &verifier.decoding, &verifier.validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        Ok(AccessClaims {
            user_id: UserId(claims.sub),
            session_id: SessionId(claims.sid),
            token_id: claims.jti.to_string(),
            issued_at: at(claims.iat)?,
            expires_at: at(claims.exp)?,
            trust_score: claims.trs.min(100),
            auth_time: at(claims.auth_time.unwrap_or(claims.iat))?,
            amr: claims.amr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::minutes(15);

    fn grant(user_id: UserId, session_id: SessionId, now: OffsetDateTime) -> AccessGrant {
        AccessGrant {
            user_id,
            session_id,
            not_after: now + time::Duration::days(1),
            trust_score: 40,
            authentication: portcullis_domain::session::Authentication {
                method: portcullis_domain::session::SignInMethod::Password,
                second_factor: None,
                at: now - time::Duration::minutes(1),
            },
        }
    }

    /// `amr` and `auth_time` travel in the token; a token without them (issued
    /// before they existed) reads as authenticated when it was issued.
    #[test]
    fn tokens_say_how_and_when_the_user_authenticated() {
        let jwt = issuer();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut g = grant(UserId::new(), SessionId::new(), now);
        g.authentication.second_factor = Some(portcullis_domain::mfa::SecondFactor::Totp);
        let claims = jwt.verify(jwt.issue(&g, now).unwrap().token.expose(), now).unwrap();
        assert_eq!(claims.amr, ["pwd", "otp", "mfa"]);
        assert_eq!(claims.auth_time, now - time::Duration::minutes(1));
        let old = Claims {
            sub: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            jti: Uuid::new_v4(),
            iat: now.unix_timestamp(),
            exp: now.unix_timestamp() + 60,
            iss: "portcullis".into(),
            aud: "portcullis-api".into(),
            trs: 0,
            amr: Vec::new(),
            auth_time: None,
        };
        let mut header = Header::new(jwt.algorithm);
        header.kid = Some(jwt.kid.clone());
        let token = jsonwebtoken::encode(&header, &old, &jwt.encoding).unwrap();
        let claims = jwt.verify(&token, now).unwrap();
        assert_eq!((claims.amr.len(), claims.auth_time), (0, now));
    }

    /// A session deadline earlier than the token lifetime shortens the token.
    #[test]
    fn tokens_never_outlive_their_session() {
        let jwt = issuer();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut g = grant(UserId::new(), SessionId::new(), now);
        g.not_after = now + time::Duration::minutes(3);
        let issued = jwt.issue(&g, now).unwrap();
        assert_eq!(issued.expires_in, time::Duration::minutes(3));
        let claims = jwt.verify(issued.token.expose(), now + time::Duration::minutes(2)).unwrap();
        assert_eq!(claims.trust_score, 40);
        let late = jwt.verify(issued.token.expose(), now + time::Duration::minutes(3));
        assert!(matches!(late, Err(TokenError::Expired)), "{late:?}");
    }

    fn issuer() -> JwtIssuer {
        JwtIssuer::generate_ed25519("portcullis", "portcullis-api", TTL).unwrap()
    }

    /// The verified-token cache is only a shortcut: a cached token still
    /// expires, and a token differing in one signature byte is refused.
    #[test]
    fn a_cached_token_still_expires_and_a_tampered_one_is_refused() {
        let jwt = issuer();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let issued = jwt.issue(&grant(UserId::new(), SessionId::new(), now), now).unwrap();
        let token = issued.token.expose();
        let first = jwt.verify(token, now).unwrap();
        assert_eq!(jwt.verify(token, now + time::Duration::minutes(1)).unwrap(), first, "from the cache");
        let late = jwt.verify(token, first.expires_at);
        assert!(matches!(late, Err(TokenError::Expired)), "{late:?}");
        // One character in the middle of the signature (the last one holds
        // padding bits).
        let mut tampered = token.as_bytes().to_vec();
        let i = tampered.len() - 10;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(matches!(jwt.verify(&tampered, now), Err(TokenError::Invalid)));
    }

    #[test]
    fn issues_and_verifies_eddsa() {
        let jwt = issuer();
        let now = OffsetDateTime::now_utc();
        let (user, session) = (UserId::new(), SessionId::new());
        let issued = jwt.issue(&grant(user, session, now), now).unwrap();
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
        let token = jwt.issue(&grant(UserId::new(), SessionId::new(), now), now).unwrap().token;
        assert_eq!(jwt.verify(token.expose(), now + TTL), Err(TokenError::Expired));
    }

    #[test]
    fn rejects_foreign_and_tampered_tokens() {
        let (a, b) = (issuer(), issuer());
        let now = OffsetDateTime::now_utc();
        let token = a.issue(&grant(UserId::new(), SessionId::new(), now), now).unwrap().token;
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
        let t = other_audience.issue(&grant(UserId::new(), SessionId::new(), now), now).unwrap().token;
        assert_eq!(same_key.verify(t.expose(), now), Err(TokenError::Invalid));
    }

    #[test]
    fn loads_pem_keys_for_both_algorithms() {
        let now = OffsetDateTime::now_utc();
        for (alg, pem, kty) in
            [(SigningAlgorithm::EdDsa, TEST_ED_PEM, "OKP"), (SigningAlgorithm::Rs256, TEST_RSA_PEM, "RSA")]
        {
            let jwt = JwtIssuer::from_pem(alg, pem.as_bytes(), "iss", "aud", TTL).unwrap();
            let token = jwt.issue(&grant(UserId::new(), SessionId::new(), now), now).unwrap().token;
            assert!(jwt.verify(token.expose(), now).is_ok());
            assert_eq!(jwt.jwks()["keys"][0]["kty"], kty);
        }
        assert!(
            JwtIssuer::from_pem(SigningAlgorithm::Rs256, TEST_ED_PEM.as_bytes(), "iss", "aud", TTL).is_err()
        );
        assert!("HS256".parse::<SigningAlgorithm>().is_err());
    }

    fn testdata(name: &str) -> String {
        format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    /// Hardening #17: key rotation. The new key signs; the previous public key
    /// still verifies its tokens (by `kid`) and both are in the JWKS.
    #[test]
    fn previous_keys_verify_by_kid_during_a_rotation() {
        let now = OffsetDateTime::now_utc();
        let old = JwtIssuer::from_pem_file(SigningAlgorithm::EdDsa, &testdata("ed25519.pem"), "i", "a", TTL)
            .unwrap();
        let old_token = old.issue(&grant(UserId::new(), SessionId::new(), now), now).unwrap().token;

        let mut new =
            JwtIssuer::from_pem_file(SigningAlgorithm::EdDsa, &testdata("ed25519-next.pem"), "i", "a", TTL)
                .unwrap();
        assert_ne!(new.kid(), old.kid());
        assert_eq!(new.verify(old_token.expose(), now), Err(TokenError::Invalid), "unknown kid before");
        let kids =
            new.add_verification_keys(&[testdata("ed25519.pub.pem"), testdata("rsa2048.pub.pem")]).unwrap();
        assert_eq!(kids[0], old.kid(), "the public key's kid matches the private key's");
        assert!(new.verify(old_token.expose(), now).is_ok());
        let new_token = new.issue(&grant(UserId::new(), SessionId::new(), now), now).unwrap().token;
        let header = jsonwebtoken::decode_header(new_token.expose()).unwrap();
        assert_eq!(header.kid.as_deref(), Some(new.kid()));
        assert!(new.verify(new_token.expose(), now).is_ok());
        let published: Vec<String> = new.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(published, vec![new.kid().to_owned(), old.kid().to_owned(), kids[1].clone()]);

        // The RSA public key verifies what its private key signed (RS256 pinned to it).
        let rsa =
            JwtIssuer::from_pem(SigningAlgorithm::Rs256, TEST_RSA_PEM.as_bytes(), "i", "a", TTL).unwrap();
        assert_eq!(kids[1], rsa.kid());
        let rsa_token = rsa.issue(&grant(UserId::new(), SessionId::new(), now), now).unwrap().token;
        assert!(new.verify(rsa_token.expose(), now).is_ok());
    }

    #[test]
    fn unusable_verification_keys_are_refused() {
        let mut jwt = issuer();
        assert!(jwt.add_verification_keys(&["/nonexistent.pem".into()]).is_err());
        // A private key is not a public key.
        assert!(jwt.add_verification_keys(&[testdata("ed25519.pem")]).is_err());
        let garbage = std::env::temp_dir().join(format!("garbage-{}.pem", Uuid::new_v4()));
        std::fs::write(&garbage, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").unwrap();
        assert!(jwt.add_verification_keys(&[garbage.display().to_string()]).is_err());
        let _ = std::fs::remove_file(garbage);
    }

    // Test-only keys (generated with `openssl genpkey`); never used outside tests.
    const TEST_ED_PEM: &str = include_str!("../testdata/ed25519.pem");
    const TEST_RSA_PEM: &str = include_str!("../testdata/rsa2048.pem");
}
