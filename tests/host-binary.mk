# SPDX-License-Identifier: GPL-2.0-only
# How every host binary of the tests and benchmarks is built: one object and
# one dependency file per translation unit, so that an edited header rebuilds
# exactly the objects that include it. (A binary compiled from several
# sources in one command gets a single .d naming only the last source's
# headers: an edit elsewhere then leaves a stale, green test.)
#
#   $(call host_binary,NAME,SOURCES,CXXFLAGS,LINK_INPUTS,LIBS,OTHER_PREREQS)
#       $(BUILD)/tests/NAME. Each of SOURCES (paths from the repository root)
#       is compiled with CXXFLAGS into $(BUILD)/tests/obj/NAME/<path>.o, its
#       .d beside it; the link takes those objects, LINK_INPUTS (objects and
#       archives built by other rules, also prerequisites) and LIBS.
#       OTHER_PREREQS are files the binary needs at run time (fixtures, a
#       tool it runs): prerequisites, not linked.
#   $(call host_test,...)   the same, and the binary joins TEST_BINS.
#
# The compile and link flags are an input like any source: each binary has a
# stamp file holding them, rewritten only when they change, and every object
# and the binary depend on it. The file that is the SIMD place,
# purgatory/arch/x86_64/sha256_ni.cc, is compiled with SHA256_NI_FLAGS
# (purgatory/purgatory.mk) wherever a test links it, as in the purgatory.

HOST_BINARY_OBJ_DIR = $(BUILD)/tests/obj

define host_binary
$(1)_OBJS := $$(patsubst %.cc,$$(HOST_BINARY_OBJ_DIR)/$(1)/%.o,$(2))
$(1)_CXXFLAGS := $(3)
$(1)_LINK := $(4) $(5)
$(1)_STAMP := $$(HOST_BINARY_OBJ_DIR)/$(1)/flags
$(1)_STAMP_TEXT := $$(CXX) $$($(1)_CXXFLAGS) $$(SHA256_NI_FLAGS) -- $$(HOST_LDFLAGS) $$($(1)_LINK)
ifneq ($$(file <$$($(1)_STAMP)),$$($(1)_STAMP_TEXT))
$$(shell mkdir -p $$(dir $$($(1)_STAMP)))
$$(file >$$($(1)_STAMP),$$($(1)_STAMP_TEXT))
endif

$$($(1)_OBJS): $$(HOST_BINARY_OBJ_DIR)/$(1)/%.o: %.cc $$($(1)_STAMP)
	@mkdir -p $$(dir $$@)
	$$(CXX) $$($(1)_CXXFLAGS) $$(if $$(filter %/sha256_ni.o,$$@),$$(SHA256_NI_FLAGS)) -MMD -MP -c $$< -o $$@

$$(BUILD)/tests/$(1): $$($(1)_OBJS) $(4) $$($(1)_STAMP) $(6)
	@mkdir -p $$(dir $$@)
	$$(CXX) $$(HOST_LDFLAGS) -o $$@ $$($(1)_OBJS) $$($(1)_LINK)

-include $$($(1)_OBJS:.o=.d)
endef

define host_test
$(call host_binary,$(1),$(2),$(3),$(4),$(5),$(6))
TEST_BINS += $$(BUILD)/tests/$(1)
endef
