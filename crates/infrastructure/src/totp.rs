//! RFC 6238 TOTP with totp-rs (HMAC-SHA1, 6 digits, 30-second steps), the
//! `otpauth://` URI authenticator apps read, and its QR code as SVG (qrcode).

use portcullis_application::ports::{TotpAlgorithm, TotpProvisioning};
use portcullis_domain::mfa::{TOTP_DIGITS, TOTP_STEP_SECONDS};
use rand::RngCore;
use rand::rngs::OsRng;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

/// Secret length in bytes: 160 bits, RFC 4226's recommendation.
const SECRET_LEN: usize = 20;

/// The TOTP algorithm; `issuer` names this service in authenticator apps
/// (`TOTP_ISSUER`).
#[derive(Debug, Clone)]
pub struct RfcTotp {
    issuer: String,
}

impl RfcTotp {
    pub fn new(issuer: &str) -> Self {
        // A colon separates issuer and account in the URI's label.
        Self { issuer: issuer.replace(':', " ") }
    }
}

fn totp(secret: &[u8], digits: usize, issuer: Option<String>, account: String) -> TOTP {
    // `new_unchecked`: the length rule of `new` (≥ 128 bits) is ours to keep
    // (`new_secret`), and RFC 6238's own test key is shorter than some apps'.
    TOTP::new_unchecked(
        Algorithm::SHA1,
        digits,
        1,
        TOTP_STEP_SECONDS as u64,
        secret.to_vec(),
        issuer,
        account,
    )
}

/// The code of `secret` at `step`, with `digits` digits.
fn code_at(secret: &[u8], step: u64, digits: usize) -> String {
    totp(secret, digits, None, String::new()).generate(step.saturating_mul(TOTP_STEP_SECONDS as u64))
}

impl TotpAlgorithm for RfcTotp {
    fn new_secret(&self) -> Vec<u8> {
        let mut secret = vec![0u8; SECRET_LEN];
        OsRng.fill_bytes(&mut secret);
        secret
    }

    fn matches(&self, secret: &[u8], code: &str, step: u64) -> bool {
        let expected = code_at(secret, step, TOTP_DIGITS);
        expected.len() == code.len() && bool::from(expected.as_bytes().ct_eq(code.as_bytes()))
    }

    fn provisioning(&self, secret: &[u8], account: &str) -> TotpProvisioning {
        let totp = totp(secret, TOTP_DIGITS, Some(self.issuer.clone()), account.replace(':', " "));
        let otpauth_uri = totp.get_url();
        let qr_svg = match qrcode::QrCode::new(otpauth_uri.as_bytes()) {
            Ok(code) => code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build(),
            // Only data beyond a QR code's capacity (~2.9 kB) fails; the URI
            // is bounded by the account's address length.
            Err(_) => String::new(),
        };
        TotpProvisioning { secret_base32: totp.get_secret_base32(), otpauth_uri, qr_svg }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_domain::mfa::totp_step;
    use time::OffsetDateTime;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    /// RFC 6238 appendix B, SHA-1 rows: (Unix time, 8-digit code).
    const RFC_VECTORS: [(i64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    #[test]
    fn rfc_6238_test_vectors() {
        let totp = RfcTotp::new("Portcullis");
        for (time, code) in RFC_VECTORS {
            let step = totp_step(OffsetDateTime::from_unix_timestamp(time).unwrap());
            assert_eq!(code_at(RFC_SECRET, step, 8), code, "t={time}");
            // Six digits are the last six of the eight (the same truncated value).
            let six = &code[2..];
            assert!(totp.matches(RFC_SECRET, six, step), "t={time}");
            assert!(!totp.matches(RFC_SECRET, six, step + 1), "t={time}: another step");
            assert!(!totp.matches(RFC_SECRET, code, step), "eight digits are not our code");
        }
        assert!(!totp.matches(RFC_SECRET, "", 1));
    }

    #[test]
    fn provisioning_carries_the_secret_issuer_and_account() {
        let totp = RfcTotp::new("Port:cullis");
        let secret = totp.new_secret();
        assert_eq!(secret.len(), 20);
        assert_ne!(secret, totp.new_secret());
        let p = totp.provisioning(RFC_SECRET, "ada@example.com");
        assert_eq!(p.secret_base32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "RFC 4648 base32 of the RFC key");
        assert_eq!(
            p.otpauth_uri,
            "otpauth://totp/Port%20cullis:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Port%20cullis"
        );
        assert!(p.qr_svg.starts_with("<?xml") && p.qr_svg.contains("<svg"), "{}", &p.qr_svg[..60]);
        // The URI reads back as the same TOTP (what an authenticator app does).
        let read = TOTP::from_url_unchecked(&p.otpauth_uri).unwrap();
        assert_eq!(read.generate(59), code_at(RFC_SECRET, 1, 6));
    }
}
