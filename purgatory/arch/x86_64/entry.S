/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The purgatory's entry and exit, and its exception stubs: what must be
 * assembly. relocate_kernel (Linux arch/x86/kernel/relocate_kernel_64.S)
 * jumps to purgatory_start in long mode with the GDT and IDT descriptors
 * zeroed, interrupts off, all general registers zero and 0(%rsp) holding the
 * jump-back address (0 after a crash). Every address here is RIP-relative
 * (R_X86_64_PC32): the loader may place the object anywhere.
 */

#define CODE_SELECTOR 0x10   /* limbo::x86::kCodeSelector (boot protocol __BOOT_CS) */
#define DATA_SELECTOR 0x18   /* limbo::x86::kDataSelector (boot protocol __BOOT_DS) */
#define STACK_SIZE 16384
#define REGS_RSP 48          /* offsetof(abi::Entry64Regs, rsp) */
#define REGS_RIP 128         /* offsetof(abi::Entry64Regs, rip) */

	.section .text.entry, "ax", @progbits
	.code64
	.globl purgatory_start
	.type purgatory_start, @function
purgatory_start:
	/* The TSC first: the report counts the purgatory's time from here. */
	rdtsc
	shlq	$32, %rdx
	orq	%rdx, %rax
	movq	%rax, limbo_entry_tsc(%rip)

	/* kexec-tools' contract: the word at 0(%rsp) is the jump-back entry. */
	movq	0(%rsp), %rax
	movq	%rax, jump_back_entry(%rip)

	/* Our own GDT. Its base is only known at run time: fill the pointer. */
	leaq	limbo_gdt(%rip), %rax
	movq	%rax, limbo_gdtr+2(%rip)
	lgdt	limbo_gdtr(%rip)
	movl	$DATA_SELECTOR, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs

	/* Our own stack, then CS through a far return. */
	leaq	stack_end(%rip), %rsp
	pushq	$CODE_SELECTOR
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:
	call	limbo_install_idt
	/* Returns only when the image verified; on a mismatch it halts. */
	call	limbo_main

	/*
	 * Into the next kernel through entry64_regs: interrupts off, our GDT
	 * (CS 0x10, DS/ES/SS 0x18) still loaded, every register from the table.
	 */
	cli
	movq	entry64_regs+0(%rip), %rax
	movq	entry64_regs+8(%rip), %rbx
	movq	entry64_regs+16(%rip), %rcx
	movq	entry64_regs+24(%rip), %rdx
	movq	entry64_regs+32(%rip), %rsi
	movq	entry64_regs+40(%rip), %rdi
	movq	entry64_regs+REGS_RSP(%rip), %rsp
	movq	entry64_regs+56(%rip), %rbp
	movq	entry64_regs+64(%rip), %r8
	movq	entry64_regs+72(%rip), %r9
	movq	entry64_regs+80(%rip), %r10
	movq	entry64_regs+88(%rip), %r11
	movq	entry64_regs+96(%rip), %r12
	movq	entry64_regs+104(%rip), %r13
	movq	entry64_regs+112(%rip), %r14
	movq	entry64_regs+120(%rip), %r15
	jmpq	*entry64_regs+REGS_RIP(%rip)
	.size purgatory_start, . - purgatory_start

/*
 * Exception stubs, 16 bytes apart so that the IDT set-up computes each one's
 * address from limbo_exception_stubs. Each pushes an error code if the CPU
 * did not (SDM Vol. 3A Table 6-1), then its vector.
 */
	.text
	.balign 16
	.globl limbo_exception_stubs
limbo_exception_stubs:
	.irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.balign 16
	.if \vector == 2
	jmp	limbo_exception_nmi
	.else
	.if (\vector == 8) || ((\vector >= 10) && (\vector <= 14)) || (\vector == 17) || (\vector == 21) || (\vector == 29) || (\vector == 30)
	.else
	pushq	$0
	.endif
	pushq	$\vector
	jmp	limbo_exception_common
	.endif
	.endr

/* Vectors 32..255: no exception uses them (interrupts are off), so one stub
 * reports them together as vector 256. */
	.balign 16
	.globl limbo_interrupt_stub
limbo_interrupt_stub:
	pushq	$0
	pushq	$256
	jmp	limbo_exception_common

/*
 * NMI (vector 2): counted, and returned from. An NMI is not a fault of the
 * interrupted code: the platform sends it (IPMI diagnostic interrupt, PCI
 * SERR/IOCHK, firmware-first error handling), and halting on it would leave
 * the machine hung where the stock purgatory's triple fault resets it. The
 * CPU blocks further NMIs from delivery until the next IRET (SDM Vol. 3A
 * §6.7.1), so this handler never nests in itself; it may interrupt any other
 * code, a fault handler included, on the same stack (no IST: interrupts
 * come on the current stack at CPL 0, and -mno-red-zone keeps that safe;
 * purgatory-check adds its frame and depth on top of a fault handler's).
 * It saves what a C call may clobber, calls limbo_nmi with the CPU's frame
 * (rip, cs, rflags, rsp, ss), and IRETQ restores RFLAGS (DF included) and
 * lifts the NMI block. No SIMD register is touched: limbo_nmi is built
 * with -mgeneral-regs-only, so SHA-NI work it interrupts keeps its state.
 */
	.type limbo_exception_nmi, @function
limbo_exception_nmi:
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%rbp
	movq	%rsp, %rbp
	leaq	80(%rsp), %rdi       /* the CPU's frame, above the 10 saved registers */
	andq	$-16, %rsp
	cld
	call	limbo_nmi
	movq	%rbp, %rsp
	popq	%rbp
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rax
	iretq
	.size limbo_exception_nmi, . - limbo_exception_nmi

/*
 * The resume point for a fault in optional work (lib/fault.h),
 * setjmp-like. int limbo_resume_save(ResumeContext *ctx) (arch/x86_64/
 * resume.h) saves the System V callee-saved registers, the stack pointer
 * after its return and its return address, and returns 0.
 * limbo_resume_to(const ResumeContext *ctx) makes that call return again,
 * with 1: it restores the registers and IRETQs to the return address on the
 * saved stack. An IRETQ, not a jump: if the fault hit inside the NMI handler,
 * the CPU's NMI block lifts here as it would at that handler's own IRETQ
 * (SDM Vol. 3A §6.7.1). RFLAGS comes back as 0x2: IF, DF and TF clear.
 * Everything below the saved stack pointer is abandoned.
 */
#define RESUME_RBX 0
#define RESUME_RBP 8
#define RESUME_R12 16
#define RESUME_R13 24
#define RESUME_R14 32
#define RESUME_R15 40
#define RESUME_RSP 48
#define RESUME_RIP 56
	.globl limbo_resume_save
	.type limbo_resume_save, @function
limbo_resume_save:
	movq	%rbx, RESUME_RBX(%rdi)
	movq	%rbp, RESUME_RBP(%rdi)
	movq	%r12, RESUME_R12(%rdi)
	movq	%r13, RESUME_R13(%rdi)
	movq	%r14, RESUME_R14(%rdi)
	movq	%r15, RESUME_R15(%rdi)
	leaq	8(%rsp), %rax        /* the caller's stack pointer after our ret */
	movq	%rax, RESUME_RSP(%rdi)
	movq	0(%rsp), %rax        /* our return address */
	movq	%rax, RESUME_RIP(%rdi)
	xorl	%eax, %eax
	ret
	.size limbo_resume_save, . - limbo_resume_save

	.globl limbo_resume_to
	.type limbo_resume_to, @function
limbo_resume_to:
	movq	RESUME_RBX(%rdi), %rbx
	movq	RESUME_RBP(%rdi), %rbp
	movq	RESUME_R12(%rdi), %r12
	movq	RESUME_R13(%rdi), %r13
	movq	RESUME_R14(%rdi), %r14
	movq	RESUME_R15(%rdi), %r15
	movq	RESUME_RSP(%rdi), %rcx
	movq	RESUME_RIP(%rdi), %rdx
	pushq	$DATA_SELECTOR       /* ss */
	pushq	%rcx                 /* rsp */
	pushq	$2                   /* rflags: only the reserved bit 1 */
	pushq	$CODE_SELECTOR       /* cs */
	pushq	%rdx                 /* rip */
	movl	$1, %eax
	iretq
	.size limbo_resume_to, . - limbo_resume_to

/* Saves the registers as an ExceptionFrame and reports; never returns. */
limbo_exception_common:
	pushq	%r15
	pushq	%r14
	pushq	%r13
	pushq	%r12
	pushq	%r11
	pushq	%r10
	pushq	%r9
	pushq	%r8
	pushq	%rbp
	pushq	%rdi
	pushq	%rsi
	pushq	%rdx
	pushq	%rcx
	pushq	%rbx
	pushq	%rax
	movq	%rsp, %rdi
	andq	$-16, %rsp
	call	limbo_exception
2:	cli
	hlt
	jmp	2b

	.data
	.balign 16
	.globl limbo_gdtr
limbo_gdtr:
	.word	4 * 8 - 1        /* limit: limbo::x86::kGdtEntries descriptors */
	.quad	0                /* base: written at entry */
	.size limbo_gdtr, . - limbo_gdtr

	.bss
	.balign 4096
	.globl limbo_stack, stack_end
limbo_stack:
	.skip	STACK_SIZE
stack_end:
	.size limbo_stack, STACK_SIZE

	.balign 16
	.globl limbo_idt
limbo_idt:
	.skip	256 * 16
	.size limbo_idt, . - limbo_idt

	.section .note.GNU-stack, "", @progbits
