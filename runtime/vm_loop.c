/* The VM's life after construction: pausing and resuming vCPUs, and the main loop that serves
 * the console, the control socket and --snapshot-on until the guest powers off. */
#include "vm_internal.h"

#include "vmrun/api.h"
#include "vmrun/console.h"
#include "vmrun/log.h"
#include "vmrun/uart.h"
#include "vmrun/vcpu.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#define PAUSE_TIMEOUT_MS 2000

/* Returns the first error but always tries every vCPU. */
int vm_pause(struct vm *vm)
{
    int err = 0;
    for (unsigned i = 0; i < vm->ncpus; i++)
        vcpu_request_pause(vm->vcpus[i]);
    for (unsigned i = 0; i < vm->ncpus; i++) {
        int e = vcpu_wait_state(vm->vcpus[i], VCPU_PAUSED, PAUSE_TIMEOUT_MS);
        if (e && !err)
            err = vlog_err(e, "vcpu %u: pause", i);
    }
    return err;
}

bool vm_hold_vcpus(struct vm *vm)
{
    return __atomic_load_n(&vm->hold_vcpus, __ATOMIC_SEQ_CST);
}

/* Read on every port-I/O exit: an atomic load, not the lock. */
bool vm_stopping(struct vm *vm)
{
    return __atomic_load_n(&vm->stopping, __ATOMIC_ACQUIRE);
}

/* Input the UART could not take yet waits here, so piped input is never dropped. */
struct pending_input {
    uint8_t buf[256];
    size_t off, len;
};

static void feed_uart(struct vm *vm, struct pending_input *in)
{
    size_t n = uart_receive(vm->uart, in->buf + in->off, in->len - in->off);
    in->off += n;
    if (in->off == in->len)
        in->off = in->len = 0;
}

/* --snapshot-on fired: snapshot once, then keep running or end the VM. */
static void snapshot_on_match(struct vm *vm)
{
    if (!__atomic_load_n(&vm->snapshot_pending, __ATOMIC_SEQ_CST) || vm->snapshot_on_done)
        return;
    vm->snapshot_on_done = true;
    /* Clear the hold before the snapshot resumes the vCPUs, or the one that printed the
     * string would park again at its next exit. */
    __atomic_store_n(&vm->hold_vcpus, 0, __ATOMIC_SEQ_CST);
    struct vm_snapshot_opts o = {.dir = vm->snapshot_on_dir};
    struct vm_snapshot_result r;
    int err = vm_snapshot(vm, &o, &r);
    if (err) {
        /* The VM goes on as it was (the vCPU that printed the string parked itself, so resume
         * it explicitly); only a CI run that wanted to stop here fails. */
        vlog_err(err, "--snapshot-on: snapshot to %s", vm->snapshot_on_dir);
        if (!vm->paused)
            vm_resume(vm);
        if (vm->exit_after_snapshot)
            vm_request_fail(vm, err);
        return;
    }
    vlog_msg("snapshot written to %s: %llu chunks stored, %llu zero, %.1f MB, vCPUs paused "
             "%.1f ms",
             vm->snapshot_on_dir, (unsigned long long)r.chunks_data,
             (unsigned long long)r.chunks_zero, r.bytes_on_disk / 1e6, r.paused_ms);
    if (vm->exit_after_snapshot)
        vm_request_exit(vm, 0);
}

#define MAX_POLL 40

static int main_loop(struct vm *vm)
{
    struct pending_input in = {.off = 0, .len = 0};
    while (!vm_stopping(vm)) {
        struct pollfd pfd[MAX_POLL] = {{.fd = vm->wake_fd, .events = POLLIN}};
        nfds_t n = 1;
        int in_fd = console_input_fd(vm->console);
        nfds_t in_slot = 0;
        if (in_fd >= 0 && in.len == 0) {
            pfd[n] = (struct pollfd){.fd = in_fd, .events = POLLIN};
            in_slot = n++;
        }
        nfds_t api_first = n;
        if (vm->api) {
            int fds[MAX_POLL];
            size_t k = api_server_fds(vm->api, fds, MAX_POLL - n);
            for (size_t i = 0; i < k; i++)
                pfd[n++] =
                    (struct pollfd){.fd = fds[i], .events = api_server_events(vm->api, fds[i])};
        }
        /* With input pending, poll briefly so the guest can drain its FIFO in between. */
        int rc = poll(pfd, n, in.len ? 10 : -1);
        if (rc < 0 && errno != EINTR)
            return vlog_err(-errno, "poll");
        if (pfd[0].revents & POLLIN) {
            uint64_t v;
            if (read(vm->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                return vlog_err(-errno, "eventfd read");
        }
        for (nfds_t i = api_first; i < n; i++)
            if (pfd[i].revents)
                api_server_handle(vm->api, pfd[i].fd);
        snapshot_on_match(vm);
        if (in_slot && (pfd[in_slot].revents & (POLLIN | POLLHUP | POLLERR))) {
            enum console_event ev;
            in.len = sizeof(in.buf);
            int err = console_read(vm->console, in.buf, &in.len, &ev);
            if (err)
                return vlog_err(err, "console input");
            if (ev == CONSOLE_QUIT) {
                vlog_msg("quit requested from the console (Ctrl-A x)");
                vm_request_exit(vm, 0);
            }
        }
        if (in.len)
            feed_uart(vm, &in);
    }
    return 0;
}

int vm_resume(struct vm *vm)
{
    int err = 0;
    /* No wait for RUNNING: a vCPU may legitimately park again at once (guest power-off). */
    for (unsigned i = 0; i < vm->ncpus && !err; i++)
        err = vcpu_request_run(vm->vcpus[i]);
    return err;
}

int vm_prepare(struct vm *vm)
{
    if (vm->threads_up)
        return 0;
    int err = 0;
    for (unsigned i = 0; i < vm->ncpus && !err; i++)
        err = vcpu_start(vm->vcpus[i]);
    for (unsigned i = 0; i < vm->ncpus && !err; i++)
        err = vcpu_wait_state(vm->vcpus[i], VCPU_PAUSED, PAUSE_TIMEOUT_MS);
    if (err)
        return vlog_err(err, "starting vcpus");
    vm->threads_up = true;
    return 0;
}

int vm_start(struct vm *vm)
{
    if (vm->started)
        return 0;
    int err = vm_prepare(vm);
    if (err)
        return err;
    err = vm_resume(vm);
    if (err)
        return vlog_err(err, "starting vcpus");
    vm->started = true;
    return 0;
}

int vm_run(struct vm *vm, int *exit_code)
{
    int err = vm_start(vm);
    if (err)
        return err;
    err = main_loop(vm);
    int perr = vm_pause(vm);
    pthread_mutex_lock(&vm->lock);
    if (!err)
        err = vm->fail_err;
    *exit_code = vm->exit_code;
    pthread_mutex_unlock(&vm->lock);
    return err ? err : perr;
}
