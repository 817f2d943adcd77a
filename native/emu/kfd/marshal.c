/*
 * Marshalling of KFD ioctls to the emulated driver, mirroring amdkfd's kfd_ioctl():
 * the kernel's own table gives each ioctl's direction; it copies _IOC_SIZE(cmd) bytes of
 * the user's argument (zero-extending to its own size), calls the handler, and copies the
 * user's size back when its definition has IOC_OUT. Handlers that take user pointers copy
 * through them; here those copies go through process_vm_readv/writev on ourselves so a bad
 * pointer gives EFAULT instead of a crash, as copy_from_user/copy_to_user do.
 */
#include "kfd_marshal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

struct kdef {
	unsigned nr;
	unsigned dir;  /* the kernel's _IOC_DIR for this nr */
	unsigned size; /* the kernel's struct size */
};
/* Only the ioctls the emulated driver implements; the device answers others with EINVAL. */
static const struct kdef k_defs[] = {
	{ XSB_KFD_NR_GET_VERSION, _IOC_READ, sizeof(struct xsb_kfd_get_version_args) },
	{ XSB_KFD_NR_CREATE_QUEUE, _IOC_READ | _IOC_WRITE, sizeof(struct xsb_kfd_create_queue_args) },
	{ XSB_KFD_NR_DESTROY_QUEUE, _IOC_READ | _IOC_WRITE, sizeof(struct xsb_kfd_destroy_queue_args) },
	{ XSB_KFD_NR_UPDATE_QUEUE, _IOC_WRITE, sizeof(struct xsb_kfd_update_queue_args) },
	{ XSB_KFD_NR_SET_CU_MASK, _IOC_WRITE, sizeof(struct xsb_kfd_set_cu_mask_args) },
	{ XSB_KFD_NR_RUNTIME_ENABLE, _IOC_READ | _IOC_WRITE, sizeof(struct xsb_kfd_runtime_enable_args) },
	{ XSB_KFD_NR_DBG_TRAP, _IOC_READ | _IOC_WRITE, sizeof(struct xsb_kfd_dbg_trap_args) },
};

static const struct kdef *kdef_of(unsigned nr)
{
	for (size_t i = 0; i < sizeof k_defs / sizeof k_defs[0]; i++)
		if (k_defs[i].nr == nr)
			return &k_defs[i];
	return NULL;
}

static int user_read(void *dst, uint64_t src, size_t len)
{
	if (len == 0)
		return 0;
	struct iovec l = { dst, len }, r = { (void *)(uintptr_t)src, len };
	ssize_t n = process_vm_readv(getpid(), &l, 1, &r, 1, 0);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

static int user_write(uint64_t dst, const void *src, size_t len)
{
	if (len == 0)
		return 0;
	struct iovec l = { (void *)src, len }, r = { (void *)(uintptr_t)dst, len };
	ssize_t n = process_vm_writev(getpid(), &l, 1, &r, 1, 0);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

static uint32_t rd32(const uint8_t *a, size_t off)
{
	uint32_t v;
	memcpy(&v, a + off, sizeof v);
	return v;
}

static uint64_t rd64(const uint8_t *a, size_t off)
{
	uint64_t v;
	memcpy(&v, a + off, sizeof v);
	return v;
}

/* Where a DBG_TRAP op keeps its user pointer, and what it carries in and out. */
struct ptr_io {
	uint64_t ptr;
	size_t in_len;   /* bytes read from ptr and sent */
	size_t out_cap;  /* bytes the reply may write back to ptr */
};

static int dbg_trap_io(const uint8_t *a, struct ptr_io *io, uint32_t *flags)
{
	const struct xsb_kfd_dbg_trap_args *d = (const void *)a;
	switch (d->op) {
	case XSB_KFD_DBG_TRAP_ENABLE:
		io->ptr = d->enable.rinfo_ptr;
		io->out_cap = d->enable.rinfo_size < sizeof(struct xsb_kfd_runtime_info)
		                  ? d->enable.rinfo_size : sizeof(struct xsb_kfd_runtime_info);
		if (fcntl((int)d->enable.dbg_fd, F_GETFD) >= 0)
			*flags |= XSB_EMU_F_DBG_FD_VALID;
		return 0;
	case XSB_KFD_DBG_TRAP_SUSPEND_QUEUES:
		io->ptr = d->suspend_queues.queue_array_ptr;
		io->in_len = io->out_cap = (size_t)d->suspend_queues.num_queues * sizeof(uint32_t);
		break;
	case XSB_KFD_DBG_TRAP_RESUME_QUEUES:
		io->ptr = d->resume_queues.queue_array_ptr;
		io->in_len = io->out_cap = (size_t)d->resume_queues.num_queues * sizeof(uint32_t);
		break;
	case XSB_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT: {
		io->ptr = d->queue_snapshot.snapshot_buf_ptr;
		size_t es = d->queue_snapshot.entry_size;
		if (es > sizeof(struct xsb_kfd_queue_snapshot_entry))
			es = sizeof(struct xsb_kfd_queue_snapshot_entry);
		io->out_cap = (size_t)d->queue_snapshot.num_queues * es;
		break;
	}
	default:
		return 0;
	}
	if (io->in_len > XSB_EMU_MAX_EXTRA || io->out_cap > XSB_EMU_MAX_EXTRA)
		return -E2BIG; /* more than 17k queue ids: beyond the emulator's message size */
	return 0;
}

long xsb_emu_kfd_ioctl(int fd, unsigned long request, void *argp)
{
	(void)fd;
	const unsigned nr = _IOC_NR(request);
	const size_t usize = _IOC_SIZE(request);
	const struct kdef *k = kdef_of(nr);

	struct xsb_emu_msg req, rep;
	memset(&req, 0, sizeof req);
	req.op = XSB_EMU_OP_IOCTL;
	req.nr = nr;
	req.ioc_dir = _IOC_DIR(request);
	if (!k) {
		/* unknown to the emulated driver: it answers EINVAL without reading anything */
		int r = xsb_emu_rpc(&req, NULL, NULL, &rep, NULL, 0, NULL, 0);
		return r < 0 ? r : rep.ret;
	}

	size_t asize = usize < XSB_EMU_MAX_ARG ? usize : XSB_EMU_MAX_ARG;
	uint8_t arg[XSB_EMU_MAX_ARG];
	memset(arg, 0, sizeof arg);
	uint64_t uarg = (uint64_t)(uintptr_t)argp;
	if (k->dir & _IOC_WRITE) {
		if (user_read(arg, uarg, asize) < 0)
			return -EFAULT;
	}
	req.arg_size = (uint32_t)asize;

	struct ptr_io io = { 0, 0, 0 };
	if (nr == XSB_KFD_NR_CREATE_QUEUE && asize >= 8) {
		int slot = xsb_emu_ring_slot_of(rd64(arg, 0));
		req.u64[0] = slot >= 0 ? (uint64_t)slot + 1 : 0;
	} else if (nr == XSB_KFD_NR_SET_CU_MASK && asize >= 16) {
		/* kfd_ioctl_set_cu_mask: at most 1024 bits are read; the count check is the driver's */
		uint32_t bits = rd32(arg, 4);
		if (bits > 1024)
			bits = 1024;
		io.ptr = rd64(arg, 8);
		io.in_len = bits ? (size_t)(bits / 32) * sizeof(uint32_t) : 0;
	} else if (nr == XSB_KFD_NR_DBG_TRAP && asize >= sizeof(struct xsb_kfd_dbg_trap_args)) {
		int r = dbg_trap_io(arg, &io, &req.flags);
		if (r < 0)
			return r;
	}

	uint8_t *extra = NULL;
	size_t extra_cap = io.out_cap > io.in_len ? io.out_cap : io.in_len;
	if (extra_cap) {
		extra = malloc(extra_cap);
		if (!extra)
			return -ENOMEM;
	}
	if (io.in_len) {
		if (user_read(extra, io.ptr, io.in_len) < 0) {
			free(extra);
			return -EFAULT;
		}
		req.extra_len = (uint32_t)io.in_len;
	}

	uint8_t out[XSB_EMU_MAX_ARG];
	int r = xsb_emu_rpc(&req, arg, extra, &rep, out, sizeof out, extra, extra_cap);
	long ret = r < 0 ? r : rep.ret;
	if (r == 0) {
		if (rep.extra_len && io.out_cap) {
			size_t n = rep.extra_len < io.out_cap ? rep.extra_len : io.out_cap;
			if (user_write(io.ptr, extra, n) < 0)
				ret = -EFAULT;
		}
		if (k->dir & _IOC_READ) {
			size_t n = rep.arg_size < asize ? rep.arg_size : asize;
			if (user_write(uarg, out, n) < 0)
				ret = -EFAULT;
		}
	}
	free(extra);
	return ret;
}
