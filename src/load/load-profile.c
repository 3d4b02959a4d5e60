/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "acs-macro.h"
#include "load-profile.h"

void load_profile_done(LoadProfile *p) {
        p->points = mfree(p->points);
        p->n_points = 0;
}

/* A decimal number without sign or spaces, at most max. */
static int parse_unsigned(const char *s, const char *end, unsigned max, unsigned *ret) {
        unsigned long v = 0;

        if (s == end)
                return -EINVAL;
        for (const char *c = s; c < end; c++) {
                if (*c < '0' || *c > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned long) (*c - '0');
                if (v > max)
                        return -ERANGE;
        }
        *ret = (unsigned) v;
        return 0;
}

static int profile_append(LoadProfile *p, unsigned time_s, unsigned users) {
        LoadPoint *n = reallocarray(p->points, p->n_points + 1, sizeof(LoadPoint));
        if (!n)
                return -ENOMEM;
        p->points = n;
        p->points[p->n_points++] = (LoadPoint) { .time_s = time_s, .users = users };
        return 0;
}

static int profile_check(const LoadProfile *p) {
        if (p->n_points < 2 || p->points[0].time_s != 0)
                return -EINVAL;
        for (size_t i = 1; i < p->n_points; i++)
                if (p->points[i].time_s <= p->points[i - 1].time_s)
                        return -EINVAL;
        return 0;
}

int load_profile_parse(const char *s, LoadProfile *ret) {
        _cleanup_(load_profile_done) LoadProfile p = {};
        const char *c = s;
        int r;

        if (!s || !*s)
                return -EINVAL;
        for (;;) {
                const char *colon, *end;
                unsigned t, users;

                end = c + strcspn(c, ",");
                colon = memchr(c, ':', (size_t) (end - c));
                if (!colon)
                        return -EINVAL;
                r = parse_unsigned(c, colon, LOAD_DURATION_CEILING_S, &t);
                if (r < 0)
                        return r;
                r = parse_unsigned(colon + 1, end, LOAD_USERS_CEILING, &users);
                if (r < 0)
                        return r;
                r = profile_append(&p, t, users);
                if (r < 0)
                        return r;
                if (*end == '\0')
                        break;
                c = end + 1;
        }
        r = profile_check(&p);
        if (r < 0)
                return r;
        *ret = p;
        p = (LoadProfile) {};
        return 0;
}

int load_profile_ramp(unsigned users, unsigned ramp_s, unsigned duration_s, LoadProfile *ret) {
        _cleanup_(load_profile_done) LoadProfile p = {};
        int r;

        if (users > LOAD_USERS_CEILING || duration_s > LOAD_DURATION_CEILING_S)
                return -ERANGE;
        if (users == 0 || duration_s == 0 || ramp_s >= duration_s)
                return -EINVAL;
        /* One step a second from 1 user up to all of them; repeated counts are merged. */
        for (unsigned t = 0; t < ramp_s; t++) {
                unsigned u = 1 + (unsigned) ((unsigned long) (users - 1) * t / ramp_s);
                if (p.n_points > 0 && p.points[p.n_points - 1].users == u)
                        continue;
                r = profile_append(&p, t, u);
                if (r < 0)
                        return r;
        }
        r = profile_append(&p, ramp_s, users);
        if (r < 0)
                return r;
        r = profile_append(&p, duration_s, users);
        if (r < 0)
                return r;
        r = profile_check(&p);
        if (r < 0)
                return r;
        *ret = p;
        p = (LoadProfile) {};
        return 0;
}

unsigned load_profile_users_at(const LoadProfile *p, double t) {
        unsigned users = 0;

        if (t < 0 || t >= load_profile_duration(p))
                return 0;
        for (size_t i = 0; i + 1 < p->n_points && p->points[i].time_s <= t; i++)
                users = p->points[i].users;
        return users;
}

unsigned load_profile_duration(const LoadProfile *p) {
        return p->n_points > 0 ? p->points[p->n_points - 1].time_s : 0;
}

unsigned load_profile_max_users(const LoadProfile *p) {
        unsigned m = 0;

        /* The end point's count never runs, so it does not count. */
        for (size_t i = 0; i + 1 < p->n_points; i++)
                m = MAX(m, p->points[i].users);
        return m;
}

char *load_profile_format(const LoadProfile *p, char *buf, size_t size) {
        size_t off = 0;

        if (size == 0)
                return buf;
        buf[0] = '\0';
        for (size_t i = 0; i < p->n_points && off < size; i++) {
                int n = snprintf(buf + off, size - off, "%s%u:%u", i > 0 ? "," : "",
                                 p->points[i].time_s, p->points[i].users);
                if (n < 0)
                        break;
                off += (size_t) n;
        }
        return buf;
}
