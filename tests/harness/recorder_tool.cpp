// recorder_tool: makes and reads real recordings for the recorder tests and the benchmark.
//   record --keys DIR --out FILE [--raw FILE] [--input TEXT] [--cols N] [--rows N]
//          [--resize COLSxROWS] -- COMMAND [ARGS...]
//       runs COMMAND in a pty (forkpty) and records its output, the input sent to it and resizes,
//       signing with DIR's key; --raw keeps a plain copy of the output bytes for comparison.
//       In --input, "\r" and "\e" stand for CR and ESC; the input is sent after the first output.
//   cat --keys DIR FILE [--from US]   writes the recorded output bytes to stdout
//   export --keys DIR FILE            writes asciicast v2 to stdout
//   search --keys DIR FILE TEXT       prints "at_us kind context" per hit
//   verify FILE [--pub PEM_FILE]      prints the report; exit 0 only when it is ok
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "tests/harness/recorder_keys.hpp"

namespace {

using namespace sekisho;
using recorder::AppendStatus;
using recorder::Record;
using recorder::RecordKind;

pid_t g_child = -1;

void on_alarm(int) {
  // The command did not finish in time: stop it by its PID; the read loop then ends.
  if (g_child > 0) kill(g_child, SIGKILL);
}

std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == 'r' || s[i + 1] == 'e')) {
      out.push_back(s[i + 1] == 'r' ? '\r' : '\x1b');
      ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

int die(const std::string& message) {
  std::fprintf(stderr, "recorder_tool: %s\n", message.c_str());
  return 2;
}

struct Options {
  std::map<std::string, std::string> named;
  std::vector<std::string> positional;
};

Options parse(int argc, char** argv, int start) {
  Options o;
  for (int i = start; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") {
      for (++i; i < argc; ++i) o.positional.emplace_back(argv[i]);
    } else if (a.rfind("--", 0) == 0 && i + 1 < argc) {
      o.named[a.substr(2)] = argv[++i];
    } else {
      o.positional.push_back(a);
    }
  }
  return o;
}

bool append(recorder::Writer& w, Record r) {
  // The tool may outrun the writer on a slow disk; it waits, which a relay never does.
  for (int i = 0; i < 10000; ++i) {
    const auto s = w.append(r);
    if (s == AppendStatus::kOk) return true;
    if (s != AppendStatus::kQueueFull) return false;
    usleep(1000);
  }
  return false;
}

int record(Options& o) {
  if (o.positional.empty() || !o.named.count("out") || !o.named.count("keys")) {
    return die("record needs --keys, --out and a command");
  }
  const auto keys = testing::load_tool_keys(o.named["keys"]);
  recorder::Header h;
  h.session_id = "tool-" + std::to_string(getpid());
  h.user = "tester";
  h.host = "localhost";
  h.account = std::getenv("USER") ? std::getenv("USER") : "user";
  h.protocol = "ssh";
  h.cols = static_cast<std::uint16_t>(std::stoi(o.named.count("cols") ? o.named["cols"] : "80"));
  h.rows = static_cast<std::uint16_t>(std::stoi(o.named.count("rows") ? o.named["rows"] : "24"));
  auto key = recorder::new_data_key(keys.recording_key, h.session_id);
  if (!key) return die(key.error().message);
  auto writer =
      recorder::Writer::create(o.named["out"], h, std::move(*key), keys.signer.public_pem());
  if (!writer) return die(writer.error().message);
  std::ofstream raw;
  if (o.named.count("raw")) raw.open(o.named["raw"], std::ios::binary);

  winsize ws{h.rows, h.cols, 0, 0};
  int master = -1;
  g_child = forkpty(&master, nullptr, nullptr, &ws);
  if (g_child < 0) return die(std::string("forkpty: ") + std::strerror(errno));
  if (g_child == 0) {
    setenv("TERM", "xterm-256color", 1);
    std::vector<char*> args;
    for (auto& a : o.positional) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  signal(SIGALRM, on_alarm);
  alarm(60);
  std::string input = o.named.count("input") ? unescape(o.named["input"]) : "";
  bool sent = input.empty();
  char buf[65536];
  for (;;) {
    const ssize_t n = read(master, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EIO: the command and all holders of the pty are gone
    if (raw.is_open()) raw.write(buf, n);
    Record r;
    r.data.assign(buf, static_cast<std::size_t>(n));
    if (!append(**writer, std::move(r))) return die("append refused");
    if (!sent) {
      sent = true;
      if (o.named.count("resize")) {
        Record rs;
        rs.kind = RecordKind::kResize;
        std::sscanf(o.named["resize"].c_str(), "%hux%hu", &rs.cols, &rs.rows);
        winsize nws{rs.rows, rs.cols, 0, 0};
        ioctl(master, TIOCSWINSZ, &nws);
        if (!append(**writer, rs)) return die("append refused");
      }
      Record in;
      in.kind = RecordKind::kInput;
      in.data = input;
      if (write(master, input.data(), input.size()) != static_cast<ssize_t>(input.size()) ||
          !append(**writer, std::move(in))) {
        return die("sending input failed");
      }
    }
  }
  alarm(0);
  int status = 0;
  waitpid(g_child, &status, 0);
  close(master);
  auto summary = (*writer)->close([&](ByteView m) { return keys.signer.sign(m); });
  if (!summary) return die(summary.error().message);
  std::printf("chunks %llu size %llu hash %s\n", static_cast<unsigned long long>(summary->chunks),
              static_cast<unsigned long long>(summary->size_bytes), summary->final_hash.c_str());
  return 0;
}

std::unique_ptr<recorder::Reader> open_reader(Options& o, const testing::ToolKeys& keys) {
  auto r = recorder::Reader::open(o.positional.at(0), testing::tool_unwrapper(keys));
  if (!r) {
    die(r.error().message);
    return nullptr;
  }
  if ((*r)->truncated_after()) {
    std::fprintf(stderr, "recorder_tool: truncated after chunk %llu\n",
                 static_cast<unsigned long long>(*(*r)->truncated_after()));
  }
  return std::move(*r);
}

int read_command(const std::string& cmd, Options& o) {
  if (o.positional.empty() || !o.named.count("keys")) return die(cmd + " needs --keys and FILE");
  const auto keys = testing::load_tool_keys(o.named["keys"]);
  auto reader = open_reader(o, keys);
  if (!reader) return 2;
  if (cmd == "export") {
    auto r = recorder::export_asciicast(*reader, std::cout);
    return r ? 0 : die(r.error().message);
  }
  if (cmd == "search") {
    auto hits = reader->search(o.positional.at(1), 1000);
    if (!hits) return die(hits.error().message);
    for (const auto& h : *hits) {
      std::printf("%lld %s %s\n", static_cast<long long>(h.at_us),
                  h.kind == RecordKind::kInput ? "typed" : "shown", h.context.c_str());
    }
    return 0;
  }
  const std::int64_t from = o.named.count("from") ? std::stoll(o.named["from"]) : 0;
  auto r = reader->replay(from, [](const Record& rec) {
    if (rec.kind == RecordKind::kOutput) std::fwrite(rec.data.data(), 1, rec.data.size(), stdout);
    return true;
  });
  return r ? 0 : die(r.error().message);
}

int verify_command(Options& o) {
  if (o.positional.empty()) return die("verify needs FILE");
  std::optional<std::string> pem;
  if (o.named.count("pub")) {
    std::ifstream in(o.named["pub"]);
    pem = std::string(std::istreambuf_iterator<char>(in), {});
  }
  auto r = recorder::verify(o.positional[0], pem);
  if (!r) return die(r.error().message);
  std::printf("chunks %llu chain %s signature %d pinned %d signer %s\n",
              static_cast<unsigned long long>(r->chunks), r->chain_ok ? "ok" : "BROKEN",
              static_cast<int>(r->signature), r->key_pinned ? 1 : 0, r->signer.c_str());
  for (const auto& p : r->problems) std::printf("problem: %s\n", p.c_str());
  return r->ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return die("usage: recorder_tool record|cat|export|search|verify ...");
  const std::string cmd = argv[1];
  Options o = parse(argc, argv, 2);
  try {
    if (cmd == "record") return record(o);
    if (cmd == "cat" || cmd == "export" || cmd == "search") return read_command(cmd, o);
    if (cmd == "verify") return verify_command(o);
  } catch (const std::exception& e) {
    return die(e.what());
  }
  return die("unknown command " + cmd);
}
