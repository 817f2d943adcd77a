/*
 * rt_launch.cpp - kernel identity (hipcc registration, modules, dladdr), every launch flavour,
 * graphs, hipGetProcAddress.
 *
 * The emulator has no ISA: a kernel is its name. A name containing "xsb_spin" is the project's
 * spin kernel (duration in ns = first argument); any other runs for the profile's default time.
 */
#include "rt.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <deque>

namespace xsbhip {
namespace {

struct FatBinary {
	const void *data;
	std::vector<const void *> host_fns;
};

struct Module {
	std::unordered_map<std::string, Function *> functions;
};

struct LaunchConfig {
	dim3 grid, block;
	size_t shmem;
	hipStream_t stream;
};

struct GraphNode {
	const Function *fn;
	dim3 grid, block;
	uint64_t arg0;
};
struct Graph {
	std::deque<GraphNode> nodes; /* deque: node handles stay valid */
};
struct GraphExec {
	std::vector<GraphNode> nodes;
};

std::mutex g_k_mu;
/* never destroyed: hipcc's module destructor may run after static destructors */
auto &g_kernels = *new std::unordered_map<const void *, Function *>;
auto &g_fatbins = *new std::unordered_set<FatBinary *>;
auto &g_modules = *new std::unordered_set<Module *>;
auto &g_module_fns = *new std::unordered_set<const Function *>;
auto &g_graphs = *new std::unordered_set<Graph *>;
auto &g_execs = *new std::unordered_set<GraphExec *>;
thread_local std::vector<LaunchConfig> tl_configs;

Function *make_function(const char *name)
{
	Function *f = new Function;
	f->name = name ? name : "";
	f->spin = f->name.find("xsb_spin") != std::string::npos;
	return f;
}

/* First u64 of the kernel's arguments: kernelParams[0] points at it, or the packed buffer of
 * HIP_LAUNCH_PARAM_BUFFER_POINTER in `extra`. */
uint64_t first_arg(void **params, void **extra)
{
	uint64_t v = 0;
	if (params && params[0]) {
		std::memcpy(&v, params[0], sizeof v);
		return v;
	}
	if (extra) {
		void *buf = nullptr;
		size_t size = 0;
		for (int i = 0; extra[i] != HIP_LAUNCH_PARAM_END && i < 16; i += 2) {
			if (extra[i] == HIP_LAUNCH_PARAM_BUFFER_POINTER) buf = extra[i + 1];
			if (extra[i] == HIP_LAUNCH_PARAM_BUFFER_SIZE && extra[i + 1]) size = *(size_t *)extra[i + 1];
		}
		if (buf && size >= sizeof v) std::memcpy(&v, buf, sizeof v);
	}
	return v;
}

const Function *module_function(hipFunction_t f)
{
	const Function *fn = reinterpret_cast<const Function *>(f);
	std::lock_guard<std::mutex> lk(g_k_mu);
	return g_module_fns.count(fn) ? fn : nullptr;
}

hipError_t launch_packet(const Function *fn, dim3 grid_items, dim3 block, uint64_t arg0, hipStream_t stream)
{
	if (!fn) return hipErrorInvalidDeviceFunction;
	if (block.x == 0 || block.y == 0 || block.z == 0 || grid_items.x == 0 || grid_items.y == 0 ||
	    grid_items.z == 0)
		return hipErrorInvalidConfiguration;
	if ((uint64_t)block.x * block.y * block.z > 1024) return hipErrorInvalidConfiguration;
	Stream *s;
	hipError_t e = resolve_stream(stream, &s);
	if (e != hipSuccess) return e;
	PacketDesc d;
	d.kernel_object = fn->spin ? XSB_EMU_KOBJ_SPIN : XSB_EMU_KOBJ_DEFAULT;
	d.arg0 = fn->spin ? arg0 : 0;
	d.grid = grid_items;
	d.block = block;
	stream_submit(s, d);
	return hipSuccess;
}

bool mul_ok(uint32_t a, uint32_t b, uint32_t *out)
{
	uint64_t p = (uint64_t)a * b;
	if (p > UINT32_MAX) return false;
	*out = (uint32_t)p;
	return true;
}

} // namespace

const Function *function_of_host_stub(const void *host_fn)
{
	if (!host_fn) return nullptr;
	std::lock_guard<std::mutex> lk(g_k_mu);
	auto it = g_kernels.find(host_fn);
	if (it != g_kernels.end()) return it->second;
	/* not registered: the stub's symbol name, as a last resort */
	Dl_info info;
	if (!dladdr(host_fn, &info) || !info.dli_sname || info.dli_saddr != host_fn) return nullptr;
	Function *f = make_function(info.dli_sname);
	g_kernels[host_fn] = f;
	return f;
}

hipError_t launch_function(const Function *fn, dim3 grid, dim3 block, void **params, void **extra, hipStream_t s)
{
	dim3 items;
	if (!mul_ok(grid.x, block.x, &items.x) || !mul_ok(grid.y, block.y, &items.y) ||
	    !mul_ok(grid.z, block.z, &items.z))
		return hipErrorInvalidConfiguration;
	return launch_packet(fn, items, block, fn && fn->spin ? first_arg(params, extra) : 0, s);
}

hipError_t launch_items(const Function *fn, dim3 items, dim3 block, void **params, void **extra, hipStream_t s)
{
	return launch_packet(fn, items, block, fn && fn->spin ? first_arg(params, extra) : 0, s);
}

} // namespace xsbhip

using namespace xsbhip;

extern "C" {

/* ---- hipcc registration ---- */
void **__hipRegisterFatBinary(const void *data)
{
	FatBinary *fb = new FatBinary{data, {}};
	std::lock_guard<std::mutex> lk(g_k_mu);
	g_fatbins.insert(fb);
	return reinterpret_cast<void **>(fb);
}

void __hipRegisterFunction(void **modules, const void *hostFunction, char *deviceFunction, const char *deviceName,
                           unsigned int threadLimit, void *tid, void *bid, dim3 *blockDim, dim3 *gridDim,
                           int *wSize)
{
	(void)threadLimit, (void)tid, (void)bid, (void)blockDim, (void)gridDim, (void)wSize;
	if (!hostFunction) return;
	Function *f = make_function(deviceName ? deviceName : deviceFunction);
	FatBinary *fb = reinterpret_cast<FatBinary *>(modules);
	std::lock_guard<std::mutex> lk(g_k_mu);
	auto it = g_kernels.find(hostFunction);
	if (it != g_kernels.end()) delete it->second;
	g_kernels[hostFunction] = f;
	if (fb && g_fatbins.count(fb)) fb->host_fns.push_back(hostFunction);
}

void __hipRegisterVar(void **modules, void *var, char *hostVar, char *deviceVar, int ext, size_t size,
                      int constant, int global)
{
	/* device variables live in host memory already: hipMemcpyToSymbol is not provided */
	(void)modules, (void)var, (void)hostVar, (void)deviceVar, (void)ext, (void)size, (void)constant, (void)global;
}

void __hipUnregisterFatBinary(void **modules)
{
	FatBinary *fb = reinterpret_cast<FatBinary *>(modules);
	std::lock_guard<std::mutex> lk(g_k_mu);
	if (!g_fatbins.erase(fb)) return;
	/* Function objects stay allocated: a graph or a racing launch may still name them. */
	for (const void *h : fb->host_fns) g_kernels.erase(h);
	delete fb;
}

hipError_t __hipPushCallConfiguration(dim3 gridDim, dim3 blockDim, size_t sharedMem, hipStream_t stream)
{
	tl_configs.push_back(LaunchConfig{gridDim, blockDim, sharedMem, stream});
	return hipSuccess;
}

hipError_t __hipPopCallConfiguration(dim3 *gridDim, dim3 *blockDim, size_t *sharedMem, hipStream_t *stream)
{
	if (tl_configs.empty()) XSB_RET(hipErrorMissingConfiguration);
	LaunchConfig c = tl_configs.back();
	tl_configs.pop_back();
	if (gridDim) *gridDim = c.grid;
	if (blockDim) *blockDim = c.block;
	if (sharedMem) *sharedMem = c.shmem;
	if (stream) *stream = c.stream;
	return hipSuccess;
}

/* ---- launches ---- */
hipError_t hipLaunchKernel(const void *f, dim3 numBlocks, dim3 dimBlocks, void **args, size_t sharedMemBytes,
                           hipStream_t stream)
{
	(void)sharedMemBytes;
	XSB_INIT_OR_RET();
	const Function *fn = function_of_host_stub(f);
	if (!fn) XSB_RET(hipErrorInvalidDeviceFunction);
	XSB_RET(launch_function(fn, numBlocks, dimBlocks, args, nullptr, stream));
}

/* Cooperative launches re-enter through the exported hipLaunchKernel. */
hipError_t hipLaunchCooperativeKernel(const void *f, dim3 gridDim, dim3 blockDim, void **kernelParams,
                                      unsigned int sharedMemBytes, hipStream_t stream)
{
	XSB_INIT_OR_RET();
	/* all workgroups must be resident at once */
	if ((uint64_t)gridDim.x * gridDim.y * gridDim.z > (uint64_t)g_rt.num_cus * 32)
		XSB_RET(hipErrorCooperativeLaunchTooLarge);
	return hipLaunchKernel(f, gridDim, blockDim, kernelParams, sharedMemBytes, stream);
}

hipError_t hipExtLaunchKernel(const void *f, dim3 numBlocks, dim3 dimBlocks, void **args, size_t sharedMemBytes,
                              hipStream_t stream, hipEvent_t startEvent, hipEvent_t stopEvent, int flags)
{
	(void)flags;
	XSB_INIT_OR_RET();
	hipError_t e = hipSuccess;
	if (startEvent) e = hipEventRecord(startEvent, stream);
	if (e == hipSuccess) e = hipLaunchKernel(f, numBlocks, dimBlocks, args, sharedMemBytes, stream);
	if (e == hipSuccess && stopEvent) e = hipEventRecord(stopEvent, stream);
	return e;
}

hipError_t hipLaunchKernel_spt(const void *f, dim3 numBlocks, dim3 dimBlocks, void **args, size_t sharedMemBytes,
                               hipStream_t stream)
{
	return hipLaunchKernel(f, numBlocks, dimBlocks, args, sharedMemBytes, stream ? stream : hipStreamPerThread);
}

hipError_t hipLaunchCooperativeKernel_spt(const void *f, dim3 gridDim, dim3 blockDim, void **kernelParams,
                                          uint32_t sharedMemBytes, hipStream_t stream)
{
	return hipLaunchCooperativeKernel(f, gridDim, blockDim, kernelParams, sharedMemBytes,
	                                  stream ? stream : hipStreamPerThread);
}

/* ---- modules: any file or image loads; functions are found by name ---- */
hipError_t hipModuleLoadData(hipModule_t *module, const void *image)
{
	XSB_INIT_OR_RET();
	if (!module || !image) XSB_RET(hipErrorInvalidValue);
	Module *m = new Module;
	std::lock_guard<std::mutex> lk(g_k_mu);
	g_modules.insert(m);
	*module = reinterpret_cast<hipModule_t>(m);
	return hipSuccess;
}

hipError_t hipModuleLoadDataEx(hipModule_t *module, const void *image, unsigned int numOptions, int *options,
                               void **optionValues)
{
	(void)numOptions, (void)options, (void)optionValues;
	return hipModuleLoadData(module, image);
}

hipError_t hipModuleLoad(hipModule_t *module, const char *fname)
{
	XSB_INIT_OR_RET();
	if (!module || !fname) XSB_RET(hipErrorInvalidValue);
	FILE *f = std::fopen(fname, "rb");
	if (!f) XSB_RET(hipErrorFileNotFound);
	std::fclose(f);
	return hipModuleLoadData(module, fname);
}

hipError_t hipModuleUnload(hipModule_t module)
{
	XSB_INIT_OR_RET();
	Module *m = reinterpret_cast<Module *>(module);
	std::lock_guard<std::mutex> lk(g_k_mu);
	if (!g_modules.erase(m)) XSB_RET(hipErrorInvalidHandle);
	delete m; /* its Function objects stay valid (see __hipUnregisterFatBinary) */
	return hipSuccess;
}

hipError_t hipModuleGetFunction(hipFunction_t *function, hipModule_t module, const char *kname)
{
	XSB_INIT_OR_RET();
	if (!function || !kname || !*kname) XSB_RET(hipErrorInvalidValue);
	Module *m = reinterpret_cast<Module *>(module);
	std::lock_guard<std::mutex> lk(g_k_mu);
	if (!g_modules.count(m)) XSB_RET(hipErrorInvalidHandle);
	Function *&f = m->functions[kname];
	if (!f) {
		f = make_function(kname);
		g_module_fns.insert(f);
	}
	*function = reinterpret_cast<hipFunction_t>(f);
	return hipSuccess;
}

hipError_t hipGetFuncBySymbol(hipFunction_t *functionPtr, const void *symbolPtr)
{
	XSB_INIT_OR_RET();
	if (!functionPtr) XSB_RET(hipErrorInvalidValue);
	const Function *fn = function_of_host_stub(symbolPtr);
	if (!fn) XSB_RET(hipErrorInvalidDeviceFunction);
	std::lock_guard<std::mutex> lk(g_k_mu);
	g_module_fns.insert(fn);
	*functionPtr = reinterpret_cast<hipFunction_t>(const_cast<Function *>(fn));
	return hipSuccess;
}

hipError_t hipModuleLaunchKernel(hipFunction_t f, unsigned int gx, unsigned int gy, unsigned int gz,
                                 unsigned int bx, unsigned int by, unsigned int bz, unsigned int sharedMemBytes,
                                 hipStream_t stream, void **kernelParams, void **extra)
{
	(void)sharedMemBytes;
	XSB_INIT_OR_RET();
	const Function *fn = module_function(f);
	if (!fn) XSB_RET(hipErrorInvalidResourceHandle);
	XSB_RET(launch_function(fn, dim3{gx, gy, gz}, dim3{bx, by, bz}, kernelParams, extra, stream));
}

hipError_t hipExtModuleLaunchKernel(hipFunction_t f, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t lx,
                                    uint32_t ly, uint32_t lz, size_t sharedMemBytes, hipStream_t stream,
                                    void **kernelParams, void **extra, hipEvent_t startEvent, hipEvent_t stopEvent,
                                    uint32_t flags)
{
	(void)sharedMemBytes, (void)flags;
	XSB_INIT_OR_RET();
	const Function *fn = module_function(f);
	if (!fn) XSB_RET(hipErrorInvalidResourceHandle);
	hipError_t e = hipSuccess;
	if (startEvent) e = hipEventRecord(startEvent, stream);
	/* global sizes are work-items, not blocks */
	if (e == hipSuccess) e = launch_items(fn, dim3{gx, gy, gz}, dim3{lx, ly, lz}, kernelParams, extra, stream);
	if (e == hipSuccess && stopEvent) e = hipEventRecord(stopEvent, stream);
	XSB_RET(e);
}

/* ---- graphs: kernel nodes, launched in insertion order ---- */
hipError_t hipGraphCreate(hipGraph_t *pGraph, unsigned int flags)
{
	XSB_INIT_OR_RET();
	if (!pGraph || flags != 0) XSB_RET(hipErrorInvalidValue);
	Graph *g = new Graph;
	std::lock_guard<std::mutex> lk(g_k_mu);
	g_graphs.insert(g);
	*pGraph = reinterpret_cast<hipGraph_t>(g);
	return hipSuccess;
}

hipError_t hipGraphDestroy(hipGraph_t graph)
{
	XSB_INIT_OR_RET();
	Graph *g = reinterpret_cast<Graph *>(graph);
	std::lock_guard<std::mutex> lk(g_k_mu);
	if (!g_graphs.erase(g)) XSB_RET(hipErrorInvalidValue);
	delete g;
	return hipSuccess;
}

hipError_t hipGraphAddKernelNode(hipGraphNode_t *pGraphNode, hipGraph_t graph, const hipGraphNode_t *pDependencies,
                                 size_t numDependencies, const hipKernelNodeParams *p)
{
	(void)pDependencies, (void)numDependencies;
	XSB_INIT_OR_RET();
	if (!pGraphNode || !p) XSB_RET(hipErrorInvalidValue);
	const Function *fn = function_of_host_stub(p->func);
	if (!fn) XSB_RET(hipErrorInvalidDeviceFunction);
	/* arguments are captured now, as HIP copies them into the node */
	uint64_t arg0 = fn->spin ? first_arg(p->kernelParams, p->extra) : 0;
	Graph *g = reinterpret_cast<Graph *>(graph);
	std::lock_guard<std::mutex> lk(g_k_mu);
	if (!g_graphs.count(g)) XSB_RET(hipErrorInvalidValue);
	g->nodes.push_back(GraphNode{fn, p->gridDim, p->blockDim, arg0});
	*pGraphNode = reinterpret_cast<hipGraphNode_t>(&g->nodes.back());
	return hipSuccess;
}

hipError_t hipGraphInstantiate(hipGraphExec_t *pGraphExec, hipGraph_t graph, hipGraphNode_t *pErrorNode,
                               char *pLogBuffer, size_t bufferSize)
{
	(void)pErrorNode;
	XSB_INIT_OR_RET();
	if (!pGraphExec) XSB_RET(hipErrorInvalidValue);
	if (pLogBuffer && bufferSize) pLogBuffer[0] = 0;
	Graph *g = reinterpret_cast<Graph *>(graph);
	std::lock_guard<std::mutex> lk(g_k_mu);
	if (!g_graphs.count(g)) XSB_RET(hipErrorInvalidValue);
	GraphExec *x = new GraphExec{std::vector<GraphNode>(g->nodes.begin(), g->nodes.end())};
	g_execs.insert(x);
	*pGraphExec = reinterpret_cast<hipGraphExec_t>(x);
	return hipSuccess;
}

hipError_t hipGraphLaunch(hipGraphExec_t graphExec, hipStream_t stream)
{
	XSB_INIT_OR_RET();
	GraphExec *x = reinterpret_cast<GraphExec *>(graphExec);
	std::vector<GraphNode> nodes;
	{
		std::lock_guard<std::mutex> lk(g_k_mu);
		if (!g_execs.count(x)) XSB_RET(hipErrorInvalidValue);
		nodes = x->nodes;
	}
	for (const GraphNode &n : nodes) {
		dim3 items;
		if (!mul_ok(n.grid.x, n.block.x, &items.x) || !mul_ok(n.grid.y, n.block.y, &items.y) ||
		    !mul_ok(n.grid.z, n.block.z, &items.z))
			XSB_RET(hipErrorInvalidConfiguration);
		hipError_t e = launch_packet(n.fn, items, n.block, n.arg0, stream);
		if (e != hipSuccess) XSB_RET(e);
	}
	return hipSuccess;
}

hipError_t hipGraphLaunch_spt(hipGraphExec_t graphExec, hipStream_t stream)
{
	return hipGraphLaunch(graphExec, stream ? stream : hipStreamPerThread);
}

hipError_t hipGraphExecDestroy(hipGraphExec_t graphExec)
{
	XSB_INIT_OR_RET();
	GraphExec *x = reinterpret_cast<GraphExec *>(graphExec);
	std::lock_guard<std::mutex> lk(g_k_mu);
	if (!g_execs.erase(x)) XSB_RET(hipErrorInvalidValue);
	delete x;
	return hipSuccess;
}

/* ROCm 6 hipGetProcAddress: the first definition in the global scope, so an interposer's wrapper
 * is what the caller gets, as with real HIP. */
hipError_t hipGetProcAddress(const char *symbol, void **pfn, int hipVersion, uint64_t flags,
                             hipDriverProcAddressQueryResult *symbolStatus)
{
	(void)hipVersion, (void)flags;
	if (!symbol || !pfn) XSB_RET(hipErrorInvalidValue);
	*pfn = dlsym(RTLD_DEFAULT, symbol);
	if (symbolStatus)
		*symbolStatus = *pfn ? HIP_GET_PROC_ADDRESS_SUCCESS : HIP_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
	if (!*pfn) XSB_RET(hipErrorNotFound);
	return hipSuccess;
}

} // extern "C"
