/* File reading that never trusts the file: regular files only, sizes capped, short reads errors. */
#include "vmrun/file.h"

#include "vmrun/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int file_pread_full(int fd, void *buf, size_t len, uint64_t offset)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO; /* the file shrank under us */
        done += (size_t)n;
    }
    return 0;
}

int file_read_all(const char *path, size_t max, void **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vlog_err(-errno, "%s", path);
    struct stat st;
    int err = 0;
    void *data = NULL;
    if (fstat(fd, &st) < 0) {
        err = vlog_err(-errno, "%s", path);
    } else if (!S_ISREG(st.st_mode)) {
        err = vlog_err(-EINVAL, "%s: not a regular file", path);
    } else if ((uint64_t)st.st_size > max) {
        err = vlog_err(-EFBIG, "%s: %lld bytes, at most %zu allowed", path, (long long)st.st_size,
                       max);
    } else if (st.st_size == 0) {
        err = vlog_err(-EINVAL, "%s: empty file", path);
    } else if (!(data = malloc((size_t)st.st_size))) {
        err = -ENOMEM;
    } else if ((err = file_pread_full(fd, data, (size_t)st.st_size, 0)) != 0) {
        vlog_err(err, "%s: read", path);
        free(data);
        data = NULL;
    }
    close(fd);
    if (err)
        return err;
    *buf = data;
    *len = (size_t)st.st_size;
    return 0;
}
