/* The vCPU state machine on a real KVM VM: pausing is reliable and bounded whether the vCPU is
 * spinning in guest code or halted inside KVM, and resuming works every time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tiny_elf.h"
#include "vmrun/vm.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void pause_resume_cycles(const uint8_t *code, size_t len, unsigned ncpus)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        print_message("SKIP: /dev/kvm not available\n");
        skip();
    }
    struct tiny_elf t;
    tiny_elf_make(&t, code, len);
    struct vm_config cfg = {
        .mem_size = 32ULL << 20,
        .ncpus = ncpus,
        .builtin_image = &t,
        .builtin_size = sizeof(t),
    };
    struct vm *vm;
    assert_int_equal(vm_create(&cfg, &vm), 0);
    assert_int_equal(vm_start(vm), 0);
    double worst = 0;
    for (int i = 0; i < 50; i++) {
        double t0 = now_ms();
        assert_int_equal(vm_pause(vm), 0);
        double dt = now_ms() - t0;
        if (dt > worst)
            worst = dt;
        assert_int_equal(vm_resume(vm), 0);
        usleep(200);
    }
    print_message("worst pause latency over 50 cycles: %.3f ms\n", worst);
    assert_int_equal(vm_pause(vm), 0);
    vm_destroy(vm);
}

static void test_pause_spinning(void **state)
{
    (void)state;
    static const uint8_t spin[] = {0xeb, 0xfe}; /* jmp . */
    pause_resume_cycles(spin, sizeof(spin), 1);
}

static void test_pause_halted(void **state)
{
    (void)state;
    static const uint8_t halt[] = {0xfa, 0xf4, 0xeb, 0xfd}; /* cli; hlt; jmp .-1 */
    pause_resume_cycles(halt, sizeof(halt), 1);
}

static void test_pause_with_waiting_aps(void **state)
{
    (void)state;
    /* The second vCPU never gets a SIPI: it sits in KVM waiting, and must still park. */
    static const uint8_t spin[] = {0xeb, 0xfe};
    pause_resume_cycles(spin, sizeof(spin), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pause_spinning),
        cmocka_unit_test(test_pause_halted),
        cmocka_unit_test(test_pause_with_waiting_aps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
