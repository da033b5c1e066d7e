/* CPUID rewriting on a synthetic table (no KVM needed): ids, topology, hidden features. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmrun/cpuid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct kvm_cpuid2 *table(void)
{
    static const struct kvm_cpuid_entry2 e[] = {
        {.function = 1, .ebx = 0xff00abcd, .ecx = 0xffffffff, .edx = 0},
        {.function = 7, .index = 0, .ebx = 0xffffffff, .ecx = 0xffffffff, .edx = 0xffffffff},
        {.function = 7, .index = 1, .eax = 0xffffffff},
        {.function = 0xb, .index = 0},
        {.function = 0xb, .index = 1},
        {.function = 0xb, .index = 2},
        {.function = 0xd, .index = 0, .eax = 7, .ebx = 0x340, .ecx = 0x340, .edx = 0},
        {.function = 0x80000008, .ecx = 0x0000f0ff},
    };
    size_t n = sizeof(e) / sizeof(e[0]);
    struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + n * sizeof(e[0]));
    t->nent = (uint32_t)n;
    for (size_t i = 0; i < n; i++)
        t->entries[i] = e[i];
    return t;
}

static void test_ids_and_topology(void **state)
{
    (void)state;
    struct kvm_cpuid2 *t = table();
    struct cpuid_options o = {.vcpu_index = 2, .ncpus = 4};
    assert_int_equal(cpuid_adjust(t, t->nent, &o), 0);
    assert_int_equal(t->entries[0].ebx >> 24, 2);
    assert_int_equal((t->entries[0].ebx >> 16) & 0xff, 4);
    assert_int_equal(t->entries[0].ebx & 0xffff, 0xabcd);
    assert_true(t->entries[0].edx & (1u << 28)); /* HTT with several CPUs */
    assert_true(t->entries[0].ecx & (1u << 31)); /* hypervisor */
    assert_int_equal(t->entries[3].edx, 2);      /* x2APIC id */
    assert_int_equal(t->entries[4].ebx, 4);
    assert_int_equal(t->entries[4].eax, 2); /* 2 bits number 4 CPUs */
    assert_int_equal(t->entries[5].ebx, 0);
    assert_int_equal(t->entries[7].ecx & 0xff, 3);
    free(t);
}

static void test_hides_xsave_and_cx16(void **state)
{
    (void)state;
    struct kvm_cpuid2 *t = table();
    struct cpuid_options o = {.vcpu_index = 0, .ncpus = 1};
    assert_int_equal(cpuid_adjust(t, t->nent, &o), 0);
    uint32_t l1 = t->entries[0].ecx;
    assert_false(l1 & (1u << 13));                /* CX16 */
    assert_false(l1 & (1u << 26));                /* XSAVE */
    assert_false(l1 & (1u << 27));                /* OSXSAVE */
    assert_false(l1 & (1u << 28));                /* AVX */
    assert_true(l1 & (1u << 0));                  /* SSE3 stays */
    assert_false(t->entries[1].ebx & (1u << 5));  /* AVX2 */
    assert_false(t->entries[1].ebx & (1u << 16)); /* AVX-512F */
    assert_true(t->entries[1].ebx & (1u << 0));   /* FSGSBASE stays */
    assert_int_equal(t->entries[6].eax, 0);       /* leaf 0xd emptied */
    assert_false(t->entries[0].edx & (1u << 28)); /* no HTT with one CPU */
    free(t);
}

static void test_passthrough_keeps_features(void **state)
{
    (void)state;
    struct kvm_cpuid2 *t = table();
    struct cpuid_options o = {.vcpu_index = 0, .ncpus = 1, .passthrough = true};
    assert_int_equal(cpuid_adjust(t, t->nent, &o), 0);
    assert_true(t->entries[0].ecx & (1u << 26));
    assert_int_equal(t->entries[1].ebx, 0xffffffff);
    assert_int_equal(t->entries[6].eax, 7);
    free(t);
}

static void test_tsc_leaf(void **state)
{
    (void)state;
    struct kvm_cpuid2 *t = table();
    uint32_t n = t->nent;
    struct kvm_cpuid2 *big = calloc(1, sizeof(*big) + (n + 2) * sizeof(big->entries[0]));
    memcpy(big, t, sizeof(*t) + n * sizeof(t->entries[0]));
    big->entries[n] = (struct kvm_cpuid_entry2){.function = 0x40000000, .eax = 0x40000001};
    big->nent = n + 1;
    struct cpuid_options o = {.vcpu_index = 0, .ncpus = 1, .tsc_khz = 2596122};
    assert_int_equal(cpuid_adjust(big, n + 1, &o), -ENOSPC); /* no room for the new leaf */
    big->nent = n + 1;
    assert_int_equal(cpuid_adjust(big, n + 2, &o), 0);
    assert_int_equal(big->nent, n + 2);
    assert_int_equal(big->entries[n].eax, 0x40000010);
    assert_int_equal(big->entries[n + 1].function, 0x40000010);
    assert_int_equal(big->entries[n + 1].eax, 2596122);
    assert_int_equal(big->entries[n + 1].ebx, 1000000);
    /* Without KVM's hypervisor leaves nothing is added. */
    assert_int_equal(cpuid_adjust(t, n + 1, &o), 0);
    assert_int_equal(t->nent, n);
    free(big);
    free(t);
}

static void test_rejects_bad_options(void **state)
{
    (void)state;
    struct kvm_cpuid2 *t = table();
    struct cpuid_options o = {.vcpu_index = 1, .ncpus = 1};
    assert_int_equal(cpuid_adjust(t, t->nent, &o), -EINVAL);
    o = (struct cpuid_options){.vcpu_index = 0, .ncpus = 0};
    assert_int_equal(cpuid_adjust(t, t->nent, &o), -EINVAL);
    o = (struct cpuid_options){.vcpu_index = 0, .ncpus = 1};
    assert_int_equal(cpuid_adjust(NULL, 0, &o), -EINVAL);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_and_topology),
        cmocka_unit_test(test_hides_xsave_and_cx16),
        cmocka_unit_test(test_passthrough_keeps_features),
        cmocka_unit_test(test_tsc_leaf),
        cmocka_unit_test(test_rejects_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
