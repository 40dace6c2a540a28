# SPDX-License-Identifier: GPL-2.0-only
# Host tests of the verification: both SHA-256 engines (SHA-NI needs
# the host's CPU to have it: the test says so when it cannot run), the zero
# scan, the per-segment diagnosis, the reboot sequence.
$(call purgatory_test,sha256_ni_test,tests/purgatory/sha256_ni_test.cc purgatory/lib/sha256.cc \
  purgatory/arch/x86_64/sha256_ni.cc,-lcrypto)
$(call purgatory_test,verify_test,tests/purgatory/verify_test.cc purgatory/lib/sha256.cc purgatory/lib/report.cc \
  purgatory/lib/verify/zero_scan.cc purgatory/lib/verify/segments.cc)
