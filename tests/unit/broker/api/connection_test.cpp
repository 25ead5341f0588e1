#include "broker/api/connection.hpp"

#include <gtest/gtest.h>

namespace sekisho::broker {
namespace {

constexpr std::size_t kMaxBody = 4096;

BufferedRequest classify(const std::string& in) { return classify_buffered_request(in, kMaxBody); }

TEST(ApiConnection, WaitsForTheWholeHead) {
  EXPECT_EQ(classify(""), BufferedRequest::kIncomplete);
  EXPECT_EQ(classify("GET /v1/health HTTP/1.1\r\nHost: x\r\n"), BufferedRequest::kIncomplete);
  EXPECT_EQ(classify("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"), BufferedRequest::kComplete);
}

TEST(ApiConnection, WaitsForAContentLengthBodyWithinTheLimit) {
  const std::string head = "POST /v1/login HTTP/1.1\r\nHost: x\r\ncontent-length:  5 \r\n\r\n";
  EXPECT_EQ(classify(head + "abcd"), BufferedRequest::kIncomplete);
  EXPECT_EQ(classify(head + "abcde"), BufferedRequest::kComplete);
  EXPECT_EQ(classify(head + "abcdeGET"), BufferedRequest::kComplete);  // pipelined next request
}

TEST(ApiConnection, NeverWaitsForWhatHttplibRefusesAnyway) {
  // A body above max_body_bytes (413), a chunked or unparseable length, a body method without a
  // length, a head longer than httplib's limits: served from the buffer, then closed.
  EXPECT_EQ(classify("POST /a HTTP/1.1\r\nContent-Length: 4097\r\n\r\n"), BufferedRequest::kLast);
  EXPECT_EQ(classify("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            BufferedRequest::kLast);
  EXPECT_EQ(classify("POST /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), BufferedRequest::kLast);
  EXPECT_EQ(classify("POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"),
            BufferedRequest::kLast);
  EXPECT_EQ(classify("POST /a HTTP/1.1\r\nHost: x\r\n\r\n"), BufferedRequest::kLast);
  EXPECT_EQ(classify("GET /" + std::string(20000, 'a')), BufferedRequest::kLast);
}

}  // namespace
}  // namespace sekisho::broker
