/*
 * The server: WORKER_THREADS event loops sharing one listening socket
 * (EPOLLEXCLUSIVE wakes one loop per connection), each owning its
 * connections, its slice of the database pool and its metrics shard
 * (worker.h). The main thread only handles signals and the drain/shutdown
 * sequence.
 */
#ifndef IA_SERVER_H
#define IA_SERVER_H

#include "config.h"
#include "store.h"

/* Runs until SIGTERM/SIGINT and the drain; returns the exit status. */
int server_run(const config_t *cfg, store_t *store, const char *version, const char *revision);

#endif
