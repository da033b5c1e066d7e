/* The control socket client used by `vmrun pause|resume|snapshot|...`: one request, one reply,
 * the whole exchange bounded by a deadline so a wedged VM cannot hang the CLI. */
#include "vmrun/api.h"
#include "vmrun/log.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

/* Larger than any request line the server accepts, so status replies have room to grow. */
#define API_REPLY_MAX (1024 * 1024)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until the deadline (-1: none); 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int left = -1;
        if (deadline >= 0) {
            int64_t d = deadline - now_ms();
            if (d <= 0)
                return -ETIMEDOUT;
            left = d > INT32_MAX ? INT32_MAX : (int)d;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

static int client_connect(const char *path, int64_t deadline, int *out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(sa.sun_path)) {
        vlog_msg("%s: invalid socket path (1 to %zu bytes)", path, sizeof(sa.sun_path) - 1);
        return len ? -ENAMETOOLONG : -EINVAL;
    }
    memcpy(sa.sun_path, path, len + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return vlog_err(-errno, "socket");
    /* A UNIX connect never goes in progress: it succeeds, fails, or says EAGAIN when the
     * listener's backlog is full, which is worth retrying until the deadline. */
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = errno;
        if (err == EINTR)
            continue;
        if (err == EAGAIN && (deadline < 0 || now_ms() < deadline)) {
            poll(NULL, 0, 10);
            continue;
        }
        close(fd);
        if (err == ENOENT || err == ECONNREFUSED) {
            vlog_msg("%s: no VM listening (is vmrun running with --api-sock?)", path);
            return -err;
        }
        if (err == EAGAIN) {
            vlog_msg("%s: connect: the VM is not accepting connections", path);
            return -ETIMEDOUT;
        }
        return vlog_err(-err, "%s: connect", path);
    }
    *out = fd;
    return 0;
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int rc = wait_fd(fd, POLLOUT, deadline);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Read up to the first '\n' (excluded) into a NUL-terminated heap buffer. */
static int recv_line(int fd, int64_t deadline, char **line, size_t *line_len)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        ssize_t n = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
        if (n > 0) {
            char *nl = memchr(buf + len, '\n', (size_t)n);
            len += (size_t)n;
            if (nl) {
                *nl = '\0';
                *line = buf;
                *line_len = (size_t)(nl - buf);
                return 0;
            }
            if (len + 1 == cap) {
                char *p = cap < API_REPLY_MAX ? realloc(buf, cap * 2) : NULL;
                if (!p) {
                    free(buf);
                    return cap < API_REPLY_MAX ? -ENOMEM : -EPROTO;
                }
                buf = p;
                cap *= 2;
            }
            continue;
        }
        int rc = n == 0 ? -EPROTO : -errno;
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            rc = errno == EINTR ? 0 : wait_fd(fd, POLLIN, deadline);
        if (rc < 0) {
            free(buf);
            return rc;
        }
    }
}

static int build_request(const char *cmd, struct json_object *args, struct json_object **out)
{
    if (args && !json_object_is_type(args, json_type_object))
        return -EINVAL;
    struct json_object *req = json_object_new_object();
    if (!req)
        return -ENOMEM;
    json_object_object_add(req, "cmd", json_object_new_string(cmd));
    if (args) {
        json_object_object_foreach(args, key, val)
        {
            if (strcmp(key, "cmd") != 0)
                json_object_object_add(req, key, json_object_get(val));
        }
    }
    *out = req;
    return 0;
}

static int parse_reply(const char *path, const char *line, size_t len, struct json_object **reply)
{
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return -ENOMEM;
    struct json_object *obj = json_tokener_parse_ex(tok, line, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    bool whole = json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    struct json_object *ok;
    if (jerr != json_tokener_success || !whole || !json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, "ok", &ok) || !json_object_is_type(ok, json_type_boolean)) {
        json_object_put(obj);
        vlog_msg("%s: invalid reply from the VM (expected a JSON object with \"ok\")", path);
        return -EPROTO;
    }
    *reply = obj;
    return 0;
}

int api_client_call(const char *path, const char *cmd, struct json_object *args, int timeout_ms,
                    struct json_object **reply)
{
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    struct json_object *req = NULL;
    char *line = NULL;
    size_t line_len = 0;
    int fd = -1;
    *reply = NULL;

    int rc = build_request(cmd, args, &req);
    if (rc < 0)
        return vlog_err(rc, "%s: build request", cmd);
    rc = client_connect(path, deadline, &fd);
    if (rc < 0)
        goto out;
    size_t req_len;
    const char *txt = json_object_to_json_string_length(
        req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &req_len);
    rc = send_all(fd, txt, req_len, deadline);
    if (rc == 0)
        rc = send_all(fd, "\n", 1, deadline);
    if (rc == 0)
        rc = recv_line(fd, deadline, &line, &line_len);
    if (rc == -ETIMEDOUT)
        vlog_msg("%s: no reply to \"%s\" within %d ms", path, cmd, timeout_ms);
    else if (rc == -EPROTO)
        vlog_msg("%s: connection closed or reply too long before a complete reply", path);
    else if (rc < 0)
        vlog_err(rc, "%s: %s", path, cmd);
    else
        rc = parse_reply(path, line, line_len, reply);
out:
    if (fd >= 0)
        close(fd);
    free(line);
    json_object_put(req);
    return rc;
}
