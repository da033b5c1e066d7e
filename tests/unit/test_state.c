/* State round trips: the state tree (build -> parse -> compare, and hostile trees), and on a
 * real KVM VM every component's save -> restore -> save. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../runtime/vm_internal.h"
#include "vmrun/machine_state.h"
#include "vmrun/statetree.h"
#include "vmrun/vcpu.h"
#include "tiny_elf.h"

#include <errno.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

static void pattern(void *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)p)[i] = (uint8_t)(seed + i * 31);
}

static struct machine_state *sample(void)
{
    struct machine_state *ms = calloc(1, sizeof(*ms));
    ms->format_version = STATETREE_FORMAT_VERSION;
    strcpy(ms->host_cpu, "Test CPU");
    strcpy(ms->cmdline, "workload=fill mb=8");
    ms->ncpus = 2;
    pattern(&ms->vm, sizeof(ms->vm), 1);
    ms->vm.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
    for (unsigned i = 0; i < 2; i++) {
        struct vcpu_saved *v = &ms->vcpus[i];
        uint8_t k0 = (uint8_t)(10 + i * 50);
        pattern(&v->mp, sizeof(v->mp), k0);
        pattern(&v->regs, sizeof(v->regs), k0 + 1);
        pattern(&v->sregs, sizeof(v->sregs), k0 + 2);
        pattern(&v->xsave, sizeof(v->xsave), k0 + 3);
        pattern(&v->xcrs, sizeof(v->xcrs), k0 + 4);
        pattern(&v->lapic, sizeof(v->lapic), k0 + 5);
        pattern(&v->events, sizeof(v->events), k0 + 6);
        pattern(&v->debugregs, sizeof(v->debugregs), k0 + 7);
        v->has_xsave = 1;
        v->has_xcrs = 1;
        v->tsc_khz = 2596122;
        v->nmsrs = 3;
        for (unsigned k = 0; k < 3; k++)
            v->msrs[k] = (struct kvm_msr_entry){.index = 0x10 + k, .data = 0x1234 + k};
    }
    pattern(&ms->uart, sizeof(ms->uart), 7);
    ms->ndisks = 1;
    pattern(&ms->disks[0].transport, sizeof(ms->disks[0].transport), 9);
    strcpy(ms->disks[0].path, "/var/lib/disk.img");
    ms->disks[0].size = 1 << 20;
    ms->disks[0].fingerprint = 0xfeedfacecafebeefULL;
    ms->memory = (struct memory_saved){.size = 64 << 20,
                                       .chunk_size = 1 << 18,
                                       .index_hash = 0x1122334455667788ULL,
                                       .chunks_total = 256};
    strcpy(ms->parent, "/snap/parent");
    ms->parent_index_hash = 42;
    return ms;
}

static void test_tree_roundtrip(void **state)
{
    (void)state;
    struct machine_state *a = sample(), *b = calloc(1, sizeof(*b));
    void *blob;
    size_t len;
    assert_int_equal(statetree_build(a, &blob, &len), 0);
    assert_int_equal(statetree_parse(blob, len, "t.dtb", b), 0);
    /* Field by field where the tree does not keep unused array tails. */
    assert_memory_equal(&a->vm, &b->vm, sizeof(a->vm));
    for (unsigned i = 0; i < 2; i++) {
        const struct vcpu_saved *x = &a->vcpus[i], *y = &b->vcpus[i];
        assert_memory_equal(&x->mp, &y->mp, sizeof(x->mp));
        assert_memory_equal(&x->regs, &y->regs, sizeof(x->regs));
        assert_memory_equal(&x->sregs, &y->sregs, sizeof(x->sregs));
        assert_memory_equal(&x->xsave, &y->xsave, sizeof(x->xsave));
        assert_memory_equal(&x->xcrs, &y->xcrs, sizeof(x->xcrs));
        assert_memory_equal(&x->lapic, &y->lapic, sizeof(x->lapic));
        assert_memory_equal(&x->events, &y->events, sizeof(x->events));
        assert_memory_equal(&x->debugregs, &y->debugregs, sizeof(x->debugregs));
        assert_int_equal(y->has_xsave, 1);
        assert_int_equal(y->tsc_khz, 2596122);
        assert_int_equal(y->nmsrs, 3);
        assert_memory_equal(x->msrs, y->msrs, 3 * sizeof(x->msrs[0]));
    }
    assert_memory_equal(&a->uart, &b->uart, sizeof(a->uart));
    assert_memory_equal(&a->disks[0], &b->disks[0], sizeof(a->disks[0]));
    assert_memory_equal(&a->memory, &b->memory, sizeof(a->memory));
    assert_string_equal(b->cmdline, a->cmdline);
    assert_string_equal(b->parent, a->parent);
    assert_int_equal(b->parent_index_hash, 42);
    assert_int_equal(b->ncpus, 2);
    assert_int_equal(b->ndisks, 1);
    free(blob);
    free(a);
    free(b);
}

/* Rebuild a tree after mutating one property, then expect parse to fail. */
static void expect_bad(void (*mutate)(void *fdt))
{
    struct machine_state *a = sample(), *b = calloc(1, sizeof(*b));
    void *blob;
    size_t len;
    assert_int_equal(statetree_build(a, &blob, &len), 0);
    void *big = calloc(1, len + 4096);
    assert_int_equal(fdt_open_into(blob, big, (int)len + 4096), 0);
    mutate(big);
    /* Re-seal with a correct hash so the parser's field checks, not the hash, must catch it. */
    int off = fdt_path_offset(big, "/vmrun");
    assert_int_equal(fdt_setprop_inplace_u64(big, off, "state-hash", 0), 0);
    assert_int_equal(fdt_pack(big), 0);
    size_t n = fdt_totalsize(big);
    uint64_t h = XXH3_64bits(big, n);
    assert_int_equal(fdt_setprop_inplace_u64(big, off, "state-hash", h), 0);
    assert_int_not_equal(statetree_parse(big, n, "hostile.dtb", b), 0);
    free(big);
    free(blob);
    free(a);
    free(b);
}

static void m_ncpus_zero(void *f)
{
    fdt_setprop_inplace_u32(f, fdt_path_offset(f, "/vm"), "vcpus", 0);
}
static void m_ncpus_huge(void *f)
{
    fdt_setprop_inplace_u32(f, fdt_path_offset(f, "/vm"), "vcpus", 1000);
}
static void m_short_regs(void *f)
{
    fdt_setprop(f, fdt_path_offset(f, "/vcpus/cpu@1"), "regs", "xx", 2);
}
static void m_msrs_ragged(void *f)
{
    fdt_setprop(f, fdt_path_offset(f, "/vcpus/cpu@0"), "msrs", "0123456789abcdefXYZ", 19);
}
static void m_version(void *f)
{
    fdt_setprop_inplace_u32(f, fdt_path_offset(f, "/vmrun"), "format-version", 99);
}
static void m_chunk(void *f)
{
    fdt_setprop_inplace_u32(f, fdt_path_offset(f, "/memory"), "chunk-size", 3000);
}
static void m_memsize(void *f)
{
    fdt_setprop_inplace_u64(f, fdt_path_offset(f, "/memory"), "size", 12345);
}
static void m_no_memory(void *f)
{
    fdt_del_node(f, fdt_path_offset(f, "/memory"));
}
static void m_unterminated_path(void *f)
{
    fdt_setprop(f, fdt_path_offset(f, "/devices/virtio-blk@0"), "path", "abc", 3);
}
static void m_missing_cpu(void *f)
{
    fdt_del_node(f, fdt_path_offset(f, "/vcpus/cpu@1"));
}

static void test_tree_hostile(void **state)
{
    (void)state;
    void (*muts[])(void *) = {m_ncpus_zero,        m_ncpus_huge, m_short_regs, m_msrs_ragged,
                              m_version,           m_chunk,      m_memsize,    m_no_memory,
                              m_unterminated_path, m_missing_cpu};
    for (size_t i = 0; i < sizeof(muts) / sizeof(muts[0]); i++)
        expect_bad(muts[i]);
    /* And a plain flipped byte is caught by the hash. */
    struct machine_state *a = sample(), *b = calloc(1, sizeof(*b));
    void *blob;
    size_t len;
    assert_int_equal(statetree_build(a, &blob, &len), 0);
    ((uint8_t *)blob)[len / 2] ^= 4;
    assert_int_equal(statetree_parse(blob, len, "flip.dtb", b), -EBADMSG);
    assert_int_not_equal(statetree_parse(blob, len - 1, "short.dtb", b), 0);
    free(blob);
    free(a);
    free(b);
}

/* A tiny guest that spins (inc %rax; jmp .-3): enough for KVM to have real register and
 * device state. */
static struct vm *make_vm(struct tiny_elf *t, unsigned ncpus)
{
    static const uint8_t code[] = {0x48, 0xff, 0xc0, 0xeb, 0xfb};
    tiny_elf_make(t, code, sizeof(code));
    struct vm_config cfg = {
        .mem_size = 32 << 20, .ncpus = ncpus, .builtin_image = t, .builtin_size = sizeof(*t)};
    struct vm *vm;
    assert_int_equal(vm_create(&cfg, &vm), 0);
    return vm;
}

static void test_kvm_roundtrip(void **state)
{
    (void)state;
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        print_message("SKIP: /dev/kvm not available\n");
        skip();
    }
    struct tiny_elf t;
    struct vm *vm = make_vm(&t, 2);
    assert_int_equal(vm_start(vm), 0);
    usleep(20000);
    assert_int_equal(vm_pause(vm), 0);

    struct vcpu_msr_list *msrs = calloc(1, sizeof(*msrs));
    assert_int_equal(vcpu_msr_list_probe(vm->kvm_fd, vm->vcpus[0], msrs), 0);
    assert_true(msrs->n > 10);
    struct vcpu_saved *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(vcpu_save(vm->vcpus[i], msrs, a), 0);
        if (i == 0)
            assert_true(a->regs.rax > 0); /* the guest really ran */
        assert_int_equal(vcpu_restore(vm->vcpus[i], a), 0);
        assert_int_equal(vcpu_save(vm->vcpus[i], msrs, b), 0);
        assert_memory_equal(&a->regs, &b->regs, sizeof(a->regs));
        assert_memory_equal(&a->sregs, &b->sregs, sizeof(a->sregs));
        assert_memory_equal(&a->mp, &b->mp, sizeof(a->mp));
        assert_memory_equal(&a->debugregs, &b->debugregs, sizeof(a->debugregs));
        assert_int_equal(a->nmsrs, b->nmsrs);
        /* The TSC moves on between reads; every other MSR must read back identically. */
        for (uint32_t k = 0; k < a->nmsrs; k++)
            if (a->msrs[k].index != 0x10)
                assert_int_equal(a->msrs[k].data, b->msrs[k].data);
        /* LAPIC: all but the timer current count, which runs. */
        assert_memory_equal(a->lapic.regs, b->lapic.regs, 0x390);
    }
    struct vm_saved *s1 = calloc(1, sizeof(*s1)), *s2 = calloc(1, sizeof(*s2));
    assert_int_equal(vm_state_save(vm, s1), 0);
    assert_int_equal(vm_state_restore(vm, s1), 0);
    assert_int_equal(vm_state_save(vm, s2), 0);
    assert_memory_equal(&s1->pic_master, &s2->pic_master, sizeof(s1->pic_master));
    assert_memory_equal(&s1->pic_slave, &s2->pic_slave, sizeof(s1->pic_slave));
    assert_memory_equal(&s1->ioapic, &s2->ioapic, sizeof(s1->ioapic));
    assert_true(s2->clock.clock >= s1->clock.clock); /* restored, and never backwards */
    s1->ioapic.chip_id = 7;
    assert_int_equal(vm_state_restore(vm, s1), -EINVAL);
    free(s1);
    free(s2);
    free(a);
    free(b);
    free(msrs);
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_roundtrip),
        cmocka_unit_test(test_tree_hostile),
        cmocka_unit_test(test_kvm_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
