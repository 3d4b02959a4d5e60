/* SPDX-License-Identifier: MIT */
#include "acs-macro.h"
#include "vim-provider.h"

static const VimProviderOps *const providers[] = {
        &vim_provider_agent,
        &vim_provider_systemd,
        &vim_provider_libvirt,
};

const VimProviderOps *vim_provider_from_string(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(providers); i++)
                if (streq(providers[i]->name, name))
                        return providers[i];
        return NULL;
}
