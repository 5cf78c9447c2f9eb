//! testca's name checks: certificate names (they become directories under
//! `certs/`), subject alternative names, and the enum names of the command
//! line (issuer, key algorithm, revocation reason, fault mode).
#![no_main]

use labcore::{CaName, RevocationReason};
use libfuzzer_sys::fuzz_target;
use testca::KeyAlg;
use testca::authority::{check_leaf_name, check_san};
use testca::faults::FaultMode;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if check_leaf_name(text).is_ok() {
        // An accepted name is one path component inside certs/, never a way out.
        assert!(!text.is_empty() && !text.starts_with('.'));
        assert!(!text.contains('/') && !text.contains('\\') && !text.contains('\0'));
    }
    let _ = check_san(text);
    let _ = text.parse::<CaName>();
    let _ = text.parse::<KeyAlg>();
    let _ = text.parse::<RevocationReason>();
    let _ = text.parse::<FaultMode>();
});
