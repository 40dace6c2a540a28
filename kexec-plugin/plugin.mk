# SPDX-License-Identifier: GPL-2.0-only
# The preload plugin liblimbo-kexec.so and the limbo-kexec command.
#
#   elf/      the host tools' libelf reader (elf_file, also linked by
#             purgatory-check) and the relocatable-object loader: layout,
#             relocation, symbols
#   kexec/    stock-segment decoding, placement, digest, TSC: pure logic
#   plugin/   the handler and the thin syscall() interposer
#   pcie/     ECAM windows (MCFG, /proc/iomem), root buses, PCIe settings,
#             the sysfs config reader and the plan view over the core's policy
#   cli/      limbo-kexec
#
# LIMBO_PURGATORY_PATH (top Makefile) and LIMBO_PLUGIN_PATH are compiled in;
# `make install` rebuilds limbo-kexec with the installed paths.
LIMBO_PLUGIN_PATH ?= $(abspath $(BUILD))/liblimbo-kexec.so

PLUGIN_DIR := kexec-plugin
PLUGIN_OBJ := $(BUILD)/kexec-plugin
PLUGIN_DEFINES := -DLIMBO_PURGATORY_PATH='"$(LIMBO_PURGATORY_PATH)"' \
                  -DLIMBO_PLUGIN_PATH='"$(LIMBO_PLUGIN_PATH)"' \
                  -DLIMBO_VERSION='"$(VERSION)"'
PLUGIN_CXXFLAGS := $(HOST_CXXFLAGS) -fPIC -fvisibility=hidden $(PLUGIN_DEFINES) -MMD -MP
# libelf reads the objects. SHA-256 is the purgatory's (purgatory/lib/sha256.cc
# and, where CPUID has it, arch/x86_64/sha256_ni.cc; compiled here with -fPIC).
PLUGIN_LIBS := -lelf

# The PCIe part: also linked into limbo-kexec (--plan), so no libelf in it.
PLUGIN_PCIE_SRCS := \
  $(PLUGIN_DIR)/pcie/address.cc \
  $(PLUGIN_DIR)/pcie/ecam.cc \
  $(PLUGIN_DIR)/pcie/plan.cc \
  $(PLUGIN_DIR)/pcie/settings.cc \
  $(PLUGIN_DIR)/pcie/system.cc \
  $(PLUGIN_DIR)/pcie/sysfs_config.cc

# Pure logic shared by the plugin and the host tests.
PLUGIN_CORE_SRCS := \
  $(PLUGIN_DIR)/common/file.cc \
  $(PLUGIN_DIR)/common/result.cc \
  $(PLUGIN_DIR)/elf/elf_file.cc \
  $(PLUGIN_DIR)/elf/rel_object.cc \
  $(PLUGIN_DIR)/kexec/memory_map.cc \
  $(PLUGIN_DIR)/kexec/digest.cc \
  $(PLUGIN_DIR)/kexec/segment_checks.cc \
  $(PLUGIN_DIR)/kexec/sha256_engine.cc \
  $(PLUGIN_DIR)/kexec/stock_finder.cc \
  $(PLUGIN_DIR)/kexec/replace.cc \
  $(PLUGIN_DIR)/kexec/tsc.cc \
  $(PLUGIN_DIR)/plugin/handler.cc \
  $(PLUGIN_DIR)/plugin/resources.cc \
  $(PLUGIN_DIR)/plugin/trust.cc \
  $(PLUGIN_DIR)/plugin/load_state.cc \
  $(PLUGIN_PCIE_SRCS)
PLUGIN_CORE_OBJS := $(PLUGIN_CORE_SRCS:$(PLUGIN_DIR)/%.cc=$(PLUGIN_OBJ)/%.o) $(PLUGIN_OBJ)/purgatory-lib/sha256.o \
                    $(PLUGIN_OBJ)/purgatory-arch/sha256_ni.o
PLUGIN_CORE_LIB := $(PLUGIN_OBJ)/libplugin-core.a

CLI_SRCS := $(PLUGIN_DIR)/cli/arguments.cc $(PLUGIN_DIR)/cli/report.cc $(PLUGIN_DIR)/cli/switch_log.cc
# kexec-tools' own option reading; the lockdown probe and the load record.
CLI_SRCS += $(PLUGIN_DIR)/cli/kexec_options.cc
CLI_OBJS := $(CLI_SRCS:$(PLUGIN_DIR)/%.cc=$(PLUGIN_OBJ)/%.o)

$(PLUGIN_OBJ)/%.o: $(PLUGIN_DIR)/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(PLUGIN_CXXFLAGS) -c $< -o $@

$(PLUGIN_OBJ)/purgatory-lib/%.o: purgatory/lib/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(PLUGIN_CXXFLAGS) -c $< -o $@

# The purgatory's SHA-NI engine for the plugin's own hashing, chosen at run
# time by kexec/sha256_engine.cc (CPUID, as the purgatory's gate does);
# SHA256_NI_FLAGS: purgatory/purgatory.mk.
$(PLUGIN_OBJ)/purgatory-arch/sha256_ni.o: purgatory/arch/x86_64/sha256_ni.cc
	@mkdir -p $(dir $@)
	$(CXX) $(PLUGIN_CXXFLAGS) $(SHA256_NI_FLAGS) -c $< -o $@

$(PLUGIN_CORE_LIB): $(PLUGIN_CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

# The C++ runtime is linked in (kept local by exports.map): the guest and any
# system need only libelf (and its libz) besides libc for the preload.
$(BUILD)/liblimbo-kexec.so: $(PLUGIN_OBJ)/plugin/interpose.o $(PLUGIN_CORE_LIB) $(PLUGIN_DIR)/plugin/exports.map
	$(CXX) -shared -Wl,-z,defs -Wl,--as-needed -static-libstdc++ -static-libgcc \
	  -Wl,--version-script=$(PLUGIN_DIR)/plugin/exports.map $(HOST_LDFLAGS) \
	  -o $@ $(PLUGIN_OBJ)/plugin/interpose.o $(PLUGIN_CORE_LIB) $(PLUGIN_LIBS)

# From the core library only what --plan and the option parsing use (pcie/,
# the iomem parser, Result): the archive brings in no libelf code.
$(BUILD)/limbo-kexec: $(PLUGIN_OBJ)/cli/main.o $(CLI_OBJS) $(PLUGIN_CORE_LIB)
	$(CXX) $(HOST_LDFLAGS) -o $@ $(PLUGIN_OBJ)/cli/main.o $(CLI_OBJS) $(PLUGIN_CORE_LIB)

-include $(wildcard $(PLUGIN_OBJ)/*/*.d)
