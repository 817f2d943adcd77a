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

/* The header (magic .. header_sum) still names a block of this version and size written by
 * peer_pid. On a mismatch *bad names the first wrong field ("magic", "header checksum", ...).
 * Read with atomic loads: another process may be writing the page while it is checked. */
bool ctrl_header_ok(const xsb_ctrl *c, pid_t peer_pid, std::string *bad);

} // namespace xsbe

#endif
