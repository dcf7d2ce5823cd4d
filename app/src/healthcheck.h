#ifndef IA_HEALTHCHECK_H
#define IA_HEALTHCHECK_H

/* Returns the process exit status: 0 healthy, 1 unhealthy, 2 usage error. */
int healthcheck_run(const char *url);

#endif
