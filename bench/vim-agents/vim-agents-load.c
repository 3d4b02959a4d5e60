/* SPDX-License-Identifier: MIT */
/*
 * vim-agents-load: simulated VMMs on the real link (TLS 1.3 PSK, acs-proto messages). Each agent
 * registers as its own VM and reports its containers once a second, as acs-vmm does.
 *
 * Two uses:
 *   - the benchmark: 1,000 agents × 10 containers; with --bus-address it also flips one
 *     container between ready and starting now and then and times the VIM's BackendsChanged
 *     that follows (decision latency), and with --vim-pid it measures the VIM's CPU use;
 *   - a stand-in VMM for the VIM's integration tests (--obey): it carries out orders (add,
 *     drain, remove, activate, standby) on simulated containers whose CPU utilization comes
 *     from --cpu or a file (--cpu-file), so scaling runs end to end without Docker.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "acs-link.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "acs-psk.h"

#define CONTAINERS_MAX ACS_PROTO_CONTAINERS_MAX
#define PORT_BLOCK 64          /* container ports per agent */

typedef struct Container {
        char id[ACS_PROTO_CONTAINER_ID_LEN + 1];
        uint16_t port;
        AcsContainerState state;
        usec_t ready_at;        /* starting until then */
} Container;

typedef struct Agent {
        struct Load *load;
        unsigned index;
        char name[32];
        AcsLinkClient *client;
        AcsLink *link;
        Container containers[CONTAINERS_MAX];
        size_t n_containers;
        unsigned serial;        /* for new container ids */
        bool standby;
        bool flipped;           /* one container reported as starting for the latency probe */
} Agent;

typedef struct Load {
        sd_event *event;
        sd_bus *bus;
        Agent *agents;
        unsigned n_agents;
        sd_event_source *tick, *stop;
        unsigned tick_n;

        /* latency: flips sent, BackendsChanged seen */
        usec_t *pending;        /* send times of flips not yet answered, FIFO */
        size_t pending_head, pending_n, pending_max;
        double *latencies;      /* ms */
        size_t n_latencies, max_latencies;
        uint64_t frames;
        unsigned connected;
        unsigned lost;          /* flips without a BackendsChanged within a second */
} Load;

static const char *arg_host = "127.0.0.1";
static uint16_t arg_port = 7070;
static uint16_t arg_next_ports[4];      /* --next-port: more VIMs on the same host, in order */
static unsigned arg_n_next_ports = 0;
static unsigned arg_agents = 1;
static unsigned arg_containers = 10;
static unsigned arg_capacity = 0;       /* 0: = containers */
static unsigned arg_min = 0;            /* the minimum the simulated VMM keeps */
static const char *arg_key_dir = NULL;
static bool arg_generate_keys = false;
static const char *arg_prefix = "sim";
static const char *arg_name = NULL;     /* one agent with exactly this name */
static double arg_cpu = 0.3;
static const char *arg_cpu_file = NULL;
static unsigned arg_base_port = 20000;
static unsigned arg_duration = 0;       /* 0: until SIGTERM */
static const char *arg_bus_address = NULL;
static unsigned arg_flips = 5;          /* per second, with --bus-address */
static pid_t arg_vim_pid = 0;
static bool arg_obey = false;
static bool arg_standby = false;
static usec_t arg_start_delay = USEC_PER_SEC;
static const char *arg_container_address = "127.0.0.1";
static const char *arg_ids_of = NULL;  /* report the container ids this VM would have */

static double current_cpu(void) {
        _cleanup_fclose_ FILE *f = NULL;
        double v;

        if (!arg_cpu_file)
                return arg_cpu;
        f = fopen(arg_cpu_file, "re");
        if (!f || fscanf(f, "%lf", &v) != 1 || !isfinite(v) || v < 0)
                return arg_cpu;
        return v;
}

/* Unique per VM name and serial, also across processes. */
static void container_id(Agent *a, unsigned serial, char ret[static ACS_PROTO_CONTAINER_ID_LEN + 1]) {
        uint64_t h = 14695981039346656037ULL; /* FNV-1a of the name */

        for (const char *p = arg_ids_of ?: a->name; *p; p++)
                h = (h ^ (uint8_t) *p) * 1099511628211ULL;
        /* VM and serial first, so the short ids (12 digits) of the logs differ. */
        (void) snprintf(ret, ACS_PROTO_CONTAINER_ID_LEN + 1, "%04x%08x%08x%016llx%016llx%012x", (unsigned) (h & 0xffff),
                        serial, a->index, (unsigned long long) h, (unsigned long long) h, 0xacu);
}

static Container *agent_add_container(Agent *a, AcsContainerState state, usec_t ready_at) {
        Container *c;

        if (a->n_containers >= CONTAINERS_MAX)
                return NULL;
        c = a->containers + a->n_containers++;
        container_id(a, a->serial, c->id);
        /* ports: a block per agent, so two agents never share one */
        c->port = (uint16_t) (arg_base_port + (a->index * PORT_BLOCK + a->serial) % 40000);
        a->serial++;
        c->state = state;
        c->ready_at = ready_at;
        return c;
}

static size_t agent_fill_infos(Agent *a, AcsContainerInfo *infos, double *ret_cpu) {
        double util = current_cpu(), total = 0;

        for (size_t i = 0; i < a->n_containers; i++) {
                Container *c = a->containers + i;
                bool ready = c->state == ACS_CONTAINER_READY;
                AcsContainerState s = c->state;

                if (a->flipped && i == 0 && s == ACS_CONTAINER_READY)
                        s = ACS_CONTAINER_STARTING;
                infos[i] = (AcsContainerInfo) {
                        .id = c->id,
                        .address = arg_container_address,
                        .port = c->port,
                        .state = s,
                        .cpu = ready ? util : 0,
                        .cpu_limit = 1.0,
                        .mem = 8 * 1024 * 1024,
                        .in_flight = 0,
                };
                total += infos[i].cpu;
        }
        *ret_cpu = total;
        return a->n_containers;
}

static int agent_send_register(Agent *a) {
        AcsContainerInfo infos[CONTAINERS_MAX];
        double cpu;
        size_t n = agent_fill_infos(a, infos, &cpu);
        AcsMessage m = {
                .type = ACS_MESSAGE_REGISTER,
                .reg = {
                        .vm = a->name,
                        .address = "127.0.0.1",
                        .capacity = arg_capacity,
                        .min = MIN(arg_min, arg_capacity),
                        .state = a->standby ? ACS_VM_STANDBY : ACS_VM_ACTIVE,
                        .containers = infos,
                        .n_containers = n,
                },
        };

        return acs_link_send(a->link, &m, NULL);
}

static int agent_send_metrics(Agent *a) {
        AcsContainerInfo infos[CONTAINERS_MAX];
        double cpu;
        size_t n = agent_fill_infos(a, infos, &cpu);
        AcsMessage m = {
                .type = ACS_MESSAGE_METRICS,
                .metrics = { .vm = a->name, .cpu = cpu, .containers = infos, .n_containers = n },
        };

        a->load->frames++;
        return acs_link_send(a->link, &m, NULL);
}

static Container *agent_find(Agent *a, const char *id) {
        for (size_t i = 0; i < a->n_containers; i++)
                if (streq(a->containers[i].id, id))
                        return a->containers + i;
        return NULL;
}

static void agent_on_order(Agent *a, const AcsMessage *msg) {
        const AcsOrder *o = &msg->order;
        Container *c;
        int result = 0;

        switch (o->order) {
        case ACS_ORDER_ADD:
                if (a->n_containers >= arg_capacity ||
                    !agent_add_container(a, ACS_CONTAINER_STARTING, now_usec(CLOCK_MONOTONIC) + arg_start_delay))
                        result = -ENOSPC;
                break;
        case ACS_ORDER_DRAIN:
                c = agent_find(a, o->container);
                if (c)
                        c->state = ACS_CONTAINER_DRAINING;
                else
                        result = -ENOENT;
                break;
        case ACS_ORDER_REMOVE:
                c = agent_find(a, o->container);
                if (c) {
                        *c = a->containers[--a->n_containers];
                } else
                        result = -ENOENT;
                break;
        case ACS_ORDER_ACTIVATE:
                a->standby = false;
                break;
        case ACS_ORDER_STANDBY:
                a->standby = true;
                break;
        case ACS_ORDER_SCALE:
        default:
                result = -EOPNOTSUPP;
                break;
        }
        fprintf(stderr, "%s: order %s %.12s from %s -> %d\n", a->name, acs_order_kind_to_string(o->order),
                o->container, acs_link_get_peer(a->link), result);
        (void) acs_link_send_ack(a->link, msg->seq, result, result < 0 ? strerror(-result) : "");
        /* Report at once, as acs-vmm does after a change. */
        (void) agent_send_metrics(a);
}

static void on_connect(AcsLink *link, const char *vm, void *userdata) {
        Agent *a = userdata;

        a->link = link;
        a->load->connected++;
        (void) agent_send_register(a);
}

static void on_message(AcsLink *link, const AcsMessage *m, void *userdata) {
        Agent *a = userdata;

        if (m->type == ACS_MESSAGE_ORDER && arg_obey)
                agent_on_order(a, m);
        else if (m->type == ACS_MESSAGE_ORDER)
                (void) acs_link_send_ack(link, m->seq, -EOPNOTSUPP, "simulated agent ignores orders");
}

static void on_disconnect(AcsLink *link, int reason, void *userdata) {
        Agent *a = userdata;

        a->link = NULL;
        a->load->connected--;
}

static const AcsLinkHandlers handlers = {
        .on_connect = on_connect,
        .on_message = on_message,
        .on_disconnect = on_disconnect,
};

static int on_backends_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Load *l = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (l->pending_n == 0)
                return 0;
        if (l->n_latencies < l->max_latencies)
                l->latencies[l->n_latencies++] = (double) (now - l->pending[l->pending_head]) / USEC_PER_MSEC;
        l->pending_head = (l->pending_head + 1) % l->pending_max;
        l->pending_n--;
        return 0;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Load *l = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        /* Spread the agents' reports over the second, as independent VMMs would be. */
        unsigned slice = l->tick_n % 10, flips = 0;

        (void) sd_event_source_set_time_relative(s, USEC_PER_SEC / 10);
        l->tick_n++;

        for (unsigned i = slice; i < l->n_agents; i += 10) {
                Agent *a = l->agents + i;

                if (!a->link)
                        continue;
                for (size_t k = 0; k < a->n_containers; k++)
                        if (a->containers[k].state == ACS_CONTAINER_STARTING && a->containers[k].ready_at <= now)
                                a->containers[k].state = ACS_CONTAINER_READY;

                /* One flip at a time: each BackendsChanged then answers exactly one flip. A
                 * flip unanswered for a second is dropped (and counted). */
                if (l->pending_n > 0 && l->pending[l->pending_head] + USEC_PER_SEC < now) {
                        l->pending_n = 0;
                        l->lost++;
                }
                if (l->bus && flips * 10 < arg_flips && a->n_containers > 0 && l->pending_n == 0 &&
                    (i / 10 + l->tick_n) % 7 == 0) {
                        a->flipped = !a->flipped;
                        l->pending[(l->pending_head + l->pending_n++) % l->pending_max] = now_usec(CLOCK_MONOTONIC);
                        flips++;
                }
                (void) agent_send_metrics(a);
        }
        return 0;
}

static uint64_t process_cpu_usec(pid_t pid) {
        char path[64];
        _cleanup_fclose_ FILE *f = NULL;
        unsigned long utime, stime;
        char buf[4096], *p;

        (void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f || !fgets(buf, sizeof(buf), f))
                return 0;
        p = strrchr(buf, ')');
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
                return 0;
        return (uint64_t) (utime + stime) * USEC_PER_SEC / (uint64_t) sysconf(_SC_CLK_TCK);
}

static int compare_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

static int help(void) {
        printf("%s --port PORT --key-dir DIR [OPTIONS]\n\n"
               "Simulated VMMs against acs-vim over the real link.\n\n"
               "  --host ADDR           VIM agent address (127.0.0.1)\n"
               "  --port PORT           VIM agent port (7070)\n"
               "  --next-port PORT      another VIM's agent port, tried next (up to 4)\n"
               "  --agents N            agents, each its own VM (1)\n"
               "  --name NAME           the single agent's VM name (else PREFIX0001...)\n"
               "  --prefix PREFIX       VM name prefix (sim)\n"
               "  --containers N        containers each agent starts with (10)\n"
               "  --capacity N          slots each agent reports (= containers)\n"
               "  --min N               the minimum each agent says it keeps (0)\n"
               "  --standby             register as a standby VM\n"
               "  --key-dir DIR         keys as DIR/<vm>.key\n"
               "  --generate-keys       write a fresh key for every agent into DIR first\n"
               "  --cpu U               utilization every ready container reports (0.3)\n"
               "  --cpu-file FILE       read U from FILE every report instead\n"
               "  --base-port N         first container port (20000)\n"
               "  --obey                carry out the VIM's orders on the simulated containers\n"
               "  --duration S          run S seconds, then print the figures (until SIGTERM)\n"
               "  --bus-address ADDR    time BackendsChanged on this bus after flips\n"
               "  --flips N             flips per second (5)\n"
               "  --vim-pid PID         measure this process's CPU use over the run\n"
               "  --container-address A the address reported for every container (127.0.0.1)\n"
               "  --ids-of NAME         report the container ids VM NAME has (a hostile VM)\n",
               program_invocation_short_name);
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        enum { A_HOST = 0x100, A_PORT, A_AGENTS, A_NAME, A_PREFIX, A_CONTAINERS, A_CAPACITY, A_STANDBY, A_KEY_DIR,
               A_GEN, A_CPU, A_CPU_FILE, A_BASE_PORT, A_OBEY, A_DURATION, A_BUS, A_FLIPS, A_VIM_PID, A_MIN, A_CONTAINER_ADDRESS,
               A_IDS_OF, A_NEXT_PORT };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "host", required_argument, NULL, A_HOST },
                { "port", required_argument, NULL, A_PORT },
                { "next-port", required_argument, NULL, A_NEXT_PORT },
                { "agents", required_argument, NULL, A_AGENTS },
                { "name", required_argument, NULL, A_NAME },
                { "prefix", required_argument, NULL, A_PREFIX },
                { "containers", required_argument, NULL, A_CONTAINERS },
                { "capacity", required_argument, NULL, A_CAPACITY },
                { "min", required_argument, NULL, A_MIN },
                { "standby", no_argument, NULL, A_STANDBY },
                { "key-dir", required_argument, NULL, A_KEY_DIR },
                { "generate-keys", no_argument, NULL, A_GEN },
                { "cpu", required_argument, NULL, A_CPU },
                { "cpu-file", required_argument, NULL, A_CPU_FILE },
                { "base-port", required_argument, NULL, A_BASE_PORT },
                { "obey", no_argument, NULL, A_OBEY },
                { "duration", required_argument, NULL, A_DURATION },
                { "bus-address", required_argument, NULL, A_BUS },
                { "flips", required_argument, NULL, A_FLIPS },
                { "vim-pid", required_argument, NULL, A_VIM_PID },
                { "container-address", required_argument, NULL, A_CONTAINER_ADDRESS },
                { "ids-of", required_argument, NULL, A_IDS_OF },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return help();
                case A_HOST: arg_host = optarg; break;
                case A_PORT: arg_port = (uint16_t) atoi(optarg); break;
                case A_NEXT_PORT:
                        if (arg_n_next_ports >= ELEMENTSOF(arg_next_ports))
                                return log_error_errno(EINVAL, "At most %zu --next-port.", ELEMENTSOF(arg_next_ports));
                        arg_next_ports[arg_n_next_ports++] = (uint16_t) atoi(optarg);
                        break;
                case A_AGENTS: arg_agents = (unsigned) atoi(optarg); break;
                case A_NAME: arg_name = optarg; break;
                case A_PREFIX: arg_prefix = optarg; break;
                case A_CONTAINERS: arg_containers = (unsigned) atoi(optarg); break;
                case A_CAPACITY: arg_capacity = (unsigned) atoi(optarg); break;
                case A_MIN: arg_min = (unsigned) atoi(optarg); break;
                case A_STANDBY: arg_standby = true; break;
                case A_KEY_DIR: arg_key_dir = optarg; break;
                case A_GEN: arg_generate_keys = true; break;
                case A_CPU: arg_cpu = atof(optarg); break;
                case A_CPU_FILE: arg_cpu_file = optarg; break;
                case A_BASE_PORT: arg_base_port = (unsigned) atoi(optarg); break;
                case A_OBEY: arg_obey = true; break;
                case A_DURATION: arg_duration = (unsigned) atoi(optarg); break;
                case A_BUS: arg_bus_address = optarg; break;
                case A_FLIPS: arg_flips = (unsigned) atoi(optarg); break;
                case A_VIM_PID: arg_vim_pid = (pid_t) atoi(optarg); break;
                case A_CONTAINER_ADDRESS: arg_container_address = optarg; break;
                case A_IDS_OF: arg_ids_of = optarg; break;
                default:
                        return -EINVAL;
                }
        if (!arg_key_dir || arg_agents == 0 || arg_agents > 100000 || arg_containers > CONTAINERS_MAX ||
            (arg_name && arg_agents != 1))
                return log_error_errno(EINVAL, "Need --key-dir, 1..100000 --agents, at most %d --containers, "
                                               "and --name only with one agent.", CONTAINERS_MAX);
        if (arg_capacity == 0)
                arg_capacity = arg_containers;
        arg_capacity = MIN(arg_capacity, CONTAINERS_MAX);
        return 1;
}

static void raise_fd_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int main(int argc, char *argv[]) {
        Load l = {};
        uint64_t cpu_start = 0;
        usec_t t_start;
        int r;

        log_setup_journal();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        raise_fd_limit();

        r = sd_event_default(&l.event);
        if (r < 0)
                return 1;
        (void) sd_event_set_signal_exit(l.event, true);

        l.n_agents = arg_agents;
        l.agents = calloc(arg_agents, sizeof(Agent));
        l.pending_max = 1024;
        l.pending = calloc(l.pending_max, sizeof(usec_t));
        l.max_latencies = 1000000;
        l.latencies = calloc(l.max_latencies, sizeof(double));
        if (!l.agents || !l.pending || !l.latencies)
                return log_oom(), 1;

        if (arg_bus_address) {
                r = sd_bus_new(&l.bus);
                if (r >= 0)
                        r = sd_bus_set_address(l.bus, arg_bus_address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(l.bus, true);
                if (r >= 0)
                        r = sd_bus_start(l.bus);
                if (r >= 0)
                        r = sd_bus_match_signal(l.bus, NULL, NULL, "/org/acs/VIM1", "org.acs.VIM1", "BackendsChanged",
                                                on_backends_changed, &l);
                if (r >= 0)
                        r = sd_bus_attach_event(l.bus, l.event, SD_EVENT_PRIORITY_IMPORTANT);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch BackendsChanged on %s: %m", arg_bus_address), 1;
        }

        for (unsigned i = 0; i < arg_agents; i++) {
                Agent *a = l.agents + i;
                uint8_t key[ACS_PSK_SIZE];
                char path[4096];

                a->load = &l;
                a->index = i;
                a->standby = arg_standby;
                if (arg_name)
                        (void) snprintf(a->name, sizeof(a->name), "%s", arg_name);
                else
                        (void) snprintf(a->name, sizeof(a->name), "%s%04u", arg_prefix, i + 1);
                (void) snprintf(path, sizeof(path), "%s/%s.key", arg_key_dir, a->name);
                if (arg_generate_keys) {
                        r = acs_psk_generate(key);
                        if (r >= 0)
                                r = acs_psk_write_file(path, key);
                } else
                        r = acs_psk_read_file(path, key);
                if (r < 0)
                        return log_error_errno(r, "Key %s: %s", path, acs_psk_strerror(r)), 1;
                for (unsigned k = 0; k < arg_containers; k++)
                        (void) agent_add_container(a, ACS_CONTAINER_READY, 0);

                r = acs_link_client_new(l.event, NULL, arg_host, arg_port, a->name, key, &handlers, a, &a->client);
                for (unsigned k = 0; r >= 0 && k < arg_n_next_ports; k++)
                        r = acs_link_client_add_address(a->client, arg_host, arg_next_ports[k]);
                if (r >= 0)
                        r = acs_link_client_start(a->client);
                if (r < 0)
                        return log_error_errno(r, "Failed to start agent %s: %m", a->name), 1;
        }

        /* accuracy 1 µs: 0 would mean sd-event's default of 250 ms per tick */
        r = sd_event_add_time_relative(l.event, &l.tick, CLOCK_MONOTONIC, USEC_PER_SEC / 10, 1, on_tick, &l);
        if (r < 0)
                return 1;
        (void) sd_event_source_set_enabled(l.tick, SD_EVENT_ON);

        /* Warm-up: the handshakes of many agents at once are not what is measured. Wait until
         * every agent is connected (at most a minute), then a few seconds more for the VIM to
         * settle. */
        t_start = now_usec(CLOCK_MONOTONIC);
        if (arg_duration > 0) {
                usec_t settle = 5 * USEC_PER_SEC, connected_at = 0;

                while (now_usec(CLOCK_MONOTONIC) < t_start + 60 * USEC_PER_SEC) {
                        if (sd_event_run(l.event, 100 * USEC_PER_MSEC) < 0)
                                break;
                        if (l.connected == l.n_agents && connected_at == 0)
                                connected_at = now_usec(CLOCK_MONOTONIC);
                        if (connected_at > 0 && now_usec(CLOCK_MONOTONIC) >= connected_at + settle)
                                break;
                }
                printf("warmup_s=%.1f connected=%u\n", (double) (now_usec(CLOCK_MONOTONIC) - t_start) / USEC_PER_SEC,
                       l.connected);
                l.n_latencies = 0;
                l.frames = 0;
                l.pending_n = 0;
                l.lost = 0;
                t_start = now_usec(CLOCK_MONOTONIC);
                if (arg_vim_pid > 0)
                        cpu_start = process_cpu_usec(arg_vim_pid);
                r = sd_event_add_time_relative(l.event, &l.stop, CLOCK_MONOTONIC,
                                               (usec_t) arg_duration * USEC_PER_SEC, 1, NULL, NULL);
                if (r < 0)
                        return 1;
        }

        r = sd_event_loop(l.event);
        if (arg_duration > 0) {
                double elapsed = (double) (now_usec(CLOCK_MONOTONIC) - t_start) / USEC_PER_SEC;

                printf("agents=%u connected=%u containers_each=%u seconds=%.1f metrics_frames=%llu (%.0f/s)\n",
                       l.n_agents, l.connected, arg_containers, elapsed, (unsigned long long) l.frames,
                       l.frames / elapsed);
                if (arg_vim_pid > 0)
                        printf("vim_cpu_percent_of_one_core=%.2f\n",
                               (double) (process_cpu_usec(arg_vim_pid) - cpu_start) / (elapsed * USEC_PER_SEC) * 100);
                if (l.n_latencies > 0) {
                        qsort(l.latencies, l.n_latencies, sizeof(double), compare_double);
                        printf("decision_latency_ms samples=%zu unanswered=%u p50=%.2f p99=%.2f max=%.2f\n",
                               l.n_latencies, l.lost,
                               l.latencies[l.n_latencies / 2], l.latencies[(size_t) ((l.n_latencies - 1) * 0.99)],
                               l.latencies[l.n_latencies - 1]);
                }
        }
        for (unsigned i = 0; i < l.n_agents; i++)
                acs_link_client_free(l.agents[i].client);
        sd_bus_flush_close_unref(l.bus);
        sd_event_source_unref(l.tick);
        sd_event_source_unref(l.stop);
        sd_event_unref(l.event);
        free(l.agents);
        free(l.pending);
        free(l.latencies);
        return 0;
}
