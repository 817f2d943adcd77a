/*
 * addon.cpp - the JavaScript face of the engine (node-addon-api, no C++ exceptions: errors
 * become pending JS exceptions). One engine per process: the socket server (server.h) and
 * the data plane (dataplane.h), reporting through one ThreadSafeFunction. At environment
 * teardown (process exit, worker end) everything is released before the threads stop.
 */
#include <grp.h>
#include <napi.h>
#include <unistd.h>

#include <memory>

#include "dataplane.h"
#include "events.h"
#include "fake_shim.h"
#include "futex.h"
#include "server.h"

namespace {

using namespace xsbe;

struct Engine {
	EventSink sink;
	Server server{&sink};
	DataPlane dp{&sink};
	Napi::ThreadSafeFunction tsfn;
	MapOptions map_opts;
	bool started = false;
};
Engine *g_engine = nullptr;

Napi::Value throw_error(Napi::Env env, const std::string &msg)
{
	Napi::Error::New(env, msg).ThrowAsJavaScriptException();
	return env.Undefined();
}

double num(const Napi::Object &o, const char *k, double def)
{
	Napi::Value v = o.Get(k);
	return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : def;
}

Napi::Object event_to_js(Napi::Env env, const Event &e)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("kind", e.kind);
	if (e.conn) o.Set("conn", (double)e.conn);
	if (!e.text.empty()) o.Set("text", e.text);
	for (const auto &kv : e.nums) o.Set(kv.first, kv.second);
	for (const auto &kv : e.strs) o.Set(kv.first, kv.second);
	return o;
}

void stop_engine(Engine *e, bool release)
{
	if (!e || !e->started) return;
	if (release) e->dp.release_all(500000000ull);
	e->server.stop();
	e->dp.stop();
	e->sink.set_notify(nullptr);
	e->tsfn.Release();
	e->started = false;
}

void cleanup_hook(void *)
{
	/* the environment is going away (exit, uncaught error): nothing may stay held */
	stop_engine(g_engine, true);
}

/* start({socket, mode, gid, allowUids, allowGid, groupWritableOk}, onEvents) */
Napi::Value Start(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction())
		return throw_error(env, "start(options, onEvents) expects an object and a function");
	if (g_engine->started) return throw_error(env, "the engine is already started");
	Napi::Object o = info[0].As<Napi::Object>();
	ServerOptions so;
	Napi::Value sp = o.Get("socket");
	if (!sp.IsString()) return throw_error(env, "options.socket must be a path");
	so.path = sp.As<Napi::String>().Utf8Value();
	so.mode = (unsigned)num(o, "mode", 0600);
	so.gid = (long)num(o, "gid", -1);
	so.allow_gid = (long)num(o, "allowGid", -1);
	Napi::Value au = o.Get("allowUids");
	if (au.IsArray()) {
		Napi::Array a = au.As<Napi::Array>();
		for (uint32_t i = 0; i < a.Length(); i++) {
			Napi::Value v = a.Get(i);
			if (v.IsNumber()) so.allow_uids.push_back(v.As<Napi::Number>().Uint32Value());
		}
	}
	Napi::Value gw = o.Get("groupWritableOk");
	g_engine->map_opts.group_writable_ok = gw.IsBoolean() && gw.As<Napi::Boolean>().Value();

	g_engine->tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "xsb-engine-events", 0, 1);
	Engine *eng = g_engine;
	eng->sink.set_notify([eng] {
		eng->tsfn.NonBlockingCall([eng](Napi::Env env, Napi::Function fn) {
			std::vector<Event> evs = eng->sink.drain();
			if (evs.empty()) return;
			Napi::Array arr = Napi::Array::New(env, evs.size());
			for (size_t i = 0; i < evs.size(); i++) arr.Set((uint32_t)i, event_to_js(env, evs[i]));
			fn.Call({arr});
		});
	});
	std::string err;
	g_engine->dp.start();
	if (!g_engine->server.start(so, &err)) {
		g_engine->dp.stop();
		g_engine->sink.set_notify(nullptr);
		g_engine->tsfn.Release();
		return throw_error(env, err);
	}
	g_engine->started = true;
	return env.Undefined();
}

Napi::Value Stop(const Napi::CallbackInfo &info)
{
	bool release = info.Length() < 1 || !info[0].IsBoolean() || info[0].As<Napi::Boolean>().Value();
	stop_engine(g_engine, release);
	return info.Env().Undefined();
}

uint64_t conn_arg(const Napi::CallbackInfo &info, size_t i)
{
	return info.Length() > i && info[i].IsNumber() ? (uint64_t)info[i].As<Napi::Number>().Int64Value() : 0;
}

std::string str_arg(const Napi::CallbackInfo &info, size_t i)
{
	return info.Length() > i && info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : std::string();
}

Napi::Value Send(const Napi::CallbackInfo &info)
{
	return Napi::Boolean::New(info.Env(), g_engine->server.send(conn_arg(info, 0), str_arg(info, 1)));
}

Napi::Value Close(const Napi::CallbackInfo &info)
{
	std::string why = str_arg(info, 1);
	return Napi::Boolean::New(info.Env(), g_engine->server.close_conn(conn_arg(info, 0), why.empty() ? "closed by the coordinator" : why));
}

Napi::Value PeerOf(const Napi::CallbackInfo &info)
{
	Peer p;
	if (!g_engine->server.peer(conn_arg(info, 0), &p)) return info.Env().Null();
	Napi::Object o = Napi::Object::New(info.Env());
	o.Set("pid", (double)p.pid);
	o.Set("uid", (double)p.uid);
	o.Set("gid", (double)p.gid);
	return o;
}

/* attach(conn, shmName) -> {ok, error?}; the peer's kernel pid/uid come from the server */
Napi::Value Attach(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t conn = conn_arg(info, 0);
	Napi::Object r = Napi::Object::New(env);
	Peer p;
	std::string why;
	bool ok = g_engine->server.peer(conn, &p);
	if (!ok) why = "no such connection";
	else ok = g_engine->dp.attach(conn, p.pid, p.uid, str_arg(info, 1), g_engine->map_opts, &why);
	r.Set("ok", ok);
	if (!ok) r.Set("error", why);
	return r;
}

Napi::Value Detach(const Napi::CallbackInfo &info)
{
	return Napi::Boolean::New(info.Env(), g_engine->dp.detach(conn_arg(info, 0)));
}

int policy_of(const std::string &s)
{
	if (s == "lv1") return POL_LV1;
	if (s == "suspend") return POL_SUSPEND;
	if (s == "hybrid") return POL_HYBRID;
	if (s == "adaptive") return POL_ADAPTIVE;
	return POL_NONE;
}

int cls_of(const std::string &s)
{
	if (s == "online") return CLS_ONLINE;
	if (s == "offline") return CLS_OFFLINE;
	return CLS_NONE;
}

Plan plan_from_js(const Napi::Object &o)
{
	Plan p;
	Napi::Value pol = o.Get("policy");
	p.policy = pol.IsString() ? policy_of(pol.As<Napi::String>().Utf8Value()) : POL_NONE;
	Napi::Value ge = o.Get("gateEnabled");
	p.gate_enabled = !ge.IsBoolean() || ge.As<Napi::Boolean>().Value();
	p.hysteresis_ns = (uint64_t)(num(o, "hysteresisUs", 2000) * 1000.0);
	p.lease_ns = (uint64_t)(num(o, "leaseMs", 2000) * 1e6);
	p.ack_timeout_ns = (uint64_t)(num(o, "ackTimeoutMs", 1000) * 1e6);
	p.poll_ns = (uint64_t)(num(o, "pollUs", 0) * 1000.0);
	Napi::Value procs = o.Get("procs");
	if (procs.IsArray()) {
		Napi::Array a = procs.As<Napi::Array>();
		for (uint32_t i = 0; i < a.Length(); i++) {
			Napi::Value v = a.Get(i);
			if (!v.IsObject()) continue;
			Napi::Object po = v.As<Napi::Object>();
			PlanProc pp;
			pp.conn = (uint64_t)num(po, "conn", 0);
			Napi::Value c = po.Get("cls");
			pp.cls = c.IsString() ? cls_of(c.As<Napi::String>().Utf8Value()) : CLS_NONE;
			pp.priority = (int)num(po, "priority", 0);
			Napi::Value ah = po.Get("allowHold");
			pp.allow_hold = !ah.IsBoolean() || ah.As<Napi::Boolean>().Value();
			Napi::Value g = po.Get("gpus");
			if (g.IsArray()) {
				Napi::Array ga = g.As<Napi::Array>();
				for (uint32_t k = 0; k < ga.Length(); k++) {
					Napi::Value gv = ga.Get(k);
					if (gv.IsNumber()) pp.gpus.push_back(gv.As<Napi::Number>().Uint32Value());
				}
			}
			p.procs.push_back(pp);
		}
	}
	return p;
}

Napi::Value SetPlan(const Napi::CallbackInfo &info)
{
	if (info.Length() < 1 || !info[0].IsObject()) return throw_error(info.Env(), "setPlan(plan) expects an object");
	g_engine->dp.set_plan(plan_from_js(info[0].As<Napi::Object>()));
	return info.Env().Undefined();
}

Napi::Value ReleaseAll(const Napi::CallbackInfo &info)
{
	double ms = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 1000;
	return Napi::Number::New(info.Env(), g_engine->dp.release_all((uint64_t)(ms * 1e6)));
}

Napi::Value Snapshot(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	std::vector<ProcSnap> s = g_engine->dp.snapshot();
	Napi::Array arr = Napi::Array::New(env, s.size());
	for (size_t i = 0; i < s.size(); i++) {
		const ProcSnap &p = s[i];
		Napi::Object o = Napi::Object::New(env);
#define N(f) o.Set(#f, (double)p.f)
		N(conn); N(pid); N(gate); N(suspend_req); N(req_seq); N(ack_seq); N(exec_state); N(held_queues);
		N(activity); N(queues); N(errors); N(exec_error); N(lease_deadline_ns); N(launches); N(gated_waits);
		N(gated_wait_ns); N(lv1_waits); N(suspends); N(resumes); N(suspend_ns_last); N(suspend_ns_max);
		N(suspend_ns_sum); N(resume_ns_last); N(resume_ns_max); N(resume_ns_sum); N(fail_open_ns);
		N(activity_transitions); N(lv1_threshold);
#undef N
		o.Set("shm", p.shm);
		o.Set("engine_gate_closed", p.engine_gate_closed);
		o.Set("engine_hold", p.engine_hold);
		o.Set("awaiting_ack", p.awaiting_ack);
		arr.Set((uint32_t)i, o);
	}
	return arr;
}

Napi::Value Stats(const Napi::CallbackInfo &info)
{
	EngineStats s = g_engine->dp.stats();
	Napi::Object o = Napi::Object::New(info.Env());
	o.Set("wakeups", (double)s.wakeups);
	o.Set("decisions", (double)s.decisions);
	o.Set("futexFallback", s.futex_fallback != 0);
	o.Set("untrusted", (double)s.untrusted);
	o.Set("polling", s.polling);
	return o;
}

/* decide(plan, activities, nowNs) -> {decisions, wakeAtNs}: the engine's table, for tests */
Napi::Value Decide(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsArray() || !info[2].IsNumber())
		return throw_error(env, "decide(plan, activities, nowNs)");
	Plan p = plan_from_js(info[0].As<Napi::Object>());
	std::vector<Activity> acts;
	Napi::Array a = info[1].As<Napi::Array>();
	for (uint32_t i = 0; i < a.Length(); i++) {
		Napi::Value v = a.Get(i);
		if (!v.IsObject()) continue;
		Napi::Object ao = v.As<Napi::Object>();
		Napi::Value b = ao.Get("busy");
		acts.push_back(Activity{(uint64_t)num(ao, "conn", 0), b.IsBoolean() && b.As<Napi::Boolean>().Value(),
		                        (uint64_t)num(ao, "idleSinceNs", 0)});
	}
	uint64_t wake = 0;
	std::vector<Decision> ds = decide(p, acts, (uint64_t)info[2].As<Napi::Number>().DoubleValue(), &wake);
	Napi::Array out = Napi::Array::New(env, ds.size());
	for (size_t i = 0; i < ds.size(); i++) {
		Napi::Object o = Napi::Object::New(env);
		o.Set("conn", (double)ds[i].conn);
		o.Set("throttled", ds[i].throttled);
		o.Set("gateClosed", ds[i].gate_closed);
		o.Set("hold", ds[i].hold);
		o.Set("byConn", (double)ds[i].by_conn);
		out.Set((uint32_t)i, o);
	}
	Napi::Object r = Napi::Object::New(env);
	r.Set("decisions", out);
	r.Set("wakeAtNs", (double)wake);
	return r;
}

Napi::Value MonoNs(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), (double)mono_ns()); }

/* groupId(name) -> gid, or -1 when no such group (Node has no getgrnam) */
Napi::Value GroupId(const Napi::CallbackInfo &info)
{
	std::string name = str_arg(info, 0);
	struct group g, *res = nullptr;
	char buf[16384];
	if (getgrnam_r(name.c_str(), &g, buf, sizeof buf, &res) != 0 || !res) return Napi::Number::New(info.Env(), -1);
	return Napi::Number::New(info.Env(), (double)res->gr_gid);
}

/* ---- fake shim (tests, benchmark) ---- */
Napi::Value FakeCreate(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 2 || !info[1].IsObject()) return throw_error(env, "fakeCreate(name, {pid, cls, mode})");
	Napi::Object o = info[1].As<Napi::Object>();
	Napi::Value cs = o.Get("corruptSum");
	std::string err = fake_create(str_arg(info, 0), (uint32_t)num(o, "pid", getpid()), (uint32_t)num(o, "cls", 2),
	                              (uint32_t)num(o, "mechanism", 1), (unsigned)num(o, "mode", 0600),
	                              cs.IsBoolean() && cs.As<Napi::Boolean>().Value());
	if (!err.empty()) return throw_error(env, "fakeCreate: " + err);
	return env.Undefined();
}

Napi::Value FakeSet(const Napi::CallbackInfo &info)
{
	double v = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0;
	return Napi::Boolean::New(info.Env(), fake_set(str_arg(info, 0), str_arg(info, 1), (uint64_t)v));
}

Napi::Value FakeGet(const Napi::CallbackInfo &info)
{
	std::vector<std::pair<std::string, double>> f;
	if (!fake_get(str_arg(info, 0), &f)) return info.Env().Null();
	Napi::Object o = Napi::Object::New(info.Env());
	for (auto &kv : f) o.Set(kv.first, kv.second);
	return o;
}

Napi::Value FakeExecutor(const Napi::CallbackInfo &info)
{
	bool on = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
	return Napi::Boolean::New(info.Env(), fake_executor(str_arg(info, 0), on));
}

Napi::Value FakeRemove(const Napi::CallbackInfo &info)
{
	fake_remove(str_arg(info, 0));
	return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports)
{
	if (!g_engine) g_engine = new Engine(); /* lives as long as the process */
	napi_add_env_cleanup_hook(env, cleanup_hook, nullptr);
	exports.Set("start", Napi::Function::New(env, Start));
	exports.Set("stop", Napi::Function::New(env, Stop));
	exports.Set("send", Napi::Function::New(env, Send));
	exports.Set("close", Napi::Function::New(env, Close));
	exports.Set("peer", Napi::Function::New(env, PeerOf));
	exports.Set("attach", Napi::Function::New(env, Attach));
	exports.Set("detach", Napi::Function::New(env, Detach));
	exports.Set("setPlan", Napi::Function::New(env, SetPlan));
	exports.Set("releaseAll", Napi::Function::New(env, ReleaseAll));
	exports.Set("snapshot", Napi::Function::New(env, Snapshot));
	exports.Set("stats", Napi::Function::New(env, Stats));
	exports.Set("decide", Napi::Function::New(env, Decide));
	exports.Set("monoNs", Napi::Function::New(env, MonoNs));
	exports.Set("groupId", Napi::Function::New(env, GroupId));
	Napi::Object fake = Napi::Object::New(env);
	fake.Set("create", Napi::Function::New(env, FakeCreate));
	fake.Set("set", Napi::Function::New(env, FakeSet));
	fake.Set("get", Napi::Function::New(env, FakeGet));
	fake.Set("executor", Napi::Function::New(env, FakeExecutor));
	fake.Set("remove", Napi::Function::New(env, FakeRemove));
	exports.Set("fake", fake);
	return exports;
}

} // namespace

NODE_API_MODULE(xsb_engine, Init)
