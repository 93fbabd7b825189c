/*
 * berth-probe: one escape attempt per invocation, run inside a container by
 * tests/security (compiled there with `gcc -static`). Each command prints a
 * single line `<command>: <result>` where a result is `ok` or the errno's
 * symbolic name (EPERM, EACCES, ...), so the tests can assert the exact
 * failure. The probe never writes to anything outside the container: where a
 * privileged twin could succeed, it only opens, reads or makes no-op calls.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *err(int e) {
    const char *name = strerrorname_np(e);
    return name ? name : "E?";
}

/* `ok` when rc >= 0, else errno's name. */
static const char *res(long rc) { return rc >= 0 ? "ok" : err(errno); }

static int is_pid(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* Every pid this process can see in /proc, space separated. */
static int cmd_pids(void) {
    DIR *d = opendir("/proc");
    if (!d) { printf("pids: %s\n", err(errno)); return 0; }
    printf("pids:");
    struct dirent *e;
    while ((e = readdir(d)))
        if (is_pid(e->d_name)) printf(" %s", e->d_name);
    printf("\n");
    closedir(d);
    return 0;
}

static int cmd_mount(void) {
    mkdir("/tmp/berth-probe-mnt", 0700);
    long rc = mount("berth-probe", "/tmp/berth-probe-mnt", "tmpfs", 0, NULL);
    printf("mount: %s\n", res(rc));
    if (rc == 0) umount("/tmp/berth-probe-mnt");
    return 0;
}

/* finit_module on /dev/null: without CAP_SYS_MODULE the kernel (or seccomp)
 * says EPERM before it reads anything; with it the call gets past the
 * permission check and fails on the empty "module" instead. */
static int cmd_module(void) {
    int fd = open("/dev/null", O_RDONLY);
    if (fd < 0) { printf("module: open /dev/null %s\n", err(errno)); return 0; }
    printf("module: %s\n", res(syscall(SYS_finit_module, fd, "", 0)));
    return 0;
}

static int cmd_open_w(const char *path) {
    int fd = open(path, O_WRONLY);
    printf("open_w %s: %s\n", path, res(fd));
    if (fd >= 0) close(fd);
    return 0;
}

static int cmd_open(const char *path) {
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    printf("open %s: %s\n", path, res(fd));
    if (fd >= 0) close(fd);
    return 0;
}

static int cmd_read(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) { printf("read %s: %s\n", path, err(errno)); return 0; }
    char buf[4096];
    long total = 0, n;
    while ((n = read(fd, buf, sizeof buf)) > 0) total += n;
    if (n < 0) printf("read %s: %s\n", path, err(errno));
    else printf("read %s: %ld bytes\n", path, total);
    close(fd);
    return 0;
}

/* A read-only keyctl call: the id of the session keyring. */
static int cmd_keyctl(void) {
    printf("keyctl: %s\n", res(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0)));
    return 0;
}

/* unshare(CLONE_NEWUSER) and, when that works, what the "regained" full
 * capability set is worth: the container's own hostname and mounts belong
 * to the outer user namespace, so both must still fail. */
static int cmd_unshare_user(void) {
    if (unshare(CLONE_NEWUSER) < 0) { printf("unshare_user: %s\n", err(errno)); return 0; }
    const char *host = res(sethostname("berth-probe-userns", 18));
    mkdir("/tmp/berth-probe-mnt", 0700);
    const char *mnt = res(mount("berth-probe", "/tmp/berth-probe-mnt", "tmpfs", 0, NULL));
    printf("unshare_user: ok sethostname=%s mount=%s\n", host, mnt);
    return 0;
}

static int cmd_ptrace(pid_t pid) {
    long rc = ptrace(PTRACE_ATTACH, pid, 0, 0);
    printf("ptrace %d: %s\n", pid, res(rc));
    if (rc == 0) {
        waitpid(pid, NULL, __WALL);
        ptrace(PTRACE_DETACH, pid, 0, 0);
    }
    return 0;
}

/* The twin of `ptrace`: attaching to a child of our own works. */
static int cmd_ptrace_child(void) {
    pid_t child = fork();
    if (child == 0) { pause(); _exit(0); }
    long rc = ptrace(PTRACE_ATTACH, child, 0, 0);
    printf("ptrace_child: %s\n", res(rc));
    if (rc == 0) waitpid(child, NULL, __WALL);
    kill(child, SIGKILL);
    waitpid(child, NULL, __WALL);
    return 0;
}

/* CVE-2019-5736: what /proc/self/exe is, and that it cannot be opened for
 * writing while it runs; `copy` is a non-running copy (the twin). */
static int cmd_exe_self(const char *copy) {
    char target[PATH_MAX] = {0};
    if (readlink("/proc/self/exe", target, sizeof target - 1) < 0)
        snprintf(target, sizeof target, "%s", err(errno));
    int fd = open("/proc/self/exe", O_WRONLY);
    const char *self = res(fd);
    if (fd >= 0) close(fd);
    fd = open(copy, O_WRONLY);
    const char *other = res(fd);
    if (fd >= 0) close(fd);
    printf("exe_self: %s write=%s copy_write=%s\n", target, self, other);
    return 0;
}

/* CVE-2019-5736 during an exec's setup. Replaces /etc/passwd with a FIFO,
 * so the runtime's exec child blocks reading it once it has joined the
 * container (a deterministic window), finds that child in /proc and tries
 * to reach its executable and fds: the runtime's binary on the host. Then
 * feeds the FIFO a passwd and puts the real file back. Only reads. */
static int cmd_exe_window(void) {
    if (rename("/etc/passwd", "/etc/passwd.berth-probe") < 0) {
        printf("exe_window: rename %s\n", err(errno));
        return 0;
    }
    if (mkfifo("/etc/passwd", 0644) < 0) {
        printf("exe_window: mkfifo %s\n", err(errno));
        return 0;
    }
    printf("exe_window: waiting\n");
    fflush(stdout);
    /* Blocks until the exec child opens the FIFO for reading. */
    int fifo = open("/etc/passwd", O_WRONLY);
    if (fifo < 0) { printf("exe_window: open fifo %s\n", err(errno)); return 0; }
    pid_t self = getpid(), found = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!is_pid(e->d_name)) continue;
        pid_t p = atoi(e->d_name);
        if (p != self && p != 1) found = p;
    }
    if (d) closedir(d);
    char path[64], target[PATH_MAX] = {0};
    const char *link = "none", *open_rc = "none", *fds = "none";
    if (found) {
        snprintf(path, sizeof path, "/proc/%d/exe", found);
        if (readlink(path, target, sizeof target - 1) < 0) link = err(errno);
        else link = target;
        int fd = open(path, O_RDONLY);
        open_rc = res(fd);
        if (fd >= 0) close(fd);
        /* Listing the numbers is harmless; opening one is the leak. */
        snprintf(path, sizeof path, "/proc/%d/fd", found);
        DIR *fdd = opendir(path);
        fds = fdd ? "empty" : err(errno);
        struct dirent *f;
        while (fdd && (f = readdir(fdd))) {
            if (!is_pid(f->d_name)) continue;
            char fdpath[300];
            snprintf(fdpath, sizeof fdpath, "/proc/%d/fd/%s", found, f->d_name);
            int fd = open(fdpath, O_RDONLY | O_NONBLOCK);
            fds = res(fd);
            if (fd >= 0) close(fd);
            break;
        }
        if (fdd) closedir(fdd);
    }
    printf("exe_window: pid=%s exe=%s open=%s fds=%s\n", found ? "found" : "none", link,
           open_rc, fds);
    fflush(stdout);
    /* The real file goes back before the FIFO is fed: the exec'd program
     * (busybox `id` calls getpwuid) opens /etc/passwd again, and an open of
     * a FIFO nobody writes to any more blocks for ever. The exec child
     * already holds the FIFO open, so the rename cannot strand it. */
    rename("/etc/passwd.berth-probe", "/etc/passwd");
    const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n";
    if (write(fifo, passwd, sizeof passwd - 1) < 0) printf("exe_window: write %s\n", err(errno));
    close(fifo);
    return 0;
}

/* CVE-2024-21626: every fd besides stdio (and the listing's own), with its
 * target. `open` first opens a file of its own (the twin: it must show). */
static int cmd_fds(int open_one) {
    if (open_one) open("/etc/hostname", O_RDONLY);
    DIR *d = opendir("/proc/self/fd");
    if (!d) { printf("fds: %s\n", err(errno)); return 0; }
    int own = dirfd(d);
    printf("fds:");
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_pid(e->d_name)) continue;
        int fd = atoi(e->d_name);
        if (fd <= 2 || fd == own) continue;
        char path[64], target[PATH_MAX] = {0};
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        if (readlink(path, target, sizeof target - 1) < 0) snprintf(target, sizeof target, "?");
        printf(" %d->%s", fd, target);
    }
    printf("\n");
    closedir(d);
    return 0;
}

/* Whether `..` from the cwd ever leaves the root: walks up until the
 * parent is the directory itself, then compares it with "/". */
static const char *cwd_place(void) {
    struct stat root, cur, up;
    if (stat("/", &root) < 0) return "stat-root-failed";
    char rel[4096] = ".";
    for (int i = 0; i < 256; i++) {
        if (stat(rel, &cur) < 0) return err(errno);
        if (cur.st_dev == root.st_dev && cur.st_ino == root.st_ino) return "inside";
        if (strlen(rel) + 4 >= sizeof rel) break;
        strcat(rel, "/..");
        if (stat(rel, &up) < 0) return err(errno);
        if (up.st_dev == cur.st_dev && up.st_ino == cur.st_ino) return "outside";
    }
    return "outside";
}

static int cmd_cwd(void) {
    char buf[PATH_MAX];
    const char *cwd = getcwd(buf, sizeof buf) ? buf : err(errno);
    printf("cwd: %s %s\n", cwd_place(), cwd);
    return 0;
}

/* The twin of `cwd`: chroot without chdir leaves the cwd outside the new
 * root, which the same check must see. */
static int cmd_cwd_chroot(void) {
    mkdir("/tmp/berth-probe-jail", 0700);
    if (chroot("/tmp/berth-probe-jail") < 0) { printf("cwd_chroot: %s\n", err(errno)); return 0; }
    printf("cwd_chroot: %s\n", cwd_place());
    return 0;
}

/* Setting the clock: settimeofday(NULL, NULL) passes the kernel's
 * CAP_SYS_TIME check and then changes nothing, so a twin that succeeds is
 * harmless; clock_settime to "now" must fail the same way. */
static int cmd_settime(void) {
    const char *nop = res(syscall(SYS_settimeofday, NULL, NULL));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const char *set = "skipped";
    if (strcmp(nop, "ok") != 0) set = res(clock_settime(CLOCK_REALTIME, &now));
    printf("settime: %s clock_settime=%s\n", nop, set);
    return 0;
}

static int cmd_hostname(const char *name) {
    printf("hostname: %s\n", res(sethostname(name, strlen(name))));
    return 0;
}

static int cmd_mknod(const char *type, int major, int minor) {
    mode_t kind = type[0] == 'b' ? S_IFBLK : S_IFCHR;
    unlink("/tmp/berth-probe-dev");
    long rc = mknod("/tmp/berth-probe-dev", kind | 0600, makedev(major, minor));
    if (rc < 0) { printf("mknod: %s\n", err(errno)); return 0; }
    int fd = open("/tmp/berth-probe-dev", O_RDONLY | O_NONBLOCK);
    printf("mknod: ok open=%s\n", res(fd));
    if (fd >= 0) close(fd);
    unlink("/tmp/berth-probe-dev");
    return 0;
}

static int cmd_connect(const char *path) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    printf("connect %s: %s\n", path, res(connect(s, (struct sockaddr *)&a, sizeof a)));
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *c = argc > 1 ? argv[1] : "";
    if (!strcmp(c, "pids")) return cmd_pids();
    if (!strcmp(c, "mount")) return cmd_mount();
    if (!strcmp(c, "module")) return cmd_module();
    if (!strcmp(c, "open_w") && argc > 2) return cmd_open_w(argv[2]);
    if (!strcmp(c, "open") && argc > 2) return cmd_open(argv[2]);
    if (!strcmp(c, "read") && argc > 2) return cmd_read(argv[2]);
    if (!strcmp(c, "keyctl")) return cmd_keyctl();
    if (!strcmp(c, "unshare_user")) return cmd_unshare_user();
    if (!strcmp(c, "ptrace") && argc > 2) return cmd_ptrace(atoi(argv[2]));
    if (!strcmp(c, "ptrace_child")) return cmd_ptrace_child();
    if (!strcmp(c, "exe_self") && argc > 2) return cmd_exe_self(argv[2]);
    if (!strcmp(c, "exe_window")) return cmd_exe_window();
    if (!strcmp(c, "fds")) return cmd_fds(argc > 2 && !strcmp(argv[2], "open"));
    if (!strcmp(c, "cwd")) return cmd_cwd();
    if (!strcmp(c, "cwd_chroot")) return cmd_cwd_chroot();
    if (!strcmp(c, "settime")) return cmd_settime();
    if (!strcmp(c, "hostname") && argc > 2) return cmd_hostname(argv[2]);
    if (!strcmp(c, "mknod") && argc > 4) return cmd_mknod(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (!strcmp(c, "connect") && argc > 2) return cmd_connect(argv[2]);
    fprintf(stderr, "berth-probe: unknown command %s\n", c);
    return 2;
}
