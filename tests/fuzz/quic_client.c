/* libFuzzer target: datagrams into a QUIC client connection that wrote its
 * Initial first. Input layout and invariants: quic_fuzz.h.
 * SPDX-License-Identifier: MIT */
#include "quic_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return qf_fuzz_one(ZTTP_CLIENT, data, size);
}
