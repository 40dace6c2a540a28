# Host tests of the purgatory core: the production sources of purgatory/lib
# compiled with the host compiler; each test names its sources and fakes.

PURGATORY_TEST_DIR := $(BUILD)/tests
PURGATORY_TEST_CXXFLAGS = $(HOST_CXXFLAGS) -DLIMBO_VERSION='"$(VERSION)"' -Itests/purgatory -MMD -MP
PURGATORY_TEST_DEPS := tests/purgatory/fakes.h tests/purgatory/tests.mk

$(PURGATORY_TEST_DIR)/purgatory_sha256_test: tests/purgatory/sha256_test.cc purgatory/lib/sha256.cc $(PURGATORY_TEST_DEPS)
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_TEST_CXXFLAGS) -o $@ $(filter %.cc,$^) $(HOST_LDFLAGS) -lcrypto $(GTEST_LIBS)

$(PURGATORY_TEST_DIR)/purgatory_report_test: tests/purgatory/report_test.cc purgatory/lib/report.cc $(PURGATORY_TEST_DEPS)
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_TEST_CXXFLAGS) -o $@ $(filter %.cc,$^) $(HOST_LDFLAGS) $(GTEST_LIBS)

$(PURGATORY_TEST_DIR)/purgatory_uart_test: tests/purgatory/uart_test.cc $(PURGATORY_TEST_DEPS)
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_TEST_CXXFLAGS) -o $@ $(filter %.cc,$^) $(HOST_LDFLAGS) $(GTEST_LIBS)

$(PURGATORY_TEST_DIR)/purgatory_console_test: tests/purgatory/console_test.cc $(PURGATORY_TEST_DEPS)
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_TEST_CXXFLAGS) -o $@ $(filter %.cc,$^) $(HOST_LDFLAGS) $(GTEST_LIBS)

# -I. : the PCIe step runs on the pcie core's simulated fabric (tests/pcie/).
$(PURGATORY_TEST_DIR)/purgatory_flow_test: tests/purgatory/flow_test.cc purgatory/lib/sha256.cc purgatory/lib/report.cc $(PURGATORY_TEST_DEPS)
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_TEST_CXXFLAGS) -I. -o $@ $(filter %.cc,$^) $(HOST_LDFLAGS) $(GTEST_LIBS)

# Header-only portable parts of the PCIe phase: paging (the identity page
# tables), clock (delay clock choice, PIT clock), ecam (the config-space backend).
$(PURGATORY_TEST_DIR)/purgatory_paging_test: tests/purgatory/paging_test.cc purgatory/arch/x86_64/paging.h purgatory/arch/x86_64/address_space.h $(PURGATORY_TEST_DEPS)
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_TEST_CXXFLAGS) -o $@ $(filter %.cc,$^) $(HOST_LDFLAGS) $(GTEST_LIBS)

$(PURGATORY_TEST_DIR)/purgatory_clock_test: tests/purgatory/clock_test.cc purgatory/lib/clock.h $(PURGATORY_TEST_DEPS)
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_TEST_CXXFLAGS) -o $@ $(filter %.cc,$^) $(HOST_LDFLAGS) $(GTEST_LIBS)

$(PURGATORY_TEST_DIR)/purgatory_ecam_test: tests/purgatory/ecam_test.cc purgatory/arch/x86_64/ecam.h $(PURGATORY_TEST_DEPS)
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_TEST_CXXFLAGS) -o $@ $(filter %.cc,$^) $(HOST_LDFLAGS) $(GTEST_LIBS)

PURGATORY_TEST_BINS := $(addprefix $(PURGATORY_TEST_DIR)/purgatory_,sha256_test report_test uart_test console_test flow_test paging_test clock_test ecam_test)
TEST_BINS += $(PURGATORY_TEST_BINS)

-include $(addsuffix .d,$(PURGATORY_TEST_BINS))

# Not a test (timings are not pass/fail): `make purgatory-bench`.
$(PURGATORY_TEST_DIR)/purgatory_sha256_bench: tests/purgatory/sha256_bench.cc $(BUILD)/purgatory/lib/sha256.o
	@mkdir -p $(dir $@)
	$(CXX) $(HOST_CXXFLAGS) -o $@ $^ $(HOST_LDFLAGS) -lcrypto

.PHONY: purgatory-bench
purgatory-bench: $(PURGATORY_TEST_DIR)/purgatory_sha256_bench
	$<
