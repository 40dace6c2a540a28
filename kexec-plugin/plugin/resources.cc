// SPDX-License-Identifier: GPL-2.0-only
#include "plugin/resources.h"

#include <dirent.h>
#include <malloc.h>

#include <cstring>

namespace limbo::plugin {

ResourceUse resource_use() {
  ResourceUse use;
  // The directory stream holds a descriptor of its own while it is read:
  // counted each time, so before and after compare alike.
  if (DIR* dir = opendir("/proc/self/fd")) {
    use.fds = 0;
    while (const dirent* entry = readdir(dir)) {
      if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) ++use.fds;
    }
    closedir(dir);
  }
  use.heap = mallinfo2().uordblks;
  return use;
}

void print_resource_change(FILE* log, const ResourceUse& before, const ResourceUse& after) {
  // Descriptors compare exactly. The heap is shown, not judged: a process's
  // first load leaves libc's and libelf's one-time allocations behind
  // (~54 KB); the steady state is judged by tests/plugin/handler_test.cc.
  std::fprintf(log, "limbo: resources: fds %ld -> %ld (%s), heap %zu -> %zu bytes in use\n", before.fds, after.fds,
               after.fds == before.fds ? "none left open" : "LEFT OPEN", before.heap, after.heap);
}

}  // namespace limbo::plugin
