/* Sizes of the public structs, so FFI bindings (koffi) can prove their layouts match. */
#include "xsb_kfd.h"

#include <string.h>

size_t xsb_kfd_sizeof(const char *name)
{
	static const struct { const char *n; size_t s; } t[] = {
		{"xsb_kfd_queue_snapshot_entry", sizeof(struct xsb_kfd_queue_snapshot_entry)},
		{"xsb_sysfs_error", sizeof(struct xsb_sysfs_error)},
		{"xsb_topo_node", sizeof(struct xsb_topo_node)},
		{"xsb_proc_queue", sizeof(struct xsb_proc_queue)},
		{"xsb_amdgpu_params", sizeof(struct xsb_amdgpu_params)},
		{"xsb_parse_error", sizeof(struct xsb_parse_error)},
		{"xsb_mqd_xcc", sizeof(struct xsb_mqd_xcc)},
		{"xsb_mqd_queue", sizeof(struct xsb_mqd_queue)},
		{"xsb_hqd_slot", sizeof(struct xsb_hqd_slot)},
		{"xsb_log_event", sizeof(struct xsb_log_event)},
		{"xsb_log_queue", sizeof(struct xsb_log_queue)},
	};
	for (size_t i = 0; name && i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(t[i].n, name))
			return t[i].s;
	return 0;
}
