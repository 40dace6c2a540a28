# SPDX-License-Identifier: GPL-2.0-only
# The purgatory: build/purgatory.ro (ld -r, for kexec-tools' loader) and
# build/purgatory-check.elf (fully linked, only to fail on unresolved symbols).
# Flags: $(PURGATORY_CXXFLAGS) from the top Makefile, nothing else for C++.

PURGATORY_VERSION_DEFINE := -DLIMBO_VERSION='"$(VERSION)"'

PURGATORY_CC_SRCS := \
  purgatory/variables.cc \
  purgatory/lib/sha256.cc \
  purgatory/lib/report.cc \
  purgatory/lib/verify/zero_scan.cc \
  purgatory/lib/verify/segments.cc \
  purgatory/arch/x86_64/main.cc \
  purgatory/arch/x86_64/address_space.cc \
  purgatory/arch/x86_64/simd_gate.cc \
  purgatory/arch/x86_64/sha256_ni.cc \
  purgatory/arch/x86_64/string.cc
PURGATORY_ASM_SRCS := purgatory/arch/x86_64/entry.S

PURGATORY_OBJS := \
  $(patsubst purgatory/%.S,$(BUILD)/purgatory/%.o,$(PURGATORY_ASM_SRCS)) \
  $(patsubst purgatory/%.cc,$(BUILD)/purgatory/%.o,$(PURGATORY_CC_SRCS))

# Both linker scripts come from one template (see linker-scripts/purgatory.lds.S).
$(BUILD)/purgatory/purgatory.ld: linker-scripts/purgatory.lds.S
	@mkdir -p $(dir $@)
	$(CC) -E -P -x c -DLIMBO_RELOCATABLE $< -o $@
$(BUILD)/purgatory/purgatory-check.ld: linker-scripts/purgatory.lds.S
	@mkdir -p $(dir $@)
	$(CC) -E -P -x c $< -o $@

$(BUILD)/purgatory/%.o: purgatory/%.cc purgatory/purgatory.mk Makefile
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_CXXFLAGS) $(PURGATORY_VERSION_DEFINE) -MMD -MP -c $< -o $@

# The SIMD place: the one file whose code uses SSE (SHA-NI), reached only
# through simd_gate_sha256 after CPUID and CR4.OSFXSR. Legacy SSE encodings
# (-msha -mssse3 -msse4.1, no AVX): VEX would need XCR0 set up too. The
# linker script keeps its code in its own section, .text.simd.
# The SIMD place's instruction sets, wherever sha256_ni.cc is compiled (here,
# the plugin, the host tests, the checker's fixture).
SHA256_NI_FLAGS := -msha -mssse3 -msse4.1
PURGATORY_SIMD_CXXFLAGS := $(subst -mgeneral-regs-only,$(SHA256_NI_FLAGS),$(PURGATORY_CXXFLAGS))
$(BUILD)/purgatory/arch/x86_64/sha256_ni.o: purgatory/arch/x86_64/sha256_ni.cc purgatory/purgatory.mk Makefile
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_SIMD_CXXFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/purgatory/%.o: purgatory/%.S purgatory/purgatory.mk
	@mkdir -p $(dir $@)
	$(CC) -x assembler-with-cpp -Ipurgatory -MMD -MP -c $< -o $@

$(BUILD)/purgatory-check.elf: $(PURGATORY_OBJS) $(BUILD)/purgatory/purgatory-check.ld
	ld -static -nostdlib --no-undefined --no-dynamic-linker -z noexecstack --no-warn-rwx-segments \
	  -T $(BUILD)/purgatory/purgatory-check.ld -o $@ $(PURGATORY_OBJS)
	@if readelf -d $@ | grep -q 'Dynamic section'; then \
	  echo "purgatory: the check build has a dynamic section" >&2; rm -f $@; exit 1; fi

# --force-group-allocation: place COMDAT group members (template and inline
# variable instances) into the merged sections like any input section, so the
# object has four allocated sections and no .group.
$(BUILD)/purgatory.ro: $(PURGATORY_OBJS) $(BUILD)/purgatory/purgatory.ld $(BUILD)/purgatory-check.elf \
                      linker-scripts/check-relocs
	ld -r --force-group-allocation -T $(BUILD)/purgatory/purgatory.ld -o $@.tmp $(PURGATORY_OBJS)
	linker-scripts/check-relocs $@.tmp || { rm -f $@.tmp; exit 1; }
	mv $@.tmp $@

# TEST-ONLY: `make build/test-fault/purgatory.ro` (or `make
# purgatory-test-fault`): the same purgatory with main.cc built with
# LIMBO_TEST_FAULT, which executes ud2 where the capture kernel's command
# line asks: limbo.test_fault=verify (verification starting) or
# limbo.test_fault=pcie (every port in Secondary Bus Reset) or
# limbo.test_fault=handler (verification starting, then inside the fault
# handler); qemu scenarios `fault`, `fault-verify`, `fault-verify-halt`,
# `fault-handler`. Never part of `all`, install
# or the checker's run on build/purgatory.ro.
PURGATORY_FAULT_MAIN := $(BUILD)/test-fault/main.o
PURGATORY_FAULT_OBJS := $(filter-out $(BUILD)/purgatory/arch/x86_64/main.o,$(PURGATORY_OBJS)) $(PURGATORY_FAULT_MAIN)
$(PURGATORY_FAULT_MAIN): purgatory/arch/x86_64/main.cc purgatory/purgatory.mk Makefile
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_CXXFLAGS) $(PURGATORY_VERSION_DEFINE) -DLIMBO_TEST_FAULT -MMD -MP -c $< -o $@
$(BUILD)/test-fault/purgatory.ro: $(PURGATORY_FAULT_OBJS) $(BUILD)/purgatory/purgatory.ld linker-scripts/check-relocs
	ld -r --force-group-allocation -T $(BUILD)/purgatory/purgatory.ld -o $@.tmp $(PURGATORY_FAULT_OBJS)
	linker-scripts/check-relocs $@.tmp || { rm -f $@.tmp; exit 1; }
	mv $@.tmp $@
.PHONY: purgatory-test-fault
purgatory-test-fault: $(BUILD)/test-fault/purgatory.ro
-include $(PURGATORY_FAULT_MAIN:.o=.d)

-include $(PURGATORY_OBJS:.o=.d)

# For tests/purgatory/linker-rules-test: the flag set, printed.
.PHONY: purgatory-print-cxxflags
purgatory-print-cxxflags:
	@echo $(PURGATORY_CXXFLAGS)
