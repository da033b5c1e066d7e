/* One control-socket request line: parsed with json-c, validated in full, dispatched to the VM's
 * handlers, answered with one reply object. Everything is checked before a handler runs, so a
 * malformed request has no effect on the VM. */
#include "api_request.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define API_MSG_MAX 256

struct json_object *api_request_error(const char *msg)
{
    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "ok", json_object_new_boolean(0));
    json_object_object_add(r, "error", json_object_new_string(msg));
    return r;
}

static struct json_object *reply_from(int rc, const char *msg, struct json_object *result)
{
    char buf[128];
    if (rc < 0)
        return api_request_error(msg[0] ? msg : strerror_r(-rc, buf, sizeof(buf)));
    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "ok", json_object_new_boolean(1));
    /* The callback's fields follow "ok" but can never override it. */
    if (result) {
        json_object_object_foreach(result, key, val)
        {
            if (strcmp(key, "ok") != 0)
                json_object_object_add(r, key, json_object_get(val));
        }
    }
    if (msg[0])
        json_object_object_add(r, "message", json_object_new_string(msg));
    return r;
}

/* Client text echoed in an error, unless it is long enough that cutting it could split a
 * UTF-8 sequence. */
static const char *shown(const char *s)
{
    return strlen(s) <= 40 ? s : "...";
}

static const char *const cmd_names[] = {"pause", "resume", "snapshot", "status", "stop"};

/* Check everything before calling back: a malformed request must have no effect on the VM. */
static int validate(struct json_object *req, const char **cmd, char *err, size_t cap)
{
    struct json_object *v;
    if (!json_object_is_type(req, json_type_object))
        return snprintf(err, cap, "request must be a JSON object"), -EINVAL;
    if (!json_object_object_get_ex(req, "cmd", &v))
        return snprintf(err, cap, "missing field \"cmd\""), -EINVAL;
    if (!json_object_is_type(v, json_type_string))
        return snprintf(err, cap, "field \"cmd\" must be a string"), -EINVAL;
    *cmd = NULL;
    for (size_t i = 0; i < sizeof(cmd_names) / sizeof(cmd_names[0]); i++)
        if (strcmp(json_object_get_string(v), cmd_names[i]) == 0)
            *cmd = cmd_names[i];
    if (!*cmd)
        return snprintf(err, cap,
                        "unknown cmd \"%s\" (expected pause, resume, snapshot, status or stop)",
                        shown(json_object_get_string(v))),
               -EINVAL;
    bool snap = strcmp(*cmd, "snapshot") == 0;
    /* Unknown fields are refused so a typo such as "dif" cannot silently change the meaning. */
    json_object_object_foreach(req, key, val)
    {
        (void)val;
        if (strcmp(key, "cmd") != 0 &&
            !(snap && (strcmp(key, "dir") == 0 || strcmp(key, "diff") == 0)))
            return snprintf(err, cap, "%s: unknown field \"%s\"", *cmd, shown(key)), -EINVAL;
    }
    if (!snap)
        return 0;
    if (!json_object_object_get_ex(req, "dir", &v))
        return snprintf(err, cap, "snapshot: missing field \"dir\""), -EINVAL;
    if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0 ||
        strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
        return snprintf(err, cap, "snapshot: field \"dir\" must be a non-empty string"), -EINVAL;
    if (json_object_object_get_ex(req, "diff", &v) && !json_object_is_type(v, json_type_boolean))
        return snprintf(err, cap, "snapshot: field \"diff\" must be true or false"), -EINVAL;
    return 0;
}

static struct json_object *dispatch(const struct api_ops *o, struct json_object *req)
{
    char msg[API_MSG_MAX] = "";
    const char *cmd;
    if (validate(req, &cmd, msg, sizeof(msg)) < 0)
        return api_request_error(msg);

    struct json_object *result = json_object_new_object();
    int rc = -ENOTSUP;
    if (strcmp(cmd, "pause") == 0 && o->pause)
        rc = o->pause(o->ctx, msg, sizeof(msg));
    else if (strcmp(cmd, "resume") == 0 && o->resume)
        rc = o->resume(o->ctx, msg, sizeof(msg));
    else if (strcmp(cmd, "stop") == 0 && o->stop)
        rc = o->stop(o->ctx, msg, sizeof(msg));
    else if (strcmp(cmd, "status") == 0 && o->status)
        rc = o->status(o->ctx, result);
    else if (strcmp(cmd, "snapshot") == 0 && o->snapshot) {
        struct json_object *dir = NULL, *diff = NULL;
        json_object_object_get_ex(req, "dir", &dir);
        json_object_object_get_ex(req, "diff", &diff);
        rc = o->snapshot(o->ctx, json_object_get_string(dir), diff && json_object_get_boolean(diff),
                         result, msg, sizeof(msg));
    }
    msg[sizeof(msg) - 1] = '\0';
    struct json_object *reply = reply_from(rc, msg, result);
    json_object_put(result);
    return reply;
}

struct json_object *api_request_reply(const struct api_ops *ops, struct json_tokener *tok,
                                      const char *line, size_t len)
{
    char err[API_MSG_MAX];
    /* Parse the '\n' too: it terminates a bare top-level number, which json-c would otherwise
     * report as incomplete rather than as "not an object". */
    if (memchr(line, '\0', len))
        return api_request_error("invalid JSON: NUL byte in request");
    json_tokener_reset(tok);
    struct json_object *req = json_tokener_parse_ex(tok, line, (int)len + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (jerr != json_tokener_success) {
        json_object_put(req);
        snprintf(err, sizeof(err), "invalid JSON: %s",
                 jerr == json_tokener_continue ? "unexpected end of line"
                                               : json_tokener_error_desc(jerr));
        return api_request_error(err);
    }
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
        if (!strchr(" \t\r", line[i])) {
            json_object_put(req);
            return api_request_error("invalid JSON: trailing characters after the request");
        }
    }
    struct json_object *reply = dispatch(ops, req);
    json_object_put(req);
    return reply;
}
