// Takes a store back to the tables schema version 7 had where version 8 changed them (hosts,
// accounts, credentials) or added them (checkouts, jobs), empty; tests of older migrations run it
// before their own step back, so that every later migration runs again on reopen.
#pragma once

namespace sekisho::storage {

inline constexpr char kUndoV8[] = R"sql(
DROP TABLE checkouts;
DROP TABLE jobs;
DROP TABLE credentials;
DROP TABLE accounts;
DROP TABLE hosts;
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
CREATE INDEX accounts_by_host ON accounts(host_id);
)sql";

}  // namespace sekisho::storage
