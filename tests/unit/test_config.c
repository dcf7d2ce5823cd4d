/*
 * config.c: the environment contract. Defaults, every range (the message
 * names the variable and the accepted values), DATABASE_URL schemes and
 * files, API keys (list and file), and that no password or key ends up in
 * a message or in the loggable database description.
 */
#include "unit.h"

#include "config.h"

#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#define GOOD_KEY "unit-test-key-0123456789"

static const char *const all_vars[] = {
    "PORT",
    "BIND_ADDRESS",
    "DATABASE_URL",
    "DATABASE_URL_FILE",
    "API_KEYS",
    "API_KEYS_FILE",
    "WORKER_THREADS",
    "DB_POOL_SIZE",
    "DB_STARTUP_TIMEOUT_SECONDS",
    "DB_POOL_TIMEOUT_MS",
    "DB_STATEMENT_TIMEOUT_MS",
    "DB_CONNECT_TIMEOUT_SECONDS",
    "MAX_BODY_BYTES",
    "MAX_HEADER_BYTES",
    "LOG_LEVEL",
    "ACCESS_LOG",
    "DRAIN_SECONDS",
    "SHUTDOWN_TIMEOUT_SECONDS",
    "HEADER_TIMEOUT_SECONDS",
    "BODY_TIMEOUT_SECONDS",
    "KEEPALIVE_TIMEOUT_SECONDS",
    "MAX_CONNECTIONS",
    "RATE_LIMIT_RPS",
    "RATE_LIMIT_BURST",
    "METRICS_EMF_INTERVAL_SECONDS",
    "SANDBOX",
};

/* Integer variables and their accepted ranges (config.c's table, which
 * --help prints; the issue fixes PORT, MAX_HEADER_BYTES <= 64 KiB...). */
static const struct {
    const char *name;
    long long min, max;
    size_t offset;
} int_vars[] = {
    {"PORT", 1, 65535, offsetof(config_t, port)},
    {"WORKER_THREADS", 1, 64, offsetof(config_t, worker_threads)},
    {"DB_POOL_SIZE", 1, 256, offsetof(config_t, db_pool_size)},
    {"DB_STARTUP_TIMEOUT_SECONDS", 0, 3600, offsetof(config_t, db_startup_timeout_s)},
    {"DB_POOL_TIMEOUT_MS", 1, 60000, offsetof(config_t, db_pool_timeout_ms)},
    {"DB_STATEMENT_TIMEOUT_MS", 100, 600000, offsetof(config_t, db_statement_timeout_ms)},
    {"DB_CONNECT_TIMEOUT_SECONDS", 2, 60, offsetof(config_t, db_connect_timeout_s)},
    {"MAX_BODY_BYTES", 1024, 67108864, offsetof(config_t, max_body_bytes)},
    {"MAX_HEADER_BYTES", 1024, 65536, offsetof(config_t, max_header_bytes)},
    {"DRAIN_SECONDS", 0, 600, offsetof(config_t, drain_seconds)},
    {"SHUTDOWN_TIMEOUT_SECONDS", 1, 600, offsetof(config_t, shutdown_timeout_s)},
    {"HEADER_TIMEOUT_SECONDS", 1, 600, offsetof(config_t, header_timeout_s)},
    {"BODY_TIMEOUT_SECONDS", 1, 3600, offsetof(config_t, body_timeout_s)},
    {"KEEPALIVE_TIMEOUT_SECONDS", 1, 3600, offsetof(config_t, keepalive_timeout_s)},
    {"MAX_CONNECTIONS", 16, 1000000, offsetof(config_t, max_connections)},
    {"RATE_LIMIT_RPS", 0, 1000000, offsetof(config_t, rate_limit_rps)},
    {"RATE_LIMIT_BURST", 1, 10000000, offsetof(config_t, rate_limit_burst)},
    {"METRICS_EMF_INTERVAL_SECONDS", 0, 3600, offsetof(config_t, emf_interval_s)},
};

static char tmpdir[64];

/* ---- fixtures ---- */

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/items-unit-config.XXXXXX");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Every test starts from an environment with only a valid API key. */
static int env_reset(void **state)
{
    (void)state;
    for (size_t i = 0; i < IA_ARRAY_LEN(all_vars); i++)
        unsetenv(all_vars[i]);
    setenv("API_KEYS", GOOD_KEY, 1);
    return 0;
}

static const char *write_file(const char *name, const char *content)
{
    static char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(content, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return path;
}

static int64_t field_i64(const config_t *cfg, size_t offset)
{
    int64_t v;

    memcpy(&v, (const char *)cfg + offset, sizeof(v));
    return v;
}

/* config_load must succeed; the caller config_free()s. */
static void load_ok(config_t *cfg)
{
    err_t err;

    memset(&err, 0, sizeof(err));
    if (config_load(cfg, &err) != IA_OK)
        fail_msg("config_load failed: %s", err.msg);
}

/* config_load must fail with a message naming var; returns the message. */
static const char *load_fails(const char *var)
{
    static err_t err;
    config_t cfg;

    memset(&err, 0, sizeof(err));
    if (config_load(&cfg, &err) != IA_ERR) {
        config_free(&cfg);
        fail_msg("config_load accepted the environment; expected an error naming %s", var);
    }
    if (strstr(err.msg, var) == NULL)
        fail_msg("message does not name %s: %s", var, err.msg);
    return err.msg;
}

static void parse_keys_ok(config_t *cfg, const char *text, char sep)
{
    err_t err;

    memset(cfg, 0, sizeof(*cfg));
    if (config_parse_api_keys(cfg, text, sep, &err) != IA_OK)
        fail_msg("keys refused: %s", err.msg);
}

static const char *parse_keys_fails(const char *text, char sep)
{
    static err_t err;
    config_t cfg;

    memset(&cfg, 0, sizeof(cfg));
    memset(&err, 0, sizeof(err));
    if (config_parse_api_keys(&cfg, text, sep, &err) != IA_ERR)
        fail_msg("keys accepted: %s", unit_escape(text, strlen(text)));
    assert_true(err.msg[0] != '\0');
    return err.msg;
}

/* Parses a database URL that must be accepted; returns the config (the
 * caller config_free()s). */
static void parse_url_ok(config_t *cfg, const char *url)
{
    err_t err;

    memset(cfg, 0, sizeof(*cfg));
    if (config_parse_database_url(cfg, url, &err) != IA_OK)
        fail_msg("URL refused: %s", err.msg);
}

/* The loggable description of url never shows secret: either the URL is
 * refused (without echoing it) or db_redacted is clean. */
static void expect_redacted(const char *url, const char *secret)
{
    config_t cfg;
    err_t err;

    memset(&cfg, 0, sizeof(cfg));
    memset(&err, 0, sizeof(err));
    if (config_parse_database_url(&cfg, url, &err) != IA_OK) {
        assert_no_substring(err.msg, secret);
        return;
    }
    assert_non_null(cfg.db_redacted);
    char copy[256];
    snprintf(copy, sizeof(copy), "%s", cfg.db_redacted);
    config_free(&cfg);
    if (strstr(copy, secret) != NULL)
        fail_msg("db_redacted for %s is \"%s\": it shows \"%s\"", url, copy, secret);
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
    config_t cfg;

    (void)state;
    load_ok(&cfg);
    assert_int_equal(cfg.port, 8080);
    assert_string_equal(cfg.bind_address, "0.0.0.0");
    assert_int_equal(cfg.db_kind, DB_KIND_SQLITE);
    assert_string_equal(cfg.database_url, "sqlite:var/items.db");
    assert_string_equal(cfg.sqlite_path, "var/items.db");
    assert_non_null(cfg.db_redacted);
    assert_int_equal(cfg.n_keys, 1);
    assert_int_equal(cfg.db_startup_timeout_s, 30);
    assert_int_equal(cfg.max_body_bytes, 1048576);
    assert_int_equal(cfg.max_header_bytes, 16384);
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_int_equal(cfg.drain_seconds, 5);
    assert_int_equal(cfg.shutdown_timeout_s, 20);
    assert_true(cfg.db_pool_size >= 1);
    assert_true(cfg.worker_threads >= 1 && cfg.worker_threads <= 64);
    assert_int_equal(cfg.rate_limit_rps, 0);
    assert_true(cfg.sandbox);
    assert_true(cfg.access_log);
    config_free(&cfg);
}

static void test_empty_values_mean_default(void **state)
{
    config_t cfg;

    (void)state;
    setenv("PORT", "", 1);
    setenv("LOG_LEVEL", "", 1);
    setenv("DATABASE_URL", "", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.port, 8080);
    assert_int_equal(cfg.db_kind, DB_KIND_SQLITE);
    config_free(&cfg);
}

static void test_values_read(void **state)
{
    config_t cfg;

    (void)state;
    setenv("PORT", "9090", 1);
    setenv("BIND_ADDRESS", "127.0.0.1", 1);
    setenv("WORKER_THREADS", "3", 1);
    setenv("DB_POOL_SIZE", "12", 1);
    setenv("LOG_LEVEL", "WARN", 1);
    setenv("ACCESS_LOG", "off", 1);
    setenv("SANDBOX", "false", 1);
    setenv("RATE_LIMIT_RPS", "50", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.port, 9090);
    assert_string_equal(cfg.bind_address, "127.0.0.1");
    assert_int_equal(cfg.worker_threads, 3);
    assert_int_equal(cfg.db_pool_size, 12);
    assert_int_equal(cfg.log_level, LOG_WARN);
    assert_false(cfg.access_log);
    assert_false(cfg.sandbox);
    assert_int_equal(cfg.rate_limit_rps, 50);
    /* The burst defaults to the rate. */
    assert_int_equal(cfg.rate_limit_burst, 50);
    config_free(&cfg);
    setenv("RATE_LIMIT_BURST", "7", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.rate_limit_burst, 7);
    config_free(&cfg);
}

/* ---- ranges ---- */

static void test_integer_ranges(void **state)
{
    (void)state;
    for (size_t i = 0; i < IA_ARRAY_LEN(int_vars); i++) {
        char v[32], lo[32], hi[32];
        config_t cfg;

        env_reset(NULL);
        snprintf(lo, sizeof(lo), "%lld", int_vars[i].min);
        snprintf(hi, sizeof(hi), "%lld", int_vars[i].max);
        /* Both ends are accepted. */
        setenv(int_vars[i].name, lo, 1);
        load_ok(&cfg);
        assert_true(field_i64(&cfg, int_vars[i].offset) == int_vars[i].min);
        config_free(&cfg);
        setenv(int_vars[i].name, hi, 1);
        load_ok(&cfg);
        assert_true(field_i64(&cfg, int_vars[i].offset) == int_vars[i].max);
        config_free(&cfg);
        /* One past either end is refused, naming the variable and range. */
        snprintf(v, sizeof(v), "%lld", int_vars[i].max + 1);
        setenv(int_vars[i].name, v, 1);
        const char *msg = load_fails(int_vars[i].name);
        assert_substring(msg, hi);
        assert_substring(msg, lo);
        if (int_vars[i].min > 0) {
            snprintf(v, sizeof(v), "%lld", int_vars[i].min - 1);
            setenv(int_vars[i].name, v, 1);
            msg = load_fails(int_vars[i].name);
            assert_substring(msg, hi);
        }
    }
}

static void test_integer_syntax(void **state)
{
    static const char *const bad[] = {"-1",
                                      "abc",
                                      "1.5",
                                      "8080x",
                                      " 8080",
                                      "8080 ",
                                      "0x50",
                                      "1e3",
                                      "+80",
                                      "١",
                                      "99999999999999999999999"};

    (void)state;
    for (size_t i = 0; i < IA_ARRAY_LEN(bad); i++) {
        setenv("PORT", bad[i], 1);
        load_fails("PORT");
    }
}

static void test_log_level(void **state)
{
    static const struct {
        const char *v;
        log_level_t l;
    } ok[] = {{"debug", LOG_DEBUG}, {"info", LOG_INFO},   {"warn", LOG_WARN},
              {"error", LOG_ERROR}, {"ERROR", LOG_ERROR}, {"Debug", LOG_DEBUG}};
    config_t cfg;

    (void)state;
    for (size_t i = 0; i < IA_ARRAY_LEN(ok); i++) {
        setenv("LOG_LEVEL", ok[i].v, 1);
        load_ok(&cfg);
        assert_int_equal(cfg.log_level, ok[i].l);
        config_free(&cfg);
    }
    static const char *const bad[] = {"verbose", "warning", "fatal", "0", "info "};
    for (size_t i = 0; i < IA_ARRAY_LEN(bad); i++) {
        setenv("LOG_LEVEL", bad[i], 1);
        const char *msg = load_fails("LOG_LEVEL");
        assert_substring(msg, "debug");
        assert_substring(msg, "error");
    }
}

static void test_booleans(void **state)
{
    static const char *const yes[] = {"on", "true", "1", "yes", "ON", "True"};
    static const char *const no[] = {"off", "false", "0", "no", "OFF"};
    static const char *const bad[] = {"maybe", "2", "enabled", "o"};
    config_t cfg;

    (void)state;
    for (size_t i = 0; i < IA_ARRAY_LEN(yes); i++) {
        setenv("SANDBOX", yes[i], 1);
        load_ok(&cfg);
        assert_true(cfg.sandbox);
        config_free(&cfg);
    }
    for (size_t i = 0; i < IA_ARRAY_LEN(no); i++) {
        setenv("ACCESS_LOG", no[i], 1);
        load_ok(&cfg);
        assert_false(cfg.access_log);
        config_free(&cfg);
    }
    setenv("ACCESS_LOG", "on", 1);
    for (size_t i = 0; i < IA_ARRAY_LEN(bad); i++) {
        setenv("SANDBOX", bad[i], 1);
        load_fails("SANDBOX");
        unsetenv("SANDBOX");
        setenv("ACCESS_LOG", bad[i], 1);
        load_fails("ACCESS_LOG");
        unsetenv("ACCESS_LOG");
    }
}

static void test_bind_address(void **state)
{
    static const char *const ok[] = {"0.0.0.0", "127.0.0.1", "::", "::1", "fe80::1"};
    static const char *const bad[] = {"localhost", "example.com", "1.2.3.4; rm -rf /", "1.2.3.4 ",
                                      "[::1]"};
    config_t cfg;

    (void)state;
    for (size_t i = 0; i < IA_ARRAY_LEN(ok); i++) {
        setenv("BIND_ADDRESS", ok[i], 1);
        load_ok(&cfg);
        assert_string_equal(cfg.bind_address, ok[i]);
        config_free(&cfg);
    }
    for (size_t i = 0; i < IA_ARRAY_LEN(bad); i++) {
        setenv("BIND_ADDRESS", bad[i], 1);
        load_fails("BIND_ADDRESS");
    }
}

/* ---- DATABASE_URL ---- */

static void test_database_url_schemes(void **state)
{
    config_t cfg;

    (void)state;
    setenv("DATABASE_URL", "postgres://u:secret@db.example:5432/items?sslmode=require", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.db_kind, DB_KIND_POSTGRES);
    /* Passed through to libpq unchanged. */
    assert_string_equal(cfg.database_url,
                        "postgres://u:secret@db.example:5432/items?sslmode=require");
    assert_string_equal(cfg.db_redacted, "postgres://u@db.example:5432/items");
    config_free(&cfg);

    setenv("DATABASE_URL", "postgresql://u:secret@h/items", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.db_kind, DB_KIND_POSTGRES);
    assert_no_substring(cfg.db_redacted, "secret");
    config_free(&cfg);

    static const struct {
        const char *url, *path;
    } sqlite[] = {
        {"sqlite:var/items.db", "var/items.db"},
        {"sqlite:/srv/data/items.db", "/srv/data/items.db"},
        {"sqlite:items.db", "items.db"},
        {"sqlite::memory:", ":memory:"},
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(sqlite); i++) {
        setenv("DATABASE_URL", sqlite[i].url, 1);
        load_ok(&cfg);
        assert_int_equal(cfg.db_kind, DB_KIND_SQLITE);
        assert_string_equal(cfg.sqlite_path, sqlite[i].path);
        config_free(&cfg);
    }
}

static void test_database_url_refused(void **state)
{
    static const char *const bad[] = {
        "sqlite:",
        "mysql://u:hunter2@h/db",
        "mongodb://u:hunter2@h/db",
        "http://u:hunter2@h/db",
        "file:hunter2.db",
        "SQLITE:hunter2.db",
        "postgres:/hunter2",
        "hunter2",
        "postgres://u:hun%zzter2@h/db", /* libpq cannot parse it */
    };

    (void)state;
    for (size_t i = 0; i < IA_ARRAY_LEN(bad); i++) {
        setenv("DATABASE_URL", bad[i], 1);
        const char *msg = load_fails("DATABASE_URL");
        /* The value may carry a password: never echoed. */
        assert_no_substring(msg, "hunter2");
        assert_no_substring(msg, "hun%zzter2");
    }
}

static void test_database_url_file(void **state)
{
    config_t cfg;

    (void)state;
    setenv("DATABASE_URL_FILE",
           write_file("db_url", "  postgres://u:filesecret@h:5433/db?sslmode=disable \n\n"), 1);
    load_ok(&cfg);
    assert_int_equal(cfg.db_kind, DB_KIND_POSTGRES);
    assert_string_equal(cfg.database_url, "postgres://u:filesecret@h:5433/db?sslmode=disable");
    assert_no_substring(cfg.db_redacted, "filesecret");
    config_free(&cfg);

    setenv("DATABASE_URL_FILE", write_file("db_url_sqlite", "sqlite::memory:\n"), 1);
    load_ok(&cfg);
    assert_int_equal(cfg.db_kind, DB_KIND_SQLITE);
    config_free(&cfg);
}

static void test_database_url_file_errors(void **state)
{
    char missing[128];

    (void)state;
    snprintf(missing, sizeof(missing), "%s/does-not-exist", tmpdir);
    setenv("DATABASE_URL_FILE", missing, 1);
    load_fails("DATABASE_URL_FILE");
    setenv("DATABASE_URL_FILE", write_file("db_empty", " \n\t\n"), 1);
    load_fails("DATABASE_URL_FILE");
    setenv("DATABASE_URL_FILE", write_file("db_bad", "mysql://u:filesecret2@h/db\n"), 1);
    const char *msg = load_fails("DATABASE_URL_FILE");
    assert_no_substring(msg, "filesecret2");
    setenv("DATABASE_URL_FILE", tmpdir, 1); /* a directory */
    load_fails("DATABASE_URL_FILE");
}

static void test_database_url_both_set(void **state)
{
    (void)state;
    setenv("DATABASE_URL", "sqlite::memory:", 1);
    setenv("DATABASE_URL_FILE", write_file("db_both", "sqlite::memory:\n"), 1);
    const char *msg = load_fails("DATABASE_URL_FILE");
    assert_substring(msg, "DATABASE_URL ");
}

/* ---- db_redacted ---- */

static void test_redacted_plain(void **state)
{
    config_t cfg;

    (void)state;
    parse_url_ok(&cfg, "postgres://app:s3cr3t@db.internal:5432/items?sslmode=verify-full");
    assert_string_equal(cfg.db_redacted, "postgres://app@db.internal:5432/items");
    config_free(&cfg);
    parse_url_ok(&cfg, "sqlite:var/items.db");
    assert_string_equal(cfg.db_redacted, "sqlite:var/items.db");
    config_free(&cfg);
}

static void test_redacted_hides_password_spellings(void **state)
{
    (void)state;
    expect_redacted("postgres://u:s3cr3t@h/db", "s3cr3t");
    expect_redacted("postgres://u:p%40ss@h/db", "p@ss");
    expect_redacted("postgres://u:p%40ss@h/db", "p%40ss");
    expect_redacted("postgres://u:p%2Fss@h/db", "p/ss");
    expect_redacted("postgres://u:pa?ss@h/db", "pa?ss");
    expect_redacted("postgres://u:pa#ss@h/db", "pa#ss");
    expect_redacted("postgres://u:p:ss@h/db", "p:ss");
    expect_redacted("postgres://h/db?password=s3cr3t", "s3cr3t");
    expect_redacted("postgres://h/db?sslmode=disable&password=s3cr3t&connect_timeout=3", "s3cr3t");
    expect_redacted("postgres:///db?host=/tmp&password=s3cr3t", "s3cr3t");
    expect_redacted("postgres://u:s3cr3t@/db?host=h", "s3cr3t");
    expect_redacted("postgres://u:s3cr3t@h1:1,h2:2/db", "s3cr3t");
    expect_redacted("postgres://u:s3cr3t@[::1]:5432/db", "s3cr3t");
    expect_redacted("postgresql://u:s3cr3t@h/db", "s3cr3t");
}

static void test_redacted_unescaped_slash_in_password(void **state)
{
    (void)state;
    /* libpq accepts this URI but, finding no '@' before the first '/',
     * reads "u" as the host, "pa" as the port and "ss@h/db" as the
     * database: the password must not reach the log through them. */
    expect_redacted("postgres://u:pa/ss@h/db", "pa/ss");
    expect_redacted("postgres://u:pa/ss@h/db", "ss@h");
}

static void test_redacted_unescaped_at_in_password(void **state)
{
    (void)state;
    /* libpq splits at the first '@': user "u", password "top", host
     * "secretpart@h". The rest of the password must not show either. */
    expect_redacted("postgres://u:top@secretpart@h/db", "secretpart");
}

/* ---- API keys ---- */

static void test_api_keys_list(void **state)
{
    config_t cfg;
    unsigned char md[SHA256_DIGEST_LENGTH];

    (void)state;
    parse_keys_ok(
        &cfg, " key-a-0123456789abcdef , key-b-0123456789abcdef,,\tkey-c-0123456789abcdef\t,", ',');
    assert_int_equal(cfg.n_keys, 3);
    /* Stored as SHA-256 of the trimmed key. */
    SHA256((const unsigned char *)"key-b-0123456789abcdef", 22, md);
    assert_memory_equal(cfg.keys[1].hash, md, sizeof(md));
    /* '#' is an ordinary character in the list form. */
    parse_keys_ok(&cfg, "#not-a-comment-0123456", ',');
    assert_int_equal(cfg.n_keys, 1);
    parse_keys_ok(&cfg, "", ',');
    assert_int_equal(cfg.n_keys, 0);
}

static void test_api_keys_file_form(void **state)
{
    config_t cfg;
    unsigned char md[SHA256_DIGEST_LENGTH];

    (void)state;
    parse_keys_ok(&cfg,
                  "# production keys\n"
                  "\n"
                  "key-a-0123456789abcdef\r\n"
                  "   key-b-0123456789abcdef   \n"
                  "  # indented comment\n"
                  "\t\n"
                  "key-c-0123456789abcdef",
                  '\n');
    assert_int_equal(cfg.n_keys, 3);
    SHA256((const unsigned char *)"key-a-0123456789abcdef", 22, md);
    assert_memory_equal(cfg.keys[0].hash, md, sizeof(md));
    SHA256((const unsigned char *)"key-c-0123456789abcdef", 22, md);
    assert_memory_equal(cfg.keys[2].hash, md, sizeof(md));
    /* Commas are not separators in a file: one (long) key. */
    parse_keys_ok(&cfg, "key-a-0123456789abcdef,key-b-0123456789abcdef\n", '\n');
    assert_int_equal(cfg.n_keys, 1);
    /* Nor is '#' after a key a comment: that line is refused. */
    parse_keys_fails("key-a-0123456789abcdef # old\n", '\n');
}

static void test_api_keys_length(void **state)
{
    char key[600];
    config_t cfg;

    (void)state;
    memset(key, 'k', sizeof(key));
    key[15] = '\0';
    const char *msg = parse_keys_fails(key, ',');
    assert_substring(msg, "API_KEYS");
    assert_substring(msg, "16");
    assert_no_substring(msg, key);
    key[15] = 'k';
    key[16] = '\0';
    parse_keys_ok(&cfg, key, ',');
    key[16] = 'k';
    key[512] = '\0';
    parse_keys_ok(&cfg, key, ',');
    key[512] = 'k';
    key[513] = '\0';
    msg = parse_keys_fails(key, '\n');
    assert_substring(msg, "API_KEYS_FILE");
    assert_substring(msg, "512");
}

static void test_api_keys_characters(void **state)
{
    static const char *const bad[] = {
        "key with spaces-0123456",    "key\twith-tab-0123456789",
        "key-caf\xc3\xa9-0123456789", "key-\x7f-0123456789abcd",
        "key-\x01-0123456789abcd",    "good-key-0123456789abc,key-\xff-0123456789abcd",
    };

    (void)state;
    for (size_t i = 0; i < IA_ARRAY_LEN(bad); i++) {
        const char *msg = parse_keys_fails(bad[i], ',');
        assert_no_substring(msg, "0123456789");
    }
}

static void test_api_keys_count_limit(void **state)
{
    char keys[(CONFIG_MAX_KEYS + 1) * 24];
    size_t n = 0;
    config_t cfg;

    (void)state;
    for (int i = 0; i < CONFIG_MAX_KEYS; i++)
        n += (size_t)snprintf(keys + n, sizeof(keys) - n, "%skey-number-%08d", i ? "," : "", i);
    parse_keys_ok(&cfg, keys, ',');
    assert_int_equal(cfg.n_keys, CONFIG_MAX_KEYS);
    snprintf(keys + n, sizeof(keys) - n, ",key-number-%08d", CONFIG_MAX_KEYS);
    parse_keys_fails(keys, ',');
}

static void test_api_keys_from_environment(void **state)
{
    config_t cfg;

    (void)state;
    setenv("API_KEYS", "key-a-0123456789abcdef,key-b-0123456789abcdef", 1);
    load_ok(&cfg);
    assert_int_equal(cfg.n_keys, 2);
    config_free(&cfg);

    unsetenv("API_KEYS");
    setenv("API_KEYS_FILE",
           write_file("keys", "# rotated 2026-11\nkey-a-0123456789abcdef\n\n"
                              "key-b-0123456789abcdef\nkey-c-0123456789abcdef\n"),
           1);
    load_ok(&cfg);
    assert_int_equal(cfg.n_keys, 3);
    config_free(&cfg);
}

static void test_api_keys_required(void **state)
{
    char missing[128];

    (void)state;
    unsetenv("API_KEYS");
    load_fails("API_KEYS");
    setenv("API_KEYS", " , ,", 1);
    load_fails("API_KEYS");
    unsetenv("API_KEYS");
    setenv("API_KEYS_FILE", write_file("keys_comments", "# nothing here\n\n"), 1);
    load_fails("API_KEYS");
    snprintf(missing, sizeof(missing), "%s/no-keys-file", tmpdir);
    setenv("API_KEYS_FILE", missing, 1);
    load_fails("API_KEYS_FILE");
    setenv("API_KEYS_FILE", write_file("keys_short", "short\n"), 1);
    const char *msg = load_fails("API_KEYS_FILE");
    assert_no_substring(msg, "short");
}

static void test_api_keys_both_set(void **state)
{
    (void)state;
    setenv("API_KEYS_FILE", write_file("keys_both", "key-a-0123456789abcdef\n"), 1);
    const char *msg = load_fails("API_KEYS_FILE");
    assert_substring(msg, "API_KEYS ");
}

static void test_scrub_environ(void **state)
{
    config_t cfg;

    (void)state;
    setenv("DATABASE_URL", "postgres://u:scrubme@h/db", 1);
    load_ok(&cfg);
    config_scrub_environ();
    const char *k = getenv("API_KEYS");
    const char *u = getenv("DATABASE_URL");
    assert_true(k == NULL || k[0] == '\0');
    assert_true(u == NULL || u[0] == '\0');
    /* The loaded configuration still has what it needs. */
    assert_int_equal(cfg.n_keys, 1);
    assert_string_equal(cfg.database_url, "postgres://u:scrubme@h/db");
    config_free(&cfg);
}

#define T(f) cmocka_unit_test_setup(f, env_reset)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_empty_values_mean_default),
        T(test_values_read),
        T(test_integer_ranges),
        T(test_integer_syntax),
        T(test_log_level),
        T(test_booleans),
        T(test_bind_address),
        T(test_database_url_schemes),
        T(test_database_url_refused),
        T(test_database_url_file),
        T(test_database_url_file_errors),
        T(test_database_url_both_set),
        T(test_redacted_plain),
        T(test_redacted_hides_password_spellings),
        T(test_redacted_unescaped_slash_in_password),
        T(test_redacted_unescaped_at_in_password),
        T(test_api_keys_list),
        T(test_api_keys_file_form),
        T(test_api_keys_length),
        T(test_api_keys_characters),
        T(test_api_keys_count_limit),
        T(test_api_keys_from_environment),
        T(test_api_keys_required),
        T(test_api_keys_both_set),
        T(test_scrub_environ),
    };

    return cmocka_run_group_tests_name("config", tests, group_setup, group_teardown);
}
