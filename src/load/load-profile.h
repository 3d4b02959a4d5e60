/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A load profile: how many simulated users run at each moment of a run. Written as
 * "time_s:users" points, "0:1,30:12,90:1,150:1": a step function that holds each user count
 * until the next point; the last point's time is the end of the run.
 */

#include <stddef.h>

/* Hard ceilings no flag can lift: a load run is bounded in size and time. */
#define LOAD_USERS_CEILING 1000U
#define LOAD_DURATION_CEILING_S 3600U

typedef struct LoadPoint {
        unsigned time_s;
        unsigned users;
} LoadPoint;

typedef struct LoadProfile {
        LoadPoint *points;      /* strictly increasing times, the first at 0 */
        size_t n_points;        /* at least 2: the last one marks the end */
} LoadProfile;

void load_profile_done(LoadProfile *p);

/* Parses "0:1,30:12,90:1,150:1". The first point must be at 0 s, times must increase, there
 * must be an end point, and user counts and times must stay under the ceilings. Returns
 * -EINVAL for a malformed text, -ERANGE for a value over a ceiling. */
int load_profile_parse(const char *s, LoadProfile *ret);

/* users for duration_s, reached by a linear ramp over the first ramp_s seconds (0 = at once). */
int load_profile_ramp(unsigned users, unsigned ramp_s, unsigned duration_s, LoadProfile *ret);

/* Users that should run t seconds into the run; 0 at or after the end. */
unsigned load_profile_users_at(const LoadProfile *p, double t);
unsigned load_profile_duration(const LoadProfile *p);
unsigned load_profile_max_users(const LoadProfile *p);

/* Writes the profile back as text ("0:1,30:12,...") into buf; returns buf. */
char *load_profile_format(const LoadProfile *p, char *buf, size_t size);
