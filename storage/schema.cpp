#include "storage/schema.hpp"

namespace sekisho::storage {

namespace {

// Times are ISO 8601 UTC text (base/clock.hpp format_time). Secrets live only in this encrypted
// file and never leave it through an API in plain form.
constexpr const char kV1[] = R"sql(
CREATE TABLE settings (
  name  TEXT PRIMARY KEY,
  value BLOB NOT NULL
);
CREATE TABLE users (
  id                   INTEGER PRIMARY KEY,
  name                 TEXT NOT NULL UNIQUE,
  source               TEXT NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'ldap')),
  password_hash        TEXT,
  must_change_password INTEGER NOT NULL DEFAULT 0,
  totp_secret          BLOB,
  disabled             INTEGER NOT NULL DEFAULT 0,
  created_at           TEXT NOT NULL
);
CREATE TABLE user_roles (
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role    TEXT NOT NULL CHECK (role IN ('requester', 'approver', 'auditor', 'operator')),
  PRIMARY KEY (user_id, role)
);
CREATE TABLE ssh_keys (
  id          INTEGER PRIMARY KEY,
  user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  fingerprint TEXT NOT NULL UNIQUE,
  public_key  TEXT NOT NULL,
  comment     TEXT NOT NULL DEFAULT '',
  created_at  TEXT NOT NULL
);
CREATE TABLE hosts (
  id                   INTEGER PRIMARY KEY,
  name                 TEXT NOT NULL UNIQUE,
  address              TEXT NOT NULL,
  port                 INTEGER NOT NULL,
  protocol             TEXT NOT NULL CHECK (protocol IN ('ssh', 'rdp')),
  host_group           TEXT NOT NULL DEFAULT '',
  host_key             TEXT,
  host_key_fingerprint TEXT,
  created_at           TEXT NOT NULL
);
CREATE TABLE accounts (
  id                   INTEGER PRIMARY KEY,
  host_id              INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
  name                 TEXT NOT NULL,
  rotate_every_seconds INTEGER,
  created_at           TEXT NOT NULL,
  UNIQUE (host_id, name)
);
-- Every version of a credential: exactly one 'current' per account once vaulted, at most one
-- 'pending' while a rotation is under way, and the last N 'previous'.
CREATE TABLE credentials (
  id          INTEGER PRIMARY KEY,
  account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  kind        TEXT NOT NULL CHECK (kind IN ('password', 'key')),
  state       TEXT NOT NULL CHECK (state IN ('current', 'pending', 'previous')),
  secret      BLOB NOT NULL,
  fingerprint TEXT NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX credentials_one_current ON credentials(account_id) WHERE state = 'current';
CREATE UNIQUE INDEX credentials_one_pending ON credentials(account_id) WHERE state = 'pending';
CREATE TABLE requests (
  id           TEXT PRIMARY KEY,
  requester_id INTEGER NOT NULL REFERENCES users(id),
  account_id   INTEGER NOT NULL REFERENCES accounts(id),
  reason       TEXT NOT NULL,
  ticket       TEXT,
  mode         TEXT NOT NULL CHECK (mode IN ('session', 'checkout')),
  state        TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'cancelled',
                                              'expired', 'active', 'closed')),
  break_glass  INTEGER NOT NULL DEFAULT 0,
  start_at     TEXT NOT NULL,
  end_at       TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  updated_at   TEXT NOT NULL
);
CREATE INDEX requests_by_state ON requests(state);
CREATE TABLE reviews (
  id          INTEGER PRIMARY KEY,
  request_id  TEXT NOT NULL REFERENCES requests(id),
  reviewer_id INTEGER NOT NULL REFERENCES users(id),
  decision    TEXT NOT NULL CHECK (decision IN ('approve', 'deny')),
  comment     TEXT NOT NULL DEFAULT '',
  created_at  TEXT NOT NULL,
  UNIQUE (request_id, reviewer_id)
);
CREATE TABLE sessions (
  id               TEXT PRIMARY KEY,
  request_id       TEXT REFERENCES requests(id),
  user_id          INTEGER NOT NULL REFERENCES users(id),
  account_id       INTEGER NOT NULL REFERENCES accounts(id),
  protocol         TEXT NOT NULL CHECK (protocol IN ('ssh', 'rdp')),
  started_at       TEXT NOT NULL,
  ended_at         TEXT,
  recording_path   TEXT,
  recording_hash   TEXT,
  recording_size   INTEGER
);
-- The audit hash chain: hash = HMAC-SHA256(audit key, prev_hash || canonical(event)).
CREATE TABLE audit_events (
  seq       INTEGER PRIMARY KEY,
  time      TEXT NOT NULL,
  actor     TEXT NOT NULL,
  action    TEXT NOT NULL,
  target    TEXT NOT NULL,
  details   TEXT NOT NULL,
  prev_hash BLOB NOT NULL,
  hash      BLOB NOT NULL
);
)sql";

// Identity (API tokens, TOTP enrolment) and the vault's lookups.
constexpr const char kV2[] = R"sql(
CREATE TABLE api_tokens (
  token_hash BLOB PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  roles      TEXT NOT NULL,
  source     TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_tokens_by_user ON api_tokens(user_id);
ALTER TABLE users ADD COLUMN totp_pending BLOB;
CREATE INDEX ssh_keys_by_user ON ssh_keys(user_id);
CREATE INDEX accounts_by_host ON accounts(host_id);
)sql";

// Approval: the policy a request was admitted under and its approvals, fixed at admission; what
// the directory said about a user at their last login (entry DN and groups, for approval rules).
constexpr const char kV4[] = R"sql(
ALTER TABLE requests ADD COLUMN policy TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN approvals_needed INTEGER NOT NULL DEFAULT 1;
ALTER TABLE requests ADD COLUMN overdue_notified INTEGER NOT NULL DEFAULT 0;
CREATE INDEX requests_by_requester ON requests(requester_id, created_at);
CREATE INDEX requests_by_account ON requests(account_id, state);
ALTER TABLE users ADD COLUMN directory_entry TEXT;
ALTER TABLE users ADD COLUMN directory_groups TEXT;
)sql";

// Session listings: newest first by start time, filtered by user; why a session ended and how
// long its recording runs, so that a listing needs no recording file.
constexpr const char kV3[] = R"sql(
ALTER TABLE sessions ADD COLUMN end_reason TEXT;
ALTER TABLE sessions ADD COLUMN duration_us INTEGER;
CREATE INDEX sessions_by_started ON sessions(started_at);
CREATE INDEX sessions_by_user ON sessions(user_id, started_at);
)sql";

// Token scope: a token issued only for TOTP enrolment is told apart in the store. Tokens issued
// before carry no scope; an enrolment-only one among them is known only by its empty role list,
// so those are revoked (a user without roles loses nothing: they log in again).
constexpr const char kV5[] = R"sql(
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'full'
  CHECK (scope IN ('full', 'totp_enrollment'));
UPDATE api_tokens SET revoked = 1 WHERE roles = '[]';
)sql";

// Recording retention: when an ended session's recording was deleted (the row and its audit
// trail stay), and the index the retention pass walks (oldest ended first).
constexpr const char kV6[] = R"sql(
ALTER TABLE sessions ADD COLUMN recording_deleted_at TEXT;
CREATE INDEX sessions_by_ended ON sessions(ended_at);
)sql";

// Sessions cut short (the gateway stopped, or the worker died) whose recording the core sealed:
// they keep a recording hash yet list as incomplete.
constexpr const char kV7[] = R"sql(
ALTER TABLE sessions ADD COLUMN recording_sealed INTEGER NOT NULL DEFAULT 0;
)sql";

// Rotation and check-out (issue 15). Hosts: protocol 'ldap' (a directory whose service accounts
// rotate) and retired_at (a removed host with history is retired, not deleted); the CHECK on
// protocol needs SQLite's table rebuild (new table, copy, drop, rename), which keeps the ids that
// accounts reference. Accounts: their rotation state ('pending' is derived from a pending
// credential, never stored), last rotation, last error and an owed rotation ('' none).
// Check-outs: at most one open per account, enforced by a unique index so that two concurrent
// check-outs cannot both succeed. Jobs: long server-side operations and their progress.
constexpr const char kV8[] = R"sql(
CREATE TABLE hosts_v8 (
  id                   INTEGER PRIMARY KEY,
  name                 TEXT NOT NULL UNIQUE,
  address              TEXT NOT NULL,
  port                 INTEGER NOT NULL,
  protocol             TEXT NOT NULL CHECK (protocol IN ('ssh', 'rdp', 'ldap')),
  host_group           TEXT NOT NULL DEFAULT '',
  host_key             TEXT,
  host_key_fingerprint TEXT,
  created_at           TEXT NOT NULL,
  retired_at           TEXT
);
INSERT INTO hosts_v8 (id, name, address, port, protocol, host_group, host_key,
                      host_key_fingerprint, created_at)
  SELECT id, name, address, port, protocol, host_group, host_key, host_key_fingerprint, created_at
  FROM hosts;
DROP TABLE hosts;
ALTER TABLE hosts_v8 RENAME TO hosts;
ALTER TABLE accounts ADD COLUMN rotation_status TEXT NOT NULL DEFAULT 'current'
  CHECK (rotation_status IN ('current', 'unknown'));
ALTER TABLE accounts ADD COLUMN last_rotated_at TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN rotation_due TEXT NOT NULL DEFAULT '';
CREATE TABLE checkouts (
  id         INTEGER PRIMARY KEY,
  request_id TEXT NOT NULL UNIQUE REFERENCES requests(id),
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  user_id    INTEGER NOT NULL REFERENCES users(id),
  started_at TEXT NOT NULL,
  until      TEXT NOT NULL,
  ended_at   TEXT,
  end_reason TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX checkouts_one_open ON checkouts(account_id) WHERE ended_at IS NULL;
CREATE INDEX checkouts_by_user ON checkouts(user_id);
CREATE TABLE jobs (
  id          TEXT PRIMARY KEY,
  kind        TEXT NOT NULL,
  owner_id    INTEGER NOT NULL REFERENCES users(id),
  description TEXT NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed', 'interrupted')),
  total       INTEGER NOT NULL DEFAULT 0,
  done        INTEGER NOT NULL DEFAULT 0,
  failed      INTEGER NOT NULL DEFAULT 0,
  created_at  TEXT NOT NULL,
  finished_at TEXT,
  result      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX jobs_by_created ON jobs(created_at);
CREATE INDEX jobs_by_owner ON jobs(owner_id, created_at);
CREATE INDEX jobs_by_state ON jobs(state);
)sql";

constexpr Migration kMigrations[] = {
    {1, kV1}, {2, kV2}, {3, kV3}, {4, kV4},
    {5, kV5}, {6, kV6}, {7, kV7}, {.version = 8, .sql = kV8, .rebuilds_table = true},
};

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

}  // namespace sekisho::storage
