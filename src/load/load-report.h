/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What a load run tells: a line a second, "t=12 users=12 ok=12 fail=0 p50_ms=4.1 p99_ms=9.8",
 * followed by "vm1=5 vm2=7" when backends are counted; a summary at the end; and optionally
 * the same as JSON ({"seconds":[...],"summary":{...}}) for tests and plots.
 */

#include <stdio.h>

#include "load-run.h"

typedef struct LoadReport {
        FILE *out;
        struct json_object *seconds;    /* the rows, when JSON is wanted */
        struct json_object *summary;
        bool latencies;                 /* each second's row lists every latency (ms) */
        uint64_t failed;                /* over the whole run */
} LoadReport;

int load_report_init(LoadReport *r, FILE *out, bool json, bool latencies);
void load_report_done(LoadReport *r);

/* Second number t (1 = the first second of the run) has ended with users running. */
int load_report_second(LoadReport *r, unsigned t, unsigned users, LoadTally *second);
/* The run ended after elapsed; aborted = requests cut off by a stop signal. */
int load_report_summary(LoadReport *r, const char *url, const LoadProfile *profile, usec_t elapsed,
                        uint64_t aborted, LoadTally *total);
/* Writes {"url":..., "seconds":[...], "summary":{...}} to path (after load_report_summary()). */
int load_report_write_json(LoadReport *r, const char *path);
