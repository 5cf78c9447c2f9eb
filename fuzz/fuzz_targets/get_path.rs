//! The responder's GET path decoding (`responder::get_path`), under the
//! root prefix and a nested one, then the request parser on what it decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = String::from_utf8_lossy(data);
    for prefix in ["/", "/ocsp/"] {
        let _ = responder::get_path::under_prefix(&path, prefix);
        if let Ok(der) = responder::get_path::decode_get_path(&path, prefix) {
            let _ = responder::request::parse_request(&der);
        }
    }
});
