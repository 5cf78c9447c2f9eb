//! testca's serial parsers (`Serial::from_str` for the command line,
//! `Serial::from_bytes` for DER magnitudes): what parses round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use testca::Serial;

fuzz_target!(|data: &[u8]| {
    if let Ok(serial) = Serial::from_bytes(data) {
        let again: Serial = serial.to_hex().parse().expect("a serial's hex parses");
        assert_eq!(again, serial);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(serial) = text.parse::<Serial>()
    {
        let again: Serial = serial.to_hex().parse().expect("a serial's hex parses");
        assert_eq!(again, serial);
        assert!(!serial.magnitude().is_empty());
    }
});
