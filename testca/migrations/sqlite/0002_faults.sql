-- Faults that QA injects into the responder (`testca fault set`).
-- At most one fault per scope: one for all certificates (certificate_id NULL)
-- and one per certificate; a certificate's own fault wins over the global one.
CREATE TABLE faults (
    id INTEGER PRIMARY KEY,
    mode TEXT NOT NULL,
    certificate_id INTEGER REFERENCES certificates (id),
    expires_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX faults_one_per_scope ON faults (COALESCE(certificate_id, 0));
