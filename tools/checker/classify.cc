// SPDX-License-Identifier: GPL-2.0-only
// purgatory-check's classify stage: the rules on the ELF header, symbols,
// relocations and ABI symbols; each decoded instruction's class and the
// forbidden, privileged and simd rules; the SIMD place and its gates; the
// section sizes kexec-tools makes a segment of.
#include <Zydis/Zydis.h>
#include <elf.h>

#include <algorithm>
#include <set>

#include "abi/limbo_abi.h"
#include "checker.h"

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

bool uses_register_class(const Instruction& insn, ZydisRegisterClass cls) {
  for (int i = 0; i < insn.decoded.operand_count; ++i) {
    const ZydisDecodedOperand& op = insn.operands[i];
    if (op.type == ZYDIS_OPERAND_TYPE_REGISTER && ZydisRegisterGetClass(op.reg.value) == cls) {
      return true;
    }
  }
  return false;
}

bool uses_register(const Instruction& insn, ZydisRegister reg) {
  for (int i = 0; i < insn.decoded.operand_count; ++i) {
    const ZydisDecodedOperand& op = insn.operands[i];
    if (op.type == ZYDIS_OPERAND_TYPE_REGISTER && op.reg.value == reg) return true;
  }
  return false;
}

// Instructions that need an OS, or fault in the purgatory's state (SSE and
// XSAVE off, FSGSBASE off, no handler for a software interrupt).
const char* forbidden_reason(ZydisMnemonic mnemonic) {
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
bool privileged_allowed(const Instruction& insn) {
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

InstructionClass classify(const Instruction& insn) {
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

const char* simd_hazard(const Instruction& insn) {
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

bool is_simd(InstructionClass cls) {
  return cls == InstructionClass::kX87 || cls == InstructionClass::kMmx || cls == InstructionClass::kSse ||
         cls == InstructionClass::kAvx || cls == InstructionClass::kSha;
}

}  // namespace

// ---- Object, symbols, relocations, ABI ---------------------------------

void Checker::check_object_header() {
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

void Checker::check_symbols() {
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

std::string Checker::relocation_where(const Relocation& relocation) const {
  std::string where = section_name(relocation.target_section) + "+" + hex(relocation.offset);
  if (const Function* function = function_at({relocation.target_section, relocation.offset})) {
    where = function->name + "+" + hex(relocation.offset - function->start) + " (" + where + ")";
  }
  return where;
}

void Checker::check_relocations() {
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

void Checker::check_abi() {
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

// Each decoded instruction's class, counted in the summary, and the
// instruction rules: forbidden, privileged, SIMD outside its place.
void Checker::classify_instructions() {
  for (Instruction& insn : instructions_) insn.cls = classify(insn);
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

// ---- SIMD place and its gate -------------------------------------------

void Checker::check_simd_place() {
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

// ---- Sizes: the segment kexec-tools builds (elf_rel_load) ---------------

void Checker::compute_sizes() {
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

}  // namespace limbo::check
