# Host tests of the pcie core (purgatory/lib/pcie) over the simulated fabric,
# and its benchmark (`make pcie-bench`, not part of `make test`).

PCIE_TEST_DIR := $(BUILD)/tests
PCIE_TEST_CXXFLAGS = $(HOST_CXXFLAGS) -I. -MMD -MP

$(PCIE_TEST_DIR)/pcie_test: tests/pcie/pcie_test.cc tests/pcie/tests.mk
	@mkdir -p $(dir $@)
	$(CXX) $(PCIE_TEST_CXXFLAGS) -o $@ $(filter %.cc,$^) $(HOST_LDFLAGS) $(GTEST_LIBS)

TEST_BINS += $(PCIE_TEST_DIR)/pcie_test
-include $(PCIE_TEST_DIR)/pcie_test.d

$(PCIE_TEST_DIR)/pcie_bench: tests/pcie/pcie_bench.cc tests/pcie/tests.mk
	@mkdir -p $(dir $@)
	$(CXX) $(PCIE_TEST_CXXFLAGS) -o $@ $(filter %.cc,$^) $(HOST_LDFLAGS) -lbenchmark -pthread
-include $(PCIE_TEST_DIR)/pcie_bench.d

.PHONY: pcie-bench
pcie-bench: $(PCIE_TEST_DIR)/pcie_bench
	$<
