/* The control socket server: line-delimited JSON requests, dispatched to api_ops, from a
 * non-blocking event loop that must never stall the VM because of a slow or hostile client. */
#include "vmrun/api.h"
#include "vmrun/log.h"
#include "api_request.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#define API_MAX_CLIENTS 16
#define API_LINE_MAX (64 * 1024)
/* A client that stops reading may queue this much before it is dropped. */
#define API_OUT_MAX (1024 * 1024)
/* Reads per api_server_handle() call: one chatty client cannot starve the VM's loop. */
#define API_READS_PER_CALL 8
#define API_JSON_DEPTH 16
#define STR_(x) #x
#define STR(x) STR_(x)

struct api_conn {
    int fd;
    bool draining; /* peer half-closed: send what is queued, then close */
    char *in;      /* API_LINE_MAX + 1 bytes: a maximal line plus its '\n' */
    size_t in_len;
    size_t scanned; /* in[0..scanned) holds no '\n' */
    char *out;
    size_t out_len, out_off, out_cap;
};

struct api_server {
    int listen_fd;
    char *path;
    dev_t dev; /* identity of our socket file, so destroy never unlinks a successor's */
    ino_t ino;
    struct api_ops ops;
    struct json_tokener *tok;
    struct api_conn conns[API_MAX_CLIENTS];
    size_t nconns;
};

static void conn_close(struct api_server *s, size_t i)
{
    close(s->conns[i].fd);
    free(s->conns[i].in);
    free(s->conns[i].out);
    s->conns[i] = s->conns[--s->nconns];
}

/* Send queued output as far as the socket takes it: 0 (sent or would block) or -errno. */
static int conn_flush(struct api_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

static int conn_queue(struct api_conn *c, const char *data, size_t len)
{
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (len > API_OUT_MAX - c->out_len)
        return -ENOBUFS;
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p)
            return -ENOMEM;
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return conn_flush(c);
}

/* Queue one reply line; the reply object is consumed. */
static int conn_reply(struct api_conn *c, struct json_object *reply)
{
    size_t len;
    const char *txt = json_object_to_json_string_length(
        reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    int rc = txt ? conn_queue(c, txt, len) : -ENOMEM;
    json_object_put(reply);
    return rc ? rc : conn_queue(c, "\n", 1);
}

/* Dispatch every complete line in the input buffer; -errno means drop the connection. */
static int conn_process(struct api_server *s, struct api_conn *c)
{
    size_t start = 0;
    for (;;) {
        char *nl = memchr(c->in + c->scanned, '\n', c->in_len - c->scanned);
        if (!nl)
            break;
        size_t len = (size_t)(nl - (c->in + start));
        c->scanned = (size_t)(nl - c->in) + 1;
        const char *line = c->in + start;
        start = c->scanned;
        size_t blank = 0;
        while (blank < len && strchr(" \t\r", line[blank]))
            blank++;
        if (blank == len) /* empty lines are keep-alives from interactive tools */
            continue;
        int rc = conn_reply(c, api_request_reply(&s->ops, s->tok, line, len));
        if (rc < 0)
            return rc;
    }
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
    c->scanned -= start;
    if (c->in_len > API_LINE_MAX) {
        char err[64];
        snprintf(err, sizeof(err), "request line longer than %d bytes", API_LINE_MAX);
        conn_reply(c, api_request_error(err));
        return -EMSGSIZE; /* resynchronising inside an unbounded line is guesswork: hang up */
    }
    return 0;
}

static int conn_read(struct api_server *s, struct api_conn *c)
{
    if (c->draining)
        return conn_flush(c) < 0 || c->out_len == 0 ? -EPIPE : 0;
    for (int i = 0; i < API_READS_PER_CALL; i++) {
        ssize_t n = recv(c->fd, c->in + c->in_len, API_LINE_MAX + 1 - c->in_len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0)
            return -errno;
        if (n == 0) {
            /* A partial line at EOF is dropped; replies already queued still go out. */
            c->draining = true;
            return c->out_len == 0 ? -EPIPE : 0;
        }
        c->in_len += (size_t)n;
        int rc = conn_process(s, c);
        if (rc < 0)
            return rc;
    }
    return conn_flush(c);
}

static int server_accept(struct api_server *s)
{
    for (int i = 0; i < API_MAX_CLIENTS + 1; i++) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return vlog_err(-errno, "%s: accept", s->path);
        }
        struct api_conn c = {.fd = fd};
        if (s->nconns == API_MAX_CLIENTS) {
            /* Best effort: a fresh socket's buffer is empty, so this short line fits. */
            static const char busy[] =
                "{\"ok\":false,\"error\":\"too many clients (limit " STR(API_MAX_CLIENTS) ")\"}\n";
            (void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            close(fd);
            continue;
        }
        c.in = malloc(API_LINE_MAX + 1);
        if (!c.in) {
            close(fd);
            return -ENOMEM;
        }
        s->conns[s->nconns++] = c;
    }
    return 0;
}

int api_server_handle(struct api_server *s, int fd)
{
    if (fd == s->listen_fd)
        return server_accept(s);
    for (size_t i = 0; i < s->nconns; i++) {
        if (s->conns[i].fd != fd)
            continue;
        /* Any failure is the client's: drop it and keep serving the others. */
        if (conn_read(s, &s->conns[i]) < 0)
            conn_close(s, i);
        return 0;
    }
    return -EBADF;
}

size_t api_server_fds(const struct api_server *s, int *fds, size_t cap)
{
    size_t n = 0;
    if (n < cap)
        fds[n++] = s->listen_fd;
    for (size_t i = 0; i < s->nconns && n < cap; i++)
        fds[n++] = s->conns[i].fd;
    return n;
}

short api_server_events(const struct api_server *s, int fd)
{
    if (fd == s->listen_fd)
        return POLLIN;
    for (size_t i = 0; i < s->nconns; i++) {
        const struct api_conn *c = &s->conns[i];
        if (c->fd == fd)
            return (short)((c->draining ? 0 : POLLIN) | (c->out_len > c->out_off ? POLLOUT : 0));
    }
    return 0;
}

/* Replace a socket left behind by a killed vmrun, but never another live VM's or a user's file. */
static int prepare_path(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : vlog_err(-errno, "%s", path);
    if (!S_ISSOCK(st.st_mode)) {
        vlog_msg("%s: exists and is not a socket; refusing to replace it", path);
        return -EEXIST;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return vlog_err(-errno, "socket");
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int err = errno;
    close(fd);
    if (rc == 0 || err == EAGAIN) {
        vlog_msg("%s: another process is listening on this socket", path);
        return -EADDRINUSE;
    }
    /* Only a refused connection proves nobody is behind it (EACCES, say, proves nothing). */
    if (err != ECONNREFUSED)
        return vlog_err(-err, "%s: connect", path);
    if (unlink(path) < 0 && errno != ENOENT)
        return vlog_err(-errno, "%s: remove stale socket", path);
    return 0;
}

int api_server_create(const char *path, const struct api_ops *ops, struct api_server **out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = path ? strlen(path) : 0;
    *out = NULL;
    if (len == 0)
        return vlog_err(-EINVAL, "api socket path is empty");
    if (len >= sizeof(sa.sun_path)) {
        vlog_msg("%s: socket path is %zu bytes, the limit is %zu", path, len,
                 sizeof(sa.sun_path) - 1);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, len + 1);
    int rc = prepare_path(path);
    if (rc < 0)
        return rc;

    struct api_server *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->ops = *ops;
    s->listen_fd = -1;
    s->path = strdup(path);
    s->tok = json_tokener_new_ex(API_JSON_DEPTH);
    if (!s->path || !s->tok) {
        rc = -ENOMEM;
        goto fail;
    }
    json_tokener_set_flags(s->tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->listen_fd < 0) {
        rc = vlog_err(-errno, "socket");
        goto fail;
    }
    if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = vlog_err(-errno, "%s: bind", path);
        goto fail;
    }
    /* Until listen() every connect is refused, so tightening the mode here leaves no window,
     * and the process-wide umask stays untouched (other threads may be creating files). */
    struct stat st;
    if (chmod(path, 0600) < 0 || lstat(path, &st) < 0) {
        rc = vlog_err(-errno, "%s: chmod", path);
        unlink(path);
        goto fail;
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    if (listen(s->listen_fd, API_MAX_CLIENTS) < 0) {
        rc = vlog_err(-errno, "%s: listen", path);
        unlink(path);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->tok)
        json_tokener_free(s->tok);
    free(s->path);
    free(s);
    return rc;
}

void api_server_destroy(struct api_server *s)
{
    if (!s)
        return;
    while (s->nconns > 0) {
        /* Last chance for a queued reply such as the one to "stop". */
        conn_flush(&s->conns[s->nconns - 1]);
        conn_close(s, s->nconns - 1);
    }
    struct stat st;
    if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
        unlink(s->path);
    close(s->listen_fd);
    json_tokener_free(s->tok);
    free(s->path);
    free(s);
}
