#include "config.h"

#include "buf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define KEY_MIN_LEN 16
#define KEY_MAX_LEN 512

typedef enum { VAR_INT, VAR_BOOL, VAR_LEVEL, VAR_STRING, VAR_SPECIAL } var_type_t;

typedef struct {
    const char *name;
    var_type_t type;
    const char *def; /* textual default, shown by --help; NULL = computed */
    int64_t min, max;
    size_t offset;
    const char *help;
} var_t;

#define OFF(f) offsetof(config_t, f)

/* The one place where each variable, its default and its range live. */
static const var_t vars[] = {
    {"PORT", VAR_INT, "8080", 1, 65535, OFF(port), "TCP port to listen on"},
    {"BIND_ADDRESS", VAR_STRING, "0.0.0.0", 0, 0, OFF(bind_address),
     "IPv4 or IPv6 address to bind"},
    {"DATABASE_URL", VAR_SPECIAL, "sqlite:var/items.db", 0, 0, 0,
     "postgres://user:pass@host:port/db?sslmode=... (libpq URI) or sqlite:PATH or sqlite::memory:"},
    {"DATABASE_URL_FILE", VAR_SPECIAL, NULL, 0, 0, 0, "file holding DATABASE_URL (for secrets)"},
    {"API_KEYS", VAR_SPECIAL, NULL, 0, 0, 0,
     "comma-separated API keys (16-512 visible ASCII chars each)"},
    {"API_KEYS_FILE", VAR_SPECIAL, NULL, 0, 0, 0, "file with one API key per line; # comments"},
    {"WORKER_THREADS", VAR_INT, NULL, 1, 64, OFF(worker_threads),
     "event-loop threads (default: CPUs)"},
    {"DB_POOL_SIZE", VAR_INT, "16", 1, 256, OFF(db_pool_size),
     "PostgreSQL connections in total, spread over the worker threads (at least one each)"},
    {"DB_STARTUP_TIMEOUT_SECONDS", VAR_INT, "30", 0, 3600, OFF(db_startup_timeout_s),
     "how long serve retries an unreachable database at start-up"},
    {"DB_POOL_TIMEOUT_MS", VAR_INT, "2000", 1, 60000, OFF(db_pool_timeout_ms),
     "how long a request waits for a database connection before 503"},
    {"DB_STATEMENT_TIMEOUT_MS", VAR_INT, "5000", 100, 600000, OFF(db_statement_timeout_ms),
     "client-side deadline for every database call"},
    {"DB_CONNECT_TIMEOUT_SECONDS", VAR_INT, "3", 2, 60, OFF(db_connect_timeout_s),
     "libpq connect_timeout"},
    {"MAX_BODY_BYTES", VAR_INT, "1048576", 1024, 67108864, OFF(max_body_bytes),
     "largest request body accepted (413 above)"},
    {"MAX_HEADER_BYTES", VAR_INT, "16384", 1024, 65536, OFF(max_header_bytes),
     "largest request header section (431 above)"},
    {"LOG_LEVEL", VAR_LEVEL, "info", 0, 0, OFF(log_level), "debug|info|warn|error"},
    {"ACCESS_LOG", VAR_BOOL, "on", 0, 1, OFF(access_log),
     "one JSON line per request (on|off); successful /healthz and /readyz at debug level only"},
    {"DRAIN_SECONDS", VAR_INT, "5", 0, 600, OFF(drain_seconds),
     "after SIGTERM, keep serving this long with /readyz at 503"},
    {"SHUTDOWN_TIMEOUT_SECONDS", VAR_INT, "20", 1, 600, OFF(shutdown_timeout_s),
     "after the drain, how long in-flight requests may take"},
    {"HEADER_TIMEOUT_SECONDS", VAR_INT, "10", 1, 600, OFF(header_timeout_s),
     "time allowed to receive a request's header section"},
    {"BODY_TIMEOUT_SECONDS", VAR_INT, "30", 1, 3600, OFF(body_timeout_s),
     "time allowed to receive a request body (and to send a response)"},
    {"KEEPALIVE_TIMEOUT_SECONDS", VAR_INT, "75", 1, 3600, OFF(keepalive_timeout_s),
     "idle keep-alive timeout (keep it above the load balancer's, 60 s on the ALB)"},
    {"MAX_CONNECTIONS", VAR_INT, "10000", 16, 1000000, OFF(max_connections),
     "cap on concurrent client connections"},
    {"RATE_LIMIT_RPS", VAR_INT, "0", 0, 1000000, OFF(rate_limit_rps),
     "per-API-key requests/s on /v1 (0 = off)"},
    {"RATE_LIMIT_BURST", VAR_INT, NULL, 1, 10000000, OFF(rate_limit_burst),
     "token bucket size (default: RATE_LIMIT_RPS)"},
    {"METRICS_EMF_INTERVAL_SECONDS", VAR_INT, "60", 0, 3600, OFF(emf_interval_s),
     "print a CloudWatch Embedded Metric Format line this often (0 = off)"},
    {"SANDBOX", VAR_BOOL, "on", 0, 1, OFF(sandbox), "seccomp allowlist after start-up (on|off)"},
};

static int parse_int(const char *s, int64_t *out)
{
    int64_t v = 0;

    if (*s == '\0')
        return IA_ERR;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return IA_ERR;
        if (v > (INT64_MAX - 9) / 10)
            return IA_ERR;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return IA_OK;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"on", "true", "1", "yes"};
    static const char *const no[] = {"off", "false", "0", "no"};

    for (size_t i = 0; i < IA_ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return IA_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return IA_OK;
        }
    }
    return IA_ERR;
}

/* Reads a small secret file whole. Returns NULL and fills err on failure. */
static char *read_secret_file(const char *var, const char *path, err_t *err)
{
    char *data = NULL;
    size_t len = 0, cap = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        err_set(err, "%s: cannot open %s: %s", var, path, strerror(errno));
        goto cleanup;
    }
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 4096;
            if (cap > (1u << 20)) {
                err_set(err, "%s: %s is larger than 1 MiB", var, path);
                free(data);
                data = NULL;
                goto cleanup;
            }
            data = ia_realloc(data, cap);
        }
        ssize_t n = read(fd, data + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err_set(err, "%s: cannot read %s: %s", var, path, strerror(errno));
            free(data);
            data = NULL;
            goto cleanup;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    data[len] = '\0';
cleanup:
    if (fd >= 0)
        close(fd);
    return data;
}

static void trim_inplace(char *s)
{
    size_t n = strlen(s);
    size_t start = 0;

    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    while (start < n && isspace((unsigned char)s[start]))
        start++;
    memmove(s, s + start, n - start);
    s[n - start] = '\0';
}

/* A short public name for a key, so logs can show which key a client uses
 * (e.g. to confirm a rotation) without anything that helps guess it. */
static void key_label(api_key_hash_t *k)
{
    static const char domain[] = "items-api key label v1";
    static const char hex[] = "0123456789abcdef";
    unsigned char in[sizeof(domain) + CONFIG_KEY_HASH_LEN];
    unsigned char md[SHA256_DIGEST_LENGTH];

    memcpy(in, domain, sizeof(domain));
    memcpy(in + sizeof(domain), k->hash, CONFIG_KEY_HASH_LEN);
    SHA256(in, sizeof(in), md);
    for (int i = 0; i < 4; i++) {
        k->label[2 * i] = hex[md[i] >> 4];
        k->label[2 * i + 1] = hex[md[i] & 15];
    }
    k->label[8] = '\0';
}

int config_parse_api_keys(config_t *cfg, const char *text, char sep, err_t *err)
{
    const char *var = sep == ',' ? "API_KEYS" : "API_KEYS_FILE";
    const char *p = text;
    size_t lineno = 0;

    while (*p != '\0') {
        const char *end = strchr(p, sep);
        if (end == NULL)
            end = p + strlen(p);
        lineno++;
        const char *s = p, *e = end;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        p = *end ? end + 1 : end;
        if (s == e || (sep == '\n' && *s == '#'))
            continue;
        size_t len = (size_t)(e - s);
        if (len < KEY_MIN_LEN || len > KEY_MAX_LEN) {
            err_set(err, "%s: key %zu has %zu characters; keys must have %d to %d", var, lineno,
                    len, KEY_MIN_LEN, KEY_MAX_LEN);
            return IA_ERR;
        }
        for (const char *c = s; c < e; c++) {
            if (*c < 0x21 || *c > 0x7E) {
                err_set(err, "%s: key %zu contains a character outside visible ASCII", var, lineno);
                return IA_ERR;
            }
        }
        if (cfg->n_keys == CONFIG_MAX_KEYS) {
            err_set(err, "%s: more than %d keys", var, CONFIG_MAX_KEYS);
            return IA_ERR;
        }
        api_key_hash_t *k = &cfg->keys[cfg->n_keys];
        SHA256((const unsigned char *)s, len, k->hash);
        key_label(k);
        cfg->n_keys++;
    }
    return IA_OK;
}

/*
 * A loggable description of a PostgreSQL URI, built from libpq's own parse so
 * that no spelling of the password (unescaped '@', '/', '?', a password=
 * parameter) can slip through. NULL if libpq cannot parse the URI.
 */
static char *describe_pg_url(const char *url)
{
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    const char *user = "", *host = "", *port = "", *db = "";
    buf_t b = {0};

    if (opts == NULL)
        return NULL;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "user") == 0)
            user = o->val;
        else if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
    }
    buf_printf(&b, "postgres://%s%s%s%s%s/%s", user, *user ? "@" : "", host, *port ? ":" : "", port,
               db);
    PQconninfoFree(opts);
    return b.data;
}

/*
 * A password with an unescaped '@' or '/' makes libpq read the URI
 * differently from what its author meant (part of the password becomes a
 * host, port or database name, and then shows up in logs and errors). So
 * every '@' must be the one userinfo separator, inside the authority.
 */
static bool pg_url_unambiguous(const char *url)
{
    const char *auth = strstr(url, "://") + 3;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = strchr(auth, '@');

    if (at == NULL)
        return true;
    return (size_t)(at - auth) < auth_len && strchr(at + 1, '@') == NULL;
}

int config_parse_database_url(config_t *cfg, const char *url, err_t *err)
{
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        if (!pg_url_unambiguous(url)) {
            err_set(err, "DATABASE_URL: ambiguous PostgreSQL URI: percent-encode '@', '/', '?' "
                         "and '#' in the user name and password (e.g. %%40 for '@')");
            return IA_ERR;
        }
        char *desc = describe_pg_url(url);
        if (desc == NULL) {
            /* libpq's message may quote part of the URI, password included. */
            err_set(err, "DATABASE_URL: not a valid PostgreSQL URI (check percent-encoding of "
                         "special characters in the user name and password)");
            return IA_ERR;
        }
        cfg->db_kind = DB_KIND_POSTGRES;
        cfg->database_url = strdup(url);
        cfg->db_redacted = desc;
        return IA_OK;
    }
    if (strncmp(url, "sqlite:", 7) == 0) {
        const char *path = url + 7;
        if (*path == '\0') {
            err_set(
                err,
                "DATABASE_URL: sqlite: needs a path, e.g. sqlite:var/items.db or sqlite::memory:");
            return IA_ERR;
        }
        cfg->db_kind = DB_KIND_SQLITE;
        cfg->database_url = strdup(url);
        cfg->sqlite_path = strdup(path);
        cfg->db_redacted = strdup(url);
        return IA_OK;
    }
    /* Do not echo the value: it may carry a password. */
    err_set(err, "DATABASE_URL: unsupported value; expected postgres://user:pass@host:port/db "
                 "(or postgresql://) or sqlite:PATH or sqlite::memory:");
    return IA_ERR;
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);

    return (v != NULL && *v != '\0') ? v : NULL;
}

static int load_database(config_t *cfg, err_t *err)
{
    const char *url = env_nonempty("DATABASE_URL");
    const char *file = env_nonempty("DATABASE_URL_FILE");
    char *text = NULL;
    int rc = IA_ERR;

    if (url != NULL && file != NULL) {
        err_set(err, "DATABASE_URL and DATABASE_URL_FILE are both set; set only one");
        goto cleanup;
    }
    if (file != NULL) {
        text = read_secret_file("DATABASE_URL_FILE", file, err);
        if (text == NULL)
            goto cleanup;
        trim_inplace(text);
        if (*text == '\0') {
            err_set(err, "DATABASE_URL_FILE: %s is empty", file);
            goto cleanup;
        }
        url = text;
    }
    if (url == NULL)
        url = "sqlite:var/items.db";
    rc = config_parse_database_url(cfg, url, err);
    if (rc == IA_OK && file != NULL)
        cfg->database_url_file = strdup(file);
    if (rc != IA_OK && file != NULL)
        err_set(err, "DATABASE_URL_FILE: the file's content is not a supported URL; expected "
                     "postgres://... or sqlite:PATH");
cleanup:
    if (text != NULL) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    return rc;
}

char *config_reread_database_url(const char *path, err_t *err)
{
    char *text = read_secret_file("DATABASE_URL_FILE", path, err);

    if (text == NULL)
        return NULL;
    trim_inplace(text);
    if ((strncmp(text, "postgres://", 11) != 0 && strncmp(text, "postgresql://", 13) != 0) ||
        !pg_url_unambiguous(text)) {
        err_set(err, "DATABASE_URL_FILE: %s no longer holds a usable PostgreSQL URI", path);
        explicit_bzero(text, strlen(text));
        free(text);
        return NULL;
    }
    return text;
}

static int load_keys(config_t *cfg, err_t *err)
{
    const char *keys = env_nonempty("API_KEYS");
    const char *file = env_nonempty("API_KEYS_FILE");
    char *text = NULL;
    int rc = IA_ERR;

    if (keys != NULL && file != NULL) {
        err_set(err, "API_KEYS and API_KEYS_FILE are both set; set only one");
        goto cleanup;
    }
    if (file != NULL) {
        text = read_secret_file("API_KEYS_FILE", file, err);
        if (text == NULL)
            goto cleanup;
        if (config_parse_api_keys(cfg, text, '\n', err) != IA_OK)
            goto cleanup;
    } else if (keys != NULL) {
        if (config_parse_api_keys(cfg, keys, ',', err) != IA_OK)
            goto cleanup;
    }
    if (cfg->n_keys == 0) {
        err_set(err, "API_KEYS: no API key configured; set API_KEYS (comma-separated) or "
                     "API_KEYS_FILE (one key per line)");
        goto cleanup;
    }
    rc = IA_OK;
cleanup:
    if (text != NULL) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    return rc;
}

static int load_var(config_t *cfg, const var_t *v, err_t *err)
{
    const char *val = getenv(v->name);
    char *field = (char *)cfg + v->offset;

    if (val == NULL || *val == '\0')
        val = v->def;
    if (val == NULL)
        return IA_OK; /* computed default, filled by the caller */
    switch (v->type) {
    case VAR_INT: {
        int64_t n;
        if (parse_int(val, &n) != IA_OK || n < v->min || n > v->max) {
            err_set(err, "%s: must be an integer from %lld to %lld (got \"%.32s\")", v->name,
                    (long long)v->min, (long long)v->max, val);
            return IA_ERR;
        }
        memcpy(field, &n, sizeof(n));
        return IA_OK;
    }
    case VAR_BOOL: {
        bool b;
        if (parse_bool(val, &b) != IA_OK) {
            err_set(err, "%s: must be on or off (got \"%.32s\")", v->name, val);
            return IA_ERR;
        }
        memcpy(field, &b, sizeof(b));
        return IA_OK;
    }
    case VAR_LEVEL: {
        log_level_t l;
        if (!log_parse_level(val, &l)) {
            err_set(err, "%s: must be one of debug, info, warn, error (got \"%.32s\")", v->name,
                    val);
            return IA_ERR;
        }
        memcpy(field, &l, sizeof(l));
        return IA_OK;
    }
    case VAR_STRING: {
        char *s = strdup(val);
        memcpy(field, &s, sizeof(s));
        return IA_OK;
    }
    case VAR_SPECIAL:
        return IA_OK;
    }
    return IA_OK;
}

static int check_bind_address(const config_t *cfg, err_t *err)
{
    const char *a = cfg->bind_address;

    if (strlen(a) > 45 || strspn(a, "0123456789abcdefABCDEF.:") != strlen(a)) {
        err_set(err, "BIND_ADDRESS: must be a numeric IPv4 or IPv6 address (got \"%.46s\")", a);
        return IA_ERR;
    }
    return IA_OK;
}

/*
 * Each worker thread pipelines on connections of its own, so PostgreSQL
 * needs at least one connection per worker. DB_POOL_SIZE is the budget the
 * operator gave the database (max_connections is shared by every instance):
 * it is never exceeded. Fewer threads are started when WORKER_THREADS was
 * left to its default; a conflicting explicit pair refuses to start.
 */
static int check_pool(config_t *cfg, bool threads_set, err_t *err)
{
    if (cfg->db_kind != DB_KIND_POSTGRES || cfg->db_pool_size >= cfg->worker_threads)
        return IA_OK;
    if (!threads_set) {
        cfg->worker_threads = cfg->db_pool_size;
        return IA_OK;
    }
    err_set(err,
            "DB_POOL_SIZE: must be at least WORKER_THREADS (%lld) with PostgreSQL, up to 256 "
            "(each worker thread uses connections of its own); got %lld",
            (long long)cfg->worker_threads, (long long)cfg->db_pool_size);
    return IA_ERR;
}

int config_load(config_t *cfg, err_t *err)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int rc = IA_ERR;

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < IA_ARRAY_LEN(vars); i++) {
        if (load_var(cfg, &vars[i], err) != IA_OK)
            goto cleanup;
    }
    if (getenv("WORKER_THREADS") == NULL || *getenv("WORKER_THREADS") == '\0')
        cfg->worker_threads = ncpu < 1 ? 1 : (ncpu > 64 ? 64 : ncpu);
    if (getenv("RATE_LIMIT_BURST") == NULL || *getenv("RATE_LIMIT_BURST") == '\0')
        cfg->rate_limit_burst = cfg->rate_limit_rps > 0 ? cfg->rate_limit_rps : 1;
    if (check_bind_address(cfg, err) != IA_OK)
        goto cleanup;
    if (load_database(cfg, err) != IA_OK)
        goto cleanup;
    if (load_keys(cfg, err) != IA_OK)
        goto cleanup;
    if (check_pool(cfg, getenv("WORKER_THREADS") != NULL && *getenv("WORKER_THREADS") != '\0',
                   err) != IA_OK)
        goto cleanup;
    rc = IA_OK;
cleanup:
    if (rc != IA_OK)
        config_free(cfg);
    return rc;
}

void config_free(config_t *cfg)
{
    if (cfg->database_url != NULL) {
        explicit_bzero(cfg->database_url, strlen(cfg->database_url));
        free(cfg->database_url);
    }
    free(cfg->sqlite_path);
    free(cfg->db_redacted);
    free(cfg->database_url_file);
    free(cfg->bind_address);
    explicit_bzero(cfg->keys, sizeof(cfg->keys));
    memset(cfg, 0, sizeof(*cfg));
}

void config_print_help(void)
{
    printf("Environment variables:\n");
    for (size_t i = 0; i < IA_ARRAY_LEN(vars); i++) {
        const var_t *v = &vars[i];
        printf("  %-30s %s", v->name, v->help);
        if (v->def != NULL)
            printf(" [default: %s]", v->def);
        if (v->type == VAR_INT)
            printf(" [range: %lld-%lld]", (long long)v->min, (long long)v->max);
        printf("\n");
    }
}

void config_scrub_environ(void)
{
    static const char *const secret[] = {"API_KEYS=", "DATABASE_URL="};

    for (char **e = environ; e != NULL && *e != NULL; e++) {
        for (size_t i = 0; i < IA_ARRAY_LEN(secret); i++) {
            size_t n = strlen(secret[i]);
            if (strncmp(*e, secret[i], n) == 0)
                explicit_bzero(*e + n, strlen(*e + n));
        }
    }
}
