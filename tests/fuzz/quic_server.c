/* libFuzzer target: datagrams into a QUIC server connection (the first one
 * through zttp_quic_ep_classify). Input layout and invariants: quic_fuzz.h.
 * SPDX-License-Identifier: MIT */
#include "quic_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return qf_fuzz_one(ZTTP_SERVER, data, size);
}
