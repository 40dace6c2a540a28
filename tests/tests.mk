# SPDX-License-Identifier: GPL-2.0-only
# Host tests: GoogleTest binaries built from the production sources, one
# object per translation unit (tests/host-binary.mk). Each part's fragment
# adds its binaries to TEST_BINS.
GTEST_LIBS := -lgtest -lgtest_main -pthread
TEST_BINS :=
comma := ,

include tests/host-binary.mk
include tests/purgatory/tests.mk
include tests/purgatory/verify.mk
include tests/plugin/tests.mk
include tests/plugin/verify.mk
include tests/bench/bench.mk
include tests/checker/tests.mk
include tests/pcie/tests.mk

.PHONY: test-binaries
test-binaries: $(TEST_BINS)
	@mkdir -p $(BUILD)/tests
	@printf '%s\n' $(TEST_BINS) > $(BUILD)/tests/test-binaries.list
include tests/fuzz/fuzz.mk
