/* The control socket's requests, served by the main loop between guest exits: pause, resume,
 * snapshot, status, stop. */
#include "vm_internal.h"

#include "vmrun/api.h"
#include "vmrun/log.h"
#include "vmrun/mem.h"
#include "vmrun/vcpu.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

static int api_pause(void *ctx, char *msg, size_t cap)
{
    struct vm *vm = ctx;
    if (vm->paused) {
        snprintf(msg, cap, "already paused");
        return 0;
    }
    int err = vm_pause(vm);
    if (err) {
        snprintf(msg, cap, "could not pause every vCPU in time");
        vm_resume(vm);
        return err;
    }
    vm->paused = true;
    return 0;
}

static int api_resume(void *ctx, char *msg, size_t cap)
{
    struct vm *vm = ctx;
    if (!vm->paused) {
        snprintf(msg, cap, "not paused");
        return 0;
    }
    int err = vm_resume(vm);
    if (!err)
        vm->paused = false;
    return err;
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
    json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

/* Snapshot to dir (diff or full); result (may be NULL) gets the figures as JSON fields. */
static int vm_api_snapshot(struct vm *vm, const char *dir, bool diff, struct json_object *result,
                           char *msg, size_t cap)
{
    struct vm_snapshot_opts o = {.dir = dir, .diff = diff};
    struct vm_snapshot_result r;
    int err = vm_snapshot(vm, &o, &r);
    if (err) {
        snprintf(msg, cap, "snapshot to %s failed (see vmrun's stderr); %s", dir,
                 vm_stopping(vm) ? "the VM is stopping" : "the VM continues");
        return err;
    }
    if (result) {
        json_object_object_add(result, "dir", json_object_new_string(dir));
        json_object_object_add(result, "diff", json_object_new_boolean(r.diff));
        json_object_object_add(result, "paused_ms", json_object_new_double(r.paused_ms));
        add_u64(result, "ram_bytes", r.ram_bytes);
        add_u64(result, "bytes_on_disk", r.bytes_on_disk);
        add_u64(result, "chunks_total", r.chunks_total);
        add_u64(result, "chunks_data", r.chunks_data);
        add_u64(result, "chunks_zero", r.chunks_zero);
        add_u64(result, "chunks_absent", r.chunks_absent);
    }
    if (diff && !r.diff)
        snprintf(msg, cap, "no earlier snapshot of this VM: wrote a full snapshot");
    return 0;
}

static int api_snapshot(void *ctx, const char *dir, bool diff, struct json_object *result,
                        char *msg, size_t cap)
{
    return vm_api_snapshot(ctx, dir, diff, result, msg, cap);
}

static int api_status(void *ctx, struct json_object *result)
{
    struct vm *vm = ctx;
    json_object_object_add(result, "state",
                           json_object_new_string(vm->paused ? "paused" : "running"));
    add_u64(result, "ram_bytes", gm_ram_size(vm->mem));
    struct json_object *cpus = json_object_new_array();
    for (unsigned i = 0; i < vm->ncpus; i++)
        json_object_array_add(cpus,
                              json_object_new_string(vcpu_state_name(vcpu_state(vm->vcpus[i]))));
    json_object_object_add(result, "vcpus", cpus);
    add_u64(result, "disks", vm->ndisks);
    if (vm->have_parent)
        json_object_object_add(result, "last_snapshot", json_object_new_string(vm->parent_dir));
    return 0;
}

static int api_stop(void *ctx, char *msg, size_t cap)
{
    (void)msg;
    (void)cap;
    vm_request_exit(ctx, 0);
    return 0;
}

void vm_api_ops(struct vm *vm, struct api_ops *ops)
{
    *ops = (struct api_ops){.pause = api_pause,
                            .resume = api_resume,
                            .snapshot = api_snapshot,
                            .status = api_status,
                            .stop = api_stop,
                            .ctx = vm};
}
