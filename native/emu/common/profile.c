/*
 * Device profile: every timing constant of the emulated GPU.
 *
 * The defaults describe an MI300X-class device. No public measurement of the HWS
 * suspend/CWSR path exists, so each default is a stated assumption; the same values,
 * with one note per assumption, are in native/emu/profiles/mi300x.json. A profile measured
 * on real hardware (stage 3) replaces them by file.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "xsb_emu_client.h"
#include "xsb_emu_common.h"

void xsbe_profile_defaults(struct xsb_emu_profile *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "mi300x-assumed");
	p->num_cus = 304;            /* MI300X: 8 XCDs x 38 CUs */
	p->gpu_id = 0xb7c3;          /* any realistic nonzero 16-bit id: real ids are hashes */
	p->gpu_clock_mhz = 2100;     /* MI300X peak engine clock; grace_period unit = 1000 clocks */
	p->sched_policy = 0;         /* HWS (CPSCH), the default on every Instinct GPU */
	p->kfd_minor = 17;           /* Linux 6.12 KFD ABI 1.17 */
	p->fw_debug_capable = 1;     /* MEC firmware with debugger support (capability bit 29) */
	p->launch_ns = 5000;         /* assumed per-dispatch launch overhead */
	p->runlist_unmap_ns = 1000000; /* assumed: between the 0.5 ms and 5-10 ms estimates */
	p->runlist_remap_ns = 1000000; /* assumed, same reasoning */
	p->cwsr_bytes_full_queue = 185597952ull; /* 177 MiB of wave state for a full queue */
	p->cwsr_bytes_per_s = 2.5e12;  /* assumed effective save/restore bandwidth: ~74 us */
	p->default_kernel_ns = 100000; /* kernels that are not the spin kernel: 100 us */
	p->copy_bytes_per_s = 5e10;    /* blit bandwidth for copies and sets */
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

struct int_key {
	const char *name;
	size_t off;
	int is64;
	double min, max;
};

#define U32(f, lo, hi) { #f, offsetof(struct xsb_emu_profile, f), 0, lo, hi }
#define U64(f, lo, hi) { #f, offsetof(struct xsb_emu_profile, f), 1, lo, hi }
static const struct int_key int_keys[] = {
	U32(num_cus, 1, 1024),          /* KFD accepts CU masks up to 1024 bits */
	U32(gpu_id, 1, 65535),          /* KFD_MMAP_GPU_ID keeps 16 bits */
	U32(gpu_clock_mhz, 1, 100000),
	U32(sched_policy, 0, 2),
	U32(kfd_minor, 0, 1000),
	U32(fw_debug_capable, 0, 1),
	U64(launch_ns, 0, 1e12),
	U64(runlist_unmap_ns, 0, 1e12),
	U64(runlist_remap_ns, 0, 1e12),
	U64(cwsr_bytes_full_queue, 0, 1e15),
	U64(default_kernel_ns, 0, 1e12),
};

struct dbl_key {
	const char *name;
	size_t off;
};
static const struct dbl_key dbl_keys[] = {
	{ "cwsr_bytes_per_s", offsetof(struct xsb_emu_profile, cwsr_bytes_per_s) },
	{ "copy_bytes_per_s", offsetof(struct xsb_emu_profile, copy_bytes_per_s) },
};

static int apply_key(struct xsb_emu_profile *p, const cJSON *it, const char *path,
		     char *err, size_t errlen)
{
	const char *k = it->string;
	if (!strncmp(k, "notes", 5) || k[0] == '_' || k[0] == '$')
		return 0; /* documentation keys */
	if (!strcmp(k, "name")) {
		if (!cJSON_IsString(it) || !it->valuestring[0] ||
		    strlen(it->valuestring) >= sizeof(p->name))
			return fail(err, errlen, "%s: \"name\" must be a non-empty string of at most %zu "
				    "characters", path, sizeof(p->name) - 1);
		snprintf(p->name, sizeof(p->name), "%s", it->valuestring);
		return 0;
	}
	for (size_t i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++) {
		const struct int_key *ik = &int_keys[i];
		if (strcmp(k, ik->name))
			continue;
		double v = cJSON_IsNumber(it) ? it->valuedouble : NAN;
		if (!cJSON_IsNumber(it) || v != floor(v) || v < ik->min || v > ik->max)
			return fail(err, errlen, "%s: \"%s\" must be an integer in [%.0f, %.0f]; "
				    "fix the value in the profile file", path, k, ik->min, ik->max);
		if (ik->is64)
			*(uint64_t *)((char *)p + ik->off) = (uint64_t)v;
		else
			*(uint32_t *)((char *)p + ik->off) = (uint32_t)v;
		return 0;
	}
	for (size_t i = 0; i < sizeof(dbl_keys) / sizeof(dbl_keys[0]); i++) {
		if (strcmp(k, dbl_keys[i].name))
			continue;
		if (!cJSON_IsNumber(it) || !(it->valuedouble > 0) || !isfinite(it->valuedouble))
			return fail(err, errlen, "%s: \"%s\" must be a positive number (bytes per "
				    "second); fix the value in the profile file", path, k);
		*(double *)((char *)p + dbl_keys[i].off) = it->valuedouble;
		return 0;
	}
	return fail(err, errlen, "%s: unknown key \"%s\"; valid keys: name, num_cus, gpu_id, "
		    "gpu_clock_mhz, sched_policy, kfd_minor, fw_debug_capable, launch_ns, "
		    "runlist_unmap_ns, runlist_remap_ns, cwsr_bytes_full_queue, cwsr_bytes_per_s, "
		    "default_kernel_ns, copy_bytes_per_s (keys starting with \"notes\" or \"_\" are "
		    "ignored)", path, k);
}

__attribute__((visibility("default")))
int xsb_emu_profile_load(const char *path, struct xsb_emu_profile *out, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return -EINVAL;
	struct xsb_emu_profile p;
	xsbe_profile_defaults(&p);
	if (!path || !*path) {
		const char *env = getenv("XSB_EMU_PROFILE");
		path = (env && *env) ? env : NULL;
	}
	if (!path) {
		*out = p;
		return 0;
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		fail(err, errlen, "cannot open profile %s: %s (set XSB_EMU_PROFILE or --profile to "
		     "an existing JSON file, or unset it for the defaults)", path, strerror(e));
		return -e;
	}
	char *text = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			if (cap > (16u << 20)) {
				fclose(f);
				free(text);
				return fail(err, errlen, "%s: profile larger than 16 MiB", path);
			}
			char *n = realloc(text, cap);
			if (!n) {
				fclose(f);
				free(text);
				return -ENOMEM;
			}
			text = n;
		}
		size_t r = fread(text + len, 1, cap - len - 1, f);
		len += r;
		if (r == 0)
			break;
	}
	fclose(f);
	text[len] = '\0';
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
	if (!root) {
		size_t at = end ? (size_t)(end - text) : 0;
		free(text);
		return fail(err, errlen, "%s: invalid JSON near byte %zu", path, at);
	}
	free(text);
	int rc = 0;
	if (!cJSON_IsObject(root)) {
		rc = fail(err, errlen, "%s: the profile must be a JSON object", path);
	} else {
		const cJSON *it;
		cJSON_ArrayForEach(it, root) {
			rc = apply_key(&p, it, path, err, errlen);
			if (rc)
				break;
		}
	}
	cJSON_Delete(root);
	if (!rc)
		*out = p;
	return rc;
}
