/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A stream of JSON documents as the Docker Engine sends its /events: objects one after the
 * other, separated by whitespace, cut into chunks wherever the transport pleases. Each complete
 * document is handed to a callback; a document may span any number of chunks.
 */

#include <json-c/json.h>
#include <stddef.h>

#include "acs-macro.h"

typedef struct AcsJsonStream AcsJsonStream;

/* Gets one document (the callee takes a reference if it keeps it); a negative return stops
 * the feed and is returned from it. */
typedef int (*AcsJsonStreamDocument)(json_object *document, void *userdata);

AcsJsonStream *acs_json_stream_new(void);
AcsJsonStream *acs_json_stream_free(AcsJsonStream *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(AcsJsonStream *, acs_json_stream_free);

/* Feeds the next chunk. Returns 0, -EBADMSG for something that is not a stream of JSON
 * documents (the stream is then useless), or the callback's error. */
int acs_json_stream_feed(AcsJsonStream *s, const void *data, size_t size, AcsJsonStreamDocument cb, void *userdata);
