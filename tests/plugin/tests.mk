# SPDX-License-Identifier: GPL-2.0-only
# Host tests of the plugin (ELF loader, stock segment decoding, placement,
# handler with a fake kexec_load, limbo-kexec arguments and --report, kexec's
# option reading, the lockdown probe, the fallback and the load record),
# built by tests/host-binary.mk over the plugin's own core library. The
# synthetic kexec-tools load hashes with OpenSSL (libcrypto), independently
# of the plugin. A dry run of the real /sbin/kexec with the plugin preloaded
# is the scripted test tests/plugin/dry-run-host.
#
#   $(call plugin_test,NAME,SOURCES,LINK_INPUTS,OTHER_PREREQS)   $(BUILD)/tests/NAME
PLUGIN_TEST_DIR := $(BUILD)/tests/plugin
PLUGIN_CAPTURE_LIB := $(PLUGIN_TEST_DIR)/libcapture-load.so
PLUGIN_TEST_DEFINES := -DLIMBO_TEST_FIXTURE='"$(abspath $(PLUGIN_TEST_DIR))/fake_limbo.o"' \
  -DLIMBO_TEST_FIXTURE_BIG='"$(abspath $(PLUGIN_TEST_DIR))/fake_limbo_big.o"' \
  -DLIMBO_TEST_PURGATORY='"$(abspath $(BUILD))/purgatory.ro"' \
  -DLIMBO_TEST_CAPTURE_LIB='"$(abspath $(PLUGIN_CAPTURE_LIB))"'
PLUGIN_TEST_CXXFLAGS = $(PLUGIN_CXXFLAGS) $(PLUGIN_TEST_DEFINES) -Itests/plugin
plugin_test = $(eval $(call host_test,$(1),$(2),$(PLUGIN_TEST_CXXFLAGS),$(3) $(PLUGIN_CORE_LIB),\
  $(PLUGIN_LIBS) -lcrypto $(GTEST_LIBS),$(4)))

# Fixture objects: a hand-made Limbo-like purgatory (every ABI symbol), small
# enough for the stock slot, and a 64 KiB-padded one that is not.
# C++ only to size the symbols with the ABI header's types (C linkage).
PLUGIN_FIXTURE_CFLAGS := -c -std=c++20 -O2 -ffreestanding -fpie -fvisibility=hidden \
  -fno-zero-initialized-in-bss -fno-asynchronous-unwind-tables -fno-stack-protector \
  -fno-exceptions -fno-rtti -Ipurgatory -MMD -MP
$(PLUGIN_TEST_DIR)/fake_limbo.o: tests/plugin/fixtures/fake_limbo.cc tests/plugin/tests.mk
	@mkdir -p $(dir $@)
	$(CXX) $(PLUGIN_FIXTURE_CFLAGS) $< -o $@
$(PLUGIN_TEST_DIR)/fake_limbo_big.o: tests/plugin/fixtures/fake_limbo.cc tests/plugin/tests.mk
	@mkdir -p $(dir $@)
	$(CXX) $(PLUGIN_FIXTURE_CFLAGS) -DFIXTURE_PAD_BYTES=65536 $< -o $@
-include $(PLUGIN_TEST_DIR)/fake_limbo.d $(PLUGIN_TEST_DIR)/fake_limbo_big.d

# A TEST-ONLY preload that captures the load /sbin/kexec would
# make and never calls the kernel: the allocation sweep replays the real
# Debian load from it, and kexec_options_test runs the real kexec under it
# (RealKexecAgrees). Never sanitized: it is preloaded into the
# distribution's uninstrumented kexec.
$(PLUGIN_CAPTURE_LIB): tests/plugin/capture_load.cc tests/plugin/tests.mk
	@mkdir -p $(dir $@)
	$(CXX) -std=c++20 -O2 -Wall -Wextra -Werror -Itests/plugin -Ikexec-plugin -fPIC -shared -MMD -MP -o $@ $< -ldl
-include $(PLUGIN_CAPTURE_LIB:.so=.d)

$(call plugin_test,plugin_tests,tests/plugin/elf_loader_test.cc tests/plugin/replace_test.cc \
  tests/plugin/handler_test.cc tests/plugin/pcie_test.cc tests/plugin/trust_test.cc \
  tests/plugin/report_test.cc tests/plugin/kexec_options_test.cc tests/plugin/load_state_test.cc,\
  $(CLI_OBJS),$(PLUGIN_TEST_DIR)/fake_limbo.o $(PLUGIN_TEST_DIR)/fake_limbo_big.o $(BUILD)/purgatory.ro \
  $(PLUGIN_CAPTURE_LIB))

# The allocation-failure sweep over the real Debian load, its own
# binary (it replaces the malloc family). Not in the sanitizer build
# (tests/fuzz/fuzz.mk asan-binaries): its malloc would bypass ASan's, and
# ASan owns allocation failure there.
ifeq ($(findstring -fsanitize,$(HOST_CXXFLAGS)),)
$(call plugin_test,plugin_alloc_sweep,tests/plugin/alloc_sweep_test.cc,,$(PLUGIN_CAPTURE_LIB))
endif

# A program that calls syscall() directly, for the preload checks of dry-run-host.
$(PLUGIN_TEST_DIR)/syscall_probe: tests/plugin/syscall_probe.cc tests/plugin/tests.mk
	@mkdir -p $(dir $@)
	$(CXX) $(HOST_CXXFLAGS) -MMD -MP -o $@ $< $(HOST_LDFLAGS)
-include $(PLUGIN_TEST_DIR)/syscall_probe.d
test-binaries: $(PLUGIN_TEST_DIR)/syscall_probe

# limbo-kexec --report's log node (cli/switch_log): a node the
# purgatory's own recorder writes, read from a fake sysfs, in words and JSON.
$(call plugin_test,plugin_switch_log_test,tests/plugin/switch_log_test.cc,$(CLI_OBJS))
