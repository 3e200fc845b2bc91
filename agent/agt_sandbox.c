/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the network process gives up once it runs (agt_net.h): privileges
 * through exec (no_new_privs), and a seccomp filter that refuses, with
 * EPERM, the system calls a process that speaks HTTP and runs challenge
 * hooks never needs but an attacker who took it over would reach for:
 * debugging other processes, kernel modules and kexec, mounts and
 * namespaces, eBPF and perf, io_uring and userfaultfd (kernel exploit
 * primitives), the kernel keyring, and clock, host name and swap changes.
 *
 * It is a deny list on purpose: the process runs the operator's http-01
 * and dns-01 hooks, which inherit the filter and may be any program; an
 * allow list would break them.  docs/security.md says so.
 */
#include "agt_sandbox.h"

#include <errno.h>
#include <seccomp.h>
#include <string.h>
#include <sys/prctl.h>

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

/* The network process still starts the hooks itself: the same filter. */
csa_err agt_sandbox_network(void)
{
    return agt_sandbox_hooks();
}
