/*
 * lessor: the native front of the `lessor` command (docs/hw.md, "The native launcher").
 *
 * Python's start-up alone is more than three times the `flock ... taskset`
 * that `lessor hw` is measured against, so the plain local run
 *
 *     lessor hw [--cores N] [--nics N] [--numa same|any] [--profile P] -- COMMAND...
 *
 * is done here when it can be granted at once. Everything else -- every other
 * command, any other option, LESSOR_HW_SERVER, a non-empty queue, busy or
 * impossible hardware, a missing or stale cache, any error before the
 * reservation -- is handed to the Python CLI (`lessor-python`, next to this
 * program) by exec with the same argv, so it behaves exactly as it always did.
 *
 * What is shared with the Python side (src/lessor/hw/), kept byte-compatible:
 *   state.py  the state directory, `state.lock` (the decision lock), `queue/`
 *             entries named SEQ-PID, `core-ID.lock` / `nic-NAME.lock` flocked
 *             while held and holding the holder's JSON record, `usage.log`;
 *   run.py    the choice rules (choose.py), the holder record and usage lines,
 *             the command's environment, affinity, PR_SET_PDEATHSIG, exit codes;
 *   cache.py  `machine-UID.native`, the topology and hw.yaml in lines for C.
 *
 * The launcher stays the command's parent (a supervisor), as Python's
 * `lessor hw` does: it holds the lock files (close-on-exec: the command never
 * sees them), forwards signals, returns the command's exit code (128+N for
 * signal N) and writes the release line when it ends. kill -9 of the
 * launcher drops its locks in the kernel and kills the command through
 * PR_SET_PDEATHSIG; the next holder records the release, as for Python.
 *
 * Linux, C11 + POSIX/GNU libc only.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef LESSOR_PYTHON_CLI
#define LESSOR_PYTHON_CLI "" /* empty: `lessor-python` in the directory of this program */
#endif

#define CACHE_FORMAT "lessor-hw-native 1"
#define MAX_CORES 1024
#define MAX_CORE_CPUS 16
#define MAX_NICS 128
#define MAX_PROFILES 64
#define NAME_LEN 64
#define COMMAND_CHARS 200 /* run.holder_info: " ".join(argv)[:200] */
#define EXIT_CANNOT_RUN 127

struct core {
    int id, node, ncpus, reservable, busy, fd;
    int cpus[MAX_CORE_CPUS];
};
struct nic {
    char name[NAME_LEN], pci[NAME_LEN];
    int node, reservable, busy, fd;
};
struct profile {
    char name[NAME_LEN];
    long cores, nics;
};
struct machine {
    struct core cores[MAX_CORES];
    struct nic nics[MAX_NICS];
    struct profile profiles[MAX_PROFILES];
    int ncores, nnics, nprofiles;
};

/* A bounded text buffer: appends past the end set `full`, and a full buffer is never used. */
struct buf {
    char d[65536];
    size_t n;
    int full;
};

static char **g_argv;
static struct machine g_m;
static struct buf g_holder, g_line;
static volatile sig_atomic_t g_child;

/* -- handing over to Python ------------------------------------------------------------ */

/* exec the Python CLI with our own argv; never returns. Lock fds are close-on-exec. */
static void python(void)
{
    char path[PATH_MAX];
    if (LESSOR_PYTHON_CLI[0]) {
        snprintf(path, sizeof path, "%s", LESSOR_PYTHON_CLI);
    } else {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        char *slash;
        if (n < 0 || (size_t)n >= sizeof path - 1) {
            fprintf(stderr, "lessor: cannot find this program (/proc/self/exe): %s\n",
                    strerror(n < 0 ? errno : ENAMETOOLONG));
            exit(EXIT_CANNOT_RUN);
        }
        path[n] = '\0';
        slash = strrchr(path, '/');
        if (!slash || (size_t)(slash - path) + sizeof "/lessor-python" > sizeof path) {
            fprintf(stderr, "lessor: cannot place lessor-python next to %s\n", path);
            exit(EXIT_CANNOT_RUN);
        }
        memcpy(slash, "/lessor-python", sizeof "/lessor-python");
    }
    execv(path, g_argv);
    fprintf(stderr, "lessor: cannot run the Python CLI %s: %s\n", path, strerror(errno));
    exit(EXIT_CANNOT_RUN);
}

/* -- small helpers ------------------------------------------------------------------- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* snprintf for a path: -1 (and an empty path) when it would not fit. */
static int pathf(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

static void put(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->full)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->d + b->n, sizeof b->d - b->n, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof b->d - b->n)
        b->full = 1;
    else
        b->n += (size_t)n;
}

/* Length of the well-formed UTF-8 sequence at s, 0 if it is not one (s is NUL-terminated). */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4
                                                                                          : 0;
    }
    return 0;
}

/*
 * Appends the JSON text of the strings `parts` joined by spaces, at most `max_chars`
 * characters, exactly as wire.dumps writes what Python made of them: Python decodes
 * argv as UTF-8 with surrogateescape (a byte that starts no valid sequence becomes
 * U+DC80+byte), and wire.py writes controls and DEL as \u00XX, lone surrogates as
 * \udcXX, quote and backslash escaped, everything else as it is.
 */
static void put_json_joined(struct buf *b, char *const *parts, int nparts, size_t max_chars)
{
    size_t chars = 0;
    put(b, "\"");
    for (int i = 0; i < nparts && chars < max_chars; i++) {
        const unsigned char *s = (const unsigned char *)parts[i];
        if (i > 0) {
            put(b, " ");
            if (++chars >= max_chars)
                break;
        }
        while (*s && chars < max_chars) {
            size_t len = utf8_len(s);
            if (len == 0)
                put(b, "\\udc%02x", *s), len = 1;
            else if (*s < 0x20 || *s == 0x7F)
                put(b, "\\u%04x", *s);
            else if (*s == '"' || *s == '\\')
                put(b, "\\%c", *s);
            else
                put(b, "%.*s", (int)len, (const char *)s);
            s += len;
            chars++;
        }
    }
    put(b, "\"");
}

static void put_json(struct buf *b, const char *s)
{
    char *one[1] = {(char *)s};
    put_json_joined(b, one, 1, (size_t)-1);
}

/* The first line of a small file without trailing white space; -1 when it cannot be read. */
static int read_text(const char *path, char *out, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    if (fd < 0)
        return -1;
    n = read(fd, out, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    while (n > 0 && strchr(" \t\n\v\f\r", out[n - 1]) && out[n - 1])
        n--;
    out[n] = '\0';
    return 0;
}

/* A whole number as argv.py's int() would read it, restricted to plain digits. */
static int parse_count(const char *s, long *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 6 || strspn(s, "0123456789") != n)
        return -1;
    *out = strtol(s, NULL, 10);
    return 0;
}

static int pid_alive(long pid)
{
    return pid <= 0 || kill((pid_t)pid, 0) == 0 || errno == EPERM; /* as state.pid_alive */
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* As state._open: created readable and writable by every user of the machine. */
static int open_shared(const char *dir, const char *name)
{
    char path[PATH_MAX];
    mode_t old;
    int fd;
    if (pathf(path, sizeof path, "%s/%s", dir, name) < 0)
        return -1;
    old = umask(0);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    umask(old);
    return fd;
}

/* -- the cache that cache.py writes for us ---------------------------------------------- */

/*
 * machine-UID.native: a line per fact, `key value...`. The first lines are the keys the
 * Python cache is invalidated by; each is checked against the machine now, and any
 * difference sends the run to Python (which writes the file again).
 */
static int check_key(const char *key, const char *val, const char *sysfs, const char *config)
{
    char path[PATH_MAX], text[4096];
    struct stat st;
    if (!strcmp(key, "sysfs"))
        return strcmp(val, sysfs) ? -1 : 0;
    if (!strcmp(key, "config"))
        return strcmp(val, config) ? -1 : 0;
    if (!strcmp(key, "required"))
        return strcmp(val, "0") ? -1 : 0; /* no --config on the fast path */
    if (!strcmp(key, "sysfs-id")) {
        if (stat(sysfs, &st) < 0)
            return -1;
        snprintf(text, sizeof text, "%llu %lld", (unsigned long long)st.st_ino,
                 (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
        return strcmp(val, text) ? -1 : 0;
    }
    if (!strcmp(key, "config-id")) {
        if (stat(config, &st) < 0)
            snprintf(text, sizeof text, "none");
        else
            snprintf(text, sizeof text, "%llu %lld %lld", (unsigned long long)st.st_ino,
                     (long long)st.st_size,
                     (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
        return strcmp(val, text) ? -1 : 0;
    }
    if (!strcmp(key, "online") || !strcmp(key, "boot")) {
        int bad = !strcmp(key, "online")
                      ? pathf(path, sizeof path, "%s/devices/system/cpu/online", sysfs)
                      : pathf(path, sizeof path, "/proc/sys/kernel/random/boot_id");
        if (bad || read_text(path, text, sizeof text) < 0)
            text[0] = '\0';
        return strcmp(val, text) ? -1 : 0;
    }
    if (!strcmp(key, "net")) { /* the NIC names, sorted, space-separated: compare as a set */
        DIR *d;
        struct dirent *e;
        size_t want = 0, seen = 0;
        for (const char *p = val; *p; p++)
            want += *p == ' ';
        want += val[0] != '\0';
        if (pathf(path, sizeof path, "%s/class/net", sysfs) < 0)
            return -1;
        d = opendir(path);
        if (!d)
            return want ? -1 : 0;
        while ((e = readdir(d)) != NULL) {
            size_t len = strlen(e->d_name);
            const char *p = val;
            int found = 0;
            if (e->d_name[0] == '.' && (len == 1 || (len == 2 && e->d_name[1] == '.')))
                continue;
            while (*p && !found) {
                size_t w = strcspn(p, " ");
                found = w == len && !strncmp(p, e->d_name, len);
                p += w + (p[w] == ' ');
            }
            if (!found) {
                closedir(d);
                return -1;
            }
            seen++;
        }
        closedir(d);
        return seen == want ? 0 : -1;
    }
    return -1; /* a key this launcher does not know: let Python decide */
}

static int parse_cpus(char *text, struct core *c)
{
    char *save = NULL;
    c->ncpus = 0;
    for (char *t = strtok_r(text, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long cpu = strtol(t, NULL, 10);
        if (c->ncpus >= MAX_CORE_CPUS || cpu < 0 || cpu >= CPU_SETSIZE)
            return -1;
        c->cpus[c->ncpus++] = (int)cpu;
    }
    return c->ncpus ? 0 : -1;
}

static int load_machine(const char *state, const char *sysfs, const char *config)
{
    static char data[1 << 20];
    char path[PATH_MAX], *save = NULL;
    struct stat st;
    ssize_t n;
    size_t len = 0;
    int fd, line_no = 0, ended = 0;
    if (pathf(path, sizeof path, "%s/machine-%u.native", state, (unsigned)getuid()) < 0)
        return -1;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* only our own: anyone may create files in the shared, sticky state directory */
    if (fstat(fd, &st) < 0 || st.st_uid != getuid()) {
        close(fd);
        return -1;
    }
    while ((n = read(fd, data + len, sizeof data - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    if (n < 0 || len >= sizeof data - 1)
        return -1;
    data[len] = '\0';
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *val = strchr(line, ' ');
        const char *key = line;
        if (line_no++ == 0) {
            if (strcmp(line, CACHE_FORMAT))
                return -1;
            continue;
        }
        if (val)
            *val++ = '\0';
        else
            val = line + strlen(line);
        if (!strcmp(key, "end")) {
            ended = 1;
            break;
        } else if (!strcmp(key, "core")) {
            struct core *c = &g_m.cores[g_m.ncores];
            char cpus[4096];
            if (g_m.ncores >= MAX_CORES ||
                sscanf(val, "%d %d %4095s", &c->id, &c->node, cpus) != 3 ||
                parse_cpus(cpus, c) < 0)
                return -1;
            c->fd = -1;
            g_m.ncores++;
        } else if (!strcmp(key, "nic")) {
            struct nic *x = &g_m.nics[g_m.nnics];
            if (g_m.nnics >= MAX_NICS ||
                sscanf(val, "%63s %63s %d", x->name, x->pci, &x->node) != 3)
                return -1;
            x->fd = -1;
            g_m.nnics++;
        } else if (!strcmp(key, "reservable-core")) {
            int id = atoi(val);
            for (int i = 0; i < g_m.ncores; i++)
                g_m.cores[i].reservable |= g_m.cores[i].id == id;
        } else if (!strcmp(key, "reservable-nic")) {
            for (int i = 0; i < g_m.nnics; i++)
                g_m.nics[i].reservable |= !strcmp(g_m.nics[i].name, val);
        } else if (!strcmp(key, "profile")) {
            struct profile *p = &g_m.profiles[g_m.nprofiles];
            if (g_m.nprofiles >= MAX_PROFILES ||
                sscanf(val, "%63s %ld %ld", p->name, &p->cores, &p->nics) != 3)
                return -1;
            g_m.nprofiles++;
        } else if (check_key(key, val, sysfs, config) < 0) {
            return -1;
        }
    }
    return ended ? 0 : -1;
}

/* -- the choice: choose.py for whole cores (no --smt on the fast path) --------------------- */

static int node_listed(const int *nodes, int n, int node)
{
    for (int i = 0; i < n; i++)
        if (nodes[i] == node)
            return 1;
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/*
 * First fit, lowest node first (all nodes as one when !same_node), lowest cores and NICs
 * first in the topology's order. Marks the picked ones `picked`; returns the node (or -1
 * when !same_node), or -2 when nothing fits. `ignore_busy`: what could ever fit.
 */
static int choose(long want_cores, long want_nics, int same_node, int ignore_busy, int *picked_c,
                  int *picked_n)
{
    static int nodes[MAX_CORES + MAX_NICS];
    int nnodes = 0;
    for (int i = 0; i < g_m.ncores; i++)
        if (!node_listed(nodes, nnodes, g_m.cores[i].node))
            nodes[nnodes++] = g_m.cores[i].node;
    for (int i = 0; i < g_m.nnics; i++)
        if (!node_listed(nodes, nnodes, g_m.nics[i].node))
            nodes[nnodes++] = g_m.nics[i].node;
    qsort(nodes, (size_t)nnodes, sizeof nodes[0], cmp_int);
    if (!same_node)
        nnodes = 1;
    for (int k = 0; k < nnodes; k++) {
        long got_c = 0, got_n = 0;
        for (int i = 0; i < g_m.ncores; i++) {
            struct core *c = &g_m.cores[i];
            picked_c[i] = got_c < want_cores && c->reservable && (ignore_busy || !c->busy) &&
                          (!same_node || c->node == nodes[k]);
            got_c += picked_c[i];
        }
        for (int i = 0; i < g_m.nnics; i++) {
            struct nic *x = &g_m.nics[i];
            picked_n[i] = got_n < want_nics && x->reservable && (ignore_busy || !x->busy) &&
                          (!same_node || x->node == nodes[k]);
            got_n += picked_n[i];
        }
        if (got_c == want_cores && got_n == want_nics)
            return same_node ? nodes[k] : -1;
    }
    return -2;
}

/* -- the reservation ----------------------------------------------------------------- */

static void log_usage(const char *state, const char *fmt, ...)
{
    va_list ap;
    int fd, n;
    char text[4096], path[PATH_MAX];
    va_start(ap, fmt);
    n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof text)
        return;
    if (pathf(path, sizeof path, "%s/usage.log", state) < 0)
        return;
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return; /* as in Python the log only feeds `status`; the reservation stands */
    /* one write with O_APPEND: lines never interleave with other writers' */
    if (write(fd, text, (size_t)n) != n)
        fprintf(stderr, "lessor hw: cannot write %s: %s\n", path, strerror(errno));
    close(fd);
}

/*
 * A lock file we just took may hold the record of a holder that died without releasing
 * (kill -9): record its release, as run._take does ("holder died").
 */
static void release_stale(const char *state, int fd)
{
    char raw[65536], token[64];
    ssize_t n = pread(fd, raw, sizeof raw - 1, 0);
    const char *p;
    long pid;
    if (n <= 0)
        return;
    raw[n] = '\0';
    /* wire.py writes compact JSON; `"pid":` cannot occur inside a string (quotes are escaped) */
    p = strstr(raw, "\"pid\":");
    if (!p || sscanf(p + 6, "%ld", &pid) != 1 || pid_alive(pid))
        return;
    p = strstr(raw, "\"token\":\"");
    if (!p || sscanf(p + 9, "%63[0-9a-f]", token) != 1)
        return;
    log_usage(state, "{\"t\":%.7f,\"event\":\"release\",\"token\":\"%s\",\"why\":\"holder died\"}\n",
              now(), token);
}

static int queue_empty(const char *state)
{
    char path[PATH_MAX];
    DIR *d;
    struct dirent *e;
    int empty = 1;
    if (pathf(path, sizeof path, "%s/queue", state) < 0)
        return 0;
    d = opendir(path);
    if (!d)
        return 0;
    while (empty && (e = readdir(d)) != NULL) {
        const char *dash = strchr(e->d_name, '-');
        char entry[PATH_MAX];
        if (e->d_name[0] == '.')
            continue;
        if (dash && !pid_alive(strtol(dash + 1, NULL, 10))) { /* a dead waiter: skipped */
            if (pathf(entry, sizeof entry, "%s/%s", path, e->d_name) == 0)
                unlink(entry);
            continue;
        }
        empty = 0;
    }
    closedir(d);
    return empty;
}

/* flock every reservable core and NIC that is free (as state.try_take); the rest are busy. */
static int take_free(const char *state)
{
    char name[NAME_LEN + 16];
    for (int i = 0; i < g_m.ncores + g_m.nnics; i++) {
        int is_core = i < g_m.ncores;
        int *fd = is_core ? &g_m.cores[i].fd : &g_m.nics[i - g_m.ncores].fd;
        int *busy = is_core ? &g_m.cores[i].busy : &g_m.nics[i - g_m.ncores].busy;
        if (is_core ? !g_m.cores[i].reservable : !g_m.nics[i - g_m.ncores].reservable)
            continue;
        if (is_core)
            snprintf(name, sizeof name, "core-%d.lock", g_m.cores[i].id);
        else
            snprintf(name, sizeof name, "nic-%s.lock", g_m.nics[i - g_m.ncores].name);
        *fd = open_shared(state, name);
        if (*fd < 0)
            return -1;
        if (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
            if (errno != EWOULDBLOCK)
                return -1;
            close(*fd);
            *fd = -1;
            *busy = 1;
        }
    }
    return 0;
}

/* Closes the lock fds not in the choice (every one when `keep` is NULL). */
static void drop_locks(const int *keep_c, const int *keep_n)
{
    for (int i = 0; i < g_m.ncores; i++)
        if (g_m.cores[i].fd >= 0 && !(keep_c && keep_c[i]))
            close(g_m.cores[i].fd), g_m.cores[i].fd = -1;
    for (int i = 0; i < g_m.nnics; i++)
        if (g_m.nics[i].fd >= 0 && !(keep_n && keep_n[i]))
            close(g_m.nics[i].fd), g_m.nics[i].fd = -1;
}

/* -- running the command --------------------------------------------------------------- */

static void forward(int sig)
{
    if (g_child > 0)
        kill(g_child, sig);
}

/* As run._exec: execve along PATH; a missing file tries the next directory. */
static int exec_command(char **argv)
{
    const char *path = getenv("PATH");
    int error = 0;
    if (strchr(argv[0], '/')) {
        execv(argv[0], argv);
        return errno;
    }
    if (!path)
        path = "/bin:/usr/bin"; /* os.defpath */
    for (;;) {
        size_t len = strcspn(path, ":");
        char file[PATH_MAX];
        int bad = len ? pathf(file, sizeof file, "%.*s/%s", (int)len, path, argv[0])
                      : pathf(file, sizeof file, "./%s", argv[0]);
        if (!bad) {
            execv(file, argv);
            if (errno == EACCES)
                error = EACCES; /* a found but forbidden file is the answer, as execvp */
            else if (errno != ENOENT && errno != ENOTDIR)
                return errno;
            else if (!error)
                error = errno;
        }
        if (!path[len])
            return error ? error : ENOENT;
        path += len + 1;
    }
}

static int run(char **command, const cpu_set_t *cpus, int ncpus)
{
    int pipefd[2], err = 0, status;
    pid_t parent = getpid(), pid;
    ssize_t n;
    struct sigaction dfl, inherited;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    /* an inherited SIGCHLD ignore would reap the command before we could wait for it */
    if (sigaction(SIGCHLD, &dfl, &inherited) < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) { /* the child: pinned, dying with us, then the command */
        sigaction(SIGCHLD, &inherited, NULL); /* the command gets what we were given */
        close(pipefd[0]);
        if (ncpus && sched_setaffinity(0, sizeof *cpus, cpus) < 0)
            err = errno;
        else if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
            err = errno;
        else if (getppid() != parent)
            _exit(EXIT_CANNOT_RUN); /* we died before prctl took effect: run nothing */
        else
            err = exec_command(command);
        if (write(pipefd[1], &err, sizeof err) < 0)
            _exit(EXIT_CANNOT_RUN);
        _exit(EXIT_CANNOT_RUN);
    }
    g_child = pid;
    close(pipefd[1]);
    do
        n = read(pipefd[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == (ssize_t)sizeof err) { /* the exec failed; the pipe closes empty on success */
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        fprintf(stderr, "lessor hw: cannot run %s: %s\n", command[0], strerror(err));
        return EXIT_CANNOT_RUN;
    }
    {
        static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = forward;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
            sigaction(forwarded[i], &sa, NULL);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* -- the fast path ----------------------------------------------------------------- */

static const char *user_name(char *out, size_t size)
{
    static const char *vars[] = {"LOGNAME", "USER", "LNAME", "USERNAME"}; /* getpass.getuser */
    struct passwd *pw;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (env(vars[i]))
            return env(vars[i]);
    pw = getpwuid(getuid());
    if (pw)
        return pw->pw_name;
    snprintf(out, size, "%u", (unsigned)getuid());
    return out;
}

static void token_hex(char out[33])
{
    unsigned char raw[16];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno != EINTR)
            python(); /* no randomness: the Python side will say what is wrong */
        got += n > 0 ? (size_t)n : 0;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

int main(int argc, char **argv)
{
    static int picked_c[MAX_CORES], picked_n[MAX_NICS];
    long cores = -1, nics = -1, want_c, want_n;
    const char *numa = NULL, *profile = NULL, *state, *sysfs, *config;
    char state_buf[PATH_MAX], user_buf[32], token[33], cpu_list[8192] = "";
    int cmd = -1, lock_fd, node, ncpus = 0, same_node, code;
    cpu_set_t cpus, available;
    g_argv = argv;

    /* lessor hw [--cores N] [--nics N] [--numa same|any] [--profile P] -- COMMAND... */
    if (argc < 2 || strcmp(argv[1], "hw") || env("LESSOR_HW_SERVER"))
        python();
    for (int i = 2; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--")) {
            cmd = i + 1;
            break;
        }
        if (!v || v[0] == '-' || !v[0]) /* argv.py leaves these to argparse */
            python();
        if (!strcmp(argv[i], "--cores") && cores < 0 && !parse_count(v, &cores))
            continue;
        if (!strcmp(argv[i], "--nics") && nics < 0 && !parse_count(v, &nics))
            continue;
        if (!strcmp(argv[i], "--numa") && !numa && (!strcmp(v, "same") || !strcmp(v, "any"))) {
            numa = v;
            continue;
        }
        if (!strcmp(argv[i], "--profile") && !profile && strlen(v) < NAME_LEN) {
            profile = v;
            continue;
        }
        python(); /* any other option, a repeated one, a bad value */
    }
    if (cmd < 0 || cmd >= argc)
        python();

    /* state.state_dir, topology.sysfs_root, config.config_path */
    state = env("LESSOR_HW_STATE_DIR");
    if (!state) {
        const char *runtime = env("XDG_RUNTIME_DIR");
        if (geteuid() == 0 || access("/run/lessor/hw", W_OK) == 0)
            state = "/run/lessor/hw";
        else if (runtime ? pathf(state_buf, sizeof state_buf, "%s/lessor/hw", runtime)
                         : pathf(state_buf, sizeof state_buf, "/tmp/lessor-hw-%u",
                                 (unsigned)getuid()))
            python();
        else
            state = state_buf;
    }
    sysfs = env("LESSOR_SYSFS_ROOT") ? env("LESSOR_SYSFS_ROOT") : "/sys";
    config = env("LESSOR_HW_CONFIG") ? env("LESSOR_HW_CONFIG") : "/etc/lessor/hw.yaml";
    if (load_machine(state, sysfs, config) < 0)
        python(); /* no cache yet, or the machine or hw.yaml changed: Python rebuilds it */

    want_c = cores, want_n = nics;
    if (profile) {
        int found = -1;
        for (int i = 0; i < g_m.nprofiles; i++)
            if (!strcmp(g_m.profiles[i].name, profile))
                found = i;
        if (found < 0)
            python(); /* it says which profiles there are */
        if (want_c < 0)
            want_c = g_m.profiles[found].cores;
        if (want_n < 0)
            want_n = g_m.profiles[found].nics;
    }
    want_c = want_c < 0 ? 0 : want_c, want_n = want_n < 0 ? 0 : want_n;
    if (want_c == 0 && want_n == 0)
        python();
    same_node = numa ? !strcmp(numa, "same") : want_c && want_n;
    if (choose(want_c, want_n, same_node, 1, picked_c, picked_n) == -2)
        python(); /* never possible here: Python says so (exit 69) */

    /* one decision at a time (state.decision); FIFO: with anyone queued, Python queues us */
    lock_fd = open_shared(state, "state.lock");
    if (lock_fd < 0)
        python();
    while (flock(lock_fd, LOCK_EX) < 0)
        if (errno != EINTR)
            python();
    if (!queue_empty(state) || take_free(state) < 0)
        python();
    node = choose(want_c, want_n, same_node, 0, picked_c, picked_n);
    if (node == -2)
        python(); /* busy: Python waits in the queue and says who holds it */
    drop_locks(picked_c, picked_n);
    for (int i = 0; i < g_m.ncores; i++)
        if (picked_c[i])
            release_stale(state, g_m.cores[i].fd);
    for (int i = 0; i < g_m.nnics; i++)
        if (picked_n[i])
            release_stale(state, g_m.nics[i].fd);
    close(lock_fd);

    /* the holder record (run.holder_info), written into each lock file we hold */
    {
        static int sorted[MAX_CORES * MAX_CORE_CPUS];
        struct buf *h = &g_holder;
        int first = 1;
        for (int i = 0; i < g_m.ncores; i++)
            for (int j = 0; picked_c[i] && j < g_m.cores[i].ncpus; j++)
                sorted[ncpus++] = g_m.cores[i].cpus[j];
        qsort(sorted, (size_t)ncpus, sizeof sorted[0], cmp_int);
        token_hex(token);
        put(h, "{\"user\":");
        put_json(h, user_name(user_buf, sizeof user_buf));
        put(h, ",\"pid\":%ld,\"command\":", (long)getpid());
        put_json_joined(h, argv + cmd, argc - cmd, COMMAND_CHARS);
        put(h, ",\"since\":%.7f,\"token\":\"%s\",\"profile\":", now(), token);
        put_json(h, profile ? profile : "-");
        put(h, ",\"cores\":%ld,\"nics\":%ld,\"cpus\":[", want_c, want_n);
        CPU_ZERO(&cpus);
        for (int i = 0; i < ncpus; i++) {
            size_t len = strlen(cpu_list);
            put(h, "%s%d", i ? "," : "", sorted[i]);
            snprintf(cpu_list + len, sizeof cpu_list - len, "%s%d", i ? "," : "", sorted[i]);
            CPU_SET((size_t)sorted[i], &cpus);
        }
        put(h, "],\"nic_names\":[");
        for (int i = 0; i < g_m.nnics; i++)
            if (picked_n[i]) {
                put(h, first ? "" : ",");
                put_json(h, g_m.nics[i].name);
                first = 0;
            }
        put(h, "]}");
        if (h->full)
            python(); /* cannot happen with the limits above; if it did, Python does it */
        for (int i = 0; i < g_m.ncores + g_m.nnics; i++) {
            int fd = i < g_m.ncores ? g_m.cores[i].fd : g_m.nics[i - g_m.ncores].fd;
            if (fd >= 0 && (ftruncate(fd, 0) < 0 || pwrite(fd, h->d, h->n, 0) != (ssize_t)h->n))
                fprintf(stderr, "lessor hw: cannot write the holder record: %s\n",
                        strerror(errno));
        }
    }
    g_line.n = 0;
    put(&g_line, "{\"t\":%.7f,\"event\":\"reserve\",\"token\":\"%s\",\"profile\":", now(), token);
    put_json(&g_line, profile ? profile : "-");
    put(&g_line, ",\"cores\":%ld,\"nics\":%ld,\"pid\":%ld,\"user\":", want_c, want_n,
        (long)getpid());
    put_json(&g_line, user_name(user_buf, sizeof user_buf));
    put(&g_line, "}\n");
    if (!g_line.full)
        log_usage(state, "%s", g_line.d);

    /* the command's environment and affinity (run.run_command) */
    setenv("LESSOR_CPUS", cpu_list, 1);
    if (node >= 0) {
        char text[16];
        snprintf(text, sizeof text, "%d", node);
        setenv("LESSOR_NUMA_NODE", text, 1);
    }
    for (int i = 0, k = 0; i < g_m.nnics; i++)
        if (picked_n[i]) {
            char var[32];
            snprintf(var, sizeof var, "NIC%d", k);
            setenv(var, g_m.nics[i].pci, 1);
            snprintf(var, sizeof var, "NIC%d_NAME", k++);
            setenv(var, g_m.nics[i].name, 1);
        }
    if (sched_getaffinity(0, sizeof available, &available) == 0)
        CPU_AND(&cpus, &cpus, &available);
    if (ncpus && CPU_COUNT(&cpus) == 0)
        fprintf(stderr,
                "lessor hw: CPUs %s are not on this machine (a fake sysfs?); affinity not set\n",
                cpu_list);

    code = run(argv + cmd, &cpus, CPU_COUNT(&cpus));
    if (code < 0) {
        fprintf(stderr, "lessor hw: cannot start the command: %s\n", strerror(errno));
        code = 71; /* EX_OSERR */
    }
    log_usage(state, "{\"t\":%.7f,\"event\":\"release\",\"token\":\"%s\"}\n", now(), token);
    for (int i = 0; i < g_m.ncores + g_m.nnics; i++) { /* as Held.release: empty, then close */
        int fd = i < g_m.ncores ? g_m.cores[i].fd : g_m.nics[i - g_m.ncores].fd;
        if (fd < 0)
            continue;
        if (ftruncate(fd, 0) < 0) {
            /* the release is the close; the emptied file only helps `status` */
        }
        close(fd);
    }
    return code;
}
