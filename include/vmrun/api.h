/* The control socket: one JSON request per line, one JSON reply per line, on a UNIX socket. */
#ifndef VMRUN_API_H
#define VMRUN_API_H

#include <stdbool.h>
#include <stddef.h>

struct api_server;
struct json_object;

/* What the server asks of the VM. Each returns 0 or -errno; msg (cap bytes) may carry a
 * human-readable error or result text. Called from the thread that calls api_server_handle(). */
struct api_ops {
    int (*pause)(void *ctx, char *msg, size_t cap);
    int (*resume)(void *ctx, char *msg, size_t cap);
    /* Snapshot into dir; diff: only chunks dirtied since the last snapshot. result gets fields. */
    int (*snapshot)(void *ctx, const char *dir, bool diff, struct json_object *result, char *msg,
                    size_t cap);
    /* Fill result with the VM's status (state, vcpus, memory...). */
    int (*status)(void *ctx, struct json_object *result);
    /* Stop the VM (the main loop ends after replying). */
    int (*stop)(void *ctx, char *msg, size_t cap);
    void *ctx;
};

/* Listen on path (an existing socket file is replaced; any other file is an error). */
int api_server_create(const char *path, const struct api_ops *ops, struct api_server **out);
/* Close every connection, unlink the socket; NULL is allowed. */
void api_server_destroy(struct api_server *s);
/* File descriptors to poll for input (listener and clients); returns how many were written. */
size_t api_server_fds(const struct api_server *s, int *fds, size_t cap);
/* poll() events for fd: POLLIN, plus POLLOUT while a reply waits for the client to read (only
 * POLLOUT once the client has half-closed). 0 for an fd that is not the server's. */
short api_server_events(const struct api_server *s, int fd);
/* Serve whatever is readable on fd (accept, read lines, dispatch, reply); never blocks. */
int api_server_handle(struct api_server *s, int fd);

/* Client side: send one request {"cmd": cmd, ...args} to path and return the parsed reply
 * (caller frees with json_object_put). timeout_ms bounds the whole exchange. */
int api_client_call(const char *path, const char *cmd, struct json_object *args, int timeout_ms,
                    struct json_object **reply);

#endif
