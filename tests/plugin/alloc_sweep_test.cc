// SPDX-License-Identifier: GPL-2.0-only
// The exception boundary: the real handler on the real Debian
// kernel and initrd load (kexec-tools' own segments, captured from
// /sbin/kexec by tests/plugin/capture_load.cc, the kernel never called),
// with the N-th allocation failing, for every N up to the number of
// allocations one load makes, with fallback none and with stock. Every run
// must end in exactly one of: a refusal (one `limbo: error:` line, no
// kexec_load), the stock fallback (one `limbo: FALLBACK:` line, one
// kexec_load with kexec-tools' arguments unchanged), or Limbo's complete
// load (the failure was absorbed); never a crash, never a second or partial
// kexec_load, no block or descriptor left behind.
//
// This binary replaces the malloc family (glibc's "Replacing malloc": every
// allocation of the process, libelf's, libstdc++'s operator new and libc's
// own included, comes here) and forwards to glibc's.
#include <dirent.h>
#include <gtest/gtest.h>
#include <linux/kexec.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "capture_format.h"
#include "plugin/handler.h"

extern "C" {
void* __libc_malloc(size_t);
void __libc_free(void*);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

namespace {
bool g_armed = false;  // count (and fail) only around the handler
long g_count = 0;      // allocations seen while armed
long g_fail_at = 0;    // the one that fails (0: none)
long g_live = 0;       // blocks handed out and not freed, all the time

bool fail_this_one() { return g_armed && ++g_count == g_fail_at; }
}  // namespace

extern "C" {
void* malloc(size_t size) {
  if (fail_this_one()) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = __libc_malloc(size);
  if (p) ++g_live;
  return p;
}
void free(void* p) {
  if (p) --g_live;
  __libc_free(p);
}
void* calloc(size_t n, size_t size) {
  if (fail_this_one()) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = __libc_calloc(n, size);
  if (p) ++g_live;
  return p;
}
void* realloc(void* old, size_t size) {
  if (fail_this_one()) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = __libc_realloc(old, size);
  if (!old && p) ++g_live;
  if (old && size == 0 && !p) --g_live;  // realloc(p, 0) freed p
  return p;
}
void* memalign(size_t alignment, size_t size) {
  if (fail_this_one()) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = __libc_memalign(alignment, size);
  if (p) ++g_live;
  return p;
}
void* aligned_alloc(size_t alignment, size_t size) { return memalign(alignment, size); }
int posix_memalign(void** out, size_t alignment, size_t size) {
  void* p = memalign(alignment, size);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
}

namespace limbo::test {
namespace {

// What the fake kexec_load saw; fixed-size, so recording allocates nothing.
struct Seen {
  int calls = 0;
  unsigned long entry = 0, nr = 0, flags = 0;
  kexec_segment segments[KEXEC_SEGMENT_MAX] = {};
};
Seen seen;

long fake_kexec_load(unsigned long entry, unsigned long nr, const kexec_segment* segments, unsigned long flags) {
  ++seen.calls;
  seen.entry = entry;
  seen.nr = nr;
  seen.flags = flags;
  for (unsigned long i = 0; i < nr && i < KEXEC_SEGMENT_MAX; ++i) seen.segments[i] = segments[i];
  return 0;
}

std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return out;
  char buffer[512];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

long open_fds() {
  long n = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir)) ++n;
    closedir(dir);
  }
  return n;
}

struct Capture {
  uint64_t entry = 0, flags = 0;
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<kexec_segment> segments;
};

class AllocSweep : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char dir[] = "/tmp/limbo-sweep-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    kernel_ = run("ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1");
    while (!kernel_.empty() && kernel_.back() == '\n') kernel_.pop_back();
    ASSERT_FALSE(kernel_.empty()) << "no /boot/vmlinuz-*";
    initrd_ = "/boot/initrd.img-" + kernel_.substr(std::strlen("/boot/vmlinuz-"));
    // kexec-tools lays out the load from /proc/iomem: the handler reads the same copy.
    ASSERT_EQ(std::system(("cat /proc/iomem > " + dir_ + "/iomem").c_str()), 0);
    const std::string file = dir_ + "/load";
    const std::string out = run("setpriv --bounding-set -sys_boot env LD_PRELOAD=" LIMBO_TEST_CAPTURE_LIB
                                " LIMBO_CAPTURE_FILE=" + file + " /sbin/kexec -c -l " + kernel_ + " --initrd=" + initrd_ +
                                " --append=console=ttyS0 2>&1");
    std::ifstream in(file, std::ios::binary);
    ASSERT_TRUE(in) << out;
    CaptureHeader header;
    ASSERT_TRUE(in.read(reinterpret_cast<char*>(&header), sizeof(header)));
    ASSERT_EQ(header.magic, kCaptureMagic);
    ASSERT_LE(header.nr_segments, static_cast<uint64_t>(KEXEC_SEGMENT_MAX));
    capture_.entry = header.entry;
    capture_.flags = header.flags;
    for (uint64_t i = 0; i < header.nr_segments; ++i) {
      CaptureSegment s;
      ASSERT_TRUE(in.read(reinterpret_cast<char*>(&s), sizeof(s)));
      std::vector<uint8_t> bytes(s.bufsz);
      ASSERT_TRUE(in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(s.bufsz)));
      capture_.buffers.push_back(std::move(bytes));
      capture_.segments.push_back(kexec_segment{nullptr, s.bufsz, reinterpret_cast<void*>(s.mem), s.memsz});
    }
    for (size_t i = 0; i < capture_.segments.size(); ++i) capture_.segments[i].buf = capture_.buffers[i].data();
  }
  static void TearDownTestSuite() { std::system(("rm -rf " + dir_).c_str()); }

  void SetUp() override {
    settings_.purgatory_path = LIMBO_TEST_PURGATORY;
    settings_.kexec_binary = "/sbin/kexec";
    settings_.iomem_path = dir_ + "/iomem";
    std::snprintf(settings_.fallback.run_dir, sizeof(settings_.fallback.run_dir), "%s/run", dir_.c_str());
    std::snprintf(settings_.fallback.record_file, sizeof(settings_.fallback.record_file), "%s/run/crash-kernel", dir_.c_str());
    log_ = tmpfile();
    ASSERT_NE(log_, nullptr);
    setvbuf(log_, nullptr, _IONBF, 0);  // unbuffered: printing allocates nothing
  }
  void TearDown() override { fclose(log_); }

  long call() {
    seen = Seen{};
    ftruncate(fileno(log_), 0);
    rewind(log_);
    return plugin::handle_kexec_load(settings_, capture_.entry, capture_.segments.size(), capture_.segments.data(),
                                     capture_.flags, fake_kexec_load, log_);
  }
  std::vector<std::string> log_lines() {
    rewind(log_);
    std::vector<std::string> lines;
    char buffer[4096];
    while (fgets(buffer, sizeof(buffer), log_)) lines.emplace_back(buffer, strcspn(buffer, "\n"));
    return lines;
  }
  bool stock_unchanged() const {
    if (seen.calls != 1 || seen.entry != capture_.entry || seen.flags != capture_.flags || seen.nr != capture_.segments.size()) return false;
    for (size_t i = 0; i < capture_.segments.size(); ++i) {
      const kexec_segment& a = seen.segments[i];
      const kexec_segment& b = capture_.segments[i];
      if (a.buf != b.buf || a.bufsz != b.bufsz || a.mem != b.mem || a.memsz != b.memsz) return false;
    }
    return true;
  }

  static std::string dir_, kernel_, initrd_;
  static Capture capture_;
  plugin::Settings settings_;
  FILE* log_ = nullptr;
};
std::string AllocSweep::dir_, AllocSweep::kernel_, AllocSweep::initrd_;
Capture AllocSweep::capture_;

TEST_F(AllocSweep, EveryFailingAllocationOfARealLoadEndsCleanly) {
  // The load as it goes without failures: Limbo's segment list.
  ASSERT_EQ(call(), 0) << log_lines().size();
  ASSERT_EQ(seen.calls, 1);
  const Seen limbo = seen;
  const std::vector<std::string> clean_log = log_lines();
  EXPECT_NE(limbo.entry, capture_.entry);  // Limbo's purgatory_start
  // How many allocations one load makes (counted, none failing).
  g_count = 0;
  g_fail_at = 0;
  g_armed = true;
  ASSERT_EQ(call(), 0);
  g_armed = false;
  const long total = g_count;
  ASSERT_GT(total, 0);
  std::printf("alloc sweep: %s + %s, %zu segments; one load makes %ld allocations\n", kernel_.c_str(), initrd_.c_str(),
              capture_.segments.size(), total);

  std::map<std::string, long> outcomes;
  long runs = 0;
  const auto started = std::chrono::steady_clock::now();
  // LIMBO_SWEEP_ONLY=N: that allocation alone (to debug one run).
  long first = 1, last = total;
  if (const char* only = std::getenv("LIMBO_SWEEP_ONLY")) first = last = std::atol(only);
  for (const bool stock : {false, true}) {
    settings_.fallback.stock = stock;
    for (long n = first; n <= last; ++n) {
      const long fds_before = open_fds();
      const long live_before = g_live;
      g_count = 0;
      g_fail_at = n;
      g_armed = true;
      errno = 0;
      const long result = call();
      const int error = errno;
      g_armed = false;
      const long live_after = g_live;
      const long fds_after = open_fds();
      ++runs;
      const std::vector<std::string> lines = log_lines();
      size_t errors = 0, fallbacks = 0;
      std::string reason;
      for (const std::string& line : lines) {
        if (line.rfind("limbo: error: ", 0) == 0) ++errors, reason = line.substr(14);
        if (line.rfind("limbo: FALLBACK: Limbo NOT loaded (", 0) == 0) {
          ++fallbacks;
          reason = line.substr(35, line.rfind("); kexec-tools' own load") - 35);
        }
      }
      // Which step failed: the words before the first ": " (a path, or the whole line).
      if (reason.find(": ") != std::string::npos && reason.rfind("out of memory", 0) != 0) reason = reason.substr(0, reason.find(": ")) + ": " + reason.substr(reason.rfind(": ") + 2);
      const bool limbo_complete = result == 0 && seen.calls == 1 && seen.entry == limbo.entry && seen.nr == limbo.nr &&
                                  errors == 0 && fallbacks == 0;
      std::string outcome;
      if (limbo_complete) {
        outcome = "absorbed: Limbo loaded";
        // Said how? Every line the clean load does not print.
        for (const std::string& line : lines) {
          if (std::find(clean_log.begin(), clean_log.end(), line) == clean_log.end()) outcome += " | " + line;
        }
        if (outcome == "absorbed: Limbo loaded") outcome += " (no line: a failure with a fallback of its own, e.g. tsc)";
        outcome += " [allocation " + std::to_string(n) + "]";
        for (unsigned long i = 0; i < limbo.nr; ++i) {
          if (seen.segments[i].mem != limbo.segments[i].mem || seen.segments[i].memsz != limbo.segments[i].memsz) {
            outcome = "Limbo load with another layout";
          }
        }
      } else if (!stock && result == -1 && seen.calls == 0 && errors == 1 && fallbacks == 0 && error != 0) {
        outcome = "refused (none): " + reason;
      } else if (stock && result == 0 && stock_unchanged() && fallbacks == 1 && errors == 0) {
        outcome = "stock fallback: " + reason;
      } else {
        outcome = "BAD";
      }
      ++outcomes[(stock ? "[stock] " : "[none]  ") + outcome];
      EXPECT_NE(outcome, "BAD") << "allocation " << n << " of " << total << (stock ? " (stock)" : " (none)") << ": result "
                                << result << " errno " << error << ", " << seen.calls << " kexec_load calls, " << errors
                                << " error lines, " << fallbacks << " fallback lines";
      EXPECT_NE(outcome, "Limbo load with another layout") << "allocation " << n;
      EXPECT_EQ(live_after, live_before) << "allocation " << n << (stock ? " (stock)" : " (none)") << ": blocks leaked";
      EXPECT_EQ(fds_after, fds_before) << "allocation " << n << ": descriptors left open";
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("alloc sweep: %ld runs (allocations 1..%ld failing, fallback none and stock) in %.1f s:\n", runs, total, seconds);
  for (const auto& [outcome, count] : outcomes) std::printf("  %5ld  %s\n", count, outcome.c_str());
}

}  // namespace
}  // namespace limbo::test
