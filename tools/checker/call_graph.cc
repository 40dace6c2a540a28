// SPDX-License-Identifier: GPL-2.0-only
// purgatory-check's call graph stage: the annotated indirect-call targets
// (.limbo.calltargets), then for each function the data flow of rsp over its
// code: its own frame, and an edge with the depth at each direct call, tail
// jump or annotated indirect call. Unbounded or unannotated transfers are
// `stack` findings here.
#include <Zydis/Zydis.h>
#include <elf.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "checker.h"

namespace limbo::check {

namespace {

bool is_direct(const Instruction& insn) {
  for (int i = 0; i < insn.decoded.operand_count_visible; ++i) {
    if (insn.operands[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && insn.operands[i].imm.is_relative) return true;
  }
  return false;
}

ZydisRegister largest(ZydisRegister reg) {
  return ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, reg);
}

}  // namespace

// ---- Indirect call annotations -----------------------------------------

void Checker::read_call_targets() {
  for (const Section& section : object_.sections) {
    if (section.name != kCallTargetsSection) continue;
    if (section.is_alloc()) {
      add("stack", section.name, "", "annotation section is SHF_ALLOC: it would be loaded; use \"\" flags");
    }
    auto relocs = relocs_in_.find(section.index);
    int caller = -1;
    bool in_record = false;
    for (uint64_t offset = 0; offset + 8 <= section.bytes.size(); offset += 8) {
      const Relocation* relocation = nullptr;
      if (relocs != relocs_in_.end()) {
        auto it = relocs->second.find(offset);
        if (it != relocs->second.end()) relocation = &object_.relocations[it->second];
      }
      if (relocation == nullptr) {  // the 0 word: end of record
        in_record = false;
        continue;
      }
      std::optional<Location> target = relocation_target(*relocation, 0);
      if (!in_record) {
        in_record = true;
        caller = target ? function_index_at(*target) : -1;
        // A label right after the caller's last instruction still names it.
        if (caller < 0 && target && target->offset > 0) {
          caller = function_index_at({target->section, target->offset - 1});
        }
        if (caller < 0) {
          add("stack", section.name + "+" + hex(offset), "", "annotation's caller is not in any function");
        } else {
          call_targets_[caller];  // present, possibly with no targets
        }
        continue;
      }
      int callee = target ? function_starting_at(*target) : -1;
      if (callee < 0 && target) callee = function_index_at(*target);
      if (callee < 0) {
        add("stack", section.name + "+" + hex(offset), "", "annotated target is not a function: " +
                                                               symbol_text(*relocation));
      } else if (caller >= 0) {
        call_targets_[caller].push_back(callee);
      }
    }
  }
}

// Every function's edges (callee and the depth at the transfer) and own
// frame, in symbol order.
void Checker::build_call_graph() {
  edges_.assign(functions_.size(), {});
  own_depth_.assign(functions_.size(), 0);
  for (size_t i = 0; i < functions_.size(); ++i) {
    analyse_function(static_cast<int>(i));
    report_.frames.push_back({functions_[i].symbol, own_depth_[i]});
  }
}

void Checker::stack_finding(const Instruction& insn, const std::string& message) {
  add("stack", where(insn), insn.text, message);
}

// Functions whose address the loaded image takes other than to call or
// jump there directly: what an unannotated indirect call could reach.
std::string Checker::address_taken_hint() const {
  std::set<std::string> names;
  for (const Relocation& relocation : object_.relocations) {
    if (relocation.target_section >= object_.sections.size() ||
        !object_.sections[relocation.target_section].is_alloc()) {
      continue;
    }
    std::optional<Instruction> insn = instruction_containing(relocation.target_section, relocation.offset);
    std::optional<Location> target;
    if (insn) {
      if (insn->decoded.meta.category == ZYDIS_CATEGORY_CALL || insn->decoded.meta.category == ZYDIS_CATEGORY_UNCOND_BR ||
          insn->decoded.meta.category == ZYDIS_CATEGORY_COND_BR) {
        continue;
      }
      target = relocation_target(relocation, insn->end() - relocation.offset);
    } else {
      target = relocation_target(relocation, 0);
    }
    if (!target) continue;
    int f = function_starting_at(*target);
    if (f >= 0) names.insert(short_name(functions_[f].symbol));
  }
  if (names.empty()) return "";
  std::string text = "; address-taken functions:";
  size_t shown = 0;
  for (const std::string& name : names) {
    if (++shown > 6) {
      text += " and " + std::to_string(names.size() - 6) + " more";
      break;
    }
    text += " " + name;
  }
  return text;
}

bool Checker::refers_to(const Instruction& insn, const char* name) const {
  const Relocation* relocation = relocation_in(insn);
  return relocation != nullptr && relocation->symbol < object_.symbols.size() &&
         object_.symbols[relocation->symbol].name == name;
}
bool Checker::refers_to_stack_end(const Instruction& insn) const { return refers_to(insn, kStackEndSymbol); }

// rsp or rip loaded from the loader's register table: the hand-over to the
// next kernel (or the jump back); nothing after it runs on our stack.
bool Checker::leaves_purgatory(const Instruction& insn) const {
  if (!refers_to(insn, kExitRegisterTable)) return false;
  bool loads_rsp = insn.decoded.mnemonic == ZYDIS_MNEMONIC_MOV && insn.operands[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
                   insn.operands[0].reg.value == ZYDIS_REGISTER_RSP;
  bool jumps = insn.decoded.meta.category == ZYDIS_CATEGORY_UNCOND_BR &&
               insn.operands[0].type == ZYDIS_OPERAND_TYPE_MEMORY;
  return loads_rsp || jumps;
}

// Data flow over one function: rsp depth (bytes below the entry rsp) at
// every instruction, the deepest point, and the depth at each transfer.
void Checker::analyse_function(int index) {
  const Function& function = functions_[index];
  struct State {
    int64_t depth = 0;
    std::optional<int64_t> rbp;  // depth at which rbp = rsp was taken
    // Registers holding a link-time address (movabs/lea/mov of a relocated
    // symbol): -mcmodel=large code calls through them.
    std::map<ZydisRegister, Location> known;
  };
  std::map<uint64_t, int64_t> seen;  // offset -> deepest depth already propagated
  std::map<uint64_t, int> visits;
  std::vector<std::pair<uint64_t, State>> work = {{function.start, State{}}};
  int64_t deepest = 0;
  auto indirect = call_targets_.find(index);
  // Code no path from the start reaches is entered from elsewhere (a table
  // of exception stubs, say): analyse it from depth 0 as well.
  auto next_unreached = [&]() -> std::optional<uint64_t> {
    for (auto it = instruction_at_.lower_bound({function.section, function.start});
         it != instruction_at_.end() && it->first.section == function.section && it->first.offset < function.end; ++it) {
      if (!seen.contains(it->first.offset) && instructions_[it->second].cls != InstructionClass::kPadding) {
        return it->first.offset;
      }
    }
    return std::nullopt;
  };

  for (;;) {
    if (work.empty()) {
      std::optional<uint64_t> unreached = next_unreached();
      if (!unreached) break;
      work.push_back({*unreached, State{}});
    }
    auto [offset, state] = work.back();
    work.pop_back();
    for (;;) {
      if (offset >= function.end) {
        // Falls into the next label: a tail transfer at this depth.
        int next = function_starting_at({function.section, offset});
        if (next >= 0 && next != index) edges_[index].push_back({next, uint64_t(std::max<int64_t>(state.depth, 0)), offset});
        break;
      }
      auto found = instruction_at_.find({function.section, offset});
      if (found == instruction_at_.end()) break;  // undecodable: already a finding
      auto it = seen.find(offset);
      if (it != seen.end() && it->second >= state.depth) break;
      if (it != seen.end() && ++visits[offset] > 4) {
        stack_finding(instructions_[found->second], "stack depth grows around a loop");
        break;
      }
      seen[offset] = state.depth;
      const Instruction& insn = instructions_[found->second];
      const ZydisDecodedInstruction& d = insn.decoded;
      const ZydisDecodedOperand* ops = insn.operands;
      auto op_is_rsp = [&](int i) {
        return ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER && ops[i].reg.value == ZYDIS_REGISTER_RSP;
      };
      auto op_imm = [&](int i) -> std::optional<int64_t> {
        if (ops[i].type != ZYDIS_OPERAND_TYPE_IMMEDIATE) return std::nullopt;
        return ops[i].imm.value.s;
      };
      bool ends = false;
      bool falls_through = true;
      if (leaves_purgatory(insn)) {
        deepest = std::max(deepest, state.depth);
        break;
      }
      // A direct target, or the address an indirect call's register holds.
      std::optional<Location> target = branch_target(insn);
      if (!target && ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER) {
        auto held = state.known.find(largest(ops[0].reg.value));
        if (held != state.known.end()) target = held->second;
      }
      switch (d.mnemonic) {
        case ZYDIS_MNEMONIC_PUSH:
        case ZYDIS_MNEMONIC_PUSHFQ:
          state.depth += d.operand_width / 8;
          break;
        case ZYDIS_MNEMONIC_POP:
        case ZYDIS_MNEMONIC_POPFQ:
          if (op_is_rsp(0)) stack_finding(insn, "pop into rsp: unanalysable stack switch");
          state.depth -= d.operand_width / 8;
          break;
        case ZYDIS_MNEMONIC_ENTER:
          state.depth += 8;
          state.rbp = state.depth;
          state.depth += op_imm(0).value_or(0);
          break;
        case ZYDIS_MNEMONIC_LEAVE:
          if (!state.rbp) {
            stack_finding(insn, "leave without a known frame pointer");
            ends = true;
          } else {
            state.depth = *state.rbp - 8;
          }
          break;
        case ZYDIS_MNEMONIC_SUB:
        case ZYDIS_MNEMONIC_ADD:
        case ZYDIS_MNEMONIC_AND:
          if (op_is_rsp(0)) {
            std::optional<int64_t> imm = op_imm(1);
            if (!imm) {
              stack_finding(insn, "rsp adjusted by a run-time amount: stack use cannot be bounded");
              ends = true;
            } else if (d.mnemonic == ZYDIS_MNEMONIC_SUB) {
              state.depth += *imm;
            } else if (d.mnemonic == ZYDIS_MNEMONIC_ADD) {
              state.depth -= *imm;
            } else if (*imm < 0) {
              state.depth += std::max<int64_t>(0, -*imm - 8);  // realignment, rsp is 8-aligned
            }
          }
          break;
        case ZYDIS_MNEMONIC_LEA:
        case ZYDIS_MNEMONIC_MOV:
          if (op_is_rsp(0)) {
            const ZydisDecodedOperand& src = ops[1];
            if (refers_to_stack_end(insn)) {
              state = State{};  // switched to the purgatory's own stack
            } else if (const Relocation* relocation = relocation_in(insn);
                       relocation != nullptr && (d.mnemonic == ZYDIS_MNEMONIC_LEA || src.type == ZYDIS_OPERAND_TYPE_IMMEDIATE)) {
              stack_finding(insn, "switches to a stack other than stack_end: the bound assumes stack..stack_end");
              state = State{};
            } else if (d.mnemonic == ZYDIS_MNEMONIC_LEA && src.type == ZYDIS_OPERAND_TYPE_MEMORY &&
                       src.mem.index == ZYDIS_REGISTER_NONE && src.mem.base == ZYDIS_REGISTER_RSP) {
              state.depth -= src.mem.disp.value;
            } else if (d.mnemonic == ZYDIS_MNEMONIC_LEA && src.type == ZYDIS_OPERAND_TYPE_MEMORY &&
                       src.mem.index == ZYDIS_REGISTER_NONE && src.mem.base == ZYDIS_REGISTER_RBP && state.rbp) {
              state.depth = *state.rbp - src.mem.disp.value;
            } else if (d.mnemonic == ZYDIS_MNEMONIC_MOV && src.type == ZYDIS_OPERAND_TYPE_REGISTER &&
                       src.reg.value == ZYDIS_REGISTER_RBP && state.rbp) {
              state.depth = *state.rbp;
            } else {
              stack_finding(insn, "unanalysable write to rsp (only stack_end, rsp+imm and rbp frames are understood)");
              ends = true;
            }
          } else if (d.mnemonic == ZYDIS_MNEMONIC_MOV && ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
                     ops[0].reg.value == ZYDIS_REGISTER_RBP) {
            if (ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER && ops[1].reg.value == ZYDIS_REGISTER_RSP) {
              state.rbp = state.depth;
            } else {
              state.rbp.reset();
            }
          }
          break;
        case ZYDIS_MNEMONIC_CALL: {
          uint64_t at = uint64_t(std::max<int64_t>(state.depth, 0)) + 8;
          if (target) {
            int callee = function_index_at(*target);
            if (callee == index && target->offset != function.start) {
              // call to a label inside this function (call/pop idiom or a
              // local subroutine): the return address stays pushed there.
              work.push_back({target->offset, State{state.depth + 8, state.rbp, state.known}});
            } else if (callee >= 0) {
              edges_[index].push_back({callee, at, insn.offset});
            } else {
              stack_finding(insn, "call to an address outside every function");
            }
          } else if (is_direct(insn)) {
            stack_finding(insn, "call to an undefined symbol");
          } else if (indirect == call_targets_.end()) {
            stack_finding(insn, "indirect call without annotated targets (.limbo.calltargets)" + address_taken_hint());
          } else {
            for (int callee : indirect->second) edges_[index].push_back({callee, at, insn.offset});
          }
          // Nothing follows a call that ends the function (a noreturn callee).
          if (insn.end() >= function.end) falls_through = false;
          break;
        }
        case ZYDIS_MNEMONIC_RET:
          if (d.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR) {
            state.depth -= 16;  // lretq to reload CS: continues at the pushed label
          } else {
            ends = true;
          }
          break;
        case ZYDIS_MNEMONIC_IRETQ:
        case ZYDIS_MNEMONIC_IRETD:
        case ZYDIS_MNEMONIC_IRET:
        case ZYDIS_MNEMONIC_UD2:
          ends = true;
          break;
        default:
          if (d.meta.category == ZYDIS_CATEGORY_UNCOND_BR || d.meta.category == ZYDIS_CATEGORY_COND_BR) {
            bool conditional = d.meta.category == ZYDIS_CATEGORY_COND_BR;
            uint64_t at = uint64_t(std::max<int64_t>(state.depth, 0));
            if (d.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR) {
              ends = !conditional;  // far jump: CS reload, target not modelled
            } else if (target) {
              int callee = function_index_at(*target);
              if (callee == index) {
                work.push_back({target->offset, state});
              } else if (callee >= 0 && target->offset != functions_[callee].start) {
                // Back into the middle of another function (from a GCC
                // `.cold` part to its parent): that code is analysed with
                // its own function, which reached this split at this depth.
              } else if (callee >= 0) {
                edges_[index].push_back({callee, at, insn.offset});
              } else {
                stack_finding(insn, "jump to an address outside every function");
              }
            } else if (is_direct(insn)) {
              stack_finding(insn, "jump to an undefined symbol");
            } else if (indirect == call_targets_.end()) {
              stack_finding(insn, "indirect jump without annotated targets (.limbo.calltargets)" + address_taken_hint());
            } else {
              for (int callee : indirect->second) edges_[index].push_back({callee, at, insn.offset});
            }
            if (!conditional) ends = true;
          } else {
            for (int i = 0; i < d.operand_count_visible; ++i) {
              if (op_is_rsp(i) && (ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) != 0) {
                stack_finding(insn, "unanalysable write to rsp");
                ends = true;
              }
            }
          }
          break;
      }
      track_registers(insn, state.known);
      deepest = std::max(deepest, state.depth);
      if (ends || !falls_through) break;
      offset = insn.end();
    }
  }
  own_depth_[index] = uint64_t(deepest);
}

void Checker::track_registers(const Instruction& insn, std::map<ZydisRegister, Location>& known) const {
  const ZydisDecodedInstruction& d = insn.decoded;
  const ZydisDecodedOperand* ops = insn.operands;
  if (d.meta.category == ZYDIS_CATEGORY_CALL) {
    // SysV: the callee may clobber every caller-saved register.
    for (ZydisRegister reg : {ZYDIS_REGISTER_RAX, ZYDIS_REGISTER_RCX, ZYDIS_REGISTER_RDX, ZYDIS_REGISTER_RSI,
                              ZYDIS_REGISTER_RDI, ZYDIS_REGISTER_R8, ZYDIS_REGISTER_R9, ZYDIS_REGISTER_R10,
                              ZYDIS_REGISTER_R11}) {
      known.erase(reg);
    }
    return;
  }
  for (int i = 0; i < d.operand_count; ++i) {
    if (ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER && (ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) != 0) {
      known.erase(largest(ops[i].reg.value));
    }
  }
  if (ops[0].type != ZYDIS_OPERAND_TYPE_REGISTER || ZydisRegisterGetClass(ops[0].reg.value) != ZYDIS_REGCLASS_GPR64) {
    return;
  }
  const Relocation* relocation = relocation_in(insn);
  std::optional<Location> value;
  if (d.mnemonic == ZYDIS_MNEMONIC_LEA && ops[1].type == ZYDIS_OPERAND_TYPE_MEMORY &&
      ops[1].mem.base == ZYDIS_REGISTER_RIP) {
    // Same-section references are resolved by the assembler: no relocation.
    value = relocation ? relocation_target(*relocation, insn.end() - relocation->offset)
                       : std::optional<Location>(Location{insn.section, insn.end() + ops[1].mem.disp.value});
  } else if (relocation && d.mnemonic == ZYDIS_MNEMONIC_MOV && ops[1].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
    value = relocation_target(*relocation, 0);
  }
  if (value) known[ops[0].reg.value] = *value;
}

}  // namespace limbo::check
