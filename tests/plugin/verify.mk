# Host tests of the plugin's per-segment checks (issue 9); OpenSSL checks the digests.
PLUGIN_VERIFY_TEST_BIN := $(BUILD)/tests/plugin_segment_checks_test

$(PLUGIN_TEST_DIR)/segment_checks_test.o: tests/plugin/segment_checks_test.cc
	@mkdir -p $(dir $@)
	$(CXX) $(PLUGIN_CXXFLAGS) -c $< -o $@

$(PLUGIN_VERIFY_TEST_BIN): $(PLUGIN_TEST_DIR)/segment_checks_test.o $(CLI_OBJS) $(PLUGIN_CORE_LIB)
	$(CXX) $(HOST_LDFLAGS) -o $@ $^ $(PLUGIN_LIBS) -lcrypto $(GTEST_LIBS)

TEST_BINS += $(PLUGIN_VERIFY_TEST_BIN)
