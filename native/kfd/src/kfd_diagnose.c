/* One-line diagnoses of KFD errors: cause and fix, per operation (facts: shared/KFD-FACTS.md,
 * amdkfd kfd_chardev.c kfd_ioctl_set_debug_trap and kfd_debug.c). */
#include "xsb_kfd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *xsb_kfd_op_name(int op)
{
	switch (op) {
	case XSB_KFD_OP_OPEN: return "open";
	case XSB_KFD_OP_VERSION: return "GET_VERSION";
	case XSB_KFD_OP_DBG_ENABLE: return "DBG_TRAP ENABLE";
	case XSB_KFD_OP_DBG_DISABLE: return "DBG_TRAP DISABLE";
	case XSB_KFD_OP_SUSPEND: return "DBG_TRAP SUSPEND_QUEUES";
	case XSB_KFD_OP_RESUME: return "DBG_TRAP RESUME_QUEUES";
	case XSB_KFD_OP_SNAPSHOT: return "DBG_TRAP GET_QUEUE_SNAPSHOT";
	case XSB_KFD_OP_UPDATE_QUEUE: return "UPDATE_QUEUE";
	default: return "KFD operation";
	}
}

static const char *runtime_state_cause(uint32_t rs)
{
	switch (rs) {
	case XSB_KFD_RUNTIME_STATE_DISABLED:
		return "the target's ROCm runtime never runtime-enabled (runtime_state 0): ROCr older "
		       "than 5.7 (e.g. Debian's 5.2 thunk uses the pre-upstream debug ioctl), or a GPU "
		       "without firmware debug support (topology capability bit 0x20000000 missing), or "
		       "HSA not initialised yet; fix: use ROCm >= 5.7 on a GPU whose firmware supports "
		       "debugging and enable only after HIP/HSA initialised, or use the deactivate "
		       "mechanism (UPDATE_QUEUE percentage 0)";
	case XSB_KFD_RUNTIME_STATE_ENABLED_BUSY:
		return "the target's runtime enable is still pending (runtime_state 2, ENABLED_BUSY: a "
		       "debugger must send EC_PROCESS_RUNTIME); fix: enable the trap only after HSA "
		       "initialised, or use the deactivate mechanism";
	case XSB_KFD_RUNTIME_STATE_ENABLED_ERROR:
		return "the target's runtime enable failed in the kernel (runtime_state 3, "
		       "ENABLED_ERROR); fix: check dmesg for amdkfd debug errors, restart the target, "
		       "or use the deactivate mechanism";
	default:
		return NULL;
	}
}

static const char *cause(int op, int e, uint32_t rs)
{
	int dbg = op == XSB_KFD_OP_DBG_ENABLE || op == XSB_KFD_OP_DBG_DISABLE ||
	          op == XSB_KFD_OP_SUSPEND || op == XSB_KFD_OP_RESUME || op == XSB_KFD_OP_SNAPSHOT;
	switch (e) {
	case ENOTSUP:
		if (dbg)
			return "the KFD is older than ABI 1.13 and has no debugger API (RUNTIME_ENABLE, "
			       "DBG_TRAP); fix: run Linux >= 6.5 (KFD 1.13) or an amdgpu DKMS of ROCm >= 5.7, "
			       "or use the deactivate mechanism (UPDATE_QUEUE percentage 0)";
		break;
	case EPERM:
		if (dbg) {
			const char *rc = runtime_state_cause(rs);
			if (rc)
				return rc;
			if (op == XSB_KFD_OP_DBG_ENABLE)
				return "the target is another process and the calling thread is not its ptrace "
				       "tracer; fix: debug your own process (pid = getpid() on the process's own "
				       "/dev/kfd fd), or attach with PTRACE_SEIZE from the thread that issues the "
				       "ioctl (needs ptrace permission: same uid and kernel.yama.ptrace_scope <= 1, "
				       "or CAP_SYS_PTRACE)";
			return "either the target is another process and the calling thread is not its "
			       "ptrace tracer, or the target's runtime is not debug-enabled (ROCr older than "
			       "5.7 or a GPU without firmware debug support, capability 0x20000000); fix: "
			       "suspend from inside the target (its own fd, pid = getpid()) after HSA "
			       "initialised, attach with PTRACE_SEIZE, or use the deactivate mechanism";
		}
		if (op == XSB_KFD_OP_OPEN)
			return "no permission to open the device; fix: add the user to the 'render' (and "
			       "'video') group, or check the device node's mode";
		return "operation not permitted";
	case EINVAL:
		if (dbg)
			return "either the amdgpu scheduler runs without HWS (sched_policy=2, NO_HWS: the "
			       "debugger API is refused) or the debug trap is not enabled for this pid (no "
			       "successful ENABLE before, or it was disabled); fix: load amdgpu with "
			       "sched_policy=0 and call ENABLE first";
		if (op == XSB_KFD_OP_UPDATE_QUEUE)
			return "bad UPDATE_QUEUE arguments (percentage > 100, priority > 15, or a ring "
			       "base/size the kernel rejects); fix: pass the queue's original ring base and "
			       "size with percentage 0..100 and priority 0..15";
		return "invalid argument";
	case ESRCH:
		if (op == XSB_KFD_OP_UPDATE_QUEUE)
			return "no queue with this id in the calling process; fix: read the ids from the "
			       "CREATE_QUEUE results or /sys/class/kfd/kfd/proc/<pid>/queues";
		return "no KFD process with this pid (it exited, or never opened /dev/kfd); fix: check "
		       "the pid and that the target already initialised HIP/HSA";
	case EALREADY:
		return "another debugger already holds the target's debug trap (rocgdb, the ROCr debug "
		       "agent (HSA_TOOLS_LIB=librocm-debug-agent), or ROCr core-dump support); fix: "
		       "detach it / unset HSA_TOOLS_LIB and ROCM_DEBUG_AGENT settings, or use the "
		       "deactivate mechanism";
	case EBADF:
		return "the KFD file descriptor belongs to another process (a /dev/kfd fd works only in "
		       "the process that opened it, e.g. inherited across fork); fix: reopen /dev/kfd "
		       "in this process";
	case EBUSY:
		if (op == XSB_KFD_OP_DBG_ENABLE)
			return "the target's runtime enable is in progress (or a GPU that allows only one "
			       "debugged process, such as MI50/MI100, is already being debugged); fix: "
			       "retry after HSA initialised, or debug one process per GPU on those parts";
		return "the device or queue is busy (a preemption or reset is in progress); fix: retry "
		       "later and check dmesg for queue preemption timeouts";
	case ENOENT:
		if (op == XSB_KFD_OP_OPEN)
			return "the device node does not exist: no amdgpu/amdkfd driver loaded; fix: load "
			       "amdgpu, or use the emulated device (xsched-bridge emu env)";
		break;
	case EACCES:
		if (op == XSB_KFD_OP_OPEN)
			return "no permission to open the device; fix: add the user to the 'render' (and "
			       "'video') group";
		break;
	case ENODEV:
		return "no such GPU (gpu_id) or the device is gone; fix: read gpu ids from the topology";
	case EFAULT:
		return "the kernel could not read or write a user buffer; this is a bug in the caller "
		       "(bad pointer or size)";
	case ETIME:
	case ETIMEDOUT:
		return "the hardware scheduler did not answer in time (queue preemption timeout, "
		       "amdgpu.queue_preemption_timeout_ms); fix: check dmesg, a GPU reset may follow";
	case EIO:
		return "hardware or scheduler failure; fix: check dmesg for amdgpu errors";
	case ENOMEM:
		return "out of memory";
	case ENOTTY:
		return "not a KFD device (the ioctl is unknown to it); fix: open /dev/kfd";
	default:
		break;
	}
	return NULL;
}

static const char *errno_name(int e)
{
	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EIO: return "EIO";
	case EBADF: return "EBADF";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case ETIME: return "ETIME";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ENOTSUP: return "ENOTSUP";
	case EALREADY: return "EALREADY";
	case EEXIST: return "EEXIST";
	default: return "errno";
	}
}

const char *xsb_kfd_diagnose(int op, int err, uint32_t runtime_state, char *buf, size_t len)
{
	int e = err < 0 ? -err : err;
	if (!buf || len == 0)
		return "";
	const char *c = cause(op, e, runtime_state);
	char rsbuf[48] = "";
	if (runtime_state != XSB_KFD_RUNTIME_STATE_UNKNOWN &&
	    (op == XSB_KFD_OP_DBG_ENABLE || op == XSB_KFD_OP_SUSPEND || op == XSB_KFD_OP_RESUME))
		snprintf(rsbuf, sizeof(rsbuf), ", runtime_state %u", runtime_state);
	if (c)
		snprintf(buf, len, "%s failed with %s (errno %d%s): %s", xsb_kfd_op_name(op),
		         errno_name(e), e, rsbuf, c);
	else
		snprintf(buf, len, "%s failed with %s (errno %d%s): %s", xsb_kfd_op_name(op),
		         errno_name(e), e, rsbuf, strerror(e));
	return buf;
}
