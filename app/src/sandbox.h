/*
 * The process straitjacket: no_new_privs plus a seccomp allowlist of the
 * system calls the running service needs (sockets, epoll, files for SQLite
 * and the resolver, memory, threads' futexes). Anything else kills the whole
 * process (SIGSYS), so an exploited bug cannot exec a shell, ptrace, mount
 * or load a module. Entered once sockets are bound, threads started and
 * secrets read.
 */
#ifndef IA_SANDBOX_H
#define IA_SANDBOX_H

#include "common.h"

int sandbox_enter(err_t *err);

#endif
