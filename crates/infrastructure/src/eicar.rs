//! The EICAR anti-virus test file: what the in-memory scanner flags, and what
//! the scanner contract (and clamd's test database) look for.

/// The name both twins report for the EICAR test file (the test database that
/// clamd loads in the integration suite uses the same name).
pub const EICAR_SIGNATURE: &str = "Eicar-Test-Signature";

/// The EICAR anti-virus test string, assembled at run time so that this
/// source file itself does not trip a scanner.
pub fn eicar() -> Vec<u8> {
    let parts: [&str; 3] = [r"X5O!P%@AP[4\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS-", "TEST-FILE!$H+H*"];
    parts.concat().into_bytes()
}
