-- +goose Up
-- One row per callback job, updated as its attempts are logged.
CREATE TABLE callbacks (
    id           text PRIMARY KEY,
    request_id   text        NOT NULL,
    org_id       text        NOT NULL,
    entity_type  text        NOT NULL,
    entity_ids   text[]      NOT NULL DEFAULT '{}',
    service      text        NOT NULL DEFAULT '',
    state        text        NOT NULL,
    attempts     integer     NOT NULL DEFAULT 0,
    enqueued_at  timestamptz NOT NULL,
    deadline     timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    completed_at timestamptz
);
CREATE INDEX callbacks_state_updated_idx ON callbacks (state, updated_at);

-- Every attempt: when, how long, what Adobe answered, what came next.
CREATE TABLE attempts (
    id            bigserial PRIMARY KEY,
    callback_id   text        NOT NULL,
    number        integer     NOT NULL,
    started_at    timestamptz NOT NULL,
    duration_ms   integer     NOT NULL,
    http_status   integer,
    outcome       text        NOT NULL,
    error         text        NOT NULL DEFAULT '',
    next_retry_at timestamptz
);
CREATE INDEX attempts_callback_idx ON attempts (callback_id, started_at);
CREATE INDEX attempts_started_idx ON attempts (started_at);

-- Dead letters: kept until an operator purges them.
CREATE TABLE dead_letters (
    id               text PRIMARY KEY,
    job              jsonb       NOT NULL,
    reason           text        NOT NULL,
    last_status      integer,
    excerpt          text        NOT NULL DEFAULT '' CHECK (octet_length(excerpt) <= 4096),
    error            text        NOT NULL DEFAULT '',
    attempts         integer     NOT NULL DEFAULT 0,
    org_id           text        NOT NULL,
    service          text        NOT NULL DEFAULT '',
    entity_type      text        NOT NULL,
    state            text        NOT NULL DEFAULT 'dead',
    dead_lettered_at timestamptz NOT NULL,
    requeue_count    integer     NOT NULL DEFAULT 0,
    last_requeued_at timestamptz,
    requeued_by      text        NOT NULL DEFAULT '',
    requeue_note     text        NOT NULL DEFAULT ''
);
CREATE INDEX dead_letters_time_idx ON dead_letters (dead_lettered_at, id);
CREATE INDEX dead_letters_reason_idx ON dead_letters (reason, dead_lettered_at);
CREATE INDEX dead_letters_status_idx ON dead_letters (last_status, dead_lettered_at);
CREATE INDEX dead_letters_org_idx ON dead_letters (org_id, dead_lettered_at);
CREATE INDEX dead_letters_service_idx ON dead_letters (service, dead_lettered_at);
CREATE INDEX dead_letters_state_idx ON dead_letters (state, dead_lettered_at);

-- +goose Down
DROP TABLE dead_letters;
DROP TABLE attempts;
DROP TABLE callbacks;
