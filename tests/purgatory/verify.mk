# Host tests of issue 9's verification: both SHA-256 engines (SHA-NI needs
# the host's CPU to have it: the test says so when it cannot run), the zero
# scan, the per-segment diagnosis, the reboot sequence.
VERIFY_SRCS := purgatory/lib/verify/zero_scan.cc purgatory/lib/verify/segments.cc

$(PURGATORY_TEST_DIR)/sha256_ni.host.o: purgatory/arch/x86_64/sha256_ni.cc purgatory/lib/sha256.h
	@mkdir -p $(dir $@)
	$(CXX) $(HOST_CXXFLAGS) $(SHA256_NI_FLAGS) -c $< -o $@

$(PURGATORY_TEST_DIR)/purgatory_sha256_ni_test: tests/purgatory/sha256_ni_test.cc purgatory/lib/sha256.cc \
    $(PURGATORY_TEST_DIR)/sha256_ni.host.o tests/purgatory/verify.mk
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_TEST_CXXFLAGS) -o $@ $(filter %.cc %.o,$^) $(HOST_LDFLAGS) -lcrypto $(GTEST_LIBS)

$(PURGATORY_TEST_DIR)/purgatory_verify_test: tests/purgatory/verify_test.cc purgatory/lib/sha256.cc \
    purgatory/lib/report.cc $(VERIFY_SRCS) $(PURGATORY_TEST_DEPS) tests/purgatory/verify.mk
	@mkdir -p $(dir $@)
	$(CXX) $(PURGATORY_TEST_CXXFLAGS) -o $@ $(filter %.cc,$^) $(HOST_LDFLAGS) $(GTEST_LIBS)

# The flow (lib/flow.h) now verifies through lib/verify: its test links those
# sources too (prerequisites add up across rules; its recipe takes every .cc).
$(PURGATORY_TEST_DIR)/purgatory_flow_test: $(VERIFY_SRCS)

VERIFY_TEST_BINS := $(PURGATORY_TEST_DIR)/purgatory_sha256_ni_test $(PURGATORY_TEST_DIR)/purgatory_verify_test
TEST_BINS += $(VERIFY_TEST_BINS)
-include $(addsuffix .d,$(VERIFY_TEST_BINS))
