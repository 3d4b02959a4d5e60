/* SPDX-License-Identifier: MIT */
/*
 * The agent provider: the VM is always up and its VMM always connected; standby means it runs
 * no containers (ActivateCommand=/StandbyCommand= hooks may do more). The VIM never powers it.
 */
#include "vim-provider.h"

const VimProviderOps vim_provider_agent = {
        .name = "agent",
};
