/* Crash-safe snapshot directories. The new snapshot is complete and durable in DIR.tmp-* before
 * DIR changes at all; the switch is one rename (or a RENAME_EXCHANGE when DIR exists), and the old
 * contents are deleted only afterwards. */
#include "vmrun/snapdir.h"

#include "vmrun/file.h"
#include "vmrun/log.h"
#include "vmrun/machine_state.h"
#include "vmrun/statetree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAX_BYTES (64u << 20)

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int err = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return err;
}

static int write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    const char *p = data;
    size_t done = 0;
    int err = 0;
    while (done < len && !err) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0 && errno != EINTR)
            err = -errno;
        else if (n > 0)
            done += (size_t)n;
    }
    if (!err && fdatasync(fd) < 0)
        err = -errno;
    if (close(fd) < 0 && !err)
        err = -errno;
    if (err)
        unlink(path);
    return err;
}

/* Remove a snapshot-shaped directory: only the files vmrun writes there, then the directory. */
static void remove_snapshot_dir(const char *dir)
{
    char p[PATH_MAX + 32];
    snprintf(p, sizeof(p), "%s/%s", dir, SNAPDIR_STATE_FILE);
    unlink(p);
    snprintf(p, sizeof(p), "%s/%s", dir, SNAPDIR_MEMORY_FILE);
    unlink(p);
    rmdir(dir);
}

static int parent_dir(const char *dir, char *out, size_t cap)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    snprintf(out, cap, "%s", dirname(tmp));
    return 0;
}

/* Put tmp at dir: a plain rename when dir is absent, else an atomic exchange, after which tmp
 * holds the previous snapshot (*swapped set) for the caller to delete when convenient. */
static int publish(const char *tmp, const char *dir, bool *swapped)
{
    struct stat st;
    if (lstat(dir, &st) < 0) {
        if (errno != ENOENT)
            return -errno;
        return rename(tmp, dir) < 0 ? -errno : 0;
    }
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    /* Refuse to swap out a directory that is not a vmrun snapshot (no vmstate.dtb). */
    char probe[PATH_MAX];
    snprintf(probe, sizeof(probe), "%s/%s", dir, SNAPDIR_STATE_FILE);
    if (access(probe, F_OK) != 0) {
        if (rmdir(dir) == 0) /* an empty directory is fine to take over */
            return rename(tmp, dir) < 0 ? -errno : 0;
        return -EEXIST;
    }
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) < 0)
        return -errno;
    *swapped = true;
    return 0;
}

void snapdir_remove(const char *old)
{
    if (old && *old)
        remove_snapshot_dir(old);
}

int snapdir_write(const char *dir, struct machine_state *ms, struct guest_mem *mem,
                  const struct snapdir_opts *opts, struct memimg_summary *sum, char *old,
                  size_t old_cap)
{
    if (old_cap)
        old[0] = '\0';
    bool swapped = false;
    /* Room for DIR.tmp-PID/FILE: the directory part is bounded well below PATH_MAX. */
    char tmp[PATH_MAX - 64], path[PATH_MAX], parent[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-%d", dir, (int)getpid()) >= (int)sizeof(tmp) ||
        parent_dir(dir, parent, sizeof(parent)) != 0)
        return vlog_err(-ENAMETOOLONG, "%s", dir);
    remove_snapshot_dir(tmp); /* left over by an earlier crash of this very pid number */
    if (mkdir(tmp, 0755) < 0)
        return vlog_err(-errno, "%s", tmp);

    snprintf(path, sizeof(path), "%s/%s", tmp, SNAPDIR_MEMORY_FILE);
    int err = memimg_write(path, mem, &opts->mem, sum);
    void *blob = NULL;
    size_t len = 0;
    if (!err) {
        ms->memory = (struct memory_saved){
            .size = sum->ram_bytes,
            .chunk_size = sum->chunk_size,
            .index_hash = sum->index_hash,
            .chunks_total = sum->chunks_total,
            .chunks_data = sum->chunks_data,
            .chunks_zero = sum->chunks_zero,
            .chunks_absent = sum->chunks_absent,
            .data_bytes = sum->data_bytes,
        };
        err = statetree_build(ms, &blob, &len);
    }
    if (!err) {
        snprintf(path, sizeof(path), "%s/%s", tmp, SNAPDIR_STATE_FILE);
        err = write_file(path, blob, len);
        if (err)
            vlog_err(err, "%s", path);
    }
    free(blob);
    if (!err && (err = fsync_path(tmp, O_RDONLY | O_DIRECTORY)) != 0)
        vlog_err(err, "%s: fsync", tmp);
    if (!err && (err = publish(tmp, dir, &swapped)) != 0)
        vlog_err(err, "%s: cannot replace it with the new snapshot%s", dir,
                 err == -EEXIST ? " (not empty and not a vmrun snapshot)" : "");
    if (!err && (err = fsync_path(parent, O_RDONLY | O_DIRECTORY)) != 0)
        vlog_err(err, "%s: fsync", parent);
    if (err && !swapped)
        remove_snapshot_dir(tmp);
    if (swapped) {
        /* Deleting a large file takes a while: left to the caller, once the guest runs again. */
        if (old_cap && strlen(tmp) < old_cap)
            memcpy(old, tmp, strlen(tmp) + 1);
        else
            remove_snapshot_dir(tmp);
    }
    return err;
}

int snapdir_read_state(const char *dir, struct machine_state *ms)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", dir, SNAPDIR_STATE_FILE) >= (int)sizeof(path))
        return vlog_err(-ENAMETOOLONG, "%s", dir);
    void *blob;
    size_t len;
    int err = file_read_all(path, STATE_MAX_BYTES, &blob, &len);
    if (err)
        return err;
    err = statetree_parse(blob, len, path, ms);
    free(blob);
    return err;
}
