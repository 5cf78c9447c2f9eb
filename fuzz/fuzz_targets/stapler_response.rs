//! The stapler's response verification (`stapler::verify::verify`, with and
//! without the signature check) and its unverified reading of static staple
//! files (`stapler::verify::unverified`), for a fixed lab certificate.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use openssl::x509::X509;
use stapler::verify::{Expectation, verify};

struct Fixture {
    leaf: X509,
    issuer: X509,
    root: X509,
}

/// `localhost` of a lab made by `testca init`, and its CAs (fuzz/fixtures).
static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let load = |pem: &[u8]| X509::from_pem(pem).expect("fixture certificate");
    Fixture {
        leaf: load(include_bytes!("../fixtures/leaf.pem")),
        issuer: load(include_bytes!("../fixtures/issuer.pem")),
        root: load(include_bytes!("../fixtures/root.pem")),
    }
});

/// Inside the validity of the seed responses, so that they pass every check.
const SEED_TIME: u64 = include!("../fixtures/seed_time.txt");

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    let untrusted = [fixture.issuer.clone()];
    let trusted = [fixture.root.clone()];
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(SEED_TIME);
    for check_signature in [true, false] {
        for nonce in [None, Some(&b"0123456789abcdef"[..])] {
            let expected = Expectation {
                leaf: &fixture.leaf,
                issuer: &fixture.issuer,
                untrusted: &untrusted,
                trusted: &trusted,
                nonce,
                clock_skew: Duration::from_secs(300),
                check_signature,
            };
            if let Ok(verified) = verify(data, &expected, now) {
                assert_eq!(verified.der(), data);
                let _ = verified.is_current(now);
            }
        }
    }
    let _ = stapler::verify::unverified(data);
});
