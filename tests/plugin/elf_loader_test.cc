// SPDX-License-Identifier: GPL-2.0-only
// The relocatable-object loader (kexec-plugin/elf) on the stock purgatory
// extracted from /sbin/kexec, on the fixture objects, on build/purgatory.ro,
// and on objects broken on purpose: every error path names its cause.
#include <gtest/gtest.h>
#include <unistd.h>

#include "abi/limbo_abi.h"
#include "elf/embedded_objects.h"
#include "elf/rel_object.h"
#include "kexec/stock_finder.h"
#include "objects.h"

namespace limbo::test {
namespace {

using plugin::elf::LoadedImage;
using plugin::elf::RelObject;

RelObject parse_ok(const std::vector<uint8_t>& bytes, const char* what) {
  auto object = RelObject::parse(bytes, what);
  EXPECT_TRUE(object.ok()) << (object.ok() ? "" : object.error().message);
  if (!object.ok()) throw std::runtime_error("parse failed");
  return std::move(object.value());
}

std::string parse_error(const std::vector<uint8_t>& bytes) {
  auto object = RelObject::parse(bytes, "broken.o");
  if (object.ok()) return "(parsed)";
  return object.error().message;
}

// Checks the production layout and relocations against the test's own
// reading of the same object, at two different bases.
void expect_same_as_reference(const RawElf& raw) {
  RelObject object = parse_ok(raw.bytes, "object");
  const auto expected = raw.layout();
  const auto layout = object.layout();
  EXPECT_EQ(layout.bufsz, expected.bufsz);
  EXPECT_EQ(layout.bss_pad, expected.bss_pad);
  EXPECT_EQ(layout.bsssz, expected.bsssz);
  EXPECT_EQ(layout.buf_align, expected.buf_align);
  for (size_t i = 0; i < raw.section_count(); ++i) {
    if (raw.shdr(i).sh_flags & SHF_ALLOC) {
      EXPECT_EQ(layout.section_offsets[i], expected.offsets[i]) << raw.section_name(i);
    }
  }
  for (uint64_t base : {uint64_t{0x7fff0000}, uint64_t{0x23fff7000} & ~(expected.buf_align - 1)}) {
    auto image = object.load_at(base);
    ASSERT_TRUE(image.ok()) << image.error().message;
    EXPECT_EQ(image->bytes, raw.load_at(base)) << "relocated image differs at base " << std::hex << base;
  }
}

TEST(StockFinder, FindsTheSameObjectAsTheTestsOwnScan) {
  const std::vector<uint8_t> expected = extract_stock_purgatory();
  ASSERT_FALSE(expected.empty()) << "no ET_REL object in " << kexec_path();
  const auto binary = plugin::kexec::read_file(kexec_path());
  ASSERT_TRUE(binary.ok());
  const auto found = plugin::elf::find_embedded_objects(*binary);
  ASSERT_GE(found.size(), 1u);
  EXPECT_EQ(std::vector<uint8_t>(found[0].begin(), found[0].end()), expected);
}

TEST(StockFinder, ReadFileKeepsErrno) {
  auto missing = plugin::kexec::read_file("/nonexistent/limbo/purgatory.ro");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().errno_value, ENOENT);
}

TEST(ElfLoader, StockLayoutAndRelocationsMatchKexecToolsRules) { expect_same_as_reference(stock_raw()); }
TEST(ElfLoader, FixtureLayoutAndRelocationsMatchKexecToolsRules) { expect_same_as_reference(fixture_raw()); }
TEST(ElfLoader, BigFixtureLayoutAndRelocationsMatchKexecToolsRules) { expect_same_as_reference(big_fixture_raw()); }

TEST(ElfLoader, PurgatoryRoLayoutRelocationsAndAbi) {
  RawElf raw{read_bytes(LIMBO_TEST_PURGATORY)};
  if (raw.bytes.empty()) GTEST_SKIP() << LIMBO_TEST_PURGATORY << " not built yet";
  expect_same_as_reference(raw);
  RelObject object = parse_ok(raw.bytes, LIMBO_TEST_PURGATORY);
  auto image = object.load_at(0x7f000000);
  ASSERT_TRUE(image.ok()) << image.error().message;
  // Every ABI symbol is settable with its exact size (or, for stack_end, found).
  for (const abi::Symbol& symbol : abi::kSymbols) {
    if (symbol.writer == abi::Writer::kAddressOnly) {
      EXPECT_TRUE(object.find_global(symbol.name).ok()) << symbol.name;
    } else {
      auto range = object.data_range(*image, symbol.name, symbol.size);
      EXPECT_TRUE(range.ok()) << (range.ok() ? "" : range.error().message);
    }
  }
  EXPECT_TRUE(object.find_global(abi::kEntrySymbol).ok());
}

TEST(ElfLoader, StockEntryIsPurgatoryStartRelocated) {
  const RawElf raw = stock_raw();
  RelObject object = parse_ok(raw.bytes, "stock");
  auto image = object.load_at(0x5000000);
  ASSERT_TRUE(image.ok());
  auto start = object.address_of(*image, abi::kEntrySymbol);
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(image->kexec_tools_entry, *start);
  EXPECT_EQ(*start, 0x5000000 + raw.layout().offsets[raw.section_index(".text")] + raw.ehdr().e_entry);
}

TEST(ElfLoader, SymbolSetAndGet) {
  const RawElf raw = stock_raw();
  RelObject object = parse_ok(raw.bytes, "stock");
  auto loaded = object.load_at(0x1000000);
  ASSERT_TRUE(loaded.ok());
  LoadedImage image = std::move(loaded.value());
  abi::Entry64Regs regs{};
  regs.rip = 0x1234000;
  regs.rsi = 0x99000;
  ASSERT_TRUE(object.set_symbol(image, "entry64_regs", {reinterpret_cast<const uint8_t*>(&regs), sizeof(regs)}).ok());
  // The bytes land where the test's own layout puts the symbol.
  abi::Entry64Regs raw_read{};
  std::memcpy(&raw_read, image.bytes.data() + raw.image_offset("entry64_regs"), sizeof(raw_read));
  EXPECT_EQ(raw_read.rip, 0x1234000u);
  abi::Entry64Regs back{};
  ASSERT_TRUE(object.get_symbol(image, "entry64_regs", {reinterpret_cast<uint8_t*>(&back), sizeof(back)}).ok());
  EXPECT_EQ(back.rsi, 0x99000u);

  uint16_t port = 0x2f8;
  ASSERT_TRUE(object.set_symbol(image, "serial_base", {reinterpret_cast<const uint8_t*>(&port), 2}).ok());
  uint16_t port_back = 0;
  ASSERT_TRUE(object.get_symbol(image, "serial_base", {reinterpret_cast<uint8_t*>(&port_back), 2}).ok());
  EXPECT_EQ(port_back, 0x2f8);

  // Mis-sized: kexec-tools refuses a size that differs from st_size.
  uint32_t wrong = 0;
  auto mis_sized = object.set_symbol(image, "serial_base", {reinterpret_cast<const uint8_t*>(&wrong), 4});
  ASSERT_FALSE(mis_sized.ok());
  EXPECT_NE(mis_sized.error().message.find("serial_base has size 2, not 4"), std::string::npos) << mis_sized.error().message;
  // Missing.
  auto missing = object.get_symbol(image, "limbo_config", {reinterpret_cast<uint8_t*>(&wrong), 4});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("limbo_config not found"), std::string::npos);
  // stack_end's address is the stock stack's end in .data.
  auto stack_end = object.address_of(image, "stack_end");
  ASSERT_TRUE(stack_end.ok());
  EXPECT_EQ(*stack_end, 0x1000000 + raw.image_offset("stack_end"));
}

TEST(ElfLoader, SymbolInBssCannotBeSet) {
  const RawElf raw = fixture_raw();
  RelObject object = parse_ok(raw.bytes, "fixture");
  auto image = object.load_at(0x100000);
  ASSERT_TRUE(image.ok());
  std::vector<uint8_t> bytes(256);
  auto result = object.set_symbol(*image, "fixture_bss", bytes);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("fixture_bss is in a bss section"), std::string::npos) << result.error().message;
}

TEST(ElfLoader, MisalignedBaseIsRefused) {
  RelObject object = parse_ok(stock_raw().bytes, "stock");
  EXPECT_FALSE(object.load_at(0x1000800).ok());  // stock .data wants 4096
}

// ---- Broken objects ------------------------------------------------------

TEST(ElfLoaderErrors, Truncated) {
  std::vector<uint8_t> bytes = stock_raw().bytes;
  EXPECT_NE(parse_error({bytes.begin(), bytes.begin() + 40}).find("truncated"), std::string::npos);
  // Cut inside the section header table.
  EXPECT_NE(parse_error({bytes.begin(), bytes.end() - 100}).find("truncated: section headers"), std::string::npos);
  // Cut inside a section's contents: move the headers to the front, cut after them.
  RawElf raw = stock_raw();
  const size_t text = raw.section_index(".text");
  Elf64_Shdr sh = raw.shdr(text);
  sh.sh_offset = raw.bytes.size() - 16;  // claims 0x3e3c bytes where 16 remain
  raw.write(raw.shdr_offset(text), sh);
  EXPECT_NE(parse_error(raw.bytes).find("truncated: section .text"), std::string::npos) << parse_error(raw.bytes);
}

TEST(ElfLoaderErrors, BadMagic) {
  RawElf raw = stock_raw();
  raw.bytes[1] = 'X';
  EXPECT_NE(parse_error(raw.bytes).find("bad magic"), std::string::npos);
}

TEST(ElfLoaderErrors, WrongMachineClassAndType) {
  RawElf raw = stock_raw();
  Elf64_Ehdr e = raw.ehdr();
  e.e_machine = EM_AARCH64;
  raw.write(0, e);
  EXPECT_NE(parse_error(raw.bytes).find("is not EM_X86_64"), std::string::npos);
  e = stock_raw().ehdr();
  e.e_type = ET_EXEC;
  raw = stock_raw();
  raw.write(0, e);
  EXPECT_NE(parse_error(raw.bytes).find("is not ET_REL"), std::string::npos);
  raw = stock_raw();
  raw.bytes[EI_CLASS] = ELFCLASS32;
  EXPECT_NE(parse_error(raw.bytes).find("not ELF64"), std::string::npos);
}

// The first RELA entry of .rela.text, to be broken.
uint64_t first_rela_offset(const RawElf& raw) { return raw.shdr(raw.section_index(".rela.text")).sh_offset; }

TEST(ElfLoaderErrors, UnsupportedRelocation) {
  RawElf raw = stock_raw();
  auto r = raw.read<Elf64_Rela>(first_rela_offset(raw));
  r.r_info = ELF64_R_INFO(ELF64_R_SYM(r.r_info), R_X86_64_GOTPCREL);
  raw.write(first_rela_offset(raw), r);
  const std::string error = parse_error(raw.bytes);
  EXPECT_NE(error.find("unsupported relocation type 9 (R_X86_64_GOTPCREL)"), std::string::npos) << error;
  EXPECT_NE(error.find(".rela.text #0"), std::string::npos) << error;
}

TEST(ElfLoaderErrors, SymbolIndexOutOfRange) {
  RawElf raw = stock_raw();
  auto r = raw.read<Elf64_Rela>(first_rela_offset(raw));
  r.r_info = ELF64_R_INFO(raw.symbol_count() + 5, ELF64_R_TYPE(r.r_info));
  raw.write(first_rela_offset(raw), r);
  EXPECT_NE(parse_error(raw.bytes).find("symbol index " + std::to_string(raw.symbol_count() + 5) + " out of range"), std::string::npos)
      << parse_error(raw.bytes);
}

TEST(ElfLoaderErrors, RelocationOffsetOutOfSection) {
  RawElf raw = stock_raw();
  auto r = raw.read<Elf64_Rela>(first_rela_offset(raw));
  r.r_offset = raw.shdr(raw.section_index(".text")).sh_size - 2;  // a 4- or 8-byte field cannot fit
  raw.write(first_rela_offset(raw), r);
  EXPECT_NE(parse_error(raw.bytes).find("out of section .text"), std::string::npos) << parse_error(raw.bytes);
}

TEST(ElfLoaderErrors, RelocationSectionNumberOutOfRange) {
  RawElf raw = stock_raw();
  const size_t rela = raw.section_index(".rela.text");
  Elf64_Shdr sh = raw.shdr(rela);
  sh.sh_info = 200;
  raw.write(raw.shdr_offset(rela), sh);
  EXPECT_NE(parse_error(raw.bytes).find("section number out of range"), std::string::npos);
}

TEST(ElfLoaderErrors, SymbolSectionIndexOutOfRange) {
  RawElf raw = stock_raw();
  const size_t index = raw.global_symbol("panic_kernel");
  Elf64_Sym sym = raw.symbol(index);
  sym.st_shndx = 77;
  raw.write(raw.symbol_offset(index), sym);
  EXPECT_NE(parse_error(raw.bytes).find("symbol panic_kernel: section index 77 out of range"), std::string::npos) << parse_error(raw.bytes);
}

TEST(ElfLoaderErrors, UndefinedSymbolInRelocation) {
  RawElf raw = stock_raw();
  // Make the symbol the first .rela.text entry uses undefined.
  const auto r = raw.read<Elf64_Rela>(first_rela_offset(raw));
  Elf64_Sym sym = raw.symbol(ELF64_R_SYM(r.r_info));
  sym.st_shndx = SHN_UNDEF;
  sym.st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC);
  raw.write(raw.symbol_offset(ELF64_R_SYM(r.r_info)), sym);
  EXPECT_NE(parse_error(raw.bytes).find("undefined symbol"), std::string::npos) << parse_error(raw.bytes);
}

TEST(ElfLoaderErrors, RelocationOverflow) {
  // An R_X86_64_32 whose value does not fit: rewrite an R_X86_64_64 of the
  // stock object into R_X86_64_32 and load above 4 GiB.
  RawElf raw = stock_raw();
  const size_t rela = raw.section_index(".rela.text");
  const Elf64_Shdr sh = raw.shdr(rela);
  bool rewritten = false;
  for (uint64_t k = 0; k < sh.sh_size / sizeof(Elf64_Rela) && !rewritten; ++k) {
    auto r = raw.read<Elf64_Rela>(sh.sh_offset + k * sizeof(Elf64_Rela));
    if (ELF64_R_TYPE(r.r_info) != R_X86_64_64) continue;
    r.r_info = ELF64_R_INFO(ELF64_R_SYM(r.r_info), R_X86_64_32);
    raw.write(sh.sh_offset + k * sizeof(Elf64_Rela), r);
    rewritten = true;
  }
  ASSERT_TRUE(rewritten);
  RelObject object = parse_ok(raw.bytes, "stock-32");
  EXPECT_TRUE(object.load_at(0x7000000).ok());
  auto high = object.load_at(0x140000000);
  ASSERT_FALSE(high.ok());
  EXPECT_NE(high.error().message.find("R_X86_64_32 to"), std::string::npos);
  EXPECT_NE(high.error().message.find("overflows"), std::string::npos);
}

TEST(ElfLoaderErrors, MissingAndMisSizedSymbolAtSetTime) {
  RawElf raw = fixture_raw();
  // Rename limbo_config (first character) so that it is missing.
  const size_t index = raw.global_symbol("limbo_config");
  const Elf64_Shdr strtab = raw.shdr(raw.shdr(raw.symtab_index()).sh_link);
  raw.bytes[strtab.sh_offset + raw.symbol(index).st_name] = 'X';
  RelObject renamed = parse_ok(raw.bytes, "renamed");
  auto image = renamed.load_at(0x100000);
  ASSERT_TRUE(image.ok());
  EXPECT_NE(renamed.data_range(*image, "limbo_config", sizeof(abi::Config)).error().message.find("limbo_config not found"), std::string::npos);

  RawElf sized = fixture_raw();
  const size_t cmdline = sized.global_symbol("cmdline_end");
  Elf64_Sym sym = sized.symbol(cmdline);
  sym.st_size = 4;
  sized.write(sized.symbol_offset(cmdline), sym);
  RelObject mis_sized = parse_ok(sized.bytes, "mis-sized");
  auto image2 = mis_sized.load_at(0x100000);
  ASSERT_TRUE(image2.ok());
  EXPECT_NE(mis_sized.data_range(*image2, "cmdline_end", 8).error().message.find("cmdline_end has size 4, not 8"), std::string::npos);
}

TEST(ElfLoaderErrors, NoSymbolTable) {
  RawElf raw = stock_raw();
  const size_t symtab = raw.symtab_index();
  Elf64_Shdr sh = raw.shdr(symtab);
  sh.sh_type = SHT_PROGBITS;
  raw.write(raw.shdr_offset(symtab), sh);
  EXPECT_NE(parse_error(raw.bytes).find("no symbol table"), std::string::npos);
}

}  // namespace
}  // namespace limbo::test
