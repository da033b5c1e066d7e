/* The control socket: a server with fake VM callbacks, driven over real UNIX sockets by the
 * client library (in a second thread) or by raw writes for malformed and adversarial input. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "vmrun/api.h"

#define WAIT_MS 5000

enum { OP_PAUSE, OP_RESUME, OP_SNAPSHOT, OP_STATUS, OP_STOP, OP_COUNT };

/* The VM as the server sees it: records calls, returns what the test chose. */
struct fake {
    int calls[OP_COUNT];
    char order[128];
    char dir[256];
    bool diff;
    int rc;
    const char *msg;
    size_t pad; /* status adds a "pad" string this long, to make replies big */
};

struct fixture {
    char dir[64];
    char path[128];
    char file[128];
    struct fake fake;
    struct api_ops ops;
    struct api_server *s;
};

static int fake_common(struct fake *f, int op, const char *name, char *msg, size_t cap)
{
    f->calls[op]++;
    strncat(f->order, name, sizeof(f->order) - strlen(f->order) - 1);
    if (f->msg && msg)
        snprintf(msg, cap, "%s", f->msg);
    return f->rc;
}

static int fake_pause(void *ctx, char *msg, size_t cap)
{
    return fake_common(ctx, OP_PAUSE, "pause,", msg, cap);
}

static int fake_resume(void *ctx, char *msg, size_t cap)
{
    return fake_common(ctx, OP_RESUME, "resume,", msg, cap);
}

static int fake_stop(void *ctx, char *msg, size_t cap)
{
    return fake_common(ctx, OP_STOP, "stop,", msg, cap);
}

static int fake_snapshot(void *ctx, const char *dir, bool diff, struct json_object *result,
                         char *msg, size_t cap)
{
    struct fake *f = ctx;
    snprintf(f->dir, sizeof(f->dir), "%s", dir);
    f->diff = diff;
    json_object_object_add(result, "bytes", json_object_new_int(4096));
    return fake_common(f, OP_SNAPSHOT, "snapshot,", msg, cap);
}

static int fake_status(void *ctx, struct json_object *result)
{
    struct fake *f = ctx;
    json_object_object_add(result, "state", json_object_new_string("running"));
    json_object_object_add(result, "vcpus", json_object_new_int(2));
    json_object_object_add(result, "ok", json_object_new_boolean(0)); /* must not leak out */
    if (f->pad) {
        char *p = malloc(f->pad + 1);
        memset(p, 'x', f->pad);
        p[f->pad] = '\0';
        json_object_object_add(result, "pad", json_object_new_string(p));
        free(p);
    }
    return fake_common(f, OP_STATUS, "status,", NULL, 0);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One turn of the VM's main loop. */
static void pump(struct api_server *s, int timeout_ms)
{
    int fds[64];
    struct pollfd p[64];
    size_t n = api_server_fds(s, fds, 64);
    for (size_t i = 0; i < n; i++)
        p[i] = (struct pollfd){.fd = fds[i], .events = api_server_events(s, fds[i])};
    int r = poll(p, n, timeout_ms);
    assert_true(r >= 0 || errno == EINTR);
    for (size_t i = 0; r > 0 && i < n; i++)
        if (p[i].revents)
            assert_int_equal(api_server_handle(s, p[i].fd), 0);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/vmrun-api-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->path, sizeof(fx->path), "%s/api.sock", fx->dir);
    snprintf(fx->file, sizeof(fx->file), "%s/other", fx->dir);
    fx->ops =
        (struct api_ops){fake_pause, fake_resume, fake_snapshot, fake_status, fake_stop, &fx->fake};
    *state = fx;
    return 0;
}

static int setup_server(void **state)
{
    if (setup(state) < 0)
        return -1;
    struct fixture *fx = *state;
    return api_server_create(fx->path, &fx->ops, &fx->s);
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    api_server_destroy(fx->s);
    unlink(fx->path);
    unlink(fx->file);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* api_client_call in a second thread while the test thread runs the server. */
struct call {
    const char *path, *cmd;
    struct json_object *args;
    int timeout_ms;
    int rc;
    struct json_object *reply;
    atomic_int done;
    pthread_t thread;
};

static void *call_thread(void *arg)
{
    struct call *c = arg;
    c->rc = api_client_call(c->path, c->cmd, c->args, c->timeout_ms, &c->reply);
    atomic_store(&c->done, 1);
    return NULL;
}

static void call_start(struct call *c, const char *path, const char *cmd, struct json_object *args)
{
    *c = (struct call){.path = path, .cmd = cmd, .args = args, .timeout_ms = WAIT_MS};
    assert_int_equal(pthread_create(&c->thread, NULL, call_thread, c), 0);
}

static void call_finish(struct api_server *s, struct call *c)
{
    int64_t end = now_ms() + 2 * WAIT_MS;
    while (!atomic_load(&c->done) && now_ms() < end) {
        if (s)
            pump(s, 10);
        else
            poll(NULL, 0, 1);
    }
    pthread_join(c->thread, NULL);
    json_object_put(c->args);
}

static struct json_object *call(struct fixture *fx, const char *cmd, struct json_object *args)
{
    struct call c;
    call_start(&c, fx->path, cmd, args);
    call_finish(fx->s, &c);
    assert_int_equal(c.rc, 0);
    assert_non_null(c.reply);
    return c.reply;
}

static int raw_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void raw_send(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

/* Run the server until fd has delivered nlines complete lines; returns the bytes read. */
static size_t raw_read_lines(struct api_server *s, int fd, char *buf, size_t cap, int nlines)
{
    size_t len = 0;
    int64_t end = now_ms() + WAIT_MS;
    while (now_ms() < end) {
        int seen = 0;
        for (size_t i = 0; i < len; i++)
            seen += buf[i] == '\n';
        if (seen >= nlines)
            break;
        pump(s, 10);
        ssize_t n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
        if (n > 0)
            len += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            break;
    }
    buf[len] = '\0';
    return len;
}

/* True once the server has hung up on fd (EOF, or a reset because input was left unread). */
static bool raw_closed(struct api_server *s, int fd)
{
    char c;
    int64_t end = now_ms() + WAIT_MS;
    while (now_ms() < end) {
        pump(s, 10);
        ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    }
    return false;
}

static struct json_object *parse_line(const char *line)
{
    struct json_object *r = json_tokener_parse(line);
    assert_non_null(r);
    assert_true(json_object_is_type(r, json_type_object));
    return r;
}

/* Send one raw line on a fresh connection and return the parsed reply. */
static struct json_object *raw_request(struct fixture *fx, const char *line, size_t len)
{
    char buf[4096];
    int fd = raw_connect(fx->path);
    raw_send(fd, line, len);
    raw_read_lines(fx->s, fd, buf, sizeof(buf), 1);
    close(fd);
    assert_non_null(strchr(buf, '\n'));
    assert_ptr_equal(strchr(buf, '\n'), buf + strlen(buf) - 1); /* exactly one reply */
    return parse_line(buf);
}

static bool reply_ok(struct json_object *r)
{
    struct json_object *ok;
    assert_true(json_object_object_get_ex(r, "ok", &ok));
    assert_true(json_object_is_type(ok, json_type_boolean));
    return json_object_get_boolean(ok);
}

static const char *reply_str(struct json_object *r, const char *key)
{
    struct json_object *v;
    assert_true(json_object_object_get_ex(r, key, &v));
    assert_true(json_object_is_type(v, json_type_string));
    return json_object_get_string(v);
}

/* The reply is ok:false with an error mentioning needle, and nothing reached the VM. */
static void expect_error(struct fixture *fx, const char *line, const char *needle)
{
    struct json_object *r = raw_request(fx, line, strlen(line));
    assert_false(reply_ok(r));
    const char *err = reply_str(r, "error");
    if (!strstr(err, needle))
        fail_msg("request %s: error \"%s\" does not mention %s", line, err, needle);
    json_object_put(r);
    for (int i = 0; i < OP_COUNT; i++)
        assert_int_equal(fx->fake.calls[i], 0);
}

static void roundtrip(struct fixture *fx, const char *cmd, int op)
{
    fx->fake.msg = "done";
    struct json_object *r = call(fx, cmd, NULL);
    assert_true(reply_ok(r));
    assert_string_equal(reply_str(r, "message"), "done");
    assert_int_equal(json_object_object_length(r), 2);
    json_object_put(r);
    for (int i = 0; i < OP_COUNT; i++)
        assert_int_equal(fx->fake.calls[i], i == op);
}

static void test_pause(void **state)
{
    roundtrip(*state, "pause", OP_PAUSE);
}

static void test_resume(void **state)
{
    roundtrip(*state, "resume", OP_RESUME);
}

static void test_stop(void **state)
{
    roundtrip(*state, "stop", OP_STOP);
}

static void test_status(void **state)
{
    struct fixture *fx = *state;
    struct json_object *r = call(fx, "status", NULL);
    assert_true(reply_ok(r)); /* the callback's own "ok" field cannot override the verdict */
    assert_string_equal(reply_str(r, "state"), "running");
    struct json_object *v;
    assert_true(json_object_object_get_ex(r, "vcpus", &v));
    assert_int_equal(json_object_get_int(v), 2);
    assert_int_equal(fx->fake.calls[OP_STATUS], 1);
    json_object_put(r);
}

static void test_snapshot(void **state)
{
    struct fixture *fx = *state;
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "dir", json_object_new_string("/var/snap/a b"));
    json_object_object_add(args, "diff", json_object_new_boolean(1));
    struct json_object *r = call(fx, "snapshot", args);
    assert_true(reply_ok(r));
    struct json_object *v;
    assert_true(json_object_object_get_ex(r, "bytes", &v));
    assert_int_equal(json_object_get_int(v), 4096);
    json_object_put(r);
    assert_string_equal(fx->fake.dir, "/var/snap/a b");
    assert_true(fx->fake.diff);

    /* diff defaults to false */
    const char req[] = "{\"cmd\":\"snapshot\",\"dir\":\"d2\"}\n";
    r = raw_request(fx, req, strlen(req));
    assert_true(reply_ok(r));
    json_object_put(r);
    assert_string_equal(fx->fake.dir, "d2");
    assert_false(fx->fake.diff);
    assert_int_equal(fx->fake.calls[OP_SNAPSHOT], 2);
}

static void test_snapshot_bad_fields(void **state)
{
    struct fixture *fx = *state;
    expect_error(fx, "{\"cmd\":\"snapshot\"}\n", "\"dir\"");
    expect_error(fx, "{\"cmd\":\"snapshot\",\"dir\":5}\n", "\"dir\"");
    expect_error(fx, "{\"cmd\":\"snapshot\",\"dir\":\"\"}\n", "\"dir\"");
    expect_error(fx, "{\"cmd\":\"snapshot\",\"dir\":\"a\\u0000b\"}\n", "\"dir\"");
    expect_error(fx, "{\"cmd\":\"snapshot\",\"dir\":\"d\",\"diff\":\"yes\"}\n", "\"diff\"");
    expect_error(fx, "{\"cmd\":\"snapshot\",\"dir\":\"d\",\"diff\":1}\n", "\"diff\"");
    expect_error(fx, "{\"cmd\":\"snapshot\",\"dir\":\"d\",\"dif\":true}\n", "\"dif\"");
}

static void test_invalid_json(void **state)
{
    struct fixture *fx = *state;
    expect_error(fx, "{\"cmd\":\n", "invalid JSON");
    expect_error(fx, "{cmd: pause}\n", "invalid JSON");
    expect_error(fx, "{\"cmd\":\"pause\"} x\n", "invalid JSON");
    expect_error(fx, "{\"cmd\":\"pause\"}{\"cmd\":\"stop\"}\n", "invalid JSON");
    expect_error(fx, "{\"cmd\":\"\xff\"}\n", "invalid JSON");
    struct json_object *r = raw_request(fx, "{\"cmd\":\0\"pause\"}\n", 17);
    assert_false(reply_ok(r));
    assert_non_null(strstr(reply_str(r, "error"), "invalid JSON"));
    json_object_put(r);
    assert_int_equal(fx->fake.calls[OP_PAUSE], 0);
}

static void test_not_an_object(void **state)
{
    struct fixture *fx = *state;
    expect_error(fx, "[1]\n", "JSON object");
    expect_error(fx, "\"x\"\n", "JSON object");
    expect_error(fx, "42\n", "JSON object");
    expect_error(fx, "null\n", "JSON object");
}

static void test_bad_cmd(void **state)
{
    struct fixture *fx = *state;
    expect_error(fx, "{\"cmd\":\"reboot\"}\n", "unknown cmd \"reboot\"");
    expect_error(fx, "{}\n", "\"cmd\"");
    expect_error(fx, "{\"cmd\":1}\n", "\"cmd\"");
    expect_error(fx, "{\"cmd\":\"pause\",\"force\":true}\n", "\"force\"");
}

static void test_two_requests_one_write(void **state)
{
    struct fixture *fx = *state;
    char buf[512];
    int fd = raw_connect(fx->path);
    const char req[] = "{\"cmd\":\"pause\"}\n\n{\"cmd\":\"resume\"}\r\n";
    raw_send(fd, req, sizeof(req) - 1);
    raw_read_lines(fx->s, fd, buf, sizeof(buf), 2);
    close(fd);
    assert_string_equal(buf, "{\"ok\":true}\n{\"ok\":true}\n");
    assert_string_equal(fx->fake.order, "pause,resume,");
}

static void test_split_request(void **state)
{
    struct fixture *fx = *state;
    char buf[512];
    int fd = raw_connect(fx->path);
    raw_send(fd, "{\"cmd\":\"sta", 11);
    for (int i = 0; i < 5; i++)
        pump(fx->s, 10);
    raw_send(fd, "tus\"", 4);
    for (int i = 0; i < 5; i++)
        pump(fx->s, 10);
    assert_int_equal(fx->fake.calls[OP_STATUS], 0);
    assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
    raw_send(fd, "}\n{\"cmd\":\"pa", 12);
    raw_read_lines(fx->s, fd, buf, sizeof(buf), 1);
    assert_int_equal(fx->fake.calls[OP_STATUS], 1);
    assert_int_equal(fx->fake.calls[OP_PAUSE], 0);
    raw_send(fd, "use\"}\n", 6);
    raw_read_lines(fx->s, fd, buf, sizeof(buf), 1);
    close(fd);
    assert_string_equal(buf, "{\"ok\":true}\n");
    assert_int_equal(fx->fake.calls[OP_PAUSE], 1);
}

static void test_line_limit(void **state)
{
    struct fixture *fx = *state;
    size_t max = 64 * 1024;
    char *line = malloc(max + 2);
    char buf[512];

    /* Exactly 64 KiB before the newline is still served. */
    memset(line, ' ', max);
    memcpy(line, "{\"cmd\":\"pause\"", 14);
    line[max - 1] = '}';
    line[max] = '\n';
    struct json_object *r = raw_request(fx, line, max + 1);
    assert_true(reply_ok(r));
    json_object_put(r);

    /* One byte more is refused and the connection is closed. */
    memset(line, 'a', max + 1);
    line[max + 1] = '\n';
    int fd = raw_connect(fx->path);
    raw_send(fd, line, max + 2);
    raw_read_lines(fx->s, fd, buf, sizeof(buf), 1);
    r = parse_line(buf);
    assert_false(reply_ok(r));
    assert_non_null(strstr(reply_str(r, "error"), "longer than 65536"));
    json_object_put(r);
    assert_true(raw_closed(fx->s, fd));
    close(fd);
    free(line);
    assert_int_equal(fx->fake.calls[OP_PAUSE], 1);
}

static void test_concurrent_clients(void **state)
{
    struct fixture *fx = *state;
    char buf[512];
    int a = raw_connect(fx->path);
    int b = raw_connect(fx->path);
    int c = raw_connect(fx->path);
    raw_send(a, "{\"cmd\":", 7);
    raw_send(c, "{\"cmd\":\"st", 10);
    raw_send(b, "{\"cmd\":\"pause\"}\n", 16);
    raw_read_lines(fx->s, b, buf, sizeof(buf), 1);
    assert_string_equal(buf, "{\"ok\":true}\n");
    close(c); /* hangs up mid-line: must disturb nobody and run nothing */
    for (int i = 0; i < 5; i++)
        pump(fx->s, 10);
    raw_send(a, "\"resume\"}\n", 10);
    raw_read_lines(fx->s, a, buf, sizeof(buf), 1);
    assert_string_equal(buf, "{\"ok\":true}\n");
    raw_send(b, "{\"cmd\":\"status\"}\n", 17);
    raw_read_lines(fx->s, b, buf, sizeof(buf), 1);
    assert_non_null(strstr(buf, "\"running\""));
    close(a);
    close(b);
    assert_string_equal(fx->fake.order, "pause,resume,status,");

    /* Two library clients at once. */
    struct call c1, c2;
    call_start(&c1, fx->path, "pause", NULL);
    call_start(&c2, fx->path, "status", NULL);
    call_finish(fx->s, &c1);
    call_finish(fx->s, &c2);
    assert_int_equal(c1.rc, 0);
    assert_int_equal(c2.rc, 0);
    assert_true(reply_ok(c1.reply));
    assert_string_equal(reply_str(c2.reply, "state"), "running");
    json_object_put(c1.reply);
    json_object_put(c2.reply);
}

static void test_too_many_clients(void **state)
{
    struct fixture *fx = *state;
    int fds[16];
    char buf[512];
    int fd_list[64];
    for (int i = 0; i < 16; i++) {
        fds[i] = raw_connect(fx->path);
        pump(fx->s, 10);
    }
    assert_int_equal(api_server_fds(fx->s, fd_list, 64), 17);
    int extra = raw_connect(fx->path);
    raw_read_lines(fx->s, extra, buf, sizeof(buf), 1);
    assert_non_null(strstr(buf, "too many clients"));
    assert_true(raw_closed(fx->s, extra));
    close(extra);
    /* The sixteen still work, and a slot frees up when one leaves. */
    raw_send(fds[15], "{\"cmd\":\"pause\"}\n", 16);
    raw_read_lines(fx->s, fds[15], buf, sizeof(buf), 1);
    assert_string_equal(buf, "{\"ok\":true}\n");
    close(fds[0]);
    int64_t end = now_ms() + WAIT_MS;
    while (api_server_fds(fx->s, fd_list, 64) != 16 && now_ms() < end)
        pump(fx->s, 10);
    struct json_object *r = raw_request(fx, "{\"cmd\":\"resume\"}\n", 17);
    assert_true(reply_ok(r));
    json_object_put(r);
    for (int i = 1; i < 16; i++)
        close(fds[i]);
}

static void test_callback_error(void **state)
{
    struct fixture *fx = *state;
    fx->fake.rc = -EBUSY;
    fx->fake.msg = "vcpus are busy";
    struct json_object *r = call(fx, "pause", NULL);
    assert_false(reply_ok(r));
    assert_string_equal(reply_str(r, "error"), "vcpus are busy");
    json_object_put(r);

    /* No message: the errno speaks, and result fields of a failed call are dropped. */
    fx->fake.rc = -EIO;
    fx->fake.msg = NULL;
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "dir", json_object_new_string("d"));
    r = call(fx, "snapshot", args);
    assert_false(reply_ok(r));
    assert_string_equal(reply_str(r, "error"), strerror(EIO));
    assert_false(json_object_object_get_ex(r, "bytes", NULL));
    json_object_put(r);
}

static void test_large_reply(void **state)
{
    struct fixture *fx = *state;
    /* Far beyond a socket buffer: the reply must survive partial writes and POLLOUT waits. */
    fx->fake.pad = 700 * 1000;
    struct json_object *r = call(fx, "status", NULL);
    assert_true(reply_ok(r));
    assert_int_equal(strlen(reply_str(r, "pad")), 700 * 1000);
    json_object_put(r);
}

static void test_slow_reader_dropped(void **state)
{
    struct fixture *fx = *state;
    const char req[] = "{\"cmd\":\"status\"}\n";
    int fds[64];
    fx->fake.pad = 20 * 1000;
    int fd = raw_connect(fx->path);
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    int64_t end = now_ms() + 4 * WAIT_MS;
    bool dropped = false;
    while (!dropped && now_ms() < end) {
        ssize_t n = send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
        assert_true(n != 0 && (n > 0 || errno != EINVAL)); /* short sends only misalign */
        pump(fx->s, 1);
        dropped = api_server_fds(fx->s, fds, 64) == 1;
    }
    close(fd);
    assert_true(dropped);
    /* The server is still serving. */
    fx->fake.pad = 0;
    struct json_object *r = call(fx, "status", NULL);
    assert_true(reply_ok(r));
    json_object_put(r);
}

static void test_half_close_gets_reply(void **state)
{
    struct fixture *fx = *state;
    size_t cap = 1024 * 1024;
    char *buf = malloc(cap);
    /* A reply bigger than the socket buffer is still pending when the EOF is read. */
    fx->fake.pad = 500 * 1000;
    int fd = raw_connect(fx->path);
    raw_send(fd, "{\"cmd\":\"status\"}\n{\"cmd\":\"res", 28);
    shutdown(fd, SHUT_WR); /* like `echo ... | socat - UNIX:...` */
    raw_read_lines(fx->s, fd, buf, cap, 1);
    struct json_object *r = parse_line(buf);
    assert_true(reply_ok(r));
    assert_int_equal(strlen(reply_str(r, "pad")), 500 * 1000);
    json_object_put(r);
    free(buf);
    assert_true(raw_closed(fx->s, fd));
    close(fd);
    assert_string_equal(fx->fake.order, "status,");
}

static void test_client_gone_before_reply(void **state)
{
    struct fixture *fx = *state;
    /* Replying to a closed socket raises SIGPIPE unless the server suppresses it; the default
     * action would kill this process, and the VM with it. */
    for (int i = 0; i < 3; i++) {
        int fd = raw_connect(fx->path);
        raw_send(fd, "{\"cmd\":\"status\"}\n", 17);
        close(fd);
        for (int j = 0; j < 5; j++)
            pump(fx->s, 10);
    }
    assert_int_equal(fx->fake.calls[OP_STATUS], 3);
    struct json_object *r = call(fx, "pause", NULL);
    assert_true(reply_ok(r));
    json_object_put(r);
}

static void test_socket_mode_and_destroy(void **state)
{
    struct fixture *fx = *state;
    struct stat st;
    assert_int_equal(lstat(fx->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    api_server_destroy(fx->s);
    fx->s = NULL;
    assert_int_equal(lstat(fx->path, &st), -1);
    api_server_destroy(NULL);

    /* destroy leaves alone whatever replaced our socket file */
    assert_int_equal(api_server_create(fx->path, &fx->ops, &fx->s), 0);
    assert_int_equal(unlink(fx->path), 0);
    int fd = open(fx->path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    close(fd);
    api_server_destroy(fx->s);
    fx->s = NULL;
    assert_int_equal(lstat(fx->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
}

static int bare_listener(const char *path, bool do_listen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    if (do_listen)
        assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static void test_stale_socket_replaced(void **state)
{
    struct fixture *fx = *state;
    close(bare_listener(fx->path, true)); /* what a killed vmrun leaves behind */
    assert_int_equal(api_server_create(fx->path, &fx->ops, &fx->s), 0);
    struct json_object *r = call(fx, "pause", NULL);
    assert_true(reply_ok(r));
    json_object_put(r);
}

static void test_live_socket_refused(void **state)
{
    struct fixture *fx = *state;
    struct api_server *second = NULL;
    assert_int_equal(api_server_create(fx->path, &fx->ops, &second), -EADDRINUSE);
    assert_null(second);
    struct json_object *r = call(fx, "resume", NULL);
    assert_true(reply_ok(r));
    json_object_put(r);
}

static void test_regular_file_refused(void **state)
{
    struct fixture *fx = *state;
    FILE *f = fopen(fx->path, "w");
    assert_non_null(f);
    fputs("precious", f);
    fclose(f);
    assert_int_equal(api_server_create(fx->path, &fx->ops, &fx->s), -EEXIST);
    assert_null(fx->s);
    char buf[32] = "";
    f = fopen(fx->path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "precious");
}

static void test_path_too_long(void **state)
{
    struct fixture *fx = *state;
    char path[256];
    struct sockaddr_un sa;
    memset(path, 'p', sizeof(path));
    int n = snprintf(path, sizeof(path), "%s/", fx->dir);
    path[n] = 'p';
    path[sizeof(sa.sun_path)] = '\0'; /* no room left for the terminating NUL */
    assert_int_equal(strlen(path), sizeof(sa.sun_path));
    assert_int_equal(api_server_create(path, &fx->ops, &fx->s), -ENAMETOOLONG);
    assert_null(fx->s);
    struct json_object *r = NULL;
    assert_int_equal(api_client_call(path, "status", NULL, 100, &r), -ENAMETOOLONG);
    assert_null(r);

    /* One byte shorter fits. */
    path[sizeof(sa.sun_path) - 1] = '\0';
    assert_int_equal(api_server_create(path, &fx->ops, &fx->s), 0);
    api_server_destroy(fx->s);
    fx->s = NULL;
}

static void test_client_no_socket(void **state)
{
    struct fixture *fx = *state;
    struct json_object *r = NULL;
    char out[512];
    fflush(stderr);
    FILE *cap = tmpfile();
    int saved = dup(STDERR_FILENO);
    dup2(fileno(cap), STDERR_FILENO);
    int rc = api_client_call(fx->path, "status", NULL, 1000, &r);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(cap);
    size_t n = fread(out, 1, sizeof(out) - 1, cap);
    out[n] = '\0';
    fclose(cap);
    assert_int_equal(rc, -ENOENT);
    assert_null(r);
    char want[256];
    snprintf(want, sizeof(want), "vmrun: %s: no VM listening (is vmrun running with --api-sock?)\n",
             fx->path);
    assert_string_equal(out, want);
}

static void test_client_timeout(void **state)
{
    struct fixture *fx = *state;
    int l = bare_listener(fx->path, true); /* the kernel completes connects; nobody answers */
    struct json_object *r = NULL;
    int64_t t0 = now_ms();
    int rc = api_client_call(fx->path, "status", NULL, 300, &r);
    int64_t took = now_ms() - t0;
    close(l);
    assert_int_equal(rc, -ETIMEDOUT);
    assert_null(r);
    assert_true(took >= 290);
    assert_true(took < 3000);
}

/* A fake server that answers one request with a fixed text; returns the request it got. */
static void fake_server_reply(struct fixture *fx, const char *answer, int want_rc,
                              struct json_object *args, char *got, size_t got_cap)
{
    int l = bare_listener(fx->path, true);
    struct call c;
    call_start(&c, fx->path, "status", args);
    int fd = accept(l, NULL, NULL);
    assert_true(fd >= 0);
    size_t len = 0;
    while (len == 0 || got[len - 1] != '\n') {
        ssize_t n = recv(fd, got + len, got_cap - 1 - len, 0);
        assert_true(n > 0);
        len += (size_t)n;
    }
    got[len] = '\0';
    raw_send(fd, answer, strlen(answer));
    close(fd);
    call_finish(NULL, &c);
    close(l);
    unlink(fx->path);
    assert_int_equal(c.rc, want_rc);
    if (want_rc == 0)
        json_object_put(c.reply);
    else
        assert_null(c.reply);
}

static void test_client_request_and_bad_replies(void **state)
{
    struct fixture *fx = *state;
    char got[512];
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "cmd", json_object_new_string("stop")); /* cmd wins */
    json_object_object_add(args, "dir", json_object_new_string("/a/b"));
    fake_server_reply(fx, "{\"ok\":false,\"error\":\"e\"}\n", 0, args, got, sizeof(got));
    assert_string_equal(got, "{\"cmd\":\"status\",\"dir\":\"/a/b\"}\n");
    fake_server_reply(fx, "not json\n", -EPROTO, NULL, got, sizeof(got));
    fake_server_reply(fx, "[1]\n", -EPROTO, NULL, got, sizeof(got));
    fake_server_reply(fx, "{\"ok\":1}\n", -EPROTO, NULL, got, sizeof(got));
    fake_server_reply(fx, "{\"ok\":true} {}\n", -EPROTO, NULL, got, sizeof(got));
    fake_server_reply(fx, "{\"ok\":true}", -EPROTO, NULL, got, sizeof(got)); /* no newline */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pause, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_resume, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_stop, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_status, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_bad_fields, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_json, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_not_an_object, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_bad_cmd, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_two_requests_one_write, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_split_request, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_line_limit, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_clients, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_clients, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_callback_error, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_large_reply, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_slow_reader_dropped, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_half_close_gets_reply, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_client_gone_before_reply, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_socket_mode_and_destroy, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_socket_refused, setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_regular_file_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_no_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_request_and_bad_replies, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
