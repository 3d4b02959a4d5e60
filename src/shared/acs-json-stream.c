/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "acs-json-stream.h"

struct AcsJsonStream {
        json_tokener *tokener;
        bool in_document;       /* the tokener holds the start of a document */
};

AcsJsonStream *acs_json_stream_new(void) {
        AcsJsonStream *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->tokener = json_tokener_new();
        if (!s->tokener)
                return mfree(s);
        return s;
}

AcsJsonStream *acs_json_stream_free(AcsJsonStream *s) {
        if (!s)
                return NULL;
        json_tokener_free(s->tokener);
        return mfree(s);
}

static bool is_space(char c) {
        return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

int acs_json_stream_feed(AcsJsonStream *s, const void *data, size_t size, AcsJsonStreamDocument cb, void *userdata) {
        const char *p = data;

        while (size > 0) {
                json_object *o;
                size_t used;
                int r;

                /* Whitespace between documents is not the start of one: the tokener would take a
                 * lone "\n" for an empty document. Inside a document it is the tokener's. */
                if (!s->in_document && is_space(*p)) {
                        p++, size--;
                        continue;
                }

                o = json_tokener_parse_ex(s->tokener, p, (int) MIN(size, (size_t) INT32_MAX));
                if (!o) {
                        if (json_tokener_get_error(s->tokener) != json_tokener_continue)
                                return -EBADMSG;
                        s->in_document = true;
                        if (size <= (size_t) INT32_MAX)
                                return 0;
                        p += INT32_MAX, size -= INT32_MAX;
                        continue;
                }

                used = json_tokener_get_parse_end(s->tokener);
                json_tokener_reset(s->tokener);
                s->in_document = false;
                r = cb(o, userdata);
                json_object_put(o);
                if (r < 0)
                        return r;
                if (used == 0 || used > size)
                        return -EBADMSG;
                p += used, size -= used;
        }
        return 0;
}
