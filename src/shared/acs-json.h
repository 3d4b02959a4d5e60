/* SPDX-License-Identifier: MIT */
#pragma once

/* Building JSON with json-c: what every encoder (protocol messages, Docker requests, load
 * reports) needs beside json-c itself. */

#include <errno.h>
#include <json-c/json.h>

/* Adds v under key and takes v over. v NULL (a failed json_object_new_*()) and a failed add
 * (v is freed then) are -ENOMEM, so that calls chain: r = r < 0 ? r : acs_json_add(...). */
static inline int acs_json_add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}
