/*
 * items-api: the command line. Wires configuration, storage and the server;
 * each lives in its own file.
 */
#include "config.h"
#include "healthcheck.h"
#include "log.h"
#include "server.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef IA_VERSION
#define IA_VERSION "dev"
#endif
#ifndef IA_REVISION
#define IA_REVISION "unknown"
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: items-api [serve | migrate | version | healthcheck [URL] | --help]\n"
               "\n"
               "  serve        apply migrations, then serve the API (default)\n"
               "  migrate      apply database migrations and exit\n"
               "  version      print the version and exit\n"
               "  healthcheck  exit 0 iff GET URL answers 200 (default "
               "http://127.0.0.1:$PORT/healthz)\n"
               "\n");
}

static int load_config(config_t *cfg)
{
    err_t err = {{0}};

    if (config_load(cfg, &err) != IA_OK) {
        log_refusal("invalid configuration; refusing to start", err.msg);
        return IA_ERR;
    }
    log_min_level = cfg->log_level;
    config_scrub_environ();
    return IA_OK;
}

static int cmd_serve(void)
{
    config_t cfg;
    store_t *store = NULL;
    err_t err = {{0}};
    int rc;

    if (load_config(&cfg) != IA_OK)
        return 1;
    if (store_open(&store, &cfg, &err) != IA_OK) {
        log_refusal("cannot open the database; refusing to start", err.msg);
        config_free(&cfg);
        return 1;
    }
    rc = server_run(&cfg, store, IA_VERSION, IA_REVISION);
    store_close(store);
    config_free(&cfg);
    log_thread_done();
    return rc;
}

static int cmd_migrate(void)
{
    config_t cfg;
    err_t err = {{0}};
    int rc = 0;

    if (load_config(&cfg) != IA_OK)
        return 1;
    if (store_migrate_only(&cfg, &err) != IA_OK) {
        log_refusal("migration failed", err.msg);
        rc = 1;
    } else {
        log_msg_str(LOG_INFO, "migrations up to date", "database", cfg.db_redacted);
    }
    config_free(&cfg);
    return rc;
}

static int cmd_healthcheck(const char *url)
{
    char def[64];

    if (url == NULL) {
        const char *port = getenv("PORT");
        snprintf(def, sizeof(def), "http://127.0.0.1:%s/healthz",
                 port && *port && strlen(port) < 6 ? port : "8080");
        url = def;
    }
    return healthcheck_run(url);
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "serve";

    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        config_print_help();
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("items-api %s (%s)\n", IA_VERSION, IA_REVISION);
        return 0;
    }
    if (strcmp(cmd, "healthcheck") == 0 && argc <= 3)
        return cmd_healthcheck(argc == 3 ? argv[2] : NULL);
    if (strcmp(cmd, "serve") == 0 && argc <= 2)
        return cmd_serve();
    if (strcmp(cmd, "migrate") == 0 && argc == 2)
        return cmd_migrate();
    fprintf(stderr, "items-api: unknown command or extra arguments\n");
    usage(stderr);
    return 2;
}
