// checkout, checkin: borrowing the password of ACCOUNT@HOST for an approved request's window in
// checkout mode, and handing it back early. The password is printed alone on standard output (so
// that `sekisho checkout R | …` passes it on without parsing) and never anywhere else.
#include <iostream>

#include "base/secret.hpp"
#include "cli/commands.hpp"
#include "cli/table.hpp"

namespace sekisho::cli {

namespace {

Result<void> check_request_id(const std::string& id) {
  if (id.empty() || id.size() > 64 ||
      id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
          std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "not a request id: '" + id.substr(0, 64) + "'");
  }
  return ok();
}

// Overwrites the password in the reply once it has been printed.
void wipe_password(nlohmann::json& reply) {
  if (reply.contains("password") && reply["password"].is_string()) {
    auto& s = reply["password"].get_ref<std::string&>();
    wipe(s.data(), s.size());
  }
}

}  // namespace

Result<void> run_checkout(const GlobalOptions& global, const std::string& id) {
  if (auto r = check_request_id(id); !r) return r;
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto reply = (*gateway)->post("/v1/requests/" + id + "/checkout", nlohmann::json::object());
  if (!reply) return tl::make_unexpected(reply.error());
  if (!reply->contains("password") || !(*reply)["password"].is_string()) {
    return fail(ErrorCode::kIo, "the gateway's answer carries no password");
  }
  if (global.json) {
    nlohmann::json out = {{"password", (*reply)["password"]},
                          {"account", cell(*reply, "account")},
                          {"host", cell(*reply, "host")},
                          {"until", cell(*reply, "until")}};
    print_json(out);
    wipe_password(out);
  } else {
    std::cout << (*reply)["password"].get_ref<const std::string&>() << std::endl;
    std::cerr << "checked out " << printable(cell(*reply, "account") + "@" + cell(*reply, "host"))
              << " until " << printable(cell(*reply, "until")) << "; hand it back early with: "
              << "sekisho checkin " << printable(id) << std::endl;
    if (reply->value("unrotated", false)) {
      std::cerr << "warning: nothing rotates this password afterwards (no rotation connector "
                   "for this host)"
                << std::endl;
    }
  }
  wipe_password(*reply);
  return ok();
}

Result<void> run_checkin(const GlobalOptions& global, const std::string& id) {
  if (auto r = check_request_id(id); !r) return r;
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto reply = (*gateway)->post("/v1/requests/" + id + "/checkin", nlohmann::json::object());
  if (!reply) return tl::make_unexpected(reply.error());
  if (global.json) {
    print_json(*reply);
    return ok();
  }
  const std::string rotation = cell(*reply, "rotation");
  std::cout << "request " << printable(id) << ": closed; "
            << printable(cell(*reply, "account") + "@" + cell(*reply, "host"))
            << (rotation == "manual" ? " has no rotation connector: change its password by hand"
                                     : " is being rotated")
            << std::endl;
  return ok();
}

}  // namespace sekisho::cli
