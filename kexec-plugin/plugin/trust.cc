#include "plugin/trust.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "kexec/stock_finder.h"

namespace limbo::plugin {

Status check_trusted(const std::string& path, const struct stat& st, const TrustRule& rule) {
  if (!S_ISREG(st.st_mode)) return fail(format("%s: refused: not a regular file", path.c_str()), kTrustRefused);
  const bool owner_ok = st.st_uid == 0 || (rule.allow_also_owner && st.st_uid == rule.also_owner);
  if (!owner_ok) {
    return fail(format("%s: refused: owned by uid %u, not root (Limbo loads only files root owns)", path.c_str(),
                       static_cast<unsigned>(st.st_uid)),
                kTrustRefused);
  }
  // Group- or world-writable: someone other than the owner could have put
  // code in it.
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return fail(format("%s: refused: mode %04o is writable by %s (Limbo loads only files no one but root can write)",
                       path.c_str(), static_cast<unsigned>(st.st_mode & 07777),
                       (st.st_mode & S_IWOTH) ? ((st.st_mode & S_IWGRP) ? "group and others" : "others") : "group"),
                kTrustRefused);
  }
  return Ok{};
}

Result<std::vector<uint8_t>> read_trusted_file(const std::string& path, const TrustRule& rule) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    return fail(format("%s: %s", path.c_str(), std::strerror(error)), error);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int error = errno;
    close(fd);
    return fail(format("%s: %s", path.c_str(), std::strerror(error)), error);
  }
  if (auto trusted = check_trusted(path, st, rule); !trusted) {
    close(fd);
    return trusted.error();
  }
  std::vector<uint8_t> bytes;
  uint8_t chunk[65536];
  for (;;) {
    const ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      return fail(format("%s: %s", path.c_str(), std::strerror(error)), error);
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
  close(fd);
  return bytes;
}

Status check_kexec_program(const std::string& exe) {
  char resolved[PATH_MAX];
  const ssize_t n = readlink(exe.c_str(), resolved, sizeof(resolved) - 1);
  // /proc/self/exe is a link; a plain path (host tests) names itself.
  const std::string target = n > 0 ? std::string(resolved, static_cast<size_t>(n)) : exe;
  const size_t slash = target.rfind('/');
  const std::string base = slash == std::string::npos ? target : target.substr(slash + 1);
  if (base != "kexec") return fail(format("this program is %s, not kexec", target.c_str()), EPERM);
  // The name alone is cheap to fake: kexec-tools also carries its purgatory.
  auto binary = kexec::read_file(exe);
  if (!binary) return fail("cannot read the program: " + binary.error().message, binary.error().errno_value);
  if (kexec::find_embedded_objects(*binary).empty()) {
    return fail(format("%s embeds no x86_64 relocatable object (no kexec-tools purgatory): not kexec", target.c_str()), EPERM);
  }
  return Ok{};
}

}  // namespace limbo::plugin
