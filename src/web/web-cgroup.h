/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What acs-web learns about itself from its cgroup: the CPU limit Docker put on the container
 * (--cpus), and the container id. Every path is taken relative to a root directory ("/" in
 * production), so tests can hand in a fake tree of /proc/self/cgroup and /sys/fs/cgroup files.
 */

#include <stddef.h>

typedef enum WebCgroupVersion {
        WEB_CGROUP_NONE,
        WEB_CGROUP_V1,
        WEB_CGROUP_V2,
} WebCgroupVersion;

/*
 * Reads the CPU limit of our own cgroup: v1 cpu.cfs_quota_us / cpu.cfs_period_us, v2 cpu.max,
 * the tightest of our cgroup and its parents. Inside a container the cgroup file system may be
 * mounted with our own cgroup as its root, so the path named in /proc/self/cgroup does not
 * always exist below the mount; then the mount root itself is our cgroup.
 * Returns 1 with *ret_cpus (and *ret_version) when a limit is set, 0 when there is none, <0
 * when /proc/self/cgroup cannot be read.
 */
int web_cgroup_cpu_limit(const char *root, double *ret_cpus, WebCgroupVersion *ret_version);

/* Finds the 64-hex Docker container id in /proc/self/cgroup ("/docker/<id>",
 * "docker-<id>.scope") or, for a private cgroup namespace, in /proc/self/mountinfo
 * (".../containers/<id>/hostname"). Returns 1 and writes ret_id (>= 65 bytes), 0 when none. */
int web_cgroup_container_id(const char *root, char *ret_id, size_t size);

const char *web_cgroup_version_to_string(WebCgroupVersion v);
