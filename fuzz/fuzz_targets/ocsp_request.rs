//! The responder's OCSP request parser (`responder::request::parse_request`):
//! any bytes give a parsed request or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = responder::request::parse_request(data) {
        assert!(
            !request.cert_ids.is_empty(),
            "a parsed request names a certificate"
        );
        let _ = request.has_unsupported_critical_extension();
        if let Some(nonce) = &request.nonce {
            let _ = nonce.check_length(32);
            let _ = nonce.nonce_bytes();
        }
    }
});
