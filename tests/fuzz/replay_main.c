/* Replay driver: runs a fuzz target's LLVMFuzzerTestOneInput once on every file of a corpus
 * directory, so the checked-in seeds and crash reproducers run in ordinary ctest (gcc, with or
 * without sanitizers) without libFuzzer. A reproducer that still crashes crashes this process.
 *
 *   fuzz_<target>_replay DIR
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read all of path into an exactly-sized buffer, so a read past the input's end is an ASan
 * report here just as it is under libFuzzer. */
static int load(int dirfd, const char *name, uint8_t **buf, size_t *len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int err = -errno;
        if (fd >= 0)
            close(fd);
        return err;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return 1; /* not an input: skipped */
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n ? n : 1);
    size_t got = 0;
    while (b && got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!b || got != n) {
        free(b);
        return -EIO;
    }
    *buf = b;
    *len = n;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    struct dirent **names;
    int n = scandir(argv[1], &names, NULL, alphasort);
    int dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (n < 0 || dirfd < 0) {
        fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    int ran = 0, status = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc = name[0] == '.' ? 1 : load(dirfd, name, &buf, &len);
        if (rc < 0) {
            fprintf(stderr, "%s/%s: %s\n", argv[1], name, strerror(-rc));
            status = 1;
        } else if (rc == 0) {
            fprintf(stderr, "replay: %s (%zu bytes)\n", name, len);
            LLVMFuzzerTestOneInput(buf, len);
            free(buf);
            ran++;
        }
        free(names[i]);
    }
    free(names);
    close(dirfd);
    printf("replayed %d input(s) from %s\n", ran, argv[1]);
    /* An empty corpus means a wrong path, not a pass. */
    return ran == 0 ? 1 : status;
}
