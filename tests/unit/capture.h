/* Capturing what code under test writes to stderr: fd 2 goes to a temporary file, whose text
 * comes back when the capture ends. Lets tests check error messages and keeps the noise of
 * deliberately provoked errors out of the test log. */
#ifndef VMRUN_TESTS_CAPTURE_H
#define VMRUN_TESTS_CAPTURE_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct capture {
    FILE *file;
    int saved;
};

static inline void capture_start(struct capture *c)
{
    fflush(stderr);
    c->file = tmpfile();
    assert_non_null(c->file);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(fileno(c->file), STDERR_FILENO) >= 0);
}

static inline void capture_restore(struct capture *c)
{
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    rewind(c->file);
}

/* Restore stderr; the captured text (at most cap - 1 bytes) goes to out; returns its length. */
static inline size_t capture_end(struct capture *c, char *out, size_t cap)
{
    capture_restore(c);
    size_t n = fread(out, 1, cap - 1, c->file);
    out[n] = '\0';
    fclose(c->file);
    return n;
}

/* Restore stderr; only the last captured line (without its newline) goes to out. */
static inline void capture_end_last_line(struct capture *c, char *out, size_t cap)
{
    char line[512];
    capture_restore(c);
    out[0] = '\0';
    while (fgets(line, sizeof(line), c->file)) {
        line[strcspn(line, "\n")] = '\0';
        snprintf(out, cap, "%s", line);
    }
    fclose(c->file);
}

#endif
