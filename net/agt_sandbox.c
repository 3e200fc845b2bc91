/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the two processes on the network side give up once they run
 * (agt_net.h, docs/security.md "Two processes").
 *
 * The network process (agt_sandbox_network) speaks HTTP, parses JSON and
 * PEM, and asks the hook runner to start hooks; it starts no program
 * itself.  So it gets an allow list: no_new_privs and a seccomp filter
 * whose default action is EPERM (a call forgotten here fails as an
 * error, it does not kill the process), allowing only what libcurl with
 * OpenSSL, the resolver for the CA's address, json-c, glibc's threads and
 * malloc, and our IPC need.  execve, new processes, ptrace, mounts and
 * namespaces, bpf, perf, io_uring, the keyring, files opened for writing
 * and sockets of families other than Unix, IP and netlink are refused.
 *
 * The hook runner (agt_sandbox_hooks), forked by the network process
 * before that filter, starts the operator's http-01/dns-01 hooks, which
 * inherit its filter and may be any program that writes anywhere.  It
 * keeps the deny list below: no_new_privs and EPERM for the calls a
 * hook never needs but an intruder would reach for (debugging other
 * processes, kernel modules and kexec, mounts and namespaces, eBPF and
 * perf, io_uring and userfaultfd, the kernel keyring, clock, host name
 * and swap changes).
 */
#include "agt_sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "csa_log.h"

static const char *const agt_denied[] = {
#ifndef CSA_SANITIZE_BUILD
    /* LeakSanitizer stops the process's threads with ptrace at exit */
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
#endif
    "kcmp",
    "pidfd_getfd",
    "mount",
    "umount2",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsmount",
    "fsconfig",
    "pivot_root",
    "chroot",
    "setns",
    "unshare",
    "swapon",
    "swapoff",
    "reboot",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "open_by_handle_at",
    "name_to_handle_at",
    "iopl",
    "ioperm",
    "acct",
    "quotactl",
    "syslog",
    "personality",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "uselib",
    "fanotify_init",
    "lookup_dcookie",
    "vhangup",
};

static csa_err agt_no_new_privs(void)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return csa_raise(CSA_ERR_IO, "prctl(PR_SET_NO_NEW_PRIVS): %s",
                         strerror(errno));
    return CSA_OK;
}

/* Adds rule for the call named name; a call this architecture does not
 * have needs no rule.  ncmp comparisons (0 or 1) narrow it. */
static csa_err agt_rule(scmp_filter_ctx f, uint32_t action, const char *name,
                        unsigned ncmp, struct scmp_arg_cmp cmp)
{
    int nr = seccomp_syscall_resolve_name(name), rc;

    if (nr == __NR_SCMP_ERROR)
        return CSA_OK;
    rc = ncmp ? seccomp_rule_add(f, action, nr, 1, cmp)
              : seccomp_rule_add(f, action, nr, 0);
    if (rc != 0)
        return csa_raise(CSA_ERR_IO, "seccomp rule for %s: %s", name,
                         strerror(-rc));
    return CSA_OK;
}

static csa_err agt_load(scmp_filter_ctx f)
{
    int rc = seccomp_load(f);

    seccomp_release(f);
    if (rc != 0)
        return csa_raise(CSA_ERR_IO, "loading the seccomp filter: %s",
                         strerror(-rc));
    return CSA_OK;
}

csa_err agt_sandbox_hooks(void)
{
    struct scmp_arg_cmp none = {0};
    scmp_filter_ctx f;
    size_t i;
    csa_err err;

    if ((err = agt_no_new_privs()) != CSA_OK)
        return err;
    if ((f = seccomp_init(SCMP_ACT_ALLOW)) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "seccomp_init failed");
    for (i = 0; i < sizeof(agt_denied) / sizeof(agt_denied[0]); i++)
        if ((err = agt_rule(f, SCMP_ACT_ERRNO(EPERM), agt_denied[i], 0,
                            none)) != CSA_OK) {
            seccomp_release(f);
            return err;
        }
    if ((err = agt_load(f)) != CSA_OK)
        return err;
    csa_debug("agent", "hook runner: no_new_privs and %zu system calls refused",
              sizeof(agt_denied) / sizeof(agt_denied[0]));
    return CSA_OK;
}

/* ---- the network process: an allow list --------------------------- */

/* One rule: the call, and when op is not 0 one comparison of argument
 * arg (masked by mask for SCMP_CMP_MASKED_EQ).  Rows naming the same call
 * are alternatives.  AGT_SELF stands for our process id. */
typedef struct {
    const char *name;
    unsigned arg;
    enum scmp_compare op;
    scmp_datum_t mask, value;
} agt_allow;

#define AGT_SELF ((scmp_datum_t)-1)
#define ANY(n)                                                                 \
    {                                                                          \
        n, 0, (enum scmp_compare)0, 0, 0                                       \
    }
#define EQ(n, a, v)                                                            \
    {                                                                          \
        n, a, SCMP_CMP_EQ, 0, v                                                \
    }
#define MASKED(n, a, m, v)                                                     \
    {                                                                          \
        n, a, SCMP_CMP_MASKED_EQ, m, v                                         \
    }
/* openat/open flags that would create, change or truncate a file */
#define AGT_WRITING (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)

static const agt_allow agt_allowed[] = {
    /* memory: glibc malloc, the loader (NSS modules come with dlopen) */
    ANY("brk"),
    ANY("mmap"),
    ANY("munmap"),
    ANY("mremap"),
    ANY("mprotect"),
    ANY("madvise"),
/* threads: libcurl's threaded resolver.  clone only for a thread of
 * this process, never a new process (clone3, whose flags a filter
 * cannot see, answers ENOSYS and glibc falls back to clone). */
#ifdef CSA_SANITIZE_BUILD
    ANY("clone"), /* LeakSanitizer's tracer at exit is no thread */
#else
    MASKED("clone", 0, CLONE_THREAD, CLONE_THREAD),
#endif
    ANY("futex"),
    ANY("set_robust_list"),
    ANY("rseq"),
    ANY("set_tid_address"),
    ANY("sched_getaffinity"),
    ANY("sched_yield"),
    ANY("gettid"),
    ANY("exit"),
    ANY("exit_group"),
    ANY("restart_syscall"),
    /* time */
    ANY("clock_gettime"),
    ANY("clock_getres"),
    ANY("gettimeofday"),
    ANY("time"),
    ANY("clock_nanosleep"),
    ANY("nanosleep"),
    /* files, read only: CA bundle, OpenSSL and resolver configuration,
     * /etc/hosts, NSS modules */
    MASKED("openat", 2, AGT_WRITING, 0),
    MASKED("open", 1, AGT_WRITING, 0),
    ANY("close"),
    ANY("read"),
    ANY("pread64"),
    ANY("readv"),
    ANY("lseek"),
    ANY("fstat"),
    ANY("newfstatat"),
    ANY("stat"),
    ANY("lstat"),
    ANY("statx"),
    ANY("fstatfs"),
    ANY("getdents64"),
    ANY("readlink"),
    ANY("readlinkat"),
    ANY("access"),
    ANY("faccessat"),
    ANY("faccessat2"),
    ANY("getcwd"),
    /* descriptors: the holder's socket, the runner's, stderr, pipes */
    ANY("write"),
    ANY("writev"),
    ANY("fcntl"),
    EQ("ioctl", 1, TCGETS), /* isatty() */
    EQ("ioctl", 1, FIONREAD),
    EQ("ioctl", 1, FIONBIO),
    ANY("dup"),
    ANY("dup2"),
    ANY("dup3"),
    ANY("pipe"),
    ANY("pipe2"),
    ANY("eventfd2"),
    /* network: TCP to the CA, the resolver (UDP, netlink for
     * AI_ADDRCONFIG), Unix sockets (syslog, libcurl's socketpair) */
    EQ("socket", 0, AF_UNIX),
    EQ("socket", 0, AF_INET),
    EQ("socket", 0, AF_INET6),
    EQ("socket", 0, AF_NETLINK),
    ANY("socketpair"),
    ANY("connect"),
    ANY("bind"),
    ANY("getsockname"),
    ANY("getpeername"),
    ANY("getsockopt"),
    ANY("setsockopt"),
    ANY("sendto"),
    ANY("recvfrom"),
    ANY("sendmsg"),
    ANY("recvmsg"),
    ANY("sendmmsg"),
    ANY("recvmmsg"),
    ANY("shutdown"),
    ANY("poll"),
    ANY("ppoll"),
    ANY("select"),
    ANY("pselect6"),
    ANY("epoll_create1"),
    ANY("epoll_ctl"),
    ANY("epoll_wait"),
    ANY("epoll_pwait"),
    /* signals: our own process only */
    ANY("rt_sigaction"),
    ANY("rt_sigprocmask"),
    ANY("rt_sigreturn"),
    ANY("sigaltstack"),
#ifdef CSA_SANITIZE_BUILD
    ANY("kill"),
    ANY("tgkill"),
    ANY("tkill"),
#else
    EQ("kill", 0, AGT_SELF),
    EQ("tgkill", 0, AGT_SELF),
#endif
    /* who and where we are */
    ANY("getpid"),
    ANY("getppid"),
    ANY("getuid"),
    ANY("geteuid"),
    ANY("getgid"),
    ANY("getegid"),
    ANY("getresuid"),
    ANY("getresgid"),
    ANY("getgroups"),
    ANY("uname"),
    ANY("sysinfo"),
    ANY("getrusage"),
    ANY("getrandom"),
    ANY("prctl"),
#ifdef CSA_SANITIZE_BUILD
    ANY("prlimit64"),
    /* LeakSanitizer stops the threads with ptrace at exit, after
     * listing them with getdents (not getdents64) */
    ANY("ptrace"),
    ANY("process_vm_readv"),
    ANY("getdents"),
#else
    EQ("prlimit64", 2, 0), /* reading a limit, not setting one */
#endif
    /* the hook runner, reaped at the end */
    ANY("wait4"),
    ANY("waitid"),
    /* agt_sandbox_files, after the configuration: these only take rights
     * away */
    ANY("landlock_create_ruleset"),
    ANY("landlock_add_rule"),
    ANY("landlock_restrict_self"),
};

csa_err agt_sandbox_network(void)
{
    scmp_filter_ctx f;
    size_t i, n = sizeof(agt_allowed) / sizeof(agt_allowed[0]);
    struct scmp_arg_cmp none = {0};
    csa_err err;

    if ((err = agt_no_new_privs()) != CSA_OK)
        return err;
    /* EPERM, not a kill: a call missing here fails as an error the log
     * shows, in whatever library made it */
    if ((f = seccomp_init(SCMP_ACT_ERRNO(EPERM))) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "seccomp_init failed");
    err = agt_rule(f, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, none);
    for (i = 0; i < n && err == CSA_OK; i++) {
        const agt_allow *a = &agt_allowed[i];
        struct scmp_arg_cmp c = {a->arg, a->op, a->mask, a->value};

        if (a->op == SCMP_CMP_EQ)
            c.datum_a =
                a->value == AGT_SELF ? (scmp_datum_t)getpid() : a->value;
        err = agt_rule(f, SCMP_ACT_ALLOW, a->name, a->op != 0, c);
    }
    if (err != CSA_OK) {
        seccomp_release(f);
        return err;
    }
    if ((err = agt_load(f)) != CSA_OK)
        return err;
    csa_debug("agent", "network process: no_new_privs and %zu rules allowed",
              n);
    return CSA_OK;
}

/* ---- the network process: which files it may read ------------------ */

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

/* What libcurl with OpenSSL, glibc's resolver and NSS, and the sanitizer
 * runtimes read: the system's libraries and trust store, the resolver's
 * files, the random devices, and the process's own /proc entry.  Named
 * one by one in /etc, where operators keep PIN files and keys. */
static const char *const agt_readable[] = {
    "/usr",
    "/lib",
    "/lib64",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/pki",
    "/etc/crypto-policies",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/localtime",
    "/etc/ld.so.cache",
    "/etc/ld.so.preload",
    "/dev/null",
    "/dev/urandom",
    "/dev/random",
    "/proc/self",
};

static int agt_landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
                       LANDLOCK_CREATE_RULESET_VERSION);

    return abi < 0 ? 0 : (int)abi;
}

/* Allows reading path (a file, or a directory and all beneath it).  A
 * path that does not exist needs no rule. */
static csa_err agt_landlock_read(int ruleset, const char *path)
{
    struct landlock_path_beneath_attr pb = {0};
    struct stat st;
    csa_err err = CSA_OK;

    if ((pb.parent_fd = open(path, O_PATH | O_CLOEXEC)) < 0)
        return CSA_OK;
    if (fstat(pb.parent_fd, &st) != 0) {
        err = csa_raise(CSA_ERR_IO, "Landlock: %s: %s", path, strerror(errno));
    } else {
        pb.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE;
        if (S_ISDIR(st.st_mode))
            pb.allowed_access |= LANDLOCK_ACCESS_FS_READ_DIR;
        if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
                    &pb, 0) != 0)
            err = csa_raise(CSA_ERR_IO, "Landlock rule for %s: %s", path,
                            strerror(errno));
    }
    close(pb.parent_fd);
    return err;
}

csa_err agt_sandbox_files(const char *const *extra, size_t n_extra)
{
    static const char *const env[] = {"SSL_CERT_FILE", "SSL_CERT_DIR",
                                      "CURL_CA_BUNDLE"};
    struct landlock_ruleset_attr attr = {0};
    char dir[PATH_MAX];
    int abi = agt_landlock_abi(), ruleset;
    size_t i;
    csa_err err = CSA_OK;

    if (abi < 1) {
        csa_info("agent", "network process: the kernel has no Landlock; "
                          "file access is limited by the seccomp filter only "
                          "(read only)");
        return CSA_OK;
    }
    /* every right of ABI 1, then those later kernels added: what is not
     * allowed below is refused, reading included */
    attr.handled_access_fs =
        LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
        LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
        LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
        LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
        LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
        LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
        LANDLOCK_ACCESS_FS_MAKE_SYM;
    if (abi >= 2)
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if ((ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr,
                                sizeof(attr), 0)) < 0)
        return csa_raise(CSA_ERR_IO, "Landlock ruleset: %s", strerror(errno));
    for (i = 0;
         err == CSA_OK && i < sizeof(agt_readable) / sizeof(*agt_readable); i++)
        err = agt_landlock_read(ruleset, agt_readable[i]);
    /* a resolv.conf that is a link into a resolver's run directory
     * (systemd-resolved, resolvconf) is replaced there by a new file when
     * the servers change: that directory is allowed, not the one file */
    if (err == CSA_OK && realpath("/etc/resolv.conf", dir) != NULL &&
        strcmp(dir, "/etc/resolv.conf") != 0 && strrchr(dir, '/') != dir) {
        *strrchr(dir, '/') = '\0';
        if (strcmp(dir, "/etc") != 0)
            err = agt_landlock_read(ruleset, dir);
    }
    for (i = 0; err == CSA_OK && i < sizeof(env) / sizeof(*env); i++)
        if (getenv(env[i]) != NULL && getenv(env[i])[0] == '/')
            err = agt_landlock_read(ruleset, getenv(env[i]));
    for (i = 0; err == CSA_OK && i < n_extra; i++)
        if (extra[i] != NULL)
            err = agt_landlock_read(ruleset, extra[i]);
    if (err == CSA_OK && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
                          syscall(SYS_landlock_restrict_self, ruleset, 0) != 0))
        err = csa_raise(CSA_ERR_IO, "Landlock: restricting the process: %s",
                        strerror(errno));
    close(ruleset);
    if (err == CSA_OK)
        csa_debug("agent",
                  "network process: Landlock (ABI %d): reads only "
                  "the system's libraries, trust store and resolver "
                  "files, and the CA bundle",
                  abi);
    return err;
}
