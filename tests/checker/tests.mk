# SPDX-License-Identifier: GPL-2.0-only
# The checker's tests (the tool itself is tools/checker/checker.mk, included
# before this file): the fixture objects, one per broken rule, and the
# GoogleTest binary that runs the tool on them.

# ---- Fixtures: tests/checker/fixtures/purgatory.S follows every rule; each
# BREAK_<RULE> define breaks one. The C++ fixtures are built with the
# purgatory's own flags so real GCC prologues are measured, and with
# -fstack-usage (no effect on code) so the tests compare with GCC's figures.
CHECKER_FIXTURE_DIR := $(CHECKER_DIR)/fixtures
CHECKER_BREAKS := SSE X87 AVX DECODE CTORS TLS GATE GATE_CHECKS SIMD_ADDRESS SYSCALL PRIVILEGED RELOC \
  UNDEFINED RECURSION FRAME DYNAMIC_STACK INDIRECT ABI_MISSING ABI_SIZE ABI_BSS ENTRY
CHECKER_FIXTURES := $(CHECKER_FIXTURE_DIR)/clean.ro \
  $(patsubst %,$(CHECKER_FIXTURE_DIR)/break-%.ro,$(CHECKER_BREAKS)) \
  $(CHECKER_FIXTURE_DIR)/break-FRAME_CC.ro \
  $(CHECKER_FIXTURE_DIR)/clean-cc.ro $(CHECKER_FIXTURE_DIR)/break-CC_INDIRECT.ro \
  $(CHECKER_FIXTURE_DIR)/clean-simd.ro $(CHECKER_FIXTURE_DIR)/break-SIMD_PLACE.ro \
  $(CHECKER_FIXTURE_DIR)/instructions.ro

$(CHECKER_FIXTURE_DIR)/clean.o: tests/checker/fixtures/purgatory.S
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@
$(CHECKER_FIXTURE_DIR)/break-%.o: tests/checker/fixtures/purgatory.S
	@mkdir -p $(dir $@)
	$(CC) -c -DBREAK_$* $< -o $@
$(CHECKER_FIXTURE_DIR)/big_frame.o: tests/checker/fixtures/big_frame.cc Makefile tests/checker/tests.mk
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_CXXFLAGS) -fstack-usage -c $< -o $@
$(CHECKER_FIXTURE_DIR)/instructions.o: tests/checker/fixtures/instructions.S
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@
$(CHECKER_FIXTURE_DIR)/with-cc.o: tests/checker/fixtures/purgatory.S
	@mkdir -p $(dir $@)
	$(CC) -c -DWITH_CC $< -o $@
$(CHECKER_FIXTURE_DIR)/annotated.o: tests/checker/fixtures/annotated.cc Makefile tests/checker/tests.mk
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_CXXFLAGS) -fstack-usage -c $< -o $@
$(CHECKER_FIXTURE_DIR)/not-annotated.o: tests/checker/fixtures/annotated.cc Makefile tests/checker/tests.mk
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_CXXFLAGS) -DFIXTURE_NO_ANNOTATION -fstack-usage -c $< -o $@
$(CHECKER_FIXTURE_DIR)/clean-cc.ro: $(CHECKER_FIXTURE_DIR)/with-cc.o $(CHECKER_FIXTURE_DIR)/annotated.o
	ld -r -e purgatory_start -o $@ $^
$(CHECKER_FIXTURE_DIR)/break-CC_INDIRECT.ro: $(CHECKER_FIXTURE_DIR)/with-cc.o $(CHECKER_FIXTURE_DIR)/not-annotated.o
	ld -r -e purgatory_start -o $@ $^
# SHA-NI the way docs/cpu-state.md says to build it: this file only, legacy-SSE encodings.
CHECKER_SIMD_CXXFLAGS := $(subst -mgeneral-regs-only,$(SHA256_NI_FLAGS),$(PURGATORY_CXXFLAGS))
$(CHECKER_FIXTURE_DIR)/simd_gate.o: tests/checker/fixtures/simd_gate.cc Makefile tests/checker/tests.mk
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_CXXFLAGS) -c $< -o $@
$(CHECKER_FIXTURE_DIR)/simd_blocks.o: tests/checker/fixtures/simd_blocks.cc Makefile tests/checker/tests.mk
	@mkdir -p $(dir $@)
	$(CXX) $(CHECKER_SIMD_CXXFLAGS) -c $< -o $@
$(CHECKER_FIXTURE_DIR)/simd_blocks_outside.o: tests/checker/fixtures/simd_blocks.cc Makefile tests/checker/tests.mk
	@mkdir -p $(dir $@)
	$(CXX) $(CHECKER_SIMD_CXXFLAGS) -DFIXTURE_OUTSIDE_SIMD_PLACE -c $< -o $@
$(CHECKER_FIXTURE_DIR)/clean-simd.ro: $(CHECKER_FIXTURE_DIR)/with-cc.o $(CHECKER_FIXTURE_DIR)/simd_gate.o \
    $(CHECKER_FIXTURE_DIR)/simd_blocks.o
	ld -r -e purgatory_start -o $@ $^
$(CHECKER_FIXTURE_DIR)/break-SIMD_PLACE.ro: $(CHECKER_FIXTURE_DIR)/with-cc.o $(CHECKER_FIXTURE_DIR)/simd_gate.o \
    $(CHECKER_FIXTURE_DIR)/simd_blocks_outside.o
	ld -r -e purgatory_start -o $@ $^
# kexec-tools takes the entry from e_entry, as the real purgatory link sets it.
$(CHECKER_FIXTURE_DIR)/break-FRAME_CC.ro: $(CHECKER_FIXTURE_DIR)/break-FRAME_CC.o $(CHECKER_FIXTURE_DIR)/big_frame.o
	ld -r -e purgatory_start -o $@ $^
$(CHECKER_FIXTURE_DIR)/%.ro: $(CHECKER_FIXTURE_DIR)/%.o
	ld -r -e purgatory_start -o $@ $<
.SECONDARY: $(CHECKER_FIXTURES:.ro=.o) $(CHECKER_FIXTURE_DIR)/with-cc.o

# ---- GoogleTest binary --------------------------------------------------
CHECKER_TEST_DEFINES := \
  -DLIMBO_CHECKER_FIXTURES='"$(abspath $(CHECKER_FIXTURE_DIR))"' \
  -DLIMBO_CHECKER_TOOL='"$(abspath $(CHECKER_TOOL))"'

# The test binary is tests/host-binary.mk's; it links the checker's own
# objects (built above) and runs the tool on the fixtures.
$(eval $(call host_test,checker_tests,tests/checker/checker_test.cc,$(CHECKER_CXXFLAGS) $(CHECKER_TEST_DEFINES),\
  $(CHECKER_CORE_OBJS),$(CHECKER_LIBS) $(GTEST_LIBS),$(CHECKER_TOOL) $(CHECKER_FIXTURES)))

