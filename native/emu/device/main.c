/*
 * xsb-emu-device --dir DIR [--profile FILE] [--idle-exit S] [--foreground]
 *
 * The emulated AMD GPU. Env XSB_EMU_READY_FD=n: once the socket listens and the sysfs tree
 * exists, the byte 'R' is written to fd n (the readiness handshake). XSB_EMU_LOG=1 logs to
 * DIR/device.log (errors are always logged there).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "xsb_emu_client.h"
#include "device.h"

struct device dev;

uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t dev_rand(void)
{
	/* xorshift64*: queue-id scrambling only */
	uint64_t x = dev.next_rand;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	dev.next_rand = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: xsb-emu-device --dir DIR [--profile FILE] [--idle-exit SECONDS] "
		   "[--foreground]\n"
		   "  env XSB_EMU_READY_FD=n  write 'R' to fd n when ready\n"
		   "  env XSB_EMU_LOG=1       verbose log in DIR/device.log\n"
		   "  env XSB_EMU_PROFILE     profile used when --profile is not given\n");
}

static void signal_ready(int fd)
{
	if (fd < 0)
		return;
	char r = 'R';
	ssize_t n;
	do
		n = write(fd, &r, 1);
	while (n < 0 && errno == EINTR);
	close(fd);
}

static int path_in_dir(char *out, size_t cap, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dev.dir, name);
	return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

static int open_listen(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (path_in_dir(sa.sun_path, sizeof(sa.sun_path), "device.sock")) {
		fprintf(stderr, "xsb-emu-device: %s/device.sock is longer than %zu bytes; use a "
			"shorter --dir\n", dev.dir, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	unlink(sa.sun_path); /* stale socket of a dead device (we hold the lock) */
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	mode_t old = umask(0177); /* the socket is created 0600 */
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(sa.sun_path, 0600) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static void cleanup_files(void)
{
	char p[4200];
	if (!path_in_dir(p, sizeof(p), "device.sock"))
		unlink(p);
	if (!path_in_dir(p, sizeof(p), "device.pid"))
		unlink(p);
	sysfs_remove_all_procs();
}

static int epoll_add(struct src *s, int fd, int type)
{
	s->type = type;
	s->fd = fd;
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = s };
	return epoll_ctl(dev.epfd, EPOLL_CTL_ADD, fd, &e);
}

static void drain(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
}

static bool any_live_proc(void)
{
	for (unsigned i = 0; i < XSB_EMU_MAX_PROCS; i++)
		if (dev.procs[i].used && !dev.procs[i].dead)
			return true;
	return false;
}

static int loop(void)
{
	struct epoll_event evs[64];
	while (!dev.quit) {
		int timeout = -1;
		if (dev.idle_exit_s && dev.n_conns == 0 && !any_live_proc()) {
			uint64_t now = wall_ns(), limit = (uint64_t)dev.idle_exit_s * 1000000000ull;
			uint64_t idle = now - dev.idle_since_wall;
			if (idle >= limit) {
				xsbe_log("no connection for %u s: exiting", dev.idle_exit_s);
				break;
			}
			timeout = (int)((limit - idle) / 1000000ull) + 1;
		}
		int n = epoll_wait(dev.epfd, evs, 64, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			xsbe_err("epoll_wait: %s", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct src *s = evs[i].data.ptr;
			switch (s->type) {
			case SRC_LISTEN:
				conn_accept();
				break;
			case SRC_CONN: {
				struct conn *c = (struct conn *)s;
				if (c->closing)
					break;
				if (evs[i].events & EPOLLIN)
					conn_readable(c);
				if (!c->closing && (evs[i].events & (EPOLLHUP | EPOLLERR)) &&
				    !(evs[i].events & EPOLLIN))
					conn_hangup(c);
				else if (!c->closing && (evs[i].events & (EPOLLHUP | EPOLLERR)) && c->blocked)
					conn_hangup(c);
				break;
			}
			case SRC_DOORBELL:
				drain(s->fd);
				break;
			case SRC_TIMER:
				drain(s->fd);
				dev.armed_ns = 0;
				break;
			case SRC_SIGNAL: {
				struct signalfd_siginfo si;
				while (read(s->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					dev.quit = true;
				break;
			}
			case SRC_PIDFD:
				proc_exited((struct proc *)s);
				break;
			}
		}
		model_run();
		conn_reap();
		procs_reap();
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *profile = NULL;
	bool foreground = false;
	long idle_exit = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
			dir = argv[++i];
		} else if (!strcmp(argv[i], "--profile") && i + 1 < argc) {
			profile = argv[++i];
		} else if (!strcmp(argv[i], "--idle-exit") && i + 1 < argc) {
			char *end;
			idle_exit = strtol(argv[++i], &end, 10);
			if (*end || idle_exit < 0 || idle_exit > 86400 * 365) {
				fprintf(stderr, "xsb-emu-device: --idle-exit wants seconds (0 = never), "
					"got '%s'\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--foreground")) {
			foreground = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "xsb-emu-device: unknown argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (!dir || !*dir) {
		fprintf(stderr, "xsb-emu-device: --dir DIR is required\n");
		usage(stderr);
		return 2;
	}
	int ready_fd = -1;
	const char *rf = getenv("XSB_EMU_READY_FD");
	if (rf && *rf) {
		char *end;
		long v = strtol(rf, &end, 10);
		if (!*end && v >= 0 && v < 65536 && fcntl((int)v, F_GETFD) >= 0)
			ready_fd = (int)v;
		else
			fprintf(stderr, "xsb-emu-device: XSB_EMU_READY_FD=%s is not an open fd; "
				"ignoring it\n", rf);
		unsetenv("XSB_EMU_READY_FD");
	}
	if (ready_fd >= 0)
		fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "xsb-emu-device: cannot create %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (!realpath(dir, dev.dir)) {
		fprintf(stderr, "xsb-emu-device: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	char p[4200];
	path_in_dir(p, sizeof(p), "device.log");
	const char *lg = getenv("XSB_EMU_LOG");
	xsbe_log_init(p, lg && !strcmp(lg, "1"));

	char err[512];
	int r = xsb_emu_profile_load(profile, &dev.prof, err, sizeof(err));
	if (r) {
		fprintf(stderr, "xsb-emu-device: %s\n", err[0] ? err : strerror(-r));
		xsbe_err("%s", err[0] ? err : strerror(-r));
		return 1;
	}

	if (!foreground) {
		pid_t child = fork();
		if (child < 0) {
			fprintf(stderr, "xsb-emu-device: fork: %s\n", strerror(errno));
			return 1;
		}
		if (child > 0)
			return 0; /* the readiness byte comes from the daemon */
		setsid();
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
			if (nul > 2)
				close(nul);
		}
	}

	/* Starters serialise on device.init.lock; the device holds device.lock for its whole
	 * life and releases init.lock only when ready. A loser therefore finds a ready device. */
	path_in_dir(p, sizeof(p), "device.init.lock");
	int init_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (init_fd < 0 || flock(init_fd, LOCK_EX) < 0) {
		xsbe_err("cannot lock %s: %s", p, strerror(errno));
		return 1;
	}
	path_in_dir(p, sizeof(p), "device.lock");
	int lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0) {
		xsbe_err("cannot open %s: %s", p, strerror(errno));
		return 1;
	}
	if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) { /* another device runs and is ready */
			signal_ready(ready_fd);
			return 0;
		}
		xsbe_err("cannot lock %s: %s", p, strerror(errno));
		return 1;
	}

	dev.start_wall = wall_ns();
	dev.idle_since_wall = dev.start_wall;
	dev.idle_exit_s = (unsigned)idle_exit;
	dev.next_rand = dev.start_wall ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	dev.model_now = dev.start_wall;
	for (unsigned s = 0; s < XSB_EMU_MAX_RINGS; s++)
		dev.drings[s].queue = NO_QUEUE;

	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((r = shm_create()) != 0) {
		xsbe_err("cannot create the device memory: %s", strerror(-r));
		return 1;
	}
	if (sysfs_create() != 0) {
		xsbe_err("cannot create the sysfs tree under %s/sysfs", dev.dir);
		return 1;
	}
	dev.epfd = epoll_create1(EPOLL_CLOEXEC);
	dev.doorbell_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	dev.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	dev.signal_fd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	dev.listen_fd = open_listen();
	if (dev.epfd < 0 || dev.doorbell_fd < 0 || dev.timer_fd < 0 || dev.signal_fd < 0 ||
	    dev.listen_fd < 0) {
		xsbe_err("device setup failed: %s", strerror(dev.listen_fd < 0 ? -dev.listen_fd : errno));
		cleanup_files();
		return 1;
	}
	if (epoll_add(&dev.listen_src, dev.listen_fd, SRC_LISTEN) ||
	    epoll_add(&dev.doorbell_src, dev.doorbell_fd, SRC_DOORBELL) ||
	    epoll_add(&dev.timer_src, dev.timer_fd, SRC_TIMER) ||
	    epoll_add(&dev.signal_src, dev.signal_fd, SRC_SIGNAL)) {
		xsbe_err("epoll_ctl: %s", strerror(errno));
		cleanup_files();
		return 1;
	}
	path_in_dir(p, sizeof(p), "device.pid");
	FILE *pf = fopen(p, "w");
	if (pf) {
		fprintf(pf, "%d\n", (int)getpid());
		fclose(pf);
	}
	xsbe_log("device ready: dir %s profile %s, %zu bytes of device memory", dev.dir,
		 dev.prof.name, dev.shm_size);
	signal_ready(ready_fd);
	flock(init_fd, LOCK_UN);
	close(init_fd);

	int rc = loop();
	cleanup_files();
	xsbe_log("device exits");
	return rc;
}
