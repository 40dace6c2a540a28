// SPDX-License-Identifier: GPL-2.0-only
// The rules of purgatory-check (see purgatory_check.h for the list and the
// conventions): decode every executable byte with Zydis, classify each
// instruction, check relocations, symbols and the ABI against the loader's
// contract, then bound the stack over the call graph.
#include "purgatory_check.h"

#include <Zydis/Zydis.h>
#include <cxxabi.h>
#include <elf.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "abi/limbo_abi.h"

namespace limbo::check {

std::string Finding::line() const {
  std::string out = rule + ": " + where;
  if (!instruction.empty()) out += ": " + instruction;
  return out + ": " + message;
}

const char* class_name(InstructionClass cls) {
  switch (cls) {
    case InstructionClass::kGeneral: return "general";
    case InstructionClass::kControlFlow: return "control-flow";
    case InstructionClass::kPortIo: return "port-io";
    case InstructionClass::kSystem: return "system";
    case InstructionClass::kX87: return "x87";
    case InstructionClass::kMmx: return "mmx";
    case InstructionClass::kSse: return "sse";
    case InstructionClass::kAvx: return "avx";
    case InstructionClass::kSha: return "sha";
    case InstructionClass::kPadding: return "padding";
    case InstructionClass::kForbidden: return "forbidden";
    case InstructionClass::kCount: break;
  }
  return "?";
}

namespace {

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

// kexec-tools 2.0.25 kexec/arch/x86_64/kexec-elf-rel-x86_64.c
// machine_apply_elf_rel(): every other type dies "Unhandled rela relocation".
bool loader_applies(uint32_t type) {
  switch (type) {
    case R_X86_64_NONE:
    case R_X86_64_64:
    case R_X86_64_32:
    case R_X86_64_32S:
    case R_X86_64_PC32:
    case R_X86_64_PLT32:
      return true;
    default:
      return false;
  }
}

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
  InstructionClass cls = InstructionClass::kGeneral;
  int function = -1;
  uint64_t end() const { return offset + decoded.length; }
};

struct Edge {
  int callee = -1;
  uint64_t depth = 0;       // bytes below the caller's entry rsp when the callee starts
  uint64_t site = 0;        // offset of the transferring instruction
};

bool is_simd_section(const Section& section) {
  std::string prefix = std::string(kSimdSectionName) + ".";
  return section.is_exec() &&
         (section.name == kSimdSectionName || section.name.rfind(prefix, 0) == 0);
}

bool starts_with(const std::string& text, const char* prefix) {
  return text.rfind(prefix, 0) == 0;
}

class Checker {
 public:
  explicit Checker(const ObjectFile& object) : object_(object) {}

  Report run() {
    check_object_header();
    check_symbols();
    build_functions();
    check_relocations();
    check_abi();
    decode_all();
    read_call_targets();
    check_simd_place();
    compute_sizes();
    bound_stack();
    return std::move(report_);
  }

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

  void add(std::string rule, std::string where, std::string instruction, std::string message) {
    report_.findings.push_back({std::move(rule), std::move(where), std::move(instruction),
                                std::move(message)});
  }

  std::string section_name(size_t index) const {
    return index < object_.sections.size() ? object_.sections[index].name : "?";
  }

  // ---- Object, symbols, relocations, ABI ---------------------------------

  void check_object_header() {
    const char* where = "ELF header";
    if (object_.elf_class != ELFCLASS64) add("object", where, "", "not ELFCLASS64");
    if (object_.data_encoding != ELFDATA2LSB) add("object", where, "", "not little-endian");
    if (object_.type != ET_REL) add("object", where, "", "not a relocatable object (ET_REL)");
    if (object_.machine != EM_X86_64) add("object", where, "", "e_machine is not EM_X86_64");

    for (const Section& section : object_.sections) {
      bool ctor = section.type == SHT_INIT_ARRAY || section.type == SHT_FINI_ARRAY ||
                  section.type == SHT_PREINIT_ARRAY;
      for (const char* name : {".init_array", ".fini_array", ".preinit_array", ".ctors", ".dtors"}) {
        if (section.name == name || starts_with(section.name, (std::string(name) + ".").c_str())) {
          ctor = true;
        }
      }
      if (ctor) {
        add("object", section.name, "", "static constructor/destructor table: nothing runs it");
      }
      if ((section.flags & SHF_TLS) != 0) {
        add("object", section.name, "", "thread-local storage section: no TLS between kernels");
      }
    }

    // kexec-tools elf_rel_load(): the entry is e_entry made relative to the
    // first executable SHF_ALLOC section whose [0, size) holds it.
    const Symbol* start = object_.find_symbol(abi::kEntrySymbol, STB_GLOBAL);
    if (start == nullptr) {
      add("object", abi::kEntrySymbol, "", "entry symbol missing or not global");
      return;
    }
    const Section* home = object_.section_of(*start);
    if (home == nullptr || !home->is_exec()) {
      add("object", abi::kEntrySymbol, "", "entry symbol is not in an executable section");
      return;
    }
    const Section* chosen = nullptr;
    for (const Section& section : object_.sections) {
      if (section.is_alloc() && section.is_exec() && object_.entry < section.size) {
        chosen = &section;
        break;
      }
    }
    if (object_.entry != start->value || chosen != home) {
      add("object", abi::kEntrySymbol, "",
          "e_entry " + hex(object_.entry) + " makes kexec-tools enter at " +
              (chosen ? chosen->name : std::string("<none>")) + "+" + hex(object_.entry) +
              ", not at " + home->name + "+" + hex(start->value) + " (link with -e " +
              abi::kEntrySymbol + " and put it first)");
    }
  }

  void check_symbols() {
    for (const Symbol& symbol : object_.symbols) {
      if (symbol.index == 0) continue;
      if (symbol.type == STT_TLS) {
        add("object", symbol.name, "", "thread-local symbol: no TLS between kernels");
      }
      if (symbol.type == STT_FILE) continue;
      if (symbol.shndx == SHN_UNDEF) {
        add("object", symbol.name, "", "undefined symbol: the -r link left it unresolved");
      } else if (symbol.shndx == SHN_COMMON) {
        add("object", symbol.name, "", "COMMON symbol: kexec-tools dies on it (build with -fno-common)");
      }
    }
  }

  std::string relocation_where(const Relocation& relocation) const {
    std::string where = section_name(relocation.target_section) + "+" + hex(relocation.offset);
    if (const Function* function = function_at({relocation.target_section, relocation.offset})) {
      where = function->name + "+" + hex(relocation.offset - function->start) + " (" + where + ")";
    }
    return where;
  }

  std::string symbol_text(const Relocation& relocation) const {
    if (relocation.symbol >= object_.symbols.size()) return "<bad symbol index>";
    std::string text = demangle(object_.symbols[relocation.symbol].name);
    if (relocation.addend > 0) text += "+" + hex(relocation.addend);
    if (relocation.addend < 0) text += "-" + hex(-static_cast<uint64_t>(relocation.addend));
    return text;
  }

  void check_relocations() {
    for (size_t i = 0; i < object_.relocations.size(); ++i) {
      const Relocation& relocation = object_.relocations[i];
      relocs_in_[relocation.target_section][relocation.offset] = i;
    }
    for (const Relocation& relocation : object_.relocations) {
      if (relocation.target_section >= object_.sections.size()) continue;
      // kexec-tools skips relocations of sections it does not load.
      if (!object_.sections[relocation.target_section].is_alloc()) continue;
      std::string what = std::string(relocation_name(relocation.type)) + " " + symbol_text(relocation);
      if (!loader_applies(relocation.type)) {
        add("reloc", relocation_where(relocation), what,
            "relocation type the kexec-tools x86_64 loader cannot apply");
      }
      if (relocation.symbol >= object_.symbols.size()) {
        add("reloc", relocation_where(relocation), what, "symbol index out of range");
        continue;
      }
      const Symbol& symbol = object_.symbols[relocation.symbol];
      if (relocation.symbol != 0 && symbol.shndx == SHN_UNDEF) {
        add("reloc", relocation_where(relocation), what,
            symbol.type == STT_NOTYPE ? "against an undefined symbol: the loader silently uses 0"
                                      : "against an undefined symbol: the loader dies");
      }
    }
  }

  void check_abi() {
    for (const abi::Symbol& wanted : abi::kSymbols) {
      const Symbol* global = object_.find_symbol(wanted.name, STB_GLOBAL);
      if (global == nullptr) {
        bool exists = object_.find_symbol(wanted.name, STB_LOCAL) != nullptr ||
                      object_.find_symbol(wanted.name, STB_WEAK) != nullptr;
        const char* who = wanted.writer == abi::Writer::kLimbo ? "the Limbo plugin" : "kexec-tools";
        add("abi", wanted.name, "",
            exists ? std::string("present but not STB_GLOBAL: ") + who + " only finds global symbols"
                   : std::string("missing: ") + who + " cannot find it by name");
        continue;
      }
      const Section* section = object_.section_of(*global);
      if (section == nullptr) {
        add("abi", wanted.name, "", "not defined in a section");
        continue;
      }
      if (wanted.size != abi::kSizeUnchecked && global->size != wanted.size) {
        add("abi", wanted.name, "",
            "size " + std::to_string(global->size) + ", the loader expects " +
                std::to_string(wanted.size));
      }
      if (wanted.writer != abi::Writer::kAddressOnly && section->is_nobits()) {
        add("abi", wanted.name, "",
            "in " + section->name + " (NOBITS): kexec-tools refuses to set a symbol in a bss section");
      }
    }
  }

  // ---- Functions and decoding --------------------------------------------

  void build_functions() {
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

  const Function* function_at(Location location) const {
    int index = function_index_at(location);
    return index < 0 ? nullptr : &functions_[index];
  }

  int function_index_at(Location location) const {
    for (size_t i = 0; i < functions_.size(); ++i) {
      const Function& f = functions_[i];
      if (f.section == location.section && location.offset >= f.start && location.offset < f.end) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  int function_starting_at(Location location) const {
    for (size_t i = 0; i < functions_.size(); ++i) {
      if (functions_[i].section == location.section && functions_[i].start == location.offset) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  std::string where(const Instruction& insn) const {
    std::string at = section_name(insn.section) + "+" + hex(insn.offset);
    if (insn.function < 0) return at;
    const Function& f = functions_[insn.function];
    return f.name + "+" + hex(insn.offset - f.start) + " (" + at + ")";
  }

  // The relocation patching bytes of this instruction, if any.
  const Relocation* relocation_in(const Instruction& insn) const {
    auto section = relocs_in_.find(insn.section);
    if (section == relocs_in_.end()) return nullptr;
    auto it = section->second.lower_bound(insn.offset);
    if (it == section->second.end() || it->first >= insn.end()) return nullptr;
    return &object_.relocations[it->second];
  }

  // Where a relocation points: symbol + addend (+ the distance from the
  // patched field to the end of the instruction for PC-relative fields).
  std::optional<Location> relocation_target(const Relocation& relocation, uint64_t pc_adjust) const {
    if (relocation.symbol >= object_.symbols.size()) return std::nullopt;
    const Symbol& symbol = object_.symbols[relocation.symbol];
    if (object_.section_of(symbol) == nullptr) return std::nullopt;
    return Location{symbol.shndx, symbol.value + relocation.addend + pc_adjust};
  }

  // Target of a direct branch, or nullopt if it is indirect or unresolvable.
  std::optional<Location> branch_target(const Instruction& insn) const {
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

  static bool is_direct(const Instruction& insn) {
    for (int i = 0; i < insn.decoded.operand_count_visible; ++i) {
      if (insn.operands[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && insn.operands[i].imm.is_relative) return true;
    }
    return false;
  }

  static bool uses_register_class(const Instruction& insn, ZydisRegisterClass cls) {
    for (int i = 0; i < insn.decoded.operand_count; ++i) {
      const ZydisDecodedOperand& op = insn.operands[i];
      if (op.type == ZYDIS_OPERAND_TYPE_REGISTER && ZydisRegisterGetClass(op.reg.value) == cls) {
        return true;
      }
    }
    return false;
  }

  static bool uses_register(const Instruction& insn, ZydisRegister reg) {
    for (int i = 0; i < insn.decoded.operand_count; ++i) {
      const ZydisDecodedOperand& op = insn.operands[i];
      if (op.type == ZYDIS_OPERAND_TYPE_REGISTER && op.reg.value == reg) return true;
    }
    return false;
  }

  // Instructions that need an OS, or fault in the purgatory's state (SSE and
  // XSAVE off, FSGSBASE off, no handler for a software interrupt).
  static const char* forbidden_reason(ZydisMnemonic mnemonic) {
    switch (mnemonic) {
      case ZYDIS_MNEMONIC_SYSCALL:
      case ZYDIS_MNEMONIC_SYSENTER:
      case ZYDIS_MNEMONIC_SYSEXIT:
      case ZYDIS_MNEMONIC_SYSRET:
        return "system call instruction: no OS to enter";
      case ZYDIS_MNEMONIC_INT:
      case ZYDIS_MNEMONIC_INT1:
      case ZYDIS_MNEMONIC_INT3:
      case ZYDIS_MNEMONIC_INTO:
        return "software interrupt: no OS handler, a triple fault before the IDT is set";
      case ZYDIS_MNEMONIC_UD0:
      case ZYDIS_MNEMONIC_UD1:
      case ZYDIS_MNEMONIC_UD2:
        return "raises #UD: use the purgatory's fatal path, which reports before it stops";
      case ZYDIS_MNEMONIC_STI:
        return "enables interrupts with the crashed kernel's interrupt state";
      case ZYDIS_MNEMONIC_XGETBV:
      case ZYDIS_MNEMONIC_XSETBV:
        return "#UD while CR4.OSXSAVE is clear";
      case ZYDIS_MNEMONIC_RDFSBASE:
      case ZYDIS_MNEMONIC_RDGSBASE:
      case ZYDIS_MNEMONIC_WRFSBASE:
      case ZYDIS_MNEMONIC_WRGSBASE:
        return "#UD while CR4.FSGSBASE is clear";
      case ZYDIS_MNEMONIC_RDPKRU:
      case ZYDIS_MNEMONIC_WRPKRU:
        return "#UD while CR4.PKE is clear";
      case ZYDIS_MNEMONIC_VMCALL:
      case ZYDIS_MNEMONIC_VMMCALL:
        return "hypervisor call: #UD on bare metal";
      case ZYDIS_MNEMONIC_INVD:
        return "discards dirty cache lines (use wbinvd)";
      default:
        return nullptr;
    }
  }

  // The privileged instructions the purgatory needs, and only those.
  static bool privileged_allowed(const Instruction& insn) {
    switch (insn.decoded.mnemonic) {
      case ZYDIS_MNEMONIC_IN:
      case ZYDIS_MNEMONIC_OUT:
      case ZYDIS_MNEMONIC_INSB:
      case ZYDIS_MNEMONIC_INSW:
      case ZYDIS_MNEMONIC_INSD:
      case ZYDIS_MNEMONIC_OUTSB:
      case ZYDIS_MNEMONIC_OUTSW:
      case ZYDIS_MNEMONIC_OUTSD:
      case ZYDIS_MNEMONIC_LGDT:
      case ZYDIS_MNEMONIC_LIDT:
      case ZYDIS_MNEMONIC_HLT:
      case ZYDIS_MNEMONIC_CLI:
      case ZYDIS_MNEMONIC_WBINVD:
      case ZYDIS_MNEMONIC_INVLPG:
      case ZYDIS_MNEMONIC_RDMSR:
      case ZYDIS_MNEMONIC_WRMSR:
        return true;
      case ZYDIS_MNEMONIC_MOV:
        // Control registers: CR0 (caching), CR2 (fault address in a handler),
        // CR3 (own page tables), CR4 (OSFXSR before SHA-NI). Not CR8, not DRn.
        return uses_register(insn, ZYDIS_REGISTER_CR0) || uses_register(insn, ZYDIS_REGISTER_CR2) ||
               uses_register(insn, ZYDIS_REGISTER_CR3) || uses_register(insn, ZYDIS_REGISTER_CR4);
      default:
        return false;
    }
  }

  static InstructionClass classify(const Instruction& insn) {
    const ZydisDecodedInstruction& d = insn.decoded;
    if (forbidden_reason(d.mnemonic) != nullptr) return InstructionClass::kForbidden;
    bool privileged = (d.attributes & ZYDIS_ATTRIB_IS_PRIVILEGED) != 0;
    if (privileged && !privileged_allowed(insn)) return InstructionClass::kForbidden;
    switch (d.mnemonic) {
      case ZYDIS_MNEMONIC_FXSAVE:
      case ZYDIS_MNEMONIC_FXSAVE64:
      case ZYDIS_MNEMONIC_FXRSTOR:
      case ZYDIS_MNEMONIC_FXRSTOR64:
        return InstructionClass::kSse;  // SSE state
      default: break;
    }
    switch (d.meta.isa_ext) {
      case ZYDIS_ISA_EXT_X87: return InstructionClass::kX87;
      case ZYDIS_ISA_EXT_MMX:
      case ZYDIS_ISA_EXT_AMD3DNOW: return InstructionClass::kMmx;
      case ZYDIS_ISA_EXT_SHA: return InstructionClass::kSha;
      case ZYDIS_ISA_EXT_XSAVE:
      case ZYDIS_ISA_EXT_XSAVEC:
      case ZYDIS_ISA_EXT_XSAVEOPT:
      case ZYDIS_ISA_EXT_XSAVES:
        return InstructionClass::kAvx;
      default: break;
    }
    if (uses_register_class(insn, ZYDIS_REGCLASS_X87) || uses_register(insn, ZYDIS_REGISTER_X87CONTROL) ||
        uses_register(insn, ZYDIS_REGISTER_X87STATUS) || uses_register(insn, ZYDIS_REGISTER_X87TAG)) {
      return InstructionClass::kX87;
    }
    if (uses_register_class(insn, ZYDIS_REGCLASS_MMX)) return InstructionClass::kMmx;
    if (uses_register_class(insn, ZYDIS_REGCLASS_YMM) || uses_register_class(insn, ZYDIS_REGCLASS_ZMM) ||
        uses_register_class(insn, ZYDIS_REGCLASS_MASK) || uses_register_class(insn, ZYDIS_REGCLASS_TMM)) {
      return InstructionClass::kAvx;
    }
    if (uses_register_class(insn, ZYDIS_REGCLASS_XMM) || uses_register(insn, ZYDIS_REGISTER_MXCSR)) {
      bool vex = d.encoding == ZYDIS_INSTRUCTION_ENCODING_VEX || d.encoding == ZYDIS_INSTRUCTION_ENCODING_EVEX ||
                 d.encoding == ZYDIS_INSTRUCTION_ENCODING_XOP;
      return vex ? InstructionClass::kAvx : InstructionClass::kSse;
    }
    switch (d.meta.category) {
      case ZYDIS_CATEGORY_IO:
      case ZYDIS_CATEGORY_IOSTRINGOP:
        return InstructionClass::kPortIo;
      case ZYDIS_CATEGORY_CALL:
      case ZYDIS_CATEGORY_COND_BR:
      case ZYDIS_CATEGORY_UNCOND_BR:
      case ZYDIS_CATEGORY_RET:
        return InstructionClass::kControlFlow;
      case ZYDIS_CATEGORY_NOP:
      case ZYDIS_CATEGORY_WIDENOP:
        return InstructionClass::kPadding;
      default: break;
    }
    if (privileged || d.mnemonic == ZYDIS_MNEMONIC_CPUID || d.mnemonic == ZYDIS_MNEMONIC_RDTSC ||
        d.mnemonic == ZYDIS_MNEMONIC_RDTSCP || d.mnemonic == ZYDIS_MNEMONIC_IRETQ ||
        d.meta.category == ZYDIS_CATEGORY_SYSTEM || d.meta.category == ZYDIS_CATEGORY_INTERRUPT) {
      return InstructionClass::kSystem;
    }
    return InstructionClass::kGeneral;
  }

  static const char* simd_hazard(const Instruction& insn) {
    switch (insn.decoded.mnemonic) {
      case ZYDIS_MNEMONIC_FXSAVE:
      case ZYDIS_MNEMONIC_FXSAVE64:
      case ZYDIS_MNEMONIC_FXRSTOR:
      case ZYDIS_MNEMONIC_FXRSTOR64:
        return "moves x87/SSE state the purgatory never set up";
      default: break;
    }
    switch (insn.cls) {
      case InstructionClass::kSse:
      case InstructionClass::kSha:
        return "#UD: CR4.OSFXSR is clear at entry";
      case InstructionClass::kAvx:
        return "#UD: CR4.OSXSAVE and XCR0 are not set up";
      default:
        return "runs on the x87/MMX state the crashed kernel left";
    }
  }

  static bool is_simd(InstructionClass cls) {
    return cls == InstructionClass::kX87 || cls == InstructionClass::kMmx || cls == InstructionClass::kSse ||
           cls == InstructionClass::kAvx || cls == InstructionClass::kSha;
  }

  void decode_all() {
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
          insn.cls = classify(insn);
          offset += insn.decoded.length;
          instruction_at_[{section.index, insn.offset}] = instructions_.size();
          instructions_.push_back(std::move(insn));
        }
        if (bad_from != region_end) report_bad_bytes(section, bad_from, region_end);
      }
    }

    for (const Instruction& insn : instructions_) {
      ++report_.summary.instructions;
      ++report_.summary.by_class[static_cast<size_t>(insn.cls)];
      if (const char* reason = forbidden_reason(insn.decoded.mnemonic)) {
        add("forbidden", where(insn), insn.text, reason);
      } else if ((insn.decoded.attributes & ZYDIS_ATTRIB_IS_PRIVILEGED) != 0 && !privileged_allowed(insn)) {
        add("privileged", where(insn), insn.text, "privileged instruction not on the allow-list");
      }
      if (is_simd(insn.cls) && !is_simd_section(object_.sections[insn.section])) {
        add("simd", where(insn), insn.text,
            std::string(class_name(insn.cls)) + " instruction outside the SIMD place (" + simd_hazard(insn) + ")");
      }
    }
  }

  void report_bad_bytes(const Section& section, uint64_t from, uint64_t to) {
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

  // ---- Indirect call annotations -----------------------------------------

  void read_call_targets() {
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

  // ---- SIMD place and its gate -------------------------------------------

  void check_simd_place() {
    for (const Relocation& relocation : object_.relocations) {
      if (relocation.target_section >= object_.sections.size()) continue;
      const Section& patched = object_.sections[relocation.target_section];
      if (!patched.is_alloc() || is_simd_section(patched)) continue;
      std::optional<Location> target = relocation_target(relocation, 0);
      if (!target || !is_simd_section(object_.sections[target->section])) continue;
      const Function* source = function_at({relocation.target_section, relocation.offset});
      if (source != nullptr && source->is_gate) continue;
      auto insn = instruction_containing(relocation.target_section, relocation.offset);
      bool branch = insn && (insn->decoded.meta.category == ZYDIS_CATEGORY_CALL ||
                             insn->decoded.meta.category == ZYDIS_CATEGORY_UNCOND_BR ||
                             insn->decoded.meta.category == ZYDIS_CATEGORY_COND_BR);
      add("simd-gate", insn ? where(*insn) : relocation_where(relocation), insn ? insn->text : symbol_text(relocation),
          branch ? "enters the SIMD place without going through a simd_gate function"
                 : "takes the address of SIMD-place code outside a simd_gate function");
    }
    for (size_t i = 0; i < functions_.size(); ++i) {
      if (!functions_[i].is_gate) continue;
      bool cpuid = false;
      bool cr4_write = false;
      std::set<int> seen;
      std::vector<int> todo = {static_cast<int>(i)};
      while (!todo.empty()) {
        int f = todo.back();
        todo.pop_back();
        if (!seen.insert(f).second) continue;
        for (const Instruction& insn : instructions_) {
          if (insn.function != f) continue;
          if (insn.decoded.mnemonic == ZYDIS_MNEMONIC_CPUID) cpuid = true;
          if (insn.decoded.mnemonic == ZYDIS_MNEMONIC_MOV && insn.operands[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
              insn.operands[0].reg.value == ZYDIS_REGISTER_CR4) {
            cr4_write = true;
          }
          if (insn.decoded.meta.category == ZYDIS_CATEGORY_CALL) {
            if (auto target = branch_target(insn)) {
              int callee = function_index_at(*target);
              if (callee >= 0 && !functions_[callee].in_simd_place) todo.push_back(callee);
            }
          }
        }
      }
      if (!cpuid || !cr4_write) {
        add("simd-gate", functions_[i].name, "",
            std::string("gate does not ") + (!cpuid ? "execute cpuid" : "") + (!cpuid && !cr4_write ? " or " : "") +
                (!cr4_write ? "write CR4" : "") + " (itself or in a direct callee)");
      }
    }
  }

  std::optional<Instruction> instruction_containing(size_t section, uint64_t offset) const {
    auto it = instruction_at_.upper_bound({section, offset});
    if (it == instruction_at_.begin()) return std::nullopt;
    --it;
    const Instruction& insn = instructions_[it->second];
    if (insn.section != section || offset >= insn.end()) return std::nullopt;
    return insn;
  }

  // ---- Sizes: the segment kexec-tools builds (elf_rel_load) ---------------

  void compute_sizes() {
    Summary& s = report_.summary;
    auto align_up = [](uint64_t value, uint64_t align) { return (value + align - 1) / align * align; };
    uint64_t buf_align = 1, bss_align = 1, buf = 0, bss = 0;
    for (const Section& section : object_.sections) {
      if (!section.is_alloc()) continue;
      uint64_t align = section.align == 0 ? 1 : section.align;
      if (section.is_nobits()) {
        s.bss_bytes += section.size;
        bss_align = std::max(bss_align, align);
        bss = align_up(bss, align) + section.size;
      } else {
        (section.is_exec() ? s.text_bytes : s.data_bytes) += section.size;
        buf_align = std::max(buf_align, align);
        buf = align_up(buf, align) + section.size;
      }
    }
    uint64_t pad = (buf & (bss_align - 1)) ? bss_align - (buf & (bss_align - 1)) : 0;
    s.segment_bytes = buf + pad + bss;
  }

  // ---- Stack bound -------------------------------------------------------

  void stack_finding(const Instruction& insn, const std::string& message) {
    add("stack", where(insn), insn.text, message);
  }

  // Functions whose address the loaded image takes other than to call or
  // jump there directly: what an unannotated indirect call could reach.
  std::string address_taken_hint() const {
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

  bool refers_to(const Instruction& insn, const char* name) const {
    const Relocation* relocation = relocation_in(insn);
    return relocation != nullptr && relocation->symbol < object_.symbols.size() &&
           object_.symbols[relocation->symbol].name == name;
  }
  bool refers_to_stack_end(const Instruction& insn) const { return refers_to(insn, kStackEndSymbol); }

  // rsp or rip loaded from the loader's register table: the hand-over to the
  // next kernel (or the jump back); nothing after it runs on our stack.
  bool leaves_purgatory(const Instruction& insn) const {
    if (!refers_to(insn, kExitRegisterTable)) return false;
    bool loads_rsp = insn.decoded.mnemonic == ZYDIS_MNEMONIC_MOV && insn.operands[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
                     insn.operands[0].reg.value == ZYDIS_REGISTER_RSP;
    bool jumps = insn.decoded.meta.category == ZYDIS_CATEGORY_UNCOND_BR &&
                 insn.operands[0].type == ZYDIS_OPERAND_TYPE_MEMORY;
    return loads_rsp || jumps;
  }

  // Data flow over one function: rsp depth (bytes below the entry rsp) at
  // every instruction, the deepest point, and the depth at each transfer.
  void analyse_function(int index) {
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

  static ZydisRegister largest(ZydisRegister reg) {
    return ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, reg);
  }

  void track_registers(const Instruction& insn, std::map<ZydisRegister, Location>& known) const {
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

  struct Worst {
    uint64_t depth = 0;
    std::vector<std::pair<int, uint64_t>> path;  // function, its depth contribution
  };

  // worst(f) over the call graph, memoised; reports each recursion once.
  Worst worst_from(int root, std::map<int, Worst>& memo, std::vector<int>& active,
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

  std::string describe(const Worst& worst) const {
    std::string text;
    for (size_t i = 0; i < worst.path.size(); ++i) {
      if (i) text += " -> ";
      text += short_name(functions_[worst.path[i].first].symbol) + " (" + std::to_string(worst.path[i].second) + ")";
    }
    return text + " = " + std::to_string(worst.depth) + " bytes";
  }

  void bound_stack() {
    edges_.assign(functions_.size(), {});
    own_depth_.assign(functions_.size(), 0);
    for (size_t i = 0; i < functions_.size(); ++i) {
      analyse_function(static_cast<int>(i));
      report_.frames.push_back({functions_[i].symbol, own_depth_[i]});
    }

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
};

}  // namespace

Report check_object(const ObjectFile& object) { return Checker(object).run(); }

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
