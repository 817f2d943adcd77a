/*
 * libxsb_emu_kfd.so - LD_PRELOAD interposer that turns open("/dev/kfd") and ioctl() on it
 * into calls to the emulated KFD driver (the xsb-emu-device process).
 *
 * Any program reaches the emulated driver this way, not only the emulated HIP runtime.
 * When the xsched-bridge shim is also preloaded it comes first in LD_PRELOAD, so its ioctl
 * wrapper sees every call and forwards to this one through RTLD_NEXT, exactly as it would
 * forward to libc on a real ROCm machine.
 *
 * An emulated fd is a real socket connected to the device. It is recognised by its inode,
 * so dup()ed fds work, and by the pid that opened it: the kernel refuses a KFD fd used from
 * another process with EBADF (kfd_ioctl: process->lead_thread != current->group_leader).
 */
#include "kfd_marshal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define MAX_FILES 64

struct kfd_file {
	int used;
	pid_t pid;
	dev_t dev;
	ino_t ino;
};
static struct kfd_file g_files[MAX_FILES];
static pthread_mutex_t g_files_lock = PTHREAD_MUTEX_INITIALIZER;

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*ioctl_fn)(int, unsigned long, ...);
typedef int (*close_fn)(int);

static void *next_sym(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* First calls may race from several threads: the lookup is idempotent, publish it atomically. */
#define REAL(type, var, name)                                                  \
	type var = __atomic_load_n(&var##_cache, __ATOMIC_ACQUIRE);            \
	if (!var) {                                                            \
		var = (type)next_sym(name);                                    \
		__atomic_store_n(&var##_cache, var, __ATOMIC_RELEASE);         \
	}

/* ROCr (libhsakmt) opens the absolute path "/dev/kfd"; relative spellings are not emulated. */
static int is_kfd_path(const char *path)
{
	return path && strcmp(path, "/dev/kfd") == 0;
}

static int open_emulated(int flags)
{
	int fd = xsb_emu_open_file();
	if (fd < 0) {
		errno = -fd == ENOENT || -fd == ECONNREFUSED ? ENOENT : -fd;
		return -1;
	}
	if (!(flags & O_CLOEXEC)) {
		int fl = fcntl(fd, F_GETFD);
		if (fl >= 0)
			fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	pthread_mutex_lock(&g_files_lock);
	int slot = -1;
	for (int i = 0; i < MAX_FILES; i++)
		if (!g_files[i].used || (g_files[i].dev == st.st_dev && g_files[i].ino == st.st_ino)) {
			slot = i;
			break;
		}
	if (slot >= 0) {
		g_files[slot].used = 1;
		g_files[slot].pid = getpid();
		g_files[slot].dev = st.st_dev;
		g_files[slot].ino = st.st_ino;
	}
	pthread_mutex_unlock(&g_files_lock);
	if (slot < 0) {
		close(fd);
		errno = EMFILE;
		return -1;
	}
	return fd;
}

/* Returns the opener's pid when fd is an emulated KFD fd, 0 otherwise. */
static pid_t kfd_file_owner(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return 0;
	pid_t owner = 0;
	pthread_mutex_lock(&g_files_lock);
	for (int i = 0; i < MAX_FILES; i++)
		if (g_files[i].used && g_files[i].dev == st.st_dev && g_files[i].ino == st.st_ino) {
			owner = g_files[i].pid;
			break;
		}
	pthread_mutex_unlock(&g_files_lock);
	return owner;
}

#define OPEN_MODE(flags, mode)                                    \
	do {                                                      \
		if ((flags) & (O_CREAT | O_TMPFILE)) {            \
			va_list ap;                               \
			va_start(ap, flags);                      \
			mode = va_arg(ap, int);                   \
			va_end(ap);                               \
		}                                                 \
	} while (0)

/* Every libc entry point that can open a path; the fortified __*_2 variants included. */
#define DEFINE_OPEN(name)                                                      \
	EXPORT int name(const char *path, int flags, ...)                      \
	{                                                                      \
		int mode = 0;                                                  \
		OPEN_MODE(flags, mode);                                        \
		if (is_kfd_path(path))                               \
			return open_emulated(flags);                           \
		static open_fn real_cache;                                     \
		REAL(open_fn, real, #name)                                     \
		return real(path, flags, mode);                                \
	}
#define DEFINE_OPENAT(name)                                                    \
	EXPORT int name(int dirfd, const char *path, int flags, ...)           \
	{                                                                      \
		int mode = 0;                                                  \
		OPEN_MODE(flags, mode);                                        \
		if (is_kfd_path(path))                                  \
			return open_emulated(flags);                           \
		static openat_fn real_cache;                                   \
		REAL(openat_fn, real, #name)                                   \
		return real(dirfd, path, flags, mode);                         \
	}
DEFINE_OPEN(open)
DEFINE_OPEN(open64)
DEFINE_OPENAT(openat)
DEFINE_OPENAT(openat64)

EXPORT int __open_2(const char *path, int flags)
{
	return open(path, flags);
}
EXPORT int __open64_2(const char *path, int flags)
{
	return open(path, flags);
}
EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}
EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}

EXPORT int close(int fd)
{
	static close_fn real_cache;
	REAL(close_fn, real, "close")
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
		/* Forget the file when its fd closes. A dup() of it would then no longer be
		 * recognised; nothing in ROCr dups the kfd fd, so the table stays simple. */
		pthread_mutex_lock(&g_files_lock);
		for (int i = 0; i < MAX_FILES; i++)
			if (g_files[i].used && g_files[i].dev == st.st_dev && g_files[i].ino == st.st_ino &&
			    g_files[i].pid == getpid())
				g_files[i].used = 0;
		pthread_mutex_unlock(&g_files_lock);
	}
	return real(fd);
}

EXPORT int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	va_start(ap, request);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	static ioctl_fn real_cache;
	REAL(ioctl_fn, real, "ioctl")
	if (_IOC_TYPE(request) == XSB_KFD_IOCTL_BASE) {
		pid_t owner = kfd_file_owner(fd);
		if (owner) {
			if (owner != getpid()) {
				errno = EBADF;
				return -1;
			}
			long r = xsb_emu_kfd_ioctl(fd, request, arg);
			if (r < 0) {
				errno = (int)-r;
				return -1;
			}
			return (int)r;
		}
	}
	return real(fd, request, arg);
}
