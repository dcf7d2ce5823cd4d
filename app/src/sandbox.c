#include "sandbox.h"

#include <errno.h>
#include <seccomp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>

/* What the service does after start-up, grouped by why. */
static const int allowed[] = {
    /* event loops and sockets (clients, PostgreSQL, DNS for reconnects) */
    SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(accept4),
    SCMP_SYS(read),
    SCMP_SYS(write),
    SCMP_SYS(readv),
    SCMP_SYS(writev),
    SCMP_SYS(sendto),
    SCMP_SYS(recvfrom),
    SCMP_SYS(sendmsg),
    SCMP_SYS(recvmsg),
    SCMP_SYS(sendmmsg),
    SCMP_SYS(shutdown),
    SCMP_SYS(close),
    SCMP_SYS(connect),
    SCMP_SYS(getsockopt),
    SCMP_SYS(setsockopt),
    SCMP_SYS(getsockname),
    SCMP_SYS(getpeername),
    /* glibc's getaddrinfo binds a netlink socket when a name has several
     * addresses (it sorts them by source address): database reconnects. */
    SCMP_SYS(bind),
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    SCMP_SYS(select),
    SCMP_SYS(pselect6),
    SCMP_SYS(fcntl),
    SCMP_SYS(ioctl),
    SCMP_SYS(eventfd2),
    SCMP_SYS(pipe2),
    /* SQLite files and the resolver's configuration */
    SCMP_SYS(openat),
    SCMP_SYS(newfstatat),
    SCMP_SYS(fstat),
    SCMP_SYS(lseek),
    SCMP_SYS(pread64),
    SCMP_SYS(pwrite64),
    SCMP_SYS(fsync),
    SCMP_SYS(fdatasync),
    SCMP_SYS(ftruncate),
    SCMP_SYS(unlink),
    SCMP_SYS(access),
    SCMP_SYS(faccessat),
    SCMP_SYS(faccessat2),
    SCMP_SYS(statx),
    SCMP_SYS(getcwd),
    SCMP_SYS(flock),
    SCMP_SYS(fchown),
    SCMP_SYS(fchmod),
    SCMP_SYS(getdents64),
    SCMP_SYS(readlink),
    /* memory */
    SCMP_SYS(mmap),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(mprotect),
    SCMP_SYS(brk),
    SCMP_SYS(madvise),
    /* threads, time, signals, identity */
    SCMP_SYS(futex),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(sched_yield),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigtimedwait),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(getuid),
    SCMP_SYS(geteuid),
    SCMP_SYS(getgid),
    SCMP_SYS(getegid),
    SCMP_SYS(getrandom),
    SCMP_SYS(uname),
    SCMP_SYS(sysinfo),
    SCMP_SYS(getrusage),
    SCMP_SYS(prlimit64),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(restart_syscall),
    /* leaving: exit, and abort() on a broken invariant (raise uses tgkill) */
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    SCMP_SYS(tgkill),
};

/* socket() only for what is used: TCP to PostgreSQL and DNS (INET, INET6),
 * libpq's Unix sockets and glibc's nscd probe (UNIX), and getaddrinfo's
 * address sorting (NETLINK). */
static const int socket_families[] = {AF_INET, AF_INET6, AF_UNIX, AF_NETLINK};

static int allow_sockets(scmp_filter_ctx ctx, err_t *err)
{
    int e;

    for (size_t i = 0; i < IA_ARRAY_LEN(socket_families); i++) {
        e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                             SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)socket_families[i]));
        if (e != 0) {
            err_set(err, "seccomp_rule_add(socket, family %d): %s", socket_families[i],
                    strerror(-e));
            return IA_ERR;
        }
    }
    return IA_OK;
}

int sandbox_enter(err_t *err)
{
    scmp_filter_ctx ctx = NULL;
    int rc = IA_ERR, e;

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        err_set(err, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
        goto cleanup;
    }
    ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (ctx == NULL) {
        err_set(err, "seccomp_init failed");
        goto cleanup;
    }
    /* Every thread already exists: apply the filter to all of them. */
    if ((e = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) != 0) {
        err_set(err, "seccomp TSYNC: %s", strerror(-e));
        goto cleanup;
    }
    for (size_t i = 0; i < IA_ARRAY_LEN(allowed); i++) {
        if (allowed[i] < 0)
            continue; /* not a syscall on this architecture */
        if ((e = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0)) != 0) {
            err_set(err, "seccomp_rule_add(%d): %s", allowed[i], strerror(-e));
            goto cleanup;
        }
    }
    if (allow_sockets(ctx, err) != IA_OK)
        goto cleanup;
    if ((e = seccomp_load(ctx)) != 0) {
        err_set(err, "seccomp_load: %s", strerror(-e));
        goto cleanup;
    }
    rc = IA_OK;
cleanup:
    if (ctx != NULL)
        seccomp_release(ctx);
    return rc;
}
