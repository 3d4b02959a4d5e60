/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A container's CPU and memory, read straight from its cgroup: Docker's stats API is far too
 * slow to ask every second. The cgroup is found once from the container's main PID
 * (/proc/PID/cgroup); its counter files stay open and are re-read with pread() each round, so
 * a round costs two small reads per container.
 *
 *   cgroup v1: <root>/cpuacct/<path>/cpuacct.usage (ns), <root>/memory/<path>/memory.usage_in_bytes
 *   cgroup v2: <root>/<path>/cpu.stat (usage_usec), <root>/<path>/memory.current
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "acs-time.h"

typedef struct VmmCgroup {
        int cpu_fd;
        int mem_fd;             /* -1 when the memory controller is not there */
        bool unified;           /* cgroup v2 */
        uint64_t last_cpu_ns;   /* counter at the previous sample */
        usec_t last_usec;       /* CLOCK_MONOTONIC of the previous sample, 0 = none yet */
} VmmCgroup;

typedef struct VmmCgroupSample {
        double cpus;            /* CPUs used since the previous sample (1.0 = one whole CPU) */
        uint64_t memory;        /* bytes */
        bool valid;             /* false on the first sample: there is no interval yet */
} VmmCgroupSample;

#define VMM_CGROUP_NULL ((VmmCgroup) { .cpu_fd = -1, .mem_fd = -1 })

/* Opens the counters of the cgroup of pid. proc_root and cgroup_root are "/proc" and
 * "/sys/fs/cgroup" on a real system; tests and the benchmark point them at synthetic trees. */
int vmm_cgroup_open(VmmCgroup *c, const char *proc_root, const char *cgroup_root, pid_t pid);
void vmm_cgroup_close(VmmCgroup *c);
static inline bool vmm_cgroup_is_open(const VmmCgroup *c) {
        return c->cpu_fd >= 0;
}
/* Reads the counters; now is CLOCK_MONOTONIC in µs. */
int vmm_cgroup_sample(VmmCgroup *c, usec_t now, VmmCgroupSample *ret);
