#include "ssh/target.hpp"

#include <string>

#include "ssh/keys.hpp"

namespace sekisho::ssh {

namespace {

// libssh's limit on each blocking step with the target: the key exchange, then the login (a
// loaded target, or one whose PAM asks a directory, can take seconds to answer).
constexpr long kTargetConnectSeconds = 30;
constexpr long kTargetLoginSeconds = 60;

// libssh's answer to the login request (SSH_AUTH_*) for `kind`. A private key libssh cannot read
// is SSH_AUTH_ERROR, like a dropped connection.
int authenticate(ssh_session session, CredentialKind kind, const Secret& secret) {
  if (kind == CredentialKind::kPrivateKey) {
    ssh_key priv = nullptr;
    const std::string text(secret.view());  // NUL-terminated for libssh; wiped at once
    const int imported =
        ssh_pki_import_privkey_base64(text.c_str(), nullptr, nullptr, nullptr, &priv);
    wipe(const_cast<char*>(text.data()), text.size());
    if (imported != SSH_OK) return SSH_AUTH_ERROR;
    SshKey key(priv);
    return ssh_userauth_publickey(session, nullptr, key.get());
  }
  const std::string password(secret.view());
  const int rc = ssh_userauth_password(session, nullptr, password.c_str());
  wipe(const_cast<char*>(password.data()), password.size());
  return rc;
}

}  // namespace

std::string host_key_algorithms(std::string_view pinned_host_key) {
  const std::string_view type = pinned_host_key.substr(0, pinned_host_key.find(' '));
  return type == "ssh-rsa" ? "rsa-sha2-512,rsa-sha2-256" : std::string(type);
}

Result<SshSession> new_target_session(const TargetAccount& target) {
  SshSession s(ssh_new());
  if (!s) return fail(ErrorCode::kInternal, "cannot create an SSH session");
  const std::string host_keys = host_key_algorithms(target.pinned_host_key);
  bool no = false;
  long timeout = kTargetConnectSeconds;
  const char* none = "/dev/null";
  if (ssh_options_set(s.get(), SSH_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_HOST, target.address.c_str()) != SSH_OK ||
      // The account and an explicit ~/.ssh: libssh would otherwise take the local user and home
      // from the password database, which the chroot does not have (and the local user is not
      // the target account).
      ssh_options_set(s.get(), SSH_OPTIONS_USER, target.account.c_str()) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_SSH_DIR, "/nonexistent") != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_PORT, &target.port) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_TIMEOUT, &timeout) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_KNOWNHOSTS, none) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_GLOBAL_KNOWNHOSTS, none) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_HOSTKEYS, host_keys.c_str()) != SSH_OK) {
    return fail(ErrorCode::kInternal, "bad options for the target");
  }
  return s;
}

Result<void> handshake_target(ssh_session session, int fd) {
  // libssh owns the socket from here (ssh_free closes it); SSH_OPTIONS_HOST only names the target
  // in libssh's messages, ssh_connect connects nothing when it has a descriptor. libssh refuses
  // only a negative descriptor, which there is nothing to close for.
  socket_t socket = fd;
  if (ssh_options_set(session, SSH_OPTIONS_FD, &socket) != SSH_OK) {
    return fail(ErrorCode::kInternal, "bad options for the target");
  }
  if (ssh_connect(session) != SSH_OK) {
    return fail(ErrorCode::kUnavailable,
                std::string("cannot reach the target host: ") + ssh_get_error(session));
  }
  long timeout = kTargetLoginSeconds;
  (void)ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &timeout);
  return ok();
}

Result<std::string> presented_host_key(ssh_session session) {
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(session, &raw) != SSH_OK) {
    return fail(ErrorCode::kUnavailable, "the target host sent no host key");
  }
  const SshKey presented(raw);
  return public_key_line(presented.get());
}

Result<void> log_in_to_target(ssh_session session, CredentialKind kind, const Secret& secret) {
  const int rc = authenticate(session, kind, secret);
  if (rc == SSH_AUTH_DENIED) {
    return fail(ErrorCode::kUnauthenticated, "the target refused the vaulted credential");
  }
  if (rc == SSH_AUTH_PARTIAL) {
    return fail(ErrorCode::kUnauthenticated,
                "the target asks for more than the vaulted credential (a second factor)");
  }
  if (rc == SSH_AUTH_AGAIN) {  // libssh's answer in blocking mode when the limit passed
    return fail(ErrorCode::kUnavailable, "the target did not answer the login within " +
                                             std::to_string(kTargetLoginSeconds) + " s");
  }
  if (rc != SSH_AUTH_SUCCESS) {
    // A dropped connection or a protocol error: not a verdict on the credential.
    return fail(ErrorCode::kUnavailable,
                std::string("the login to the target failed: ") + ssh_get_error(session));
  }
  return ok();
}

}  // namespace sekisho::ssh
