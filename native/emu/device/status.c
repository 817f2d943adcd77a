/* XSB_EMU_OP_STATUS: the device state as JSON text. */
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "device.h"

/* Upper bound (ns) of the log2 bucket holding quantile q. */
static double hist_quantile(const uint64_t *h, uint64_t total, double q)
{
	if (!total)
		return 0;
	uint64_t want = (uint64_t)(q * (double)total + 0.999999), acc = 0;
	for (unsigned b = 0; b < 64; b++) {
		acc += h[b];
		if (acc >= want)
			return (double)(b >= 63 ? UINT64_MAX : (2ull << b));
	}
	return (double)UINT64_MAX;
}

char *status_json(size_t *len)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	const struct xsb_emu_profile *pf = &dev.prof;
	cJSON_AddNumberToObject(o, "device_pid", dev.shm->device_pid);
	cJSON_AddStringToObject(o, "dir", dev.dir);
	cJSON_AddNumberToObject(o, "uptime_s", (double)(wall_ns() - dev.start_wall) / 1e9);
	cJSON_AddNumberToObject(o, "shm_size", (double)dev.shm_size);
	cJSON *p = cJSON_AddObjectToObject(o, "profile");
	cJSON_AddStringToObject(p, "name", pf->name);
	cJSON_AddNumberToObject(p, "num_cus", pf->num_cus);
	cJSON_AddNumberToObject(p, "gpu_id", pf->gpu_id);
	cJSON_AddNumberToObject(p, "gpu_clock_mhz", pf->gpu_clock_mhz);
	cJSON_AddNumberToObject(p, "sched_policy", pf->sched_policy);
	cJSON_AddNumberToObject(p, "kfd_minor", pf->kfd_minor);
	cJSON_AddNumberToObject(p, "fw_debug_capable", pf->fw_debug_capable);
	cJSON_AddNumberToObject(p, "launch_ns", (double)pf->launch_ns);
	cJSON_AddNumberToObject(p, "runlist_unmap_ns", (double)pf->runlist_unmap_ns);
	cJSON_AddNumberToObject(p, "runlist_remap_ns", (double)pf->runlist_remap_ns);
	cJSON_AddNumberToObject(p, "cwsr_bytes_full_queue", (double)pf->cwsr_bytes_full_queue);
	cJSON_AddNumberToObject(p, "cwsr_bytes_per_s", pf->cwsr_bytes_per_s);
	cJSON_AddNumberToObject(p, "default_kernel_ns", (double)pf->default_kernel_ns);
	cJSON_AddNumberToObject(p, "copy_bytes_per_s", pf->copy_bytes_per_s);

	cJSON *procs = cJSON_AddArrayToObject(o, "processes");
	for (unsigned i = 0; i < XSB_EMU_MAX_PROCS; i++) {
		struct proc *pr = &dev.procs[i];
		if (!pr->used || pr->dead)
			continue;
		cJSON *j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "pid", pr->pid);
		cJSON_AddBoolToObject(j, "kfd_process", pr->has_kfd);
		cJSON_AddNumberToObject(j, "runtime_state", pr->runtime_state);
		cJSON_AddBoolToObject(j, "debug_trap_enabled", pr->debug_trap_enabled);
		cJSON_AddNumberToObject(j, "blocked_runtime_calls", pr->n_runtime_waiters);
		cJSON *qs = cJSON_AddArrayToObject(j, "queues");
		for (unsigned qi = 0; qi < XSB_EMU_MAX_KFD_QUEUES; qi++) {
			struct kqueue *q = &dev.queues[qi];
			if (!q->used || q->proc != pr)
				continue;
			cJSON *jq = cJSON_CreateObject();
			cJSON_AddNumberToObject(jq, "queue_id", q->queue_id);
			cJSON_AddNumberToObject(jq, "type", q->type);
			cJSON_AddNumberToObject(jq, "priority", q->priority);
			cJSON_AddNumberToObject(jq, "percentage", q->percentage);
			cJSON_AddNumberToObject(jq, "ring_size", q->ring_size);
			cJSON_AddNumberToObject(jq, "ring_slot", q->ring_slot == UINT32_MAX ? -1 : (double)q->ring_slot);
			cJSON_AddNumberToObject(jq, "cu_limit", q->cu_limit);
			cJSON *fl = cJSON_AddArrayToObject(jq, "flags");
			if (q->suspended) cJSON_AddItemToArray(fl, cJSON_CreateString("suspended"));
			if (!kfd_queue_active(q)) cJSON_AddItemToArray(fl, cJSON_CreateString("deactivated"));
			if (q->exception_status & XSB_KFD_EC_MASK_QUEUE_NEW) cJSON_AddItemToArray(fl, cJSON_CreateString("new"));
			if (q->mapped) cJSON_AddItemToArray(fl, cJSON_CreateString("mapped"));
			if (q->destroying) cJSON_AddItemToArray(fl, cJSON_CreateString("destroying"));
			cJSON_AddNumberToObject(jq, "suspend_count", (double)q->suspend_count);
			cJSON_AddNumberToObject(jq, "resume_count", (double)q->resume_count);
			cJSON_AddItemToArray(qs, jq);
		}
		cJSON_AddItemToArray(procs, j);
	}
	cJSON *rings = cJSON_AddArrayToObject(o, "rings");
	for (unsigned s = 0; s < XSB_EMU_MAX_RINGS; s++) {
		struct xsb_emu_ring *r = &dev.rings[s];
		if (r->alloc_state == XSB_EMU_RING_FREE)
			continue;
		cJSON *j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "slot", s);
		cJSON_AddNumberToObject(j, "owner_pid", r->owner_pid);
		cJSON_AddStringToObject(j, "state", r->alloc_state == XSB_EMU_RING_BOUND ? "bound" : "allocated");
		cJSON_AddNumberToObject(j, "queue_id", r->queue_id == UINT32_MAX ? -1 : (double)r->queue_id);
		cJSON_AddNumberToObject(j, "dispatched", (double)r->dispatched);
		cJSON_AddNumberToObject(j, "completed", (double)r->completed);
		cJSON_AddItemToArray(rings, j);
	}
	const struct xsb_emu_stats *st = &dev.shm->stats;
	cJSON *js = cJSON_AddObjectToObject(o, "stats");
	cJSON_AddNumberToObject(js, "completions", (double)st->completions);
	cJSON_AddNumberToObject(js, "runlist_transitions", (double)st->runlist_transitions);
	cJSON_AddNumberToObject(js, "busy_ns", (double)st->busy_ns);
	cJSON *lat = cJSON_AddObjectToObject(js, "lateness_ns");
	cJSON_AddNumberToObject(lat, "count", (double)st->completions);
	cJSON_AddNumberToObject(lat, "mean", st->completions ? (double)st->late_sum_ns / (double)st->completions : 0);
	cJSON_AddNumberToObject(lat, "p50", hist_quantile(st->late_hist, st->completions, 0.50));
	cJSON_AddNumberToObject(lat, "p99", hist_quantile(st->late_hist, st->completions, 0.99));
	cJSON_AddNumberToObject(lat, "max", (double)st->late_max_ns);
	cJSON_AddStringToObject(lat, "quantiles", "upper bound of the log2 bucket");
	model_stats_json(cJSON_AddObjectToObject(o, "model"));
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s)
		*len = strlen(s);
	return s;
}
