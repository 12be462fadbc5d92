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

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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

static void run_controller(int fd, int argc, char **argv)
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
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (chan < 0 || null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 || dup2(chan, 3) < 0)
		_exit(127);
	// Nothing else this process inherited may reach the container.
	syscall(SYS_close_range, 4, ~0U, 0);

	char **args = calloc(argc + 4, sizeof(char *));
	size_t nenv = 0;
	while (environ[nenv])
		nenv++;
	char **env = calloc(nenv + 2, sizeof(char *));
	if (!args || !env)
		_exit(127);
	args[0] = "lxctl";
	args[1] = "__controller";
	args[2] = "--standby";
	args[3] = "--";
	for (int i = 1; i < argc; i++)
		args[i + 3] = argv[i];
	for (size_t i = 0; i < nenv; i++)
		env[i] = environ[i];
	env[nenv] = "LXCTL_SYNC_FD=3";
	execve(exe, args, env);
	_exit(127);
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
		run_controller(sv[1], argc, argv);
	}
	close(sv[1]);
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
