# SPDX-License-Identifier: GPL-2.0-only
# Fuzzing: libFuzzer targets built with clang, ASan and UBSan, over
# the parsers and walkers that read data Limbo did not produce. Seed corpora
# are in tests/fuzz/seeds/<target>/; tests/fuzz/run-fuzz adds the large seeds
# (build/purgatory.ro, the stock object of /sbin/kexec, generated ones) at run
# time and keeps what the fuzzer finds in $(BUILD)/fuzz/corpus/<target>/.
#
#   make fuzz            each target for FUZZ_SECONDS (default 60)
#   make fuzz-binaries   build them only
# `make test` runs tests/fuzz/run-fuzz --smoke (a few seconds per target).
#
# The sanitizer build of the host tests: `make test-asan` builds
# every GoogleTest binary with GCC's -fsanitize=address,undefined into
# $(BUILD)/asan and runs them; `make test` builds it too and tests/run-all
# runs the binaries listed in $(BUILD)/asan/tests/test-binaries.list.
FUZZ_CXX ?= clang++
FUZZ_SECONDS ?= 60
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# No -Werror: GCC is the project's warning gate; clang may word things differently.
FUZZ_CXXFLAGS := -std=c++20 -O1 -g -Wall -Wextra -Ipurgatory -Ikexec-plugin -I. $(FUZZ_SAN) \
  -DLIMBO_VERSION='"$(VERSION)"' -DLIMBO_PURGATORY_PATH='"$(abspath $(BUILD))/purgatory.ro"' \
  -DLIMBO_PLUGIN_PATH='"$(abspath $(BUILD))/liblimbo-kexec.so"' -MMD -MP
FUZZ_TARGETS := elf_loader stock_decode mcfg iomem config_block pcie_policy pcie_selection log_node

# The plugin's core, instrumented for coverage (fuzzer-no-link).
FUZZ_CORE_SRCS := $(PLUGIN_CORE_SRCS) purgatory/lib/sha256.cc purgatory/lib/verify/segments.cc \
  purgatory/lib/verify/zero_scan.cc purgatory/arch/x86_64/sha256_ni.cc \
  $(PLUGIN_DIR)/cli/report.cc $(PLUGIN_DIR)/cli/switch_log.cc
FUZZ_CORE_OBJS := $(patsubst %.cc,$(FUZZ_DIR)/obj/%.o,$(FUZZ_CORE_SRCS))
FUZZ_CORE_LIB := $(FUZZ_DIR)/libfuzz-core.a

# One object per translation unit, the fuzz targets' own included: each
# has its own dependency file.
$(FUZZ_DIR)/obj/%.o: %.cc tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/obj/purgatory/arch/x86_64/sha256_ni.o: FUZZ_CXXFLAGS += $(SHA256_NI_FLAGS)

$(FUZZ_CORE_LIB): $(FUZZ_CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/obj/tests/fuzz/%.o: FUZZ_CXXFLAGS += -Itests/plugin
$(FUZZ_DIR)/%_fuzz: $(FUZZ_DIR)/obj/tests/fuzz/%_fuzz.o $(FUZZ_CORE_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(FUZZ_CORE_LIB) -lelf -lcrypto

FUZZ_BINS := $(patsubst %,$(FUZZ_DIR)/%_fuzz,$(FUZZ_TARGETS))
.SECONDARY: $(patsubst %,$(FUZZ_DIR)/obj/tests/fuzz/%_fuzz.o,$(FUZZ_TARGETS))

.PHONY: fuzz fuzz-binaries test-asan asan-binaries
fuzz-binaries: $(FUZZ_BINS)

fuzz: $(BUILD)/purgatory.ro $(FUZZ_BINS)
	tests/fuzz/run-fuzz --seconds $(FUZZ_SECONDS) $(BUILD)

# ---- Sanitizer build of the host tests ------------------------------------
ASAN_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
asan-binaries:
	$(MAKE) BUILD=$(BUILD)/asan HOST_CXXFLAGS='$(HOST_CXXFLAGS) $(ASAN_SAN)' \
	  HOST_LDFLAGS='$(HOST_LDFLAGS) $(ASAN_SAN)' test-binaries $(BUILD)/asan/purgatory.ro

test-asan: asan-binaries
	tests/fuzz/run-asan $(BUILD)

-include $(shell find $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)
