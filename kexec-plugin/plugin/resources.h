// SPDX-License-Identifier: GPL-2.0-only
// What the plugin holds of its process: open file descriptors and heap in
// use. With LIMBO_VERBOSE=1 the interposer takes them before and after each
// kexec_load it handles and prints "limbo: resources: ...", so that a
// descriptor the handler forgets shows in that very process (the QEMU
// safety loop counts them); the heap's steady state is tested on the host
// (tests/plugin/handler_test.cc), leaks at exit under valgrind
// (tests/plugin/leak-check).
#pragma once

#include <cstddef>
#include <cstdio>

namespace limbo::plugin {

struct ResourceUse {
  long fds = -1;         // entries of /proc/self/fd; -1 when it cannot be read
  size_t heap = 0;       // bytes malloc has handed out and not got back (mallinfo2)
};

ResourceUse resource_use();

// "limbo: resources: fds 7 -> 7 (none left open), heap 131408 -> 149424 bytes
// in use", or "(LEFT OPEN)" when the descriptor count changed.
void print_resource_change(FILE* log, const ResourceUse& before, const ResourceUse& after);

}  // namespace limbo::plugin
