// One accepted API connection and the pieces that let cpp-httplib serve a request that is already
// in memory: the connection's state, the test "is a whole request buffered?", and an httplib
// Stream over the connection's TLS session.
#pragma once

#include <httplib.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

namespace sekisho::broker {

using SteadyTime = std::chrono::steady_clock::time_point;

// Owned by the event loop except while a request-serving thread runs one of its requests.
struct ApiConnection {
  ApiConnection(int f, SSL* s, std::string ip, int p)
      : fd(f), ssl(s), peer_ip(std::move(ip)), peer_port(p) {}
  // Sends a TLS close_notify when the handshake finished (without waiting) and closes the socket.
  ~ApiConnection();
  // After the last answer: sends close_notify, shuts the socket for writing and marks it
  // draining. Closing with unread bytes would reset the connection and could destroy the answer
  // (a 413 to a client still sending its body).
  void start_draining();
  // Drops what the peer sent; false once it closed its side (or failed).
  bool drain();
  ApiConnection(const ApiConnection&) = delete;
  ApiConnection& operator=(const ApiConnection&) = delete;

  int fd;
  SSL* ssl;
  std::string peer_ip;
  int peer_port;
  bool handshake_done = false;
  bool want_write = false;    // the last TLS call asked to wait for writability
  std::string in;             // received plaintext not yet consumed by a request
  SteadyTime deadline;        // when the loop closes it unless its request is complete
  std::size_t served = 0;     // requests served on it (keep-alive count)
  bool last_request = false;  // serve what is buffered, then close (body not read in full)
  bool in_pool = false;       // loop thread only: handed to the serving threads
  bool close_after = false;   // set by the serving thread: close instead of waiting for more
  bool draining = false;      // answered and shut for writing; the rest it sends is dropped
};

// What the buffered bytes of a connection hold.
enum class BufferedRequest {
  kIncomplete,  // wait for more bytes
  kComplete,    // a whole request head and its Content-Length body
  kLast,        // serve what is there and close: too long a head, a body above the limit, a
                // chunked or unparseable body length (httplib answers 4xx from the buffer alone)
};

// Decides from `in` whether a request can be handed to a serving thread without that thread ever
// waiting on the network. `max_body` is [api] max_body_bytes.
BufferedRequest classify_buffered_request(const std::string& in, std::size_t max_body);

// The text form and port of an IPv4/IPv6 socket address ("" and 0 for other families).
void address_text(const sockaddr_storage& addr, std::string& ip, int& port);

// An httplib Stream that reads only the connection's buffered plaintext (end of stream after it)
// and writes to its TLS session, waiting at most `write_timeout` for the peer to take bytes.
class BufferedTlsStream final : public httplib::Stream {
 public:
  BufferedTlsStream(ApiConnection& conn, std::chrono::seconds write_timeout)
      : conn_(conn), write_timeout_(write_timeout) {}

  bool is_readable() const override { return !conn_.in.empty(); }
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  // Bytes of the connection's buffer that read() handed out.
  std::size_t consumed() const { return pos_; }
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return conn_.fd; }

 private:
  ApiConnection& conn_;
  std::chrono::seconds write_timeout_;
  std::size_t pos_ = 0;
};

// cpp-httplib's routing and response writing, driven by our own connection handling: httplib 0.11
// has no hook after accept, but its protected process_request() serves one request from any
// Stream.
class ApiRequestProcessor : public httplib::Server {
 public:
  // Serves one request from `stream`, whose buffer holds it whole (or, when `conn.last_request`,
  // all that will be read of it). Returns false when the connection must be closed after it.
  bool serve_one(BufferedTlsStream& stream, ApiConnection& conn);
  // httplib streams a download only while its listening socket is set (it stops at shutdown):
  // the listener's socket while serving, INVALID_SOCKET once stopping.
  void set_listening_socket(socket_t fd) { svr_sock_ = fd; }
};

}  // namespace sekisho::broker
