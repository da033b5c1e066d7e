/* Private to runtime/: turning one request line into one reply (api_request.c). */
#ifndef VMRUN_RUNTIME_API_REQUEST_H
#define VMRUN_RUNTIME_API_REQUEST_H

#include <stddef.h>

#include <json-c/json.h>

#include "vmrun/api.h"

/* Reply to one request line (len bytes, followed by its '\n'), calling ops as asked. */
struct json_object *api_request_reply(const struct api_ops *ops, struct json_tokener *tok,
                                      const char *line, size_t len);
/* {"ok": false, "error": msg}. */
struct json_object *api_request_error(const char *msg);

#endif
