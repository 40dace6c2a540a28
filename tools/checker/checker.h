// SPDX-License-Identifier: GPL-2.0-only
// The checker's stages and what they share (internal to tools/checker; the
// public entry is purgatory_check.h). One Checker runs them in order, each
// stage's members in its own file:
//   decode.cc       the object's functions, relocation index and every
//                   executable byte disassembled with Zydis;
//   classify.cc     the rules on the header, symbols, relocations, ABI,
//                   each instruction and the SIMD place; section sizes;
//   call_graph.cc   indirect-call annotations and, per function, the rsp
//                   data flow: its own frame and its edges to callees;
//   stack_bound.cc  the worst path from each root against the stack, and
//                   the report's summary lines.
#pragma once

#include <Zydis/Zydis.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "elf_object.h"
#include "purgatory_check.h"

namespace limbo::check {

// Names as the checker prints and matches them (decode.cc).
std::string hex(uint64_t value);
std::string demangle(const std::string& name);
std::string short_name(const std::string& mangled);
std::string unqualified_name(const std::string& mangled);
const char* relocation_name(uint32_t type);
bool is_simd_section(const Section& section);
bool starts_with(const std::string& text, const char* prefix);

struct Location {
  size_t section = 0;
  uint64_t offset = 0;
  auto operator<=>(const Location&) const = default;
};

// A run of code named by one symbol: a sized FUNC, or an assembly label
// (NOTYPE or unsized FUNC) that runs to the next label.
struct Function {
  size_t section = 0;
  uint64_t start = 0;
  uint64_t end = 0;
  std::string symbol;  // as in the symbol table
  std::string name;    // demangled
  bool is_gate = false;
  bool in_simd_place = false;
};

struct Instruction {
  size_t section = 0;
  uint64_t offset = 0;
  ZydisDecodedInstruction decoded{};
  ZydisDecodedOperand operands[ZYDIS_MAX_OPERAND_COUNT]{};
  std::string text;
  InstructionClass cls = InstructionClass::kGeneral;  // set by the classify stage
  int function = -1;
  uint64_t end() const { return offset + decoded.length; }
};

struct Edge {
  int callee = -1;
  uint64_t depth = 0;       // bytes below the caller's entry rsp when the callee starts
  uint64_t site = 0;        // offset of the transferring instruction
};

class Checker {
 public:
  explicit Checker(const ObjectFile& object) : object_(object) {}

  // The stages in order (purgatory_check.cc); findings come out in this order.
  Report run();

 private:
  const ObjectFile& object_;
  Report report_;
  std::vector<Function> functions_;
  std::vector<Instruction> instructions_;
  std::map<Location, size_t> instruction_at_;          // start offset -> instruction index
  std::map<size_t, std::map<uint64_t, size_t>> relocs_in_;  // section -> offset -> relocation index
  std::map<int, std::vector<int>> call_targets_;        // function -> annotated indirect targets
  std::vector<std::vector<Edge>> edges_;
  std::vector<uint64_t> own_depth_;

  // ---- decode.cc: functions, relocations, instructions ----
  void add(std::string rule, std::string where, std::string instruction, std::string message);
  std::string section_name(size_t index) const;
  std::string symbol_text(const Relocation& relocation) const;
  void index_relocations();
  void build_functions();
  const Function* function_at(Location location) const;
  int function_index_at(Location location) const;
  int function_starting_at(Location location) const;
  std::string where(const Instruction& insn) const;
  const Relocation* relocation_in(const Instruction& insn) const;
  std::optional<Location> relocation_target(const Relocation& relocation, uint64_t pc_adjust) const;
  std::optional<Location> branch_target(const Instruction& insn) const;
  void decode_all();
  void report_bad_bytes(const Section& section, uint64_t from, uint64_t to);
  std::optional<Instruction> instruction_containing(size_t section, uint64_t offset) const;

  // ---- classify.cc: the rules ----
  void check_object_header();
  void check_symbols();
  std::string relocation_where(const Relocation& relocation) const;
  void check_relocations();
  void check_abi();
  void classify_instructions();
  void check_simd_place();
  void compute_sizes();

  // ---- call_graph.cc: annotations, frames, edges ----
  void read_call_targets();
  void build_call_graph();
  void stack_finding(const Instruction& insn, const std::string& message);
  std::string address_taken_hint() const;
  bool refers_to(const Instruction& insn, const char* name) const;
  bool refers_to_stack_end(const Instruction& insn) const;
  bool leaves_purgatory(const Instruction& insn) const;
  void analyse_function(int index);
  void track_registers(const Instruction& insn, std::map<ZydisRegister, Location>& known) const;

  // ---- stack_bound.cc: the worst paths against the stack ----
  struct Worst {
    uint64_t depth = 0;
    std::vector<std::pair<int, uint64_t>> path;  // function, its depth contribution
  };
  Worst worst_from(int root, std::map<int, Worst>& memo, std::vector<int>& active,
                   std::set<std::set<int>>& cycles_seen);
  std::string describe(const Worst& worst) const;
  void bound_stack();
};

}  // namespace limbo::check
