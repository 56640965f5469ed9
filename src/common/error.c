/* zttp_strerror and zttp_error_is_fatal, generated from ZTTP_ERROR_TABLE.
 * SPDX-License-Identifier: MIT */
#include "zttp/zttp.h"

const char *zttp_strerror(int32_t err) {
  switch (err) {
  case ZTTP_OK:
    return "success";
#define ZTTP_STRERROR_(name, value, fatal, msg)                                \
  case ZTTP_ERR_##name:                                                        \
    return msg;
    ZTTP_ERROR_TABLE(ZTTP_STRERROR_)
#undef ZTTP_STRERROR_
  default:
    return "unknown error";
  }
}

int32_t zttp_error_is_fatal(int32_t err) {
  switch (err) {
#define ZTTP_IS_FATAL_(name, value, fatal, msg)                                \
  case ZTTP_ERR_##name:                                                        \
    return fatal;
    ZTTP_ERROR_TABLE(ZTTP_IS_FATAL_)
#undef ZTTP_IS_FATAL_
  default:
    return 0;
  }
}
