// SPDX-License-Identifier: GPL-2.0-only
// purgatory-check's decode stage: the object's functions (symbols that name
// code), its relocations indexed by the bytes they patch, and every byte of
// every executable section disassembled with Zydis; bytes that do not decode
// are the `decode` rule's findings.
#include <Zydis/Zydis.h>
#include <cxxabi.h>
#include <elf.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <sstream>

#include "checker.h"

namespace limbo::check {

std::string hex(uint64_t value) {
  std::ostringstream out;
  out << "0x" << std::hex << value;
  return out.str();
}

std::string demangle(const std::string& name) {
  // Only C++ names: the demangler would read a C function `f` as "float".
  if (name.rfind("_Z", 0) != 0) return name;
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> text(
      ::abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status), &std::free);
  return (status == 0 && text) ? std::string(text.get()) : name;
}

namespace {

// "void limbo::f<T>(int) [clone .part.0]" -> "limbo::f<T>": the name
// without return type, parameters or clone suffix.
std::string base_name(const std::string& mangled) {
  std::string name = demangle(mangled);
  if (name == mangled) return name.substr(0, name.find('.'));  // C: drop ".part.0"
  int angle = 0;
  size_t begin = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '<') ++angle;
    if (name[i] == '>') --angle;
    if (name[i] == ' ' && angle == 0) begin = i + 1;
    if (name[i] == '(' && angle == 0) return name.substr(begin, i - begin);
  }
  return name.substr(begin);
}

}  // namespace

// For call paths: base_name, keeping a clone suffix (two clones are two frames).
std::string short_name(const std::string& mangled) {
  std::string name = demangle(mangled);
  size_t clone = name.find(" [clone");
  return base_name(mangled) + (name != mangled && clone != std::string::npos ? name.substr(clone) : "");
}

// "limbo::sha::simd_gate_x<limbo::T>" -> "simd_gate_x<limbo::T>".
std::string unqualified_name(const std::string& mangled) {
  std::string name = base_name(mangled);
  int angle = 0;
  size_t begin = 0;
  for (size_t i = 0; i + 1 < name.size(); ++i) {
    if (name[i] == '<') ++angle;
    if (name[i] == '>') --angle;
    if (angle == 0 && name[i] == ':' && name[i + 1] == ':') begin = i + 2;
  }
  return name.substr(begin);
}

const char* relocation_name(uint32_t type) {
  static const char* const kNames[] = {
      "R_X86_64_NONE", "R_X86_64_64", "R_X86_64_PC32", "R_X86_64_GOT32", "R_X86_64_PLT32",
      "R_X86_64_COPY", "R_X86_64_GLOB_DAT", "R_X86_64_JUMP_SLOT", "R_X86_64_RELATIVE",
      "R_X86_64_GOTPCREL", "R_X86_64_32", "R_X86_64_32S", "R_X86_64_16", "R_X86_64_PC16",
      "R_X86_64_8", "R_X86_64_PC8", "R_X86_64_DTPMOD64", "R_X86_64_DTPOFF64",
      "R_X86_64_TPOFF64", "R_X86_64_TLSGD", "R_X86_64_TLSLD", "R_X86_64_DTPOFF32",
      "R_X86_64_GOTTPOFF", "R_X86_64_TPOFF32", "R_X86_64_PC64", "R_X86_64_GOTOFF64",
      "R_X86_64_GOTPC32", "R_X86_64_GOT64", "R_X86_64_GOTPCREL64", "R_X86_64_GOTPC64",
      "R_X86_64_GOTPLT64", "R_X86_64_PLTOFF64", "R_X86_64_SIZE32", "R_X86_64_SIZE64",
      "R_X86_64_GOTPC32_TLSDESC", "R_X86_64_TLSDESC_CALL", "R_X86_64_TLSDESC",
      "R_X86_64_IRELATIVE", "R_X86_64_RELATIVE64", "R_X86_64_PC32_BND",
      "R_X86_64_PLT32_BND", "R_X86_64_GOTPCRELX", "R_X86_64_REX_GOTPCRELX"};
  return type < std::size(kNames) ? kNames[type] : "R_X86_64_?";
}

bool is_simd_section(const Section& section) {
  std::string prefix = std::string(kSimdSectionName) + ".";
  return section.is_exec() &&
         (section.name == kSimdSectionName || section.name.rfind(prefix, 0) == 0);
}

bool starts_with(const std::string& text, const char* prefix) {
  return text.rfind(prefix, 0) == 0;
}

void Checker::add(std::string rule, std::string where, std::string instruction, std::string message) {
  report_.findings.push_back({std::move(rule), std::move(where), std::move(instruction),
                              std::move(message)});
}

std::string Checker::section_name(size_t index) const {
  return index < object_.sections.size() ? object_.sections[index].name : "?";
}

std::string Checker::symbol_text(const Relocation& relocation) const {
  if (relocation.symbol >= object_.symbols.size()) return "<bad symbol index>";
  std::string text = demangle(object_.symbols[relocation.symbol].name);
  if (relocation.addend > 0) text += "+" + hex(relocation.addend);
  if (relocation.addend < 0) text += "-" + hex(-static_cast<uint64_t>(relocation.addend));
  return text;
}

// section -> offset -> relocation, for the instructions and annotation words
// they patch.
void Checker::index_relocations() {
  for (size_t i = 0; i < object_.relocations.size(); ++i) {
    const Relocation& relocation = object_.relocations[i];
    relocs_in_[relocation.target_section][relocation.offset] = i;
  }
}

void Checker::build_functions() {
  functions_.clear();
  for (const Section& section : object_.sections) {
    if (!section.is_alloc() || !section.is_exec() || section.is_nobits()) continue;
    std::vector<const Symbol*> candidates;
    for (const Symbol& symbol : object_.symbols) {
      if (symbol.index == 0 || symbol.shndx != section.index) continue;
      if (symbol.type != STT_FUNC && symbol.type != STT_NOTYPE) continue;
      if (symbol.name.empty() || starts_with(symbol.name, ".L")) continue;
      candidates.push_back(&symbol);
    }
    // At one address prefer a sized FUNC, then a global name.
    std::sort(candidates.begin(), candidates.end(), [](const Symbol* a, const Symbol* b) {
      if (a->value != b->value) return a->value < b->value;
      if ((a->size > 0) != (b->size > 0)) return a->size > 0;
      if ((a->bind == STB_GLOBAL) != (b->bind == STB_GLOBAL)) return a->bind == STB_GLOBAL;
      return a->index < b->index;
    });
    std::vector<Function> here;
    uint64_t covered_to = 0;  // end of the last sized function
    for (const Symbol* symbol : candidates) {
      if (!here.empty() && here.back().start == symbol->value) continue;
      if (symbol->value < covered_to) continue;  // a label inside a sized function
      if (symbol->value >= section.size && section.size != 0) continue;
      Function function;
      function.section = section.index;
      function.start = symbol->value;
      function.end = symbol->size > 0 ? symbol->value + symbol->size : section.size;
      function.symbol = symbol->name;
      function.name = demangle(symbol->name);
      function.is_gate = starts_with(unqualified_name(symbol->name), kGatePrefix);
      function.in_simd_place = is_simd_section(section);
      if (symbol->size > 0) covered_to = function.end;
      here.push_back(function);
    }
    // An unsized label runs to the next label.
    for (size_t i = 0; i + 1 < here.size(); ++i) {
      here[i].end = std::min(here[i].end, here[i + 1].start);
    }
    functions_.insert(functions_.end(), here.begin(), here.end());
  }
}

const Function* Checker::function_at(Location location) const {
  int index = function_index_at(location);
  return index < 0 ? nullptr : &functions_[index];
}

int Checker::function_index_at(Location location) const {
  for (size_t i = 0; i < functions_.size(); ++i) {
    const Function& f = functions_[i];
    if (f.section == location.section && location.offset >= f.start && location.offset < f.end) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

int Checker::function_starting_at(Location location) const {
  for (size_t i = 0; i < functions_.size(); ++i) {
    if (functions_[i].section == location.section && functions_[i].start == location.offset) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

std::string Checker::where(const Instruction& insn) const {
  std::string at = section_name(insn.section) + "+" + hex(insn.offset);
  if (insn.function < 0) return at;
  const Function& f = functions_[insn.function];
  return f.name + "+" + hex(insn.offset - f.start) + " (" + at + ")";
}

// The relocation patching bytes of this instruction, if any.
const Relocation* Checker::relocation_in(const Instruction& insn) const {
  auto section = relocs_in_.find(insn.section);
  if (section == relocs_in_.end()) return nullptr;
  auto it = section->second.lower_bound(insn.offset);
  if (it == section->second.end() || it->first >= insn.end()) return nullptr;
  return &object_.relocations[it->second];
}

// Where a relocation points: symbol + addend (+ the distance from the
// patched field to the end of the instruction for PC-relative fields).
std::optional<Location> Checker::relocation_target(const Relocation& relocation, uint64_t pc_adjust) const {
  if (relocation.symbol >= object_.symbols.size()) return std::nullopt;
  const Symbol& symbol = object_.symbols[relocation.symbol];
  if (object_.section_of(symbol) == nullptr) return std::nullopt;
  return Location{symbol.shndx, symbol.value + relocation.addend + pc_adjust};
}

// Target of a direct branch, or nullopt if it is indirect or unresolvable.
std::optional<Location> Checker::branch_target(const Instruction& insn) const {
  for (int i = 0; i < insn.decoded.operand_count_visible; ++i) {
    const ZydisDecodedOperand& op = insn.operands[i];
    if (op.type != ZYDIS_OPERAND_TYPE_IMMEDIATE || !op.imm.is_relative) continue;
    if (const Relocation* relocation = relocation_in(insn)) {
      return relocation_target(*relocation, insn.end() - relocation->offset);
    }
    return Location{insn.section, insn.end() + static_cast<uint64_t>(op.imm.value.s)};
  }
  return std::nullopt;
}

void Checker::decode_all() {
  ZydisDecoder decoder;
  ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  ZydisFormatter formatter;
  ZydisFormatterInit(&formatter, ZYDIS_FORMATTER_STYLE_INTEL);

  for (const Section& section : object_.sections) {
    if (!section.is_alloc() || !section.is_exec() || section.is_nobits()) continue;
    // Restart the sweep at every function start, so that data or 16/32-bit
    // code before a label cannot desynchronise what follows.
    std::set<uint64_t> starts = {0, section.bytes.size()};
    for (const Function& f : functions_) {
      if (f.section == section.index) starts.insert(f.start);
    }
    for (auto it = starts.begin(); std::next(it) != starts.end(); ++it) {
      uint64_t offset = *it;
      uint64_t region_end = *std::next(it);
      uint64_t bad_from = region_end;  // start of the current run of undecodable bytes
      while (offset < region_end) {
        Instruction insn;
        insn.section = section.index;
        insn.offset = offset;
        ZyanStatus status = ZydisDecoderDecodeFull(&decoder, &section.bytes[offset], region_end - offset,
                                                   &insn.decoded, insn.operands);
        if (!ZYAN_SUCCESS(status)) {
          if (bad_from == region_end) bad_from = offset;
          ++offset;
          continue;
        }
        if (bad_from != region_end) {
          report_bad_bytes(section, bad_from, offset);
          bad_from = region_end;
        }
        char text[256];
        ZydisFormatterFormatInstruction(&formatter, &insn.decoded, insn.operands,
                                        insn.decoded.operand_count_visible, text, sizeof text,
                                        ZYDIS_RUNTIME_ADDRESS_NONE, nullptr);
        insn.text = text;
        if (const Relocation* relocation = relocation_in(insn)) {
          insn.text += " ; " + std::string(relocation_name(relocation->type)) + " " +
                       symbol_text(*relocation);
        }
        insn.function = function_index_at({section.index, offset});
        offset += insn.decoded.length;
        instruction_at_[{section.index, insn.offset}] = instructions_.size();
        instructions_.push_back(std::move(insn));
      }
      if (bad_from != region_end) report_bad_bytes(section, bad_from, region_end);
    }
  }
}

void Checker::report_bad_bytes(const Section& section, uint64_t from, uint64_t to) {
  std::ostringstream bytes;
  for (uint64_t i = from; i < to && i < from + 8; ++i) {
    bytes << (i == from ? "" : " ") << std::hex << (section.bytes[i] >> 4) << (section.bytes[i] & 15);
  }
  if (to - from > 8) bytes << " ...";
  Instruction at;
  at.section = section.index;
  at.offset = from;
  at.function = function_index_at({section.index, from});
  add("decode", where(at), "(" + bytes.str() + ")",
      std::to_string(to - from) + " byte(s) do not decode as x86_64 instructions");
}

std::optional<Instruction> Checker::instruction_containing(size_t section, uint64_t offset) const {
  auto it = instruction_at_.upper_bound({section, offset});
  if (it == instruction_at_.begin()) return std::nullopt;
  --it;
  const Instruction& insn = instructions_[it->second];
  if (insn.section != section || offset >= insn.end()) return std::nullopt;
  return insn;
}

}  // namespace limbo::check
