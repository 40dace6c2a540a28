// SPDX-License-Identifier: GPL-2.0-only
// Seed generation for the fuzz targets whose inputs are binary structures:
// run a target with LIMBO_FUZZ_WRITE_SEEDS=<dir> and its LLVMFuzzerInitialize
// writes valid inputs there (built with the project's own types) and exits.
// tests/fuzz/run-fuzz does this before each run; the results are also
// committed under tests/fuzz/seeds/.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace limbo::fuzz {

inline const char* seed_dir() { return getenv("LIMBO_FUZZ_WRITE_SEEDS"); }

inline void write_seed(const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string path = std::string(seed_dir()) + "/" + name;
  FILE* f = fopen(path.c_str(), "wb");
  if (f == nullptr || fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || fclose(f) != 0) {
    fprintf(stderr, "cannot write seed %s\n", path.c_str());
    exit(1);
  }
}

template <class T>
void append(std::vector<uint8_t>& out, const T& value) {
  const auto* p = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

}  // namespace limbo::fuzz
