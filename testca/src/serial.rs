//! Certificate serial numbers.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;

use crate::error::{Error, Result};

/// Bytes of entropy in every serial this CA issues (CA/Browser Forum asks for at least 8).
pub const SERIAL_ENTROPY_BYTES: usize = 16;

/// A certificate serial number: a positive integer, kept as its big-endian
/// magnitude without leading zero bytes, so that one number has one form.
///
/// Shown as upper-case hex, the way `openssl x509 -serial` and OpenSSL's CA
/// `index.txt` show it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// A fresh random serial with [`SERIAL_ENTROPY_BYTES`] bytes of entropy.
    pub fn random() -> Self {
        let mut bytes = [0u8; SERIAL_ENTROPY_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        // A zero first byte would shorten the number; keep all 16 bytes significant.
        if bytes[0] == 0 {
            bytes[0] = 1;
        }
        Serial(bytes.to_vec())
    }

    /// The serial from the bytes of a DER INTEGER or of a magnitude; leading
    /// zero bytes (DER's sign padding) are dropped. Zero and negative values
    /// are refused, since RFC 5280 serials are positive.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(Error::invalid(
                "serial",
                hex(bytes),
                "serial numbers are positive",
            ));
        }
        let magnitude: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        if magnitude.is_empty() {
            return Err(Error::invalid(
                "serial",
                hex(bytes),
                "serial numbers are positive",
            ));
        }
        Ok(Serial(magnitude))
    }

    /// The magnitude, big-endian, without leading zeros.
    pub fn magnitude(&self) -> &[u8] {
        &self.0
    }

    /// Upper-case hex of the magnitude, e.g. `7568396CD2916D45`.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

impl FromStr for Serial {
    type Err = Error;

    /// Accepts hex in either case, with an optional `0x` prefix and optional
    /// `:` separators (as `openssl x509 -text` prints them).
    fn from_str(text: &str) -> Result<Self> {
        let expected = "hex digits, e.g. 7568396CD2916D45 or 75:68:39";
        let trimmed = text.trim();
        let digits: String = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
            .unwrap_or(trimmed)
            .chars()
            .filter(|c| *c != ':')
            .collect();
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::invalid("serial", text, expected));
        }
        let padded = if digits.len() % 2 == 1 {
            format!("0{digits}")
        } else {
            digits
        };
        let mut bytes = Vec::with_capacity(padded.len() / 2);
        for pair in padded.as_bytes().chunks(2) {
            let pair =
                std::str::from_utf8(pair).map_err(|_| Error::invalid("serial", text, expected))?;
            let byte = u8::from_str_radix(pair, 16)
                .map_err(|_| Error::invalid("serial", text, expected))?;
            bytes.push(byte);
        }
        let magnitude: Vec<u8> = bytes.into_iter().skip_while(|b| *b == 0).collect();
        if magnitude.is_empty() {
            return Err(Error::invalid(
                "serial",
                text,
                "serial numbers are positive",
            ));
        }
        Ok(Serial(magnitude))
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_serials_are_positive_full_length_and_distinct() {
        let a = Serial::random();
        let b = Serial::random();
        assert_eq!(a.magnitude().len(), SERIAL_ENTROPY_BYTES);
        assert_ne!(a, b);
        assert!(Serial::from_bytes(a.magnitude()).is_err() || a.magnitude()[0] & 0x80 == 0);
    }

    #[test]
    fn hex_forms_parse_to_one_value() {
        let plain: Serial = "0a1B".parse().unwrap();
        assert_eq!(plain.to_hex(), "0A1B");
        let with_colons: Serial = "0A:1b".parse().unwrap();
        assert_eq!(plain, with_colons);
        let with_prefix: Serial = "0x000A1B".parse().unwrap();
        assert_eq!(plain, with_prefix);
        let odd: Serial = "A1B".parse().unwrap();
        assert_eq!(plain, odd);
    }

    #[test]
    fn bad_hex_is_refused() {
        assert!("".parse::<Serial>().is_err());
        assert!("xyz".parse::<Serial>().is_err());
        assert!("00".parse::<Serial>().is_err());
    }

    #[test]
    fn der_sign_padding_is_dropped() {
        let s = Serial::from_bytes(&[0x00, 0x80, 0x01]).unwrap();
        assert_eq!(s.to_hex(), "8001");
        assert!(Serial::from_bytes(&[0x80]).is_err());
    }
}
