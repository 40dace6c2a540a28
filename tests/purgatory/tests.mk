# SPDX-License-Identifier: GPL-2.0-only
# Host tests of the purgatory core: the production sources of purgatory/lib
# compiled with the host compiler; each test names its sources and fakes
# (tests/host-binary.mk builds them, one object per source).
#
#   $(call purgatory_test,NAME,SOURCES,LIBS)   $(BUILD)/tests/purgatory_NAME
# -I. : tests that run the PCIe step use the pcie core's simulated fabric
# (tests/pcie/fabric.h).
PURGATORY_TEST_CXXFLAGS = $(HOST_CXXFLAGS) -DLIMBO_VERSION='"$(VERSION)"' -Itests/purgatory -I.
purgatory_test = $(eval $(call host_test,purgatory_$(1),$(2),$(PURGATORY_TEST_CXXFLAGS),,$(3) $(GTEST_LIBS)))

$(call purgatory_test,sha256_test,tests/purgatory/sha256_test.cc purgatory/lib/sha256.cc,-lcrypto)
$(call purgatory_test,report_test,tests/purgatory/report_test.cc purgatory/lib/report.cc)
$(call purgatory_test,uart_test,tests/purgatory/uart_test.cc)
$(call purgatory_test,console_test,tests/purgatory/console_test.cc)
# The machine-check log on a fake MSR file (header-only).
$(call purgatory_test,mce_test,tests/purgatory/mce_test.cc)
# The flow (lib/flow.h) verifies through lib/verify and reports.
$(call purgatory_test,flow_test,tests/purgatory/flow_test.cc purgatory/lib/sha256.cc purgatory/lib/report.cc \
  purgatory/lib/verify/zero_scan.cc purgatory/lib/verify/segments.cc)
# Header-only portable parts of the PCIe phase: paging (the identity page
# tables), clock (delay clock choice, PIT clock), ecam (the config-space backend).
$(call purgatory_test,paging_test,tests/purgatory/paging_test.cc)
$(call purgatory_test,clock_test,tests/purgatory/clock_test.cc)
$(call purgatory_test,ecam_test,tests/purgatory/ecam_test.cc)

# Not a test (timings are not pass/fail): `make purgatory-bench`. It times
# the purgatory's own object, built with the purgatory's flags.
$(eval $(call host_binary,purgatory_sha256_bench,tests/purgatory/sha256_bench.cc,$(HOST_CXXFLAGS),\
  $(BUILD)/purgatory/lib/sha256.o,-lcrypto))

.PHONY: purgatory-bench
purgatory-bench: $(BUILD)/tests/purgatory_sha256_bench
	$<

# The log node (lib/log.h): stamps, whole-line drops, the link after
# an existing setup_data chain, and the flow's log equal to its console.
$(call purgatory_test,log_test,tests/purgatory/log_test.cc purgatory/lib/sha256.cc purgatory/lib/report.cc \
  purgatory/lib/verify/zero_scan.cc purgatory/lib/verify/segments.cc)
