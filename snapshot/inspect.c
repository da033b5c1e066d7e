/* Describing snapshots. Reading goes through the same validating parsers restore uses, so a
 * snapshot inspect accepts is one restore will accept. */
#include "vmrun/inspect.h"

#include "vmrun/log.h"
#include "vmrun/machine_state.h"
#include "vmrun/memimg.h"
#include "vmrun/snapdir.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CHAIN 64

static void progress(void *ctx, uint64_t done, uint64_t total)
{
    const char *path = ctx;
    fprintf(stderr, "\rvmrun: verifying %s: chunk %llu/%llu", path, (unsigned long long)done,
            (unsigned long long)total);
    if (done == total)
        fputc('\n', stderr);
}

/* Open (and with verify, check) the memory image of one snapshot. */
static int check_memory(const char *dir, const struct machine_state *ms, bool verify,
                        struct memimg_summary *sum)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/%s", dir, SNAPDIR_MEMORY_FILE);
    struct memimg *m;
    int err = memimg_open(path, ms->memory.index_hash, &m);
    if (err)
        return err;
    memimg_get_summary(m, sum);
    if (sum->ram_bytes != ms->memory.size || sum->chunk_size != ms->memory.chunk_size)
        err = vlog_err(-EBADMSG, "%s: RAM size or chunk size differ from %s", path,
                       SNAPDIR_STATE_FILE);
    if (!err && verify) {
        uint64_t bad = 0;
        bool tty = isatty(STDERR_FILENO);
        err = memimg_verify(m, &bad, tty ? progress : NULL, path);
        if (err)
            vlog_msg("%s: chunk %llu failed verification", path, (unsigned long long)bad);
    }
    memimg_close(m);
    return err;
}

static struct json_object *describe_json(const char *dir, const struct machine_state *ms,
                                         const struct memimg_summary *sum)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "dir", json_object_new_string(dir));
    json_object_object_add(o, "format_version", json_object_new_int((int)ms->format_version));
    json_object_object_add(o, "host_cpu", json_object_new_string(ms->host_cpu));
    json_object_object_add(o, "vcpus", json_object_new_int((int)ms->ncpus));
    struct json_object *devs = json_object_new_array();
    json_object_array_add(devs, json_object_new_string("serial@3f8"));
    for (unsigned i = 0; i < ms->ndisks; i++) {
        char d[MS_PATH_MAX + 32];
        snprintf(d, sizeof(d), "virtio-blk@%u %s%s", i, ms->disks[i].path,
                 ms->disks[i].ro ? " (ro)" : "");
        json_object_array_add(devs, json_object_new_string(d));
    }
    json_object_object_add(o, "devices", devs);
    json_object_object_add(o, "memory_bytes", json_object_new_int64((int64_t)ms->memory.size));
    json_object_object_add(o, "chunk_size", json_object_new_int((int)sum->chunk_size));
    json_object_object_add(o, "chunks_total", json_object_new_int64((int64_t)sum->chunks_total));
    json_object_object_add(o, "chunks_stored", json_object_new_int64((int64_t)sum->chunks_data));
    json_object_object_add(o, "chunks_zero", json_object_new_int64((int64_t)sum->chunks_zero));
    json_object_object_add(o, "chunks_absent", json_object_new_int64((int64_t)sum->chunks_absent));
    json_object_object_add(o, "compressed_bytes", json_object_new_int64((int64_t)sum->data_bytes));
    json_object_object_add(o, "file_bytes", json_object_new_int64((int64_t)sum->file_bytes));
    double ratio = sum->data_bytes ? (double)sum->uncompressed_bytes / (double)sum->data_bytes : 0;
    json_object_object_add(o, "ratio", json_object_new_double(ratio));
    json_object_object_add(o, "parent", ms->parent[0] ? json_object_new_string(ms->parent) : NULL);
    return o;
}

static void describe_text(FILE *out, const char *dir, const struct machine_state *ms,
                          const struct memimg_summary *sum, unsigned depth)
{
    const char *pad = depth ? "  parent: " : "";
    fprintf(out, "%ssnapshot %s\n", pad, dir);
    if (depth)
        return;
    fprintf(out, "  format version  %u\n  host cpu        %s\n  vcpus           %u\n",
            ms->format_version, ms->host_cpu, ms->ncpus);
    fprintf(out, "  devices         serial@3f8");
    for (unsigned i = 0; i < ms->ndisks; i++)
        fprintf(out, ", virtio-blk@%u (%s%s)", i, ms->disks[i].path, ms->disks[i].ro ? ", ro" : "");
    double ratio = sum->data_bytes ? (double)sum->uncompressed_bytes / (double)sum->data_bytes : 0;
    fprintf(out, "\n  memory          %llu MiB in %u KiB chunks\n",
            (unsigned long long)(ms->memory.size >> 20), sum->chunk_size >> 10);
    fprintf(out, "  chunks          %llu stored, %llu zero, %llu from parent, %llu total\n",
            (unsigned long long)sum->chunks_data, (unsigned long long)sum->chunks_zero,
            (unsigned long long)sum->chunks_absent, (unsigned long long)sum->chunks_total);
    fprintf(out, "  compressed      %.1f MB (ratio %.2f), memory.lz4 %.1f MB\n",
            sum->data_bytes / 1e6, ratio, sum->file_bytes / 1e6);
}

int snapshot_inspect(const char *dir, bool verify, bool json, FILE *out)
{
    struct machine_state *ms = calloc(1, sizeof(*ms));
    if (!ms)
        return -ENOMEM;
    struct json_object *chain = json ? json_object_new_array() : NULL;
    char cur[MS_PATH_MAX];
    snprintf(cur, sizeof(cur), "%s", dir);
    uint64_t expect_hash = 0;
    int err = 0;
    for (unsigned depth = 0; !err && depth < MAX_CHAIN; depth++) {
        err = snapdir_read_state(cur, ms);
        struct memimg_summary sum;
        if (!err)
            err = check_memory(cur, ms, verify, &sum);
        if (!err && depth && ms->memory.index_hash != expect_hash)
            err = vlog_err(-EBADMSG, "%s: not the parent the child recorded (index hash differs)",
                           cur);
        if (err)
            break;
        if (json)
            json_object_array_add(chain, describe_json(cur, ms, &sum));
        else
            describe_text(out, cur, ms, &sum, depth);
        if (!ms->parent[0])
            break;
        expect_hash = ms->parent_index_hash;
        snprintf(cur, sizeof(cur), "%s", ms->parent);
        if (depth + 1 == MAX_CHAIN)
            err = vlog_err(-ELOOP, "%s: parent chain longer than %d", dir, MAX_CHAIN);
    }
    if (!err && verify && !json)
        fprintf(out, "verify: OK (every hash in the chain checked)\n");
    if (json) {
        if (!err) {
            struct json_object *top = json_object_new_object();
            json_object_object_add(top, "chain", chain);
            json_object_object_add(top, "verified", json_object_new_boolean(verify));
            fprintf(out, "%s\n", json_object_to_json_string_ext(top, JSON_C_TO_STRING_PRETTY));
            json_object_put(top);
        } else {
            json_object_put(chain);
        }
    }
    free(ms);
    return err;
}
