/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs-config.h"
#include "acs-macro.h"

typedef struct ConfigParser {
        const char *file;
        unsigned line;                  /* the line inih is looking at: counted by our reader */
        const AcsConfigItem *table;
        void *settings;
        AcsConfigError *error;
        int r;
} ConfigParser;

void acs_config_error_done(AcsConfigError *e) {
        if (!e)
                return;
        e->file = mfree(e->file);
        e->message = mfree(e->message);
        e->line = 0;
}

int parse_boolean(const char *s) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}

_printf_(4, 5) static int config_fail(ConfigParser *p, int r, unsigned line, const char *format, ...) {
        _cleanup_free_ char *what = NULL;
        va_list ap;

        /* Keep only the first error: it is the one a person fixes first. */
        if (p->error->message)
                return r;

        va_start(ap, format);
        if (vasprintf(&what, format, ap) < 0)
                what = NULL;
        va_end(ap);

        p->error->file = p->file ? strdup(p->file) : NULL;
        p->error->line = line;
        if (line > 0) {
                if (asprintf(&p->error->message, "%s:%u: %s", strempty(p->file), line, strempty(what)) < 0)
                        p->error->message = NULL;
        } else if (asprintf(&p->error->message, "%s: %s", strempty(p->file), strempty(what)) < 0)
                p->error->message = NULL;
        p->r = r;
        return r;
}

static int parse_int_bounded(const char *value, int64_t min, int64_t max, int64_t *ret) {
        char *end = NULL;
        long long v;

        errno = 0;
        v = strtoll(value, &end, 0);
        if (errno == ERANGE || !end || end == value || *end != 0)
                return -EINVAL;
        if ((min != 0 || max != 0) && (v < min || v > max))
                return -ERANGE;
        *ret = v;
        return 0;
}

static char *describe_range(const AcsConfigItem *item, const char *noun) {
        char *s = NULL;

        if (item->min == 0 && item->max == 0) {
                if (asprintf(&s, "%s", noun) < 0)
                        return NULL;
        } else if (asprintf(&s, "%s in %lld..%lld", noun, (long long) item->min, (long long) item->max) < 0)
                return NULL;
        return s;
}

/*
 * One parser per value type. Each stores the value at dest and returns 0, or returns a negative
 * errno and says what was expected: a static sentence in *expected_static or a formatted one in
 * *expected (owned by the caller). -ENOMEM is returned as such, without a sentence.
 */
typedef int (*ConfigAssign)(const AcsConfigItem *item, const char *value, void *dest, char **expected,
                            const char **expected_static);

static int assign_string(const AcsConfigItem *item, const char *value, void *dest, char **expected,
                         const char **expected_static) {
        char **s = dest;
        char *copy = strdup(value);

        if (!copy)
                return -ENOMEM;
        free(*s);
        *s = copy;
        return 0;
}

static int assign_strv(const AcsConfigItem *item, const char *value, void *dest, char **expected,
                       const char **expected_static) {
        char ***l = dest;
        size_t n = 0;
        char **grown, *copy;

        if (!*value) {
                strv_freep(l);
                *l = NULL;
                return 0;
        }
        if (*l)
                while ((*l)[n])
                        n++;
        copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        grown = realloc(*l, (n + 2) * sizeof(char *));
        if (!grown) {
                free(copy);
                return -ENOMEM;
        }
        grown[n] = copy;
        grown[n + 1] = NULL;
        *l = grown;
        return 0;
}

static int assign_bool(const AcsConfigItem *item, const char *value, void *dest, char **expected,
                       const char **expected_static) {
        int r = parse_boolean(value);

        if (r < 0) {
                *expected_static = "a boolean (yes or no)";
                return r;
        }
        *(bool *) dest = r;
        return 0;
}

/* INT and UINT: an unbounded UINT still has to fit the unsigned it is stored in. */
static int assign_integer(const AcsConfigItem *item, const char *value, void *dest, char **expected,
                          const char **expected_static) {
        AcsConfigItem bounds = *item;
        int64_t v;
        int r;

        if (item->type == ACS_CONFIG_UINT && item->min == 0 && item->max == 0)
                bounds.max = UINT32_MAX;
        r = parse_int_bounded(value, bounds.min, bounds.max, &v);
        if (r >= 0 && item->type == ACS_CONFIG_UINT && v < 0)
                r = -ERANGE;
        if (r < 0) {
                *expected = describe_range(&bounds, "an integer");
                return r;
        }
        if (item->type == ACS_CONFIG_INT)
                *(int64_t *) dest = v;
        else
                *(unsigned *) dest = (unsigned) v;
        return 0;
}

static int assign_double(const AcsConfigItem *item, const char *value, void *dest, char **expected,
                         const char **expected_static) {
        bool bounded = item->dmin != 0 || item->dmax != 0;
        char *end = NULL;
        double v;

        errno = 0;
        v = strtod(value, &end);
        if (errno != 0 || !end || end == value || *end != 0 || !isfinite(v) ||
            (bounded && (v < item->dmin || v > item->dmax))) {
                if (!bounded)
                        *expected_static = "a number";
                else if (asprintf(expected, "a number in %g..%g", item->dmin, item->dmax) < 0)
                        *expected = NULL;
                return -EINVAL;
        }
        *(double *) dest = v;
        return 0;
}

static int assign_duration(const AcsConfigItem *item, const char *value, void *dest, char **expected,
                           const char **expected_static) {
        bool bounded = item->min != 0 || item->max != 0;
        usec_t v;
        int r;

        r = parse_duration(value, &v);
        if (r >= 0 && bounded && (v < (usec_t) item->min || v > (usec_t) item->max))
                r = -ERANGE;
        if (r < 0) {
                if (!bounded)
                        *expected_static = "a duration (e.g. 500ms, 5s, 1min)";
                else if (asprintf(expected, "a duration (e.g. 500ms, 5s, 1min) in %gs..%gs",
                                  (double) item->min / USEC_PER_SEC, (double) item->max / USEC_PER_SEC) < 0)
                        *expected = NULL;
                return r;
        }
        *(usec_t *) dest = v;
        return 0;
}

static int assign_enum(const AcsConfigItem *item, const char *value, void *dest, char **expected,
                       const char **expected_static) {
        size_t len = 0;
        char *s;

        for (size_t i = 0; item->choices[i]; i++)
                if (streq(value, item->choices[i])) {
                        *(int *) dest = (int) i;
                        return 0;
                }
        for (size_t i = 0; item->choices[i]; i++)
                len += strlen(item->choices[i]) + 2;
        *expected = s = malloc(len + 16);
        if (s) {
                s += sprintf(s, "one of: ");
                for (size_t i = 0; item->choices[i]; i++)
                        s += sprintf(s, "%s%s", i > 0 ? ", " : "", item->choices[i]);
        }
        return -EINVAL;
}

static int assign_custom(const AcsConfigItem *item, const char *value, void *dest, char **expected,
                         const char **expected_static) {
        return item->parse(item, value, dest, expected_static);
}

static const ConfigAssign config_assigners[] = {
        [ACS_CONFIG_STRING] = assign_string,
        [ACS_CONFIG_STRV] = assign_strv,
        [ACS_CONFIG_BOOL] = assign_bool,
        [ACS_CONFIG_INT] = assign_integer,
        [ACS_CONFIG_UINT] = assign_integer,
        [ACS_CONFIG_DOUBLE] = assign_double,
        [ACS_CONFIG_DURATION] = assign_duration,
        [ACS_CONFIG_ENUM] = assign_enum,
        [ACS_CONFIG_CUSTOM] = assign_custom,
};

static int config_assign(ConfigParser *p, const AcsConfigItem *item, const char *section, const char *key,
                         const char *value) {
        void *dest = (uint8_t *) p->settings + item->offset;
        _cleanup_free_ char *expected = NULL;
        const char *expected_static = NULL;
        int r;

        if ((size_t) item->type < ELEMENTSOF(config_assigners) && config_assigners[item->type]) {
                r = config_assigners[item->type](item, value, dest, &expected, &expected_static);
                if (r >= 0 || r == -ENOMEM)
                        return r < 0 ? r : 0;
        } else {
                r = -EINVAL;
                expected_static = "a value of a known type";
        }

        return config_fail(p, r < 0 ? r : -EINVAL, p->line, "[%s] %s=%s: expected %s", section, key, value,
                           expected ? expected : strempty(expected_static));
}

static int config_handler(void *userdata, const char *section, const char *key, const char *value) {
        ConfigParser *p = userdata;
        bool section_known = false;
        int r;

        if (!key)       /* inih announces a new section with a NULL key when INI_CALL_HANDLER_ON_NEW_SECTION */
                return 1;

        for (const AcsConfigItem *i = p->table; i->key; i++) {
                if (!streq(i->section, section))
                        continue;
                section_known = true;
                if (!streq(i->key, key))
                        continue;
                r = config_assign(p, i, section, key, value);
                if (r == -ENOMEM) {
                        config_fail(p, r, p->line, "out of memory");
                        return 0;
                }
                return r < 0 ? 0 : 1;
        }

        if (!section_known)
                config_fail(p, -EINVAL, p->line, "unknown section [%s]", section);
        else
                config_fail(p, -EINVAL, p->line, "unknown key %s in section [%s]", key, section);
        return 0;
}

/* inih reads line by line through this, so it is where we learn which line the handler is on. */
static char *config_reader(char *buf, int size, void *stream) {
        struct { FILE *f; ConfigParser *p; } *s = stream;
        char *l = fgets(buf, size, s->f);

        if (l)
                s->p->line++;
        return l;
}

static int config_parse_stream(ConfigParser *p, FILE *f) {
        struct { FILE *f; ConfigParser *p; } s = { f, p };
        int r;

        p->line = 0;
        r = ini_parse_stream(config_reader, &s, config_handler, p);
        if (r < 0)
                return config_fail(p, -ENOMEM, 0, "out of memory while reading");
        if (r > 0 && !p->error->message)
                return config_fail(p, -EINVAL, (unsigned) r,
                                   "syntax error: expected [Section], Key=Value or a comment");
        return p->r;
}

static int config_parse_file(ConfigParser *p, const char *path, bool allow_missing) {
        _cleanup_fclose_ FILE *f = NULL;

        p->file = path;
        f = fopen(path, "re");
        if (!f) {
                if (errno == ENOENT && allow_missing)
                        return 0;
                return config_fail(p, -errno, 0, "cannot open: %s", strerror(errno));
        }
        return config_parse_stream(p, f);
}

static int dropin_filter(const struct dirent *de) {
        size_t l = strlen(de->d_name);
        return de->d_name[0] != '.' && l > 5 && streq(de->d_name + l - 5, ".conf");
}

int acs_config_load(const char *path, bool allow_missing, const AcsConfigItem *table, void *settings,
                    AcsConfigError *ret_error) {
        ConfigParser p = { .table = table, .settings = settings, .error = ret_error };
        _cleanup_free_ char *dir = NULL;
        struct dirent **entries = NULL;
        int n, r;

        *ret_error = (AcsConfigError) {};

        r = config_parse_file(&p, path, allow_missing);
        if (r < 0)
                return r;

        if (asprintf(&dir, "%s.d", path) < 0)
                return -ENOMEM;

        n = scandir(dir, &entries, dropin_filter, alphasort);
        if (n < 0)
                return errno == ENOENT || errno == ENOTDIR ? 0 : config_fail(&p, -errno, 0, "cannot read %s: %s", dir, strerror(errno));

        r = 0;
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *f = NULL;

                if (r >= 0) {
                        if (asprintf(&f, "%s/%s", dir, entries[i]->d_name) < 0)
                                r = -ENOMEM;
                        else
                                r = config_parse_file(&p, f, false);
                        /* p.file points into f, which goes away now: the error keeps its own copy. */
                        p.file = NULL;
                }
                free(entries[i]);
        }
        free(entries);
        return r;
}

int acs_config_load_string(const char *name, const char *text, const AcsConfigItem *table, void *settings,
                           AcsConfigError *ret_error) {
        ConfigParser p = { .file = name, .table = table, .settings = settings, .error = ret_error };
        _cleanup_fclose_ FILE *f = NULL;

        *ret_error = (AcsConfigError) {};
        f = fmemopen((void *) text, strlen(text), "r");
        if (!f)
                return -errno;
        return config_parse_stream(&p, f);
}

void acs_config_free(const AcsConfigItem *table, void *settings) {
        for (const AcsConfigItem *i = table; i->key; i++) {
                void *dest = (uint8_t *) settings + i->offset;

                if (i->type == ACS_CONFIG_STRING)
                        *(char **) dest = mfree(*(char **) dest);
                else if (i->type == ACS_CONFIG_STRV) {
                        strv_freep((char ***) dest);
                        *(char ***) dest = NULL;
                }
        }
}

static size_t config_item_size(AcsConfigType type) {
        switch (type) {
        case ACS_CONFIG_STRING:
                return sizeof(char *);
        case ACS_CONFIG_STRV:
                return sizeof(char **);
        case ACS_CONFIG_BOOL:
                return sizeof(bool);
        case ACS_CONFIG_INT:
                return sizeof(int64_t);
        case ACS_CONFIG_UINT:
                return sizeof(unsigned);
        case ACS_CONFIG_DOUBLE:
                return sizeof(double);
        case ACS_CONFIG_DURATION:
                return sizeof(usec_t);
        case ACS_CONFIG_ENUM:
                return sizeof(int);
        default:
                return 0;
        }
}

static bool strv_equal(char *const *a, char *const *b) {
        for (; a && b && *a && *b; a++, b++)
                if (!streq(*a, *b))
                        return false;
        return (!a || !*a) && (!b || !*b);
}

bool acs_config_item_equal(const AcsConfigItem *item, const void *a, const void *b) {
        const uint8_t *x = (const uint8_t *) a + item->offset, *y = (const uint8_t *) b + item->offset;

        switch (item->type) {
        case ACS_CONFIG_STRING:
                return streq_ptr(*(char *const *) x, *(char *const *) y);
        case ACS_CONFIG_STRV:
                return strv_equal(*(char **const *) x, *(char **const *) y);
        case ACS_CONFIG_DOUBLE:
                return *(const double *) x == *(const double *) y;
        case ACS_CONFIG_CUSTOM:
                return true;
        default:
                return memcmp(x, y, config_item_size(item->type)) == 0;
        }
}

int acs_config_item_swap(const AcsConfigItem *item, void *a, void *b) {
        uint8_t *x = (uint8_t *) a + item->offset, *y = (uint8_t *) b + item->offset, tmp[16];
        size_t size = config_item_size(item->type);

        if (size == 0 || size > sizeof(tmp))
                return -EOPNOTSUPP;
        memcpy(tmp, x, size);
        memcpy(x, y, size);
        memcpy(y, tmp, size);
        return 0;
}
