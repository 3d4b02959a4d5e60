/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>

#include "acs-json.h"
#include "acs-macro.h"
#include "load-report.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct json_object *, json_object_put);

int load_report_init(LoadReport *r, FILE *out, bool json, bool latencies) {
        *r = (LoadReport) { .out = out, .latencies = json && latencies };
        if (json) {
                r->seconds = json_object_new_array();
                if (!r->seconds)
                        return -ENOMEM;
        }
        return 0;
}

void load_report_done(LoadReport *r) {
        json_object_put(r->seconds);
        json_object_put(r->summary);
        r->seconds = r->summary = NULL;
}

static struct json_object *counts_to_json(const LoadCounts *c) {
        struct json_object *o = json_object_new_object();

        for (size_t i = 0; o && i < c->n; i++)
                if (acs_json_add(o, c->items[i].name, json_object_new_int64((int64_t) c->items[i].count)) < 0)
                        o = (json_object_put(o), NULL);
        return o;
}

/* {"vm1/c1":[first_sent_s, first_answered_s], ...}: when each container answered first. */
static struct json_object *first_answers_to_json(const LoadCounts *c) {
        struct json_object *o = json_object_new_object();

        for (size_t i = 0; o && i < c->n; i++) {
                struct json_object *pair = json_object_new_array_ext(2);

                /* Once added, the pair belongs to o, and goes with it on failure. */
                if (acs_json_add(o, c->items[i].name, pair) < 0 ||
                    json_object_array_add(pair, json_object_new_double((double) c->items[i].first_sent / USEC_PER_SEC)) < 0 ||
                    json_object_array_add(pair, json_object_new_double((double) c->items[i].first_answered / USEC_PER_SEC)) < 0)
                        o = (json_object_put(o), NULL);
        }
        return o;
}

/* The fields a second and the summary share. */
static int tally_to_json(struct json_object *o, LoadTally *t) {
        int r = 0;

        r = r ?: acs_json_add(o, "ok", json_object_new_int64((int64_t) t->ok));
        r = r ?: acs_json_add(o, "fail", json_object_new_int64((int64_t) load_tally_failed(t)));
        r = r ?: acs_json_add(o, "non2xx", json_object_new_int64((int64_t) t->non2xx));
        r = r ?: acs_json_add(o, "errors", json_object_new_int64((int64_t) t->errors));
        r = r ?: acs_json_add(o, "p50_ms", json_object_new_double(usec_to_ms(load_samples_percentile(&t->latency, 50))));
        r = r ?: acs_json_add(o, "p99_ms", json_object_new_double(usec_to_ms(load_samples_percentile(&t->latency, 99))));
        r = r ?: acs_json_add(o, "max_ms", json_object_new_double(usec_to_ms(load_samples_percentile(&t->latency, 100))));
        r = r ?: acs_json_add(o, "vms", counts_to_json(&t->vms));
        r = r ?: acs_json_add(o, "containers", counts_to_json(&t->containers));
        return r;
}

/* Every latency of the second, in the order they were sorted: lets a test take exact
 * percentiles over any span of seconds. */
static struct json_object *latencies_to_json(const LoadSamples *l) {
        struct json_object *a = json_object_new_array_ext((int) l->n);

        for (size_t i = 0; a && i < l->n; i++)
                if (json_object_array_add(a, json_object_new_double(usec_to_ms(l->usec[i]))) < 0)
                        a = (json_object_put(a), NULL);
        return a;
}

static void print_counts(FILE *f, const LoadCounts *c) {
        for (size_t i = 0; i < c->n; i++)
                fprintf(f, " %s=%" PRIu64, c->items[i].name, c->items[i].count);
}

int load_report_second(LoadReport *r, unsigned t, unsigned users, LoadTally *second) {
        fprintf(r->out, "t=%u users=%u ok=%" PRIu64 " fail=%" PRIu64 " p50_ms=%.1f p99_ms=%.1f", t, users,
                second->ok, load_tally_failed(second),
                usec_to_ms(load_samples_percentile(&second->latency, 50)),
                usec_to_ms(load_samples_percentile(&second->latency, 99)));
        print_counts(r->out, &second->vms);
        fputc('\n', r->out);
        fflush(r->out);

        if (r->seconds) {
                _cleanup_(json_object_putp) struct json_object *row = json_object_new_object();
                int k;

                if (!row)
                        return -ENOMEM;
                k = acs_json_add(row, "t", json_object_new_int((int) t));
                k = k ?: acs_json_add(row, "users", json_object_new_int((int) users));
                k = k ?: tally_to_json(row, second);
                if (k >= 0 && r->latencies)
                        k = acs_json_add(row, "latency_ms", latencies_to_json(&second->latency));
                if (k < 0)
                        return k;
                if (json_object_array_add(r->seconds, row) < 0)
                        return -ENOMEM;
                row = NULL;
        }
        return 0;
}

int load_report_summary(LoadReport *r, const char *url, const LoadProfile *profile, usec_t elapsed,
                        uint64_t aborted, LoadTally *total) {
        uint64_t requests = total->ok + load_tally_failed(total);
        double seconds = (double) elapsed / USEC_PER_SEC;
        char profile_text[1024];

        r->failed = load_tally_failed(total);
        fprintf(r->out,
                "summary: url=%s profile=%s duration_s=%.1f requests=%" PRIu64 " ok=%" PRIu64
                " fail=%" PRIu64 " non2xx=%" PRIu64 " errors=%" PRIu64 " aborted=%" PRIu64
                " rps=%.1f p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
                url, load_profile_format(profile, profile_text, sizeof(profile_text)), seconds, requests,
                total->ok, load_tally_failed(total), total->non2xx, total->errors, aborted,
                seconds > 0 ? (double) requests / seconds : 0.0,
                usec_to_ms(load_samples_percentile(&total->latency, 50)),
                usec_to_ms(load_samples_percentile(&total->latency, 99)),
                usec_to_ms(load_samples_percentile(&total->latency, 100)));
        if (total->vms.n > 0) {
                fputs("backends:", r->out);
                print_counts(r->out, &total->vms);
                fputc('\n', r->out);
                fputs("containers:", r->out);
                print_counts(r->out, &total->containers);
                fputc('\n', r->out);
        }
        fflush(r->out);

        if (r->seconds) {
                struct json_object *s = json_object_new_object();
                int k;

                if (!s)
                        return -ENOMEM;
                r->summary = s;
                k = acs_json_add(s, "url", json_object_new_string(url));
                k = k ?: acs_json_add(s, "profile", json_object_new_string(profile_text));
                k = k ?: acs_json_add(s, "duration_s", json_object_new_double(seconds));
                k = k ?: acs_json_add(s, "requests", json_object_new_int64((int64_t) requests));
                k = k ?: acs_json_add(s, "aborted", json_object_new_int64((int64_t) aborted));
                k = k ?: tally_to_json(s, total);
                k = k ?: acs_json_add(s, "containers_first", first_answers_to_json(&total->containers));
                if (k < 0)
                        return k;
        }
        return 0;
}

int load_report_write_json(LoadReport *r, const char *path) {
        _cleanup_(json_object_putp) struct json_object *doc = json_object_new_object();
        _cleanup_fclose_ FILE *f = NULL;
        int k;

        if (!doc || !r->seconds || !r->summary)
                return -EINVAL;
        k = acs_json_add(doc, "seconds", json_object_get(r->seconds));
        k = k ?: acs_json_add(doc, "summary", json_object_get(r->summary));
        if (k < 0)
                return k;
        /* Latencies in ms to the microsecond: more digits would only be float noise. */
        (void) json_c_set_serialization_double_format("%.3f", JSON_C_OPTION_GLOBAL);
        f = fopen(path, "we");
        if (!f)
                return -errno;
        fputs(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN), f);
        fputc('\n', f);
        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return 0;
}
