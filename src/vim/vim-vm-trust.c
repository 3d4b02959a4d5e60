/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "acs-config.h"
#include "acs-log.h"
#include "acs-macro.h"
#include "vim-config.h"
#include "vim-vm-trust.h"

typedef struct VmFile {
        char *address;
        unsigned max_containers;
        unsigned max_weight;
} VmFile;

static const AcsConfigItem vm_file_table[] = {
        { "VM", "Address", ACS_CONFIG_STRING, offsetof(VmFile, address) },
        { "VM", "MaxContainers", ACS_CONFIG_UINT, offsetof(VmFile, max_containers), .min = 0,
          .max = ACS_PROTO_CONTAINERS_MAX },
        { "VM", "MaxWeight", ACS_CONFIG_UINT, offsetof(VmFile, max_weight), .min = 1, .max = 256 },
        {},
};

void vim_vm_trust_init(VimVmTrust *t) {
        *t = (VimVmTrust) { .family = AF_UNSPEC };
        (void) snprintf(t->refusal, sizeof(t->refusal), "the VM has not registered");
}

/* Numeric addresses only (a name would be resolved by someone else, later); an IPv4-mapped
 * IPv6 address is its IPv4 address, so that ::ffff:127.0.0.1 is loopback too. */
static int address_parse(const char *s, struct in6_addr *ret) {
        static const uint8_t v4_mapped[12] = { [10] = 0xff, [11] = 0xff };

        *ret = (struct in6_addr) {};
        if (inet_pton(AF_INET, s, ret) == 1)
                return AF_INET;
        if (inet_pton(AF_INET6, s, ret) != 1)
                return -EINVAL;
        if (memcmp(ret->s6_addr, v4_mapped, sizeof(v4_mapped)) == 0) {
                memmove(ret->s6_addr, ret->s6_addr + 12, 4);
                memset(ret->s6_addr + 4, 0, 12);
                return AF_INET;
        }
        return AF_INET6;
}

/* Whether one of this host's interfaces has the address. */
static bool address_is_ours(int family, const struct in6_addr *a) {
        struct ifaddrs *list, *i;
        bool found = false;

        if (getifaddrs(&list) < 0)
                return true; /* unknown: refuse rather than guess */
        for (i = list; i && !found; i = i->ifa_next) {
                if (!i->ifa_addr || i->ifa_addr->sa_family != family)
                        continue;
                if (family == AF_INET)
                        found = memcmp(&((struct sockaddr_in *) i->ifa_addr)->sin_addr, a, 4) == 0;
                else
                        found = memcmp(&((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr, a, 16) == 0;
        }
        freeifaddrs(list);
        return found;
}

/* NULL for an address a VM may have, else why not. */
static const char *address_refusal(int family, const struct in6_addr *a, bool allow_host) {
        const uint8_t *b = a->s6_addr;

        if (family == AF_INET) {
                if (b[0] == 0)
                        return "a wildcard address";
                if (b[0] == 169 && b[1] == 254)
                        return "a link-local address";
                if (b[0] >= 224)
                        return "a multicast or broadcast address";
                if (b[0] == 127 && !allow_host)
                        return "a loopback address (AllowHostAddresses=no)";
        } else {
                if (IN6_IS_ADDR_UNSPECIFIED(a))
                        return "a wildcard address";
                if (IN6_IS_ADDR_LINKLOCAL(a))
                        return "a link-local address";
                if (IN6_IS_ADDR_MULTICAST(a))
                        return "a multicast address";
                if (IN6_IS_ADDR_LOOPBACK(a) && !allow_host)
                        return "a loopback address (AllowHostAddresses=no)";
        }
        if (!allow_host && address_is_ours(family, a))
                return "an address of the front host (AllowHostAddresses=no)";
        return NULL;
}

static int vm_file_load(VmFile *f, const char *vm_name, const char *key_directory) {
        _cleanup_free_ char *path = NULL;
        AcsConfigError e = {};
        int r;

        if (!key_directory)
                return 0;
        if (asprintf(&path, "%s/%s.conf", key_directory, vm_name) < 0)
                return log_oom();
        r = acs_config_load(path, true, vm_file_table, f, &e);
        if (r < 0) {
                log_event(LOG_ERR, "vm-config-invalid", vm_name, NULL, "%s",
                          e.message ?: "Failed to load the VM's configuration.");
                acs_config_error_done(&e);
        }
        return r;
}

int vim_vm_trust_settle(VimVmTrust *t, const VimSettings *s, const char *vm_name, const char *key_directory,
                        const char *peer_address) {
        VmFile f = { .max_containers = s->max_containers, .max_weight = s->max_weight };
        const char *address, *why;
        int family, r;

        vim_vm_trust_init(t);
        r = vm_file_load(&f, vm_name, key_directory);
        if (r < 0) {
                (void) snprintf(t->refusal, sizeof(t->refusal), "its configuration file is invalid");
                goto out;
        }
        address = f.address && f.address[0] ? f.address : peer_address;
        family = address_parse(address, &t->address);
        why = family < 0 ? "not a numeric IP address" : address_refusal(family, &t->address, s->allow_host_addresses);
        if (why) {
                (void) snprintf(t->refusal, sizeof(t->refusal), "its address %s is %s", address, why);
                log_event(LOG_WARNING, "vm-address-refused", vm_name, NULL,
                          "VM %s: address %s (%s) is %s; none of its containers will be used.", vm_name, address,
                          f.address && f.address[0] ? "[VM] Address=" : "peer address", why);
                r = -EPERM;
                goto out;
        }
        t->family = family;
        (void) inet_ntop(family, &t->address, t->address_text, sizeof(t->address_text));
        t->max_containers = f.max_containers;
        t->max_weight = f.max_weight;
        t->port_min = s->container_port_min;
        t->port_max = s->container_port_max;
out:
        free(f.address);
        return r;
}

bool vim_vm_trust_allows(const VimVmTrust *t, const AcsContainerInfo *c, char reason[static VIM_REFUSAL_MAX]) {
        struct in6_addr a;
        int family;

        if (t->family == AF_UNSPEC) {
                (void) snprintf(reason, VIM_REFUSAL_MAX, "%s", t->refusal);
                return false;
        }
        family = address_parse(c->address, &a);
        if (family != t->family || memcmp(&a, &t->address, sizeof(a)) != 0) {
                vim_text_sanitize(c->address, reason, 64);
                (void) snprintf(reason + strlen(reason), VIM_REFUSAL_MAX - strlen(reason),
                                " is not the VM's address %s", t->address_text);
                return false;
        }
        if (c->port < t->port_min || c->port > t->port_max) {
                (void) snprintf(reason, VIM_REFUSAL_MAX, "port %u is outside %u..%u", c->port, t->port_min,
                                t->port_max);
                return false;
        }
        return true;
}

void vim_text_sanitize(const char *s, char *buf, size_t size) {
        size_t n = 0;

        if (size == 0)
                return;
        for (; *s && n + 1 < size; s++, n++)
                buf[n] = (uint8_t) *s < 0x20 || *s == 0x7f ? '?' : *s;
        /* Do not end inside a UTF-8 sequence: drop continuation bytes and their lead byte. */
        if (*s && n > 0 && ((uint8_t) buf[n - 1] & 0x80)) {
                while (n > 0 && ((uint8_t) buf[n - 1] & 0xc0) == 0x80)
                        n--;
                if (n > 0 && ((uint8_t) buf[n - 1] & 0xc0) == 0xc0)
                        n--;
        }
        buf[n] = 0;
}
