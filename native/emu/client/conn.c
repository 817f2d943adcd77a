/*
 * Connections to the emulated device and the process-wide attachment (memfd mapping,
 * doorbell eventfd). One instance per process: the KFD interposer and the emulated HIP
 * runtime both link this shared library, so a ring address handed to CREATE_QUEUE by the
 * runtime is recognised by the interposer.
 */
#include "client_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	pid_t pid;               /* process that attached; differs after fork */
	struct xsb_emu_shm *shm; /* mapping of the device memfd */
	size_t size;
	int doorbell_fd;
} g_att = { 0, NULL, 0, -1 };

/* Per-thread RPC connection: a blocking ioctl (DESTROY of a suspended queue, runtime
 * enable under a debugger) blocks only the thread that issued it, as in the kernel. */
struct tconn {
	int fd;
	pid_t pid;
	uint8_t *buf; /* XSB_EMU_MAX_MSG bytes, reused for send and receive */
};
static pthread_key_t g_tkey;
static pthread_once_t g_tkey_once = PTHREAD_ONCE_INIT;

static void tconn_free(void *p)
{
	struct tconn *t = p;
	if (!t)
		return;
	if (t->fd >= 0 && t->pid == getpid())
		close(t->fd);
	free(t->buf);
	free(t);
}

static void after_fork_child(void)
{
	/* The parent's connections and ring/signal ownership stay the parent's. The old
	 * mapping is left in place (a copied runtime may still point into it) but the child
	 * attaches anew on first use, like a child that must reopen /dev/kfd. */
	g_att.pid = 0;
	g_att.shm = NULL;
	if (g_att.doorbell_fd >= 0)
		close(g_att.doorbell_fd);
	g_att.doorbell_fd = -1;
	pthread_mutex_init(&g_lock, NULL);
}

static void tkey_init(void)
{
	pthread_key_create(&g_tkey, tconn_free);
	pthread_atfork(NULL, NULL, after_fork_child);
}

const char *xsb_emu_dir(void)
{
	static __thread char buf[4096];
	const char *d = getenv("XSB_EMU_DIR");
	if (d && *d)
		return d;
	const char *x = getenv("XDG_RUNTIME_DIR");
	if (x && *x)
		snprintf(buf, sizeof buf, "%s/xsb-emu", x);
	else
		snprintf(buf, sizeof buf, "/tmp/xsb-emu-%u", (unsigned)getuid());
	return buf;
}

uint64_t xsb_emu_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int sock_connect(const char *dir)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if ((size_t)snprintf(sa.sun_path, sizeof sa.sun_path, "%s/device.sock", dir) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Connects to the device of xsb_emu_dir(), starting one when none listens. */
static int connect_or_start(void)
{
	const char *dir = xsb_emu_dir();
	int fd = sock_connect(dir);
	if (fd >= 0 || (fd != -ENOENT && fd != -ECONNREFUSED))
		return fd;
	const char *no = getenv("XSB_EMU_NO_AUTOSTART");
	if (no && strcmp(no, "1") == 0)
		return fd;
	int r = xsb_emu_start_device(dir, NULL, 60);
	if (r < 0)
		return r;
	return sock_connect(dir);
}

/* Sends HELLO of `kind`; the reply carries {memfd, doorbell eventfd}. */
static int hello(int fd, uint32_t kind, int fds_out[2], uint64_t *size_out)
{
	struct xsb_emu_msg m;
	memset(&m, 0, sizeof m);
	m.magic = XSB_EMU_MSG_MAGIC;
	m.version = XSB_EMU_PROTO_VERSION;
	m.op = XSB_EMU_OP_HELLO;
	m.tid = (uint32_t)syscall(SYS_gettid);
	m.u64[0] = kind;
	if (send(fd, &m, sizeof m, MSG_NOSIGNAL) != (ssize_t)sizeof m)
		return -errno ? -errno : -EIO;

	struct xsb_emu_msg rep;
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = { &rep, sizeof rep };
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof cm.buf;
	ssize_t n;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n < (ssize_t)sizeof rep || rep.magic != XSB_EMU_MSG_MAGIC)
		return -EPROTO;
	if (rep.version != XSB_EMU_PROTO_VERSION)
		return -EPROTONOSUPPORT;
	fds_out[0] = fds_out[1] = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int got[2] = { -1, -1 };
			memcpy(got, CMSG_DATA(c), (k > 2 ? 2 : k) * sizeof(int));
			fds_out[0] = got[0];
			fds_out[1] = got[1];
		}
	}
	if (rep.ret < 0) {
		for (int i = 0; i < 2; i++)
			if (fds_out[i] >= 0)
				close(fds_out[i]);
		return (int)rep.ret;
	}
	*size_out = rep.u64[0];
	return 0;
}

/* Opens a connection of `kind`; attaches the process on its first connection. */
int xsb_emu__conn_open(uint32_t kind)
{
	pthread_once(&g_tkey_once, tkey_init);
	int fd = connect_or_start();
	if (fd < 0)
		return fd;
	int fds[2];
	uint64_t size = 0;
	int r = hello(fd, kind, fds, &size);
	if (r < 0) {
		close(fd);
		return r;
	}
	pthread_mutex_lock(&g_lock);
	if (g_att.pid != getpid() && kind != XSB_EMU_CONN_ADMIN) {
		if (fds[0] < 0 || fds[1] < 0 || size < sizeof(struct xsb_emu_shm)) {
			r = -EPROTO;
		} else {
			void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
			if (p == MAP_FAILED) {
				r = -errno;
			} else if (((struct xsb_emu_shm *)p)->magic != XSB_EMU_SHM_MAGIC ||
			           ((struct xsb_emu_shm *)p)->version != XSB_EMU_PROTO_VERSION) {
				munmap(p, size);
				r = -EPROTONOSUPPORT;
			} else {
				g_att.shm = p;
				g_att.size = size;
				g_att.doorbell_fd = fds[1];
				fds[1] = -1;
				g_att.pid = getpid();
			}
		}
	}
	pthread_mutex_unlock(&g_lock);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int xsb_emu_attach(struct xsb_emu_shm **shm)
{
	pthread_once(&g_tkey_once, tkey_init);
	pthread_mutex_lock(&g_lock);
	int attached = g_att.pid == getpid();
	pthread_mutex_unlock(&g_lock);
	if (!attached) {
		/* The thread connection attaches the process as a side effect. */
		int r = xsb_emu__thread_fd();
		if (r < 0)
			return r;
	}
	if (shm)
		*shm = g_att.shm;
	return 0;
}

struct xsb_emu_shm *xsb_emu__shm(void)
{
	return g_att.pid == getpid() ? g_att.shm : NULL;
}

size_t xsb_emu__shm_size(void)
{
	return g_att.size;
}

int xsb_emu_open_file(void)
{
	return xsb_emu__conn_open(XSB_EMU_CONN_FILE);
}

static struct tconn *tconn_get(void)
{
	pthread_once(&g_tkey_once, tkey_init);
	struct tconn *t = pthread_getspecific(g_tkey);
	if (t && t->pid != getpid()) {
		/* inherited through fork: the socket belongs to the parent's session */
		if (t->fd >= 0)
			close(t->fd);
		t->fd = -1;
	}
	if (!t) {
		t = calloc(1, sizeof *t);
		if (!t)
			return NULL;
		t->fd = -1;
		t->buf = malloc(XSB_EMU_MAX_MSG);
		if (!t->buf) {
			free(t);
			return NULL;
		}
		pthread_setspecific(g_tkey, t);
	}
	return t;
}

int xsb_emu__thread_fd(void)
{
	struct tconn *t = tconn_get();
	if (!t)
		return -ENOMEM;
	if (t->fd < 0) {
		int fd = xsb_emu__conn_open(XSB_EMU_CONN_THREAD);
		if (fd < 0)
			return fd;
		t->fd = fd;
		t->pid = getpid();
	}
	return t->fd;
}

static void thread_conn_reset(void)
{
	struct tconn *t = pthread_getspecific(g_tkey);
	if (t && t->fd >= 0) {
		close(t->fd);
		t->fd = -1;
	}
}

int xsb_emu_rpc(struct xsb_emu_msg *req, const void *arg, const void *extra,
                struct xsb_emu_msg *rep, void *arg_out, size_t arg_cap,
                void *extra_out, size_t extra_cap)
{
	if (req->arg_size > XSB_EMU_MAX_ARG || req->extra_len > XSB_EMU_MAX_EXTRA)
		return -E2BIG;
	int fd = xsb_emu__thread_fd();
	if (fd < 0)
		return fd;
	struct tconn *t = pthread_getspecific(g_tkey);
	req->magic = XSB_EMU_MSG_MAGIC;
	req->version = XSB_EMU_PROTO_VERSION;
	req->tid = (uint32_t)syscall(SYS_gettid);
	size_t len = sizeof *req;
	memcpy(t->buf, req, sizeof *req);
	if (req->arg_size) {
		memcpy(t->buf + len, arg, req->arg_size);
		len += req->arg_size;
	}
	if (req->extra_len) {
		memcpy(t->buf + len, extra, req->extra_len);
		len += req->extra_len;
	}
	if (send(fd, t->buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
		int e = errno ? errno : EIO;
		thread_conn_reset();
		return -e;
	}
	ssize_t n;
	do /* a deferred reply (e.g. DESTROY of a suspended queue) keeps us here */
		n = recv(fd, t->buf, XSB_EMU_MAX_MSG, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		int e = n < 0 ? errno : EPIPE; /* the device went away */
		thread_conn_reset();
		return -e;
	}
	if ((size_t)n < sizeof *rep)
		goto bad;
	memcpy(rep, t->buf, sizeof *rep);
	if (rep->magic != XSB_EMU_MSG_MAGIC || rep->version != XSB_EMU_PROTO_VERSION ||
	    (size_t)n != sizeof *rep + rep->arg_size + rep->extra_len)
		goto bad;
	if (arg_out)
		memcpy(arg_out, t->buf + sizeof *rep, rep->arg_size < arg_cap ? rep->arg_size : arg_cap);
	if (extra_out)
		memcpy(extra_out, t->buf + sizeof *rep + rep->arg_size,
		       rep->extra_len < extra_cap ? rep->extra_len : extra_cap);
	return 0;
bad:
	thread_conn_reset();
	return -EPROTO;
}

void xsb_emu_doorbell(void)
{
	uint64_t one = 1;
	int fd = g_att.pid == getpid() ? g_att.doorbell_fd : -1;
	if (fd >= 0) {
		ssize_t n;
		do
			n = write(fd, &one, sizeof one);
		while (n < 0 && errno == EINTR);
	}
}
