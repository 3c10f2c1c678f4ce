/*
 * lessor: the native front of the `lessor` command (docs/hw.md, "The native launcher").
 *
 * Python's start-up alone is more than three times the `flock ... taskset` that
 * `lessor hw` is measured against, so a plain local run
 *
 *     lessor hw [--cores N] [--nics N] [--gpus N] [--numa M] [--profile P] -- COMMAND...
 *
 * is done here when it can be granted at once. This program is mechanism only:
 * it knows no rule of which hardware a request gets. Python (src/lessor/hw/cache.py)
 * writes a plan file with, for each request it has seen, the alternatives to try
 * (each a list of "COUNT free units of this ordered list"), every unit's lock file,
 * CPUs and environment variables, and the checks under which all that holds. This
 * program checks, takes the decision lock, looks at the queue, flocks, applies the
 * first alternative that fits (as fit.py does), writes the records, and supervises
 * the command. Every name and number it shares with Python comes from protocol.h,
 * generated from protocol.py; tests/hw/test_differential.py holds the two sides to
 * the same decisions, environments and records.
 *
 * Anything else -- another command or option, no plan for the request, a stale plan,
 * a queue, busy hardware, any error before the reservation -- is handed to the Python
 * CLI (`lessor-python`, next to this program) by exec with the same argv.
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

#include "protocol.h"

#ifndef LESSOR_PYTHON_CLI
#define LESSOR_PYTHON_CLI "" /* empty: LHW_PYTHON_CLI in the directory of this program */
#endif

#define MAX_UNITS 2048
#define MAX_UNIT_CPUS 64
#define MAX_EXPORTS 8
#define MAX_COMMONS 4
#define MAX_PICKS 8192 /* unit references of all needs of our request */
#define MAX_NEEDS 1024
#define MAX_ALTS 512
#define MAX_ENV 128
#define NAME_LEN 64
#define TEXT_LEN 256
#define MAX_PLAN (4 << 20)

struct setting {
    char var[NAME_LEN];
    char value[TEXT_LEN];
    int rank; /* commons only */
};
struct unit {
    char lock[TEXT_LEN], lock_hex[2 * TEXT_LEN];
    int cpus[MAX_UNIT_CPUS], ncpus;
    struct setting exports[MAX_EXPORTS], commons[MAX_COMMONS];
    int nexports, ncommons;
    int wanted, fd, chosen;
};
struct need {
    int count, first, n; /* g_picks[first .. first+n) */
};
struct alt {
    int first, n; /* g_needs[first .. first+n) */
};

static char **g_argv;
static struct unit g_units[MAX_UNITS];
static int g_nunits;
static int g_picks[MAX_PICKS], g_npicks;
static struct need g_needs[MAX_NEEDS];
static int g_nneeds;
static struct alt g_alts[MAX_ALTS];
static int g_nalts;
static char g_profile_hex[2 * TEXT_LEN];
static int g_chosen[MAX_UNITS], g_nchosen; /* in the plan's order */
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
            exit(LHW_EXIT_CANNOT_RUN);
        }
        path[n] = '\0';
        slash = strrchr(path, '/');
        if (!slash || (size_t)(slash - path) + sizeof "/" LHW_PYTHON_CLI > sizeof path) {
            fprintf(stderr, "lessor: cannot place %s next to %s\n", LHW_PYTHON_CLI, path);
            exit(LHW_EXIT_CANNOT_RUN);
        }
        memcpy(slash, "/" LHW_PYTHON_CLI, sizeof "/" LHW_PYTHON_CLI);
    }
    execv(path, g_argv);
    fprintf(stderr, "lessor: cannot run the Python CLI %s: %s\n", path, strerror(errno));
    exit(LHW_EXIT_CANNOT_RUN);
}

/* -- small helpers ------------------------------------------------------------------- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* snprintf for a path: -1 when it would not fit. */
static int pathf(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* A growing text: appends past its end are dropped and mark it `full` (then unused). */
struct buf {
    char d[8192];
    size_t n;
    int full;
};

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

static void put_hex(struct buf *b, const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        put(b, "%02x", s[i]);
}

/* Hex text to bytes (NUL-terminated); -1 when it is not hex or does not fit. */
static int unhex(const char *hex, char *out, size_t size)
{
    size_t n = strlen(hex), i;
    if (n % 2 || n / 2 >= size)
        return -1;
    for (i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdef", hex[2 * i]) ||
            !strchr("0123456789abcdef", hex[2 * i + 1]))
            return -1;
        out[i] = (char)v;
    }
    out[i] = '\0';
    return memchr(out, '\0', i) ? -1 : 0;
}

/* Whether `hex` is the hex of the `len` bytes at s. */
static int hex_is(const char *hex, const unsigned char *s, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    if (strlen(hex) != 2 * len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (hex[2 * i] != digits[s[i] >> 4] || hex[2 * i + 1] != digits[s[i] & 15])
            return 0;
    return 1;
}

static int pid_alive(long pid)
{
    return pid <= 0 || kill((pid_t)pid, 0) == 0 || errno == EPERM; /* as state.pid_alive */
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
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

/* A whole small file (at most size-1 bytes); its length, or -1. */
static ssize_t read_file(const char *path, char *out, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n, len = 0;
    if (fd < 0)
        return -1;
    while ((n = read(fd, out + len, size - 1 - (size_t)len)) > 0)
        len += n;
    close(fd);
    if (n < 0)
        return -1;
    out[len] = '\0';
    return len;
}

/* -- the checks of the plan file (as cache.holds) --------------------------------------- */

static int by_bytes(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* check-dir: the names in `path`, sorted bytewise, in hex, joined by commas, are `want`. */
static int dir_is(const char *path, const char *want)
{
    static char *list[8192], pool[1 << 18];
    size_t used = 0, n = 0, at = 0, wlen = strlen(want);
    DIR *d = opendir(path);
    struct dirent *e;
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name) + 1;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (n >= sizeof list / sizeof list[0] || used + len > sizeof pool) {
            closedir(d);
            return 0;
        }
        list[n++] = memcpy(pool + used, e->d_name, len);
        used += len;
    }
    closedir(d);
    qsort(list, n, sizeof list[0], by_bytes);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(list[i]);
        char hex[2 * NAME_MAX + 3];
        if (i > 0 && (at >= wlen || want[at++] != ','))
            return 0;
        if (at + 2 * len > wlen || 2 * len >= sizeof hex)
            return 0;
        memcpy(hex, want + at, 2 * len);
        hex[2 * len] = '\0';
        if (!hex_is(hex, (const unsigned char *)list[i], len))
            return 0;
        at += 2 * len;
    }
    return at == wlen;
}

static int check(char **f, int n)
{
    static char text[65536 + 1]; /* as cache._file: at most 64 KiB */
    char path[PATH_MAX];
    struct stat st;
    if (!strcmp(f[0], "check-env") && n == 3) {
        const char *v = getenv(f[1]);
        return hex_is(f[2], (const unsigned char *)(v ? v : ""), v ? strlen(v) : 0);
    }
    if (n < 2 || unhex(f[1], path, sizeof path) < 0)
        return 0;
    if (!strcmp(f[0], "check-absent") && n == 2)
        return stat(path, &st) < 0;
    if (!strcmp(f[0], "check-stat") && n == 5) {
        char ino[32], size[32], mtime[32];
        if (stat(path, &st) < 0)
            return 0;
        snprintf(ino, sizeof ino, "%llu", (unsigned long long)st.st_ino);
        snprintf(size, sizeof size, "%lld", (long long)st.st_size);
        snprintf(mtime, sizeof mtime, "%lld",
                 (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
        return !strcmp(f[2], ino) && !strcmp(f[3], size) && !strcmp(f[4], mtime);
    }
    if (!strcmp(f[0], "check-file") && n == 3) {
        ssize_t len = read_file(path, text, sizeof text);
        return len >= 0 && hex_is(f[2], (const unsigned char *)text, (size_t)len);
    }
    if (!strcmp(f[0], "check-dir") && n == 3)
        return dir_is(path, f[2]);
    return 0; /* a check this launcher does not know: let Python decide */
}

/* -- the plan file ------------------------------------------------------------------------ */

static int number(const char *s, int *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 0 || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

static struct unit *unit_of(const char *id)
{
    int i;
    return number(id, &i) == 0 && i < g_nunits ? &g_units[i] : NULL;
}

static int setting(struct setting *s, const char *var, const char *hex)
{
    if (strlen(var) >= sizeof s->var || unhex(hex, s->value, sizeof s->value) < 0)
        return -1;
    strcpy(s->var, var);
    return 0;
}

/*
 * Reads plan-UID: checks first (any failing one: -1), then units, then requests, of
 * which only the one keyed `key_hex` is kept. -1 for anything it cannot read or
 * does not know, and when there is no plan for the request.
 */
static int load_plan(const char *state, const char *key_hex)
{
    static char data[MAX_PLAN];
    char name[64], path[PATH_MAX], *save = NULL;
    struct stat st;
    int fd, first = 1, ours = 0, found = 0, ended = 0;
    ssize_t n;
    size_t len = 0;
    snprintf(name, sizeof name, LHW_PLAN_FILE, (unsigned)getuid());
    if (pathf(path, sizeof path, "%s/%s", state, name) < 0)
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
    for (char *line = strtok_r(data, "\n", &save); line && !ended;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[8], *rest = line;
        int nf = 0;
        if (first) {
            if (strcmp(line, LHW_PLAN_MAGIC))
                return -1;
            first = 0;
            continue;
        }
        if (!strncmp(line, "machine ", 8))
            continue; /* Python's own: the topology and hw.yaml as JSON */
        while (rest && nf < 8)
            f[nf++] = strsep(&rest, " ");
        if (rest)
            return -1;
        if (!strncmp(f[0], "check-", 6)) {
            if (!check(f, nf))
                return -1;
        } else if (!strcmp(f[0], "unit") && nf == 3) {
            struct unit *u = &g_units[g_nunits];
            int id;
            if (g_nunits >= MAX_UNITS || number(f[1], &id) || id != g_nunits ||
                strlen(f[2]) >= sizeof u->lock_hex || unhex(f[2], u->lock, sizeof u->lock))
                return -1;
            strcpy(u->lock_hex, f[2]);
            u->fd = -1;
            g_nunits++;
        } else if (!strcmp(f[0], "cpus") && nf == 3) {
            struct unit *u = unit_of(f[1]);
            char *cpu_save = NULL;
            if (!u)
                return -1;
            for (char *c = strtok_r(f[2], ",", &cpu_save); c; c = strtok_r(NULL, ",", &cpu_save))
                if (u->ncpus >= MAX_UNIT_CPUS || number(c, &u->cpus[u->ncpus++]) ||
                    u->cpus[u->ncpus - 1] >= CPU_SETSIZE)
                    return -1;
        } else if (!strcmp(f[0], "export") && nf == 4) {
            struct unit *u = unit_of(f[1]);
            if (!u || u->nexports >= MAX_EXPORTS || setting(&u->exports[u->nexports++], f[2], f[3]))
                return -1;
        } else if (!strcmp(f[0], "common") && nf == 5) {
            struct unit *u = unit_of(f[1]);
            struct setting *s = u ? &u->commons[u->ncommons] : NULL;
            if (!u || u->ncommons >= MAX_COMMONS || number(f[2], &s->rank) ||
                setting(s, f[3], f[4]))
                return -1;
            u->ncommons++;
        } else if (!strcmp(f[0], "request") && nf == 3) {
            ours = !found && !strcmp(f[1], key_hex);
            if (ours) {
                if (strlen(f[2]) >= sizeof g_profile_hex)
                    return -1;
                strcpy(g_profile_hex, f[2]);
                found = 1;
            }
        } else if (!strcmp(f[0], "alt") && nf == 1) {
            if (ours) {
                if (g_nalts >= MAX_ALTS)
                    return -1;
                g_alts[g_nalts++] = (struct alt){g_nneeds, 0};
            }
        } else if (!strcmp(f[0], "need") && nf == 3) {
            struct need *need = &g_needs[g_nneeds];
            char *id_save = NULL;
            if (!ours)
                continue;
            if (!g_nalts || g_nneeds >= MAX_NEEDS || number(f[1], &need->count))
                return -1;
            need->first = g_npicks, need->n = 0;
            for (char *id = strtok_r(f[2], ",", &id_save); id; id = strtok_r(NULL, ",", &id_save)) {
                struct unit *u = unit_of(id);
                if (!u || g_npicks >= MAX_PICKS)
                    return -1;
                u->wanted = 1;
                g_picks[g_npicks++] = (int)(u - g_units);
                need->n++;
            }
            g_nneeds++;
            g_alts[g_nalts - 1].n++;
        } else if (!strcmp(f[0], "end") && nf == 1) {
            ended = 1;
        } else {
            return -1; /* a line this launcher does not know */
        }
    }
    return ended && found ? 0 : -1;
}

/* -- the mechanism: fit.fit and fit.environment ------------------------------------------- */

/* The first alternative whose every need finds enough free units; 0, or -1 when none. */
static int fit(void)
{
    for (int a = 0; a < g_nalts; a++) {
        int ok = 1;
        g_nchosen = 0;
        for (int k = 0; k < g_alts[a].n && ok; k++) {
            struct need *need = &g_needs[g_alts[a].first + k];
            int have = 0;
            for (int i = 0; i < need->n && have < need->count; i++) {
                int u = g_picks[need->first + i];
                if (g_units[u].fd >= 0 && !g_units[u].chosen) {
                    g_chosen[g_nchosen++] = u;
                    g_units[u].chosen = 1;
                    have++;
                }
            }
            ok = have >= need->count;
        }
        if (ok)
            return 0;
        for (int i = 0; i < g_nchosen; i++)
            g_units[g_chosen[i]].chosen = 0;
    }
    g_nchosen = 0;
    return -1;
}

struct var {
    char name[NAME_LEN + 16], value[4096];
    int rank, agreed;
};

static struct var *var_named(struct var *vars, int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(vars[i].name, name))
            return &vars[i];
    if (*n >= MAX_ENV)
        return NULL;
    memset(&vars[*n], 0, sizeof vars[*n]);
    snprintf(vars[*n].name, sizeof vars[*n].name, "%s", name);
    vars[*n].rank = -1;
    return &vars[(*n)++];
}

/* `template` with its INDEX replaced by i. */
static void numbered(char *out, size_t size, const char *template, int i)
{
    const char *mark = strstr(template, LHW_INDEX);
    if (mark)
        snprintf(out, size, "%.*s%d%s", (int)(mark - template), template, i, mark + 1);
    else
        snprintf(out, size, "%s", template);
}

/* Sets the chosen units' variables; -1 if any would not fit (then nothing was set). */
static int environment(void)
{
    static struct var exports[MAX_ENV], commons[MAX_ENV], counters[MAX_ENV];
    int nexports = 0, ncommons = 0, ncounters = 0;
    for (int c = 0; c < g_nchosen; c++) {
        struct unit *u = &g_units[g_chosen[c]];
        for (int e = 0; e < u->nexports; e++) {
            struct setting *s = &u->exports[e];
            struct var *counter = var_named(counters, &ncounters, s->var), *v;
            char name[NAME_LEN + 16], value[TEXT_LEN];
            size_t len;
            if (!counter)
                return -1;
            numbered(name, sizeof name, s->var, counter->rank + 1);
            if (!strcmp(s->value, LHW_INDEX))
                snprintf(value, sizeof value, "%d", counter->rank + 1);
            else
                snprintf(value, sizeof value, "%s", s->value);
            counter->rank++;
            v = var_named(exports, &nexports, name);
            if (!v)
                return -1;
            len = strlen(v->value);
            if (len + strlen(value) + 2 > sizeof v->value)
                return -1;
            snprintf(v->value + len, sizeof v->value - len, "%s%s", len ? "," : "", value);
        }
        for (int k = 0; k < u->ncommons; k++) {
            struct setting *s = &u->commons[k];
            struct var *v = var_named(commons, &ncommons, s->var);
            if (!v)
                return -1;
            if (v->rank < 0 || s->rank < v->rank) {
                v->rank = s->rank, v->agreed = 1;
                snprintf(v->value, sizeof v->value, "%s", s->value);
            } else if (s->rank == v->rank && strcmp(v->value, s->value)) {
                v->agreed = 0;
            }
        }
    }
    for (int i = 0; i < nexports; i++)
        setenv(exports[i].name, exports[i].value, 1);
    for (int i = 0; i < ncommons; i++)
        if (commons[i].agreed)
            setenv(commons[i].name, commons[i].value, 1);
    return 0;
}

/* -- the state directory ----------------------------------------------------------------- */

static void log_usage(const char *state, const struct buf *line)
{
    char path[PATH_MAX];
    int fd;
    if (line->full || pathf(path, sizeof path, "%s/%s", state, LHW_USAGE_LOG) < 0)
        return;
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return; /* as in Python the log only feeds `status`; the reservation stands */
    /* one write with O_APPEND: lines never interleave with other writers' */
    if (write(fd, line->d, line->n) != (ssize_t)line->n)
        fprintf(stderr, "lessor hw: cannot write %s: %s\n", path, strerror(errno));
    close(fd);
}

/* Whether any live process waits in the queue (then Python queues us behind it). */
static int queue_empty(const char *state)
{
    char path[PATH_MAX];
    DIR *d;
    struct dirent *e;
    int empty = 1;
    if (pathf(path, sizeof path, "%s/%s", state, LHW_QUEUE_DIR) < 0)
        return 0;
    d = opendir(path);
    if (!d)
        return 0;
    while (empty && (e = readdir(d)) != NULL) {
        const char *dash = strchr(e->d_name, '-');
        if (e->d_name[0] == '.')
            continue;
        empty = dash && !pid_alive(strtol(dash + 1, NULL, 10)); /* a dead waiter: skipped */
    }
    closedir(d);
    return empty;
}

static int protocol_ok(const char *state)
{
    char path[PATH_MAX], text[256];
    if (pathf(path, sizeof path, "%s/%s", state, LHW_PROTOCOL_FILE) < 0 ||
        read_file(path, text, sizeof text) < 0)
        return 0;
    return !strcmp(text, LHW_PROTOCOL_LINE "\n");
}

/* As state.state_dir. */
static const char *state_dir(char *buf, size_t size)
{
    const char *runtime = env("XDG_RUNTIME_DIR");
    if (env(LHW_STATE_ENV))
        return env(LHW_STATE_ENV);
    if (geteuid() == 0 || access(LHW_STATE_SHARED, W_OK) == 0)
        return LHW_STATE_SHARED;
    if (runtime ? pathf(buf, size, LHW_STATE_RUNTIME, runtime)
                : pathf(buf, size, LHW_STATE_TMP, (unsigned)getuid()))
        return NULL;
    return buf;
}

/* -- running the command --------------------------------------------------------------- */

static void forward(int sig)
{
    if (g_child > 0)
        kill(g_child, sig);
}

/* As execvp: along PATH; a missing file tries the next directory. */
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
            _exit(LHW_EXIT_CANNOT_RUN); /* we died before prctl took effect: run nothing */
        else
            err = exec_command(command);
        if (write(pipefd[1], &err, sizeof err) < 0)
            _exit(LHW_EXIT_CANNOT_RUN);
        _exit(LHW_EXIT_CANNOT_RUN);
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
        return LHW_EXIT_CANNOT_RUN;
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
    static const char *vars[] = {"LOGNAME", "USER", "LNAME", "USERNAME"}; /* run.user_name */
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

/*
 * The request's key as cache.request_key spells it, in hex: `--NAME VALUE` pairs of
 * LHW_FAST_OPTIONS, each at most once, plain values, sorted by name. -1 otherwise.
 */
static int request_key(char **options, int n, struct buf *key)
{
    static const char *names[] = LHW_FAST_OPTIONS; /* sorted */
    const char *values[sizeof names / sizeof names[0]] = {0};
    int any = 0;
    if (n % 2)
        return -1;
    for (int i = 0; i < n; i += 2) {
        const char *v = options[i + 1];
        size_t k;
        if (strncmp(options[i], "--", 2))
            return -1;
        for (k = 0; k < sizeof names / sizeof names[0]; k++)
            if (!strcmp(options[i] + 2, names[k]))
                break;
        if (k == sizeof names / sizeof names[0] || values[k] || !v[0] || v[0] == '-' ||
            strspn(v, LHW_VALUE_CHARS) != strlen(v))
            return -1;
        values[k] = v;
        any = 1;
    }
    for (size_t k = 0, first = 1; k < sizeof names / sizeof names[0]; k++)
        if (values[k]) {
            if (!first)
                put_hex(key, (const unsigned char *)" ", 1);
            put_hex(key, (const unsigned char *)names[k], strlen(names[k]));
            put_hex(key, (const unsigned char *)"=", 1);
            put_hex(key, (const unsigned char *)values[k], strlen(values[k]));
            first = 0;
        }
    return any && !key->full ? 0 : -1;
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

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    static struct buf key, record, line, cpu_list;
    static int sorted[MAX_UNITS * 4];
    const char *state, *user;
    char state_buf[PATH_MAX], user_buf[32], token[33];
    int cmd = -1, lock_fd, ncpus = 0, code;
    cpu_set_t cpus, available;
    g_argv = argv;

    /* lessor hw OPTIONS -- COMMAND... */
    if (argc < 2 || strcmp(argv[1], "hw"))
        python();
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--")) {
            cmd = i + 1;
            break;
        }
    if (cmd < 0 || cmd >= argc || request_key(argv + 2, cmd - 3, &key) < 0)
        python();
    key.d[key.n] = '\0';

    state = state_dir(state_buf, sizeof state_buf);
    if (!state || !protocol_ok(state) || load_plan(state, key.d) < 0)
        python(); /* no plan for this request yet, or a stale one: Python writes it */

    /* one decision at a time (state.decision); FIFO: with anyone queued, Python queues us */
    lock_fd = open_shared(state, LHW_DECISION_LOCK);
    if (lock_fd < 0)
        python();
    while (flock(lock_fd, LOCK_EX) < 0)
        if (errno != EINTR)
            python();
    if (!queue_empty(state))
        python();
    for (int i = 0; i < g_nunits; i++) { /* state.try_take: the plan's free locks */
        struct unit *u = &g_units[i];
        if (!u->wanted)
            continue;
        u->fd = open_shared(state, u->lock);
        if (u->fd < 0)
            python();
        if (flock(u->fd, LOCK_EX | LOCK_NB) < 0) {
            if (errno != EWOULDBLOCK)
                python();
            close(u->fd), u->fd = -1;
        }
    }
    if (fit() < 0)
        python(); /* busy: Python waits in the queue and says who has it */
    for (int i = 0; i < g_nunits; i++) /* Taken.keep: the rest are free again */
        if (g_units[i].fd >= 0 && !g_units[i].chosen)
            close(g_units[i].fd), g_units[i].fd = -1;
    close(lock_fd);

    /* the records (run.reservation_record, run.reserve_line) */
    CPU_ZERO(&cpus);
    for (int c = 0; c < g_nchosen; c++)
        for (int j = 0; j < g_units[g_chosen[c]].ncpus; j++)
            sorted[ncpus++] = g_units[g_chosen[c]].cpus[j];
    qsort(sorted, (size_t)ncpus, sizeof sorted[0], cmp_int);
    token_hex(token);
    user = user_name(user_buf, sizeof user_buf);
    put(&record, LHW_RESERVATION " token=%s pid=%ld since=%lld user=", token, (long)getpid(),
        now_ns());
    put_hex(&record, (const unsigned char *)user, strlen(user));
    put(&record, " profile=%s command=", g_profile_hex);
    {
        size_t room = LHW_COMMAND_BYTES;
        for (int i = cmd; i < argc && room; i++) {
            size_t len = strlen(argv[i]);
            if (i > cmd)
                put_hex(&record, (const unsigned char *)" ", 1), room--;
            len = len < room ? len : room;
            put_hex(&record, (const unsigned char *)argv[i], len);
            room -= len;
        }
    }
    put(&record, " units=");
    for (int c = 0; c < g_nchosen; c++)
        put(&record, "%s%s", c ? "," : "", g_units[g_chosen[c]].lock_hex);
    put(&record, " cpus=");
    for (int i = 0; i < ncpus; i++) {
        put(&record, "%s%d", i ? "," : "", sorted[i]);
        put(&cpu_list, "%s%d", i ? "," : "", sorted[i]);
        CPU_SET((size_t)sorted[i], &cpus);
    }
    put(&record, "\n");
    if (record.full || cpu_list.full || environment() < 0)
        python(); /* cannot happen within the limits above; if it did, Python does it */
    for (int c = 0; c < g_nchosen; c++) {
        int fd = g_units[g_chosen[c]].fd;
        if (ftruncate(fd, 0) < 0 || pwrite(fd, record.d, record.n, 0) != (ssize_t)record.n)
            fprintf(stderr, "lessor hw: cannot write the reservation record: %s\n",
                    strerror(errno));
    }
    put(&line, LHW_RESERVE " t=%lld token=%s pid=%ld user=", now_ns(), token, (long)getpid());
    put_hex(&line, (const unsigned char *)user, strlen(user));
    put(&line, " profile=%s units=", g_profile_hex);
    for (int c = 0; c < g_nchosen; c++)
        put(&line, "%s%s", c ? "," : "", g_units[g_chosen[c]].lock_hex);
    put(&line, "\n");
    log_usage(state, &line);

    /* the command's affinity (run.run_command) */
    cpu_list.d[cpu_list.n] = '\0';
    setenv(LHW_CPUS_ENV, cpu_list.d, 1);
    if (sched_getaffinity(0, sizeof available, &available) == 0)
        CPU_AND(&cpus, &cpus, &available);
    if (ncpus && CPU_COUNT(&cpus) == 0)
        fprintf(stderr,
                "lessor hw: CPUs %s are not on this machine (a fake sysfs?); affinity not set\n",
                cpu_list.d);
    code = run(argv + cmd, &cpus, CPU_COUNT(&cpus));
    if (code < 0) {
        fprintf(stderr, "lessor hw: cannot start the command: %s\n", strerror(errno));
        code = LHW_EXIT_OS_ERROR;
    }
    line.n = 0, line.full = 0;
    put(&line, LHW_RELEASE " t=%lld token=%s\n", now_ns(), token);
    log_usage(state, &line);
    for (int c = 0; c < g_nchosen; c++) { /* as Taken.release: empty, then close */
        int fd = g_units[g_chosen[c]].fd;
        if (ftruncate(fd, 0) < 0) {
            /* the release is the close; the emptied file only helps `status` */
        }
        close(fd);
    }
    return code;
}
