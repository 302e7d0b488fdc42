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
    # 2: batch inference jobs and their tags.
    """
    CREATE TABLE jobs (
        job_id         TEXT PRIMARY KEY,
        arn            TEXT NOT NULL UNIQUE,
        name           TEXT NOT NULL,
        provider       TEXT NOT NULL,
        model_id       TEXT NOT NULL,
        role_arn       TEXT NOT NULL,
        client_token   TEXT UNIQUE,
        status         TEXT NOT NULL,
        message        TEXT,
        submit_time    REAL NOT NULL,
        last_modified  REAL NOT NULL,
        end_time       REAL,
        input_config   TEXT NOT NULL,       -- JSON, as given
        output_config  TEXT NOT NULL,       -- JSON, as given
        vpc_config     TEXT,
        timeout_hours  INTEGER NOT NULL,
        invocation_type TEXT,
        total          INTEGER,
        processed      INTEGER NOT NULL DEFAULT 0,
        success        INTEGER NOT NULL DEFAULT 0,
        errors         INTEGER NOT NULL DEFAULT 0,
        input_tokens   INTEGER NOT NULL DEFAULT 0,
        output_tokens  INTEGER NOT NULL DEFAULT 0,
        stop_requested INTEGER NOT NULL DEFAULT 0,
        upstream       TEXT                 -- JSON: the provider's own ids and state
    );
    CREATE INDEX jobs_by_time ON jobs (submit_time, job_id);
    CREATE INDEX jobs_by_name ON jobs (name);
    CREATE INDEX jobs_by_status ON jobs (status);
    CREATE TABLE tags (
        arn    TEXT NOT NULL,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (arn, key)
    ) WITHOUT ROWID;
    """,
    # 3: small objects live in their row; provider file ids are found by ETag.
    """
    ALTER TABLE objects ADD COLUMN data BLOB;
    CREATE INDEX objects_by_etag ON objects (etag);
    """,
    # 4: every job belongs to a tenant ("" on a server without keys); its lists and quotas are
    # per tenant.
    """
    ALTER TABLE jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
    CREATE INDEX jobs_by_tenant ON jobs (tenant, submit_time, job_id);
    """,
    # 5: buckets created through the bedrock provider's S3 pass-through, and their tenant.
    """
    CREATE TABLE proxy_buckets (
        name    TEXT PRIMARY KEY,
        tenant  TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 6: multipart uploads completed in the last day, so a repeated completion gets the answer
    # the first one got.
    """
    CREATE TABLE completed_uploads (
        upload_id      TEXT PRIMARY KEY,
        bucket         TEXT NOT NULL,
        key            TEXT NOT NULL,
        size           INTEGER NOT NULL,
        etag           TEXT NOT NULL,
        checksum_algorithm TEXT,
        checksum       TEXT,
        checksum_type  TEXT,
        completed      REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX completed_uploads_by_time ON completed_uploads (completed);
    """,
    # 7: jobs of the OpenAI dialect beside Bedrock's, the first time a job had each status, and
    # the files of the OpenAI dialect (their bytes are objects of a bucket no S3 client can name).
    """
    ALTER TABLE jobs ADD COLUMN dialect TEXT NOT NULL DEFAULT 'bedrock';
    ALTER TABLE jobs ADD COLUMN extra TEXT;   -- JSON: the dialect's own fields
    ALTER TABLE jobs ADD COLUMN events TEXT;  -- JSON: status -> when the job first had it
    CREATE INDEX jobs_by_dialect ON jobs (tenant, dialect, submit_time, job_id);
    CREATE TABLE files (
        file_id     TEXT PRIMARY KEY,
        tenant      TEXT NOT NULL,
        filename    TEXT NOT NULL,
        purpose     TEXT NOT NULL,
        bytes       INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX files_by_tenant ON files (tenant, created_at, file_id);
    """,
    # 8: OpenAI's Uploads, and their parts until completion makes them a file's bytes.
    """
    CREATE TABLE file_uploads (
        upload_id      TEXT PRIMARY KEY,
        tenant         TEXT NOT NULL,
        filename       TEXT NOT NULL,
        purpose        TEXT NOT NULL,
        bytes          INTEGER NOT NULL,
        mime_type      TEXT NOT NULL,
        created_at     INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL,
        status         TEXT NOT NULL,
        file_lifetime  INTEGER,             -- seconds the completed file lives
        file_id        TEXT
    ) WITHOUT ROWID;
    CREATE INDEX file_uploads_by_status ON file_uploads (status, expires_at);
    CREATE TABLE file_upload_parts (
        part_id        TEXT PRIMARY KEY,
        upload_id      TEXT NOT NULL REFERENCES file_uploads(upload_id),
        created_at     INTEGER NOT NULL,
        size           INTEGER NOT NULL,
        blob           TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX file_upload_parts_by_upload ON file_upload_parts (upload_id, created_at);
    """,
    # 9: what a job cost, and its end as an event for [[webhooks]], written in the transaction
    # that ends it, with each webhook's deliveries of it.
    """
    ALTER TABLE jobs ADD COLUMN cost REAL;
    CREATE TABLE job_events (
        event_id   TEXT PRIMARY KEY,
        job_id     TEXT NOT NULL,
        status     TEXT NOT NULL,
        created    REAL NOT NULL,
        done       REAL
    );
    CREATE INDEX job_events_pending ON job_events (done, created);
    CREATE TABLE webhook_deliveries (
        event_id   TEXT NOT NULL,
        hook       TEXT NOT NULL,
        attempts   INTEGER NOT NULL,
        next_at    REAL NOT NULL,
        delivered  REAL,
        last_error TEXT,
        PRIMARY KEY (event_id, hook)
    ) WITHOUT ROWID;
    """,
    # 10: jobs leased to one replica at a time, with a fencing token every write of the job's
    # progress is checked against; each record's answer, kept here when replicas share the store
    # so that another replica can take a job over where it was; and the replicas' heartbeats.
    """
    CREATE TABLE replicas (
        replica_id     TEXT PRIMARY KEY,
        seen           REAL NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
    ALTER TABLE jobs ADD COLUMN lease_expires REAL;
    ALTER TABLE jobs ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE job_records (
        job_id         TEXT NOT NULL,
        input_index    INTEGER NOT NULL,
        line_no        INTEGER NOT NULL,
        ok             INTEGER NOT NULL,
        input_tokens   INTEGER NOT NULL,
        output_tokens  INTEGER NOT NULL,
        output         BLOB NOT NULL,
        PRIMARY KEY (job_id, input_index, line_no)
    ) WITHOUT ROWID;
    CREATE TABLE job_sent (
        job_id         TEXT NOT NULL,
        position       INTEGER NOT NULL,
        custom_id      TEXT NOT NULL,
        PRIMARY KEY (job_id, position)
    ) WITHOUT ROWID;
    """,
]
