# Host tests of the plugin (ELF loader, stock segment decoding, placement,
# handler with a fake kexec_load, limbo-kexec arguments). The synthetic
# kexec-tools load hashes with OpenSSL (libcrypto), independently of the plugin. and a dry run of the
# real /sbin/kexec with the plugin preloaded (tests/plugin/dry-run-host).
PLUGIN_TEST_DIR := $(BUILD)/tests/plugin
PLUGIN_TEST_BIN := $(BUILD)/tests/plugin_tests
PLUGIN_TEST_SRCS := tests/plugin/elf_loader_test.cc tests/plugin/replace_test.cc tests/plugin/handler_test.cc \
  tests/plugin/pcie_test.cc tests/plugin/trust_test.cc
# limbo-kexec --report (issue 7).
PLUGIN_TEST_SRCS += tests/plugin/report_test.cc
# Issue 13: kexec's option reading, the lockdown probe, the fallback and the load record.
PLUGIN_TEST_SRCS += tests/plugin/kexec_options_test.cc tests/plugin/load_state_test.cc
PLUGIN_TEST_OBJS := $(PLUGIN_TEST_SRCS:tests/plugin/%.cc=$(PLUGIN_TEST_DIR)/%.o)

# Fixture objects: a hand-made Limbo-like purgatory (every ABI symbol), small
# enough for the stock slot, and a 64 KiB-padded one that is not.
# C++ only to size the symbols with the ABI header's types (C linkage).
PLUGIN_FIXTURE_CFLAGS := -c -std=c++20 -O2 -ffreestanding -fpie -fvisibility=hidden \
  -fno-zero-initialized-in-bss -fno-asynchronous-unwind-tables -fno-stack-protector \
  -fno-exceptions -fno-rtti -Ipurgatory
$(PLUGIN_TEST_DIR)/fake_limbo.o: tests/plugin/fixtures/fake_limbo.cc purgatory/abi/limbo_abi.h
	@mkdir -p $(dir $@)
	$(CXX) $(PLUGIN_FIXTURE_CFLAGS) $< -o $@
$(PLUGIN_TEST_DIR)/fake_limbo_big.o: tests/plugin/fixtures/fake_limbo.cc purgatory/abi/limbo_abi.h
	@mkdir -p $(dir $@)
	$(CXX) $(PLUGIN_FIXTURE_CFLAGS) -DFIXTURE_PAD_BYTES=65536 $< -o $@

PLUGIN_TEST_DEFINES := -DLIMBO_TEST_FIXTURE='"$(abspath $(PLUGIN_TEST_DIR))/fake_limbo.o"' \
  -DLIMBO_TEST_FIXTURE_BIG='"$(abspath $(PLUGIN_TEST_DIR))/fake_limbo_big.o"' \
  -DLIMBO_TEST_PURGATORY='"$(abspath $(BUILD))/purgatory.ro"'

$(PLUGIN_TEST_DIR)/%.o: tests/plugin/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(PLUGIN_CXXFLAGS) $(PLUGIN_TEST_DEFINES) -Itests/plugin -c $< -o $@

$(PLUGIN_TEST_BIN): $(PLUGIN_TEST_OBJS) $(PLUGIN_CORE_LIB) $(CLI_OBJS) \
    $(PLUGIN_TEST_DIR)/fake_limbo.o $(PLUGIN_TEST_DIR)/fake_limbo_big.o
	$(CXX) $(HOST_LDFLAGS) -o $@ $(PLUGIN_TEST_OBJS) $(PLUGIN_CORE_LIB) $(CLI_OBJS) $(PLUGIN_LIBS) -lcrypto $(GTEST_LIBS)

# A program that calls syscall() directly, for the preload checks of dry-run-host.
$(PLUGIN_TEST_DIR)/syscall_probe: tests/plugin/syscall_probe.cc
	@mkdir -p $(dir $@)
	$(CXX) $(HOST_CXXFLAGS) -o $@ $< $(HOST_LDFLAGS)

TEST_BINS += $(PLUGIN_TEST_BIN)
test-binaries: $(PLUGIN_TEST_DIR)/syscall_probe

-include $(wildcard $(PLUGIN_TEST_DIR)/*.d)

# Issue 13: the allocation-failure sweep over the real Debian load. Its own
# binary (it replaces the malloc family); the load is captured from
# /sbin/kexec by a TEST-ONLY preload that never calls the kernel.
PLUGIN_SWEEP_BIN := $(BUILD)/tests/plugin_alloc_sweep
PLUGIN_CAPTURE_LIB := $(PLUGIN_TEST_DIR)/libcapture-load.so
PLUGIN_TEST_DEFINES += -DLIMBO_TEST_CAPTURE_LIB='"$(abspath $(PLUGIN_CAPTURE_LIB))"'
# Never sanitized: it is preloaded into the distribution's uninstrumented kexec.
$(PLUGIN_CAPTURE_LIB): tests/plugin/capture_load.cc tests/plugin/capture_format.h
	@mkdir -p $(dir $@)
	$(CXX) -std=c++20 -O2 -Wall -Wextra -Werror -Itests/plugin -fPIC -shared -o $@ $< -ldl
$(PLUGIN_SWEEP_BIN): $(PLUGIN_TEST_DIR)/alloc_sweep_test.o $(PLUGIN_CORE_LIB) $(PLUGIN_CAPTURE_LIB)
	$(CXX) $(HOST_LDFLAGS) -o $@ $(PLUGIN_TEST_DIR)/alloc_sweep_test.o $(PLUGIN_CORE_LIB) $(PLUGIN_LIBS) $(GTEST_LIBS)
# Not in the sanitizer build (tests/fuzz/fuzz.mk asan-binaries): its own
# malloc would bypass ASan's, and ASan owns allocation failure there.
ifeq ($(findstring -fsanitize,$(HOST_CXXFLAGS)),)
TEST_BINS += $(PLUGIN_SWEEP_BIN)
endif
# kexec_options_test runs the real kexec under the same preload (RealKexecAgrees).
$(PLUGIN_TEST_BIN): $(PLUGIN_CAPTURE_LIB)
