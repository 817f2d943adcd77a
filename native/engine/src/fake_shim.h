/*
 * fake_shim.h - control blocks written the way libxsb_hip.so writes them, for the engine's
 * tests and benchmark (Node can neither mmap nor FUTEX_WAKE). Not used by the coordinator.
 */
#ifndef XSB_ENGINE_FAKE_SHIM_H
#define XSB_ENGINE_FAKE_SHIM_H

#include <stdint.h>

#include <string>
#include <utility>
#include <vector>

namespace xsbe {

/* Creates "/name" with the given header fields and mode; returns "" or an error. */
std::string fake_create(const std::string &name, uint32_t pid, uint32_t cls, uint32_t mechanism, unsigned mode,
                        bool corrupt_sum);
/* Writes a word by field name with the shim's side effects (doorbell + wake for activity, wake
 * for futex words). Returns false for an unknown field or block. */
bool fake_set(const std::string &name, const std::string &field, uint64_t value);
bool fake_get(const std::string &name, std::vector<std::pair<std::string, double>> *out);
/* A thread acknowledging every request like the executor: HOLD -> HELD, RUN -> RUNNING. */
bool fake_executor(const std::string &name, bool on);
void fake_remove(const std::string &name);

} // namespace xsbe

#endif
