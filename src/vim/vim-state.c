/* SPDX-License-Identifier: MIT */
/*
 * What operators change at run time outlives a restart: the policy set over D-Bus or the API,
 * the replica count an operator set (while the policy still holds it) and the last power
 * decision on each VM with a power provider (an operator's or the VM tier's) are kept in
 * <StateDirectory>/vim-state.json, written atomically (a temporary file, fsync, rename, fsync of
 * the directory) and read back at start. A file that is too large or not entirely what
 * acs-vim writes is refused as a whole, with a log line: acs-vim then starts from vim.conf.
 *
 * The file also keeps the policy vim.conf gave when it was written ("config"). A key whose
 * value in vim.conf differs from that was edited by hand after the run-time change, and the
 * file wins for it. A reload follows the same rule: a key vim.conf changes replaces the running
 * value; every other key keeps what was set at run time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acs-log.h"
#include "acs-macro.h"
#include "vim-manager.h"
#include "vim-policy.h"
#include "vim-provider.h"
#include "vim-state.h"

#define STATE_FILE "vim-state.json"
#define STATE_SIZE_MAX (64 * 1024)
#define STATE_REPLICAS_MAX 100000
#define STATE_VMS_MAX 1024

/* The keys whose value differs between two policies, with their value in b. */
static int policy_diff(const AcsPolicy *a, const AcsPolicy *b, json_object **ret) {
        _cleanup_(vim_json_putp) json_object *ja = vim_policy_to_json(a), *jb = vim_policy_to_json(b), *diff = NULL;

        diff = json_object_new_object();
        if (!ja || !jb || !diff)
                return -ENOMEM;
        json_object_object_foreach(jb, key, vb) {
                json_object *va = json_object_object_get(ja, key);

                if (json_object_equal(va, vb))
                        continue;
                if (json_object_object_add(diff, key, json_object_get(vb)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(diff);
        return 0;
}

/* Applies the keys of o to p; false (logged) when they are refused. */
static bool policy_apply(AcsPolicy *p, json_object *o, const char *what) {
        const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        char error[256];

        if (vim_policy_apply_json(p, text, strlen(text), error, sizeof(error)) >= 0)
                return true;
        log_warning("Ignoring the %s: %s", what, error);
        return false;
}

int vim_policy_reapply_config(VimManager *m, const AcsPolicy *old_config, const AcsPolicy *new_config,
                              json_object **ret_changed) {
        _cleanup_(vim_json_putp) json_object *diff = NULL;
        AcsPolicy p = m->policy;
        int r;

        r = policy_diff(old_config, new_config, &diff);
        if (r < 0)
                return r;
        if (json_object_object_length(diff) > 0 && !policy_apply(&p, diff, "policy of vim.conf"))
                return -EINVAL;
        m->policy = p;
        if (ret_changed)
                *ret_changed = TAKE_PTR(diff);
        return 0;
}

static int state_path(VimManager *m, char **ret) {
        if (!m->settings.state_directory || !m->settings.state_directory[0])
                return -ENOENT;
        if (asprintf(ret, "%s/" STATE_FILE, m->settings.state_directory) < 0)
                return -ENOMEM;
        return 0;
}

static int read_bounded(const char *path, char **ret) {
        _cleanup_free_ char *buf = malloc(STATE_SIZE_MAX + 1);
        _cleanup_close_ int fd = -EBADF;
        size_t n = 0;

        if (!buf)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t k = read(fd, buf + n, STATE_SIZE_MAX + 1 - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > STATE_SIZE_MAX)
                        return -EFBIG;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* The count an operator set, if the file holds one: {"replicas": N}. */
static int state_parse_count(json_object *o, unsigned *ret) {
        json_object *replicas;
        int64_t n;

        if (!o) {
                *ret = UINT_MAX;
                return 0;
        }
        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "replicas", &replicas) ||
            !json_object_is_type(replicas, json_type_int))
                return -EBADMSG;
        n = json_object_get_int64(replicas);
        if (n < 0 || n > STATE_REPLICAS_MAX)
                return -ERANGE;
        *ret = (unsigned) n;
        return 0;
}

/* The power decisions: {"vm name": "on" | "off", ...}, checked all before any is applied. */
static int state_check_power(json_object *o) {
        if (!o)
                return 0;
        if (!json_object_is_type(o, json_type_object) || json_object_object_length(o) > STATE_VMS_MAX)
                return -EBADMSG;
        json_object_object_foreach(o, name, value) {
                const char *v = json_object_get_string(value);

                if (strlen(name) > 255 || !json_object_is_type(value, json_type_string) ||
                    !(streq(v, "on") || streq(v, "off")))
                        return -EBADMSG;
        }
        return 0;
}

static void state_apply_power(VimManager *m, json_object *o, const char *source) {
        json_object_object_foreach(o, name, value) {
                VimVm *vm = vim_manager_find_vm(m, name);
                VimPowerWish wish = streq(json_object_get_string(value), "on") ? VIM_POWER_WISH_ON : VIM_POWER_WISH_OFF;

                if (!vm || !vim_vm_can_power(vm)) {
                        log_notice("%s: VM %s is not declared here with a power provider, ignoring its power state.",
                                   source, name);
                        continue;
                }
                if (vm->power_wish != wish)
                        log_info("VM %s was powered %s (%s).", vm->name, json_object_get_string(value), source);
                vm->power_wish = wish;
        }
}

int vim_state_check_runtime(json_object *o) {
        unsigned count;
        int r;

        r = state_parse_count(json_object_object_get(o, "scaled"), &count);
        if (r < 0)
                return r;
        return state_check_power(json_object_object_get(o, "power"));
}

void vim_state_apply_runtime(VimManager *m, json_object *o, const char *source) {
        unsigned count;

        if (state_parse_count(json_object_object_get(o, "scaled"), &count) < 0)
                return;
        m->operator_desired_held = count != UINT_MAX;
        if (m->operator_desired_held && m->operator_desired != count) {
                m->operator_desired = count;
                m->desired = CLAMP(count, m->policy.min_replicas, m->policy.max_replicas);
                log_info("The count of %u replicas an operator set (%s).", count, source);
        }
        if (state_check_power(json_object_object_get(o, "power")) >= 0)
                state_apply_power(m, json_object_object_get(o, "power"), source);
}

int vim_state_load(VimManager *m) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_(vim_json_putp) json_object *o = NULL;
        json_object *policy, *config;
        AcsPolicy file_config, saved_config, restored;
        int r;

        r = state_path(m, &path);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_oom();
        r = read_bounded(path, &text);
        if (r == -ENOENT)
                return 0;
        /* A state file never keeps acs-vim from starting: vim.conf alone is a sound start. */
        if (r == -EFBIG) {
                log_warning("%s is larger than %u bytes, refusing it and starting from vim.conf alone.", path,
                            STATE_SIZE_MAX);
                return 0;
        }
        if (r < 0) {
                log_warning_errno(r, "Failed to read %s, starting from vim.conf alone: %m", path);
                return 0;
        }
        o = json_tokener_parse(text);
        if (!json_object_object_get_ex(o, "policy", &policy) || !json_object_object_get_ex(o, "config", &config) ||
            !json_object_is_type(policy, json_type_object) || !json_object_is_type(config, json_type_object) ||
            vim_state_check_runtime(o) < 0) {
                log_warning("%s is not a state file of acs-vim, refusing it and starting from vim.conf alone.", path);
                return 0;
        }

        /* The run-time policy, then whatever vim.conf changed since it was saved. */
        vim_settings_to_policy(&m->settings, &file_config);
        saved_config = file_config;
        restored = m->policy;
        if (!policy_apply(&restored, policy, "saved policy") || !policy_apply(&saved_config, config, "saved configuration")) {
                log_warning("Refusing %s, starting from vim.conf alone.", path);
                return 0;
        }
        m->policy = restored;
        r = vim_policy_reapply_config(m, &saved_config, &file_config, NULL);
        if (r < 0)
                m->policy = file_config;
        m->desired = MAX(m->desired, m->policy.min_replicas);
        m->operator_desired = UINT_MAX;
        vim_state_apply_runtime(m, o, "restored from the state file");
        log_info("Restored the policy changed at run time from %s.", path);
        return 0;
}

static int write_all(int fd, const char *s, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, s, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                s += k;
                n -= (size_t) k;
        }
        return 0;
}

static int state_write(const char *dir, const char *path, const char *text) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF, dfd = -EBADF;
        int r;

        if (asprintf(&tmp, "%s/." STATE_FILE ".XXXXXX", dir) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = write_all(fd, text, strlen(text));
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        /* The rename itself must reach the disk too. */
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

int vim_state_add_runtime(VimManager *m, json_object *o) {
        json_object *power;

        if (m->operator_desired_held) {
                json_object *scaled = json_object_new_object();

                if (!scaled || json_object_object_add(o, "scaled", scaled) < 0 ||
                    json_object_object_add(scaled, "replicas", json_object_new_int64(m->operator_desired)) < 0)
                        return -ENOMEM;
        }
        power = json_object_new_object();
        if (!power || json_object_object_add(o, "power", power) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_vms; i++) {
                VimVm *vm = m->vms[i];

                if (vm->power_wish == VIM_POWER_UNDECIDED)
                        continue;
                if (json_object_object_add(power, vm->name,
                                           json_object_new_string(vm->power_wish == VIM_POWER_WISH_ON ? "on" : "off")) < 0)
                        return -ENOMEM;
        }
        return 0;
}

void vim_state_save(VimManager *m) {
        _cleanup_(vim_json_putp) json_object *o = json_object_new_object();
        _cleanup_free_ char *path = NULL;
        AcsPolicy config;
        int r;

        r = state_path(m, &path);
        if (r == -ENOENT)
                return;
        vim_settings_to_policy(&m->settings, &config);
        if (r < 0 || !o || json_object_object_add(o, "policy", vim_policy_to_json(&m->policy)) < 0 ||
            json_object_object_add(o, "config", vim_policy_to_json(&config)) < 0 ||
            vim_state_add_runtime(m, o) < 0) {
                log_oom();
                return;
        }
        r = state_write(m->settings.state_directory, path, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
        if (r < 0)
                log_warning_errno(r, "Failed to save the run-time state in %s, it will not outlive a restart: %m", path);
}
