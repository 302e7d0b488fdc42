"""PostgreSQL's schema migrations, in step with SQLite's (store/sqlite/migrations.py): the same
numbers, tables and columns, so both databases' schema versions mean the same thing. Never edit
one that has shipped: append a new one, here and there.

Text compares by bytes (COLLATE "C"), as in SQLite: S3 lists keys in UTF-8 byte order. Times are
DOUBLE PRECISION (SQLite's REAL), counts BIGINT, inline bodies BYTEA.
"""

TEXT = 'TEXT COLLATE "C"'

MIGRATIONS: list[str] = [
    # 1: buckets, objects and multipart uploads of the embedded store.
    f"""
    CREATE TABLE buckets (
        name     {TEXT} PRIMARY KEY,
        created  DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE objects (
        bucket         {TEXT} NOT NULL REFERENCES buckets(name),
        key            {TEXT} NOT NULL,
        size           BIGINT NOT NULL,
        etag           {TEXT} NOT NULL,
        modified       DOUBLE PRECISION NOT NULL,
        content_type   {TEXT} NOT NULL,
        headers        {TEXT} NOT NULL,       -- JSON: Cache-Control, Content-Disposition, ...
        metadata       {TEXT} NOT NULL,       -- JSON: x-amz-meta-*
        checksum_algorithm {TEXT},
        checksum       {TEXT},
        checksum_type  {TEXT},
        blobs          {TEXT} NOT NULL,       -- JSON: [[blob id, size], ...] in order
        parts_count    BIGINT,
        PRIMARY KEY (bucket, key)
    );
    CREATE TABLE uploads (
        upload_id      {TEXT} PRIMARY KEY,
        bucket         {TEXT} NOT NULL REFERENCES buckets(name),
        key            {TEXT} NOT NULL,
        initiated      DOUBLE PRECISION NOT NULL,
        content_type   {TEXT} NOT NULL,
        headers        {TEXT} NOT NULL,
        metadata       {TEXT} NOT NULL,
        checksum_algorithm {TEXT},
        checksum_type  {TEXT}
    );
    CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated);
    CREATE TABLE parts (
        upload_id      {TEXT} NOT NULL REFERENCES uploads(upload_id) ON DELETE CASCADE,
        part_number    BIGINT NOT NULL,
        size           BIGINT NOT NULL,
        etag           {TEXT} NOT NULL,
        modified       DOUBLE PRECISION NOT NULL,
        checksum       {TEXT},
        blob           {TEXT} NOT NULL,
        PRIMARY KEY (upload_id, part_number)
    );
    """,
    # 2: batch inference jobs and their tags.
    f"""
    CREATE TABLE jobs (
        job_id         {TEXT} PRIMARY KEY,
        arn            {TEXT} NOT NULL UNIQUE,
        name           {TEXT} NOT NULL,
        provider       {TEXT} NOT NULL,
        model_id       {TEXT} NOT NULL,
        role_arn       {TEXT} NOT NULL,
        client_token   {TEXT} UNIQUE,
        status         {TEXT} NOT NULL,
        message        {TEXT},
        submit_time    DOUBLE PRECISION NOT NULL,
        last_modified  DOUBLE PRECISION NOT NULL,
        end_time       DOUBLE PRECISION,
        input_config   {TEXT} NOT NULL,       -- JSON, as given
        output_config  {TEXT} NOT NULL,       -- JSON, as given
        vpc_config     {TEXT},
        timeout_hours  BIGINT NOT NULL,
        invocation_type {TEXT},
        total          BIGINT,
        processed      BIGINT NOT NULL DEFAULT 0,
        success        BIGINT NOT NULL DEFAULT 0,
        errors         BIGINT NOT NULL DEFAULT 0,
        input_tokens   BIGINT NOT NULL DEFAULT 0,
        output_tokens  BIGINT NOT NULL DEFAULT 0,
        stop_requested BIGINT NOT NULL DEFAULT 0,
        upstream       {TEXT}                 -- JSON: the provider's own ids and state
    );
    CREATE INDEX jobs_by_time ON jobs (submit_time, job_id);
    CREATE INDEX jobs_by_name ON jobs (name);
    CREATE INDEX jobs_by_status ON jobs (status);
    CREATE TABLE tags (
        arn    {TEXT} NOT NULL,
        key    {TEXT} NOT NULL,
        value  {TEXT} NOT NULL,
        PRIMARY KEY (arn, key)
    );
    """,
    # 3: small objects live in their row; provider file ids are found by ETag.
    """
    ALTER TABLE objects ADD COLUMN data BYTEA;
    CREATE INDEX objects_by_etag ON objects (etag);
    """,
    # 4: every job belongs to a tenant ("" on a server without keys); its lists and quotas are
    # per tenant.
    f"""
    ALTER TABLE jobs ADD COLUMN tenant {TEXT} NOT NULL DEFAULT '';
    CREATE INDEX jobs_by_tenant ON jobs (tenant, submit_time, job_id);
    """,
    # 5: buckets created through the bedrock provider's S3 pass-through, and their tenant.
    f"""
    CREATE TABLE proxy_buckets (
        name    {TEXT} PRIMARY KEY,
        tenant  {TEXT} NOT NULL
    );
    """,
    # 6: multipart uploads completed in the last day, so a repeated completion gets the answer
    # the first one got.
    f"""
    CREATE TABLE completed_uploads (
        upload_id      {TEXT} PRIMARY KEY,
        bucket         {TEXT} NOT NULL,
        key            {TEXT} NOT NULL,
        size           BIGINT NOT NULL,
        etag           {TEXT} NOT NULL,
        checksum_algorithm {TEXT},
        checksum       {TEXT},
        checksum_type  {TEXT},
        completed      DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX completed_uploads_by_time ON completed_uploads (completed);
    """,
    # 7: jobs of the OpenAI dialect beside Bedrock's, the first time a job had each status, and
    # the files of the OpenAI dialect (their bytes are objects of a bucket no S3 client can name).
    f"""
    ALTER TABLE jobs ADD COLUMN dialect {TEXT} NOT NULL DEFAULT 'bedrock';
    ALTER TABLE jobs ADD COLUMN extra {TEXT};   -- JSON: the dialect's own fields
    ALTER TABLE jobs ADD COLUMN events {TEXT};  -- JSON: status -> when the job first had it
    CREATE INDEX jobs_by_dialect ON jobs (tenant, dialect, submit_time, job_id);
    CREATE TABLE files (
        file_id     {TEXT} PRIMARY KEY,
        tenant      {TEXT} NOT NULL,
        filename    {TEXT} NOT NULL,
        purpose     {TEXT} NOT NULL,
        bytes       BIGINT NOT NULL,
        created_at  BIGINT NOT NULL,
        expires_at  BIGINT
    );
    CREATE INDEX files_by_tenant ON files (tenant, created_at, file_id);
    """,
    # 8: OpenAI's Uploads, and their parts until completion makes them a file's bytes.
    f"""
    CREATE TABLE file_uploads (
        upload_id      {TEXT} PRIMARY KEY,
        tenant         {TEXT} NOT NULL,
        filename       {TEXT} NOT NULL,
        purpose        {TEXT} NOT NULL,
        bytes          BIGINT NOT NULL,
        mime_type      {TEXT} NOT NULL,
        created_at     BIGINT NOT NULL,
        expires_at     BIGINT NOT NULL,
        status         {TEXT} NOT NULL,
        file_lifetime  BIGINT,             -- seconds the completed file lives
        file_id        {TEXT}
    );
    CREATE INDEX file_uploads_by_status ON file_uploads (status, expires_at);
    CREATE TABLE file_upload_parts (
        part_id        {TEXT} PRIMARY KEY,
        upload_id      {TEXT} NOT NULL REFERENCES file_uploads(upload_id),
        created_at     BIGINT NOT NULL,
        size           BIGINT NOT NULL,
        blob           {TEXT} NOT NULL
    );
    CREATE INDEX file_upload_parts_by_upload ON file_upload_parts (upload_id, created_at);
    """,
    # 9: what a job cost, and its end as an event for [[webhooks]], written in the transaction
    # that ends it, with each webhook's deliveries of it.
    f"""
    ALTER TABLE jobs ADD COLUMN cost DOUBLE PRECISION;
    CREATE TABLE job_events (
        event_id   {TEXT} PRIMARY KEY,
        job_id     {TEXT} NOT NULL,
        status     {TEXT} NOT NULL,
        created    DOUBLE PRECISION NOT NULL,
        done       DOUBLE PRECISION
    );
    CREATE INDEX job_events_pending ON job_events (done, created);
    CREATE TABLE webhook_deliveries (
        event_id   {TEXT} NOT NULL,
        hook       {TEXT} NOT NULL,
        attempts   BIGINT NOT NULL,
        next_at    DOUBLE PRECISION NOT NULL,
        delivered  DOUBLE PRECISION,
        last_error {TEXT},
        PRIMARY KEY (event_id, hook)
    );
    """,
    # 10: jobs leased to one replica at a time, with a fencing token every write of the job's
    # progress is checked against; each record's answer, kept here when replicas share the store
    # so that another replica can take a job over where it was; and the replicas' heartbeats.
    f"""
    CREATE TABLE replicas (
        replica_id     {TEXT} PRIMARY KEY,
        seen           DOUBLE PRECISION NOT NULL
    );
    ALTER TABLE jobs ADD COLUMN lease_owner {TEXT};
    ALTER TABLE jobs ADD COLUMN lease_expires DOUBLE PRECISION;
    ALTER TABLE jobs ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
    CREATE TABLE job_records (
        job_id         {TEXT} NOT NULL,
        input_index    BIGINT NOT NULL,
        line_no        BIGINT NOT NULL,
        ok             BIGINT NOT NULL,
        input_tokens   BIGINT NOT NULL,
        output_tokens  BIGINT NOT NULL,
        output         BYTEA NOT NULL,
        PRIMARY KEY (job_id, input_index, line_no)
    );
    CREATE TABLE job_sent (
        job_id         {TEXT} NOT NULL,
        position       BIGINT NOT NULL,
        custom_id      {TEXT} NOT NULL,
        PRIMARY KEY (job_id, position)
    );
    """,
]
