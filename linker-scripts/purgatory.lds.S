/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Linker script template for the purgatory, run through the C preprocessor
 * twice (purgatory/purgatory.mk):
 *   -DLIMBO_RELOCATABLE : `ld -r` script for build/purgatory.ro, the ELF64
 *       relocatable object that kexec-tools' x86_64 loader (kexec/kexec-elf-rel.c)
 *       places and relocates. Every section at address 0, as ld's own -r
 *       scripts do: symbol values stay section offsets.
 *   (none)              : the fully linked check build
 *       (build/purgatory-check.elf), the same sections linked static at a
 *       fixed address with --no-undefined so that a symbol the -r link would
 *       leave unresolved fails the build (as Linux's arch/x86/purgatory does).
 *
 * kexec-tools lays SHF_ALLOC sections out in section-header order (PROGBITS
 * aligned and packed, NOBITS after), so few, ordered output sections:
 * .text (entry first), .rodata, .data, .bss. ENTRY sets e_entry, from which
 * the loader computes the entry address.
 */
#ifdef LIMBO_RELOCATABLE
#define SECTION_ADDRESS 0
#else
#define SECTION_ADDRESS
#endif

ENTRY(purgatory_start)

SECTIONS {
#ifndef LIMBO_RELOCATABLE
  . = 0x1000000;
#endif
  /* Freestanding rules: these collect what must not exist, to be asserted
   * empty below. Static constructors would never run (no C++ runtime calls
   * them); relocated read-only data and TLS have no loader; a GOT or PLT
   * nothing fills. They come first because the first matching pattern wins:
   * .data.* below would otherwise take .data.rel.ro.* in. Empty, they leave
   * no section behind. */
  .forbidden.ctors SECTION_ADDRESS : {
    *(.init_array .init_array.* .ctors .ctors.* .fini_array .fini_array.*)
    *(.dtors .dtors.* .preinit_array .init .fini)
  }
  .forbidden.relro SECTION_ADDRESS : { *(.data.rel.ro .data.rel.ro.*) }
  .forbidden.tls SECTION_ADDRESS : { *(.tdata .tdata.* .tbss .tbss.*) }
  .forbidden.got SECTION_ADDRESS : { *(.got .got.* .plt .plt.* .igot .igot.* .iplt) }

  .text SECTION_ADDRESS : {
    KEEP(*(.text.entry))
    *(EXCLUDE_FILE(*sha256_ni.o) .text EXCLUDE_FILE(*sha256_ni.o) .text.*)
  }
  /* The SIMD place (tools/checker/README.md): SHA-NI code, built with SSE,
   * kept apart so that the checker can prove that only the CPUID/CR4 gate
   * reaches it. */
  .text.simd SECTION_ADDRESS : {
    *sha256_ni.o(.text .text.*)
  }
  .rodata SECTION_ADDRESS : {
    *(.rodata .rodata.*)
  }
  /* Writable data. .data.rel.local holds data initialised with addresses
   * (R_X86_64_64, which kexec-tools applies): plain data here. */
  .data SECTION_ADDRESS : {
    *(.data .data.*)
    *(.data.rel.local .data.rel.local.*)
    *(.data.rel .data.rel.*)
  }
  .bss SECTION_ADDRESS : {
    *(.bss .bss.*)
    *(COMMON)
    /* The purgatory's last byte + 1 (its segment is .text to .bss): what
     * its own page tables must map (arch/x86_64/address_space.cc). */
    limbo_image_end = .;
  }

  /DISCARD/ : {
    *(.eh_frame .eh_frame_hdr)
    *(.comment)
    *(.note .note.*)
  }
}

ASSERT(SIZEOF(.forbidden.ctors) == 0, "purgatory: static constructors/destructors (.init_array/.ctors/.fini_array) are forbidden")
ASSERT(SIZEOF(.forbidden.relro) == 0, "purgatory: .data.rel.ro content is forbidden (pointer tables in read-only data)")
ASSERT(SIZEOF(.forbidden.tls) == 0, "purgatory: thread-local storage (.tdata/.tbss) is forbidden")
ASSERT(SIZEOF(.forbidden.got) == 0, "purgatory: .got/.plt are forbidden (kexec-tools applies no GOT relocation)")
ASSERT(DEFINED(stack_end), "purgatory: stack_end (the ABI's stack top) is missing")
