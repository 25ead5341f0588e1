// Endpoints for what the gateway manages: hosts (with their pinned SSH host keys) and the
// privileged accounts on them, whose credentials go into the vault and never come back out.
#include <chrono>

#include "broker/api/routes.hpp"
#include "broker/ssh/host_key_probe.hpp"
#include "storage/hosts.hpp"

namespace sekisho::broker {

namespace {

using nlohmann::json;

constexpr std::chrono::seconds kProbeTimeout{10};

json host_json(const storage::HostRecord& h) {
  return {{"name", h.name},
          {"address", h.address},
          {"port", h.port},
          {"protocol", h.protocol},
          {"group", h.group},
          {"host_key_fingerprint", h.host_key_fingerprint},
          {"created_at", h.created_at},
          {"retired_at", h.retired_at.empty() ? json(nullptr) : json(h.retired_at)}};
}

Result<int> port_field(const json& body, int fallback) {
  if (!body.contains("port") || body["port"].is_null()) return fallback;
  if (!body["port"].is_number_integer() || body["port"].get<long long>() < 1 ||
      body["port"].get<long long>() > 65535) {
    return fail(ErrorCode::kInvalidArgument, "port: must be an integer from 1 to 65535");
  }
  return static_cast<int>(body["port"].get<long long>());
}

Result<storage::HostRecord> host_from_request(const ApiRequest& req, const Clock& clock) {
  storage::HostRecord host;
  auto name = string_field(req.body, "name", 64);
  if (!name) return tl::make_unexpected(name.error());
  if (auto r = storage::check_host_name(*name); !r) return tl::make_unexpected(r.error());
  auto address = string_field(req.body, "address", 253);
  if (!address) return tl::make_unexpected(address.error());
  auto protocol = optional_string_field(req.body, "protocol", 8);
  if (!protocol) return tl::make_unexpected(protocol.error());
  host.protocol = protocol->value_or("ssh");
  if (host.protocol != "ssh" && host.protocol != "rdp") {
    return fail(ErrorCode::kInvalidArgument, "protocol: must be ssh or rdp");
  }
  auto port = port_field(req.body, host.protocol == "ssh" ? 22 : 3389);
  if (!port) return tl::make_unexpected(port.error());
  auto group = optional_string_field(req.body, "group", 64);
  if (!group) return tl::make_unexpected(group.error());
  host.name = *name;
  host.address = *address;
  host.port = *port;
  host.group = group->value_or("");
  host.created_at = format_time(clock.now());
  return host;
}

Result<ApiReply> hosts_add(ApiContext& ctx, ApiRequest& req) {
  const Caller& c = *req.caller;
  auto host = host_from_request(req, ctx.clock);
  if (!host) return tl::make_unexpected(host.error());
  if (host->protocol == "ssh") {
    // Trust on first use by the operator: the key seen now is pinned, and every later
    // connection must present the same one. A worker fetches it: the core speaks no SSH.
    if (ctx.host_key_probe == nullptr) {
      return fail(ErrorCode::kUnavailable, "host key probes are not available on this gateway");
    }
    auto key = probe_ssh_host_key(*ctx.host_key_probe, host->address,
                                  static_cast<std::uint16_t>(host->port), kProbeTimeout);
    if (!key) return tl::make_unexpected(key.error());
    host->host_key = key->public_line;
    host->host_key_fingerprint = key->fingerprint;
  }
  auto r = ctx.store.transact([&](storage::Store::Tx& tx) -> Result<void> {
    auto id = storage::insert_host(tx, *host);
    if (!id) return tl::make_unexpected(id.error());
    auto seq = ctx.audit.append(tx, {c.name,
                                     "host.add",
                                     host->name,
                                     {{"address", host->address},
                                      {"port", host->port},
                                      {"protocol", host->protocol},
                                      {"group", host->group},
                                      {"host_key_fingerprint", host->host_key_fingerprint}}});
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{201, host_json(*host)};
}

Result<ApiReply> hosts_list(ApiContext& ctx, ApiRequest&) {
  json hosts = json::array();
  auto r = ctx.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto list = storage::list_hosts(tx);
    if (!list) return tl::make_unexpected(list.error());
    for (const auto& h : *list) hosts.push_back(host_json(h));
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{200, {{"hosts", hosts}}};
}

Result<ApiReply> hosts_show(ApiContext& ctx, ApiRequest& req) {
  json out;
  auto r = ctx.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto host = storage::find_host(tx, req.path_param);
    if (!host) return tl::make_unexpected(host.error());
    if (!host->has_value()) return fail(ErrorCode::kNotFound, "no host " + req.path_param);
    out = host_json(**host);
    auto accounts = storage::list_accounts(tx, (*host)->id);
    if (!accounts) return tl::make_unexpected(accounts.error());
    out["accounts"] = json::array();
    for (const auto& a : *accounts) {
      out["accounts"].push_back(
          {{"name", a.name},
           {"kind", a.kind},
           {"rotate_every_seconds",
            a.rotate_every_seconds ? json(*a.rotate_every_seconds) : json(nullptr)}});
    }
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{200, out};
}

// A host with requests or sessions on record is retired (kept for that history, no new requests
// or sessions); one without is deleted with its accounts and their credentials.
Result<ApiReply> hosts_remove(ApiContext& ctx, ApiRequest& req) {
  const Caller& c = *req.caller;
  const std::string& name = req.path_param;
  json reply = json::object();
  auto r = ctx.store.transact([&](storage::Store::Tx& tx) -> Result<void> {
    auto history = storage::host_has_history(tx, name);
    if (!history) return tl::make_unexpected(history.error());
    storage::AuditEvent event{c.name, "host.remove", name, {}};
    if (*history) {
      const std::string now = format_time(ctx.clock.now());
      if (auto e = storage::retire_host(tx, name, now); !e) return e;
      event.action = "host.retired";
      event.details = {{"reason", "requests or sessions on record"}};
      reply = {{"name", name}, {"retired", true}, {"retired_at", now}};
    } else if (auto e = storage::remove_host(tx, name); !e) {
      return e;
    }
    auto seq = ctx.audit.append(tx, event);
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{200, reply};
}

// The host as pinned, for a repin: it must exist, speak SSH and be in service.
Result<storage::HostRecord> host_to_repin(ApiContext& ctx, const std::string& name) {
  std::optional<storage::HostRecord> host;
  auto r = ctx.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto found = storage::find_host(tx, name);
    if (!found) return tl::make_unexpected(found.error());
    host = std::move(*found);
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  if (!host) return fail(ErrorCode::kNotFound, "no host " + name);
  if (!host->retired_at.empty()) {
    return fail(ErrorCode::kInvalidArgument, "host " + name + " is retired");
  }
  if (host->protocol != "ssh") {
    return fail(ErrorCode::kInvalidArgument, "host " + name + " is not an SSH host: no key to pin");
  }
  return *host;
}

// Pins `probed` in place of `old` (the key the operator saw as pinned), audited as host.repin.
Result<void> pin_new_key(ApiContext& ctx, const Caller& c, const storage::HostRecord& old,
                         const ssh::SshHostKey& probed) {
  return ctx.store.transact([&](storage::Store::Tx& tx) -> Result<void> {
    auto now = storage::find_host(tx, old.name);
    if (!now) return tl::make_unexpected(now.error());
    // Another repin between the probe and here: what the operator compared against is stale.
    if (!now->has_value() || (*now)->host_key_fingerprint != old.host_key_fingerprint) {
      return fail(ErrorCode::kAlreadyExists,
                  "the pinned key of host " + old.name + " changed meanwhile; run repin again");
    }
    if (auto e = storage::repin_host_key(tx, old.name, probed.public_line, probed.fingerprint);
        !e) {
      return e;
    }
    auto seq = ctx.audit.append(tx, {c.name,
                                     "host.repin",
                                     old.name,
                                     {{"old_fingerprint", old.host_key_fingerprint},
                                      {"new_fingerprint", probed.fingerprint}}});
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
}

// POST /v1/hosts/NAME/repin {expect?}: probes the host's key again. Without `expect` it only
// answers the old and new fingerprints; with it, it pins the probed key only when it is the
// expected one (the operator compared it out of band), else refuses and changes nothing.
Result<ApiReply> hosts_repin(ApiContext& ctx, ApiRequest& req) {
  const Caller& c = *req.caller;
  auto expect = optional_string_field(req.body, "expect", 128);
  if (!expect) return tl::make_unexpected(expect.error());
  auto host = host_to_repin(ctx, req.path_param);
  if (!host) return tl::make_unexpected(host.error());
  if (ctx.host_key_probe == nullptr) {
    return fail(ErrorCode::kUnavailable, "host key probes are not available on this gateway");
  }
  auto key = probe_ssh_host_key(*ctx.host_key_probe, host->address,
                                static_cast<std::uint16_t>(host->port), kProbeTimeout);
  if (!key) return tl::make_unexpected(key.error());
  json reply = {{"name", host->name},
                {"old_fingerprint", host->host_key_fingerprint},
                {"new_fingerprint", key->fingerprint},
                {"changed", key->fingerprint != host->host_key_fingerprint},
                {"pinned", false}};
  if (!reply["changed"].get<bool>() || !expect->has_value()) return ApiReply{200, reply};
  if (**expect != key->fingerprint) {
    const std::string message = "host " + host->name + " presents " + key->fingerprint +
                                ", not the expected " + **expect + "; nothing changed";
    (void)ctx.audit.append({c.name,
                            "host.repin.refused",
                            host->name,
                            {{"expected", **expect}, {"presented", key->fingerprint}}});
    return fail(ErrorCode::kInvalidArgument, message);
  }
  if (auto r = pin_new_key(ctx, c, *host, *key); !r) return tl::make_unexpected(r.error());
  reply["pinned"] = true;
  return ApiReply{200, reply};
}

// The credential of `accounts add`: a password, or an OpenSSH/PEM private key.
Result<std::pair<std::string, Secret>> credential_from(json& body) {
  const bool has_password = body.contains("password");
  const bool has_key = body.contains("private_key");
  if (has_password == has_key) {
    return fail(ErrorCode::kInvalidArgument, "give exactly one of password or private_key");
  }
  if (has_password) {
    auto pw = secret_field(body, "password", 1024);
    if (!pw) return tl::make_unexpected(pw.error());
    if (pw->empty()) return fail(ErrorCode::kInvalidArgument, "password: empty");
    return std::pair<std::string, Secret>{"password", std::move(*pw)};
  }
  auto key = secret_field(body, "private_key", 16 * 1024);
  if (!key) return tl::make_unexpected(key.error());
  const std::string_view text = key->view();
  if (text.find("-----BEGIN ") == std::string_view::npos ||
      text.find("PRIVATE KEY-----") == std::string_view::npos) {
    return fail(ErrorCode::kInvalidArgument, "private_key: not a PEM or OpenSSH private key");
  }
  return std::pair<std::string, Secret>{"key", std::move(*key)};
}

Result<ApiReply> accounts_add(ApiContext& ctx, ApiRequest& req) {
  const Caller& c = *req.caller;
  auto account = string_field(req.body, "account", 64);
  if (!account) return tl::make_unexpected(account.error());
  auto host_name = string_field(req.body, "host", 64);
  if (!host_name) return tl::make_unexpected(host_name.error());
  auto rotate = optional_string_field(req.body, "rotate_every", 12);
  if (!rotate) return tl::make_unexpected(rotate.error());
  std::optional<std::int64_t> rotate_seconds;
  if (rotate->has_value()) {
    auto d = parse_duration(**rotate);
    if (!d) return fail(ErrorCode::kInvalidArgument, "rotate_every: " + d.error().message);
    rotate_seconds = d->count();
  }
  auto credential = credential_from(req.body);
  if (!credential) return tl::make_unexpected(credential.error());
  auto r = ctx.store.transact([&](storage::Store::Tx& tx) -> Result<void> {
    auto host = storage::find_host(tx, *host_name);
    if (!host) return tl::make_unexpected(host.error());
    if (!host->has_value()) return fail(ErrorCode::kNotFound, "no host " + *host_name);
    if (!(*host)->retired_at.empty()) {
      return fail(ErrorCode::kInvalidArgument, "host " + *host_name + " is retired");
    }
    auto id = storage::add_account(tx, (*host)->id, *account, credential->first, credential->second,
                                   rotate_seconds, format_time(ctx.clock.now()));
    if (!id) return tl::make_unexpected(id.error());
    auto seq = ctx.audit.append(
        tx, {c.name,
             "account.add",
             *account + "@" + *host_name,
             {{"kind", credential->first},
              {"rotate_every_seconds", rotate_seconds ? json(*rotate_seconds) : json(nullptr)}}});
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{201, {{"account", *account}, {"host", *host_name}, {"kind", credential->first}}};
}

}  // namespace

void add_inventory_routes(ApiRouter& router, ApiContext& ctx) {
  auto bind = [&ctx](Result<ApiReply> (*fn)(ApiContext&, ApiRequest&)) {
    return [&ctx, fn](ApiRequest& req) { return fn(ctx, req); };
  };
  router.post("/v1/hosts", Access::roles_of({"operator"}), bind(hosts_add));
  router.get("/v1/hosts", Access::any_user(), bind(hosts_list));
  router.get("/v1/hosts/:name", Access::any_user(), bind(hosts_show));
  router.del("/v1/hosts/:name", Access::roles_of({"operator"}), bind(hosts_remove));
  router.post("/v1/hosts/:name/repin", Access::roles_of({"operator"}), bind(hosts_repin));
  router.post("/v1/accounts", Access::roles_of({"operator"}), bind(accounts_add));
}

}  // namespace sekisho::broker
