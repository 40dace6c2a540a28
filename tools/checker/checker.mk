# SPDX-License-Identifier: GPL-2.0-only
# purgatory-check: the static checker of the final purgatory object
# ($(BUILD)/purgatory-check), which gates `make all`; one source per stage
# (decode, classify, call_graph, stack_bound: README.md). Its GoogleTest
# binary and fixtures are tests/checker/tests.mk's.
#
# CHECK_PURGATORY=1 also makes `make all` run the checker on
# $(BUILD)/purgatory.ro and fail on any finding, and makes the scripted test
# `purgatory-check` (tests/checker/check-purgatory) fail on findings; it is the
# default, since the real purgatory passes. With 0 (only for work in progress)
# the scripted test still runs the checker on it and on the stock purgatory
# and prints both summaries.
CHECK_PURGATORY ?= 1
export CHECK_PURGATORY

CHECKER_DIR := $(BUILD)/checker
# The tool's objects: not in CHECKER_DIR, whose .d files from before the move
# to tools/ would still name tests/checker sources.
CHECKER_OBJ_DIR := $(BUILD)/tools/checker
CHECKER_TOOL := $(BUILD)/purgatory-check
CHECKER_LIBS := -lelf -lZydis
CHECKER_CXXFLAGS := $(HOST_CXXFLAGS) -Itools/checker
# The host tools' libelf reader is the plugin's (kexec-plugin/elf/elf_file.cc),
# built here without the plugin's -fPIC and hidden visibility.
CHECKER_CORE_OBJS := $(patsubst %,$(CHECKER_OBJ_DIR)/%.o,elf_file elf_object purgatory_check decode classify \
  call_graph stack_bound)

$(CHECKER_OBJ_DIR)/%.o: tools/checker/%.cc tools/checker/checker.mk
	@mkdir -p $(dir $@)
	$(CXX) $(CHECKER_CXXFLAGS) -MMD -MP -c $< -o $@
$(CHECKER_OBJ_DIR)/elf_file.o: kexec-plugin/elf/elf_file.cc tools/checker/checker.mk
	@mkdir -p $(dir $@)
	$(CXX) $(CHECKER_CXXFLAGS) -MMD -MP -c $< -o $@

$(CHECKER_TOOL): $(CHECKER_CORE_OBJS) $(CHECKER_OBJ_DIR)/main.o
	$(CXX) $(HOST_LDFLAGS) -o $@ $^ $(CHECKER_LIBS)

# ---- The check of the real purgatory as part of the build ----------------
$(BUILD)/purgatory.checked: $(BUILD)/purgatory.ro $(CHECKER_TOOL)
	@$(CHECKER_TOOL) $(BUILD)/purgatory.ro > $@.log; rc=$$?; cat $@.log; \
	if [ $$rc != 0 ]; then echo "purgatory-check: $(BUILD)/purgatory.ro has findings (exit $$rc)" >&2; exit 1; fi
	@touch $@

ifeq ($(CHECK_PURGATORY),1)
all: $(BUILD)/purgatory.checked
endif

-include $(wildcard $(CHECKER_OBJ_DIR)/*.d)
