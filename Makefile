# SPDX-License-Identifier: GPL-2.0-only
# Limbo: a purgatory for kexec-tools' x86_64 kdump path, the preload plugin
# that makes the distribution's `kexec -p` load it, and their tests.
#
#   make            build purgatory.ro, the plugin and limbo-kexec into build/
#   make check      the host tests (and their sanitizer build), no QEMU
#   make test       install the Debian packages needed, build, run every test
#   make demo       install, build, the fabric topology crashed with stock then with Limbo, side by side
#   make install    PREFIX=/usr/local DESTDIR= : install the three artefacts
#   make deb        build/limbo-kexec_VERSION_amd64.deb (see packaging/)

BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
LIBDIR  ?= $(PREFIX)/lib/limbo
BINDIR  ?= $(PREFIX)/sbin
# The one version: debian/changelog's first entry.
VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)

# Where the installed plugin finds purgatory.ro unless --purgatory= says otherwise.
LIMBO_PURGATORY_PATH ?= $(abspath $(BUILD))/purgatory.ro

CXX ?= g++
CC  ?= gcc

# ---- The purgatory's one flag set --------------------------------------
PURGATORY_CXXFLAGS := \
  -std=c++20 -O2 -g0 -Wall -Wextra -Werror \
  -ffreestanding -fno-builtin -nostdlib \
  -fno-exceptions -fno-rtti \
  -fno-threadsafe-statics \
  -fno-asynchronous-unwind-tables -fno-unwind-tables \
  -fno-stack-protector -fno-stack-clash-protection \
  -fcf-protection=none \
  -fpie -fvisibility=hidden -include purgatory/hidden.h \
  -fno-jump-tables \
  -fno-common \
  -fno-zero-initialized-in-bss \
  -mno-red-zone \
  -mgeneral-regs-only \
  -Ipurgatory
# Reasons, one line each:
#  -ffreestanding -fno-builtin -nostdlib : no libc exists between kernels.
#  -fno-threadsafe-statics : no guard-variable calls into a C++ runtime.
#  -fno-*unwind-tables : no .eh_frame; nothing unwinds without exceptions.
#  -fno-stack-protector/-clash : no TLS canary and no probes below a fixed stack.
#  -fcf-protection=none : CET is off when the purgatory runs; endbr64 is noise.
#  -fpie + hidden.h : RIP-relative code (PC32/PLT32 only), placeable anywhere;
#     hidden visibility keeps GCC from GOT relocations kexec-tools cannot apply.
#  -fno-jump-tables : no cross-section tables in .rodata.
#  -fno-zero-initialized-in-bss : loader-written globals must be in .data.
#  -mno-red-zone : exceptions push onto the same stack.
#  -mgeneral-regs-only : SSE is off at entry (CR4.OSFXSR = 0); any SIMD faults.

# ---- Host flags (plugin, tests, tools) ---------------------------------
# HOST_EXTRA_*: a distribution's own flags (debian/rules passes Debian's
# hardening flags); never reach the purgatory, which has its own set above.
HOST_CXXFLAGS := -std=c++20 -O2 -g -Wall -Wextra -Werror -Ipurgatory -Ikexec-plugin $(HOST_EXTRA_CXXFLAGS)
HOST_LDFLAGS  := $(HOST_EXTRA_LDFLAGS)

.PHONY: all clean deps-build deps-check deps-test deps-demo check test demo install
all: $(BUILD)/purgatory.ro $(BUILD)/liblimbo-kexec.so $(BUILD)/limbo-kexec

$(BUILD):
	mkdir -p $@

include purgatory/purgatory.mk
include kexec-plugin/plugin.mk
include tools/checker/checker.mk
include tests/tests.mk
include qemu/qemu.mk

# ---- Debian packages ----------------------------------------------------
# Idempotent: apt-get runs only when a package is missing.
BUILD_PACKAGES := g++ make binutils libelf-dev libzydis-dev pkg-config
# make deb: Debian's package tools; lintian checks the result in the tests.
DEB_PACKAGES   := debhelper dpkg-dev lintian
TEST_PACKAGES  := $(BUILD_PACKAGES) $(DEB_PACKAGES) googletest libgtest-dev libssl-dev \
                  libzydis-dev kexec-tools libbenchmark-dev valgrind clang libclang-rt-14-dev \
                  python3
QEMU_PACKAGES  := qemu-system-x86 linux-image-amd64 busybox-static cpio \
                  kexec-tools python3 ovmf \
                  debootstrap xz-utils zstd
# (debootstrap: the distribution matrix's Debian 12/13/unstable roots; xz and
# zstd: their kernels' compressed modules.)
# make test-full's kdump-tools scenario (qemu/kdump/): the guest's Debian
# root by debootstrap, its disk by mke2fs -d, the dump read by makedumpfile.
KDUMP_PACKAGES := debootstrap e2fsprogs makedumpfile

deps-build:
	@./tests/ensure-packages $(BUILD_PACKAGES)
deps-check:
	@./tests/ensure-packages $(TEST_PACKAGES)
deps-test:
	@./tests/ensure-packages $(TEST_PACKAGES) $(QEMU_PACKAGES)
deps-demo:
	@./tests/ensure-packages $(BUILD_PACKAGES) $(QEMU_PACKAGES)

# make test plus tests/full.list (the kdump-tools scenario: minutes, and
# network access to deb.debian.org the first time). CI runs this one.
.PHONY: test-full deps-kdump
deps-kdump:
	@./tests/ensure-packages $(KDUMP_PACKAGES)
test-full: deps-kdump
	LIMBO_TEST_FULL=1 $(MAKE) test

# The builds inside `make check` and `make test` run in parallel, one job per
# core (CI's machine has two). make check: every host test binary, the
# same under ASan/UBSan, the fuzz targets' smoke runs and the other scripted
# tests of kind host (tests/scripted.list), no QEMU. make test: the same and
# the QEMU scenarios, two at a time where they measure no time
# (tests/run-all). Each ends with the runner's summary line.
TEST_JOBS ?= $(shell nproc)
.PHONY: test-build
test-build:
	$(MAKE) -j$(TEST_JOBS) all test-binaries asan-binaries fuzz-binaries
check: deps-check
	$(MAKE) test-build
	./tests/run-all --check $(BUILD)
test: deps-test
	$(MAKE) test-build
	./tests/run-all $(BUILD)

demo: deps-demo
	$(MAKE) all
	./qemu/demo --cure $(BUILD)

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR)
	install -m 0644 $(BUILD)/purgatory.ro $(DESTDIR)$(LIBDIR)/purgatory.ro
	install -m 0755 $(BUILD)/liblimbo-kexec.so $(DESTDIR)$(LIBDIR)/liblimbo-kexec.so
	$(MAKE) LIMBO_PURGATORY_PATH=$(LIBDIR)/purgatory.ro \
	  LIMBO_PLUGIN_PATH=$(LIBDIR)/liblimbo-kexec.so BUILD=$(BUILD)/install \
	  $(BUILD)/install/limbo-kexec
	install -m 0755 $(BUILD)/install/limbo-kexec $(DESTDIR)$(BINDIR)/limbo-kexec

# make deb: $(BUILD)/limbo-kexec_$(VERSION)_amd64.deb for dpkg -i, built by
# dpkg-buildpackage from debian/ in a copy of the tree (packaging/build-deb).
.PHONY: deb deps-deb
deps-deb:
	@./tests/ensure-packages $(BUILD_PACKAGES) $(DEB_PACKAGES)
deb: deps-deb
	./packaging/build-deb $(BUILD)

clean:
	rm -rf $(BUILD)
