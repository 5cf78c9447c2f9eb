//! The lab's time parser (`labcore::timestamp::parse_time`, RFC 3339 for
//! testca's `--at`):
//! a time or a one-line error naming the value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match labcore::timestamp::parse_time(text) {
        Ok(t) => {
            // What testca stores and prints must be representable.
            let _ = testca::store::truncate(t);
        }
        Err(e) => assert!(!e.to_string().contains('\n') || text.contains('\n')),
    }
});
