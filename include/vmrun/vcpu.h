/* vCPU threads: explicit state machines driven by the main thread. */
#ifndef VMRUN_VCPU_H
#define VMRUN_VCPU_H

#include <stdint.h>

struct vm;
struct vcpu;

enum vcpu_state {
    VCPU_STARTING, /* thread created, not yet parked */
    VCPU_PAUSED,   /* parked outside KVM_RUN; registers may be read or written */
    VCPU_RUNNING,  /* inside or around KVM_RUN */
    VCPU_EXITED,   /* thread finished; join pending */
};

struct kvm_cpuid2;

/* Create KVM vCPU index with the given (already per-vCPU) CPUID table; no thread yet. */
int vcpu_create(struct vm *vm, unsigned index, const struct kvm_cpuid2 *cpuid, struct vcpu **out);
/* Start the thread; it parks in VCPU_PAUSED until vcpu_request_run(). */
int vcpu_start(struct vcpu *v);
/* Ask a paused vCPU to run. */
int vcpu_request_run(struct vcpu *v);
/* Ask a running vCPU to park: sets immediate_exit and signals the thread. */
int vcpu_request_pause(struct vcpu *v);
/* Wait up to timeout_ms for the vCPU to reach state; -ETIMEDOUT otherwise. */
int vcpu_wait_state(struct vcpu *v, enum vcpu_state state, int timeout_ms);
/* Current state (for status reports). */
enum vcpu_state vcpu_state(struct vcpu *v);
/* Stop the thread (from any state), join it, close the fd; NULL is allowed. */
void vcpu_destroy(struct vcpu *v);
/* The KVM vCPU file descriptor (valid only while paused for register access). */
int vcpu_fd(const struct vcpu *v);
/* Human-readable state name. */
const char *vcpu_state_name(enum vcpu_state s);
/* Install the (empty) kick signal handler once per process; idempotent. */
int vcpu_install_kick_handler(void);

#endif
