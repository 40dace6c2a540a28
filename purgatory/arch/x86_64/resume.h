// SPDX-License-Identifier: GPL-2.0-only
// The resume point the exception handler returns to after a fault in
// optional work (lib/fault.h): entry.S's limbo_resume_save and
// limbo_resume_to, a setjmp/longjmp pair that returns through IRETQ.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace limbo::arch {

// System V callee-saved registers, then the stack pointer and the address
// the save returns to. Offsets: entry.S RESUME_*.
struct ResumeContext {
  uint64_t rbx, rbp, r12, r13, r14, r15;
  uint64_t rsp, rip;
};
static_assert(offsetof(ResumeContext, rbx) == 0);
static_assert(offsetof(ResumeContext, r15) == 40);
static_assert(offsetof(ResumeContext, rsp) == 48);
static_assert(offsetof(ResumeContext, rip) == 56);

}  // namespace limbo::arch

extern "C" {
// 0 when called; 1 when limbo_resume_to made it return again.
[[gnu::returns_twice]] int limbo_resume_save(limbo::arch::ResumeContext* context);
[[noreturn]] void limbo_resume_to(const limbo::arch::ResumeContext* context);
}
