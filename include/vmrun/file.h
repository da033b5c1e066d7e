/* Whole-file helpers with size limits, for kernels, initrds and snapshot files. */
#ifndef VMRUN_FILE_H
#define VMRUN_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Read all of path (a regular file of at most max bytes) into a malloc'd buffer. */
int file_read_all(const char *path, size_t max, void **buf, size_t *len);
/* Read exactly len bytes from fd at offset into buf (short files give -EIO). */
int file_pread_full(int fd, void *buf, size_t len, uint64_t offset);

#endif
