#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "xsb_emu_common.h"

static char log_path[4096];
static FILE *log_file;
static int log_verbose;

void xsbe_log_init(const char *path, int verbose)
{
	snprintf(log_path, sizeof(log_path), "%s", path ? path : "");
	log_verbose = verbose;
}

int xsbe_log_verbose(void)
{
	return log_verbose;
}

static void vlog(const char *level, const char *fmt, va_list ap)
{
	if (!log_file) {
		if (!log_path[0])
			return;
		log_file = fopen(log_path, "a");
		if (!log_file)
			return;
		setvbuf(log_file, NULL, _IOLBF, 0);
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	localtime_r(&ts.tv_sec, &tm);
	char when[32];
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(log_file, "%s.%06ld [%d] %s: ", when, ts.tv_nsec / 1000, (int)getpid(), level);
	vfprintf(log_file, fmt, ap);
	if (!*fmt || fmt[strlen(fmt) - 1] != '\n')
		fputc('\n', log_file);
}

void xsbe_log(const char *fmt, ...)
{
	if (!log_verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog("info", fmt, ap);
	va_end(ap);
}

void xsbe_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("error", fmt, ap);
	va_end(ap);
}
