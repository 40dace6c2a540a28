# SPDX-License-Identifier: GPL-2.0-only
# QEMU end-to-end scenarios: guest images cached in $(BUILD)/qemu/.
#
#   make qemu-images    build the guest kernel copy and the initramfs images
#   make qemu-tests     run every QEMU scenario of tests/scripted.list (tests/run-all --qemu)
#   make qemu-compare   stock kexec and Limbo in one session, panic-to-capture times
#
# The runner (qemu/run-scenario) builds the image it needs through these rules
# itself, so `make test` needs nothing from here up front, and `make all`
# never depends on QEMU.

QEMU_DIR := $(BUILD)/qemu
# Debian's linux-image-amd64 kernel, the newest one installed; the same image
# is the first kernel and the capture kernel.
QEMU_KERNEL ?= $(shell ls -v /boot/vmlinuz-* 2>/dev/null | tail -n 1)
QEMU_KERNEL_VERSION ?= $(patsubst /boot/vmlinuz-%,%,$(QEMU_KERNEL))

QEMU_BASE_INPUTS := qemu/build-initramfs qemu/guest-init $(QEMU_DIR)/vmlinuz \
                    $(QEMU_DIR)/capture.img $(wildcard /sbin/kexec /usr/bin/busybox) \
                    $(wildcard /lib/modules/$(QEMU_KERNEL_VERSION)/modules.dep)

.PHONY: qemu-images qemu-tests qemu-compare qemu-clean
qemu-images: $(QEMU_DIR)/guest-stock.img $(QEMU_DIR)/guest-limbo.img

$(QEMU_DIR)/vmlinuz: $(QEMU_KERNEL) | $(BUILD)
	@test -n "$(QEMU_KERNEL)" || { echo "no /boot/vmlinuz-*: install linux-image-amd64 (make deps-test)"; exit 1; }
	mkdir -p $(QEMU_DIR)
	cp $(QEMU_KERNEL) $@

# The capture initramfs carries the NVMe driver: the fabric scenarios load it
# after reading the controller's state, to read the disk through it.
$(QEMU_DIR)/capture.img: qemu/build-initramfs qemu/capture-init $(wildcard /usr/bin/busybox) \
                         $(wildcard /lib/modules/$(QEMU_KERNEL_VERSION)/modules.dep)
	mkdir -p $(QEMU_DIR)
	qemu/build-initramfs capture $@ $(QEMU_KERNEL_VERSION)

# The fabric scenarios' NVMe disk: 1 MiB of a known pattern that both kernels
# read back (qemu/harness/machine.py, disk_pattern), attached read-only.
$(QEMU_DIR)/fabric-disk.img: qemu/make-disk qemu/harness/machine.py
	mkdir -p $(QEMU_DIR)
	qemu/make-disk $@

# The stock control image: no Limbo in it, so it builds before Limbo does.
$(QEMU_DIR)/guest-stock.img: $(QEMU_BASE_INPUTS)
	qemu/build-initramfs base $@ $(QEMU_DIR)/vmlinuz $(QEMU_DIR)/capture.img \
	  $(QEMU_KERNEL_VERSION)

# Limbo as `make install` lays it out in the guest (/usr/lib/limbo/...,
# /usr/sbin/limbo-kexec), with the libraries of what it installs.
$(QEMU_DIR)/limbo-layer.cpio: qemu/build-initramfs $(BUILD)/purgatory.ro \
                              $(BUILD)/liblimbo-kexec.so $(BUILD)/limbo-kexec
	rm -rf $(QEMU_DIR)/limbo-staging
	$(MAKE) --no-print-directory install BUILD=$(BUILD) PREFIX=/usr \
	  DESTDIR=$(abspath $(QEMU_DIR))/limbo-staging
	qemu/build-initramfs limbo $@ $(QEMU_DIR)/limbo-staging

# Concatenated cpio archives: the kernel unpacks them in order.
$(QEMU_DIR)/guest-limbo.img: $(QEMU_DIR)/guest-stock.img $(QEMU_DIR)/limbo-layer.cpio
	cat $^ > $@.tmp
	mv $@.tmp $@

# guest-limbo.img plus the test-only purgatories of the `safety`
# and `fault` scenarios in /usr/lib/limbo-test: the fault build
# (build/test-fault/purgatory.ro), one with an unsupported relocation, one
# whose sha256_digest symbol is renamed away. Root's, mode 0644 (the trust rule).
# Also the kdump-tools snippet (/etc/limbo/kdump-tools.conf of the
# package), which the fallback and lockdown scenarios source as kdump-config does.
$(QEMU_DIR)/safety-layer.cpio: $(BUILD)/purgatory.ro $(BUILD)/test-fault/purgatory.ro qemu/make-bad-purgatory \
                               packaging/kdump-tools.conf
	rm -rf $@.root && mkdir -p $@.root/usr/lib/limbo-test
	cp packaging/kdump-tools.conf $@.root/usr/lib/limbo-test/kdump-tools.conf
	cp $(BUILD)/test-fault/purgatory.ro $@.root/usr/lib/limbo-test/fault.ro
	qemu/make-bad-purgatory $(BUILD)/purgatory.ro $@.root/usr/lib/limbo-test/bad-reloc.ro
	objcopy --redefine-sym sha256_digest=sha256_digest_gone $(BUILD)/purgatory.ro $@.root/usr/lib/limbo-test/no-symbol.ro
	chmod 0755 $@.root/usr $@.root/usr/lib $@.root/usr/lib/limbo-test
	chmod 0644 $@.root/usr/lib/limbo-test/*
	(cd $@.root && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) > $@.tmp
	rm -rf $@.root
	mv $@.tmp $@
$(QEMU_DIR)/guest-safety.img: $(QEMU_DIR)/guest-limbo.img $(QEMU_DIR)/safety-layer.cpio
	cat $^ > $@.tmp
	mv $@.tmp $@

# The QEMU scenarios of tests/scripted.list alone, through the test runner
# (two at a time where they measure no time; its summary line last).
qemu-tests: all
	./tests/run-all --qemu $(BUILD)

qemu-compare:
	qemu/compare $(BUILD)

qemu-clean:
	rm -rf $(QEMU_DIR)

# The distribution matrix. Each suite's Debian root (kernel,
# modules, kexec-tools and its libraries; qemu/kdump/build-rootfs --suite,
# cached outside the clone) gives the same images as above, with Limbo built
# here: BUILD/qemu/suite-SUITE/{vmlinuz,capture.img,guest-stock.img,
# guest-limbo.img}. root.path names the cached root; it is rewritten only
# when the root changes, so the images follow the root and Limbo.
QEMU_SUITES := bookworm trixie sid
.PHONY: qemu-suite-roots
qemu-suite-roots: $(foreach s,$(QEMU_SUITES),$(QEMU_DIR)/suite-$(s)/root.path)
$(QEMU_DIR)/suite-%/root.path: qemu/kdump/build-rootfs FORCE
	@mkdir -p $(@D)
	@root=$$(qemu/kdump/build-rootfs --suite $* --cache | tail -n 1) && test -d "$$root" && \
	  { [ "$$(cat $@ 2>/dev/null)" = "$$root" ] || echo "$$root" > $@; }

# The suite's newest kernel, and its version beside it.
$(QEMU_DIR)/suite-%/vmlinuz: $(QEMU_DIR)/suite-%/root.path
	root=$$(cat $<) && kernel=$$(ls -v $$root/boot/vmlinuz-* | tail -n 1) && \
	  cp $$kernel $@.tmp && echo $${kernel##*/vmlinuz-} > $(@D)/kversion && mv $@.tmp $@

$(QEMU_DIR)/suite-%/capture.img: $(QEMU_DIR)/suite-%/vmlinuz qemu/build-initramfs qemu/capture-init \
                                 $(wildcard /usr/bin/busybox)
	LIMBO_SYSROOT=$$(cat $(@D)/root.path) qemu/build-initramfs capture $@ $$(cat $(@D)/kversion)

$(QEMU_DIR)/suite-%/guest-stock.img: $(QEMU_DIR)/suite-%/vmlinuz $(QEMU_DIR)/suite-%/capture.img \
                                     qemu/build-initramfs qemu/guest-init $(wildcard /usr/bin/busybox)
	LIMBO_SYSROOT=$$(cat $(@D)/root.path) qemu/build-initramfs base $@ $(@D)/vmlinuz \
	  $(@D)/capture.img $$(cat $(@D)/kversion)

# Limbo's staged install (the host limbo layer's rule makes it) with the
# suite's libraries.
$(QEMU_DIR)/suite-%/limbo-layer.cpio: $(QEMU_DIR)/limbo-layer.cpio $(QEMU_DIR)/suite-%/root.path
	LIMBO_SYSROOT=$$(cat $(@D)/root.path) qemu/build-initramfs limbo $@ $(QEMU_DIR)/limbo-staging

$(QEMU_DIR)/suite-%/guest-limbo.img: $(QEMU_DIR)/suite-%/guest-stock.img $(QEMU_DIR)/suite-%/limbo-layer.cpio
	cat $^ > $@.tmp
	mv $@.tmp $@

# Pattern targets are intermediate to make: keep them.
.PRECIOUS: $(QEMU_DIR)/suite-%/root.path $(QEMU_DIR)/suite-%/vmlinuz $(QEMU_DIR)/suite-%/capture.img \
           $(QEMU_DIR)/suite-%/guest-stock.img $(QEMU_DIR)/suite-%/limbo-layer.cpio \
           $(QEMU_DIR)/suite-%/guest-limbo.img
.PHONY: FORCE
FORCE:
