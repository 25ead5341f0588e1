// Where the SSH rotation connector finds a target's host: the host's address, port and pinned
// key from the store, and the logins the host's [[rotation.policy]] rule names (its rotation and
// reconcile accounts, vaulted accounts of the same host) with their current secrets.
#pragma once

#include "broker/rotation/ssh_connector.hpp"
#include "rotation/rotation_policy.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

// A lookup over `store` and `settings` (both outlive it). kUnavailable naming the host when it is
// not registered or its key was never pinned, and naming the account when the rule's rotation or
// reconcile account has no vaulted credential there; never a secret. Any thread.
SshRotationLookup make_ssh_rotation_lookup(storage::Store& store,
                                           const rotation::RotationSettings& settings);

}  // namespace sekisho::broker
