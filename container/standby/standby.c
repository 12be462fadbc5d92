// Runs before the Go runtime of every lxctl process (a constructor, like
// libcontainer's nsexec). For `lxctl start` and `lxctl create` it forks and
// execs the controller right away, so that the controller's Go runtime boots
// while the CLI's does: on this kind of machine each boot of the 8 MB static
// binary costs 10-15 ms, and the two used to run one after the other. The
// controller made here waits ("standby") until the CLI sends it the command
// line it would have been exec'd with; if the CLI never does (the domain is
// already running, a bad flag...), the CLI kills it, or it sees EOF and exits.
//
// Everything the controller gets from lxctl start's own re-exec it gets here
// too: a new session, a mount namespace of its own, stdin, stdout and stderr
// on /dev/null until it opens the domain log, the channel to the CLI as fd 3
// (LXCTL_SYNC_FD=3), and the real path of the binary (so ps shows lxctl).
// The original arguments follow on its command line for ps, nothing else.
//
// For a plain `lxctl start` (no console to attach, nothing remote) the CLI
// goes further: it never boots a Go runtime of its own. The standby runs the
// start command itself ("delegate") on the CLI's stdin, stdout and stderr,
// passed as fds 4-6, and becomes the domain's controller in the same
// process; the CLI only waits here for the exit status and exits with it.
// A start cost three Go runtimes (CLI, controller, libcontainer's init) and
// work done twice by CLI and controller; a delegated one two.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int lxctl_standby_fd = -1;  // the CLI's end of the channel
int lxctl_standby_pid = -1; // the waiting controller

// subcommand returns the first argument that is neither a flag nor the value
// of a global flag that takes one. Misreading it only costs a standby that
// is never used, or a start without one.
static const char *subcommand(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			return i + 1 < argc ? argv[i + 1] : NULL;
		if (a[0] != '-')
			return a;
		if (strcmp(a, "--root") == 0 || strcmp(a, "-c") == 0 || strcmp(a, "--connect") == 0)
			i++;
	}
	return NULL;
}

// delegable says whether the start can run in the standby: not when the
// command attaches a console (the terminal is the CLI's), may run on a
// remote host (ssh), or only asks for help. Misjudging costs nothing but
// the time a delegate saves: the Go CLI handles anything.
static int delegable(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			break;
		if (strncmp(a, "--console", 9) == 0 || strncmp(a, "--escape", 8) == 0 ||
		    strncmp(a, "--connect", 9) == 0 || strncmp(a, "-c", 2) == 0 ||
		    strcmp(a, "-h") == 0 || strncmp(a, "--help", 6) == 0)
			return 0;
	}
	// The streams handed to the standby must be the caller's own: with one
	// of them closed, the channel itself could take its number.
	for (int i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0)
			return 0;
	const char *uris[] = {"LXCTL_DEFAULT_URI", "LIBVIRT_DEFAULT_URI", "LXCTL_NO_DELEGATE"};
	for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
		const char *v = getenv(uris[i]);
		if (v != NULL && v[0] != '\0')
			return 0;
	}
	return 1;
}

static void run_controller(int fd, int argc, char **argv, int delegate)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		_exit(127);
	exe[n] = '\0';
	if (setsid() < 0 || unshare(CLONE_NEWNS) < 0)
		_exit(127);
	// Out of the way of 0-3 first: with a closed stdin the channel itself
	// may be fd 0. dup2 onto a different fd also clears close-on-exec.
	int chan = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	int null0 = open("/dev/null", O_RDWR | O_CLOEXEC);
	int null = null0 < 0 ? -1 : fcntl(null0, F_DUPFD_CLOEXEC, 10); // not on 4-6
	if (chan < 0 || null < 0)
		_exit(127);
	close(null0);
	// A delegate writes the start's output to the CLI's own streams, as
	// fds 4-6 (close-on-exec again as soon as Go runs: see cmd).
	int keep = 4;
	if (delegate) {
		int io[3];
		for (int i = 0; i < 3; i++) {
			io[i] = fcntl(i, F_DUPFD_CLOEXEC, 10);
			if (io[i] < 0)
				io[i] = fcntl(null, F_DUPFD_CLOEXEC, 10); // a closed stream
			if (io[i] < 0)
				_exit(127);
		}
		for (int i = 0; i < 3; i++)
			if (dup2(io[i], 4 + i) < 0)
				_exit(127);
		keep = 7;
	}
	if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 || dup2(chan, 3) < 0)
		_exit(127);
	// Nothing else this process inherited may reach the container.
	syscall(SYS_close_range, keep, ~0U, 0);

	char **args = calloc(argc + 5, sizeof(char *));
	size_t nenv = 0;
	while (environ[nenv])
		nenv++;
	char **env = calloc(nenv + 2, sizeof(char *));
	if (!args || !env)
		_exit(127);
	int n0 = 0;
	args[n0++] = "lxctl";
	args[n0++] = "__controller";
	args[n0++] = "--standby";
	if (delegate)
		args[n0++] = "--delegate";
	args[n0++] = "--";
	for (int i = 1; i < argc; i++)
		args[n0++] = argv[i];
	for (size_t i = 0; i < nenv; i++)
		env[i] = environ[i];
	env[nenv] = "LXCTL_SYNC_FD=3";
	execve(exe, args, env);
	_exit(127);
}

// warm_moves begins, from the CLI that has nothing else to do while the
// standby boots, the wait the first move of a process between cgroups pays
// after a quiet moment (see cgroup.WarmMoves, which the standby also calls
// once its Go runtime runs, 1-2 ms later): the kernel takes
// cgroup_threadgroup_rwsem for writing, which waits for an RCU grace
// period (7-11 ms on a 2-CPU VM) with cgroup_mutex held, so every cgroup
// mkdir of the start waits behind it; moves made soon after skip it. It
// writes the CLI's own pid into the cgroup.procs of the cgroup the CLI is
// already in (the first hierarchy found at its usual mount point), which
// moves nothing. Errors are of no consequence and ignored.
static void warm_moves(void)
{
	char line[4096], path[PATH_MAX], pid[32];
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (f == NULL)
		return;
	int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		char *ctl = strchr(line, ':');
		char *rel = ctl ? strchr(ctl + 1, ':') : NULL;
		if (rel == NULL || strstr(rel, "..") != NULL)
			continue;
		*rel++ = '\0';
		ctl++;
		const char *fmts[2] = {"/sys/fs/cgroup/%s%s/cgroup.procs", NULL};
		if (*ctl == '\0') { // cgroup2: alone or beside v1 (hybrid)
			fmts[0] = "/sys/fs/cgroup/unified%.0s%s/cgroup.procs";
			fmts[1] = "/sys/fs/cgroup%.0s%s/cgroup.procs";
		} else if (strncmp(ctl, "name=", 5) == 0) {
			ctl += 5;
		}
		for (int i = 0; i < 2 && fmts[i] != NULL; i++) {
			if (snprintf(path, sizeof(path), fmts[i], ctl, rel) >= (int)sizeof(path))
				continue;
			int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
			if (fd < 0)
				continue;
			ssize_t w = write(fd, pid, (size_t)len);
			close(fd);
			if (w == len) {
				fclose(f);
				return;
			}
		}
	}
	fclose(f);
}

// wait_delegate is the CLI's whole life when the standby runs the start: it
// waits for the exit status ("<code> c" when the standby goes on as the
// domain's controller, "<code> x" when it exits and is to be reaped) and
// exits with it. When the standby dies without one (killed), the CLI boots
// its Go runtime and starts the domain the usual way, without a standby: it
// finds what the dead one left, sweeps it and starts afresh, or reports why
// not.
static void wait_delegate(int fd, pid_t pid)
{
	char buf[64];
	size_t n = 0;
	while (n < sizeof(buf) - 1) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(buf, '\n', n) != NULL)
			break;
	}
	buf[n] = '\0';
	int code;
	char how;
	if (sscanf(buf, "%d %c", &code, &how) == 2 && code >= 0 && code < 256) {
		if (how == 'x')
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
		_exit(code);
	}
	close(fd);
	kill(pid, SIGKILL); // it only closes the channel without a word by dying
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

__attribute__((constructor)) static void lxctl_standby(int argc, char **argv)
{
	if (argc < 2 || argv == NULL || geteuid() != 0)
		return;
	const char *sub = subcommand(argc, argv);
	if (sub == NULL || (strcmp(sub, "start") != 0 && strcmp(sub, "create") != 0))
		return;
	const char *off = getenv("LXCTL_NO_STANDBY");
	if (off != NULL && off[0] != '\0')
		return;
	// Decided before the channel exists (delegable looks at fds 0-2).
	int delegate = strcmp(sub, "start") == 0 && delegable(argc, argv);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0) {
		close(sv[0]);
		run_controller(sv[1], argc, argv, delegate);
	}
	close(sv[1]);
	if (delegate) {
		warm_moves();
		wait_delegate(sv[0], pid);
		return; // the standby died: a start without one
	}
	// With stdio closed by the caller the CLI's end could sit on 0-2,
	// where the CLI's output would go into it.
	int fd = sv[0];
	if (fd <= 2) {
		fd = fcntl(sv[0], F_DUPFD_CLOEXEC, 3);
		close(sv[0]);
	}
	lxctl_standby_fd = fd;
	lxctl_standby_pid = pid;
}
