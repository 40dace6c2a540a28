// SPDX-License-Identifier: GPL-2.0-only
#include "plugin/trust.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "common/file.h"
#include "elf/embedded_objects.h"
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

Status check_trusted_directory(const std::string& dir, const struct stat& st, const TrustRule& rule) {
  if (!S_ISDIR(st.st_mode)) return fail(format("%s: refused: not a directory", dir.c_str()), kTrustRefused);
  const bool owner_ok = st.st_uid == 0 || (rule.allow_also_owner && st.st_uid == rule.also_owner);
  if (!owner_ok) {
    return fail(format("directory %s: refused: owned by uid %u, not root (its owner could replace the file)", dir.c_str(),
                       static_cast<unsigned>(st.st_uid)),
                kTrustRefused);
  }
  // Writable by others without the sticky bit: anyone could rename another
  // file over the one Limbo reads. With it (/tmp), only the file's owner or
  // the directory's can, and check_trusted requires those to be root.
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
    return fail(format("directory %s: refused: mode %04o lets %s replace the file (Limbo loads only files no one but "
                       "root can write or replace)",
                       dir.c_str(), static_cast<unsigned>(st.st_mode & 07777),
                       (st.st_mode & S_IWOTH) ? ((st.st_mode & S_IWGRP) ? "group and others" : "others") : "group"),
                kTrustRefused);
  }
  return Ok{};
}

namespace {

// Every directory above `resolved` (an absolute path without symlinks), up
// to the root, under check_trusted_directory.
Status check_directories(const std::string& path, const std::string& resolved, const TrustRule& rule) {
  std::string dir = resolved;
  while (dir.size() > 1) {
    const size_t slash = dir.rfind('/');
    dir = slash == 0 ? std::string("/") : dir.substr(0, slash);
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) {
      const int error = errno;
      return fail(format("%s: directory %s: %s", path.c_str(), dir.c_str(), std::strerror(error)), error);
    }
    if (auto trusted = check_trusted_directory(dir, st, rule); !trusted) {
      return fail(format("%s: %s", path.c_str(), trusted.error().message.c_str()), kTrustRefused);
    }
  }
  return Ok{};
}

}  // namespace

Result<std::vector<uint8_t>> read_trusted_file(const std::string& path, const TrustRule& rule) {
  // The file is opened by its resolved name, whose directories are then
  // checked: when they pass, nobody but root can change what that name
  // leads to, so the checked path is the read one.
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) {
    const int error = errno;
    return fail(format("%s: %s", path.c_str(), std::strerror(error)), error);
  }
  const UniqueFd fd(open(resolved, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.ok()) {
    const int error = errno;
    return fail(format("%s: %s", path.c_str(), std::strerror(error)), error);
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    const int error = errno;
    return fail(format("%s: %s", path.c_str(), std::strerror(error)), error);
  }
  Status trusted = check_trusted(path, st, rule);
  if (trusted) trusted = check_directories(path, resolved, rule);
  if (!trusted) return trusted.error();
  return read_to_end(fd.get(), path);
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
  if (elf::find_embedded_objects(*binary).empty()) {
    return fail(format("%s embeds no x86_64 relocatable object (no kexec-tools purgatory): not kexec", target.c_str()), EPERM);
  }
  return Ok{};
}

}  // namespace limbo::plugin
