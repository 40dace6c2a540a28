# SPDX-License-Identifier: GPL-2.0-only
# `make bench`: the verification's figures (Google Benchmark; not part of `make test`).
# Limbo's side links the purgatory's own objects (the purgatory's flags); the
# stock side is the SHA-256 of the purgatory embedded in /sbin/kexec, its
# globals but the three sha256_* entry points made local; OpenSSL is the
# reference. -no-pie: the stock object is -mcmodel=large (absolute relocations);
# noexecstack: it carries no .note.GNU-stack.
BENCH_DIR := $(BUILD)/bench
BENCH_KEXEC ?= /sbin/kexec
BENCH_LIMBO_OBJS := $(BUILD)/purgatory/lib/sha256.o $(BUILD)/purgatory/arch/x86_64/sha256_ni.o \
                    $(BUILD)/purgatory/lib/verify/zero_scan.o $(BUILD)/purgatory/lib/verify/segments.o

# The stock purgatory out of a kexec binary, by the plugin's own finder
# (kexec-plugin/elf/embedded_objects.h); also the ELF loader fuzz target's seed.
$(eval $(call host_binary,extract_stock_purgatory,tests/bench/extract_stock_purgatory.cc,$(HOST_CXXFLAGS),\
  $(PLUGIN_CORE_LIB),$(PLUGIN_LIBS)))

$(BENCH_DIR)/stock-sha256.o: $(BUILD)/tests/extract_stock_purgatory $(BENCH_KEXEC)
	@mkdir -p $(dir $@)
	$(BUILD)/tests/extract_stock_purgatory $(BENCH_DIR)/stock-purgatory.ro $(BENCH_KEXEC)
	objcopy --keep-global-symbol=sha256_starts --keep-global-symbol=sha256_update \
	  --keep-global-symbol=sha256_finish $(BENCH_DIR)/stock-purgatory.ro $@

# -I.: the switch model runs the PCIe core on tests/pcie's simulated fabric.
$(eval $(call host_binary,verify_bench,tests/bench/verify_bench.cc,$(HOST_CXXFLAGS) -I.,\
  $(BENCH_LIMBO_OBJS) $(BENCH_DIR)/stock-sha256.o,-no-pie -Wl$(comma)-z$(comma)noexecstack -lbenchmark -lcrypto -pthread))

.PHONY: bench
bench: $(BUILD)/tests/verify_bench
	$< --benchmark_min_time=1
