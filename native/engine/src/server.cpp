#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>

#include "xsb_wire.h"

namespace xsbe {

static std::string errstr(int e) { return strerror(e); }

/* A socket file left by a coordinator that died is removed; one that still answers belongs to a
 * running coordinator and is an error. */
static bool prepare_path(const std::string &path, std::string *err)
{
	struct stat st;
	if (lstat(path.c_str(), &st) != 0) return true;
	if (!S_ISSOCK(st.st_mode)) {
		*err = path + " exists and is not a socket; remove it or choose another --socket";
		return false;
	}
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s >= 0) {
		struct sockaddr_un a;
		memset(&a, 0, sizeof a);
		a.sun_family = AF_UNIX;
		memcpy(a.sun_path, path.c_str(), path.size());
		int r = connect(s, reinterpret_cast<sockaddr *>(&a), sizeof a);
		close(s);
		if (r == 0) {
			*err = "a coordinator already listens at " + path + "; stop it or choose another --socket";
			return false;
		}
	}
	if (unlink(path.c_str()) != 0 && errno != ENOENT) {
		*err = "cannot remove the stale socket " + path + ": " + errstr(errno);
		return false;
	}
	return true;
}

bool Server::start(const ServerOptions &o, std::string *err)
{
	opt_ = o;
	struct sockaddr_un a;
	if (o.path.empty() || o.path.size() >= sizeof a.sun_path) {
		*err = "socket path \"" + o.path + "\" is empty or longer than " + std::to_string(sizeof a.sun_path - 1) +
		       " bytes; choose a shorter --socket";
		return false;
	}
	if (!prepare_path(o.path, err)) return false;
	lfd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd_ < 0) {
		*err = "socket: " + errstr(errno);
		return false;
	}
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, o.path.c_str(), o.path.size());
	if (bind(lfd_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
		*err = "cannot bind " + o.path + ": " + errstr(errno) + "; check that its directory exists and is writable";
		close(lfd_);
		lfd_ = -1;
		return false;
	}
	/* the directory is private (made by the caller); the mode is set before anyone is accepted */
	if ((o.gid >= 0 && chown(o.path.c_str(), (uid_t)-1, (gid_t)o.gid) != 0) || chmod(o.path.c_str(), o.mode) != 0) {
		*err = "cannot set the owner group/mode of " + o.path + ": " + errstr(errno);
		close(lfd_);
		unlink(o.path.c_str());
		lfd_ = -1;
		return false;
	}
	if (listen(lfd_, 128) != 0) {
		*err = "listen: " + errstr(errno);
		close(lfd_);
		unlink(o.path.c_str());
		lfd_ = -1;
		return false;
	}
	efd_ = epoll_create1(EPOLL_CLOEXEC);
	wfd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event e;
	memset(&e, 0, sizeof e);
	e.events = EPOLLIN;
	e.data.u64 = 0; /* listener */
	epoll_ctl(efd_, EPOLL_CTL_ADD, lfd_, &e);
	e.data.u64 = UINT64_MAX; /* wake */
	epoll_ctl(efd_, EPOLL_CTL_ADD, wfd_, &e);
	stop_ = false;
	running_ = true;
	th_ = std::thread([this] { run(); });
	return true;
}

void Server::wake()
{
	uint64_t one = 1;
	ssize_t r = write(wfd_, &one, sizeof one);
	(void)r;
}

void Server::stop()
{
	if (!running_) return;
	{
		std::lock_guard<std::mutex> g(mu_);
		stop_ = true;
	}
	wake();
	th_.join();
	running_ = false;
	std::lock_guard<std::mutex> g(mu_);
	for (auto &kv : conns_) close(kv.second.fd);
	conns_.clear();
	close(lfd_);
	unlink(opt_.path.c_str());
	close(efd_);
	close(wfd_);
	lfd_ = efd_ = wfd_ = -1;
}

bool Server::send(uint64_t conn, const std::string &line)
{
	std::lock_guard<std::mutex> g(mu_);
	if (!conns_.count(conn)) return false;
	cmds_.push_back(Cmd{conn, false, line + "\n"});
	wake();
	return true;
}

bool Server::close_conn(uint64_t conn, const std::string &reason)
{
	std::lock_guard<std::mutex> g(mu_);
	if (!conns_.count(conn)) return false;
	cmds_.push_back(Cmd{conn, true, reason});
	wake();
	return true;
}

bool Server::peer(uint64_t conn, Peer *out)
{
	std::lock_guard<std::mutex> g(mu_);
	auto it = conns_.find(conn);
	if (it == conns_.end()) return false;
	*out = it->second.peer;
	return true;
}

/* mu_ held */
void Server::drop(uint64_t id, const std::string &reason)
{
	auto it = conns_.find(id);
	if (it == conns_.end()) return;
	epoll_ctl(efd_, EPOLL_CTL_DEL, it->second.fd, nullptr);
	close(it->second.fd);
	Event e;
	e.kind = "close";
	e.conn = id;
	e.text = reason;
	e.num("pid", it->second.peer.pid);
	conns_.erase(it);
	ev_->push(std::move(e));
}

/* mu_ held */
void Server::flush(uint64_t id, Conn &c)
{
	while (!c.out.empty()) {
		ssize_t w = ::send(c.fd, c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
		if (w <= 0) {
			drop(id, "write failed: " + errstr(errno));
			return;
		}
		c.out.erase(0, (size_t)w);
	}
	if (c.out.size() > (8u << 20)) {
		drop(id, "peer does not read (8 MiB pending)");
		return;
	}
	if (c.out.empty() && c.closing) {
		drop(id, c.close_reason);
		return;
	}
	struct epoll_event e;
	memset(&e, 0, sizeof e);
	e.events = EPOLLIN | EPOLLRDHUP | (c.out.empty() ? 0u : (uint32_t)EPOLLOUT);
	e.data.u64 = id;
	epoll_ctl(efd_, EPOLL_CTL_MOD, c.fd, &e);
}

void Server::process_commands()
{
	std::lock_guard<std::mutex> g(mu_);
	std::vector<Cmd> cmds;
	cmds.swap(cmds_);
	for (Cmd &c : cmds) {
		auto it = conns_.find(c.conn);
		if (it == conns_.end()) continue;
		if (c.close) {
			it->second.closing = true;
			it->second.close_reason = c.data;
		} else {
			it->second.out += c.data;
		}
		flush(c.conn, it->second);
	}
}

void Server::accept_all()
{
	for (;;) {
		int fd = accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) ev_->log("warn", "accept: " + errstr(errno));
			return;
		}
		struct ucred cr;
		socklen_t cl = sizeof cr;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0) {
			ev_->log("warn", "SO_PEERCRED: " + errstr(errno) + "; connection refused");
			close(fd);
			continue;
		}
		bool allowed = cr.uid == geteuid() ||
		               std::find(opt_.allow_uids.begin(), opt_.allow_uids.end(), (uint32_t)cr.uid) !=
		                       opt_.allow_uids.end() ||
		               (opt_.allow_gid >= 0 && (long)cr.gid == opt_.allow_gid);
		std::lock_guard<std::mutex> g(mu_);
		if (!allowed || conns_.size() >= opt_.max_conns) {
			Event e;
			e.kind = "refused";
			e.text = !allowed ? "uid " + std::to_string(cr.uid) + " is not allowed (--allow-uid)"
			                  : "too many connections";
			e.num("pid", cr.pid).num("uid", cr.uid).num("gid", cr.gid);
			close(fd);
			ev_->push(std::move(e));
			continue;
		}
		uint64_t id = next_id_++;
		Conn c;
		c.fd = fd;
		c.peer = Peer{cr.pid, cr.uid, cr.gid};
		conns_[id] = std::move(c);
		struct epoll_event e;
		memset(&e, 0, sizeof e);
		e.events = EPOLLIN | EPOLLRDHUP;
		e.data.u64 = id;
		epoll_ctl(efd_, EPOLL_CTL_ADD, fd, &e);
		Event ev;
		ev.kind = "open";
		ev.conn = id;
		ev.num("pid", cr.pid).num("uid", cr.uid).num("gid", cr.gid);
		ev_->push(std::move(ev));
	}
}

void Server::on_readable(uint64_t id)
{
	std::lock_guard<std::mutex> g(mu_);
	auto it = conns_.find(id);
	if (it == conns_.end()) return;
	Conn &c = it->second;
	char buf[16384];
	for (;;) {
		ssize_t r = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
		if (r == 0) {
			drop(id, "peer closed the connection");
			return;
		}
		if (r < 0) {
			if (errno == EINTR) continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) return;
			drop(id, "read failed: " + errstr(errno));
			return;
		}
		if (c.closing) continue; /* being closed: input is ignored */
		c.in.append(buf, (size_t)r);
		size_t start = 0, nl;
		while ((nl = c.in.find('\n', start)) != std::string::npos) {
			size_t n = nl - start;
			if (n + 1 > XSB_WIRE_MAX_LINE) break;
			if (n > 0) {
				Event e;
				e.kind = "line";
				e.conn = id;
				e.text.assign(c.in, start, n);
				e.num("pid", c.peer.pid).num("uid", c.peer.uid);
				ev_->push(std::move(e));
			}
			start = nl + 1;
		}
		c.in.erase(0, start);
		size_t pending = c.in.find('\n');
		if ((pending != std::string::npos && pending + 1 > XSB_WIRE_MAX_LINE) ||
		    (pending == std::string::npos && c.in.size() >= XSB_WIRE_MAX_LINE)) {
			ev_->log("warn", "pid " + std::to_string(c.peer.pid) + " sent a line longer than " +
			                     std::to_string(XSB_WIRE_MAX_LINE) + " bytes; connection closed",
			         id);
			drop(id, "oversized line");
			return;
		}
	}
}

void Server::run()
{
	struct epoll_event evs[64];
	for (;;) {
		{
			std::lock_guard<std::mutex> g(mu_);
			if (stop_) return;
		}
		int n = epoll_wait(efd_, evs, 64, -1);
		if (n < 0) {
			if (errno == EINTR) continue;
			ev_->log("error", "epoll_wait: " + errstr(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			uint64_t id = evs[i].data.u64;
			if (id == 0) {
				accept_all();
			} else if (id == UINT64_MAX) {
				uint64_t x;
				ssize_t r = read(wfd_, &x, sizeof x);
				(void)r;
			} else {
				if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) on_readable(id);
				if (evs[i].events & EPOLLOUT) {
					std::lock_guard<std::mutex> g(mu_);
					auto it = conns_.find(id);
					if (it != conns_.end()) flush(id, it->second);
				}
			}
		}
		process_commands();
	}
}

} // namespace xsbe
