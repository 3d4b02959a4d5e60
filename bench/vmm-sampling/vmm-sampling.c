/* SPDX-License-Identifier: MIT */
/*
 * What one monitoring round of acs-vmm costs: N containers sampled through vmm-monitor.c, the
 * code acs-vmm runs every interval (two pread()s and a parse per container).
 *
 *   vmm-sampling [--containers N] [--rounds R] [--real]
 *
 * By default the cgroups are synthetic: a temporary tree shaped like cgroup v1 cgroupfs
 * (/proc/PID/cgroup files and cpuacct/memory counters). With --real, every "container" is this
 * process's own cgroup on the machine's /sys/fs/cgroup, so the reads go through kernfs as they
 * do for real containers. Prints the CPU time (user + system) per round.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "acs-macro.h"
#include "vmm-monitor.h"

static int write_file(const char *root, const char *rel, const char *text) {
        char path[512], *slash;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", root, rel);
        for (slash = strchr(path + strlen(root) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = 0;
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *slash = '/';
        }
        f = fopen(path, "we");
        if (!f)
                return -errno;
        fputs(text, f);
        fclose(f);
        return 0;
}

/* Container i: /proc/<1000+i>/cgroup naming docker/<id>, and its two counters. */
static int make_synthetic(const char *root, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                char rel[256], text[256];
                int r;

                snprintf(rel, sizeof(rel), "proc/%u/cgroup", 1000 + i);
                snprintf(text, sizeof(text), "12:memory:/docker/c%060u\n3:cpu,cpuacct:/docker/c%060u\n", i, i);
                if ((r = write_file(root, rel, text)) < 0)
                        return r;
                snprintf(rel, sizeof(rel), "cgroup/cpu,cpuacct/docker/c%060u/cpuacct.usage", i);
                if ((r = write_file(root, rel, "123456789012\n")) < 0)
                        return r;
                snprintf(rel, sizeof(rel), "cgroup/memory/docker/c%060u/memory.usage_in_bytes", i);
                if ((r = write_file(root, rel, "7340032\n")) < 0)
                        return r;
        }
        return 0;
}

static usec_t cpu_time(void) {
        return now_usec(CLOCK_PROCESS_CPUTIME_ID);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "containers", required_argument, NULL, 'n' },
                { "rounds", required_argument, NULL, 'r' },
                { "real", no_argument, NULL, 'R' },
                {},
        };
        unsigned n = 100, rounds = 1000;
        bool real = false;
        char root[] = "/tmp/acs-bench-vmm-sampling-XXXXXX";
        char proc[300], cgroup[300];
        VmmCgroup *cgroups;
        usec_t start, spent, worst = 0;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'n': n = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'r': rounds = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'R': real = true; break;
                default: return EXIT_FAILURE;
                }
        if (n == 0 || rounds == 0)
                return EXIT_FAILURE;

        if (real) {
                snprintf(proc, sizeof(proc), "/proc");
                snprintf(cgroup, sizeof(cgroup), "/sys/fs/cgroup");
        } else {
                if (!mkdtemp(root) || make_synthetic(root, n) < 0) {
                        perror("synthetic cgroup tree");
                        return EXIT_FAILURE;
                }
                snprintf(proc, sizeof(proc), "%s/proc", root);
                snprintf(cgroup, sizeof(cgroup), "%s/cgroup", root);
        }

        cgroups = calloc(n, sizeof(*cgroups));
        if (!cgroups)
                return EXIT_FAILURE;
        for (unsigned i = 0; i < n; i++) {
                r = vmm_cgroup_open(&cgroups[i], proc, cgroup, real ? getpid() : (pid_t) (1000 + i));
                if (r < 0) {
                        fprintf(stderr, "cgroup %u: %s\n", i, strerror(-r));
                        return EXIT_FAILURE;
                }
        }

        start = cpu_time();
        for (unsigned k = 0; k < rounds; k++) {
                usec_t round_start = cpu_time(), now = now_usec(CLOCK_MONOTONIC);
                double total = 0;

                for (unsigned i = 0; i < n; i++) {
                        VmmCgroupSample s;
                        if (vmm_cgroup_sample(&cgroups[i], now, &s) >= 0)
                                total += s.cpus;
                }
                worst = MAX(worst, cpu_time() - round_start);
                (void) total;
        }
        spent = cpu_time() - start;

        printf("vmm-sampling: %u %s cgroups, %u rounds: %.3f ms CPU per round (worst %.3f ms), budget 5 ms\n", n,
               real ? "real (this process's)" : "synthetic v1", rounds, (double) spent / rounds / 1000.0,
               (double) worst / 1000.0);

        for (unsigned i = 0; i < n; i++)
                vmm_cgroup_close(&cgroups[i]);
        free(cgroups);
        if (!real) {
                char cmd[400];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
                (void) !system(cmd);
        }
        return spent / rounds < 5000 ? EXIT_SUCCESS : EXIT_FAILURE;
}
