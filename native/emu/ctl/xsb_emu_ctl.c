/*
 * xsb-emu-ctl - admin client of the emulated GPU device, for the TypeScript CLI (Node has no
 * SOCK_SEQPACKET sockets). Speaks the RPC of xsb_emu_proto.h on an XSB_EMU_CONN_ADMIN
 * connection and does not link the client library, so it never maps the device or starts one.
 *
 *   xsb-emu-ctl [--dir DIR] [--timeout-ms N] status     prints the device's STATUS JSON
 *   xsb-emu-ctl [--dir DIR] [--timeout-ms N] shutdown   asks the device to exit, waits until it
 *                                                       has closed the connection
 * Exit status: 0 done, 3 no device listens in DIR, 1 any other failure (message on stderr).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "xsb_emu_proto.h"

#define EXIT_NO_DEVICE 3

static const char *default_dir(char *buf, size_t len)
{
	/* Same rule as xsb_emu_dir() in xsb_emu_client.h. */
	const char *d = getenv("XSB_EMU_DIR");
	if (d && *d)
		return d;
	d = getenv("XDG_RUNTIME_DIR");
	if (d && *d) {
		snprintf(buf, len, "%s/xsb-emu", d);
		return buf;
	}
	snprintf(buf, len, "/tmp/xsb-emu-%u", (unsigned)getuid());
	return buf;
}

static int connect_device(const char *dir, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/device.sock", dir);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		fprintf(stderr, "xsb-emu-ctl: socket path %s/device.sock is longer than %zu bytes; use a shorter --dir\n",
		        dir, sizeof(sa.sun_path) - 1);
		return -EINVAL;
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* One request, one reply. Descriptors passed with the reply (HELLO carries the device memfd
 * and doorbell) are closed at once: an admin tool uses neither. */
static int rpc(int fd, uint16_t op, uint64_t u0, struct xsb_emu_msg *rep, char *extra, size_t extra_cap,
               size_t *extra_len)
{
	struct xsb_emu_msg req;
	memset(&req, 0, sizeof(req));
	req.magic = XSB_EMU_MSG_MAGIC;
	req.version = XSB_EMU_PROTO_VERSION;
	req.op = op;
	req.tid = (uint32_t)gettid();
	req.u64[0] = u0;
	if (send(fd, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		return errno ? -errno : -EIO;

	size_t cap = XSB_EMU_MAX_MSG;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
	ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	int err = n < 0 ? -errno : 0;
	if (n >= 0) {
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < nfd; i++) {
				int passed;
				memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(passed);
			}
		}
	}
	if (n == 0)
		err = -ECONNRESET;
	else if (n > 0 && ((mh.msg_flags & MSG_TRUNC) || (size_t)n < sizeof(*rep)))
		err = -EPROTO;
	if (!err) {
		memcpy(rep, buf, sizeof(*rep));
		size_t have = (size_t)n - sizeof(*rep);
		if (rep->magic != XSB_EMU_MSG_MAGIC || rep->version != XSB_EMU_PROTO_VERSION ||
		    (size_t)rep->arg_size + rep->extra_len > have)
			err = -EPROTO;
		else if (extra) {
			size_t len = rep->extra_len < extra_cap ? rep->extra_len : extra_cap;
			memcpy(extra, buf + sizeof(*rep) + rep->arg_size, len);
			*extra_len = len;
		}
	}
	free(buf);
	return err;
}

static int usage(void)
{
	fprintf(stderr, "usage: xsb-emu-ctl [--dir DIR] [--timeout-ms N] status|shutdown\n");
	return 1;
}

int main(int argc, char **argv)
{
	char dbuf[4096];
	const char *dir = NULL, *cmd = NULL;
	int timeout_ms = 5000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
			timeout_ms = atoi(argv[++i]);
		else if (!cmd && (!strcmp(argv[i], "status") || !strcmp(argv[i], "shutdown")))
			cmd = argv[i];
		else
			return usage();
	}
	if (!cmd || timeout_ms <= 0)
		return usage();
	if (!dir)
		dir = default_dir(dbuf, sizeof(dbuf));

	int fd = connect_device(dir, timeout_ms);
	if (fd == -ENOENT || fd == -ECONNREFUSED) {
		fprintf(stderr, "xsb-emu-ctl: no device listens on %s/device.sock (%s)\n", dir, strerror(-fd));
		return EXIT_NO_DEVICE;
	}
	if (fd < 0) {
		if (fd != -EINVAL)
			fprintf(stderr, "xsb-emu-ctl: connect %s/device.sock: %s\n", dir, strerror(-fd));
		return 1;
	}

	struct xsb_emu_msg rep;
	int rc = rpc(fd, XSB_EMU_OP_HELLO, XSB_EMU_CONN_ADMIN, &rep, NULL, 0, NULL);
	if (!rc && rep.ret < 0)
		rc = (int)rep.ret;
	if (rc) {
		fprintf(stderr, "xsb-emu-ctl: HELLO to the device in %s failed: %s\n", dir, strerror(-rc));
		close(fd);
		return 1;
	}

	int status = 0;
	if (!strcmp(cmd, "status")) {
		char *json = malloc(XSB_EMU_MAX_EXTRA);
		size_t len = 0;
		rc = json ? rpc(fd, XSB_EMU_OP_STATUS, 0, &rep, json, XSB_EMU_MAX_EXTRA, &len) : -ENOMEM;
		if (!rc && rep.ret < 0)
			rc = (int)rep.ret;
		if (rc) {
			fprintf(stderr, "xsb-emu-ctl: STATUS from the device in %s failed: %s\n", dir, strerror(-rc));
			status = 1;
		} else {
			fwrite(json, 1, len, stdout);
			fputc('\n', stdout);
		}
		free(json);
	} else {
		rc = rpc(fd, XSB_EMU_OP_SHUTDOWN, 0, &rep, NULL, 0, NULL);
		if (!rc && rep.ret < 0)
			rc = (int)rep.ret;
		if (rc) {
			fprintf(stderr, "xsb-emu-ctl: SHUTDOWN of the device in %s failed: %s\n", dir, strerror(-rc));
			status = 1;
		} else {
			/* The device exits after replying: its end of the connection closes then. */
			struct pollfd p = { .fd = fd, .events = POLLIN };
			char b;
			int pr = poll(&p, 1, timeout_ms);
			if (pr <= 0 || recv(fd, &b, 1, MSG_DONTWAIT) != 0) {
				fprintf(stderr, "xsb-emu-ctl: the device in %s acknowledged SHUTDOWN but did not close within %d ms\n",
				        dir, timeout_ms);
				status = 1;
			}
		}
	}
	close(fd);
	return status;
}
