//! The verdicts of `stapler check`, which are its exit codes: the stapler
//! decides them, testca's control plane runs the check and names them.

use std::fmt;

/// The conclusion of a staple check, as an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Verdict {
    /// 0: a valid staple says good, and the chain verifies.
    Good = 0,
    /// 1: a valid staple says revoked.
    Revoked = 1,
    /// 2: a staple was sent but must not be trusted.
    InvalidStaple = 2,
    /// 3: no staple was sent.
    NoStaple = 3,
    /// 4: the certificate or its chain does not verify.
    BadCertificate = 4,
    /// 5: no TLS connection could be made.
    ConnectionFailed = 5,
}

impl Verdict {
    /// Every verdict, in exit-code order.
    pub const ALL: [Verdict; 6] = [
        Verdict::Good,
        Verdict::Revoked,
        Verdict::InvalidStaple,
        Verdict::NoStaple,
        Verdict::BadCertificate,
        Verdict::ConnectionFailed,
    ];

    /// The exit code of `stapler check`.
    pub fn exit_code(self) -> u8 {
        self as u8
    }

    /// The verdict an exit code stands for; `None` for any other code.
    pub fn from_exit_code(code: i32) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| i32::from(v.exit_code()) == code)
    }

    /// The verdict in a few words, e.g. `no staple`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Good => "good",
            Verdict::Revoked => "revoked",
            Verdict::InvalidStaple => "invalid staple",
            Verdict::NoStaple => "no staple",
            Verdict::BadCertificate => "bad certificate",
            Verdict::ConnectionFailed => "connection failed",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_round_trip() {
        for verdict in Verdict::ALL {
            assert_eq!(
                Verdict::from_exit_code(i32::from(verdict.exit_code())),
                Some(verdict)
            );
        }
        assert_eq!(Verdict::from_exit_code(6), None);
        assert_eq!(Verdict::from_exit_code(-1), None);
        assert_eq!(Verdict::NoStaple.exit_code(), 3);
    }
}
