// SPDX-License-Identifier: GPL-2.0-only
// Test helpers over cli::parse_arguments: the arguments of a command line
// that must parse (a failed expectation says why not), and the usage error
// of one that must not ("" when it parses).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli/arguments.h"

namespace limbo::plugin::cli::testing {

inline Arguments arguments_of(const std::vector<std::string>& argv) {
  auto parsed = parse_arguments(argv);
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  return parsed.ok() ? *parsed : Arguments{};
}

inline std::string usage_error(const std::vector<std::string>& argv) {
  auto parsed = parse_arguments(argv);
  return parsed.ok() ? std::string() : parsed.error().message;
}

}  // namespace limbo::plugin::cli::testing
