/* libFuzzer target: a server's datagrams into a public HTTP/3 client
 * connection that wrote its Initial first. Input layout and invariants:
 * h3_fuzz.h.
 * SPDX-License-Identifier: MIT */
#include "h3_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return hf_fuzz_one(ZTTP_CLIENT, data, size);
}
