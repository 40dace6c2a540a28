// SPDX-License-Identifier: GPL-2.0-only
// purgatory-check's stack bound stage: the worst path over the call graph
// from purgatory_start, the exception handlers and the NMI handler, the
// stack size from its symbols, the bound against it (see "Stack bound" in
// purgatory_check.h), and the report's summary lines.
#include <elf.h>

#include <algorithm>
#include <sstream>

#include "abi/limbo_abi.h"
#include "checker.h"

namespace limbo::check {

// worst(f) over the call graph, memoised; reports each recursion once.
Checker::Worst Checker::worst_from(int root, std::map<int, Worst>& memo, std::vector<int>& active,
                                   std::set<std::set<int>>& cycles_seen) {
  if (auto it = memo.find(root); it != memo.end()) return it->second;
  if (auto it = std::find(active.begin(), active.end(), root); it != active.end()) {
    std::vector<int> cycle(it, active.end());
    std::set<int> key(cycle.begin(), cycle.end());
    if (cycles_seen.insert(key).second) {
      std::string path;
      for (int f : cycle) path += functions_[f].name + " -> ";
      path += functions_[root].name;
      add("stack", functions_[root].name, "", "recursion: " + path + " (stack use cannot be bounded)");
    }
    return Worst{};
  }
  active.push_back(root);
  Worst best{own_depth_[root], {{root, own_depth_[root]}}};
  for (const Edge& edge : edges_[root]) {
    Worst below = worst_from(edge.callee, memo, active, cycles_seen);
    if (edge.depth + below.depth > best.depth) {
      best.depth = edge.depth + below.depth;
      best.path = {{root, edge.depth}};
      best.path.insert(best.path.end(), below.path.begin(), below.path.end());
    }
  }
  active.pop_back();
  memo[root] = best;
  return best;
}

std::string Checker::describe(const Worst& worst) const {
  std::string text;
  for (size_t i = 0; i < worst.path.size(); ++i) {
    if (i) text += " -> ";
    text += short_name(functions_[worst.path[i].first].symbol) + " (" + std::to_string(worst.path[i].second) + ")";
  }
  return text + " = " + std::to_string(worst.depth) + " bytes";
}

void Checker::bound_stack() {
  Summary& s = report_.summary;
  const Symbol* end = object_.find_symbol(kStackEndSymbol, STB_GLOBAL);
  const Symbol* start = nullptr;
  if (end != nullptr) {
    for (const Symbol& symbol : object_.symbols) {
      if (symbol.index == 0 || symbol.shndx != end->shndx || symbol.value >= end->value) continue;
      bool named = symbol.name == kStackStartSymbol || symbol.name == kLimboStackStartSymbol;
      bool ends_at_stack_end = symbol.type == STT_OBJECT && symbol.value + symbol.size == end->value;
      if (named || ends_at_stack_end) {
        start = &symbol;
        if (named) break;
      }
    }
  }
  if (start == nullptr) {
    add("stack", kStackEndSymbol, "",
        "stack size unknown: need `stack` or `limbo_stack` (or an object ending at stack_end) "
        "in stack_end's section");
  } else {
    s.stack_size = end->value - start->value;
  }

  std::map<int, Worst> memo;
  std::vector<int> active;
  std::set<std::set<int>> cycles;
  const Symbol* entry = object_.find_symbol(abi::kEntrySymbol, STB_GLOBAL);
  int entry_function = -1;
  if (entry != nullptr && object_.section_of(*entry) != nullptr) {
    entry_function = function_starting_at({entry->shndx, entry->value});
  }
  if (entry_function < 0) {
    add("stack", abi::kEntrySymbol, "", "no code at the entry symbol: stack bound not computed");
    return;
  }
  Worst from_entry = worst_from(entry_function, memo, active, cycles);
  s.entry_depth = from_entry.depth;
  s.worst_path = describe(from_entry);

  Worst worst_handler;
  for (size_t i = 0; i < functions_.size(); ++i) {
    if (!starts_with(functions_[i].symbol, kExceptionPrefix) &&
        !starts_with(functions_[i].symbol, kInterruptPrefix)) {
      continue;
    }
    ++s.exception_handlers;
    Worst handler = worst_from(static_cast<int>(i), memo, active, cycles);
    if (functions_[i].symbol == kNmiHandlerSymbol) {
      s.nmi_handler = true;
      s.nmi_depth = handler.depth;
      s.nmi_path = describe(handler);
      continue;
    }
    if (s.exception_handlers == 1 || handler.depth > worst_handler.depth) worst_handler = handler;
  }
  if (s.exception_handlers > 0) {
    s.handler_depth = worst_handler.depth;
    s.worst_handler_path = describe(worst_handler);
  }
  // Recursion is a finding wherever it is, reachable from a root or not.
  for (size_t i = 0; i < functions_.size(); ++i) worst_from(static_cast<int>(i), memo, active, cycles);
  s.stack_required = s.entry_depth +
                     (s.exception_handlers ? kFaultHandlerNesting * (kExceptionFrameBytes + s.handler_depth) : 0) +
                     (s.nmi_handler ? kInterruptFrameBytes + s.nmi_depth : 0) + kStackMarginBytes;
  s.stack_known = s.stack_size > 0;
  if (s.stack_known && s.stack_required > s.stack_size) {
    add("stack", abi::kEntrySymbol, "",
        "worst stack " + std::to_string(s.stack_required) + " bytes (entry " + std::to_string(s.entry_depth) +
            " + " + std::to_string(kFaultHandlerNesting) + " x (exception frame " +
            std::to_string(s.exception_handlers ? kExceptionFrameBytes : 0) + " + handler " +
            std::to_string(s.handler_depth) + ") + nmi " +
            std::to_string(s.nmi_handler ? kInterruptFrameBytes + s.nmi_depth : 0) + " + margin " +
            std::to_string(kStackMarginBytes) +
            ") exceeds the " + std::to_string(s.stack_size) + "-byte stack; path: " + s.worst_path);
  }
}

std::string format_report(const Report& report) {
  std::ostringstream out;
  for (const Finding& finding : report.findings) out << finding.line() << "\n";
  const Summary& s = report.summary;
  auto row = [&](const std::string& key, const std::string& value) {
    out << "summary: " << key << std::string(key.size() < 22 ? 22 - key.size() : 1, ' ') << value << "\n";
  };
  row("text", std::to_string(s.text_bytes) + " bytes");
  row("data", std::to_string(s.data_bytes) + " bytes");
  row("bss", std::to_string(s.bss_bytes) + " bytes");
  row("segment", std::to_string(s.segment_bytes) + " bytes");
  row("instructions", std::to_string(s.instructions));
  for (size_t i = 0; i < static_cast<size_t>(InstructionClass::kCount); ++i) {
    row(std::string("  ") + class_name(static_cast<InstructionClass>(i)), std::to_string(s.by_class[i]));
  }
  row("stack size", s.stack_size ? std::to_string(s.stack_size) + " bytes" : "unknown");
  row("stack from entry", std::to_string(s.entry_depth) + " bytes");
  row("exception handlers", std::to_string(s.exception_handlers));
  row("stack in handler", std::to_string(s.handler_depth) + " bytes");
  row("exception frame", std::to_string(s.exception_handlers ? kExceptionFrameBytes : 0) + " bytes");
  row("fault nesting", s.exception_handlers ? std::to_string(kFaultHandlerNesting) + " handlers" : "-");
  row("nmi frame+handler", std::to_string(s.nmi_handler ? kInterruptFrameBytes + s.nmi_depth : 0) + " bytes");
  row("stack margin", std::to_string(kStackMarginBytes) + " bytes");
  row("stack required", std::to_string(s.stack_required) + " bytes");
  row("worst path", s.worst_path.empty() ? "-" : s.worst_path);
  row("worst handler path", s.worst_handler_path.empty() ? "-" : s.worst_handler_path);
  row("nmi path", s.nmi_path.empty() ? "-" : s.nmi_path);
  row("findings", std::to_string(report.findings.size()));
  return out.str();
}

}  // namespace limbo::check
