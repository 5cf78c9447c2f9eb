-- The revocation database of an OCSP Lab.
-- Times are Unix seconds (UTC). Serials are upper-case hex of the positive
-- magnitude without leading zeros. Only runtime queries in store.rs touch it.

-- One row; `generation` grows with every change a responder must notice.
CREATE TABLE lab_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO lab_meta (id, generation) VALUES (1, 0);

-- Certification authorities whose certificates the lab answers for.
CREATE TABLE issuers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    cert_der BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- CertID issuer hashes, so that a request is matched without recomputing.
CREATE TABLE issuer_hashes (
    issuer_id INTEGER NOT NULL REFERENCES issuers (id),
    hash_alg TEXT NOT NULL CHECK (hash_alg IN ('sha1', 'sha256', 'sha384', 'sha512')),
    name_hash BLOB NOT NULL,
    key_hash BLOB NOT NULL,
    PRIMARY KEY (hash_alg, name_hash, key_hash)
);

-- Every certificate issued by an issuer above, with its revocation state.
CREATE TABLE certificates (
    id INTEGER PRIMARY KEY,
    issuer_id INTEGER NOT NULL REFERENCES issuers (id),
    serial TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('ca', 'leaf', 'ocsp-signer')),
    subject TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    revoked_at INTEGER,
    reason INTEGER,
    der BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (issuer_id, serial),
    CHECK (reason IS NULL OR revoked_at IS NOT NULL)
);
CREATE INDEX certificates_by_name ON certificates (name);
CREATE INDEX certificates_by_serial ON certificates (serial);

-- The private keys of delegated OCSP signers; the newest per issuer signs.
CREATE TABLE ocsp_signers (
    certificate_id INTEGER PRIMARY KEY REFERENCES certificates (id),
    key_pem TEXT NOT NULL
);
