// SPDX-License-Identifier: GPL-2.0-only
// purgatory-check's entry (see purgatory_check.h for the rules and the
// conventions): the stages in order, each in its own file (checker.h).
#include "purgatory_check.h"

#include "checker.h"

namespace limbo::check {

Report Checker::run() {
  check_object_header();
  check_symbols();
  index_relocations();
  build_functions();
  check_relocations();
  check_abi();
  decode_all();
  classify_instructions();
  read_call_targets();
  check_simd_place();
  compute_sizes();
  build_call_graph();
  bound_stack();
  return std::move(report_);
}

Report check_object(const ObjectFile& object) { return Checker(object).run(); }

}  // namespace limbo::check
