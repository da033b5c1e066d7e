/* vCPU threads. Each thread owns its KVM_RUN loop; the main thread only changes the target state
 * under the lock and, to get a thread out of KVM_RUN, sets kvm_run->immediate_exit and sends the
 * kick signal. immediate_exit closes the race where the signal lands just before KVM_RUN starts,
 * so a pause always completes within one guest exit. */
#include "vmrun/vcpu.h"

#include "vmrun/log.h"
#include "vmrun/vm.h"
#include "vcpu_exit.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct vcpu {
    struct vm *vm;
    unsigned index;
    int fd;
    struct kvm_run *run;
    size_t run_size;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    enum vcpu_state state;  /* what the thread is doing */
    enum vcpu_state target; /* what the main thread wants: PAUSED, RUNNING or EXITED */
};

static int kick_signal(void)
{
    return SIGRTMIN;
}

static void kick_handler(int sig)
{
    (void)sig; /* only here to interrupt KVM_RUN */
}

int vcpu_install_kick_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: the point of the signal is to make KVM_RUN return. */
    if (sigaction(kick_signal(), &sa, NULL) < 0)
        return -errno;
    return 0;
}

const char *vcpu_state_name(enum vcpu_state s)
{
    switch (s) {
    case VCPU_STARTING:
        return "starting";
    case VCPU_PAUSED:
        return "paused";
    case VCPU_RUNNING:
        return "running";
    case VCPU_EXITED:
        return "exited";
    }
    return "unknown";
}

static void set_state(struct vcpu *v, enum vcpu_state s)
{
    v->state = s;
    pthread_cond_broadcast(&v->cond);
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;

    pthread_mutex_lock(&v->lock);
    for (;;) {
        while (v->target == VCPU_PAUSED) {
            if (v->state != VCPU_PAUSED)
                set_state(v, VCPU_PAUSED);
            pthread_cond_wait(&v->cond, &v->lock);
        }
        if (v->target == VCPU_EXITED)
            break;
        if (v->state != VCPU_RUNNING)
            set_state(v, VCPU_RUNNING);
        v->run->immediate_exit = 0;
        pthread_mutex_unlock(&v->lock);

        int ret = ioctl(v->fd, KVM_RUN, 0);
        int err = ret < 0 ? errno : 0;
        bool stop = false;
        if (ret < 0 && err != EINTR && err != EAGAIN) {
            vlog_err(-err, "vcpu %u: KVM_RUN", v->index);
            vm_request_fail(v->vm, -err);
            stop = true;
        } else if (ret == 0) {
            stop = vcpu_handle_exit(v->vm, v->index, v->fd, v->run, v->run_size) != 0;
        }

        pthread_mutex_lock(&v->lock);
        /* A guest power-off or a VMM error parks this vCPU until the main thread ends it. */
        if (stop && v->target == VCPU_RUNNING)
            v->target = VCPU_PAUSED;
    }
    set_state(v, VCPU_EXITED);
    pthread_mutex_unlock(&v->lock);
    return NULL;
}

int vcpu_create(struct vm *vm, unsigned index, const struct kvm_cpuid2 *cpuid, struct vcpu **out)
{
    struct vcpu *v = calloc(1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    v->vm = vm;
    v->index = index;
    v->fd = -1;
    v->state = VCPU_STARTING;
    v->target = VCPU_PAUSED;
    pthread_mutex_init(&v->lock, NULL);
    pthread_cond_init(&v->cond, NULL);

    int err = 0;
    v->fd = ioctl(vm_fd(vm), KVM_CREATE_VCPU, (unsigned long)index);
    if (v->fd < 0) {
        err = vlog_err(-errno, "vcpu %u: KVM_CREATE_VCPU", index);
        goto fail;
    }
    int sz = ioctl(vm_kvm_fd(vm), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (sz < (int)sizeof(struct kvm_run)) {
        err = vlog_err(sz < 0 ? -errno : -EINVAL, "KVM_GET_VCPU_MMAP_SIZE");
        goto fail;
    }
    v->run_size = (size_t)sz;
    v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        err = vlog_err(-errno, "vcpu %u: mmap kvm_run", index);
        goto fail;
    }

    if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0) {
        err = vlog_err(-errno, "vcpu %u: KVM_SET_CPUID2", index);
        goto fail;
    }
    *out = v;
    return 0;
fail:
    vcpu_destroy(v);
    return err;
}

int vcpu_start(struct vcpu *v)
{
    /* The kick signal must be deliverable to this thread, whatever the creator blocked. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, kick_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, &old);
    int err = pthread_create(&v->thread, NULL, vcpu_thread, v);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err)
        return -err;
    v->thread_started = true;
    return 0;
}

int vcpu_request_run(struct vcpu *v)
{
    pthread_mutex_lock(&v->lock);
    int err = v->target == VCPU_EXITED ? -ESRCH : 0;
    if (!err) {
        v->target = VCPU_RUNNING;
        pthread_cond_broadcast(&v->cond);
    }
    pthread_mutex_unlock(&v->lock);
    return err;
}

/* Caller holds v->lock. */
static void kick_locked(struct vcpu *v)
{
    if (v->run)
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (v->thread_started && v->state == VCPU_RUNNING)
        pthread_kill(v->thread, kick_signal());
    pthread_cond_broadcast(&v->cond);
}

int vcpu_request_pause(struct vcpu *v)
{
    pthread_mutex_lock(&v->lock);
    int err = v->target == VCPU_EXITED ? -ESRCH : 0;
    if (!err) {
        v->target = VCPU_PAUSED;
        kick_locked(v);
    }
    pthread_mutex_unlock(&v->lock);
    return err;
}

int vcpu_wait_state(struct vcpu *v, enum vcpu_state state, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    int err = 0;
    pthread_mutex_lock(&v->lock);
    while (v->state != state && !err) {
        if (!v->thread_started) {
            err = -ESRCH;
            break;
        }
        int rc = pthread_cond_timedwait(&v->cond, &v->lock, &deadline);
        if (rc == ETIMEDOUT && v->state != state)
            err = -ETIMEDOUT;
    }
    pthread_mutex_unlock(&v->lock);
    return err;
}

enum vcpu_state vcpu_state(struct vcpu *v)
{
    pthread_mutex_lock(&v->lock);
    enum vcpu_state s = v->state;
    pthread_mutex_unlock(&v->lock);
    return s;
}

int vcpu_fd(const struct vcpu *v)
{
    return v->fd;
}

void vcpu_destroy(struct vcpu *v)
{
    if (!v)
        return;
    if (v->thread_started) {
        pthread_mutex_lock(&v->lock);
        v->target = VCPU_EXITED;
        kick_locked(v);
        pthread_mutex_unlock(&v->lock);
        pthread_join(v->thread, NULL);
    }
    if (v->run)
        munmap(v->run, v->run_size);
    if (v->fd >= 0)
        close(v->fd);
    pthread_cond_destroy(&v->cond);
    pthread_mutex_destroy(&v->lock);
    free(v);
}
