// One RAII owner per libssh handle type, for the core and the workers alike. Each frees its
// handle with libssh's own function exactly once; ssh_free also closes the session's socket.
#pragma once

#include <libssh/libssh.h>
#include <libssh/server.h>

#include "base/c_handle.hpp"

namespace sekisho::ssh {

using SshSession = CHandle<ssh_session_struct, ssh_free>;
using SshKey = CHandle<ssh_key_struct, ssh_key_free>;
using SshBind = CHandle<ssh_bind_struct, ssh_bind_free>;
using SshEvent = CHandle<ssh_event_struct, ssh_event_free>;

}  // namespace sekisho::ssh
