# QEMU end-to-end scenarios.
