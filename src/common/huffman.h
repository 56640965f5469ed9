/* The HPACK/QPACK Huffman code (RFC 7541 Appendix B), shared by src/hpack and
 * src/qpack. SPDX-License-Identifier: MIT */
#ifndef ZTTP_COMMON_HUFFMAN_H
#define ZTTP_COMMON_HUFFMAN_H

#include <stddef.h>
#include <stdint.h>

/* zttp_huffman_encoded_len returns the bytes zttp_huffman_encode() writes
 * for |len| bytes at |src| (padding included). */
size_t zttp_huffman_encoded_len(const uint8_t *src, size_t len);

/* zttp_huffman_encode writes the code of |src| into |dst| (at least
 * zttp_huffman_encoded_len() bytes), pads with EOS-prefix 1 bits, and
 * returns the bytes written. */
size_t zttp_huffman_encode(uint8_t *dst, const uint8_t *src, size_t len);

/* zttp_huffman_encode_max writes the code of |src| like
 * zttp_huffman_encode() (faster, and without a length pass) if it takes at
 * most |cap| bytes, and returns its length; otherwise it returns SIZE_MAX,
 * having written anything within those |cap| bytes at |dst|. Nothing past
 * them is written. */
size_t zttp_huffman_encode_max(uint8_t *dst, size_t cap, const uint8_t *src,
                               size_t len);

/* zttp_huffman_decode decodes |len| bytes at |src| into |dst|, which must
 * have room for len * 8 / 5 + 1 bytes (the shortest code is 5 bits), and
 * returns the decoded length, or -1 for a malformed string: EOS decoded,
 * padding longer than 7 bits or not all 1s (RFC 7541 §5.2). Table-driven,
 * several bits per step. */
int64_t zttp_huffman_decode(uint8_t *dst, const uint8_t *src, size_t len);

#endif
