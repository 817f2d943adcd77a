/* ctrl_map.h - maps a shim's control block after checking that it can be trusted. */
#ifndef XSB_ENGINE_CTRL_MAP_H
#define XSB_ENGINE_CTRL_MAP_H

#include <sys/types.h>

#include <string>

#include "xsb_wire.h"

namespace xsbe {

struct MapOptions {
	bool group_writable_ok = false; /* --group: the block may be group-writable */
};

/* Returns the mapping (XSB_CTRL_SIZE bytes) or nullptr with *why set. */
xsb_ctrl *ctrl_map(const std::string &name, pid_t peer_pid, uid_t peer_uid, const MapOptions &o, std::string *why);
void ctrl_unmap(xsb_ctrl *c);

} // namespace xsbe

#endif
