/* vCPU threads: explicit state machines driven by the main thread. */
#ifndef VMRUN_VCPU_H
#define VMRUN_VCPU_H

#include <linux/kvm.h>
#include <stdint.h>

struct vm;
struct vcpu;

#define VCPU_MAX_MSRS 512

/* Everything KVM holds for one vCPU, as plain data (no pointers or fds), for snapshots. */
struct vcpu_saved {
    struct kvm_mp_state mp;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_xsave xsave; /* valid when has_xsave, else fpu */
    struct kvm_fpu fpu;
    struct kvm_xcrs xcrs; /* valid when has_xcrs */
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    struct kvm_debugregs debugregs;
    uint32_t has_xsave, has_xcrs;
    uint32_t tsc_khz; /* 0 when KVM could not tell */
    uint32_t nmsrs;
    struct kvm_msr_entry msrs[VCPU_MAX_MSRS];
};

/* The MSRs a snapshot carries: KVM's save list, filtered to those this host can read back. */
struct vcpu_msr_list {
    uint32_t n;
    uint32_t index[VCPU_MAX_MSRS];
};

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
/* Build the MSR list from KVM_GET_MSR_INDEX_LIST, probing each MSR on a paused vCPU. */
int vcpu_msr_list_probe(int kvm_fd, struct vcpu *probe, struct vcpu_msr_list *out);
/* Read the vCPU's whole state (the vCPU must be paused). */
int vcpu_save(struct vcpu *v, const struct vcpu_msr_list *msrs, struct vcpu_saved *st);
/* Load a saved state into a paused vCPU, in KVM's required order; errors name the piece. */
int vcpu_restore(struct vcpu *v, const struct vcpu_saved *st);
/* Install the (empty) kick signal handler once per process; idempotent. */
int vcpu_install_kick_handler(void);

#endif
