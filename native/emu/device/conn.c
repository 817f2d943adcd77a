/*
 * Connections and client processes.
 *
 * Every message is one SOCK_SEQPACKET packet: struct xsb_emu_msg, arg_size bytes, then
 * extra_len bytes. A malformed message gets -EPROTO (when a reply is possible) and the
 * connection is closed; nothing a client sends may crash the device.
 *
 * A "KFD process" exists per pid from its first FILE connection until the pid exits
 * (tracked with a pidfd): real KFD ties it to the mm, not to the fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "device.h"

#define MSG_HDR sizeof(struct xsb_emu_msg)

static uint8_t rxbuf[XSB_EMU_MAX_MSG + 64];

struct conn *conn_by_id(uint64_t id)
{
	unsigned idx = (unsigned)(id & 0xffffu);
	if (idx >= DEV_MAX_CONNS)
		return NULL;
	struct conn *c = dev.conns[idx];
	if (!c || c->id != id || c->closing)
		return NULL;
	return c;
}

static void conn_set_events(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = &c->src };
	epoll_ctl(dev.epfd, EPOLL_CTL_MOD, c->src.fd, &e);
}

int conn_accept(void)
{
	for (;;) {
		int fd = accept4(dev.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
			close(fd);
			continue;
		}
		unsigned idx = DEV_MAX_CONNS;
		for (unsigned i = 0; i < DEV_MAX_CONNS; i++)
			if (!dev.conns[i]) {
				idx = i;
				break;
			}
		struct conn *c = idx < DEV_MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			xsbe_err("refusing a connection from pid %d: %u connections open",
				 (int)cred.pid, dev.n_conns);
			close(fd);
			continue;
		}
		int sndbuf = (int)(2 * XSB_EMU_MAX_MSG);
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		c->src.type = SRC_CONN;
		c->src.fd = fd;
		c->pid = cred.pid;
		c->uid = cred.uid;
		dev.conn_gen[idx]++;
		c->id = ((uint64_t)dev.conn_gen[idx] << 16) | idx;
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = &c->src };
		if (epoll_ctl(dev.epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
			close(fd);
			free(c);
			continue;
		}
		dev.conns[idx] = c;
		dev.n_conns++;
		xsbe_log("connection %llx from pid %d", (unsigned long long)c->id, (int)c->pid);
	}
}

void conn_hangup(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	epoll_ctl(dev.epfd, EPOLL_CTL_DEL, c->src.fd, NULL);
	close(c->src.fd);
	c->src.fd = -1;
	/* A thread blocked in RUNTIME_ENABLE whose connection goes away was "interrupted":
	 * down_interruptible failed, so the next call retries (is_runtime_retry). */
	for (unsigned i = 0; i < XSB_EMU_MAX_PROCS; i++) {
		struct proc *p = &dev.procs[i];
		if (!p->used)
			continue;
		for (unsigned w = 0; w < p->n_runtime_waiters;) {
			if (p->runtime_waiters[w].conn_id == c->id) {
				reply_drop(&p->runtime_waiters[w]);
				memmove(&p->runtime_waiters[w], &p->runtime_waiters[w + 1],
					(p->n_runtime_waiters - w - 1) * sizeof(p->runtime_waiters[0]));
				p->n_runtime_waiters--;
				p->is_runtime_retry = true;
			} else {
				w++;
			}
		}
	}
	if (--dev.n_conns == 0)
		dev.idle_since_wall = wall_ns();
	xsbe_log("connection %llx (pid %d) closed", (unsigned long long)c->id, (int)c->pid);
}

void conn_reap(void)
{
	for (unsigned i = 0; i < DEV_MAX_CONNS; i++)
		if (dev.conns[i] && dev.conns[i]->closing) {
			free(dev.conns[i]);
			dev.conns[i] = NULL;
		}
}

/* ---- replies ---- */

int reply_build(struct pending_reply *r, const struct conn *c, const struct xsb_emu_msg *req,
		int64_t ret, const void *arg, uint32_t arg_len, const void *extra, uint32_t extra_len)
{
	if (arg_len > XSB_EMU_MAX_ARG)
		arg_len = XSB_EMU_MAX_ARG;
	if (extra_len > XSB_EMU_MAX_EXTRA)
		extra_len = XSB_EMU_MAX_EXTRA;
	size_t len = MSG_HDR + arg_len + extra_len;
	uint8_t *buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	struct xsb_emu_msg h;
	memset(&h, 0, sizeof(h));
	h.magic = XSB_EMU_MSG_MAGIC;
	h.version = XSB_EMU_PROTO_VERSION;
	h.op = req->op;
	h.tid = req->tid;
	h.ret = ret;
	h.nr = req->nr;
	h.ioc_dir = req->ioc_dir;
	h.arg_size = arg_len;
	h.extra_len = extra_len;
	memcpy(h.u64, req->u64, sizeof(h.u64));
	memcpy(buf, &h, MSG_HDR);
	if (arg_len)
		memcpy(buf + MSG_HDR, arg, arg_len);
	if (extra_len)
		memcpy(buf + MSG_HDR + arg_len, extra, extra_len);
	r->conn_id = c->id;
	r->len = len;
	r->buf = buf;
	return 0;
}

void reply_drop(struct pending_reply *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

static int send_packet(struct conn *c, const void *buf, size_t len, const int *fds, int nfds)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	union {
		char b[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
	}
	ssize_t n = sendmsg(c->src.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n != (ssize_t)len) {
		/* the client does not read its replies (or is gone): drop it */
		xsbe_err("reply to pid %d failed (%s); closing the connection", (int)c->pid,
			 n < 0 ? strerror(errno) : "short write");
		conn_hangup(c);
		return -EIO;
	}
	return 0;
}

void reply_send(struct pending_reply *r, int64_t ret_override, bool use_override)
{
	if (!r->buf)
		return;
	struct conn *c = conn_by_id(r->conn_id);
	if (c) {
		if (use_override)
			memcpy(r->buf + offsetof(struct xsb_emu_msg, ret), &ret_override, sizeof(int64_t));
		if (send_packet(c, r->buf, r->len, NULL, 0) == 0 && c->blocked) {
			c->blocked = false;
			conn_set_events(c, EPOLLIN);
		}
	}
	reply_drop(r);
}

static void reply_now(struct conn *c, const struct xsb_emu_msg *req, int64_t ret,
		      const uint64_t *u64, const void *extra, uint32_t extra_len)
{
	struct pending_reply r;
	if (reply_build(&r, c, req, ret, NULL, 0, extra, extra_len))
		return;
	if (u64)
		memcpy(r.buf + offsetof(struct xsb_emu_msg, u64), u64, 4 * sizeof(uint64_t));
	reply_send(&r, 0, false);
}

/* ---- processes ---- */

struct proc *proc_get(pid_t pid)
{
	struct proc *freep = NULL;
	for (unsigned i = 0; i < XSB_EMU_MAX_PROCS; i++) {
		struct proc *p = &dev.procs[i];
		if (p->used && !p->dead && p->pid == pid)
			return p;
		if (!p->used && !freep)
			freep = p;
	}
	if (!freep)
		return NULL;
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return NULL;
	fcntl(pfd, F_SETFD, FD_CLOEXEC);
	struct proc *p = freep;
	memset(p, 0, sizeof(*p));
	p->src.type = SRC_PIDFD;
	p->src.fd = pfd;
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = &p->src };
	if (epoll_ctl(dev.epfd, EPOLL_CTL_ADD, pfd, &e) < 0) {
		close(pfd);
		return NULL;
	}
	p->used = true;
	p->pid = pid;
	p->runtime_state = XSB_KFD_RUNTIME_STATE_DISABLED;
	p->qid_start = (uint32_t)(dev_rand() & (XSB_EMU_MAX_KFD_QUEUES - 1));
	p->qid_stride = (uint32_t)((dev_rand() % 509u) * 2u + 3u) & (XSB_EMU_MAX_KFD_QUEUES - 1);
	p->qid_stride |= 1u; /* odd: coprime with 1024, so every slot is reachable */
	for (unsigned i = 0; i < XSB_EMU_MAX_KFD_QUEUES; i++)
		p->qidx[i] = -1;
	return p;
}

static void free_rings_of(pid_t pid)
{
	for (unsigned s = 0; s < XSB_EMU_MAX_RINGS; s++) {
		struct xsb_emu_ring *r = &dev.rings[s];
		if (r->alloc_state == XSB_EMU_RING_FREE || r->owner_pid != (uint32_t)pid)
			continue;
		model_ring_unbind(s);
		r->alloc_state = XSB_EMU_RING_FREE;
		r->owner_pid = 0;
		r->queue_id = UINT32_MAX;
	}
}

static void free_signals_of(pid_t pid)
{
	for (unsigned i = 0; i < XSB_EMU_MAX_SIGNALS; i++)
		if (dev.sig_owner[i] == (uint32_t)pid) {
			dev.sig_owner[i] = 0;
			dev.signals[i].owner_pid = 0;
		}
}

void proc_exited(struct proc *p)
{
	if (p->dead)
		return;
	xsbe_log("pid %d exited: tearing down its KFD process", (int)p->pid);
	model_run(); /* bring the model to now before the teardown */
	kfd_process_teardown(p);
	free_rings_of(p->pid);
	free_signals_of(p->pid);
	if (p->has_kfd)
		sysfs_proc_remove(p->pid);
	/* deferred replies to its connections were dropped with its queues and waiters */
	p->dead = true;
	epoll_ctl(dev.epfd, EPOLL_CTL_DEL, p->src.fd, NULL);
	close(p->src.fd);
	p->src.fd = -1;
}

void procs_reap(void)
{
	for (unsigned i = 0; i < XSB_EMU_MAX_PROCS; i++)
		if (dev.procs[i].used && dev.procs[i].dead)
			memset(&dev.procs[i], 0, sizeof(dev.procs[i]));
}

/* ---- ops ---- */

static int64_t op_alloc_ring(struct conn *c, uint64_t *out)
{
	for (unsigned s = 0; s < XSB_EMU_MAX_RINGS; s++) {
		struct xsb_emu_ring *r = &dev.rings[s];
		if (r->alloc_state != XSB_EMU_RING_FREE)
			continue;
		atomic_store(&r->write_index, 0);
		atomic_store(&r->read_index, 0);
		atomic_store(&r->doorbell, 0);
		r->dispatched = 0;
		r->completed = 0;
		r->queue_id = UINT32_MAX;
		r->owner_pid = (uint32_t)c->pid;
		for (unsigned i = 0; i < XSB_EMU_RING_PACKETS; i++)
			atomic_store_explicit(&r->packets[i].header, (uint16_t)XSB_AQL_TYPE_INVALID,
					      memory_order_relaxed);
		memset(&dev.drings[s], 0, sizeof(dev.drings[s]));
		dev.drings[s].queue = NO_QUEUE;
		atomic_thread_fence(memory_order_release);
		r->alloc_state = XSB_EMU_RING_ALLOCATED;
		out[0] = s;
		return 0;
	}
	return -ENOSPC;
}

static int64_t op_free_ring(struct conn *c, uint64_t slot)
{
	if (slot >= XSB_EMU_MAX_RINGS || dev.rings[slot].alloc_state == XSB_EMU_RING_FREE)
		return -EINVAL;
	struct xsb_emu_ring *r = &dev.rings[slot];
	if (r->owner_pid != (uint32_t)c->pid)
		return -EPERM;
	if (r->alloc_state == XSB_EMU_RING_BOUND)
		return -EBUSY; /* destroy the KFD queue first */
	r->alloc_state = XSB_EMU_RING_FREE;
	r->owner_pid = 0;
	return 0;
}

static int64_t op_alloc_signals(struct conn *c, uint64_t count, uint64_t *out)
{
	if (count == 0 || count > 4096)
		return -EINVAL;
	uint32_t run = 0;
	for (uint32_t i = 0; i < XSB_EMU_MAX_SIGNALS; i++) {
		run = dev.sig_owner[i] ? 0 : run + 1;
		if (run == count) {
			uint32_t first = i + 1 - run;
			for (uint32_t k = first; k <= i; k++) {
				struct xsb_emu_signal *s = &dev.signals[k];
				dev.sig_owner[k] = (uint32_t)c->pid;
				atomic_store(&s->value, 0);
				s->owner_pid = (uint32_t)c->pid;
				s->start_ns = s->end_ns = 0;
			}
			out[0] = first;
			return 0;
		}
	}
	return -ENOSPC;
}

static int64_t op_free_signals(struct conn *c, uint64_t first, uint64_t count)
{
	if (first >= XSB_EMU_MAX_SIGNALS || count == 0 || count > XSB_EMU_MAX_SIGNALS - first)
		return -EINVAL;
	for (uint64_t k = first; k < first + count; k++)
		if (dev.sig_owner[k] != (uint32_t)c->pid)
			return dev.sig_owner[k] ? -EPERM : -EINVAL;
	for (uint64_t k = first; k < first + count; k++) {
		dev.sig_owner[k] = 0;
		dev.signals[k].owner_pid = 0;
	}
	return 0;
}

static void handle(struct conn *c, const struct xsb_emu_msg *m, const uint8_t *arg,
		   const uint8_t *extra)
{
	uint64_t out[4] = { 0 };
	int64_t ret;
	if (m->op == XSB_EMU_OP_HELLO) {
		uint64_t kind = m->u64[0];
		if (c->kind || kind < XSB_EMU_CONN_FILE || kind > XSB_EMU_CONN_ADMIN) {
			reply_now(c, m, -EPROTO, NULL, NULL, 0);
			conn_hangup(c);
			return;
		}
		if (kind != XSB_EMU_CONN_ADMIN) {
			struct proc *p = proc_get(c->pid);
			if (!p) {
				reply_now(c, m, -ENOSPC, NULL, NULL, 0);
				conn_hangup(c);
				return;
			}
			if (kind == XSB_EMU_CONN_FILE && !p->has_kfd) {
				p->has_kfd = true; /* kfd_create_process */
				sysfs_proc_add(p);
			}
		}
		c->kind = (uint32_t)kind;
		struct pending_reply r;
		if (reply_build(&r, c, m, 0, NULL, 0, NULL, 0))
			return;
		uint64_t size = dev.shm_size;
		memcpy(r.buf + offsetof(struct xsb_emu_msg, u64), &size, sizeof(size));
		int fds[2] = { dev.memfd, dev.doorbell_fd };
		send_packet(c, r.buf, r.len, fds, 2);
		reply_drop(&r);
		return;
	}
	if (!c->kind) { /* everything starts with HELLO */
		reply_now(c, m, -EPROTO, NULL, NULL, 0);
		conn_hangup(c);
		return;
	}
	bool client = c->kind != XSB_EMU_CONN_ADMIN;
	memcpy(out, m->u64, sizeof(out));
	switch (m->op) {
	case XSB_EMU_OP_IOCTL:
		kfd_ioctl(c, m, arg, extra);
		return;
	case XSB_EMU_OP_ALLOC_RING:
		ret = client ? op_alloc_ring(c, out) : -EPERM;
		break;
	case XSB_EMU_OP_FREE_RING:
		ret = client ? op_free_ring(c, m->u64[0]) : -EPERM;
		break;
	case XSB_EMU_OP_ALLOC_SIGNALS:
		ret = client ? op_alloc_signals(c, m->u64[0], out) : -EPERM;
		break;
	case XSB_EMU_OP_FREE_SIGNALS:
		ret = client ? op_free_signals(c, m->u64[0], m->u64[1]) : -EPERM;
		break;
	case XSB_EMU_OP_STATUS: {
		size_t len = 0;
		char *json = status_json(&len);
		if (!json) {
			ret = -ENOMEM;
			break;
		}
		if (len > XSB_EMU_MAX_EXTRA)
			len = XSB_EMU_MAX_EXTRA;
		reply_now(c, m, 0, out, json, (uint32_t)len);
		free(json);
		return;
	}
	case XSB_EMU_OP_SHUTDOWN:
		ret = c->kind == XSB_EMU_CONN_ADMIN ? 0 : -EPERM;
		if (!ret) {
			xsbe_log("shutdown requested by pid %d", (int)c->pid);
			dev.quit = true;
		}
		break;
	default:
		ret = -EINVAL;
		break;
	}
	reply_now(c, m, ret, out, NULL, 0);
}

void conn_readable(struct conn *c)
{
	while (!c->closing && !c->blocked) {
		struct iovec iov = { .iov_base = rxbuf, .iov_len = sizeof(rxbuf) };
		union {
			char b[CMSG_SPACE(16 * sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
				     .msg_controllen = sizeof(ctl.b) };
		ssize_t n = recvmsg(c->src.fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			conn_hangup(c);
			return;
		}
		if (n == 0) {
			conn_hangup(c);
			return;
		}
		/* no fds are expected from clients: close any that came along */
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				int nf = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
				for (int i = 0; i < nf; i++) {
					int fd;
					memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
					close(fd);
				}
			}
		struct xsb_emu_msg m;
		bool ok = (size_t)n >= MSG_HDR && !(mh.msg_flags & MSG_TRUNC);
		if (ok) {
			memcpy(&m, rxbuf, MSG_HDR);
			ok = m.magic == XSB_EMU_MSG_MAGIC && m.version == XSB_EMU_PROTO_VERSION &&
			     m.arg_size <= XSB_EMU_MAX_ARG && m.extra_len <= XSB_EMU_MAX_EXTRA &&
			     (size_t)n == MSG_HDR + (size_t)m.arg_size + (size_t)m.extra_len;
		}
		if (!ok) {
			xsbe_err("malformed message (%zd bytes) from pid %d; closing the connection",
				 n, (int)c->pid);
			if ((size_t)n >= MSG_HDR) {
				memcpy(&m, rxbuf, MSG_HDR);
				m.arg_size = m.extra_len = 0;
				reply_now(c, &m, -EPROTO, NULL, NULL, 0);
			}
			conn_hangup(c);
			return;
		}
		model_run(); /* the model is current when the request is handled */
		handle(c, &m, rxbuf + MSG_HDR, rxbuf + MSG_HDR + m.arg_size);
		if (c->blocked && !c->closing)
			conn_set_events(c, 0); /* HUP is still reported */
	}
}
