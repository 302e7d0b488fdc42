"""Schema migrations, in order. Never edit one that has shipped: append a new one."""

MIGRATIONS: list[str] = [
    # 1: buckets, objects and multipart uploads of the embedded store.
    """
    CREATE TABLE buckets (
        name     TEXT PRIMARY KEY,
        created  REAL NOT NULL
    );
    CREATE TABLE objects (
        bucket         TEXT NOT NULL REFERENCES buckets(name),
        key            TEXT NOT NULL,
        size           INTEGER NOT NULL,
        etag           TEXT NOT NULL,
        modified       REAL NOT NULL,
        content_type   TEXT NOT NULL,
        headers        TEXT NOT NULL,       -- JSON: Cache-Control, Content-Disposition, ...
        metadata       TEXT NOT NULL,       -- JSON: x-amz-meta-*
        checksum_algorithm TEXT,
        checksum       TEXT,
        checksum_type  TEXT,
        blobs          TEXT NOT NULL,       -- JSON: [[blob id, size], ...] in order
        parts_count    INTEGER,
        PRIMARY KEY (bucket, key)
    ) WITHOUT ROWID;
    CREATE TABLE uploads (
        upload_id      TEXT PRIMARY KEY,
        bucket         TEXT NOT NULL REFERENCES buckets(name),
        key            TEXT NOT NULL,
        initiated      REAL NOT NULL,
        content_type   TEXT NOT NULL,
        headers        TEXT NOT NULL,
        metadata       TEXT NOT NULL,
        checksum_algorithm TEXT,
        checksum_type  TEXT
    );
    CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated);
    CREATE TABLE parts (
        upload_id      TEXT NOT NULL REFERENCES uploads(upload_id) ON DELETE CASCADE,
        part_number    INTEGER NOT NULL,
        size           INTEGER NOT NULL,
        etag           TEXT NOT NULL,
        modified       REAL NOT NULL,
        checksum       TEXT,
        blob           TEXT NOT NULL,
        PRIMARY KEY (upload_id, part_number)
    ) WITHOUT ROWID;
    """,
]
