/* SPDX-License-Identifier: MIT */
#include "proxy-lb.h"
#include "proxy-settings.h"

const LbOps *lb_ops_for(int balance) {
        switch (balance) {
        case PROXY_BALANCE_ROUNDROBIN:
                return &lb_roundrobin_ops;
        case PROXY_BALANCE_LEASTCONN:
                return &lb_leastconn_ops;
        case PROXY_BALANCE_HASH:
                return &lb_hash_ops;
        default:
                return &lb_p2c_ops;
        }
}

Backend *lb_fallback(BackendSet *set, const LbContext *ctx) {
        Backend *avoided = NULL;

        for (unsigned i = 0; i < set->n_backends; i++) {
                Backend *b = set->backends[i];
                if (!backend_available(b, ctx->now) || !lb_has_room(b, ctx))
                        continue;
                if (b != ctx->avoid)
                        return b;
                avoided = b;
        }
        return avoided;
}
