# SPDX-License-Identifier: GPL-2.0-only
# Host tests of the plugin's per-segment checks; OpenSSL checks the digests.
$(call plugin_test,plugin_segment_checks_test,tests/plugin/segment_checks_test.cc,$(CLI_OBJS))
