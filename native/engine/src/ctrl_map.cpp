#include "ctrl_map.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace xsbe {

static bool fail(std::string *why, const std::string &s)
{
	*why = s;
	return false;
}

xsb_ctrl *ctrl_map(const std::string &name, pid_t peer_pid, uid_t peer_uid, const MapOptions &o, std::string *why)
{
	/* a POSIX shm name: "/" then one path component (shm_open would otherwise refuse or, with
	 * "..", reach outside /dev/shm on some libcs) */
	if (name.size() < 2 || name.size() > 250 || name[0] != '/' || name.find('/', 1) != std::string::npos ||
	    name.find("..") != std::string::npos) {
		fail(why, "control block name \"" + name + "\" is not a shm name (\"/xsb-...\")");
		return nullptr;
	}
	int fd = shm_open(name.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0) {
		fail(why, "shm_open(" + name + "): " + strerror(errno));
		return nullptr;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		fail(why, std::string("fstat: ") + strerror(errno));
		close(fd);
		return nullptr;
	}
	if (st.st_uid != peer_uid) {
		fail(why, "control block " + name + " is owned by uid " + std::to_string(st.st_uid) + ", the peer is uid " +
		              std::to_string(peer_uid));
		close(fd);
		return nullptr;
	}
	mode_t bad = o.group_writable_ok ? S_IWOTH : (S_IWGRP | S_IWOTH);
	if (st.st_mode & bad) {
		char m[16];
		snprintf(m, sizeof m, "%04o", (unsigned)(st.st_mode & 07777));
		fail(why, "control block " + name + " has mode " + m + " (writable by others)");
		close(fd);
		return nullptr;
	}
	if (st.st_size < (off_t)XSB_CTRL_SIZE) {
		fail(why, "control block " + name + " is " + std::to_string((long long)st.st_size) + " bytes, expected " +
		              std::to_string(XSB_CTRL_SIZE));
		close(fd);
		return nullptr;
	}
	void *p = mmap(nullptr, XSB_CTRL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		fail(why, std::string("mmap: ") + strerror(errno));
		return nullptr;
	}
	auto *c = static_cast<xsb_ctrl *>(p);
	std::string bad_hdr;
	ctrl_header_ok(c, peer_pid, &bad_hdr);
	if (!bad_hdr.empty()) {
		munmap(p, XSB_CTRL_SIZE);
		fail(why, "control block " + name + " has a wrong " + bad_hdr);
		return nullptr;
	}
	return c;
}

bool ctrl_header_ok(const xsb_ctrl *c, pid_t peer_pid, std::string *bad)
{
	/* a copy of the header words, so the checksum judges exactly the values compared */
	uint32_t w[7];
	const uint32_t *src = &c->magic;
	for (unsigned i = 0; i < 7; i++) w[i] = __atomic_load_n(src + i, __ATOMIC_RELAXED);
	const uint32_t magic = w[0], version = w[1], size = w[2], pid = w[3], sum = w[6];
	bad->clear();
	if (magic != XSB_CTRL_MAGIC) {
		char m[16];
		snprintf(m, sizeof m, "0x%08x", magic);
		*bad = std::string("magic ") + m;
	} else if (version != XSB_CTRL_VERSION) {
		*bad = "version " + std::to_string(version);
	} else if (size != XSB_CTRL_SIZE) {
		*bad = "size " + std::to_string(size);
	} else if (sum != xsb_ctrl_header_sum(w)) {
		*bad = "header checksum";
	} else if ((pid_t)pid != peer_pid) {
		*bad = "pid " + std::to_string(pid) + " (the peer is pid " + std::to_string(peer_pid) + ")";
	}
	return bad->empty();
}

void ctrl_unmap(xsb_ctrl *c)
{
	if (c) munmap(static_cast<void *>(c), XSB_CTRL_SIZE);
}

} // namespace xsbe
