/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * TLS for the HTTP servers (the VIM's dashboard and API, acs-proxy's clients): PEM certificate
 * and key pairs chosen by the name the client asks for (SNI), TLS 1.2 and 1.3 with Mozilla's
 * "intermediate" settings, session tickets under keys that rotate, OCSP stapling from a file,
 * ALPN, and a reload that swaps the pairs while established connections keep theirs.
 */

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

#include "acs-config.h"
#include "acs-time.h"

#define ACS_TLS_PAIRS_MAX 64
#define ACS_TLS_OCSP_MAX (64U * 1024U)
/* A session ticket key encrypts new tickets for this long, then only decrypts for as long again. */
#define ACS_TLS_TICKET_KEY_PERIOD_DEFAULT (12 * 3600 * USEC_PER_SEC)

typedef struct AcsTlsSettings {
        char **certificates;    /* PEM files: the certificate, then its chain */
        char **keys;            /* PEM private keys: the n-th goes with the n-th certificate */
        char **ocsp_responses;  /* DER OCSP responses to staple, the n-th for the n-th certificate */
        usec_t ticket_key_period; /* 0: ACS_TLS_TICKET_KEY_PERIOD_DEFAULT */
} AcsTlsSettings;

/* The [Tls] keys every TLS server shares, for a config table whose struct has an AcsTlsSettings
 * member named field. */
#define ACS_TLS_CONFIG_ITEMS(type, field)                                                           \
        { "Tls", "Certificate", ACS_CONFIG_STRV, offsetof(type, field.certificates) },            \
        { "Tls", "Key", ACS_CONFIG_STRV, offsetof(type, field.keys) },                            \
        { "Tls", "OcspResponse", ACS_CONFIG_STRV, offsetof(type, field.ocsp_responses) },         \
        { "Tls", "TicketKeyPeriod", ACS_CONFIG_DURATION, offsetof(type, field.ticket_key_period),  \
          .min = USEC_PER_SEC, .max = 7 * 24 * 3600 * USEC_PER_SEC }

bool acs_tls_settings_enabled(const AcsTlsSettings *s);

/* Checks what the table cannot: as many keys as certificates (at most ACS_TLS_PAIRS_MAX), no more
 * OCSP responses than certificates. Logs the reason naming path and returns -EINVAL. */
int acs_tls_settings_verify(const AcsTlsSettings *s, const char *path);

typedef struct AcsTlsServer AcsTlsServer;

/* Loads every pair. alpn: the protocols offered, in the server's order of preference, as a
 * NULL-terminated list ("h2", "http/1.1"); NULL: no ALPN. Logs what fails. */
int acs_tls_server_new(const AcsTlsSettings *s, const char *const *alpn, AcsTlsServer **ret);

/* Reads the files again; on any failure the pairs in force stay, and the error is returned
 * (logged). Connections established before keep the certificate they were given. */
int acs_tls_server_reload(AcsTlsServer *t);

AcsTlsServer *acs_tls_server_free(AcsTlsServer *t);

/* A server-side SSL on the non-blocking socket fd (not owned), its handshake still to come. */
SSL *acs_tls_server_new_ssl(AcsTlsServer *t, int fd);
