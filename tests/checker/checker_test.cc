// SPDX-License-Identifier: GPL-2.0-only
// Tests of purgatory-check: the clean fixture passes; each fixture that breaks
// one rule is caught by that rule with the right message and place; the
// command's exit status; the stock purgatory inside /sbin/kexec is checked
// and its findings printed.
#include <cxxabi.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "elf_object.h"
#include "purgatory_check.h"

namespace limbo::check {
namespace {

const std::string kFixtures = LIMBO_CHECKER_FIXTURES;

Report check_fixture(const std::string& name) {
  LoadResult loaded = load_file(kFixtures + "/" + name + ".ro");
  EXPECT_TRUE(loaded.object.has_value()) << loaded.error;
  if (!loaded.object) return {};
  return check_object(*loaded.object);
}

std::string all_lines(const Report& report) {
  std::string text;
  for (const Finding& finding : report.findings) text += finding.line() + "\n";
  return text;
}

// The findings of one rule.
std::vector<Finding> of_rule(const Report& report, const std::string& rule) {
  std::vector<Finding> out;
  std::copy_if(report.findings.begin(), report.findings.end(), std::back_inserter(out),
               [&](const Finding& f) { return f.rule == rule; });
  return out;
}

TEST(PurgatoryCheck, CleanFixturePasses) {
  Report report = check_fixture("clean");
  EXPECT_TRUE(report.findings.empty()) << all_lines(report);
  const Summary& s = report.summary;
  EXPECT_EQ(s.stack_size, 4096u);
  // purgatory_start calls fixture_main (+8), which pushes 2 registers and
  // reserves 40 bytes (+56) then calls run_step (+8), which pushes r12 (+8)
  // and calls step_two indirectly (+8), whose frame is rbp (+8) and 64 bytes.
  EXPECT_EQ(s.entry_depth, 8u + 56 + 8 + 8 + 8 + 8 + 64);
  // stub (2 pushes) -> common (2 pushes, and rsp -16: 8 more, call +8) -> 32.
  EXPECT_EQ(s.handler_depth, 16u + 32 + 32);
  EXPECT_EQ(s.exception_handlers, 2u);
  // Three handlers deep at most: a fault in a handler, and one in that.
  EXPECT_EQ(s.stack_required, s.entry_depth + 3 * (kExceptionFrameBytes + s.handler_depth) + kStackMarginBytes);
  EXPECT_NE(s.worst_path.find("purgatory_start (8) -> fixture_main (64) -> run_step (16) -> step_two (72)"),
            std::string::npos)
      << s.worst_path;
  // The SIMD place holds the only SSE/SHA instructions; none elsewhere.
  EXPECT_EQ(s.by_class[static_cast<size_t>(InstructionClass::kSha)], 1u);
  EXPECT_EQ(s.by_class[static_cast<size_t>(InstructionClass::kSse)], 2u);
  EXPECT_EQ(s.by_class[static_cast<size_t>(InstructionClass::kPortIo)], 1u);
  EXPECT_EQ(s.bss_bytes, 4096u);
  EXPECT_GT(s.text_bytes, 0u);
  // kexec-tools' layout: contents (text, data) padded to the bss alignment
  // (4096), then the 4096-byte stack.
  EXPECT_EQ(s.segment_bytes, 8192u);
}

struct BrokenRule {
  const char* fixture;
  const char* rule;
  const char* where;     // the function (or symbol) named in the finding
  const char* text;      // part of the instruction or message
};

class BrokenFixture : public testing::TestWithParam<BrokenRule> {};

TEST_P(BrokenFixture, CaughtByItsRule) {
  const BrokenRule& broken = GetParam();
  Report report = check_fixture(broken.fixture);
  std::vector<Finding> findings = of_rule(report, broken.rule);
  ASSERT_FALSE(findings.empty()) << "no '" << broken.rule << "' finding; all:\n" << all_lines(report);
  bool matched = std::any_of(findings.begin(), findings.end(), [&](const Finding& f) {
    return f.where.rfind(broken.where, 0) == 0 && f.line().find(broken.text) != std::string::npos;
  });
  EXPECT_TRUE(matched) << "expected " << broken.rule << " at " << broken.where << " mentioning '" << broken.text
                       << "'; got:\n"
                       << all_lines(report);
  // Only the broken rule fires (GOTPCRELX also leaves _GLOBAL_OFFSET_TABLE_
  // undefined, an "object" finding; an undefined call also stops the stack walk).
  for (const Finding& f : report.findings) {
    bool companion = (std::string(broken.fixture) == "break-RELOC" && f.rule == "object") ||
                     (std::string(broken.fixture) == "break-UNDEFINED" && (f.rule == "object" || f.rule == "stack"));
    EXPECT_TRUE(f.rule == broken.rule || companion) << "unexpected finding: " << f.line();
  }
}

INSTANTIATE_TEST_SUITE_P(
    OneRuleEach, BrokenFixture,
    testing::Values(
        BrokenRule{"break-SSE", "simd", "fixture_main+0x",
                   "movaps [rsp], xmm0: sse instruction outside the SIMD place (#UD: CR4.OSFXSR is clear"},
        BrokenRule{"break-X87", "simd", "fixture_main+0x", "fld1: x87 instruction outside the SIMD place"},
        BrokenRule{"break-AVX", "simd", "fixture_main+0x", "vpxor ymm0, ymm0, ymm0: avx instruction outside the SIMD place"},
        BrokenRule{"break-DECODE", "decode", "fixture_main+0x", "(06): 1 byte(s) do not decode"},
        BrokenRule{"break-CTORS", "object", ".init_array", "static constructor/destructor table"},
        BrokenRule{"break-TLS", "object", ".tbss", "thread-local storage section"},
        BrokenRule{"break-GATE", "simd-gate", "fixture_main+0x",
                   "enters the SIMD place without going through a simd_gate function"},
        BrokenRule{"break-GATE_CHECKS", "simd-gate", "simd_gate_sha256", "does not execute cpuid or write CR4"},
        BrokenRule{"break-SIMD_ADDRESS", "simd-gate", "fixture_main+0x",
                   "takes the address of SIMD-place code outside a simd_gate function"},
        BrokenRule{"break-SYSCALL", "forbidden", "fixture_main+0x", "syscall: system call instruction"},
        BrokenRule{"break-PRIVILEGED", "privileged", "fixture_main+0x", "mov rax, dr7: privileged instruction"},
        BrokenRule{"break-RELOC", "reloc", "fixture_main+0x",
                   "R_X86_64_REX_GOTPCRELX some_table-0x4: relocation type the kexec-tools x86_64 loader cannot apply"},
        BrokenRule{"break-UNDEFINED", "reloc", "fixture_main+0x", "not_defined_anywhere-0x4: against an undefined symbol"},
        BrokenRule{"break-RECURSION", "stack", "recurse_a", "recursion: recurse_a -> recurse_b -> recurse_a"},
        BrokenRule{"break-FRAME", "stack", "purgatory_start",
                   "exceeds the 4096-byte stack; path: purgatory_start (8) -> fixture_main (64) -> huge_frame (8192)"},
        BrokenRule{"break-FRAME_CC", "stack", "purgatory_start", "-> fixture_big_frame ("},
        BrokenRule{"break-DYNAMIC_STACK", "stack", "fixture_main+0x", "sub rsp, rcx: rsp adjusted by a run-time amount"},
        BrokenRule{"break-INDIRECT", "stack", "run_step+0x9", "call rax: indirect call without annotated targets"},
        BrokenRule{"break-SIMD_PLACE", "simd", "fixture_compress_sha_ni+0x",
                   "sha256rnds2 xmm2, xmm1: sha instruction outside the SIMD place"},
        BrokenRule{"break-CC_INDIRECT", "stack", "fixture_cc_dispatch+0x",
                   "indirect call without annotated targets (.limbo.calltargets); address-taken functions: "
                   "fixture::add_one"},
        BrokenRule{"break-ABI_MISSING", "abi", "legacy_pic", "missing"},
        BrokenRule{"break-ABI_SIZE", "abi", "serial_base", "size 4, the loader expects 2"},
        BrokenRule{"break-ABI_BSS", "abi", "panic_kernel", "in .bss (NOBITS)"},
        BrokenRule{"break-ENTRY", "object", "purgatory_start", "makes kexec-tools enter at .text+0x0"}),
    [](const testing::TestParamInfo<BrokenRule>& info) {
      std::string name = std::string(info.param.fixture).substr(6);  // drop "break-"
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

// The allow-list both ways: nothing in allowed_instructions is reported;
// each instruction of forbidden_instructions is, by the right rule.
TEST(PurgatoryCheck, InstructionAllowList) {
  Report report = check_fixture("instructions");
  std::vector<std::string> reported;
  for (const Finding& f : report.findings) {
    if (f.rule != "forbidden" && f.rule != "privileged" && f.rule != "simd" && f.rule != "decode") continue;
    EXPECT_NE(f.where.rfind("forbidden_instructions+0x", 0), std::string::npos) << f.line();
    reported.push_back(f.rule + " " + f.instruction);
  }
  std::vector<std::string> expected = {
      "forbidden syscall",     "forbidden sysenter",  "forbidden int 0x80",        "forbidden int3",
      "forbidden ud2",         "forbidden sti",       "forbidden xgetbv",          "forbidden rdfsbase rax",
      "forbidden invd",        "forbidden vmcall",    "privileged ltr ax",         "privileged lldt ax",
      "privileged mov cr8, rax", "privileged mov dr7, rax", "privileged swapgs",   "privileged clts"};
  EXPECT_EQ(reported, expected);
}

// The documented C++ annotation, compiled with the purgatory's flags, makes
// the indirect call's targets part of the call graph.
TEST(PurgatoryCheck, AnnotatedIndirectCallInCxxIsFollowed) {
  Report report = check_fixture("clean-cc");
  EXPECT_TRUE(report.findings.empty()) << all_lines(report);
  EXPECT_NE(report.summary.worst_path.find("-> fixture_cc_dispatch ("), std::string::npos) << report.summary.worst_path;
  EXPECT_NE(report.summary.worst_path.find("-> fixture::scrub ("), std::string::npos) << report.summary.worst_path;
  // scrub's 40 volatile words lie below its entry: the path is at least that deep.
  EXPECT_GE(report.summary.entry_depth, 8u + 64 + 8 + 320);
}

// SHA-NI compiled as docs/cpu-state.md says (its own file, -msha -mssse3 -msse4.1) in
// `.text.simd`, reached through a gate that runs cpuid and sets CR4 before it
// hands out the engine's address, called through an annotated pointer: clean.
TEST(PurgatoryCheck, ShaNiBehindItsGatePasses) {
  Report report = check_fixture("clean-simd");
  EXPECT_TRUE(report.findings.empty()) << all_lines(report);
  EXPECT_GE(report.summary.by_class[static_cast<size_t>(InstructionClass::kSha)], 2u);
  EXPECT_GE(report.summary.by_class[static_cast<size_t>(InstructionClass::kSse)], 2u);
}

TEST(PurgatoryCheck, CompiledFrameIsMeasuredFromItsPrologue) {
  Report report = check_fixture("break-FRAME_CC");
  // The 6000-byte buffer, as GCC lays out the frame with the purgatory flags.
  EXPECT_GE(report.summary.entry_depth, 6000u);
  EXPECT_LT(report.summary.entry_depth, 6000u + 256);
  EXPECT_NE(report.summary.worst_path.find("fixture_big_frame"), std::string::npos) << report.summary.worst_path;
}

// "uint64_t fixture::scrub(uint64_t)" -> "fixture::scrub": the name without
// return type or parameters, as both GCC's .su files and the demangler say it.
std::string base_name(const std::string& pretty) {
  int angle = 0;
  size_t begin = 0;
  for (size_t i = 0; i < pretty.size(); ++i) {
    if (pretty[i] == '<') ++angle;
    if (pretty[i] == '>') --angle;
    if (pretty[i] == ' ' && angle == 0) begin = i + 1;
    if (pretty[i] == '(' && angle == 0) return pretty.substr(begin, i - begin);
  }
  return pretty.substr(begin);
}

std::string demangled(const std::string& symbol) {
  int status = 0;
  char* text = ::abi::__cxa_demangle(symbol.c_str(), nullptr, nullptr, &status);
  std::string out = (status == 0 && text != nullptr) ? text : symbol;
  std::free(text);
  return out;
}

// The frames the checker reads from GCC's prologues equal GCC's own
// -fstack-usage figures (which count the return address) for every function
// of the C++ fixtures, compiled with the purgatory's flags.
TEST(PurgatoryCheck, FramesMatchGccStackUsage) {
  std::vector<Frame> frames = check_fixture("clean-cc").frames;
  std::vector<Frame> big = check_fixture("break-FRAME_CC").frames;
  frames.insert(frames.end(), big.begin(), big.end());
  int compared = 0;
  for (const char* su : {"annotated.su", "big_frame.su"}) {
    std::ifstream in(kFixtures + "/" + su);
    ASSERT_TRUE(in) << "missing " << su << " (built with -fstack-usage)";
    std::string line;
    while (std::getline(in, line)) {
      // file:line:column:signature <TAB> bytes <TAB> static|dynamic|bounded
      size_t tab = line.find('\t');
      ASSERT_NE(tab, std::string::npos) << line;
      std::string signature = line.substr(0, tab);
      for (int colons = 0; colons < 3; ++colons) signature = signature.substr(signature.find(':') + 1);
      uint64_t bytes = std::stoull(line.substr(tab + 1));
      EXPECT_NE(line.find("\tstatic"), std::string::npos) << line;
      std::string name = base_name(signature);
      auto frame = std::find_if(frames.begin(), frames.end(),
                                [&](const Frame& f) { return base_name(demangled(f.symbol)) == name; });
      ASSERT_NE(frame, frames.end()) << "no function " << name << " in the checked object";
      EXPECT_EQ(frame->depth + 8, bytes) << name;
      ++compared;
    }
  }
  EXPECT_GE(compared, 5);  // fixture_big_frame, fixture_consume, dispatch, add_one, scrub
}

int run_tool(const std::string& argument) {
  std::string command = std::string(LIMBO_CHECKER_TOOL) + " " + argument + " >/dev/null 2>&1";
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(PurgatoryCheckCommand, ExitStatusIsCleanFindingsOrUnreadable) {
  EXPECT_EQ(run_tool(kFixtures + "/clean.ro"), 0);
  EXPECT_EQ(run_tool(kFixtures + "/break-SYSCALL.ro"), 1);
  EXPECT_EQ(run_tool(kFixtures + "/does-not-exist.ro"), 2);
  EXPECT_EQ(run_tool(kFixtures), 2);  // a directory
  EXPECT_EQ(run_tool(""), 2);  // usage
}

TEST(PurgatoryCheckCommand, NotElfIsUnreadable) {
  std::string path = testing::TempDir() + "/not-elf.ro";
  FILE* file = std::fopen(path.c_str(), "w");
  ASSERT_NE(file, nullptr);
  std::fputs("not an object\n", file);
  std::fclose(file);
  EXPECT_EQ(run_tool(path), 2);
}

// The stock purgatory as the distribution ships it, inside /sbin/kexec: it
// is not required to pass the SIMD or stack rules; its findings are printed.
TEST(StockPurgatory, CheckedAndFindingsPrinted) {
  LoadResult loaded = load_file("/sbin/kexec");
  ASSERT_TRUE(loaded.object.has_value()) << loaded.error;
  Report report = check_object(*loaded.object);
  std::printf("stock purgatory (%s):\n%s", loaded.note.c_str(), format_report(report).c_str());
  // Loader rules hold for the object kexec-tools itself loads...
  EXPECT_TRUE(of_rule(report, "reloc").empty()) << all_lines(report);
  // ...except Limbo's own block, which the stock object does not have.
  std::vector<Finding> abi = of_rule(report, "abi");
  ASSERT_EQ(abi.size(), 1u) << all_lines(report);
  EXPECT_EQ(abi[0].where, "limbo_config");
  // The SSE register saves GCC puts in its varargs prologues (docs/cpu-state.md).
  std::vector<Finding> simd = of_rule(report, "simd");
  EXPECT_TRUE(std::any_of(simd.begin(), simd.end(), [](const Finding& f) {
    return f.where.rfind("sprintf+0x", 0) == 0 && f.instruction.find("movaps") == 0;
  })) << all_lines(report);
  EXPECT_EQ(report.summary.stack_size, 4096u);  // stack..stack_end in its .data
  EXPECT_GT(report.summary.entry_depth, 0u);
}

}  // namespace
}  // namespace limbo::check
