// Both ends of a core <-> worker link for unit tests: a connected AF_UNIX stream socketpair.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "privsep/worker_protocol.hpp"

namespace sekisho::testing {

struct LinkPair {
  wire::Fd core, worker;
  LinkPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    core = wire::Fd(fds[0]);
    worker = wire::Fd(fds[1]);
  }
};

}  // namespace sekisho::testing
