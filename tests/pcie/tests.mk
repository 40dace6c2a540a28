# SPDX-License-Identifier: GPL-2.0-only
# Host tests of the pcie core (purgatory/lib/pcie) over the simulated fabric,
# and its benchmark (`make pcie-bench`, not part of `make test`).
PCIE_TEST_CXXFLAGS = $(HOST_CXXFLAGS) -I.

$(eval $(call host_test,pcie_test,tests/pcie/pcie_test.cc,$(PCIE_TEST_CXXFLAGS),,$(GTEST_LIBS)))
$(eval $(call host_binary,pcie_bench,tests/pcie/pcie_bench.cc,$(PCIE_TEST_CXXFLAGS),,-lbenchmark -pthread))

.PHONY: pcie-bench
pcie-bench: $(BUILD)/tests/pcie_bench
	$<
