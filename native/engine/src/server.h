/*
 * server.h - the coordinator's Unix stream socket server (I/O thread, epoll).
 *
 * Peers are identified by SO_PEERCRED (the kernel's pid/uid/gid at connect time, never a
 * claimed one). Peers of another uid are refused unless allowed. Input is split into lines of
 * at most XSB_WIRE_MAX_LINE bytes (newline included): a longer line is logged and the
 * connection closed. Complete lines go to TypeScript as "line" events; TypeScript answers
 * with send() and ends a connection with close() (after what was sent is flushed).
 */
#ifndef XSB_ENGINE_SERVER_H
#define XSB_ENGINE_SERVER_H

#include <stdint.h>
#include <sys/types.h>

#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "events.h"

namespace xsbe {

struct ServerOptions {
	std::string path;
	unsigned mode = 0600;
	long gid = -1;                 /* chown the socket to this group (--group) */
	std::vector<uint32_t> allow_uids;
	long allow_gid = -1;           /* peers whose SO_PEERCRED gid is this are allowed too */
	size_t max_conns = 1024;
};

struct Peer {
	pid_t pid = 0;
	uid_t uid = 0;
	gid_t gid = 0;
};

class Server {
public:
	explicit Server(EventSink *ev) : ev_(ev) {}
	~Server() { stop(); }
	bool start(const ServerOptions &o, std::string *err);
	void stop();
	bool send(uint64_t conn, const std::string &line);
	bool close_conn(uint64_t conn, const std::string &reason);
	bool peer(uint64_t conn, Peer *out);
	const std::string &path() const { return opt_.path; }

private:
	struct Conn {
		int fd = -1;
		Peer peer;
		std::string in, out;
		bool closing = false;
		std::string close_reason;
	};
	void run();
	void accept_all();
	void on_readable(uint64_t id);
	void flush(uint64_t id, Conn &c);
	void drop(uint64_t id, const std::string &reason);
	void process_commands();
	void wake();

	EventSink *ev_;
	ServerOptions opt_;
	int lfd_ = -1, efd_ = -1, wfd_ = -1;
	std::thread th_;
	bool running_ = false;
	std::mutex mu_; /* conns_ and cmds_ */
	std::map<uint64_t, Conn> conns_;
	struct Cmd {
		uint64_t conn;
		bool close;
		std::string data;
	};
	std::vector<Cmd> cmds_;
	uint64_t next_id_ = 1;
	bool stop_ = false;
};

} // namespace xsbe

#endif
