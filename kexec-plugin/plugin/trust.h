// SPDX-License-Identifier: GPL-2.0-only
// The trust rule of the plugin. Whatever the plugin reads on its caller's say
// so (the purgatory object, and the files that stand in for system tables)
// ends up as code or data that runs with the whole machine's privilege after
// a crash, so a file anyone but root could have written is refused. The
// process test keeps the plugin inert in every program that is not kexec
// (for example when it is preloaded globally by mistake).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace limbo::plugin {

// The errno of a refusal by the rule: open() with O_RDONLY never fails with
// EPERM, so a caller can tell "refused" from "unreadable".
inline constexpr int kTrustRefused = EPERM;

// Who may own a trusted file: root always; `also_owner` too when it is set
// (a dry run of a non-root user on files of its own: nothing reaches the
// kernel then).
struct TrustRule {
  bool allow_also_owner = false;
  uid_t also_owner = 0;
};

// The rule on one file's metadata (fstat of the descriptor that is then
// read, so the checked file is the one read): a regular file, owned by root
// (or `rule.also_owner`), not writable by group or others. The error says
// which condition failed, with the owner and mode found; errno kTrustRefused.
Status check_trusted(const std::string& path, const struct stat& st, const TrustRule& rule);

// The rule on one directory above a trusted file: a directory, owned by root
// (or `rule.also_owner`), and not writable by group or others unless sticky
// (then only root, owner of the file, could replace it). The error names the
// directory, its owner or mode; errno kTrustRefused.
Status check_trusted_directory(const std::string& dir, const struct stat& st, const TrustRule& rule);

// Resolves `path` (realpath), opens the result, applies check_trusted to the
// open descriptor and check_trusted_directory to every directory above it up
// to /, and reads the file whole.
Result<std::vector<uint8_t>> read_trusted_file(const std::string& path, const TrustRule& rule);

// Whether the running program is kexec: the basename of `exe` (normally
// /proc/self/exe, resolved) is "kexec" AND the binary embeds at least one
// x86_64 relocatable object (kexec-tools' purgatory). The error says why not.
Status check_kexec_program(const std::string& exe);

}  // namespace limbo::plugin
