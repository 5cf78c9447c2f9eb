//! The revocation database's row ids: how the store, the faults and the
//! commands refer to an issuer or a certificate. Their own module, below
//! the store and the faults, so that both can name a certificate without
//! importing each other.

/// Row id of an issuer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IssuerId(pub i64);

/// Row id of a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertificateId(pub i64);
