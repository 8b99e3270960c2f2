//! Phone numbers, as SMS codes need them: international (E.164) form only,
//! checked against libphonenumber's metadata (the `phonenumber` crate), so
//! a number that cannot exist is refused before any message is paid for.

use crate::ValidationErrors;
use std::fmt;

/// Longest input looked at: E.164 has at most 15 digits; spaces, dashes and
/// brackets typed around them fit in 32.
const MAX_INPUT: usize = 32;

/// A valid phone number in E.164 form (`+447911123456`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a number typed in international form (`+44 7911 123456`).
    /// Without a leading `+` the country is unknown, so it is refused rather
    /// than guessed.
    pub fn parse(raw: &str) -> Result<Self, ValidationErrors> {
        let invalid = |code: &str, msg: &str| ValidationErrors::single("phone", code, msg);
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(invalid("required", "phone is required"));
        }
        if raw.len() > MAX_INPUT {
            return Err(invalid("invalid_phone", "phone must be at most 32 characters"));
        }
        if !raw.starts_with('+') {
            return Err(invalid(
                "invalid_phone",
                "phone must be in international form, starting with + and the country code",
            ));
        }
        if !raw.chars().skip(1).all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')')) {
            return Err(invalid("invalid_phone", "phone may hold only digits, spaces, dashes and brackets"));
        }
        let number = phonenumber::parse(None, raw)
            .map_err(|_| invalid("invalid_phone", "phone is not a phone number"))?;
        if number.extension().is_some() || !phonenumber::is_valid(&number) {
            return Err(invalid("invalid_phone", "phone is not a valid number for its country"));
        }
        Ok(Self(number.format().mode(phonenumber::Mode::E164).to_string()))
    }

    /// A number read back from storage, written by [`Self::parse`].
    pub fn from_stored(e164: &str) -> Result<Self, ValidationErrors> {
        Self::parse(e164)
    }

    /// E.164: `+` and up to 15 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What may be shown back: the country code's side and the last two
    /// digits (`+44••••••••56`), enough to recognise one's own number.
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        let shown_head = digits.len().min(2);
        let shown_tail = 2.min(digits.len().saturating_sub(shown_head));
        let hidden = digits.len() - shown_head - shown_tail;
        format!("+{}{}{}", &digits[..shown_head], "•".repeat(hidden), &digits[digits.len() - shown_tail..])
    }
}

impl fmt::Debug for PhoneNumber {
    /// Masked: a number is personal data, and logs keep it no better.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn international_numbers_become_e164() {
        let table = [
            ("+44 7911 123456", "+447911123456"),
            ("+1 (415) 555-2671", "+14155552671"),
            ("+33 6 12 34 56 78", "+33612345678"),
            ("  +49 1512 3456789 ", "+4915123456789"),
            ("+14155552671", "+14155552671"),
        ];
        for (raw, e164) in table {
            assert_eq!(PhoneNumber::parse(raw).map(|p| p.as_str().to_owned()), Ok(e164.to_owned()), "{raw}");
        }
    }

    #[test]
    fn what_is_refused_and_why() {
        let table = [
            ("", "required"),
            ("07700 900123", "invalid_phone"),
            ("+44 12", "invalid_phone"),
            ("+999 123456789", "invalid_phone"),
            ("+1 415 555 2671 ext. 12", "invalid_phone"),
            ("+44 7911 I23456", "invalid_phone"),
            ("+44 7700 900123", "invalid_phone"),
            ("+1 415 555 2671 555 2671 555 2671 5", "invalid_phone"),
            ("+٤٤٧٧٠٠٩٠٠١٢٣", "invalid_phone"),
        ];
        for (raw, code) in table {
            let err = PhoneNumber::parse(raw).expect_err(raw);
            assert_eq!(err.0[0].code, code, "{raw}");
            assert_eq!(err.0[0].field, "phone");
        }
    }

    #[test]
    fn shown_masked() {
        let phone = PhoneNumber::parse("+447911123456").unwrap();
        assert_eq!(phone.masked(), "+44••••••••56");
        assert_eq!(format!("{phone:?}"), "PhoneNumber(+44••••••••56)");
        assert_eq!(PhoneNumber::from_stored(phone.as_str()), Ok(phone));
    }
}
