/* Instructions vmrun finishes for the guest: exact register and flag effects, and refusal of
 * everything else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmrun/insn_fixup.h"

#include <errno.h>
#include <string.h>

#define ZF (1ULL << 6)
#define CF (1ULL << 0)
#define AC (1ULL << 18)
#define CR0 0x80050033ULL /* PE MP ET NE WP AM PG: TS clear */

static struct kvm_regs regs(void)
{
    struct kvm_regs r;
    memset(&r, 0, sizeof(r));
    r.rip = 0x1000;
    r.rflags = 0x2 | CF;
    return r;
}

static void test_popcnt_forms(void **state)
{
    (void)state;
    enum insn_fixup_action a;
    struct kvm_regs r = regs();
    r.rdi = 0xf0f0f0f0f0f0f0f1ULL;
    r.rax = 0xdeadbeefdeadbeefULL;
    static const uint8_t q[] = {0xf3, 0x48, 0x0f, 0xb8, 0xc7}; /* popcnt %rdi,%rax */
    assert_int_equal(insn_fixup(&r, CR0, q, sizeof(q), &a), 0);
    assert_int_equal(a, INSN_FIXUP_DONE);
    assert_int_equal(r.rax, 33);
    assert_int_equal(r.rip, 0x1005);
    assert_false(r.rflags & (ZF | CF));

    r = regs();
    r.rcx = 0xffffffff00000000ULL; /* popcnt %ecx,%r9d: 32-bit, source low half is zero */
    r.r9 = ~0ULL;
    static const uint8_t d[] = {0xf3, 0x44, 0x0f, 0xb8, 0xc9};
    assert_int_equal(insn_fixup(&r, CR0, d, sizeof(d), &a), 0);
    assert_int_equal(r.r9, 0); /* zero-extended */
    assert_true(r.rflags & ZF);

    r = regs();
    r.rbx = 0x12340007; /* popcnt %bx,%dx keeps rdx's upper bits */
    r.rdx = 0xaaaa0000ffffULL;
    static const uint8_t w[] = {0x66, 0xf3, 0x0f, 0xb8, 0xd3};
    assert_int_equal(insn_fixup(&r, CR0, w, sizeof(w), &a), 0);
    assert_int_equal(r.rdx, 0xaaaa00000003ULL);
    assert_int_equal(r.rip, 0x1005);
}

static void test_int3_clac_stac(void **state)
{
    (void)state;
    enum insn_fixup_action a;
    struct kvm_regs r = regs();
    static const uint8_t int3[] = {0xcc};
    assert_int_equal(insn_fixup(&r, CR0, int3, 1, &a), 0);
    assert_int_equal(a, INSN_FIXUP_INJECT_BP);
    assert_int_equal(r.rip, 0x1001);

    r = regs();
    static const uint8_t stac[] = {0x0f, 0x01, 0xcb}, clac[] = {0x0f, 0x01, 0xca};
    assert_int_equal(insn_fixup(&r, CR0, stac, 3, &a), 0);
    assert_true(r.rflags & AC);
    assert_int_equal(insn_fixup(&r, CR0, clac, 3, &a), 0);
    assert_false(r.rflags & AC);
    assert_int_equal(r.rip, 0x1006);
}

static void test_fwait(void **state)
{
    (void)state;
    enum insn_fixup_action a;
    struct kvm_regs r = regs();
    static const uint8_t fwait[] = {0x9b};
    assert_int_equal(insn_fixup(&r, CR0, fwait, 1, &a), 0);
    assert_int_equal(r.rip, 0x1001);
    /* With TS and MP set it must raise #NM, which vmrun leaves to a real failure report. */
    assert_int_equal(insn_fixup(&r, CR0 | 0x8, fwait, 1, &a), -ENOENT);
    assert_int_equal(r.rip, 0x1001);
}

static void test_refuses_others(void **state)
{
    (void)state;
    enum insn_fixup_action a;
    struct kvm_regs r = regs(), before = r;
    static const uint8_t xrstor[] = {0x48, 0x0f, 0xae, 0x2f};
    static const uint8_t popcnt_mem[] = {0xf3, 0x48, 0x0f, 0xb8, 0x07}; /* (%rdi) */
    static const uint8_t no_rep[] = {0x48, 0x0f, 0xb8, 0xc7};
    static const uint8_t truncated[] = {0xf3, 0x48, 0x0f};
    assert_int_equal(insn_fixup(&r, CR0, xrstor, sizeof(xrstor), &a), -ENOENT);
    assert_int_equal(insn_fixup(&r, CR0, popcnt_mem, sizeof(popcnt_mem), &a), -ENOENT);
    assert_int_equal(insn_fixup(&r, CR0, no_rep, sizeof(no_rep), &a), -ENOENT);
    assert_int_equal(insn_fixup(&r, CR0, truncated, sizeof(truncated), &a), -ENOENT);
    assert_int_equal(insn_fixup(&r, CR0, xrstor, 0, &a), -ENOENT);
    assert_memory_equal(&r, &before, sizeof(r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_popcnt_forms),
        cmocka_unit_test(test_int3_clac_stac),
        cmocka_unit_test(test_fwait),
        cmocka_unit_test(test_refuses_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
