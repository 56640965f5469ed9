/* libFuzzer target: the HTTP/2 engine in the server role (see
 * h2_fuzz.h). SPDX-License-Identifier: MIT */
#include "h2_fuzz.h"

#include "zttp/zttp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return h2_fuzz_one(ZTTP_SERVER, data, size);
}
