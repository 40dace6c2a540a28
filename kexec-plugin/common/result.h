// SPDX-License-Identifier: GPL-2.0-only
// Fallible operations of the plugin return a [[nodiscard]] Result: either a
// value or an Error that names what failed and the errno the interposed
// kexec_load should fail with. No exceptions cross the preload boundary.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace limbo::plugin {

struct Error {
  std::string message;   // one line, no trailing newline: "<what>: <why>"
  int errno_value = EINVAL;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}      // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

// For operations that produce nothing but can fail.
struct Ok {};
using Status = Result<Ok>;

// Builds an Error; `errno_value` defaults to EINVAL (a bad object or layout).
inline Error fail(std::string message, int errno_value = EINVAL) {
  return Error{std::move(message), errno_value};
}

// printf-style helper for error messages with addresses (hex) in them.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace limbo::plugin
