/*
 * Starting the device process on demand. The device is double-forked so it is nobody's
 * child (no zombie, no SIGCHLD surprise in the application that happened to start it) and
 * readiness is a byte on a pipe, written once the socket listens — never a sleep.
 */
#include "client_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* build/lib/libxsb_emu_client.so -> build/bin/xsb-emu-device, unless XSB_EMU_DEVICE_BIN says. */
static int device_binary(char *out, size_t len)
{
	const char *env = getenv("XSB_EMU_DEVICE_BIN");
	if (env && *env) {
		snprintf(out, len, "%s", env);
		return 0;
	}
	Dl_info di;
	if (!dladdr((void *)device_binary, &di) || !di.dli_fname)
		return -ENOENT;
	char lib[PATH_MAX];
	if (!realpath(di.dli_fname, lib))
		return -errno;
	char *slash = strrchr(lib, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	if ((size_t)snprintf(out, len, "%s/../bin/xsb-emu-device", lib) >= len)
		return -ENAMETOOLONG;
	return access(out, X_OK) == 0 ? 0 : -errno;
}

static int mkdir_p(const char *dir)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s", dir) >= sizeof tmp)
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int xsb_emu_start_device(const char *dir, const char *profile, unsigned idle_exit_s)
{
	if (!dir)
		dir = xsb_emu_dir();
	int r = mkdir_p(dir);
	if (r < 0)
		return r;
	char bin[PATH_MAX];
	r = device_binary(bin, sizeof bin);
	if (r < 0) {
		fprintf(stderr, "xsb-emu: cannot find xsb-emu-device (%s); build the project (npm install) "
		        "or set XSB_EMU_DEVICE_BIN\n", strerror(-r));
		return r;
	}
	if (!profile) {
		const char *p = getenv("XSB_EMU_PROFILE");
		profile = p && *p ? p : NULL;
	}

	/* Everything the child needs is prepared here: after fork only async-signal-safe calls. */
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	char idle[32], readyenv[48];
	snprintf(idle, sizeof idle, "%u", idle_exit_s);
	const int ready_fd = 200; /* fixed number the grandchild dup2()s the pipe onto */
	snprintf(readyenv, sizeof readyenv, "XSB_EMU_READY_FD=%d", ready_fd);
	const char *argv[10];
	int a = 0;
	argv[a++] = bin;
	argv[a++] = "--dir";
	argv[a++] = dir;
	argv[a++] = "--idle-exit";
	argv[a++] = idle;
	if (profile) {
		argv[a++] = "--profile";
		argv[a++] = profile;
	}
	argv[a] = NULL;
	/* The device must not load the interposer or the shim that this process preloads. */
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = calloc(n + 2, sizeof *envp);
	if (!envp) {
		close(pfd[0]);
		close(pfd[1]);
		return -ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 && strncmp(environ[i], "XSB_EMU_READY_FD=", 17) != 0)
			envp[k++] = environ[i];
	envp[k++] = readyenv;
	envp[k] = NULL;
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

	pid_t child = fork();
	if (child < 0) {
		r = -errno;
		free(envp);
		close(pfd[0]);
		close(pfd[1]);
		if (devnull >= 0)
			close(devnull);
		return r;
	}
	if (child == 0) {
		setsid();
		pid_t g = fork();
		if (g != 0)
			_exit(g < 0 ? 1 : 0);
		if (dup2(pfd[1], ready_fd) < 0)
			_exit(127);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execve(bin, (char *const *)argv, envp);
		_exit(127);
	}
	free(envp);
	close(pfd[1]);
	if (devnull >= 0)
		close(devnull);
	int st;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;

	/* 'R' = listening (or another device already is). EOF without it = the device died. */
	struct pollfd p = { pfd[0], POLLIN, 0 };
	char c = 0;
	r = -ETIMEDOUT;
	for (;;) {
		int pr = poll(&p, 1, 10000);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			break;
		ssize_t got = read(pfd[0], &c, 1);
		if (got < 0 && errno == EINTR)
			continue;
		r = (got == 1 && c == 'R') ? 0 : -EIO;
		break;
	}
	close(pfd[0]);
	if (r < 0)
		fprintf(stderr, "xsb-emu: the emulated device did not start in %s (%s); see %s/device.log\n",
		        dir, strerror(-r), dir);
	return r;
}
