//! The media types the lab's servers and clients put on the wire.

/// Media type of OCSP requests (RFC 6960 Appendix A).
pub const OCSP_REQUEST: &str = "application/ocsp-request";

/// Media type of OCSP responses (RFC 6960 Appendix A).
pub const OCSP_RESPONSE: &str = "application/ocsp-response";

/// Media type of a DER certificate at a CA Issuers URL (RFC 2585).
pub const PKIX_CERT: &str = "application/pkix-cert";

/// Media type of a DER CRL at a CRL distribution point (RFC 2585).
pub const PKIX_CRL: &str = "application/pkix-crl";

/// Media type of the servers' `/metrics` (OpenMetrics text).
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
