/* Scratch directories of the snapshot tests: count what a test left in one, and remove it.
 * Include after <cmocka.h>. */
#ifndef VMRUN_TESTS_TMPDIR_H
#define VMRUN_TESTS_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Entries in dir other than . and .. */
static inline int tmpdir_count(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Unlink every file in dir, then dir itself (the tests create no subdirectories). */
static inline void tmpdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    char p[400];
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
            unlink(p);
        }
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

#endif
