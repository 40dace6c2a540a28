// SPDX-License-Identifier: GPL-2.0-only
// Fallible operations of the plugin return a [[nodiscard]] Result: either a
// value or an Error that names what failed and the errno the interposed
// kexec_load should fail with. No exceptions cross the preload boundary.
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
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

  // Context for a failure, outermost first: "WHAT: <message>". A value
  // passes through unchanged.
  Result context(std::string_view what) && {
    if (ok()) return std::move(*this);
    return Error{std::string(what) + ": " + error().message, error().errno_value};
  }

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

// Propagation, in a function that returns a Result or a Status (C++ has no
// `?` operator: these are the project's only macros outside the purgatory's
// assembly glue):
//   LIMBO_TRY(limbo.set_symbol(image, "limbo_config", bytes));
//       evaluates a Status (or any Result) and returns its Error, if any;
//   LIMBO_TRY_ASSIGN(auto image, limbo.load_at(base));
//       declares `image` as the Result's value, or returns its Error.
// Add context on the way out with .context("what"):
//   LIMBO_TRY_ASSIGN(auto map, read_iomem(path).context("crash kernel memory"));
#define LIMBO_TRY(expression)                                     \
  do {                                                            \
    if (auto limbo_try_result_ = (expression); !limbo_try_result_) \
      return limbo_try_result_.error();                           \
  } while (0)

#define LIMBO_TRY_CONCAT_(a, b) a##b
#define LIMBO_TRY_CONCAT(a, b) LIMBO_TRY_CONCAT_(a, b)
#define LIMBO_TRY_ASSIGN(declaration, expression) \
  LIMBO_TRY_ASSIGN_(LIMBO_TRY_CONCAT(limbo_try_result_, __LINE__), declaration, expression)
#define LIMBO_TRY_ASSIGN_(result, declaration, expression) \
  auto result = (expression);                              \
  if (!result) return result.error();                      \
  declaration = std::move(result).value()
